"""Check images with clients nobody here wrote: skopeo and umoci."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Optional


def skopeo_inspect(transport_ref: str, *extra: str, raw: bool = False) -> dict:
    argv = ["skopeo", "inspect", *extra, *(["--raw"] if raw else []), transport_ref]
    out = subprocess.run(argv, capture_output=True, text=True)
    assert out.returncode == 0, f"{' '.join(argv)}: {out.stderr}"
    return json.loads(out.stdout)


def skopeo_copy(src: str, dest: str, *extra: str) -> None:
    out = subprocess.run(["skopeo", "copy", "--quiet", *extra, src, dest], capture_output=True, text=True)
    assert out.returncode == 0, f"skopeo copy {src} {dest}: {out.stderr}"


def umoci_unpack(layout: Path, tag: str, bundle: Path, arch: Optional[str] = None) -> Path:
    """Unpack (umoci verifies every layer's diff_id); for an index, first pick `arch` with skopeo."""
    image = layout
    if arch is not None:
        image = bundle.parent / f"{bundle.name}-{arch}-layout"
        skopeo_copy(f"oci:{layout}:{tag}", f"oci:{image}:{tag}", "--override-arch", arch)
    out = subprocess.run(
        ["umoci", "unpack", "--rootless", "--image", f"{image}:{tag}", str(bundle)], capture_output=True, text=True
    )
    assert out.returncode == 0, f"umoci unpack {image}:{tag}: {out.stderr}"
    return bundle / "rootfs"


def layout_manifest(layout: Path, tag: str, arch: Optional[str] = None) -> dict:
    """The manifest a tag points at in a layout (for an index, the `arch` one), read from the blobs."""
    def blob(digest: str) -> dict:
        return json.loads((layout / "blobs" / "sha256" / digest.split(":", 1)[1]).read_text())

    index = json.loads((layout / "index.json").read_text())
    entry = next(m for m in index["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == tag)
    doc = blob(entry["digest"])
    if "manifests" in doc:
        doc = blob(next(m["digest"] for m in doc["manifests"] if m["platform"]["architecture"] == arch))
    return doc
