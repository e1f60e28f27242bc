"""Image config JSON (OCI image-spec config.md), built deterministically, optionally over a base config."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from kocache_plugin.oci.canonical_json import canonical_json
from kocache_plugin.oci.digest import InvalidDigest, parse_digest
from kocache_plugin.oci.platform import Platform

# A fixed timestamp keeps the config, and so the image digest, reproducible.
DEFAULT_CREATED = "1970-01-01T00:00:00Z"

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})")
_PORT = re.compile(r"(\d+)(?:/(tcp|udp|sctp))?")


class InvalidImageConfig(ValueError):
    """Image config inputs (or a base config) that would produce a broken image."""


@dataclass(frozen=True)
class HistoryEntry:
    """One image history record; an empty `created` is filled with the spec's `created` when built."""

    created: str = ""
    created_by: str = ""
    comment: str = ""
    empty_layer: bool = False

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> HistoryEntry:
        unknown = set(obj) - {"created", "created_by", "comment", "empty_layer"}
        if unknown:
            raise InvalidImageConfig(
                f"history entry has unsupported field(s) {', '.join(sorted(unknown))}; "
                "expected created, created_by, comment, empty_layer"
            )
        for field in ("created", "created_by", "comment"):
            if not isinstance(obj.get(field, ""), str):
                raise InvalidImageConfig(
                    f"history entry {field} must be a string, got {obj[field]!r}"
                )
        return cls(
            created=obj.get("created", ""),
            created_by=obj.get("created_by", ""),
            comment=obj.get("comment", ""),
            empty_layer=bool(obj.get("empty_layer", False)),
        )

    def to_json(self, default_created: str) -> Dict[str, Any]:
        obj: Dict[str, Any] = {"created": self.created or default_created}
        if self.created_by:
            obj["created_by"] = self.created_by
        if self.comment:
            obj["comment"] = self.comment
        if self.empty_layer:
            obj["empty_layer"] = True
        return obj


def _env_key(entry: str) -> str:
    return entry.partition("=")[0]


def _normalize_port(port: str) -> str:
    match = _PORT.fullmatch(port)
    if not match or not 1 <= int(match.group(1)) <= 65535:
        raise InvalidImageConfig(
            f"invalid exposed port {port!r}: expected <1-65535>[/tcp|/udp|/sctp], e.g. 8080/tcp"
        )
    return f"{int(match.group(1))}/{match.group(2) or 'tcp'}"


def _label_pairs(
    labels: Union[Mapping[str, str], Iterable[Tuple[str, str]]]
) -> Tuple[Tuple[str, str], ...]:
    items = list(labels.items() if isinstance(labels, Mapping) else labels)
    for k, v in items:
        if not isinstance(k, str) or not k or not isinstance(v, str):
            raise InvalidImageConfig(
                f"label keys must be non-empty strings and values strings, got {k!r}: {v!r}"
            )
    pairs = tuple(sorted(items))
    duplicates = sorted({a[0] for a, b in zip(pairs, pairs[1:]) if a[0] == b[0]})
    if duplicates:
        raise InvalidImageConfig(f"duplicate label keys: {', '.join(duplicates)}")
    return pairs


def _freeze(spec: Any, name: str, value: Any) -> None:
    """Store a normalized value on a frozen dataclass during __post_init__."""
    object.__setattr__(spec, name, value)


@dataclass(frozen=True)
class ImageConfigSpec:
    """What our build contributes to an image config.

    `entrypoint`/`cmd` of None mean "inherit from the base"; `user`/`working_dir` of "" likewise.
    Lists and dicts are accepted and stored as tuples (labels and ports sorted) so the spec stays
    hashable and order-insensitive where order carries no meaning.
    """

    platform: Platform
    diff_ids: Tuple[str, ...] = ()
    entrypoint: Optional[Tuple[str, ...]] = None
    cmd: Optional[Tuple[str, ...]] = None
    env: Tuple[str, ...] = ()
    user: str = ""
    working_dir: str = ""
    labels: Tuple[Tuple[str, str], ...] = ()
    exposed_ports: Tuple[str, ...] = ()
    created: str = DEFAULT_CREATED
    history: Tuple[HistoryEntry, ...] = ()

    def __post_init__(self) -> None:
        for i, diff_id in enumerate(self.diff_ids):
            try:
                parse_digest(diff_id)
            except InvalidDigest as e:
                raise InvalidImageConfig(f"diff_ids[{i}]: {e}") from e
        seen: Dict[str, str] = {}
        for entry in self.env:
            key = _env_key(entry)
            if "=" not in entry or not key:
                raise InvalidImageConfig(f"invalid env entry {entry!r}: expected KEY=VALUE")
            if key in seen:
                raise InvalidImageConfig(f"env sets {key} twice: {seen[key]!r} and {entry!r}")
            seen[key] = entry
        if not _RFC3339.fullmatch(self.created):
            raise InvalidImageConfig(
                f"created must be an RFC 3339 timestamp like {DEFAULT_CREATED}, got {self.created!r}"
            )
        _freeze(self, "diff_ids", tuple(self.diff_ids))
        _freeze(self, "entrypoint", None if self.entrypoint is None else tuple(self.entrypoint))
        _freeze(self, "cmd", None if self.cmd is None else tuple(self.cmd))
        _freeze(self, "env", tuple(self.env))
        _freeze(self, "labels", _label_pairs(self.labels))
        _freeze(
            self, "exposed_ports", tuple(sorted({_normalize_port(p) for p in self.exposed_ports}))
        )
        _freeze(
            self,
            "history",
            tuple(
                h if isinstance(h, HistoryEntry) else HistoryEntry.from_json(h)
                for h in self.history
            ),
        )


