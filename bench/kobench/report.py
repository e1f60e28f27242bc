"""Render results as a markdown report (for people) and JSON (for machines), from the same objects."""

from __future__ import annotations

from typing import Dict, List

from kobench.results import Measurement, SizeResult
from kobench.targets import TargetCheck

_SHORT = {
    "floor": "floor",
    "floor_cold_go": "floor (cold Go)",
    "list_pantsd": "list (pantsd)",
    "list_no_pantsd": "list (no pantsd)",
    "ko_cold": "ko cold",
    "ko_warm": "ko warm",
}


def _mib(n: int) -> str:
    return f"{n / 2**20:.0f}" if n else "-"


def _span(values: List[int]) -> str:
    if not values:
        return "-"
    lo, hi = min(values), max(values)
    return str(lo) if lo == hi else f"{lo}-{hi}"


def _ratio(size: SizeResult, m: Measurement, baseline: str) -> str:
    ratio = size.ratio(m.key, baseline) if baseline else None
    return f"{ratio:.2f}x {_SHORT.get(baseline, baseline)}" if ratio is not None else "-"


def _bytes(n: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def _bytes_span(values: List[int]) -> str:
    lo, hi = min(values), max(values)
    return _bytes(lo) if lo == hi else f"{_bytes(lo)}-{_bytes(hi)}"


def _row(size: SizeResult, m: Measurement) -> str:
    if not m.ok:
        status = f"skipped: {m.skipped}" if m.skipped else f"FAILED: {m.failed}"
        return f"| {m.title} | 0/{m.planned_runs} | {status} | | | | | | | | |"
    runs = f"{len(m.samples)}" + (" (<3)" if m.few_runs else "")
    procs = [s.processes for s in m.samples if s.processes is not None]
    other = _span([p.other_total for p in procs])
    own = _span([p.pants_own for p in procs])
    uploads = [s.upload for s in m.samples if s.upload is not None]
    sent = f"{_bytes_span([u.blob_bytes for u in uploads])} / {_bytes_span([u.body_bytes for u in uploads])}" if uploads else "-"
    images = _span([s.images_changed for s in m.samples if s.images_changed is not None])
    return (
        f"| {m.title} | {runs} | {m.median_wall:.2f} | {'; '.join(_ratio(size, m, b) for b in [m.baseline, *m.also_vs])} "
        f"| {_ratio(size, m, m.ko_baseline)} "
        f"| {_span(m.counts('go_builds')) if procs else '-'} | {_span(m.counts('layer_steps')) if procs else '-'} "
        f"| {other} / {own} | {images} | {sent} | {_mib(m.peak('peak_pants_rss'))} / {_mib(m.peak('peak_tree_rss'))} |"
    )


def size_section(size: SizeResult) -> str:
    facts = size.facts
    lines = [
        f"## N = {size.n}",
        "",
        f"{facts.get('images')} images, {facts.get('shared_packages')} shared packages, {facts.get('data_layers')} data layers; "
        f"base: {facts.get('base')}; scenario 3 edits `{facts.get('edited_shared_package', '?')}` "
        f"(k = {facts.get('k_importers', '?')} importing mains). 1-minute load average when this size started / "
        f"ended: {facts.get('load_1m_at_start', '?')} / {facts.get('load_1m_at_end', '?')} (at the start nothing of "
        "the benchmark runs: a value near or above the core count means other work shared the CPU and inflated times).",
        "",
        "| measurement | runs | median wall (s) | vs baseline | vs ko | go builds | layer steps | other procs: plugin / Pants' own "
        "| images changed | sent bytes: blobs / all | peak RSS MiB: Pants / tree |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [_row(size, m) for m in size.measurements.values()]
    notes = [f"- {m.title}: {note}" for m in size.measurements.values() for note in m.notes]
    restarts = [m.title for m in size.measurements.values() if any(s.pantsd_restarted for s in m.samples)]
    if restarts:
        notes.append(f"- pantsd restarted during: {', '.join(restarts)} (those runs include a pantsd start)")
    inconsistent = [m.title for m in size.measurements.values()
                    if any(s.processes is not None and not s.processes.consistent for s in m.samples)]
    if inconsistent:
        notes.append(f"- process count differs from --stats-log local_execution_requests in: {', '.join(inconsistent)}")
    return "\n".join(lines + ([""] + notes if notes else []))


def targets_section(checks: List[TargetCheck]) -> str:
    lines = ["## Targets", "", "| target | N | value | goal | verdict | detail |", "|---|---|---|---|---|---|"]
    lines += [f"| {c.target} | {c.n} | {c.value} | {c.goal} | {c.verdict} | {c.detail} |" for c in checks]
    return "\n".join(lines)


def render_markdown(machine: Dict, options: Dict, capabilities: Dict, sizes: List[SizeResult], checks: List[TargetCheck]) -> str:
    head = [
        "# kobench results",
        "",
        f"Machine: {machine['cores']} cores ({machine['cpu']}), {machine['memory_gib']} GiB, {machine['os']}. "
        f"{machine['go']}, Pants {machine['pants']}, Python {machine['python']}, plugin: the working tree at commit {machine['plugin_commit']}, copied at the start.",
        "",
        f"Run: {options['started']}, sizes {options['sizes']}, --repeat {options['repeat']}, "
        f"--cold-repeat {options['cold_repeat']}.",
    ]
    if options["repeat"] < 3:
        head.append(f"Every measurement ran at most {options['repeat']} time(s): fewer than 3, so medians are weak.")
    if options["cold_repeat"] < 3:
        head.append(
            f"The expensive measurements (cold, floor with a cold Go cache, publish to an empty registry, ko cold) "
            f"ran {options['cold_repeat']} time(s): fewer than 3 (marked \"<3\"), so their median is "
            f"{'a single value' if options['cold_repeat'] == 1 else 'weak'}."
        )
    head += [
        "",
        f"Plugin features, probed at run time: `base=\"oci:...\"`: {capabilities['oci_base']}; "
        f"`pants publish`: {capabilities['publish']}.",
        "",
        "Columns: wall time is the median over runs; ratios are ours / baseline (same tree, same run); process counts "
        "are processes Pants really executed (cache hits excluded), per run as a range; \"images changed\" counts OCI "
        "layouts under dist/ whose index.json changed; peak RSS is the max over runs, Pants = client + pantsd, "
        "tree = with every process they spawned.",
    ]
    body = [size_section(s) for s in sizes]
    return "\n\n".join(["\n".join(head), *body, targets_section(checks)]) + "\n"


def render_json(machine: Dict, options: Dict, capabilities: Dict, sizes: List[SizeResult], checks: List[TargetCheck]) -> Dict:
    return {
        "machine": machine,
        "options": options,
        "capabilities": capabilities,
        "sizes": [s.to_json() for s in sizes],
        "targets": [c.to_json() for c in checks],
    }
