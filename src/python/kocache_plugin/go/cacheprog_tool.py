"""The verifying Go cache program (`cacheprog/`), for toolchains that support GOCACHEPROG (Go >= 1.24).

Go trusts its build cache's contents; this program re-hashes every cached output before Go may use it, so
a bit-flipped or truncated entry is rebuilt instead of linked into a binary. Older toolchains use Go's own
cache (and lose that check).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from pants.engine.fs import Digest
from pants.engine.rules import Get, collect_rules, rule

from kocache_plugin.go.go_process import CACHEPROG_PATH
from kocache_plugin.go.plugin_tools import CACHEPROG, PluginTool, PluginTools, PluginToolRequest


@dataclass(frozen=True)
class VerifiedGoCache:
    cacheprog: Optional[Digest]  # holds CACHEPROG_PATH; None when the toolchain is too old


@rule
async def verified_go_cache(tools: PluginTools) -> VerifiedGoCache:
    if CACHEPROG.name not in tools.names:  # the toolchain is older than CACHEPROG.minimum_go
        return VerifiedGoCache(None)
    tool = await Get(PluginTool, PluginToolRequest(CACHEPROG.name))
    assert tool.path == CACHEPROG_PATH
    return VerifiedGoCache(tool.digest)


def rules():
    return collect_rules()
