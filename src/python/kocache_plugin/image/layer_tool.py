"""The layer tool: a stdlib-only Go program shipped with the plugin (in `layer_tool/`). Layers are then
byte-identical on every machine, whatever its zlib, and the tool's digest is in every layer step's key."""

from __future__ import annotations

from dataclasses import dataclass

from pants.engine.fs import Digest
from pants.engine.rules import Get, collect_rules, rule

from kocache_plugin.go.plugin_tools import LAYER_TOOL, PluginTool, PluginToolRequest


@dataclass(frozen=True)
class LayerTool:
    digest: Digest
    path: str


@rule
async def layer_tool() -> LayerTool:
    tool = await Get(PluginTool, PluginToolRequest(LAYER_TOOL.name))
    return LayerTool(tool.digest, tool.path)


def rules():
    return collect_rules()
