"""The machine and tool versions a result belongs to: numbers without them cannot be compared."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path

import psutil

from kobench.go_toolchain import go_version
from kobench.workspace import REPO_ROOT


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _pants_version() -> str:
    try:
        return metadata.version("pantsbuild.pants")
    except metadata.PackageNotFoundError:
        match = re.search(r'pants_version\s*=\s*"([^"]+)"', (REPO_ROOT / "pants.toml").read_text())
        return match.group(1) if match else "unknown"


def _plugin_commit() -> str:
    """HEAD of the repo the plugin was copied from (read only; the copy may hold uncommitted edits)."""
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def describe_machine(go: str) -> dict:
    return {
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "go": go_version(go) or "unknown",
        "go_binary": go,
        "pants": _pants_version(),
        "python": platform.python_version(),
        "plugin_commit": _plugin_commit(),
    }
