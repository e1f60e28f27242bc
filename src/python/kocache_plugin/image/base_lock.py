"""The base lock: registry base images by tag → digests, a committed JSON file.

Resolving a tag is the only impure read of a base; the lock turns it into a reviewed, versioned fact, so
builds need no network for base metadata and a base changes exactly when the lock file does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Mapping, Optional

from pants.engine.fs import DigestContents, PathGlobs
from pants.engine.rules import Get, collect_rules, rule
from pants.util.frozendict import FrozenDict

from kocache_plugin.subsystems.kocache import KocacheSubsystem

LOCK_VERSION = 1


class BaseLockError(Exception):
    """A base lock that cannot be read."""


@dataclass(frozen=True)
class LockedBase:
    digest: str  # of the tag's document (an index or a manifest)
    platforms: FrozenDict  # platform → manifest digest (what was resolved; informative)


@dataclass(frozen=True)
class BaseLock:
    path: str
    bases: FrozenDict  # reference as written in BUILD files → LockedBase

    def get(self, ref: str) -> Optional[LockedBase]:
        return self.bases.get(ref)


def parse_base_lock(content: bytes, path: str) -> FrozenDict:
    try:
        doc = json.loads(content)
        if doc.get("version") != LOCK_VERSION:
            raise ValueError(f"unsupported version {doc.get('version')!r} (expected {LOCK_VERSION})")
        return FrozenDict(
            {
                ref: LockedBase(entry["digest"], FrozenDict(entry.get("platforms") or {}))
                for ref, entry in sorted(doc["bases"].items())
            }
        )
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise BaseLockError(f"{path} is not a valid base lock ({e}); regenerate it with `pants ko-lock-bases ::`.") from None


def render_base_lock(bases: Mapping[str, Mapping[str, object]]) -> bytes:
    doc = {"version": LOCK_VERSION, "bases": {ref: bases[ref] for ref in sorted(bases)}}
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


@rule
async def read_base_lock(kocache: KocacheSubsystem) -> BaseLock:
    contents = await Get(DigestContents, PathGlobs([kocache.base_lock]))
    if not contents:
        return BaseLock(kocache.base_lock, FrozenDict())
    return BaseLock(kocache.base_lock, parse_base_lock(contents[0].content, kocache.base_lock))


def rules():
    return collect_rules()
