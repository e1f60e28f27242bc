"""`pants package` for ko_image: write the image (layout or archive) and its SBOM under dist/. Thin: the
work is in image/."""

from __future__ import annotations

from dataclasses import dataclass

from pants.core.goals.package import BuiltPackage, BuiltPackageArtifact, PackageFieldSet
from pants.engine.fs import AddPrefix, CreateDigest, Digest, FileContent, MergeDigests
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.unions import UnionRule

from kocache_plugin.cache.build_records import RECORDS_DIR, BuildRecords, BuildRecordsRequest
from kocache_plugin.image.archive import Archive, ArchiveRequest
from kocache_plugin.image.assemble import BuiltImage, ImageRequest
from kocache_plugin.image.image_spec import KoImageSpec, KoImageSpecRequest
from kocache_plugin.image.sbom import ImageSbomRequest
from kocache_plugin.oci.canonical_json import canonical_json
from kocache_plugin.target_types import KoImageBinaryField, KoImageOutputField, KoImageOutputPathField

OUTPUT_SUFFIX = {"oci-layout": "", "oci-archive": ".tar", "docker-archive": ".docker.tar"}


@dataclass(frozen=True)
class KoImageFieldSet(PackageFieldSet):
    required_fields = (KoImageBinaryField,)

    binary: KoImageBinaryField
    output: KoImageOutputField
    output_path: KoImageOutputPathField


def docker_repo_tags(spec: KoImageSpec) -> tuple:
    repository = spec.repository or f"ko.local/{spec.binaries[0].name}"
    return tuple(f"{repository}:{tag}" for tag in spec.tags)


@rule(desc="Package a ko image")
async def package_ko_image(field_set: KoImageFieldSet) -> BuiltPackage:
    spec = await Get(KoImageSpec, KoImageSpecRequest(field_set.address))
    image = await Get(BuiltImage, ImageRequest(spec))
    path = spec.output_path + OUTPUT_SUFFIX[spec.output]
    if spec.output == "oci-layout":
        output = Get(Digest, AddPrefix(image.layout, path))
    else:
        output = Get(Archive, ArchiveRequest(image, spec.output, docker_repo_tags(spec), path, str(spec.address)))
    sbom_path = f"{spec.output_path}.spdx.json"
    builds = tuple((b, p) for p in spec.platforms for b in spec.binaries)
    written, sbom, records = await MultiGet(
        output,
        Get(Digest, ImageSbomRequest(image, str(spec.address), sbom_path)),
        Get(BuildRecords, BuildRecordsRequest(builds)),
    )
    # What each go build's key was made of, for `pants ko-explain` after the next change.
    record_file = FileContent(f"{RECORDS_DIR}/{spec.output_path}.json", canonical_json(records.as_json()))
    records_digest = await Get(Digest, CreateDigest([record_file]))
    digest = await Get(
        Digest, MergeDigests([written if isinstance(written, Digest) else written.digest, sbom, records_digest])
    )
    platforms = ", ".join(str(m.platform) for m in image.manifests)
    return BuiltPackage(
        digest,
        (
            BuiltPackageArtifact(path, extra_log_lines=(f"{image.top.digest} ({platforms})",)),
            BuiltPackageArtifact(sbom_path),
        ),
    )


def rules():
    return (*collect_rules(), UnionRule(PackageFieldSet, KoImageFieldSet))
