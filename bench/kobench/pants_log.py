"""What a Pants run really executed, read from its own log.

Pants logs `spawned local process as ... for Process { ..., description: "..." }` (logger
`process_execution::local`, DEBUG) exactly once per process it runs; a cache hit logs nothing there. So the
harness raises only that logger to DEBUG (`LOG_OPTIONS`) and counts those lines by description: `go build`
processes, layer steps ("Make ..."), and the rest (go list, toolchain probes, Pants' own binary discovery,
which re-runs on every `--no-pantsd` start). `--stats-log` counters are parsed as a cross-check: their
`local_execution_requests` must equal the number of lines found. And when a run fails, `failure_reason`
picks the line that says why.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List

LOG_OPTIONS = ("--stats-log", "--log-levels-by-target={'process_execution::local': 'debug'}")

_SPAWNED = re.compile(r"spawned local process as .*? for Process \{.*?, description: \"((?:[^\"\\]|\\.)*)\"")
_LOG_PREFIX = re.compile(r"^\d\d:\d\d:\d\d\.\d+ \[[A-Z]+\] ")
_COUNTER = re.compile(r"^\s+([a-z_]+): (\d+)$", re.M)
_GO_BUILD = "go build"
_LAYER_STEP = "Make "
# Processes Pants itself runs to find binaries; not the plugin's work.
_PANTS_OWN = ("Searching for `", "Test binary ")


def executed_descriptions(stderr: str) -> List[str]:
    return [m.group(1).replace('\\"', '"') for m in _SPAWNED.finditer(stderr)]


def stats_counters(stderr: str) -> Dict[str, int]:
    """The `--stats-log` counters block ("Counters:" then `  name: value` lines)."""
    start = stderr.rfind("Counters:")
    if start < 0:
        return {}
    return {name: int(value) for name, value in _COUNTER.findall(stderr[start:])}


def _kind(description: str) -> str:
    words = description.split()
    return " ".join(words[:3]) if words else "?"


@dataclass
class ExecutedProcesses:
    go_builds: int = 0
    layer_steps: int = 0
    pants_own: int = 0
    other: Dict[str, int] = field(default_factory=dict)  # the plugin's other processes, by first words
    total: int = 0
    local_execution_requests: int = -1  # from --stats-log; -1 when absent
    cache_hits: int = -1

    @property
    def other_total(self) -> int:
        return sum(self.other.values())

    @property
    def consistent(self) -> bool:
        return self.local_execution_requests in (-1, self.total)


def count_executed(stderr: str) -> ExecutedProcesses:
    found = ExecutedProcesses()
    other: Counter = Counter()
    for desc in executed_descriptions(stderr):
        found.total += 1
        if desc.startswith(_GO_BUILD):
            found.go_builds += 1
        elif desc.startswith(_LAYER_STEP):
            found.layer_steps += 1
        elif desc.startswith(_PANTS_OWN):
            found.pants_own += 1
        else:
            other[_kind(desc)] += 1
    found.other = dict(sorted(other.items()))
    counters = stats_counters(stderr)
    found.local_execution_requests = counters.get("local_execution_requests", -1)
    found.cache_hits = counters.get("local_cache_requests_cached", -1)
    return found


def failure_reason(stderr: str) -> str:
    """The most telling line of a failed Pants run."""
    lines = [_LOG_PREFIX.sub("", l.strip()) for l in stderr.splitlines() if l.strip() and "spawned local process" not in l]
    for needle in ("not supported", "No relevant backends", "Unknown flag", "[ERROR]", "Error:"):
        for line in lines:
            if needle in line:
                return line[:300]
    return lines[-1][:300] if lines else "no output"
