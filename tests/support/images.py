"""Small but real OCI images on disk (gzip tar layer, config, manifest) for registry tests."""

from __future__ import annotations

import gzip
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Sequence

from kocache_plugin.oci.descriptor import Descriptor
from kocache_plugin.oci.digest import sha256_digest
from kocache_plugin.oci.image_config import ImageConfigSpec, build_image_config
from kocache_plugin.oci.image_index import build_index
from kocache_plugin.oci.manifest import build_manifest
from kocache_plugin.oci.media_types import OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST
from kocache_plugin.oci.platform import Platform


@dataclass(frozen=True)
class TestImage:
    """One single-platform image; the layer lives on disk at `layer_path`."""

    __test__ = False

    layer_path: Path
    layer: Descriptor
    config: bytes
    config_desc: Descriptor
    manifest: bytes
    manifest_desc: Descriptor
    platform: Platform


def tar_bytes(files: Dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_image(directory: Path, *, platform: str = "linux/amd64", content: bytes = b"hello\n") -> TestImage:
    """Write the layer of a one-file image under `directory` and describe the image."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tar = tar_bytes({"app/hello.txt": content})
    gz = gzip.compress(tar, mtime=0)
    layer = Descriptor.for_bytes(OCI_LAYER_GZIP, gz)
    layer_path = directory / layer.digest.replace(":", "_")
    layer_path.write_bytes(gz)
    plat = Platform.parse(platform)
    config = build_image_config(
        ImageConfigSpec(platform=plat, diff_ids=(sha256_digest(tar),), entrypoint=("/app/hello.txt",))
    )
    config_desc = Descriptor.for_bytes(OCI_CONFIG, config)
    manifest = build_manifest(config_desc, [layer])
    return TestImage(
        layer_path=layer_path,
        layer=layer,
        config=config,
        config_desc=config_desc,
        manifest=manifest,
        manifest_desc=Descriptor.for_bytes(OCI_MANIFEST, manifest, platform=plat),
        platform=plat,
    )


def write_blob(directory: Path, data: bytes) -> Path:
    """`data` in a file under `directory`, named by its digest."""
    path = Path(directory) / sha256_digest(data).replace(":", "_")
    path.write_bytes(data)
    return path


def random_blob(directory: Path, size: int, seed: int = 0) -> Path:
    """A file of `size` pseudo-random (incompressible) bytes."""
    import random

    rng = random.Random(seed)
    path = Path(directory) / f"random-{seed}-{size}.bin"
    with open(path, "wb") as f:
        remaining = size
        while remaining:
            n = min(remaining, 1 << 20)
            f.write(rng.getrandbits(8 * n).to_bytes(n, "little"))
            remaining -= n
    return path


def push_image(client, repo: str, tag: Optional[str], image: TestImage, *, mount_from: Sequence[str] = ()) -> str:
    """Upload the layer and config, then put the manifest (exact bytes); returns the manifest digest."""
    client.upload_blob(repo, image.layer.digest, image.layer.size, image.layer_path, mount_from=mount_from)
    config_path = image.layer_path.parent / image.config_desc.digest.replace(":", "_")
    if not config_path.exists():
        config_path.write_bytes(image.config)
    client.upload_blob(repo, image.config_desc.digest, image.config_desc.size, config_path, mount_from=mount_from)
    return client.put_manifest(repo, tag or image.manifest_desc.digest, image.manifest, OCI_MANIFEST)


def index_for(images: Sequence[TestImage]) -> bytes:
    """An OCI index over `images` (each entry carries its platform)."""
    return build_index([img.manifest_desc for img in images])


__all__ = [
    "OCI_INDEX",
    "TestImage",
    "index_for",
    "make_image",
    "push_image",
    "random_blob",
    "tar_bytes",
    "write_blob",
]
