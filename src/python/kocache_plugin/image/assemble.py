"""Assemble an image from its layers: config, manifest per platform, index, OCI layout.

Only small JSON documents are made here, in memory, from descriptors the layer steps recorded: no layer
byte is read. Layer blobs are merged into the layout by digest (Pants' store links them, never copies).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from pants.engine.fs import CreateDigest, Digest, FileContent, MergeDigests
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.util.logging import LogLevel

from kocache_plugin.go.build import BuiltGoBinary, GoBuildRequest
from kocache_plugin.image.base import BaseImage, BaseImageRequest, BasePlatformImage, LayoutBaseRequest
from kocache_plugin.image.image_spec import KoImageError, KoImageSpec, KoImageSpecRequest
from kocache_plugin.image.layers import BuiltLayer, LayerEntry, LayerRequest
from kocache_plugin.oci import media_types
from kocache_plugin.oci.descriptor import Descriptor
from kocache_plugin.oci.image_config import HistoryEntry, ImageConfigSpec, build_image_config
from kocache_plugin.oci.image_index import build_index
from kocache_plugin.oci.layout import layout_files, ref_name_annotation
from kocache_plugin.oci.manifest import build_manifest
from kocache_plugin.oci.platform import Platform
from kocache_plugin.subsystems.kocache import KocacheSubsystem

KO_APP = "/ko-app"
BASE_NAME = "org.opencontainers.image.base.name"
BASE_DIGEST = "org.opencontainers.image.base.digest"
DEFAULT_PATH = "/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin"


@dataclass(frozen=True)
class ImageRequest:
    spec: KoImageSpec


@dataclass(frozen=True)
class PlatformImage:
    """One platform's image: what other outputs (docker-archive, publish) need without re-reading blobs."""

    manifest: Descriptor  # with its platform set
    config: bytes
    layers: Tuple[Tuple[str, str], ...]  # (blob digest, diff_id), base layers first


@dataclass(frozen=True)
class BuiltImage:
    """`layout` holds a complete OCI image layout at its root; `top` is what the tags point at."""

    layout: Digest
    top: Descriptor
    images: Tuple[PlatformImage, ...]
    binaries: Tuple[BuiltGoBinary, ...]

    @property
    def manifests(self) -> Tuple[Descriptor, ...]:
        return tuple(i.manifest for i in self.images)


def _binary_layer_request(binary: BuiltGoBinary, owner: str) -> LayerRequest:
    return LayerRequest(
        entries=(LayerEntry("file", f"{KO_APP.lstrip('/')}/{binary.name}", src=binary.name, mode=0o755),),
        inputs=binary.digest,
        owner=owner,
        what=f"the binary layer {KO_APP}/{binary.name} ({binary.platform})",
    )


def _config_env(spec: KoImageSpec, base_config: Optional[dict]) -> Tuple[str, ...]:
    base_env = dict(e.split("=", 1) for e in ((base_config or {}).get("config") or {}).get("Env") or () if "=" in e)
    path = base_env.get("PATH", DEFAULT_PATH)
    env = {"PATH": path if KO_APP in path.split(":") else f"{path}:{KO_APP}"}
    if spec.layers:
        env["KO_DATA_PATH"] = spec.layers[0].dest
    env.update(spec.env)
    return tuple(f"{k}={v}" for k, v in env.items())


def check_paths(spec: KoImageSpec, from_scratch: bool) -> None:
    """Two of our layers writing one path, or an entrypoint that names no file: errors, not surprises."""
    owner = str(spec.address)
    writers: Dict[str, str] = {f"{KO_APP}/{b.name}": f"the binary {b.address}" for b in spec.binaries}
    for layer in spec.layers:
        for path in layer.files:
            if path in writers:
                raise KoImageError(f"{owner}: {path} is written by both {writers[path]} and the ko_layer {layer.address}.")
            writers[path] = f"the ko_layer {layer.address}"
    program = spec.entrypoint[0] if spec.entrypoint else ""
    candidates = [program] if program.startswith("/") else [f"{KO_APP}/{program}"]
    if from_scratch and program and not any(c in writers for c in candidates):
        raise KoImageError(
            f"{owner}: the entrypoint {program!r} names no file in the image (its base is scratch; the image "
            f"holds {', '.join(sorted(writers))})."
        )


