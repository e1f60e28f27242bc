"""Image indexes: the multi-platform list of per-platform manifests (and a layout's index.json)."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence

from kocache_plugin.oci.canonical_json import canonical_json, parse_json_object
from kocache_plugin.oci.descriptor import Descriptor
from kocache_plugin.oci.media_types import OCI_INDEX, is_index, is_manifest


class InvalidIndex(ValueError):
    """Bytes that are not a usable image index."""


def build_index(
    manifests: Sequence[Descriptor], annotations: Optional[Mapping[str, str]] = None
) -> bytes:
    """Serialize an OCI image index; `annotations` appear only when non-empty."""
    doc: Dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [m.to_json() for m in manifests],
    }
    if annotations:
        doc["annotations"] = dict(annotations)
    return canonical_json(doc)


def parse_index(data: bytes) -> Dict[str, Any]:
    """Decode and validate an OCI index or Docker manifest list, returning it as a dict."""
    doc = parse_json_object(data, "image index", InvalidIndex)
    if doc.get("schemaVersion") != 2:
        raise InvalidIndex(f"image index schemaVersion must be 2, got {doc.get('schemaVersion')!r}")
    media_type = doc.get("mediaType")
    if media_type is not None and is_manifest(media_type):
        raise InvalidIndex(
            f"expected an image index but got an image manifest (mediaType {media_type!r})"
        )
    if media_type is not None and not is_index(media_type):
        raise InvalidIndex(f"unsupported image index mediaType {media_type!r}")
    manifests = doc.get("manifests")
    if not isinstance(manifests, list):
        raise InvalidIndex(
            f"image index 'manifests' must be a list of descriptors, got {manifests!r}"
        )
    for i, entry in enumerate(manifests):
        try:
            Descriptor.from_json(entry)
        except ValueError as e:
            raise InvalidIndex(f"image index manifests[{i}]: {e}") from e
    return doc
