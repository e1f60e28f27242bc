"""Base images: `scratch`, an OCI image layout in the repo, another `ko_image` target, or a registry.

Every kind ends as the same value: per platform, the base manifest's descriptor, config bytes and layer
descriptors, plus a digest with the layer blobs (for outputs that hold the complete image). Our steps
only ever read small documents; layer blobs are merged by digest, never read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional, Tuple

from pants.engine.fs import EMPTY_DIGEST, Digest, DigestContents, DigestSubset, MergeDigests, PathGlobs, RemovePrefix, Snapshot
from pants.engine.process import FallibleProcessResult
from pants.engine.rules import Get, MultiGet, collect_rules, rule

from kocache_plugin.oci import media_types
from kocache_plugin.oci.base_image import BaseImageError, config_platform, manifest_parts, select_platform
from kocache_plugin.oci.descriptor import Descriptor
from kocache_plugin.oci.digest import blob_path
from kocache_plugin.oci.layout import REF_NAME_ANNOTATION
from kocache_plugin.oci.platform import Platform
from kocache_plugin.oci.registry.fetch_cli import LAYOUT_TAG
from kocache_plugin.oci.registry.reference import InvalidReference, Reference
from kocache_plugin.image.base_lock import BaseLock
from kocache_plugin.image.registry_tool import RegistryProcess
from kocache_plugin.subsystems.kocache import KocacheSubsystem

SCRATCH = "scratch"
LAYOUT_PREFIX = "oci:"


@dataclass(frozen=True)
class BasePlatformImage:
    platform: Platform
    manifest: Descriptor
    config: bytes
    layers: Tuple[Descriptor, ...]

    def config_json(self) -> dict:
        return json.loads(self.config)


@dataclass(frozen=True)
class BaseImage:
    """`name` is what `org.opencontainers.image.base.name` says; None for scratch."""

    name: Optional[str]
    images: Tuple[BasePlatformImage, ...]
    blobs: Digest  # `blobs/sha256/<hex>` for every layer of `images`

    def for_platform(self, platform: Platform) -> Optional[BasePlatformImage]:
        return next((i for i in self.images if i.platform == platform), None)


@dataclass(frozen=True)
class BaseImageRequest:
    """`base` is the ko_image's field, already told apart: kind is scratch, layout, target or registry."""

    kind: str
    ref: str  # layout: "dir[:tag]"; target: an address spec; registry: a reference
    platforms: Tuple[Platform, ...]
    owner: str


@dataclass(frozen=True)
class LayoutBaseRequest:
    """A base read from an OCI layout held in a digest (a repo directory, or another target's output)."""

    layout: Digest
    tag: Optional[str]
    name: str
    platforms: Tuple[Platform, ...]
    owner: str
    require_layers: bool = True


class BaseImageNotUsable(Exception):
    """The base image exists but cannot be used (message names the target and the base)."""


async def _blob(layout: Digest, digest: str, what: str) -> bytes:
    contents = await Get(DigestContents, DigestSubset(layout, PathGlobs([blob_path(digest)])))
    if not contents:
        raise BaseImageError(f"{what} is missing blob {digest}")
    return contents[0].content


@rule
async def read_layout_base(request: LayoutBaseRequest) -> BaseImage:
    what = f"base image {request.name}"
    try:
        index_files = await Get(DigestContents, DigestSubset(request.layout, PathGlobs(["index.json"])))
        if not index_files:
            raise BaseImageError(f"{what} is not an OCI image layout (no index.json)")
        entries = json.loads(index_files[0].content).get("manifests") or []
        tags = [(e.get("annotations") or {}).get(REF_NAME_ANNOTATION) for e in entries]
        if request.tag is None and len(entries) == 1:
            chosen = entries[0]
        else:
            wanted = request.tag or "latest"
            matches = [e for e, t in zip(entries, tags) if t == wanted]
            if len(matches) != 1:
                raise BaseImageError(
                    f"{what} has {'no' if not matches else 'more than one'} entry tagged {wanted!r} "
                    f"(tags: {', '.join(t for t in tags if t) or 'none'})"
                )
            chosen = matches[0]
        top = Descriptor.from_json(chosen)
        top_bytes = await _blob(request.layout, top.digest, what)
        images = []
        for platform in request.platforms:
            if media_types.is_index(json.loads(top_bytes).get("mediaType") or top.media_type):
                manifest_desc = select_platform(top_bytes, platform, what)
                manifest = await _blob(request.layout, manifest_desc.digest, what)
            else:
                manifest_desc, manifest = top, top_bytes
            parts = manifest_parts(manifest, what)
            config = await _blob(request.layout, parts.config.digest, what)
            if not platform.matches(config_platform(config, what).to_json()):
                raise BaseImageError(f"{what} is a single-platform image for {config_platform(config, what)}, not {platform}")
            images.append(BasePlatformImage(platform, Descriptor(manifest_desc.media_type, manifest_desc.digest, manifest_desc.size), config, parts.layers))
    except BaseImageError as e:
        raise BaseImageNotUsable(f"{request.owner}: {e}") from None
    if not request.require_layers:
        return BaseImage(request.name, tuple(images), EMPTY_DIGEST)
    layer_paths = sorted({blob_path(layer.digest) for image in images for layer in image.layers})
    blobs = await Get(Digest, DigestSubset(request.layout, PathGlobs(layer_paths))) if layer_paths else EMPTY_DIGEST
    present = set((await Get(Snapshot, Digest, blobs)).files) if layer_paths else set()
    missing = [p for p in layer_paths if p not in present]
    if missing:
        raise BaseImageNotUsable(f"{request.owner}: {what} is missing layer blob {missing[0].split('/')[-1]}")
    return BaseImage(request.name, tuple(images), blobs)


