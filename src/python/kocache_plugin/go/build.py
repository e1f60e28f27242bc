"""The `go build` Process. Its identity (argv, env, working dir, input digest) *is* the cache key:
a hit in Pants' local store or REAPI remote cache runs no Go process at all."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Tuple

from pants.core.util_rules.system_binaries import BinaryPathRequest, BinaryPaths
from pants.engine.addresses import Address
from pants.engine.fs import Digest, DigestSubset, PathGlobs, RemovePrefix
from pants.engine.process import FallibleProcessResult
from pants.engine.rules import Get, collect_rules, rule
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel

from kocache_plugin.go.analysis import BuildConfig, GoModuleAnalysis, GoModuleAnalysisRequest
from kocache_plugin.go.binary_spec import GoBinarySpec
from kocache_plugin.go.cacheprog_tool import VerifiedGoCache
from kocache_plugin.go.go_process import GoProcess
from kocache_plugin.go.std_prebuild import StdPrebuildRequest, StdPrebuilt
from kocache_plugin.go.modules import GoModule, GoModuleCache, GoModuleRequest
from kocache_plugin.go.toolchain import GoToolchain
from kocache_plugin.oci.platform import Platform
from kocache_plugin.subsystems.go_toolchain import KoGoSubsystem

OUT_DIR = "__kocache_out"


class GoBuildError(Exception):
    """A binary that cannot be built; the message names the target and platform and shows Go's output."""


@dataclass(frozen=True)
class GoBuildRequest:
    spec: GoBinarySpec
    platform: Platform


@dataclass(frozen=True)
class BuiltGoBinary:
    """One binary for one platform: `digest` holds the single file `name`."""

    address: Address
    platform: Platform
    name: str
    digest: Digest


def _check_platform(spec: GoBinarySpec, platform: Platform, toolchain: GoToolchain) -> None:
    pair = f"{platform.os}/{platform.architecture}"
    if pair not in toolchain.valid_platforms:
        raise GoBuildError(
            f"{spec.address}: platform {platform} is not supported by {toolchain.version} "
            f"(GOOS/GOARCH {pair} is not in `go tool dist list`). Supported: "
            f"{', '.join(sorted(p for p in toolchain.valid_platforms if p.startswith('linux/')))}, ..."
        )


def build_argv(spec: GoBinarySpec, platform: Platform, main_dir: str, module_dir: str) -> Tuple[str, ...]:
    rel_main = os.path.relpath(main_dir or ".", module_dir or ".")
    args = ["build", "-trimpath", "-buildvcs=false", "-o", f"{OUT_DIR}/{spec.name}"]
    if spec.tags:
        args.append(f"-tags={','.join(spec.tags)}")
    if spec.gcflags:
        args.append(f"-gcflags={' '.join(spec.gcflags)}")
    # An empty Go build ID: it hashes the sources (comments included), so without this a comment-only edit
    # of a main package would change the binary, and with it every layer and image above it.
    args.append(f"-ldflags={' '.join(('-buildid=', *spec.render_ldflags(platform)))}")
    args.extend(spec.flags)
    args.append("./" + rel_main if rel_main != "." else ".")
    return tuple(args)


async def _cgo_env(spec: GoBinarySpec, platform: Platform, toolchain: GoToolchain) -> dict:
    """cgo needs a C compiler: the host's, named by absolute path, for the host platform only."""
    if (platform.os, platform.architecture) != (toolchain.host_goos, toolchain.host_goarch):
        raise GoBuildError(
            f"{spec.address} ({platform}): cgo=True builds only for the host platform "
            f"({toolchain.host_goos}/{toolchain.host_goarch}); cross-compiling C needs a cross toolchain."
        )
    compilers = await Get(BinaryPaths, BinaryPathRequest(binary_name="gcc", search_path=("/usr/bin", "/usr/local/bin", "/bin")))
    if not compilers.first_path:
        raise GoBuildError(f"{spec.address} ({platform}): cgo=True needs gcc in /usr/bin or /usr/local/bin; none was found.")
    # A fixed PATH (not the host's) for the assembler and linker gcc runs.
    return {"CC": compilers.first_path.path, "PATH": "/usr/local/bin:/usr/bin:/bin"}


