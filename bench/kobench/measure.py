"""Run one command and measure it: wall time, exit code, output (kept in files), peak memory.

Output goes to files, not pipes, so a chatty run can neither block nor cost the harness memory, and the logs
stay in the work directory (with `--keep`) for anyone who doubts a number.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence

from kobench.memory import RssSampler
from kobench.pants_log import failure_reason


@dataclass
class CommandRun:
    argv: Sequence[str]
    returncode: int
    wall_s: float
    stdout: str
    stderr: str
    peak_pants_rss: int
    peak_tree_rss: int
    pantsd_pids: tuple  # pantsd processes seen during the run (more than one: it restarted)

    def check(self, what: str) -> "CommandRun":
        if self.returncode != 0:
            raise RuntimeError(
                f"{what} failed (exit {self.returncode}): {failure_reason(self.stderr)}\n"
                f"{' '.join(self.argv)}\n{self.stderr[-4000:]}"
            )
        return self


def run_measured(
    argv: Sequence[str],
    cwd: Path,
    log_prefix: Path,
    env: Optional[Dict[str, str]] = None,
    pantsd_pid: Callable[[], Optional[int]] = lambda: None,
    timeout: float = 7200,
) -> CommandRun:
    log_prefix.parent.mkdir(parents=True, exist_ok=True)
    out_path, err_path = log_prefix.with_suffix(".stdout"), log_prefix.with_suffix(".stderr")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(argv), cwd=cwd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        sampler = RssSampler(proc.pid, pantsd_pid).start()
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        finally:
            wall = time.perf_counter() - start
            sampler.stop()
    return CommandRun(
        argv=tuple(argv),
        returncode=returncode,
        wall_s=wall,
        stdout=out_path.read_text(errors="replace"),
        stderr=err_path.read_text(errors="replace"),
        peak_pants_rss=sampler.peak_pants,
        peak_tree_rss=sampler.peak_tree,
        pantsd_pids=tuple(sorted(sampler.pantsd_pids_seen)),
    )
