"""Run the real `./pants` on a temporary copy of this repository, as a user would.

Copies hold what a clone holds (the bootstrap, pants.toml, the plugin, the example monorepo). Every run
uses --no-pantsd unless asked, one shared named-caches dir (Go's build cache: an accelerator only) and,
unless a test asks for its own, one shared local store.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

REPO_ROOT = Path(__file__).resolve().parents[2]
COPIED = ("pants", "pants.toml", "3rdparty", "src", "examples")


def shared_cache_dir(name: str) -> Path:
    base = Path(os.environ.get("KOCACHE_TEST_GOCACHE", Path.home() / ".cache/kocache/test-gocache")).parent
    path = base / name
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class PantsResult:
    returncode: int
    stdout: str
    stderr: str

    def executed(self, description_prefix: str) -> List[str]:
        """Descriptions of processes that really ran (cache hits log no `Starting:` line)."""
        return re.findall(r"Starting: (" + re.escape(description_prefix) + r"[^\n]*)", self.stderr)

    def stat(self, name: str) -> int:
        m = re.search(rf"^\s*{re.escape(name)}: (\d+)$", self.stderr, re.M)
        assert m, f"no {name} in --stats-log output"
        return int(m.group(1))


# A main that links the standard library's biggest packages (net/http), so its build fills Go's cache.
NET_HTTP_MAIN = 'package main\n\nimport (\n\t"fmt"\n\t"net/http"\n)\n\nfunc main() { fmt.Println(http.StatusOK) }\n'


class PantsRepo:
    """A temporary checkout of the repository."""

    def __init__(self, root: Path, local_store: Optional[Path] = None):
        self.root = root
        self.local_store = local_store or shared_cache_dir("test-lmdb-store")
        self.named_caches = shared_cache_dir("test-named-caches")

    @classmethod
    def copy(cls, dest: Path, local_store: Optional[Path] = None, with_examples: bool = True) -> "PantsRepo":
        dest.mkdir(parents=True, exist_ok=True)
        for name in COPIED:
            if name == "examples" and not with_examples:
                continue
            src = REPO_ROOT / name
            if src.is_dir():
                shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(src, dest / name)
        return cls(dest, local_store)

    @classmethod
    def one_go_image(cls, tmp_path: Path, main_go: str) -> "PantsRepo":
        """A checkout without the examples, with caches of its own (`store-1`, `named-caches` under tmp_path) and
        one image, `m:img`, of the binary `m:b` built from `main_go`: for tests that damage or inspect caches."""
        repo = cls.copy(tmp_path / "repo", local_store=tmp_path / "store-1", with_examples=False)
        repo.named_caches = tmp_path / "named-caches"
        repo.write("m/go.mod", "module example.com/m\n\ngo 1.21\n")
        repo.write("m/main.go", main_go)
        repo.write("m/BUILD", 'ko_binary(name="b")\nko_image(name="img", binary=":b")\n')
        return repo

    def write(self, path: str, content: str) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)

    def run(self, *args: str, env: Optional[Dict[str, str]] = None, pantsd: bool = False,
            check: bool = True, timeout: int = 900, extra_options: Sequence[str] = ()) -> PantsResult:
        argv = [
            "./pants",
            "--pantsd" if pantsd else "--no-pantsd",
            f"--local-store-dir={self.local_store}",
            f"--named-caches-dir={self.named_caches}",
            *extra_options,
            *args,
        ]
        run_env = {**os.environ, **(env or {})}
        proc = subprocess.run(argv, cwd=self.root, env=run_env, capture_output=True, text=True, timeout=timeout)
        result = PantsResult(proc.returncode, proc.stdout, proc.stderr)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr[-6000:]}")
        return result

    def stop_pantsd(self) -> None:
        """End the pantsd that runs with `pantsd=True` started in this checkout, by its pid."""
        for pid_file in self.root.glob(".pids/*/pantsd/pid"):
            pid = int(pid_file.read_text().strip() or 0)
            try:
                os.kill(pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                continue
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)

    def layouts(self) -> Dict[str, Path]:
        """dist/<path> → layout directory, for every OCI layout written."""
        dist = self.root / "dist"
        return {str(p.parent.relative_to(dist)): p.parent for p in sorted(dist.rglob("oci-layout"))}
