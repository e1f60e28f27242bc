"""Go modules: find the module that owns a directory, and download its third-party modules once.

The download is the only Go step that may touch the network. Its identity is go.mod + go.sum (+ the
proxy settings), so it runs once per change of dependencies; every build then runs with GOPROXY=off
against the downloaded module cache, passed in as an immutable input digest.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Optional, Tuple

from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.fs import Digest, DigestContents, DigestSubset, PathGlobs, Paths, RemovePrefix, Snapshot
from pants.engine.process import FallibleProcessResult
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
    snapshot: Snapshot  # every file under `dir` and the local replacements (the analysis step's input)
    has_vendor: bool
    local_replacements: Tuple[str, ...]  # repo-relative dirs of `replace ... => ./local/dir`

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name) if self.dir else name

    def manifest_files(self) -> Tuple[str, ...]:
        """The files that define the module graph: go.mod, go.sum, and the local replacements' go.mod."""
        return (self.path("go.mod"), self.path("go.sum"), *(f"{d}/go.mod" for d in self.local_replacements))


@dataclass(frozen=True)
class GoModuleCache:
    """Third-party modules of one module, downloaded (None when vendored). A failed download is kept as
    `error`, so the build that needs it can name its target."""

    digest: Optional[Digest]
    error: str = ""


_REPLACE_LINE = re.compile(r"^\s*(?:replace\s+)?\S+(?:\s+\S+)?\s+=>\s+(\S+)\s*(?:\S+)?\s*$")


def local_replacement_paths(go_mod: str) -> Tuple[str, ...]:
    """Targets of `replace` directives that are local directories (they start with ./ or ../ or /)."""
    paths = []
    in_block = False
    for line in go_mod.splitlines():
        line = line.split("//", 1)[0].strip()
        if in_block and line == ")":
            in_block = False
            continue
        if line.startswith("replace") and line.endswith("("):
            in_block = True
            continue
        if in_block or line.startswith("replace "):
            m = _REPLACE_LINE.match(line)
            if m:
                target = m.group(1).strip('"')
                if target.startswith(("./", "../", "/")) or target in (".", ".."):
                    paths.append(target)
    return tuple(paths)


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
    go_mod = await Get(DigestContents, PathGlobs([f"{prefix}go.mod"]))
    replacements = []
    for path in local_replacement_paths(go_mod[0].content.decode(errors="replace")):
        resolved = os.path.normpath(os.path.join(module_dir, path))
        if path.startswith("/") or resolved.startswith(".."):
            raise GoModuleError(
                f"{request.owner}: {prefix}go.mod replaces a module with `{path}`, outside the repository; "
                "Pants can only see files inside the build root."
            )
        replacements.append(resolved)
    snapshot = await Get(Snapshot, PathGlobs([f"{prefix}**", *(f"{d}/**" for d in replacements)]))
    return GoModule(
        module_dir, snapshot, has_vendor=f"{prefix}vendor/modules.txt" in snapshot.files,
        local_replacements=tuple(replacements),
    )


@rule(desc="Download third-party Go modules")
async def download_go_modules(module: GoModule, subsystem: KoGoSubsystem) -> GoModuleCache:
    if module.has_vendor:
        return GoModuleCache(None)
    manifest = await Get(Digest, DigestSubset(module.snapshot.digest, PathGlobs(module.manifest_files())))
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
            build_cache=None,
        ),
    )
    if result.exit_code != 0:
        return GoModuleCache(
            None,
            error=f"downloading the modules of {module.path('go.mod')} failed (GOPROXY={env['GOPROXY']}):\n"
            f"{result.stderr.decode(errors='replace')}",
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
