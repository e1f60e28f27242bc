"""The common base image, written as an OCI image layout inside the benchmark repo.

Written here (not pulled) so the benchmark needs no network and every run starts from the same bytes.
Two layers, like a small distroless base: a fixed 1 MiB "userland" layer and a small release layer whose
content depends on `variant`, so "the base image changed" (scenario 5) is one new layer and a new config.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import shutil
import tarfile
from pathlib import Path
from typing import Dict, List, Tuple

OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
USERLAND_BYTES = 1 << 20


def _tar_gz(files: List[Tuple[str, bytes, int]]) -> Tuple[bytes, str]:
    """A deterministic gzip'd tar (mtime 0, root-owned) and its diffID."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({str(Path(p).parent) for p, _, _ in files} - {"."})
        for d in dirs:
            info = tarfile.TarInfo(d + "/")
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for path, data, mode in sorted(files):
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    uncompressed = raw.getvalue()
    compressed = gzip.compress(uncompressed, compresslevel=1, mtime=0)
    return compressed, "sha256:" + hashlib.sha256(uncompressed).hexdigest()


def _userland() -> List[Tuple[str, bytes, int]]:
    rng = random.Random(20240101)
    return [
        ("etc/passwd", b"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n", 0o644),
        ("etc/group", b"root:x:0:\nnonroot:x:65532:\n", 0o644),
        ("etc/ssl/certs/ca-certificates.crt", rng.randbytes(64 * 1024), 0o644),
        ("usr/share/bench/userland.bin", rng.randbytes(USERLAND_BYTES - 64 * 1024), 0o644),
    ]


def _release(variant: str) -> List[Tuple[str, bytes, int]]:
    return [("etc/os-release", f'NAME="kobench base"\nVERSION_ID="{variant}"\n'.encode(), 0o644)]


def _canonical(doc: dict) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def write_base_layout(layout_dir: Path, variant: str) -> Dict[str, str]:
    """(Re)write a single-platform linux/amd64 image at `layout_dir`; returns its layer digests by role."""
    if layout_dir.exists():
        shutil.rmtree(layout_dir)
    blobs_dir = layout_dir / "blobs" / "sha256"
    blobs_dir.mkdir(parents=True)

    def put(data: bytes) -> str:
        hexdigest = hashlib.sha256(data).hexdigest()
        (blobs_dir / hexdigest).write_bytes(data)
        return "sha256:" + hexdigest

    layers = []
    digests = {}
    for role, files in (("userland", _userland()), ("release", _release(variant))):
        blob, diff_id = _tar_gz(files)
        digest = put(blob)
        digests[role] = digest
        layers.append(({"mediaType": OCI_LAYER, "digest": digest, "size": len(blob)}, diff_id))

    config = _canonical({
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin"], "User": "65532"},
        "rootfs": {"type": "layers", "diff_ids": [diff_id for _, diff_id in layers]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": f"kobench base {variant}"} for _ in layers],
    })
    manifest = _canonical({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": put(config), "size": len(config)},
        "layers": [desc for desc, _ in layers],
    })
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{
            "mediaType": OCI_MANIFEST,
            "digest": put(manifest),
            "size": len(manifest),
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {"org.opencontainers.image.ref.name": "latest"},
        }],
    }
    (layout_dir / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (layout_dir / "index.json").write_text(json.dumps(index, indent=2))
    return digests
