"""The benchmark harness still works end to end, at N=2 with one run each (a benchmark is not a test: no
timing is asserted, only that every measurement ran or says why not, and that nothing is left running)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import psutil
import pytest

from tests.support.pants_repo import REPO_ROOT

pytestmark = pytest.mark.e2e

EXPECTED = {
    "floor_cold_go", "floor", "cold", "list_no_pantsd", "noop_no_pantsd", "pantsd_start", "noop_pantsd",
    "list_pantsd", "shared_edit", "comment_edit", "base_change", "publish_cold", "publish_warm", "ko_cold", "ko_warm",
}


def test_bench_runs_at_n2(tmp_path: Path) -> None:
    work, out = tmp_path / "work", tmp_path / "results"
    proc = subprocess.run(
        [str(REPO_ROOT / "bench/run"), "--sizes", "2", "--repeat", "1", "--cold-repeat", "1",
         "--workdir", str(work), "--out-dir", str(out)],
        capture_output=True, text=True, timeout=1800, env={**os.environ, "KOBENCH_NO_INSTALL": "1"},
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]

    document = json.loads((out / "kobench-n2.json").read_text())
    assert document["machine"]["cores"] >= 1 and document["machine"]["pants"]
    [size] = document["sizes"]
    measurements = {m["key"]: m for m in size["measurements"]}
    assert set(measurements) == EXPECTED
    for m in measurements.values():
        assert m["failed"] is None, m
        assert m["skipped"] or m["runs"] == m["planned_runs"], m
    cold = measurements["cold"]["samples"][0]["processes"]
    assert cold["go_builds"] == 2, "an empty store must build both mains (and the log parsing must see it)"
    assert cold["consistent_with_stats_log"], cold

    markdown = (out / "kobench-n2.md").read_text()
    assert "## N = 2" in markdown and "## Targets" in markdown

    leftovers = [p.pid for p in psutil.process_iter(["cmdline"]) if str(tmp_path) in " ".join(p.info["cmdline"] or [])]
    assert not leftovers, f"the harness left processes running: {leftovers}"
    assert not work.exists() or not any(work.iterdir()), "without --keep the work directory is emptied"
