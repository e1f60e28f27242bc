"""`pants ko-lock-bases ::`: resolve registry base tags to digests and write the base lock. Thin."""

from __future__ import annotations

import json
from collections import defaultdict

from pants.engine.console import Console
from pants.engine.fs import CreateDigest, Digest, FileContent, Workspace
from pants.engine.goal import Goal, GoalSubsystem
from pants.engine.process import FallibleProcessResult
from pants.engine.rules import Get, MultiGet, collect_rules, goal_rule
from pants.engine.target import Targets

from kocache_plugin.image.base_lock import BaseLock, render_base_lock
from kocache_plugin.image.image_spec import KoImageSpec, KoImageSpecRequest
from kocache_plugin.image.registry_tool import RegistryProcess
from kocache_plugin.oci.registry.reference import Reference
from kocache_plugin.target_types import KoImageBinaryField


class KoLockBasesSubsystem(GoalSubsystem):
    name = "ko-lock-bases"
    help = "Resolve the registry base images (tags) of ko_image targets to digests, into the base lock file."


class KoLockBases(Goal):
    subsystem_cls = KoLockBasesSubsystem
    environment_behavior = Goal.EnvironmentBehavior.LOCAL_ONLY


@goal_rule
async def lock_bases(targets: Targets, lock: BaseLock, workspace: Workspace, console: Console) -> KoLockBases:
    specs = await MultiGet(
        Get(KoImageSpec, KoImageSpecRequest(t.address)) for t in targets if t.has_field(KoImageBinaryField)
    )
    wanted = defaultdict(set)
    for spec in specs:
        if spec.base_kind == "registry" and not Reference.parse(spec.base_ref).digest:
            wanted[spec.base_ref].update(str(p) for p in spec.platforms)
    refs = sorted(wanted)
    results = await MultiGet(
        Get(
            FallibleProcessResult,
            RegistryProcess(
                ("resolve", "--ref", ref, *(a for p in sorted(wanted[ref]) for a in ("--platform", p))),
                f"Resolve base image {ref}",
                cacheable=False,
            ),
        )
        for ref in refs
    )
    entries = {ref: {"digest": e.digest, "platforms": dict(e.platforms)} for ref, e in lock.bases.items()}
    failed = 0
    for ref, result in zip(refs, results):
        if result.exit_code != 0:
            failed += 1
            console.print_stderr(f"{ref}: {result.stderr.decode(errors='replace').strip()}")
            continue
        resolved = json.loads(result.stdout)
        entries[ref] = {
            "digest": resolved["root"]["digest"],
            "platforms": {p: d["digest"] for p, d in sorted(resolved["platforms"].items())},
        }
        console.print_stdout(f"{ref} → {resolved['root']['digest']}")
    if failed:
        console.print_stderr(f"{failed} base image(s) could not be resolved; {lock.path} was not changed.")
        return KoLockBases(exit_code=1)
    digest = await Get(Digest, CreateDigest([FileContent(lock.path, render_base_lock(entries))]))
    workspace.write_digest(digest)
    console.print_stdout(f"Wrote {lock.path} ({len(entries)} base image(s)).")
    return KoLockBases(exit_code=0)


def rules():
    return collect_rules()
