"""The floor: the least work any tool must do to turn the mains into image layers, done as fast as plainly possible.

One `go build` of every main (same flags and platform as the plugin: -trimpath, CGO off, linux/amd64), then,
per binary, what a layer needs: tar (one file, /ko-app/<name>, 0755, mtime 0), gzip level 1 (the plugin's and
ko's level), sha256 of the compressed blob and of the tar (the diffID). Hashing runs on every core (zlib and
hashlib release the GIL). No manifests, no config, no cache lookups: it is what "fast" is measured against.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Dict

from kobench.measure import run_measured


@dataclass
class FloorRun:
    wall_s: float
    go_build_s: float
    binaries: int
    layer_bytes: int
    peak_tree_rss: int


def plain_go_env(gocache: Path, home: Path) -> Dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "GOPATH": str(home / "gopath"),
        "GOCACHE": str(gocache),
        "GOTOOLCHAIN": "local",
        "GOENV": "off",
        "GOWORK": "off",
        "GOPROXY": "off",
        "GOFLAGS": "-mod=readonly",
        "CGO_ENABLED": "0",
        "GOOS": "linux",
        "GOARCH": "amd64",
    }


def _layer(binary: Path) -> int:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(f"ko-app/{binary.name}")
        info.size, info.mode, info.mtime = binary.stat().st_size, 0o755, 0
        with open(binary, "rb") as f:
            tar.addfile(info, f)
    data = raw.getvalue()
    gz = zlib.compressobj(1, zlib.DEFLATED, 31)
    blob = gz.compress(data) + gz.flush()
    hashlib.sha256(data).hexdigest()
    hashlib.sha256(blob).hexdigest()
    return len(blob)


def run_floor(module_dir: Path, go: str, gocache: Path, work: Path, log_prefix: Path) -> FloorRun:
    out = work / "bin"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    env = plain_go_env(gocache, work / "home")
    start = time.perf_counter()
    build = run_measured(
        [go, "build", "-trimpath", "-buildvcs=false", "-o", f"{out}/", "./cmd/..."],
        cwd=module_dir,
        log_prefix=log_prefix,
        env=env,
    ).check("the floor's go build")
    binaries = sorted(out.iterdir())
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        layer_bytes = sum(pool.map(_layer, binaries))
    wall = time.perf_counter() - start
    return FloorRun(wall, build.wall_s, len(binaries), layer_bytes, build.peak_tree_rss)
