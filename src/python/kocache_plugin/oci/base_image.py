"""Reading a base image: pick the platform's manifest from an index, and take a manifest apart.

Pure functions over document bytes, shared by every kind of base (an OCI layout, another target's image,
a registry), so each source only has to fetch bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Dict, Tuple

from kocache_plugin.oci import media_types
from kocache_plugin.oci.descriptor import Descriptor
from kocache_plugin.oci.platform import Platform

# Docker's and OCI's gzip/tar layers are the same bytes; an OCI manifest names them the OCI way.
_LAYER_TYPES = {
    media_types.DOCKER_LAYER_GZIP: media_types.OCI_LAYER_GZIP,
    "application/vnd.docker.image.rootfs.diff.tar": media_types.OCI_LAYER_TAR,
}


class BaseImageError(ValueError):
    """A base image that cannot be used: no such platform, an unknown document type, a broken document."""


@dataclass(frozen=True)
class ManifestParts:
    config: Descriptor
    layers: Tuple[Descriptor, ...]


def _load(data: bytes, what: str) -> Dict[str, Any]:
    try:
        doc = json.loads(data)
    except ValueError as e:
        raise BaseImageError(f"{what} is not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise BaseImageError(f"{what} is not a JSON object")
    return doc


def document_media_type(data: bytes, declared: str = "") -> str:
    return _load(data, "the document").get("mediaType") or declared


def select_platform(index: bytes, platform: Platform, what: str) -> Descriptor:
    """The manifest descriptor of `platform` in an image index (OCI or Docker manifest list)."""
    doc = _load(index, what)
    available = []
    for entry in doc.get("manifests") or ():
        plat = entry.get("platform") or {}
        available.append(f"{plat.get('os', '?')}/{plat.get('architecture', '?')}" + (f"/{plat['variant']}" if plat.get("variant") else ""))
        if media_types.is_manifest(entry.get("mediaType", "")) and platform.matches(plat):
            return Descriptor.from_json(entry)
    raise BaseImageError(
        f"{what} has no image for platform {platform}; it has: {', '.join(sorted(set(available))) or 'nothing'}"
    )


def manifest_parts(manifest: bytes, what: str) -> ManifestParts:
    doc = _load(manifest, what)
    if not media_types.is_manifest(doc.get("mediaType", media_types.OCI_MANIFEST)):
        raise BaseImageError(f"{what} is a {doc.get('mediaType')}, not an image manifest")
    try:
        config = Descriptor.from_json(doc["config"])
        layers = tuple(Descriptor.from_json(layer) for layer in doc.get("layers") or ())
    except (KeyError, TypeError, ValueError) as e:
        raise BaseImageError(f"{what} is not a valid image manifest: {e}") from None
    layers = tuple(
        Descriptor(_LAYER_TYPES.get(d.media_type, d.media_type), d.digest, d.size, d.annotations, None, d.urls)
        for d in layers
    )
    for d in layers:
        if d.media_type not in (media_types.OCI_LAYER_GZIP, media_types.OCI_LAYER_TAR):
            raise BaseImageError(f"{what} has a layer of type {d.media_type}, which kocache cannot build on")
    return ManifestParts(config, layers)


def config_platform(config: bytes, what: str) -> Platform:
    doc = _load(config, what)
    return Platform.from_json(doc)
