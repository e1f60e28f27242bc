"""The layer tool: a stdlib-only Go program shipped with the plugin (in `layer_tool/`), built once with
the project's Go toolchain. Layers are then byte-identical on every machine, whatever its zlib, and the
tool's own digest is part of every layer step's key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pants.engine.fs import CreateDigest, Digest, FileContent, RemovePrefix
from pants.engine.process import ProcessResult
from pants.engine.rules import Get, collect_rules, rule

from kocache_plugin.go.go_process import GoProcess
from kocache_plugin.go.toolchain import GoToolchain

_SOURCE_DIR = Path(__file__).parent / "layer_tool"
_BUILD_DIR = "__kocache_layertool_src"
TOOL_PATH = "__kocache/layertool"


@dataclass(frozen=True)
class LayerTool:
    """`digest` holds the executable at TOOL_PATH."""

    digest: Digest


@rule(desc="Build the kocache layer tool")
async def build_layer_tool(toolchain: GoToolchain) -> LayerTool:
    sources = sorted(p for p in _SOURCE_DIR.iterdir() if p.suffix == ".go" or p.name == "go.mod")
    source_digest = await Get(
        Digest, CreateDigest([FileContent(f"{_BUILD_DIR}/{p.name}", p.read_bytes()) for p in sources])
    )
    result = await Get(
        ProcessResult,
        GoProcess.create(
            ["build", "-trimpath", "-buildvcs=false", "-o", "../__kocache/layertool", "."],
            "Build the kocache layer tool",
            env={"GOOS": toolchain.host_goos, "GOARCH": toolchain.host_goarch},
            input_digest=source_digest,
            working_dir=_BUILD_DIR,
            output_files=(TOOL_PATH,),
        ),
    )
    return LayerTool(result.output_digest)


def rules():
    return collect_rules()
