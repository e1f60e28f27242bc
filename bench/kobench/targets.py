"""The issue's targets, judged from the results: met, missed, or not measured (and why).

  warm no-op (pantsd), N=50     <= 1.5 x `pants list ::` (pantsd) on the same repo
  cold, each N                  <= 1.2 x the floor (plain go build, warm Go cache, + tar/gzip-1/sha256)
  scenario 4, each N            0 layer steps executed
  scenario 6 warm, each N       0 blob bytes sent
  no-op time per image          flat from the smallest to the largest N: the per-image time at the largest
                                N is at most 1.2 x the one at the smallest (fixed costs make it fall; it
                                must not grow). The marginal cost per image between sizes is shown too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import List, Optional

from kobench.results import SizeResult

NOOP_TARGET_N = 50
NOOP_MAX_RATIO = 1.5
COLD_MAX_RATIO = 1.2
FLAT_MAX_GROWTH = 1.2


@dataclass
class TargetCheck:
    target: str
    n: str
    value: str
    goal: str
    verdict: str  # "met", "missed" or "not measured"
    detail: str = ""

    def to_json(self) -> dict:
        return asdict(self)


def _why_not(size: SizeResult, *keys: str) -> str:
    for key in keys:
        m = size.measurements.get(key)
        if m is None:
            return f"{key} not run"
        if m.skipped:
            return f"{key} skipped: {m.skipped}"
        if m.failed:
            return f"{key} failed: {m.failed}"
    return "no data"


def _ratio_check(target: str, size: SizeResult, key: str, base: str, limit: float) -> TargetCheck:
    ratio = size.ratio(key, base)
    goal = f"<= {limit}x"
    if ratio is None:
        return TargetCheck(target, str(size.n), "-", goal, "not measured", _why_not(size, key, base))
    ours, theirs = size.measurements[key].median_wall, size.measurements[base].median_wall
    detail = f"{ours:.2f} s vs {theirs:.2f} s"
    return TargetCheck(target, str(size.n), f"{ratio:.2f}x", goal, "met" if ratio <= limit else "missed", detail)


def _zero_check(target: str, size: SizeResult, key: str, value_of) -> TargetCheck:
    m = size.measurements.get(key)
    if m is None or not m.ok:
        return TargetCheck(target, str(size.n), "-", "0", "not measured", _why_not(size, key))
    values = [value_of(s) for s in m.samples]
    worst = max(values)
    return TargetCheck(target, str(size.n), str(worst), "0", "met" if worst == 0 else "missed",
                       f"per run: {values}" if len(values) > 1 else "")


def check_targets(sizes: List[SizeResult]) -> List[TargetCheck]:
    checks: List[TargetCheck] = []
    by_n = {s.n: s for s in sizes}

    noop_target = "warm no-op (pantsd) vs pants list (pantsd)"
    if NOOP_TARGET_N in by_n:
        checks.append(_ratio_check(noop_target, by_n[NOOP_TARGET_N], "noop_pantsd", "list_pantsd", NOOP_MAX_RATIO))
    else:
        checks.append(TargetCheck(noop_target, str(NOOP_TARGET_N), "-", f"<= {NOOP_MAX_RATIO}x", "not measured",
                                  f"N={NOOP_TARGET_N} not in --sizes"))
    for size in sizes:
        checks.append(_ratio_check("cold vs floor", size, "cold", "floor", COLD_MAX_RATIO))
    for size in sizes:
        checks.append(_zero_check("4. comment-only edit: layer steps", size, "comment_edit",
                                  lambda s: s.processes.layer_steps if s.processes else 0))
    for size in sizes:
        checks.append(_zero_check("6. warm publish: blob bytes sent", size, "publish_warm",
                                  lambda s: s.upload.blob_bytes if s.upload else 0))
    checks.append(_flatness(sizes))
    return checks


def _per_image_ms(size: SizeResult) -> Optional[float]:
    m = size.measurements.get("noop_pantsd")
    return m.median_wall * 1000 / size.n if m is not None and m.ok else None


def _flatness(sizes: List[SizeResult]) -> TargetCheck:
    target, goal = "warm no-op (pantsd): time per image, smallest -> largest N", f"largest <= {FLAT_MAX_GROWTH}x smallest"
    measured = [(s.n, _per_image_ms(s), s.measurements["noop_pantsd"].median_wall) for s in sorted(sizes, key=lambda s: s.n)
                if _per_image_ms(s) is not None]
    if len(measured) < 2:
        return TargetCheck(target, ",".join(str(s.n) for s in sizes), "-", goal, "not measured", "needs two sizes or more")
    value = ", ".join(f"N={n}: {ms:.1f} ms" for n, ms, _ in measured)
    slopes = ", ".join(
        f"{a[0]}->{b[0]}: {(b[2] - a[2]) * 1000 / (b[0] - a[0]):.1f} ms/image" for a, b in zip(measured, measured[1:])
    )
    growth = measured[-1][1] / measured[0][1]
    return TargetCheck(target, ",".join(str(n) for n, _, _ in measured), value, goal,
                       "met" if growth <= FLAT_MAX_GROWTH else "missed", f"growth {growth:.2f}x; marginal {slopes}")