def _platform_image(
    spec: KoImageSpec,
    platform: Platform,
    base: Optional[BasePlatformImage],
    base_name: Optional[str],
    layers: List[Tuple[BuiltLayer, str]],
    created: str,
) -> Tuple[PlatformImage, Dict[str, bytes]]:
    base_config = base.config_json() if base else None
    config = build_image_config(
        ImageConfigSpec(
            platform=platform,
            diff_ids=tuple(layer.diff_id for layer, _ in layers),
            entrypoint=spec.entrypoint,
            cmd=spec.args,
            env=_config_env(spec, base_config),
            user=spec.user,
            working_dir=spec.workdir,
            labels=tuple(spec.labels.items()),
            exposed_ports=spec.ports,
            created=created,
            history=tuple(HistoryEntry(created=created, created_by=f"kocache: {what}") for _, what in layers),
        ),
        base=base_config,
    )
    config_desc = Descriptor.for_bytes(media_types.OCI_CONFIG, config)
    annotations = {BASE_NAME: base_name, BASE_DIGEST: base.manifest.digest} if base is not None else {}
    descriptors = [*(base.layers if base else ()), *(layer.descriptor for layer, _ in layers)]
    manifest = build_manifest(config_desc, descriptors, annotations)
    base_diff_ids = (base_config or {}).get("rootfs", {}).get("diff_ids") or []
    diff_ids = [*base_diff_ids, *(layer.diff_id for layer, _ in layers)]
    image = PlatformImage(
        Descriptor.for_bytes(media_types.OCI_MANIFEST, manifest, platform=platform),
        config,
        tuple(zip((d.digest for d in descriptors), diff_ids)),
    )
    return image, {config_desc.digest: config, image.manifest.digest: manifest}


async def _base_image(spec: KoImageSpec) -> BaseImage:
    owner = str(spec.address)
    if spec.base_kind == "target":
        base_spec = await Get(KoImageSpec, KoImageSpecRequest(spec.base_target))
        built = await Get(BuiltImage, ImageRequest(base_spec))
        return await Get(
            BaseImage, LayoutBaseRequest(built.layout, base_spec.tags[0], spec.base_ref, spec.platforms, owner)
        )
    return await Get(BaseImage, BaseImageRequest(spec.base_kind, spec.base_ref, spec.platforms, owner))


def rfc3339(epoch: int) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@rule(desc="Assemble a ko image", level=LogLevel.DEBUG)
async def assemble_image(request: ImageRequest, kocache: KocacheSubsystem) -> BuiltImage:
    spec = request.spec
    owner = str(spec.address)
    check_paths(spec, from_scratch=spec.base_kind == "scratch")
    base = await _base_image(spec)

    builds = await MultiGet(
        Get(BuiltGoBinary, GoBuildRequest(binary, platform)) for platform in spec.platforms for binary in spec.binaries
    )
    binary_layers = await MultiGet(Get(BuiltLayer, LayerRequest, _binary_layer_request(b, owner)) for b in builds)
    data_layers = await MultiGet(
        Get(
            BuiltLayer,
            LayerRequest(
                entries=(
                    LayerEntry("tree", layer.dest.lstrip("/"), src=layer.src_dir),
                    *(LayerEntry("symlink", path.lstrip("/"), target=target) for path, target in layer.symlinks),
                ),
                inputs=layer.sources,
                owner=str(layer.address),
                what=f"the data layer {layer.dest}",
            ),
        )
        for layer in spec.layers
    )

    created = rfc3339(kocache.source_date_epoch)
    images: List[PlatformImage] = []
    blobs: Dict[str, bytes] = {}
    n = len(spec.binaries)
    for i, platform in enumerate(spec.platforms):
        layers = [(layer, f"data layer {d.address} at {d.dest}") for layer, d in zip(data_layers, spec.layers)]
        layers += [
            (layer, f"binary {b.address} at {KO_APP}/{b.name}")
            for layer, b in zip(binary_layers[i * n : (i + 1) * n], spec.binaries)
        ]
        base_image = base.for_platform(platform)
        if base.name is not None and base_image is None:
            raise KoImageError(f"{owner}: the base image {base.name} has no image for {platform}")
        image, documents = _platform_image(spec, platform, base_image, base.name, layers, created)
        images.append(image)
        blobs.update(documents)

    if len(images) == 1:
        top = Descriptor(images[0].manifest.media_type, images[0].manifest.digest, images[0].manifest.size)
    else:
        index = build_index([i.manifest for i in images])
        top = Descriptor.for_bytes(media_types.OCI_INDEX, index)
        blobs[top.digest] = index
    entries = [Descriptor(top.media_type, top.digest, top.size, annotations=(ref_name_annotation(t),)) for t in spec.tags]
    all_layers = (*binary_layers, *data_layers)
    external = {layer.descriptor.digest for layer in all_layers}
    external.update(layer.digest for image in base.images for layer in image.layers)
    files = layout_files(blobs, entries, external_blobs=external)
    json_digest = await Get(Digest, CreateDigest([FileContent(path, data) for path, data in sorted(files.items())]))
    layout = await Get(Digest, MergeDigests([json_digest, base.blobs, *(layer.blob for layer in all_layers)]))
    return BuiltImage(layout, top, tuple(images), tuple(builds))


def rules():
    return collect_rules()
