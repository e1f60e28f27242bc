"""Where Go's build cache lives: Pants' named cache `kocache_go_build`, or the user's KOCACHE.

The cache is an accelerator only (outputs never depend on it), so its location must not enter any
Process key. ko users set KOCACHE; we honour it by making the named cache a symlink to
`$KOCACHE/go-build` (or to `[kocache].go_build_cache`), rather than passing a path to the build.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Optional

from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.rules import Get, collect_rules, rule
from pants.option.global_options import NamedCachesDirOption

from kocache_plugin.go.named_cache_links import link_in_named_caches
from kocache_plugin.subsystems.kocache import KocacheSubsystem

BUILD_CACHE_NAME = "kocache_go_build"

logger = logging.getLogger(__name__)


class GoBuildCacheError(Exception):
    """The requested Go build cache location cannot be used."""


@dataclass(frozen=True)
class GoBuildCacheLocation:
    path: Optional[str]  # None: Pants' named cache itself


@rule
async def place_go_build_cache(kocache: KocacheSubsystem, named_caches: NamedCachesDirOption) -> GoBuildCacheLocation:
    env = await Get(EnvironmentVars, EnvironmentVarsRequest(["KOCACHE"]))
    target = kocache.go_build_cache or (os.path.join(env["KOCACHE"], "go-build") if env.get("KOCACHE") else None)
    if not target:
        return GoBuildCacheLocation(None)
    target = os.path.abspath(os.path.expanduser(target))
    try:
        os.makedirs(target, exist_ok=True)
        link_in_named_caches(str(named_caches.val), BUILD_CACHE_NAME, target)
    except OSError as e:
        raise GoBuildCacheError(f"Cannot place Go's build cache at {target} (KOCACHE / [kocache].go_build_cache): {e}")
    logger.debug(f"Go build cache: {target}")
    return GoBuildCacheLocation(target)


def rules():
    return collect_rules()
