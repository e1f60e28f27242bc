"""Small stdlib-only Go programs shipped with the plugin (the layer tool, the verifying cache program),
built once per toolchain as one cached Process, like Pants' Go backend builds its helpers.

They build together, first, with a plain Go cache of their own: one compile of the standard packages they
share, and no tool waits for a process slot behind the repo's builds (a layer tool built last would hold
every layer back until the final `go build` ends). The verifying cache program later imports those
standard-package compiles, checked, instead of compiling them again (see `go/go_process.py`).

A tool's digest is an input of every step that runs it, so its identity is part of their keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Tuple

from pants.engine.fs import CreateDigest, Digest, DigestSubset, FileContent, PathGlobs
from pants.engine.process import ProcessResult
from pants.engine.rules import Get, collect_rules, rule

from kocache_plugin.go.go_process import TOOLS_CACHE, GoProcess
from kocache_plugin.go.toolchain import GoToolchain, parse_go_version

_PLUGIN_ROOT = Path(__file__).resolve().parents[1]
_SRC = "__kocache_src"
TOOLS_DIR = "__kocache"  # where the executables land, relative to the sandbox root


@dataclass(frozen=True)
class _ToolSource:
    name: str  # the executable's name
    source_dir: str  # relative to the plugin package
    minimum_go: Tuple[int, int]


LAYER_TOOL = _ToolSource("layertool", "image/layer_tool", (1, 21))
CACHEPROG = _ToolSource("gocacheprog", "go/cacheprog", (1, 24))  # GOCACHEPROG's protocol is Go 1.24's
_TOOLS = (CACHEPROG, LAYER_TOOL)

# One synthesized module holds every tool's package (their own go.mod files are for working on them alone);
# its language version is the oldest toolchain any tool supports.
_GO_MOD = "module kocache.dev/tools\n\ngo 1.21\n"


@dataclass(frozen=True)
class PluginTools:
    """The tools this toolchain can build: `digest` holds `__kocache/<name>` for each of `names`."""

    digest: Digest
    names: Tuple[str, ...]


@dataclass(frozen=True)
class PluginTool:
    """`digest` holds the executable at `path`."""

    digest: Digest
    path: str


@dataclass(frozen=True)
class PluginToolRequest:
    name: str


def tool_path(name: str) -> str:
    return f"{TOOLS_DIR}/{name}"


@rule(desc="Build the kocache tools")
async def build_plugin_tools(toolchain: GoToolchain) -> PluginTools:
    version = parse_go_version(toolchain.version)
    tools = [t for t in _TOOLS if version >= t.minimum_go]
    files = [FileContent(f"{_SRC}/go.mod", _GO_MOD.encode())]
    for tool in tools:
        source_dir = _PLUGIN_ROOT / tool.source_dir
        files.extend(
            FileContent(f"{_SRC}/{tool.name}/{p.name}", p.read_bytes())
            for p in sorted(source_dir.iterdir())
            if p.suffix == ".go" and not p.name.endswith("_test.go")
        )
    source_digest = await Get(Digest, CreateDigest(files))
    result = await Get(
        ProcessResult,
        GoProcess.create(
            ["build", "-trimpath", "-buildvcs=false", "-o", f"../{TOOLS_DIR}/", *(f"./{t.name}" for t in tools)],
            f"Build the kocache tools ({', '.join(t.name for t in tools)})",
            env={"GOOS": toolchain.host_goos, "GOARCH": toolchain.host_goarch},
            input_digest=source_digest,
            working_dir=_SRC,
            output_files=tuple(tool_path(t.name) for t in tools),
            build_cache=TOOLS_CACHE,
        ),
    )
    return PluginTools(result.output_digest, tuple(t.name for t in tools))


@rule
async def plugin_tool(request: PluginToolRequest, tools: PluginTools) -> PluginTool:
    if request.name not in tools.names:
        raise ValueError(f"the kocache tool {request.name} is not built with this Go toolchain (built: {tools.names})")
    path = tool_path(request.name)
    digest = await Get(Digest, DigestSubset(tools.digest, PathGlobs([path])))
    return PluginTool(digest, path)


def rules():
    return collect_rules()
