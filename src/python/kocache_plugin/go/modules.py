"""Go modules: find the module that owns a directory, and download its third-party modules once.

The download is the only Go step that may touch the network. Its identity is go.mod + go.sum (+ the
proxy settings), so it runs once per change of dependencies; every build then runs with GOPROXY=off
against the downloaded module cache, passed in as an immutable input digest.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.fs import Digest, DigestSubset, PathGlobs, Paths, RemovePrefix, Snapshot
from pants.engine.process import FallibleProcessResult, Process
from pants.engine.rules import Get, collect_rules, rule

from kocache_plugin.go.go_process import MODCACHE_DIR, GoProcess
from kocache_plugin.subsystems.go_toolchain import KoGoSubsystem


class GoModuleError(Exception):
    """A directory with no go.mod above it, or modules that cannot be downloaded."""


@dataclass(frozen=True)
class GoModuleRequest:
    directory: str  # a directory relative to the build root
    owner: str  # who asks (a target address), for error messages


@dataclass(frozen=True)
class GoModule:
    """A Go module of the repo: `dir` holds go.mod (relative to the build root, "" for the root)."""

    dir: str
    snapshot: Snapshot  # every file under `dir` that Pants sees (it is the analysis step's input)
    has_vendor: bool

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name) if self.dir else name


@dataclass(frozen=True)
class GoModuleCache:
    """Third-party modules of one module, downloaded; None-equivalent is an empty digest."""

    digest: Optional[Digest]


def _ancestors(directory: str):
    parts = [p for p in directory.split("/") if p]
    for i in range(len(parts), -1, -1):
        yield "/".join(parts[:i])


@rule
async def find_go_module(request: GoModuleRequest) -> GoModule:
    candidates = list(_ancestors(request.directory))
    found = await Get(Paths, PathGlobs([os.path.join(d, "go.mod") if d else "go.mod" for d in candidates]))
    owners = {os.path.dirname(f) for f in found.files}
    module_dir = next((d for d in candidates if d in owners), None)
    if module_dir is None:
        raise GoModuleError(
            f"{request.owner}: no go.mod in `{request.directory or '.'}` or any directory above it. "
            "A ko_binary must live in a Go module (run `go mod init` at the module's root)."
        )
    prefix = f"{module_dir}/" if module_dir else ""
    snapshot = await Get(Snapshot, PathGlobs([f"{prefix}**"]))
    return GoModule(module_dir, snapshot, has_vendor=f"{prefix}vendor/modules.txt" in snapshot.files)


@rule(desc="Download third-party Go modules")
async def download_go_modules(module: GoModule, subsystem: KoGoSubsystem) -> GoModuleCache:
    if module.has_vendor:
        return GoModuleCache(None)
    manifest = await Get(Digest, DigestSubset(module.snapshot.digest, PathGlobs([module.path("go.mod"), module.path("go.sum")])))
    passed = await Get(EnvironmentVars, EnvironmentVarsRequest(subsystem.download_env))
    env = {"GOPROXY": subsystem.proxy, "GOSUMDB": "sum.golang.org", "GOFLAGS": "-modcacherw", **passed}
    result = await Get(
        FallibleProcessResult,
        GoProcess.create(
            ["mod", "download"],
            f"Download Go modules of {module.dir or '.'}/go.mod",
            env=env,
            input_digest=manifest,
            working_dir=module.dir,
            output_directories=(MODCACHE_DIR,),
            use_build_cache=False,
        ),
    )
    if result.exit_code != 0:
        raise GoModuleError(
            f"Downloading the modules of {module.path('go.mod')} failed (GOPROXY={env['GOPROXY']}):\n"
            f"{result.stderr.decode(errors='replace')}"
        )
    # Zips are only needed to download again; the extracted trees and .mod/.ziphash files are enough to build.
    pruned = await Get(
        Digest,
        DigestSubset(
            result.output_digest,
            PathGlobs([f"{MODCACHE_DIR}/**", f"!{MODCACHE_DIR}/cache/download/**/*.zip", f"!{MODCACHE_DIR}/cache/download/sumdb/**"]),
        ),
    )
    return GoModuleCache(await Get(Digest, RemovePrefix(pruned, MODCACHE_DIR)))


def rules():
    return collect_rules()
