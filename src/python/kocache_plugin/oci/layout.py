"""OCI image layouts (image-spec image-layout.md): the on-disk form that skopeo, umoci and crane read."""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from typing import Any, Collection, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from kocache_plugin.oci.canonical_json import canonical_json, parse_json_object
from kocache_plugin.oci.descriptor import Descriptor
from kocache_plugin.oci.digest import blob_path, parse_digest, sha256_digest
from kocache_plugin.oci.image_index import build_index, parse_index
from kocache_plugin.oci.manifest import parse_manifest
from kocache_plugin.oci.media_types import is_index, is_manifest
from kocache_plugin.oci.platform import Platform

IMAGE_LAYOUT_VERSION = "1.0.0"
OCI_LAYOUT_FILE = "oci-layout"
INDEX_FILE = "index.json"
REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"

# image-layout.md: ref ::= component ("/" component)*; component ::= alphanum (separator alphanum)*;
# alphanum ::= [A-Za-z0-9]+; separator ::= [-._:@+] | "--"
_COMPONENT = r"[A-Za-z0-9]+(?:(?:--|[-._:@+])[A-Za-z0-9]+)*"
_REF_NAME = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")

StrPath = Union[str, os.PathLike]


class LayoutError(ValueError):
    """A layout that is incomplete, inconsistent, or does not contain what was asked for."""


def ref_name_annotation(tag: str) -> Tuple[str, str]:
    """The annotation naming an image inside a layout: the `<tag>` in `skopeo ... oci:<dir>:<tag>`."""
    if not isinstance(tag, str) or not _REF_NAME.fullmatch(tag):
        raise LayoutError(
            f"invalid layout ref name {tag!r}: use letters and digits joined by one of "
            "'-._:@+' or '--', with '/' between components, e.g. 'latest' or 'v1.2.3'"
        )
    return REF_NAME_ANNOTATION, tag


def _check_blobs(blobs: Mapping[str, bytes]) -> None:
    for digest, data in blobs.items():
        algorithm, _ = parse_digest(digest)
        if algorithm != "sha256":
            raise LayoutError(f"blob {digest}: only sha256 blobs are supported")
        actual = sha256_digest(data)
        if actual != digest:
            raise LayoutError(f"blob keyed {digest} has content with digest {actual}")


def _check_references(
    blobs: Mapping[str, bytes], roots: Sequence[Descriptor], external_blobs: Collection[str]
) -> None:
    """Every blob reachable from the index must be present with its declared size."""
    pending: List[Tuple[Descriptor, str]] = [(d, INDEX_FILE) for d in roots]
    seen = set()
    while pending:
        desc, referrer = pending.pop()
        if desc.digest in seen or desc.digest in external_blobs:
            continue
        seen.add(desc.digest)
        data = blobs.get(desc.digest)
        if data is None:
            raise LayoutError(
                f"{referrer} references {desc.media_type} blob {desc.digest}, which is not among "
                "the blobs (pass it in blobs, or in external_blobs if it is written separately)"
            )
        if len(data) != desc.size:
            raise LayoutError(
                f"{referrer} declares size {desc.size} for {desc.digest}, but the blob has {len(data)} bytes"
            )
        if is_manifest(desc.media_type):
            manifest = parse_manifest(data)
            children = [manifest["config"]] + manifest["layers"]
        elif is_index(desc.media_type):
            children = parse_index(data)["manifests"]
        else:
            children = []
        where = f"{desc.media_type} {desc.digest}"
        pending.extend((Descriptor.from_json(c), where) for c in children)


def layout_files(
    blobs: Mapping[str, bytes],
    index_manifests: Sequence[Descriptor],
    *,
    external_blobs: Collection[str] = (),
) -> Dict[str, bytes]:
    """All files of a layout, as {relative path: content}, checked for completeness.

    Each of `index_manifests` must carry a distinct ref.name annotation (see `ref_name_annotation`).
    Blobs that the caller writes by other means (e.g. large layers already on disk) may be listed in
    `external_blobs` by digest instead of passed as bytes.
    """
    names: Dict[str, str] = {}
    for desc in index_manifests:
        name = desc.annotation(REF_NAME_ANNOTATION)
        if name is None:
            raise LayoutError(
                f"index.json entry {desc.digest} has no {REF_NAME_ANNOTATION} annotation; "
                "add one with ref_name_annotation(tag)"
            )
        ref_name_annotation(name)
        if name in names:
            raise LayoutError(f"ref name {name!r} is used by both {names[name]} and {desc.digest}")
        names[name] = desc.digest
    _check_blobs(blobs)
    _check_references(blobs, index_manifests, frozenset(external_blobs))
    files = {blob_path(digest): data for digest, data in blobs.items()}
    files[OCI_LAYOUT_FILE] = canonical_json({"imageLayoutVersion": IMAGE_LAYOUT_VERSION})
    files[INDEX_FILE] = build_index(index_manifests)
    return files