def _string_list(value: Any, where: str) -> List[str]:
    """A base-config list field, where Go's `null` means empty."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidImageConfig(f"base config {where} must be a list of strings, got {value!r}")
    return list(value)


def _object(value: Any, where: str) -> Dict[str, Any]:
    """A base-config object field, where Go's `null` means empty."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidImageConfig(f"base config {where} must be an object, got {value!r}")
    return dict(value)


def _merge_env(base: Sequence[str], ours: Sequence[str]) -> List[str]:
    """Base entries keep their order; ours replace same-named ones in place, the rest are appended."""
    by_key = {_env_key(e): e for e in ours}
    merged = [by_key.pop(_env_key(e), e) for e in base]
    return merged + [e for e in ours if _env_key(e) in by_key]


def _set_or_drop(obj: Dict[str, Any], key: str, values: Sequence[Any]) -> None:
    if values:
        obj[key] = list(values)
    else:
        obj.pop(key, None)


def build_image_config(spec: ImageConfigSpec, base: Optional[Mapping[str, Any]] = None) -> bytes:
    """Serialize the image config for `spec`, extending `base` (a parsed base-image config) if given.

    Base layers and history come first; env and labels merge with ours winning; a given entrypoint
    replaces the base's and, as in Docker, also drops the base's Cmd unless we give a cmd too,
    since that Cmd was written as arguments for the base's entrypoint.
    """
    doc: Dict[str, Any] = copy.deepcopy(dict(base)) if base is not None else {}
    if base is not None and "os" in doc and "architecture" in doc:
        if not spec.platform.matches(doc):
            raise InvalidImageConfig(
                f"base image is {Platform.from_json(doc)} but the image being built is "
                f"{spec.platform}; pick the base manifest for {spec.platform}"
            )
    doc["os"] = spec.platform.os
    doc["architecture"] = spec.platform.architecture
    if spec.platform.variant:
        doc["variant"] = spec.platform.variant
    if spec.platform.os_version:
        doc["os.version"] = spec.platform.os_version
    doc["created"] = spec.created

    run = _object(doc.get("config"), "config")
    if spec.entrypoint is not None:
        _set_or_drop(run, "Entrypoint", spec.entrypoint)
        if spec.cmd is None:
            run.pop("Cmd", None)
    if spec.cmd is not None:
        _set_or_drop(run, "Cmd", spec.cmd)
    _set_or_drop(run, "Env", _merge_env(_string_list(run.get("Env"), "config.Env"), spec.env))
    if spec.user:
        run["User"] = spec.user
    if spec.working_dir:
        run["WorkingDir"] = spec.working_dir
    labels = _object(run.get("Labels"), "config.Labels")
    labels.update(spec.labels)
    if labels:
        run["Labels"] = labels
    ports = _object(run.get("ExposedPorts"), "config.ExposedPorts")
    ports.update((p, {}) for p in spec.exposed_ports)
    if ports:
        run["ExposedPorts"] = ports
    doc["config"] = run

    rootfs = _object(doc.get("rootfs"), "rootfs")
    if rootfs.get("type", "layers") != "layers":
        raise InvalidImageConfig(
            f"base config rootfs.type must be 'layers', got {rootfs['type']!r}"
        )
    base_diff_ids = _string_list(rootfs.get("diff_ids"), "rootfs.diff_ids")
    doc["rootfs"] = {"type": "layers", "diff_ids": base_diff_ids + list(spec.diff_ids)}

    history = [_object(h, "history entry") for h in doc.get("history") or []]
    history += [h.to_json(spec.created) for h in spec.history]
    if history:
        doc["history"] = history
    else:
        doc.pop("history", None)
    return canonical_json(doc)
