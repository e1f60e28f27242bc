"""Small stdlib-only Go programs shipped with the plugin (the layer tool, the verifying cache program),
built once per toolchain as cached Processes, like Pants' Go backend builds its helpers.

The tool's digest is an input of every step that runs it, so its identity is part of their keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from pants.engine.fs import CreateDigest, Digest, FileContent
from pants.engine.process import ProcessResult
from pants.engine.rules import Get, collect_rules, rule

from kocache_plugin.go.go_process import GO_CACHE, TOOLS_CACHE, GoProcess
from kocache_plugin.go.toolchain import GoToolchain

_PLUGIN_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class PluginToolRequest:
    source_dir: str  # relative to the plugin package, e.g. "image/layer_tool"
    name: str
    # With the verifying cache program, the tool shares the builds' Go cache (and its standard library);
    # without it (the cache program itself), it uses a cache of its own.
    cacheprog: Optional[Digest] = None


@dataclass(frozen=True)
class PluginTool:
    """`digest` holds the executable at `path`."""

    digest: Digest
    path: str


@rule(desc="Build a kocache tool")
async def build_plugin_tool(request: PluginToolRequest, toolchain: GoToolchain) -> PluginTool:
    source_dir = _PLUGIN_ROOT / request.source_dir
    build_dir = f"__kocache_src/{request.name}"
    sources = sorted(p for p in source_dir.iterdir() if p.suffix == ".go" or p.name == "go.mod")
    source_digest = await Get(
        Digest, CreateDigest([FileContent(f"{build_dir}/{p.name}", p.read_bytes()) for p in sources])
    )
    path = f"__kocache/{request.name}"
    result = await Get(
        ProcessResult,
        GoProcess.create(
            ["build", "-trimpath", "-buildvcs=false", "-o", f"../../{path}", "."],
            f"Build the kocache {request.name} tool",
            env={"GOOS": toolchain.host_goos, "GOARCH": toolchain.host_goarch},
            input_digest=source_digest,
            working_dir=build_dir,
            output_files=(path,),
            build_cache=GO_CACHE if request.cacheprog is not None else TOOLS_CACHE,
            cacheprog=request.cacheprog,
        ),
    )
    return PluginTool(result.output_digest, path)


def rules():
    return collect_rules()