def _fail(request: BaseImageRequest, what: str, result: FallibleProcessResult) -> BaseImageNotUsable:
    detail = result.stderr.decode(errors="replace").strip().removeprefix("kocache-fetch: ")
    return BaseImageNotUsable(f"{request.owner}: {what} base image {request.ref}: {detail}")


async def _registry_base(request: BaseImageRequest, kocache: KocacheSubsystem) -> BaseImage:
    try:
        ref = Reference.parse(request.ref)
    except InvalidReference as e:
        raise BaseImageNotUsable(f"{request.owner}: base `{request.ref}` is not a valid image reference: {e}") from None
    platform_args = tuple(arg for p in request.platforms for arg in ("--platform", str(p)))
    digest = ref.digest
    if not digest:
        lock = await Get(BaseLock)
        locked = lock.get(request.ref)
        if locked is not None:
            digest = locked.digest
        elif not kocache.resolve_unlocked_bases:
            raise BaseImageNotUsable(
                f"{request.owner}: base `{request.ref}` is a tag that is not in the base lock ({lock.path}). "
                "Run `pants ko-lock-bases ::` (and commit the lock), pin a digest (`repo@sha256:...`), "
                "or set [kocache].resolve_unlocked_bases = true."
            )
        else:
            result = await Get(
                FallibleProcessResult,
                RegistryProcess(("resolve", "--ref", request.ref, *platform_args), f"Resolve base image {request.ref}", cacheable=False),
            )
            if result.exit_code != 0:
                raise _fail(request, "cannot resolve the", result)
            digest = json.loads(result.stdout)["root"]["digest"]
    pinned = str(ref.with_digest(digest))
    result = await Get(
        FallibleProcessResult,
        RegistryProcess(("metadata", "--ref", pinned, *platform_args, "--out", "__base"), f"Fetch base image metadata {pinned}", ("__base",)),
    )
    if result.exit_code != 0:
        raise _fail(request, "cannot read the", result)
    layout = await Get(Digest, RemovePrefix(result.output_digest, "__base"))
    meta = await Get(BaseImage, LayoutBaseRequest(layout, LAYOUT_TAG, request.ref, request.platforms, request.owner, require_layers=False))
    layers = sorted({layer for image in meta.images for layer in image.layers}, key=lambda d: d.digest)
    fetched = await MultiGet(
        Get(
            FallibleProcessResult,
            RegistryProcess(
                ("blob", "--ref", str(ref.with_digest(layer.digest)), "--size", str(layer.size), "--out", "__blob"),
                f"Fetch base layer {layer.digest[:19]} of {request.ref}",
                ("__blob",),
            ),
        )
        for layer in layers
    )
    for result in fetched:
        if result.exit_code != 0:
            raise _fail(request, "cannot fetch a layer of the", result)
    blobs = await MultiGet(Get(Digest, RemovePrefix(r.output_digest, "__blob")) for r in fetched)
    merged = await Get(Digest, MergeDigests(blobs))
    return BaseImage(meta.name, meta.images, merged)


@rule
async def resolve_base_image(request: BaseImageRequest, kocache: KocacheSubsystem) -> BaseImage:
    if request.kind == SCRATCH:
        return BaseImage(None, (), EMPTY_DIGEST)
    if request.kind == "layout":
        directory, _, tag = request.ref.partition(":")
        directory = directory.strip("/")
        snapshot = await Get(Snapshot, PathGlobs([f"{directory}/**"]))
        if not snapshot.files:
            raise BaseImageNotUsable(f"{request.owner}: base `oci:{request.ref}`: no files in `{directory}` (expected an OCI image layout directory)")
        layout = await Get(Digest, RemovePrefix(snapshot.digest, directory))
        return await Get(BaseImage, LayoutBaseRequest(layout, tag or None, f"oci:{request.ref}", request.platforms, request.owner))
    if request.kind == "registry":
        return await _registry_base(request, kocache)
    raise BaseImageNotUsable(f"{request.owner}: base kind {request.kind} is handled elsewhere")


def rules():
    return collect_rules()
