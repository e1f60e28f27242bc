"""`bench/run [--sizes 10,50,200] [--repeat 3] [--cold-repeat K] ...`: probe, measure each size, write results."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import List

from kobench.capabilities import probe
from kobench.go_toolchain import find_go
from kobench.ko_baseline import find_ko
from kobench.machine import describe_machine
from kobench.report import render_json, render_markdown
from kobench.results import SizeResult
from kobench.scenarios import BenchOptions, SizeBench
from kobench.targets import check_targets
from kobench.workspace import REPO_ROOT, copy_repo


def _sizes(text: str) -> List[int]:
    sizes = [int(part) for part in text.split(",") if part.strip()]
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("sizes are positive integers, e.g. 10,50,200")
    return sizes


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    p.add_argument("--sizes", type=_sizes, default=[10, 50, 200], help="numbers of Go mains, comma-separated (default 10,50,200)")
    p.add_argument("--repeat", type=_positive, default=3, help="runs per measurement; the median is reported (default 3)")
    p.add_argument("--cold-repeat", type=_positive, default=None,
                   help="runs of the expensive measurements: cold, floor with a cold Go cache, publish to an empty "
                        "registry, ko cold (default: --repeat). Fewer than 3 is flagged in the results.")
    p.add_argument("--out-dir", type=Path, default=REPO_ROOT / "bench" / "results", help="where the .md and .json go")
    p.add_argument("--workdir", type=Path, default=None, help="scratch space (default: a new temporary directory)")
    p.add_argument("--keep", action="store_true", help="keep the work directory (repos, stores, logs of every run)")
    p.add_argument("--publish-option", action="append", default=[],
                   help="extra Pants option for publish runs, e.g. --publish-option=--kocache-foo=bar (repeatable)")
    args = p.parse_args(argv)
    if args.cold_repeat is None:
        args.cold_repeat = args.repeat
    return args


def _clean(workdir: Path, created: bool, sizes: List[int]) -> None:
    """Remove what the harness wrote (stores are GiBs at N=200); a given --workdir itself stays."""
    if created:
        shutil.rmtree(workdir, ignore_errors=True)
        return
    for name in ["plugin-snapshot", "probe", *(f"n{n}" for n in sizes)]:
        shutil.rmtree(workdir / name, ignore_errors=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kobench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    go, ko = find_go(), find_ko()
    machine = describe_machine(go)  # before anything runs: the plugin commit is the one copied
    print(f"kobench: work directory {workdir}; go {go}; ko {ko or 'not found'}", flush=True)
    try:
        source = copy_repo(REPO_ROOT, workdir / "plugin-snapshot")
        caps = probe(workdir / "probe", source, args.publish_option)
        print(f"kobench: plugin features: {caps.to_json()}", flush=True)
        opts = BenchOptions(args.repeat, args.cold_repeat, workdir, args.keep, go, ko, source, tuple(args.publish_option))
        sizes: List[SizeResult] = [SizeBench(n, opts, caps).run() for n in args.sizes]
    finally:
        if not args.keep:
            _clean(workdir, created=args.workdir is None, sizes=args.sizes)

    options = {"started": started, "sizes": args.sizes, "repeat": args.repeat, "cold_repeat": args.cold_repeat,
               "ko": ko, "publish_options": args.publish_option}
    checks = check_targets(sizes)
    markdown = render_markdown(machine, options, caps.to_json(), sizes, checks)
    document = render_json(machine, options, caps.to_json(), sizes, checks)

    args.out_dir.mkdir(parents=True, exist_ok=True)
    stem = args.out_dir / f"kobench-n{'-'.join(str(n) for n in args.sizes)}"
    for suffix, text in ((".md", markdown), (".json", json.dumps(document, indent=2) + "\n")):
        tmp = stem.with_suffix(suffix + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, stem.with_suffix(suffix))
    print("\n" + markdown)
    print(f"kobench: wrote {stem}.md and {stem}.json")
    failed = [m.key for s in sizes for m in s.measurements.values() if m.failed]
    if failed:
        print(f"kobench: FAILED measurements: {', '.join(failed)}")
    return 1 if failed else 0
