"""Content descriptors: the (mediaType, digest, size) pointer by which every OCI document references a blob."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterable, Mapping, Optional, Tuple, Union

from kocache_plugin.oci.digest import parse_digest, sha256_digest
from kocache_plugin.oci.platform import Platform

AnnotationsInput = Union[Mapping[str, str], Iterable[Tuple[str, str]]]


class InvalidDescriptor(ValueError):
    """A descriptor with a missing or malformed field."""


def _annotation_pairs(annotations: AnnotationsInput) -> Tuple[Tuple[str, str], ...]:
    """Sorted (key, value) pairs, so equal annotations compare and hash equal whatever the input order."""
    items = list(annotations.items() if isinstance(annotations, Mapping) else annotations)
    for k, v in items:
        if not isinstance(k, str) or not isinstance(v, str):
            raise InvalidDescriptor(f"annotation keys and values must be strings, got {k!r}: {v!r}")
    pairs = tuple(sorted(items))
    duplicates = sorted({a[0] for a, b in zip(pairs, pairs[1:]) if a[0] == b[0]})
    if duplicates:
        raise InvalidDescriptor(f"duplicate annotation keys: {', '.join(duplicates)}")
    return pairs


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor.

    Annotations may be given as a mapping or as pairs; they are stored as sorted pairs so the value
    stays hashable and compares equal whatever the input order.
    """

    media_type: str
    digest: str
    size: int
    annotations: Tuple[Tuple[str, str], ...] = ()
    platform: Optional[Platform] = None
    urls: Tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.media_type, str) or "/" not in self.media_type:
            raise InvalidDescriptor(
                f"descriptor mediaType must be a 'type/subtype' string, got {self.media_type!r}"
            )
        parse_digest(self.digest)
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 0:
            raise InvalidDescriptor(
                f"descriptor size must be a non-negative integer, got {self.size!r}"
            )
        object.__setattr__(self, "annotations", _annotation_pairs(self.annotations))
        object.__setattr__(self, "urls", tuple(self.urls))

    @classmethod
    def for_bytes(
        cls,
        media_type: str,
        data: bytes,
        annotations: AnnotationsInput = (),
        platform: Optional[Platform] = None,
    ) -> Descriptor:
        """Describe in-memory content, computing its sha256 digest and size."""
        return cls(
            media_type=media_type,
            digest=sha256_digest(data),
            size=len(data),
            annotations=_annotation_pairs(annotations),
            platform=platform,
        )

    def annotation(self, key: str) -> Optional[str]:
        """The value of one annotation, or None when absent."""
        return dict(self.annotations).get(key)

    def to_json(self) -> Dict[str, Any]:
        """The OCI descriptor object; optional fields appear only when set."""
        obj: Dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.urls:
            obj["urls"] = list(self.urls)
        if self.annotations:
            obj["annotations"] = dict(self.annotations)
        if self.platform is not None:
            obj["platform"] = self.platform.to_json()
        return obj

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Descriptor:
        """Read an OCI descriptor object; errors name the offending field."""
        if not isinstance(obj, Mapping):
            raise InvalidDescriptor(f"descriptor must be a JSON object, got {type(obj).__name__}")
        missing = [f for f in ("mediaType", "digest", "size") if f not in obj]
        if missing:
            raise InvalidDescriptor(
                f"descriptor is missing required field(s) {', '.join(missing)}: {dict(obj)!r}"
            )
        annotations = obj.get("annotations")
        annotations = {} if annotations is None else annotations
        if not isinstance(annotations, Mapping):
            raise InvalidDescriptor(
                f"descriptor annotations must be an object, got {annotations!r}"
            )
        urls = obj.get("urls")
        urls = [] if urls is None else urls
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise InvalidDescriptor(f"descriptor urls must be a list of strings, got {urls!r}")
        platform = obj.get("platform")
        if platform is not None and not isinstance(platform, Mapping):
            raise InvalidDescriptor(f"descriptor platform must be an object, got {platform!r}")
        return cls(
            media_type=obj["mediaType"],
            digest=obj["digest"],
            size=obj["size"],
            annotations=_annotation_pairs(annotations),
            platform=Platform.from_json(platform) if platform is not None else None,
            urls=tuple(urls),
        )
