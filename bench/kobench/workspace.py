"""A throwaway checkout of the plugin repo in which the benchmark runs the real `./pants`.

It holds what a clone holds (the bootstrap, pants.toml, the locks, the plugin) but not `examples/`: the
synthetic monorepo is generated into it instead. Every run names its Pants store and named caches
(`--local-store-dir`, `--named-caches-dir`) explicitly, so "cold" is a pair of fresh directories (Go's
build cache is the named cache `kocache_go_build`: a fresh named-caches dir is an empty Go cache).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Dict, Optional

import psutil

from kobench.measure import CommandRun, run_measured
from kobench.pants_log import LOG_OPTIONS

REPO_ROOT = Path(__file__).resolve().parents[2]
COPIED = ("pants", "pants.toml", "3rdparty", "src")


def copy_repo(source: Path, dest: Path) -> Path:
    """Copy what a clone holds. The harness first copies the repo once (a snapshot) and makes every workspace
    from it, so all sizes measure the same plugin even while people edit the repo during a long run."""
    dest.mkdir(parents=True)
    for name in COPIED:
        src = source / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def _is_pantsd(pid: int) -> bool:
    """A live pantsd (its title is `pantsd [<buildroot>]`), not a recycled pid."""
    try:
        return "pantsd" in " ".join(psutil.Process(pid).cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


class Workspace:
    def __init__(self, root: Path, caches_root: Path, logs: Path):
        self.root = root
        self.caches_root = caches_root
        self.logs = logs
        self.store_dir = caches_root / "store-0"
        self.named_caches_dir = caches_root / "named-caches-0"
        self._generation = 0
        self._runs = 0

    @classmethod
    def create(cls, root: Path, caches_root: Path, logs: Path, source: Path = REPO_ROOT) -> "Workspace":
        copy_repo(source, root)
        return cls(root, caches_root, logs)

    def fresh_caches(self) -> None:
        """Point later runs at a new, empty store and named-caches dir (the previous pair is deleted)."""
        self.stop_pantsd()
        for old in (self.store_dir, self.named_caches_dir):
            shutil.rmtree(old, ignore_errors=True)
        self._generation += 1
        self.store_dir = self.caches_root / f"store-{self._generation}"
        self.named_caches_dir = self.caches_root / f"named-caches-{self._generation}"
        self.store_dir.mkdir(parents=True)
        self.named_caches_dir.mkdir(parents=True)

    def pants(self, *args: str, pantsd: bool, label: str, options=()) -> CommandRun:
        argv = [
            "./pants",
            "--pantsd" if pantsd else "--no-pantsd",
            f"--local-store-dir={self.store_dir}",
            f"--named-caches-dir={self.named_caches_dir}",
            *LOG_OPTIONS,
            *options,
            *args,
        ]
        self._runs += 1
        return run_measured(
            argv,
            cwd=self.root,
            log_prefix=self.logs / f"{self._runs:03d}-{label}",
            env=dict(os.environ),
            pantsd_pid=self.pantsd_pid if pantsd else (lambda: None),
        )

    def pantsd_pid(self) -> Optional[int]:
        """pantsd writes its pid to `.pids/<fingerprint>/pantsd/pid` ([GLOBAL].pants_subprocessdir)."""
        for pid_file in (self.root / ".pids").glob("*/pantsd/pid"):
            try:
                pid = int(pid_file.read_text().strip() or 0)
            except (OSError, ValueError):
                continue
            if pid and _is_pantsd(pid):
                return pid
        return None

    def stop_pantsd(self) -> None:
        """Terminate this workspace's pantsd (and only it), so the benchmark leaves nothing running."""
        pid = self.pantsd_pid()
        if pid is None:
            return
        try:
            proc = psutil.Process(pid)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
        except psutil.TimeoutExpired:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
        deadline = time.monotonic() + 5
        while psutil.pid_exists(pid) and time.monotonic() < deadline:
            time.sleep(0.1)

    def dist_fingerprints(self) -> Dict[str, str]:
        """dist/<image> → sha256 of its index.json: which images a run actually changed."""
        dist = self.root / "dist"
        return {
            str(p.parent.relative_to(dist)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(dist.rglob("index.json"))
            if (p.parent / "oci-layout").exists()
        }

    def remove_caches(self) -> None:
        self.stop_pantsd()
        shutil.rmtree(self.caches_root, ignore_errors=True)