@dataclass(frozen=True)
class GoBuildPlan:
    """The `go build` Process to run for one binary and platform, before it runs (explain reads it too)."""

    process: GoProcess
    output_dir: str  # where the binary lands in the output digest
    prebuild: StdPrebuildRequest  # warms Go's cache with the module's standard packages first


@rule(desc="Plan a Go build", level=LogLevel.DEBUG)
async def plan_go_build(request: GoBuildRequest, toolchain: GoToolchain, subsystem: KoGoSubsystem) -> GoBuildPlan:
    spec, platform = request.spec, request.platform
    _check_platform(spec, platform, toolchain)
    if "-toolexec" in subsystem.goflags:
        raise GoBuildError(f"{spec.address}: [kocache-go].goflags may not contain -toolexec (as in ko).")
    module = await Get(GoModule, GoModuleRequest(spec.main_dir, str(spec.address)))
    module_cache = await Get(GoModuleCache, GoModule, module)
    if module_cache.error:
        raise GoBuildError(f"{spec.address}: {module_cache.error}")
    config = BuildConfig(FrozenDict(platform.go_env()), spec.tags, spec.cgo)
    cgo_env = await _cgo_env(spec, platform, toolchain) if spec.cgo else {}
    analysis = await Get(GoModuleAnalysis, GoModuleAnalysisRequest(module, module_cache, config))

    main = analysis.package_in_dir(spec.main_dir)
    where = f"{spec.address} ({platform})"
    if main is None:
        raise GoBuildError(
            f"{where}: no Go package in `{spec.main_dir}` (module {module.path('go.mod')}). "
            "Set `main` to the directory of a `package main`."
        )
    if main.error:
        raise GoBuildError(f"{where}: Go cannot load `{main.import_path}`:\n{main.error}")
    if main.name != "main":
        raise GoBuildError(
            f"{where}: `{main.import_path}` is `package {main.name}`, not `package main`: only a main package makes a binary."
        )

    extra = list(module.manifest_files())
    if module.has_vendor:
        extra.append(module.path("vendor/modules.txt"))
    inputs = await Get(Digest, DigestSubset(module.snapshot.digest, PathGlobs([*analysis.closure_files(main), *extra])))

    goflags = " ".join(filter(None, [subsystem.goflags, "-mod=vendor" if module.has_vendor else "-mod=readonly"]))
    verified = await Get(VerifiedGoCache)
    process = GoProcess.create(
        build_argv(spec, platform, spec.main_dir, module.dir),
        f"go build {spec.address} for {platform}",
        env={**spec.env, **config.env(), **cgo_env, "GOFLAGS": goflags},
        input_digest=inputs,
        working_dir=module.dir,
        module_cache=module_cache.digest,
        output_files=(module.path(f"{OUT_DIR}/{spec.name}"),),
        cacheprog=verified.cacheprog,
        level=LogLevel.INFO,
    )
    env = FrozenDict({k: v for k, v in process.env.items() if k.startswith(("GO", "CGO_")) or k in ("CC", "PATH")})
    prebuild = StdPrebuildRequest(analysis.std_roots(), env, config.tag_args(), verified.cacheprog)
    return GoBuildPlan(process, module.path(OUT_DIR), prebuild)


@rule(desc="Build a Go binary", level=LogLevel.DEBUG)
async def build_go_binary(request: GoBuildRequest) -> BuiltGoBinary:
    plan = await Get(GoBuildPlan, GoBuildRequest, request)
    await Get(StdPrebuilt, StdPrebuildRequest, plan.prebuild)
    result = await Get(FallibleProcessResult, GoProcess, plan.process)
    if result.exit_code != 0:
        raise GoBuildError(
            f"{request.spec.address} ({request.platform}): `go build` failed:\n{result.stderr.decode(errors='replace')}"
        )
    digest = await Get(Digest, RemovePrefix(result.output_digest, plan.output_dir))
    return BuiltGoBinary(request.spec.address, request.platform, request.spec.name, digest)


def rules():
    return collect_rules()