def write_layout(directory: StrPath, files: Mapping[str, bytes]) -> None:
    """Write `layout_files` output under `directory`, replacing any existing index.json.

    Blobs are written before oci-layout and index.json, so an interrupted write never leaves an
    index pointing at missing blobs.
    """
    root = Path(directory)
    last = [p for p in (OCI_LAYOUT_FILE, INDEX_FILE) if p in files]
    for rel in [p for p in sorted(files) if p not in last] + last:
        parts = PurePosixPath(rel).parts
        if not parts or PurePosixPath(rel).is_absolute() or ".." in parts:
            raise LayoutError(
                f"refusing to write {rel!r}: layout paths must be relative and stay inside the layout"
            )
        target = root.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(files[rel])


def read_layout(directory: StrPath) -> Dict[str, Any]:
    """The validated index.json of the layout at `directory`."""
    root = Path(directory)
    try:
        marker = (root / OCI_LAYOUT_FILE).read_bytes()
    except FileNotFoundError:
        raise LayoutError(
            f"{root} is not an OCI image layout: it has no {OCI_LAYOUT_FILE} file"
        ) from None
    version = parse_json_object(marker, f"{root / OCI_LAYOUT_FILE}", LayoutError).get(
        "imageLayoutVersion"
    )
    if version != IMAGE_LAYOUT_VERSION:
        raise LayoutError(
            f"{root / OCI_LAYOUT_FILE}: unsupported imageLayoutVersion {version!r}, expected {IMAGE_LAYOUT_VERSION!r}"
        )
    try:
        return parse_index((root / INDEX_FILE).read_bytes())
    except FileNotFoundError:
        raise LayoutError(f"{root} is not an OCI image layout: it has no {INDEX_FILE}") from None
    except ValueError as e:
        raise LayoutError(f"{root / INDEX_FILE}: {e}") from e


def _read_blob(root: Path, desc: Descriptor) -> bytes:
    """A blob's content, verified against its descriptor so corruption is reported where it is found."""
    if parse_digest(desc.digest)[0] != "sha256":
        raise LayoutError(f"blob {desc.digest}: only sha256 blobs are supported")
    path = root / blob_path(desc.digest)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise LayoutError(
            f"layout {root} is missing blob {desc.digest} ({desc.media_type})"
        ) from None
    if sha256_digest(data) != desc.digest or len(data) != desc.size:
        raise LayoutError(
            f"{path} does not match its descriptor (digest {desc.digest}, size {desc.size})"
        )
    return data


def _platform_manifests(root: Path, descriptors: Sequence[Descriptor]) -> List[Descriptor]:
    """Image manifests reachable from `descriptors`, expanding (nested) indexes in order."""
    found: List[Descriptor] = []
    for desc in descriptors:
        if is_index(desc.media_type):
            entries = parse_index(_read_blob(root, desc))["manifests"]
            found.extend(_platform_manifests(root, [Descriptor.from_json(e) for e in entries]))
        elif is_manifest(desc.media_type):
            found.append(desc)
    return found


def _platform_of(root: Path, desc: Descriptor) -> Dict[str, Any]:
    """The manifest's platform object, from its descriptor or else from its image config."""
    if desc.platform is not None:
        return desc.platform.to_json()
    config = Descriptor.from_json(parse_manifest(_read_blob(root, desc))["config"])
    return parse_json_object(_read_blob(root, config), f"config {config.digest}", LayoutError)


def _describe(platform_json: Mapping[str, Any]) -> str:
    try:
        return str(Platform.from_json(platform_json))
    except ValueError:
        return "unknown platform"


def resolve_manifest(
    directory: StrPath, ref_name: str, platform: Optional[Platform] = None
) -> Descriptor:
    """The image manifest named `ref_name`, following indexes to `platform`'s manifest.

    Without a platform, the name must lead to exactly one manifest.
    """
    root = Path(directory)
    index = read_layout(root)
    entries = [Descriptor.from_json(e) for e in index["manifests"]]
    named = [d for d in entries if d.annotation(REF_NAME_ANNOTATION) == ref_name]
    if not named:
        available = sorted({n for n in (d.annotation(REF_NAME_ANNOTATION) for d in entries) if n})
        raise LayoutError(
            f"no image named {ref_name!r} in {root}; available: {', '.join(available) or 'none'}"
        )
    manifests = _platform_manifests(root, named)
    if platform is None:
        if len(manifests) == 1:
            return manifests[0]
        listed = ", ".join(_describe(_platform_of(root, m)) for m in manifests)
        raise LayoutError(
            f"{ref_name!r} in {root} has {len(manifests)} image manifests ({listed or 'none'}); "
            "pass a platform to choose one"
        )
    platforms = [(m, _platform_of(root, m)) for m in manifests]
    for manifest, platform_json in platforms:
        if platform.matches(platform_json):
            return manifest
    listed = ", ".join(_describe(p) for _, p in platforms)
    raise LayoutError(
        f"{ref_name!r} in {root} has no manifest for {platform}; available: {listed or 'none'}"
    )
