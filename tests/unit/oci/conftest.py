"""Fixtures that build small but real images (gzip tar layer, config, manifest) for layout tests."""

from __future__ import annotations

import gzip
import io
import tarfile
from dataclasses import dataclass
from typing import Callable, Dict, Mapping

import pytest

from kocache_plugin.oci.descriptor import Descriptor
from kocache_plugin.oci.digest import sha256_digest
from kocache_plugin.oci.image_config import ImageConfigSpec, build_image_config
from kocache_plugin.oci.manifest import build_manifest
from kocache_plugin.oci.media_types import OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST
from kocache_plugin.oci.platform import Platform


@dataclass(frozen=True)
class TinyImage:
    blobs: Dict[str, bytes]
    manifest: Descriptor
    config: bytes
    layer: Descriptor
    diff_id: str


def tar_layer(files: Mapping[str, bytes]) -> bytes:
    """An uncompressed, reproducible tar with a directory entry for each file's parent."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({name.rsplit("/", 1)[0] for name in files if "/" in name})
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def make_image() -> Callable[..., TinyImage]:
    def make(platform: str = "linux/amd64", content: bytes = b"hello\n") -> TinyImage:
        tar = tar_layer({"app/hello.txt": content})
        gz = gzip.compress(tar, mtime=0)
        diff_id = sha256_digest(tar)
        layer = Descriptor.for_bytes(OCI_LAYER_GZIP, gz)
        config = build_image_config(
            ImageConfigSpec(
                platform=Platform.parse(platform),
                diff_ids=(diff_id,),
                entrypoint=("/app/hello.txt",),
                env=("PATH=/usr/bin:/bin",),
            )
        )
        config_desc = Descriptor.for_bytes(OCI_CONFIG, config)
        manifest = build_manifest(config_desc, [layer])
        return TinyImage(
            blobs={layer.digest: gz, config_desc.digest: config, sha256_digest(manifest): manifest},
            manifest=Descriptor.for_bytes(OCI_MANIFEST, manifest),
            config=config,
            layer=layer,
            diff_id=diff_id,
        )

    return make
