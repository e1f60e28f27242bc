"""A Go module proxy on disk (GOPROXY=file://...), made by the tests: third-party modules without network."""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from pathlib import Path
from typing import Dict


def add_module(proxy: Path, module: str, version: str, files: Dict[str, str]) -> None:
    """Publish `module@version` with `files` (relative paths → content; go.mod is added if missing)."""
    files = {"go.mod": f"module {module}\n\ngo 1.21\n", **files}
    vdir = proxy / module / "@v"
    vdir.mkdir(parents=True, exist_ok=True)
    (vdir / f"{version}.mod").write_text(files["go.mod"])
    (vdir / f"{version}.info").write_text(json.dumps({"Version": version, "Time": "2024-01-01T00:00:00Z"}))
    with zipfile.ZipFile(vdir / f"{version}.zip", "w") as zf:
        for name, content in sorted(files.items()):
            zf.writestr(f"{module}@{version}/{name}", content)
    with open(vdir / "list", "a") as f:
        f.write(version + "\n")


def go_sum_for(module_dir: Path, proxy: Path, scratch: Path) -> str:
    """What `go mod tidy` writes to go.sum for the module, resolving through the file proxy only."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(scratch),
        "GOPROXY": f"file://{proxy}",
        "GOSUMDB": "off",
        "GOFLAGS": "-mod=mod -modcacherw",
        "GOMODCACHE": str(scratch / "modcache"),
        "GOCACHE": os.environ.get("KOCACHE_TEST_GOCACHE", str(scratch / "gocache")),
        "GOTOOLCHAIN": "local",
    }
    subprocess.run(["go", "mod", "tidy"], cwd=module_dir, env=env, check=True, capture_output=True)
    return (module_dir / "go.sum").read_text()
