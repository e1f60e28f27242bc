"""A `ko_image` target read once into a plain value, with its binaries and layers resolved and checked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from pants.engine.addresses import Address, Addresses, UnparsedAddressInputs
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import Targets
from pants.util.frozendict import FrozenDict

from kocache_plugin.go.binary_spec import GoBinarySpec, GoBinarySpecRequest, parse_platforms
from kocache_plugin.image.data_layer_spec import DataLayerSpec, DataLayerSpecRequest
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
    KoPlatformsField,
)


class KoImageError(Exception):
    """A ko_image whose fields are wrong (the message names the target)."""


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

    layers = await MultiGet(Get(DataLayerSpec, DataLayerSpecRequest(a, owner)) for a in layer_addrs)

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
        layers=layers,
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
