"""One place that turns a `go` invocation into a hermetic Pants `Process`.

Go insists on absolute GOCACHE/GOPATH/GOMODCACHE paths, but a sandbox's absolute path must never enter
a Process (it would make every cache key unique). So a tiny bash wrapper computes them inside the
sandbox at run time. The Process's env is explicit and minimal: nothing from the host leaks in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional, Tuple

from pants.core.util_rules.system_binaries import BashBinary
from pants.engine.fs import EMPTY_DIGEST, CreateDigest, Digest, FileContent, MergeDigests
from pants.engine.process import Process, ProcessCacheScope
from pants.engine.rules import Get, collect_rules, rule
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel

from kocache_plugin.go.build_cache import BUILD_CACHE_NAME, GoBuildCacheLocation
from kocache_plugin.go.goroot_link import GOROOTS_CACHE, GoRootLink
from kocache_plugin.go.toolchain import GoToolchain
from kocache_plugin.subsystems.kocache import KocacheSubsystem

WRAPPER_PATH = "__kocache/go.sh"
MODCACHE_DIR = "__gomodcache"
CACHE_DIR = "__kocache/cache"  # where the chosen named cache appears in the sandbox
CACHEPROG_PATH = "__kocache/gocacheprog"
GOROOTS_DIR = "__kocache/goroots"  # the goroots named cache: links to this machine's Go installations
TOOLS_CACHE_DIR = "__kocache/toolcache"  # the tools' plain Go cache, which the cache program imports from
GO_CACHE = BUILD_CACHE_NAME  # builds of the repo's binaries (KOCACHE can move it)
TOOLS_CACHE = "kocache_go_tools"  # builds of the plugin's own tools

# The build cache is an accelerator only: Go keys it by content (with -trimpath, not by directory), it is
# not part of any Process's identity, and remote workers simply start with it empty. When the verifying
# cache program is present, the named cache is its store: every entry is re-hashed before Go may use it,
# so a corrupted entry is rebuilt, never served. Go still wants a GOCACHE (only for fuzzing data), and makes
# its 256 subdirectories whenever it is new: it is a directory in the named cache, made once. The
# plugin's tools were built first with a plain Go cache (the tools cache, see go/plugin_tools.py); the cache
# program imports its standard-package compiles, each checked against its hash, instead of compiling them again.
#
# GOROOT and the module cache arrive as links (in a named cache; an immutable input) under the sandbox, whose
# path changes with every run. Go keys its module index (the parsed package directories of the standard
# library and of each module) by directory path, so it gets their real, stable paths: with the links' paths,
# every build re-indexed the standard library and added the index to the cache again.
_WRAPPER = """\
set -eu
sandbox="$(/bin/pwd)"
export GOROOT="$(cd -P "$sandbox/__kocache/goroots/$KOCACHE_GO_ID" && pwd -P)"
export GOPATH="$sandbox/__kocache/gopath" HOME="$sandbox/__kocache/home" TMPDIR="$sandbox/__kocache/tmp"
export GOMODCACHE="$sandbox/__gomodcache" GOCACHE="$sandbox/__kocache/cache"
[ -e "$GOMODCACHE" ] && GOMODCACHE="$(cd -P "$GOMODCACHE" && pwd -P)" || /bin/mkdir -p "$GOMODCACHE"
if [ -x "$sandbox/__kocache/gocacheprog" ]; then
  export GOCACHEPROG="$sandbox/__kocache/gocacheprog -import $sandbox/__kocache/toolcache $sandbox/__kocache/cache" GOCACHE="$sandbox/__kocache/cache/go-local"
fi
/bin/mkdir -p "$GOPATH" "$HOME" "$TMPDIR" "$GOCACHE"
cd "./$KOCACHE_WORKDIR"
exec "$GOROOT/bin/go" "$@"
"""


@dataclass(frozen=True)
class GoProcess:
    """A `go` command run in a sandbox. `working_dir` is relative to the sandbox root; outputs are
    relative to the sandbox root too."""

    args: Tuple[str, ...]
    description: str
    input_digest: Digest = EMPTY_DIGEST
    env: FrozenDict = field(default_factory=FrozenDict)
    working_dir: str = ""
    module_cache: Optional[Digest] = None
    output_files: Tuple[str, ...] = ()
    output_directories: Tuple[str, ...] = ()
    build_cache: Optional[str] = GO_CACHE  # a named cache, or None for none
    cacheprog: Optional[Digest] = None  # the verifying cache program (see go/cacheprog_tool.py)
    level: LogLevel = LogLevel.DEBUG

    @classmethod
    def create(cls, args, description: str, *, env: Mapping[str, str] = {}, **kwargs) -> "GoProcess":
        return cls(tuple(args), description, env=FrozenDict(env), **kwargs)


@dataclass(frozen=True)
class GoWrapperScript:
    digest: Digest


@rule
async def go_wrapper_script() -> GoWrapperScript:
    digest = await Get(Digest, CreateDigest([FileContent(WRAPPER_PATH, _WRAPPER.encode())]))
    return GoWrapperScript(digest)


@rule
async def go_process(
    request: GoProcess,
    toolchain: GoToolchain,
    bash: BashBinary,
    wrapper: GoWrapperScript,
    build_cache: GoBuildCacheLocation,  # placed (KOCACHE) before any build uses it
    goroot: GoRootLink,
    kocache: KocacheSubsystem,
) -> Process:
    verified = request.cacheprog is not None and request.build_cache is not None
    extra = [request.cacheprog] if verified else []
    input_digest = await Get(Digest, MergeDigests([wrapper.digest, request.input_digest, *extra]))
    env = {
        # Defaults that keep `go` from reaching outside the sandbox; callers may override some.
        "GOTOOLCHAIN": "local",
        "GOENV": "off",
        "GOWORK": "off",
        "GOPROXY": "off",
        "GOSUMDB": "off",
        "GOFLAGS": "",
        "CGO_ENABLED": "0",
        **request.env,
        # Where Go lives is machine-specific (a link in a named cache points there); its identity
        # (version, host platform) is the key.
        "KOCACHE_GO": toolchain.identity,
        "KOCACHE_GO_ID": goroot.link_name,
        "KOCACHE_WORKDIR": request.working_dir or ".",
    }
    return Process(
        argv=(bash.path, WRAPPER_PATH, *request.args),
        description=request.description,
        input_digest=input_digest,
        immutable_input_digests={MODCACHE_DIR: request.module_cache} if request.module_cache else None,
        env=env,
        output_files=request.output_files,
        output_directories=request.output_directories,
        append_only_caches={
            GOROOTS_CACHE: GOROOTS_DIR,
            **({request.build_cache: CACHE_DIR} if request.build_cache else {}),
            **({TOOLS_CACHE: TOOLS_CACHE_DIR} if verified else {}),
        },
        level=request.level,
        cache_scope=ProcessCacheScope.SUCCESSFUL,
        remote_cache_speculation_delay_millis=kocache.remote_cache_speculation_delay_millis,
    )


def rules():
    return collect_rules()
