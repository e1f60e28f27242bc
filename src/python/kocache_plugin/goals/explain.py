"""`pants ko-explain <targets>`: what each `go build` key is made of, and what changed since the last package.

ko users had no way to see why their CI cache missed; this prints, per binary and platform, the key's
components (argv, env, working directory, platform, toolchain, input files) and the resulting key, and
compares it with the record the last `pants package` left under dist/.kocache/keys/.
"""

from __future__ import annotations

import json
from pathlib import Path

from pants.engine.console import Console
from pants.engine.goal import Goal, GoalSubsystem
from pants.engine.rules import Get, MultiGet, collect_rules, goal_rule
from pants.engine.target import Targets
from pants.option.global_options import GlobalOptions
from pants.base.build_root import BuildRoot

from kocache_plugin.cache.build_records import RECORDS_DIR, BuildRecords, BuildRecordsRequest
from kocache_plugin.cache.key_record import describe_changes
from kocache_plugin.go.binary_spec import GoBinarySpec, GoBinarySpecRequest
from kocache_plugin.image.image_spec import KoImageSpec, KoImageSpecRequest
from kocache_plugin.subsystems.kocache import KocacheSubsystem
from kocache_plugin.go.binary_spec import parse_platforms
from kocache_plugin.target_types import KoBinaryMainField, KoImageBinaryField


class KoExplainSubsystem(GoalSubsystem):
    name = "ko-explain"
    help = "Show what the cache key of each ko_binary build is made of, and what changed since the last package."


class KoExplain(Goal):
    subsystem_cls = KoExplainSubsystem
    environment_behavior = Goal.EnvironmentBehavior.LOCAL_ONLY


def _previous_records(dist: Path) -> dict:
    records = {}
    for path in sorted((dist / RECORDS_DIR).rglob("*.json")) if (dist / RECORDS_DIR).is_dir() else ():
        try:
            for record in json.loads(path.read_text()):
                records[(record["target"], record["platform"])] = record
        except (ValueError, KeyError, TypeError):
            continue  # a damaged record explains nothing; it is rewritten by the next package
    return records


@goal_rule
async def explain(
    targets: Targets, console: Console, build_root: BuildRoot, global_options: GlobalOptions, kocache: KocacheSubsystem
) -> KoExplain:
    images = await MultiGet(
        Get(KoImageSpec, KoImageSpecRequest(t.address)) for t in targets if t.has_field(KoImageBinaryField)
    )
    binaries = await MultiGet(
        Get(GoBinarySpec, GoBinarySpecRequest(t.address, str(t.address))) for t in targets if t.has_field(KoBinaryMainField)
    )
    default = parse_platforms(kocache.default_platforms, "[kocache].default_platforms")
    builds = {(b, p) for image in images for p in image.platforms for b in image.binaries}
    builds |= {(b, p) for b in binaries for p in (b.platforms or default)}
    ordered = tuple(sorted(builds, key=lambda bp: (str(bp[0].address), str(bp[1]))))
    records = await Get(BuildRecords, BuildRecordsRequest(ordered))
    previous = _previous_records(Path(build_root.path) / global_options.pants_distdir)
    for record in records.as_json():
        c = record["components"]
        console.print_stdout(f"{record['target']}  {record['platform']}")
        console.print_stdout(f"  key          {record['key']}")
        console.print_stdout(f"  argv         {' '.join(c['argv'])}")
        console.print_stdout(f"  env          {' '.join(f'{k}={v}' for k, v in c['env'].items())}")
        console.print_stdout(f"  working dir  {c['working_dir']}")
        console.print_stdout(f"  platform     {c['platform']}")
        console.print_stdout(f"  toolchain    {c['toolchain']}")
        console.print_stdout(f"  inputs       {len(c['inputs'])} files")
        old = previous.get((record["target"], record["platform"]))
        if old is None:
            console.print_stdout("  since last package: no record (run `pants package` first)")
        elif old["key"] == record["key"]:
            console.print_stdout("  since last package: unchanged (a cache hit: go build will not run)")
        else:
            console.print_stdout("  since last package: changed (go build runs again):")
            for change in describe_changes(old, record):
                console.print_stdout(f"    {change}")
    return KoExplain(exit_code=0)


def rules():
    return collect_rules()
