"""Compile the standard library packages a module needs once, before its binaries build in parallel.

Without this, the first builds of a cold run each compile the same standard packages at the same time
(Go's cache does not share work in flight). The step only warms Go's build cache, an accelerator: it has no
outputs, a failure is ignored, and no build depends on it for correctness.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from pants.engine.fs import Digest
from pants.engine.process import FallibleProcessResult
from pants.engine.rules import Get, collect_rules, rule
from pants.util.frozendict import FrozenDict

from kocache_plugin.go.go_process import GoProcess


@dataclass(frozen=True)
class StdPrebuildRequest:
    packages: Tuple[str, ...]
    env: FrozenDict  # GOOS, GOARCH, ..., CGO_ENABLED, GOFLAGS: as the builds will have them
    tag_args: Tuple[str, ...]
    cacheprog: Optional[Digest]


@dataclass(frozen=True)
class StdPrebuilt:
    ok: bool


@rule(desc="Compile the Go standard library packages")
async def prebuild_std(request: StdPrebuildRequest) -> StdPrebuilt:
    if not request.packages:
        return StdPrebuilt(True)
    env = request.env
    result = await Get(
        FallibleProcessResult,
        GoProcess.create(
            ["build", "-trimpath", *request.tag_args, *request.packages],
            f"Compile {len(request.packages)} standard packages for {env.get('GOOS')}/{env.get('GOARCH')}",
            env=env,
            cacheprog=request.cacheprog,
        ),
    )
    return StdPrebuilt(result.exit_code == 0)


def rules():
    return collect_rules()
