"""Symlinks inside Pants' named caches: how machine-specific locations reach a sandbox without entering a key.

A Process names a named cache (the name is in its key) but not where the cache lives; a symlink placed in the
named cache points at the real location (the user's KOCACHE, this machine's GOROOT).
"""

from __future__ import annotations

import os


def link_in_named_caches(named_caches_dir: str, link_path: str, target: str) -> None:
    """Make `<named caches>/<link_path>` a symlink to `target`; idempotent and safe when runs race."""
    link = os.path.join(named_caches_dir, link_path)
    if os.path.islink(link) and os.path.realpath(link) == os.path.realpath(target):
        return
    os.makedirs(os.path.dirname(link), exist_ok=True)
    if os.path.isdir(link) and not os.path.islink(link):
        # A real directory there (say, an earlier cache in Pants' own place): keep it aside, never delete it.
        os.replace(link, f"{link}.before-kocache")
    tmp = f"{link}.{os.getpid()}.tmp"
    os.symlink(target, tmp)
    os.replace(tmp, link)
