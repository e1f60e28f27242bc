"""A `ko_layer` target read once into a plain value: its files, where they go, and its symlinks.

Resolved per layer target (not per image), so images that share a layer share this work, and editing a
layer's files invalidates only that layer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Tuple

from pants.base.build_root import BuildRoot
from pants.engine.addresses import Address
from pants.engine.fs import Digest, DigestSubset, PathGlobs
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.target import HydratedSources, HydrateSourcesRequest, WrappedTarget, WrappedTargetRequest

from kocache_plugin.target_types import KoLayerPathField, KoLayerSourcesField, KoLayerStripPrefixField


class DataLayerError(Exception):
    """A ko_layer that cannot be made: files outside its directory, missing files, escaping symlinks."""


@dataclass(frozen=True)
class DataLayerSpec:
    """A ko_layer: files under `src_dir` (repo-relative) go to `dest` in the image."""

    address: Address
    sources: Digest
    src_dir: str
    dest: str
    files: Tuple[str, ...]  # image paths of the layer's files (absolute)
    symlinks: Tuple[Tuple[str, str], ...] = ()  # (image path, target): in-tree links, kept as links



@dataclass(frozen=True)
class DataLayerSpecRequest:
    address: Address
    owner: str  # the image that names the layer, for messages


def _symlinks(build_root: str, src_dir: str, owner: Address) -> Tuple[Tuple[str, str], ...]:
    """Symlinks under a ko_layer's directory, as (path relative to it, target); escaping ones are errors.

    Pants 2.17 snapshots follow symlinks (and silently drop broken ones), so this reads the links themselves.
    """
    root = os.path.join(build_root, src_dir)
    links = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            if not os.path.islink(full):
                continue
            rel = os.path.relpath(full, root)
            target = os.readlink(full)
            resolved = os.path.normpath(os.path.join(os.path.dirname(rel), target))
            if os.path.isabs(target) or resolved == ".." or resolved.startswith("../"):
                raise DataLayerError(
                    f"{owner}: {src_dir}/{rel} is a symlink to {target!r}, which leaves the layer's directory "
                    f"{src_dir}; a ko_layer keeps only symlinks that stay inside it."
                )
            links.append((rel, target))
    return tuple(sorted(links))


@rule
async def resolve_data_layer_spec(request: DataLayerSpecRequest, build_root: BuildRoot) -> DataLayerSpec:
    wrapped = await Get(WrappedTarget, WrappedTargetRequest(request.address, description_of_origin=request.owner))
    lt = wrapped.target
    if not lt.has_field(KoLayerPathField):
        raise DataLayerError(f"{request.owner}: `{lt.address}` in `layers` is a `{lt.alias}` target, not a `ko_layer`.")
    sources = await Get(HydratedSources, HydrateSourcesRequest(lt[KoLayerSourcesField]))
    src_dir = os.path.normpath(os.path.join(lt.address.spec_path, lt[KoLayerStripPrefixField].value or "."))
    outside = [f for f in sources.snapshot.files if not f.startswith(src_dir + "/")]
    if outside:
        raise DataLayerError(
            f"{lt.address}: {outside[0]} is not under `strip_prefix` ({src_dir}); "
            "every file of a ko_layer must be inside that directory."
        )
    globs = lt[KoLayerSourcesField].globs
    missing = [g for g in globs if not any(c in g for c in "*?[!") and os.path.join(lt.address.spec_path, g) not in sources.snapshot.files]
    if missing or not sources.snapshot.files:
        raise DataLayerError(
            f"{lt.address}: the ko_layer's `sources` name files that do not exist: {', '.join(missing)}."
            if missing else f"{lt.address}: the ko_layer has no files (its `sources` {list(globs)} matched nothing)."
        )
    dest = lt[KoLayerPathField].value
    if not dest.startswith("/"):
        raise DataLayerError(f"{lt.address}: `path` must be absolute, got {dest!r}.")
    links = _symlinks(build_root.path, src_dir, lt.address)
    digest = sources.snapshot.digest
    if links:
        # Pants follows symlinks when it snapshots files; keep them as links in the layer instead.
        excluded = [g for rel, _ in links for g in (f"!{src_dir}/{rel}", f"!{src_dir}/{rel}/**")]
        digest = await Get(Digest, DigestSubset(digest, PathGlobs(["**", *excluded])))
    linked = {f"{src_dir}/{rel}" for rel, _ in links}
    files = tuple(
        os.path.join(dest, os.path.relpath(f, src_dir))
        for f in sources.snapshot.files
        if f not in linked and not any(f.startswith(p + "/") for p in linked)
    )
    return DataLayerSpec(
        lt.address, digest, src_dir, dest, files, tuple((os.path.join(dest, rel), target) for rel, target in links)
    )


def rules():
    return collect_rules()
