"""A `ko_image` target read once into a plain value, with its binaries and layers resolved and checked."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional, Tuple

from pants.engine.addresses import Address, Addresses, UnparsedAddressInputs
from pants.base.build_root import BuildRoot
from pants.engine.fs import Digest, DigestSubset, PathGlobs
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import HydratedSources, HydrateSourcesRequest, Targets
from pants.util.frozendict import FrozenDict

from kocache_plugin.go.binary_spec import GoBinarySpec, GoBinarySpecRequest, parse_platforms
from kocache_plugin.oci.platform import Platform
from kocache_plugin.subsystems.kocache import KocacheSubsystem
from kocache_plugin.target_types import (
    KoImageArgsField,
    KoImageBaseField,
    KoImageBinaryField,
    KoImageEntrypointField,
    KoImageEnvField,
    KoImageExtraBinariesField,
    KoImageLabelsField,
    KoImageLayersField,
    KoImageOutputField,
    KoImageOutputPathField,
    KoImagePortsField,
    KoImageRepositoryField,
    KoImageTagsField,
    KoImageUserField,
    KoImageWorkdirField,
    KoLayerPathField,
    KoLayerSourcesField,
    KoLayerStripPrefixField,
    KoPlatformsField,
)


class KoImageError(Exception):
    """A ko_image whose fields are wrong (the message names the target)."""


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
class KoImageSpec:
    address: Address
    binaries: Tuple[GoBinarySpec, ...]  # the entrypoint binary first
    layers: Tuple[DataLayerSpec, ...]
    base_kind: str  # scratch | layout | target | registry
    base_ref: str  # layout: "dir[:tag]"; target: the address; registry: the reference as written
    base_target: Optional[Address]  # for base_kind "target"
    platforms: Tuple[Platform, ...]
    entrypoint: Tuple[str, ...]
    args: Optional[Tuple[str, ...]]
    env: FrozenDict
    labels: FrozenDict
    user: str
    workdir: str
    ports: Tuple[str, ...]
    tags: Tuple[str, ...]
    repository: Optional[str]
    output: str  # oci-layout | oci-archive | docker-archive
    output_path: str


@dataclass(frozen=True)
class KoImageSpecRequest:
    address: Address


def _addresses(values, field, owner: Address) -> Get:
    return Get(
        Addresses,
        UnparsedAddressInputs(values, owning_address=owner, description_of_origin=f"the `{field}` field of {owner}"),
    )


async def _base(value: str, owner: Address) -> Tuple[str, str, Optional[Address]]:
    value = value.strip()
    if value == "scratch":
        return "scratch", "", None
    if value.startswith("oci:"):
        return "layout", value[len("oci:"):], None
    if value.startswith(("//", ":")):
        addresses = await _addresses([value], "base", owner)
        base_targets = await Get(Targets, Addresses(addresses))
        if not base_targets[0].has_field(KoImageBinaryField):
            raise KoImageError(f"{owner}: base `{value}` is a `{base_targets[0].alias}` target, not a `ko_image`.")
        if base_targets[0].address == owner:
            raise KoImageError(f"{owner}: an image cannot be its own base.")
        return "target", str(base_targets[0].address), base_targets[0].address
    return "registry", value, None


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
                raise KoImageError(
                    f"{owner}: {src_dir}/{rel} is a symlink to {target!r}, which leaves the layer's directory "
                    f"{src_dir}; a ko_layer keeps only symlinks that stay inside it."
                )
            links.append((rel, target))
    return tuple(sorted(links))


@rule
async def resolve_ko_image_spec(request: KoImageSpecRequest, kocache: KocacheSubsystem, build_root: BuildRoot) -> KoImageSpec:
    targets = await Get(Targets, Addresses([request.address]))
    tgt = targets[0]
    address = tgt.address
    owner = str(address)
    binary_addrs, extra_addrs, layer_addrs = await MultiGet(
        _addresses([tgt[KoImageBinaryField].value], "binary", address),
        _addresses(tgt[KoImageExtraBinariesField].value or (), "binaries", address),
        _addresses(tgt[KoImageLayersField].value or (), "layers", address),
    )
    binaries = await MultiGet(Get(GoBinarySpec, GoBinarySpecRequest(a, owner)) for a in (*binary_addrs, *extra_addrs))
    names = {}
    for b in binaries:
        if b.name in names and names[b.name] != b.address:
            raise KoImageError(
                f"{owner}: binaries {names[b.name]} and {b.address} are both named `{b.name}` "
                "(both would be /ko-app/" + b.name + "); set `binary_name` on one of them."
            )
        names[b.name] = b.address

    layer_targets = await Get(Targets, Addresses(layer_addrs))
    layers = []
    for lt in layer_targets:
        if not lt.has_field(KoLayerPathField):
            raise KoImageError(f"{owner}: `{lt.address}` in `layers` is a `{lt.alias}` target, not a `ko_layer`.")
    hydrated = await MultiGet(Get(HydratedSources, HydrateSourcesRequest(lt[KoLayerSourcesField])) for lt in layer_targets)
    for lt, sources in zip(layer_targets, hydrated):
        src_dir = os.path.normpath(os.path.join(lt.address.spec_path, lt[KoLayerStripPrefixField].value or "."))
        outside = [f for f in sources.snapshot.files if not f.startswith(src_dir + "/")]
        if outside:
            raise KoImageError(
                f"{lt.address}: {outside[0]} is not under `strip_prefix` ({src_dir}); "
                "every file of a ko_layer must be inside that directory."
            )
        globs = lt[KoLayerSourcesField].globs
        missing = [g for g in globs if not any(c in g for c in "*?[!") and os.path.join(lt.address.spec_path, g) not in sources.snapshot.files]
        if missing or not sources.snapshot.files:
            raise KoImageError(
                f"{lt.address}: the ko_layer's `sources` name files that do not exist: {', '.join(missing)}."
                if missing else f"{lt.address}: the ko_layer has no files (its `sources` {list(globs)} matched nothing)."
            )
        dest = lt[KoLayerPathField].value
        if not dest.startswith("/"):
            raise KoImageError(f"{lt.address}: `path` must be absolute, got {dest!r}.")
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
        layers.append(
            DataLayerSpec(
                lt.address, digest, src_dir, dest, files, tuple((os.path.join(dest, rel), target) for rel, target in links)
            )
        )

    base_kind, base_ref, base_target = await _base(tgt[KoImageBaseField].value, address)

    platforms = (
        parse_platforms(tgt[KoPlatformsField].value, owner)
        or binaries[0].platforms
        or parse_platforms(kocache.default_platforms, "[kocache].default_platforms")
    )
    entrypoint = tuple(tgt[KoImageEntrypointField].value or (f"/ko-app/{binaries[0].name}",))
    args = tgt[KoImageArgsField].value
    tags = tuple(tgt[KoImageTagsField].value or ())
    if not tags:
        raise KoImageError(f"{owner}: `tags` is empty; an image needs at least one tag (default: latest).")
    return KoImageSpec(
        address=address,
        binaries=tuple(binaries),
        layers=tuple(layers),
        base_kind=base_kind,
        base_ref=base_ref,
        base_target=base_target,
        platforms=platforms,
        entrypoint=entrypoint,
        args=tuple(args) if args is not None else None,
        env=FrozenDict(tgt[KoImageEnvField].value or {}),
        labels=FrozenDict(tgt[KoImageLabelsField].value or {}),
        user=tgt[KoImageUserField].value or "",
        workdir=tgt[KoImageWorkdirField].value or "",
        ports=tuple(tgt[KoImagePortsField].value or ()),
        tags=tags,
        repository=tgt[KoImageRepositoryField].value or kocache.default_repository,
        output=tgt[KoImageOutputField].value,
        output_path=tgt[KoImageOutputPathField].value_or_default(file_ending=None),
    )


def rules():
    return collect_rules()
