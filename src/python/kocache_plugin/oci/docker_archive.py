"""`docker load` archives: the manifest.json that lets Docker import an image without a registry."""

from __future__ import annotations

from typing import Dict, Sequence, Tuple

from kocache_plugin.oci.canonical_json import canonical_json, parse_json_object
from kocache_plugin.oci.digest import blob_path, parse_digest, sha256_digest

MANIFEST_FILE = "manifest.json"


class InvalidDockerArchive(ValueError):
    """Inputs that `docker load` would reject."""


def _check_repo_tag(repo_tag: str) -> None:
    name, _, tag = repo_tag.rpartition(":")
    if not name or not tag or "/" in tag or "@" in repo_tag or any(c.isspace() for c in repo_tag):
        raise InvalidDockerArchive(
            f"invalid repo tag {repo_tag!r}: docker load needs 'name:tag', e.g. 'example.com/app:latest'"
        )


def docker_archive_members(
    config_bytes: bytes, layers: Sequence[Tuple[str, str]], repo_tags: Sequence[str]
) -> Dict[str, bytes]:
    """The manifest.json and config members of a `docker load` tarball.

    `layers` are (blob digest, diff_id) pairs in order; each layer blob (gzip or plain tar, which
    `docker load` both accept) belongs in the tarball at `blob_path(blob digest)`. Those are the same
    paths as in an OCI layout, so one tarball can carry both layout files and these members, as
    `docker save` does since Docker 25. The diff_ids are checked against the config because a
    mismatch only surfaces later as an opaque `docker load` failure.
    """
    config = parse_json_object(config_bytes, "image config", InvalidDockerArchive)
    rootfs = config.get("rootfs")
    config_diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    diff_ids = [diff_id for _, diff_id in layers]
    if config_diff_ids != diff_ids:
        raise InvalidDockerArchive(
            f"layer diff_ids {diff_ids} do not match the config's rootfs.diff_ids {config_diff_ids}"
        )
    for digest, _ in layers:
        parse_digest(digest)
    for repo_tag in repo_tags:
        _check_repo_tag(repo_tag)
    config_path = blob_path(sha256_digest(config_bytes))
    manifest = [
        {
            "Config": config_path,
            "RepoTags": list(repo_tags),
            "Layers": [blob_path(digest) for digest, _ in layers],
        }
    ]
    return {MANIFEST_FILE: canonical_json(manifest), config_path: config_bytes}
