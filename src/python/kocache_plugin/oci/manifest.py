"""Image manifests: the per-platform document tying one config to its ordered layers."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence

from kocache_plugin.oci.canonical_json import canonical_json, parse_json_object
from kocache_plugin.oci.descriptor import Descriptor
from kocache_plugin.oci.media_types import OCI_MANIFEST, is_index, is_manifest


class InvalidManifest(ValueError):
    """Bytes that are not a usable image manifest."""


def build_manifest(
    config: Descriptor,
    layers: Sequence[Descriptor],
    annotations: Optional[Mapping[str, str]] = None,
) -> bytes:
    """Serialize an OCI image manifest; `annotations` appear only when non-empty."""
    doc: Dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.to_json(),
        "layers": [layer.to_json() for layer in layers],
    }
    if annotations:
        doc["annotations"] = dict(annotations)
    return canonical_json(doc)


def parse_manifest(data: bytes) -> Dict[str, Any]:
    """Decode and validate an OCI or Docker v2 manifest, returning it as a dict."""
    doc = parse_json_object(data, "manifest", InvalidManifest)
    if doc.get("schemaVersion") != 2:
        raise InvalidManifest(
            f"manifest schemaVersion must be 2, got {doc.get('schemaVersion')!r} "
            "(Docker schema 1 manifests are not supported)"
        )
    media_type = doc.get("mediaType")
    looks_like_index = "manifests" in doc if media_type is None else is_index(media_type)
    if looks_like_index:
        raise InvalidManifest(
            f"expected an image manifest but got an image index (mediaType {media_type!r}); "
            "select a platform's manifest from it first"
        )
    if media_type is not None and not is_manifest(media_type):
        raise InvalidManifest(f"unsupported manifest mediaType {media_type!r}")
    if "config" not in doc:
        raise InvalidManifest("manifest has no 'config' descriptor")
    try:
        Descriptor.from_json(doc["config"])
    except ValueError as e:
        raise InvalidManifest(f"manifest config: {e}") from e
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise InvalidManifest(f"manifest 'layers' must be a list of descriptors, got {layers!r}")
    for i, layer in enumerate(layers):
        try:
            Descriptor.from_json(layer)
        except ValueError as e:
            raise InvalidManifest(f"manifest layers[{i}]: {e}") from e
    return doc
