"""Which files a main package really needs: `go list -deps` over a module, per build configuration.

The listing runs as one cached Process per (module, platform, tags, cgo): build constraints pick files
per platform and tag set. From it, each binary's `go build` gets exactly the files of the packages in
its import closure, so an edit rebuilds only the binaries that import the edited package.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Iterator, Tuple

from pants.engine.fs import Digest, DigestSubset, PathGlobs
from pants.engine.process import FallibleProcessResult
from pants.engine.rules import Get, collect_rules, rule
from pants.util.frozendict import FrozenDict

from kocache_plugin.go.cacheprog_tool import VerifiedGoCache
from kocache_plugin.go.go_process import MODCACHE_DIR, GoProcess
from kocache_plugin.go.modules import GoModule, GoModuleCache

_FILE_LISTS = (
    "GoFiles", "CgoFiles", "CFiles", "CXXFiles", "MFiles", "HFiles", "FFiles", "SFiles",
    "SwigFiles", "SwigCXXFiles", "SysoFiles", "EmbedFiles",
)
_FIELDS = ("ImportPath", "Name", "Dir", "Standard", "Module", "Error", "DepsErrors", "Deps", *_FILE_LISTS)


class GoAnalysisError(Exception):
    """`go list` could not analyse a module (a broken go.mod, say)."""


@dataclass(frozen=True)
class BuildConfig:
    """What selects files in Go: platform env, tags, cgo. Hashable, so it keys the analysis."""

    platform_env: FrozenDict  # GOOS, GOARCH and GOARM/GOAMD64...
    tags: Tuple[str, ...]
    cgo: bool

    def env(self) -> dict:
        return {**self.platform_env, "CGO_ENABLED": "1" if self.cgo else "0"}

    def tag_args(self) -> Tuple[str, ...]:
        return (f"-tags={','.join(self.tags)}",) if self.tags else ()


@dataclass(frozen=True)
class GoPackage:
    import_path: str
    name: str
    dir: str  # relative to the build root ("" when outside the repo: std or module cache)
    files: Tuple[str, ...]  # relative to the build root
    deps: Tuple[str, ...]  # import paths of the whole closure
    error: str  # the package's own error or its dependencies', "" if none
    in_repo: bool
    standard: bool = False


@dataclass(frozen=True)
class GoModuleAnalysisRequest:
    module: GoModule
    module_cache: GoModuleCache
    config: BuildConfig


@dataclass(frozen=True)
class GoModuleAnalysis:
    module: GoModule
    packages: FrozenDict  # import path -> GoPackage

    def package_in_dir(self, directory: str):
        for pkg in self.packages.values():
            if pkg.in_repo and pkg.dir == directory:
                return pkg
        return None

    def std_roots(self) -> Tuple[str, ...]:
        """The importable standard packages the module's packages depend on (building them builds the rest)."""
        roots = set()
        for pkg in self.packages.values():
            if pkg.in_repo:
                for dep in pkg.deps:
                    info = self.packages.get(dep)
                    if info is not None and info.standard and "internal" not in dep.split("/") and not dep.startswith(("vendor/", "cmd/")):
                        roots.add(dep)
        return tuple(sorted(roots))

    def closure_files(self, main: GoPackage) -> Tuple[str, ...]:
        files = set(main.files)
        for dep in main.deps:
            pkg = self.packages.get(dep)
            if pkg is not None and pkg.in_repo:
                files.update(pkg.files)
        return tuple(sorted(files))


def _json_stream(text: str) -> Iterator[dict]:
    decoder = json.JSONDecoder()
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return
        obj, pos = decoder.raw_decode(text, pos)
        yield obj


def _error_text(raw: dict) -> str:
    errors = []
    if raw.get("Error"):
        errors.append(raw["Error"].get("Err", ""))
    for dep_err in raw.get("DepsErrors") or ():
        errors.append(dep_err.get("Err", ""))
    return "\n".join(e for e in errors if e)


def parse_go_list(stdout: str, module_dir: str) -> FrozenDict:
    """Turn `go list -json` output (absolute sandbox paths) into packages with repo-relative paths.

    A package is "in the repo" when its directory lies in the sandbox outside the module cache: the main
    module, its vendor tree and modules replaced by local directories. Only those contribute files.
    """
    listed = list(_json_stream(stdout))
    main_root = next((raw["Module"]["Dir"] for raw in listed if (raw.get("Module") or {}).get("Main")), None)
    sandbox = None
    if main_root:
        sandbox = main_root[: -len(module_dir) - 1] if module_dir else main_root
    modcache = os.path.join(sandbox, MODCACHE_DIR) if sandbox else None
    packages = {}
    for raw in listed:
        pkg_dir = raw.get("Dir", "")
        in_repo = bool(
            sandbox
            and not raw.get("Standard")
            and pkg_dir.startswith(sandbox + os.sep)
            and not pkg_dir.startswith(modcache + os.sep)
        )
        rel_dir = os.path.relpath(pkg_dir, sandbox) if in_repo else ""
        files = tuple(os.path.join(rel_dir, f) for key in _FILE_LISTS for f in raw.get(key) or ()) if in_repo else ()
        packages[raw["ImportPath"]] = GoPackage(
            import_path=raw["ImportPath"],
            name=raw.get("Name", ""),
            dir=rel_dir,
            files=files,
            deps=tuple(raw.get("Deps") or ()),
            error=_error_text(raw),
            in_repo=in_repo,
            standard=bool(raw.get("Standard")),
        )
    return FrozenDict(packages)


@rule(desc="Analyse Go packages")
async def analyse_go_module(request: GoModuleAnalysisRequest) -> GoModuleAnalysis:
    module = request.module
    sources = await Get(
        Digest,
        DigestSubset(module.snapshot.digest, PathGlobs(["**", "!**/*_test.go"])),
    )
    config = request.config
    verified = await Get(VerifiedGoCache)
    result = await Get(
        FallibleProcessResult,
        GoProcess.create(
            ["list", "-e", "-deps", f"-json={','.join(_FIELDS)}", *config.tag_args(), "./..."],
            f"List Go packages of {module.dir or '.'} for {config.platform_env.get('GOOS')}/{config.platform_env.get('GOARCH')}",
            env={**config.env(), "GOFLAGS": "-mod=vendor" if module.has_vendor else "-mod=readonly"},
            input_digest=sources,
            working_dir=module.dir,
            module_cache=request.module_cache.digest,
            cacheprog=verified.cacheprog,
        ),
    )
    if result.exit_code != 0:
        raise GoAnalysisError(
            f"`go list` failed in {module.dir or '.'} ({module.path('go.mod')}):\n{result.stderr.decode(errors='replace')}"
        )
    return GoModuleAnalysis(module, parse_go_list(result.stdout.decode(), module.dir))


def rules():
    return collect_rules()
