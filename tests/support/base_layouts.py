"""Base images as OCI layouts on disk, made by the tests (real gzip layers; one file per platform)."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Dict, Sequence

from kocache_plugin.oci import media_types
from kocache_plugin.oci.descriptor import Descriptor
from kocache_plugin.oci.digest import sha256_digest
from kocache_plugin.oci.image_config import ImageConfigSpec, build_image_config
from kocache_plugin.oci.image_index import build_index
from kocache_plugin.oci.layout import layout_files, ref_name_annotation, write_layout
from kocache_plugin.oci.manifest import build_manifest
from kocache_plugin.oci.platform import Platform
from tests.support.images import tar_bytes


def write_base_layout(directory: Path, platforms: Sequence[str], tag: str = "latest", release: str = "base 1") -> Dict[str, str]:
    """A layout whose `tag` is an index (or, for one platform, a manifest); returns platform → manifest digest."""
    blobs: Dict[str, bytes] = {}
    manifests = []
    for p in platforms:
        platform = Platform.parse(p)
        tar = tar_bytes({"etc/base-release": f"{release} {p}\n".encode()})
        layer = gzip.compress(tar, mtime=0)
        blobs[sha256_digest(layer)] = layer
        config = build_image_config(
            ImageConfigSpec(platform=platform, diff_ids=(sha256_digest(tar),), env=("PATH=/usr/bin:/bin", "BASE=yes"), user="65532")
        )
        blobs[sha256_digest(config)] = config
        manifest = build_manifest(
            Descriptor.for_bytes(media_types.OCI_CONFIG, config), [Descriptor.for_bytes(media_types.OCI_LAYER_GZIP, layer)]
        )
        blobs[sha256_digest(manifest)] = manifest
        manifests.append(Descriptor.for_bytes(media_types.OCI_MANIFEST, manifest, platform=platform))
    if len(manifests) == 1:
        top = Descriptor(manifests[0].media_type, manifests[0].digest, manifests[0].size, annotations=(ref_name_annotation(tag),))
    else:
        index = build_index(manifests)
        blobs[sha256_digest(index)] = index
        top = Descriptor.for_bytes(media_types.OCI_INDEX, index, annotations=(ref_name_annotation(tag),))
    write_layout(directory, layout_files(blobs, [top]))
    return {str(m.platform): m.digest for m in manifests}
