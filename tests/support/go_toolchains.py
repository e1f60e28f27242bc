"""A second, older Go toolchain for tests of the toolchain's place in the cache key.

Fetched once through the Go module proxy (the way GOTOOLCHAIN=goX.Y.Z fetches toolchains) into a shared cache.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support.pants_repo import shared_cache_dir

OTHER_GO_VERSION = "go1.25.5"


def other_go_bin_dir() -> Path:
    modcache = shared_cache_dir("toolchains")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(modcache),
        "GOTOOLCHAIN": OTHER_GO_VERSION,
        "GOMODCACHE": str(modcache),
        "GOFLAGS": "-modcacherw",
    }
    subprocess.run(["go", "version"], env=env, check=True, capture_output=True, timeout=600)
    bin_dir = next(modcache.glob(f"golang.org/toolchain@v0.0.1-{OTHER_GO_VERSION}.*/bin"))
    assert (bin_dir / "go").is_file()
    return bin_dir
