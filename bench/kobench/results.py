"""What one measured run yields (Sample), what one scenario or baseline yields (Measurement), per size.

Every run is kept, not only the median, so the JSON can be re-analysed; the summaries (median wall time,
max peak memory, the process counts of each run) are computed here, in one place, for both outputs.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional

from kobench.pants_log import ExecutedProcesses
from kobench.upload_counter import UploadTally

MIN_RUNS_FOR_MEDIAN = 3


@dataclass
class Sample:
    wall_s: float
    peak_pants_rss: int = 0  # bytes: Pants client + pantsd
    peak_tree_rss: int = 0  # bytes: the same plus every process they spawned
    processes: Optional[ExecutedProcesses] = None
    images_changed: Optional[int] = None  # OCI layouts under dist/ whose index.json changed
    upload: Optional[UploadTally] = None
    pantsd_restarted: bool = False

    def to_json(self) -> dict:
        out = asdict(self)
        if self.processes is not None:
            out["processes"]["consistent_with_stats_log"] = self.processes.consistent
        return out


@dataclass
class Measurement:
    key: str
    title: str
    kind: str  # "scenario" or "baseline"
    planned_runs: int
    samples: List[Sample] = field(default_factory=list)
    skipped: Optional[str] = None  # why it did not run (a missing feature or tool)
    failed: Optional[str] = None  # why it broke while running
    notes: List[str] = field(default_factory=list)
    baseline: Optional[str] = None  # key of the baseline it is compared with
    also_vs: List[str] = field(default_factory=list)  # more baselines worth a ratio
    ko_baseline: Optional[str] = None

    @property
    def ok(self) -> bool:
        return not self.skipped and not self.failed and bool(self.samples)

    @property
    def median_wall(self) -> Optional[float]:
        return statistics.median(s.wall_s for s in self.samples) if self.samples else None

    @property
    def few_runs(self) -> bool:
        return self.ok and len(self.samples) < MIN_RUNS_FOR_MEDIAN

    def peak(self, attr: str) -> int:
        return max((getattr(s, attr) for s in self.samples), default=0)

    def counts(self, attr: str) -> List[int]:
        """One value per run (e.g. go builds), for runs that counted processes."""
        return [getattr(s.processes, attr) for s in self.samples if s.processes is not None]

    def to_json(self) -> dict:
        return {
            "key": self.key,
            "title": self.title,
            "kind": self.kind,
            "planned_runs": self.planned_runs,
            "runs": len(self.samples),
            "median_wall_s": self.median_wall,
            "skipped": self.skipped,
            "failed": self.failed,
            "notes": self.notes,
            "baseline": self.baseline,
            "also_vs": self.also_vs,
            "ko_baseline": self.ko_baseline,
            "samples": [s.to_json() for s in self.samples],
        }


@dataclass
class SizeResult:
    n: int
    facts: Dict[str, object] = field(default_factory=dict)  # what the tree looked like (k, base, ...)
    measurements: Dict[str, Measurement] = field(default_factory=dict)

    def add(self, m: Measurement) -> Measurement:
        self.measurements[m.key] = m
        return m

    def ratio(self, key: str, baseline_key: Optional[str]) -> Optional[float]:
        ours, base = self.measurements.get(key), self.measurements.get(baseline_key or "")
        if ours is None or base is None or not ours.ok or not base.ok or not base.median_wall:
            return None
        return ours.median_wall / base.median_wall

    def to_json(self) -> dict:
        return {
            "n": self.n,
            "facts": self.facts,
            "measurements": [m.to_json() for m in self.measurements.values()],
        }
