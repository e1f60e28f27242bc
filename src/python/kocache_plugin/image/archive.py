"""Single-file outputs: an OCI archive (a tar of the layout) and a `docker load` tarball.

Tars are written by the same layer tool as layers (sorted entries, fixed mtime and owners, no compression),
so archives are as reproducible as layouts, and are cached Processes too.
"""

from __future__ import annotations

from dataclasses import dataclass

from pants.engine.fs import AddPrefix, CreateDigest, Digest, DigestEntries, FileContent, FileEntry, MergeDigests
from pants.engine.rules import Get, collect_rules, rule

from kocache_plugin.image.assemble import BuiltImage
from kocache_plugin.image.image_spec import KoImageError
from kocache_plugin.image.layers import BuiltLayer, LayerEntry, LayerRequest
from kocache_plugin.oci.docker_archive import docker_archive_members

_IN = "__archive_in"


@dataclass(frozen=True)
class ArchiveRequest:
    image: BuiltImage
    kind: str  # "oci-archive" | "docker-archive"
    repo_tags: tuple  # docker-archive: "repository:tag" names
    path: str  # where the file goes in the output digest
    owner: str


@dataclass(frozen=True)
class Archive:
    digest: Digest  # holds the single file `path`


@rule
async def make_archive(request: ArchiveRequest) -> Archive:
    contents = request.image.layout
    if request.kind == "docker-archive":
        if len(request.image.images) != 1:
            raise KoImageError(
                f"{request.owner}: a docker-archive holds one platform, but the image has "
                f"{len(request.image.images)}; set `platforms` to one platform or use output='oci-archive'."
            )
        image = request.image.images[0]
        members = docker_archive_members(image.config, image.layers, request.repo_tags)
        extra = await Get(Digest, CreateDigest([FileContent(p, data) for p, data in sorted(members.items())]))
        contents = await Get(Digest, MergeDigests([contents, extra]))
    inputs = await Get(Digest, AddPrefix(contents, _IN))
    tar = await Get(
        BuiltLayer,
        LayerRequest(
            entries=(LayerEntry("tree", ".", src=_IN),),
            inputs=inputs,
            owner=request.owner,
            what=f"the {request.kind}",
            compression="none",
        ),
    )
    entries = await Get(DigestEntries, Digest, tar.blob)
    entry = next(e for e in entries if isinstance(e, FileEntry))
    return Archive(await Get(Digest, CreateDigest([FileEntry(request.path, entry.file_digest)])))


def rules():
    return collect_rules()
