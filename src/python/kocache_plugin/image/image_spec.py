"""A `ko_image` target read once into a plain value, with its binaries and layers resolved and checked."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional, Tuple

from pants.engine.addresses import Address, Addresses, UnparsedAddressInputs
from pants.engine.fs import Digest
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


@rule
async def resolve_ko_image_spec(request: KoImageSpecRequest, kocache: KocacheSubsystem) -> KoImageSpec:
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
        if not sources.snapshot.files:
            raise KoImageError(f"{lt.address}: the ko_layer has no files (its `sources` matched nothing).")
        dest = lt[KoLayerPathField].value
        if not dest.startswith("/"):
            raise KoImageError(f"{lt.address}: `path` must be absolute, got {dest!r}.")
        files = tuple(os.path.join(dest, os.path.relpath(f, src_dir)) for f in sources.snapshot.files)
        layers.append(DataLayerSpec(lt.address, sources.snapshot.digest, src_dir, dest, files))

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
