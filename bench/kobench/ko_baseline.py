"""The `ko` baseline: `ko build` of every main with KOCACHE set, `--push=false`, into an OCI layout.

Only when a `ko` binary is already there ($KO_BIN, else PATH): the harness never installs it. ko cannot take
a base image from a local OCI layout, so the benchmark's base is first copied (skopeo) into the loopback
registry and named with KO_DEFAULTBASEIMAGE; ko reads it from there on every build, as it would in real use.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import List, Optional

from kobench.floor import plain_go_env
from kobench.measure import CommandRun, run_measured


def find_ko() -> Optional[str]:
    explicit = os.environ.get("KO_BIN")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    return shutil.which("ko")


def push_base(layout_dir: Path, registry_host: str) -> str:
    """Copy the base layout into the registry; returns the reference ko should use."""
    if shutil.which("skopeo") is None:
        raise RuntimeError("skopeo is not installed (needed to give ko the base image)")
    ref = f"{registry_host}/kobench/base:latest"
    subprocess.run(
        ["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"oci:{layout_dir}:latest", f"docker://{ref}"],
        check=True, capture_output=True, text=True,
    )
    return ref


def run_ko(
    ko: str, module_dir: Path, mains: List[str], kocache: Path, gocache: Path, work: Path,
    registry_host: str, base_ref: str, log_prefix: Path,
) -> CommandRun:
    layout = work / "ko-layout"
    shutil.rmtree(layout, ignore_errors=True)
    kocache.mkdir(parents=True, exist_ok=True)
    # ko refuses GOOS/GOARCH in its environment together with --platform (the same linux/amd64).
    go_env = {k: v for k, v in plain_go_env(gocache, work / "home").items() if k not in ("GOOS", "GOARCH")}
    env = {
        **go_env,
        "KOCACHE": str(kocache),
        "KO_DOCKER_REPO": f"{registry_host}/ko",
        "KO_DEFAULTBASEIMAGE": base_ref,
    }
    argv = [
        ko, "build", "--push=false", f"--oci-layout-path={layout}", "--sbom=none", "--platform=linux/amd64",
        *[f"./cmd/{m}" for m in mains],
    ]
    return run_measured(argv, cwd=module_dir, log_prefix=log_prefix, env=env)
