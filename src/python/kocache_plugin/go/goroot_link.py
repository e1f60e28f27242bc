"""The Go installation reaches builds through a link in a named cache, so its absolute path is no part of any
key: machines with the same Go version at different paths share remote cache hits."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pants.engine.rules import collect_rules, rule
from pants.option.global_options import NamedCachesDirOption

from kocache_plugin.go.named_cache_links import link_in_named_caches
from kocache_plugin.go.toolchain import GoToolchain

GOROOTS_CACHE = "kocache_goroots"


@dataclass(frozen=True)
class GoRootLink:
    link_name: str  # e.g. "go1.26.8-linux-amd64": the toolchain's identity, spelled as a file name


@rule
async def link_goroot(toolchain: GoToolchain, named_caches: NamedCachesDirOption) -> GoRootLink:
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", toolchain.identity)
    link_in_named_caches(str(named_caches.val), f"{GOROOTS_CACHE}/{name}", toolchain.goroot)
    return GoRootLink(name)


def rules():
    return collect_rules()
