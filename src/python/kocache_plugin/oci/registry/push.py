"""Push one image from an OCI image layout: blobs, then manifests, then the index, then tags.

The order keeps a registry consistent when a push stops half-way (a fault, a timeout, Ctrl-C): a manifest
goes up only once every blob it names is present, an index only once its manifests are, and tags last,
so no tag ever names an incomplete image. Every step first asks whether its content is already there, so
re-running a failed push finishes it without re-sending what landed; and when the image's root document
is already present by digest, so is everything below it (we push it last, and the registry checks its
references when it accepts it), leaving only the tags.

Layers are streamed from the layout under the digest and size their descriptors record: never
re-compressed, never re-hashed, never held in memory. Only the small JSON documents are read (and checked).
"""

from __future__ import annotations

from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from kocache_plugin.oci.descriptor import Descriptor
from kocache_plugin.oci.digest import blob_path, parse_digest, sha256_digest
from kocache_plugin.oci.image_index import parse_index
from kocache_plugin.oci.layout import REF_NAME_ANNOTATION, LayoutError, read_layout
from kocache_plugin.oci.manifest import parse_manifest
from kocache_plugin.oci.media_types import is_index, is_manifest
from kocache_plugin.oci.registry.client import MOUNTED, PRESENT, UPLOADED, RegistryClient
from kocache_plugin.oci.registry.errors import AuthenticationFailed
from kocache_plugin.oci.registry.reference import InvalidReference, Reference, registry_api_host

BASE_NAME_ANNOTATION = "org.opencontainers.image.base.name"
DOCUMENT_SIZE_LIMIT = 4 * 1024 * 1024  # what registries must accept for a manifest
DEFAULT_JOBS = 4


@dataclass(frozen=True)
class BlobToPush:
    descriptor: Descriptor
    path: Path
    mount_from: Tuple[str, ...] = ()  # repositories of the same registry that may hold it (the base's)


@dataclass(frozen=True)
class DocumentToPush:
    """A manifest or index, pushed by digest with the layout's exact bytes."""

    descriptor: Descriptor
    data: bytes


@dataclass(frozen=True)
class PushPlan:
    blobs: Tuple[BlobToPush, ...]  # every config and layer, once
    documents: Tuple[DocumentToPush, ...]  # children before parents: the root (what tags name) last

    @property
    def root(self) -> DocumentToPush:
        return self.documents[-1]


@dataclass
class PushReport:
    reference: str  # registry/repository@sha256:...
    blobs: Dict[str, int] = field(default_factory=lambda: {UPLOADED: 0, PRESENT: 0, MOUNTED: 0})
    documents_pushed: int = 0
    documents_present: int = 0
    already_complete: bool = False  # the root was in the registry already
    tags_pushed: List[str] = field(default_factory=list)
    tags_unchanged: List[str] = field(default_factory=list)


def _plain(desc: Descriptor) -> Descriptor:
    return Descriptor(desc.media_type, desc.digest, desc.size)


class _Planner:
    """Walks the layout from the root down, reading documents and checking that every blob is on disk."""

    def __init__(self, layout: Path, registry: str, repository: str) -> None:
        self.layout = layout
        self.registry = registry
        self.repository = repository
        self.blobs: Dict[str, BlobToPush] = {}
        self.documents: List[DocumentToPush] = []
        self._seen: set = set()

    def _path(self, desc: Descriptor, what: str) -> Path:
        if parse_digest(desc.digest)[0] != "sha256":
            raise LayoutError(f"{what} {desc.digest}: only sha256 blobs can be pushed")
        path = self.layout / blob_path(desc.digest)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise LayoutError(
                f"the layout is missing {what} {desc.digest}; the image is incomplete, package it again"
            ) from None
        if size != desc.size:
            raise LayoutError(f"{what} {desc.digest} has {size} bytes in the layout, but is declared with {desc.size}")
        return path

    def _mount_sources(self, manifest: dict) -> Tuple[str, ...]:
        """The base image's repository, when it lives on the registry we push to."""
        base = (manifest.get("annotations") or {}).get(BASE_NAME_ANNOTATION)
        first, slash, _ = base.partition("/") if isinstance(base, str) else ("", "", "")
        if not (slash and ("." in first or ":" in first or first == "localhost")):
            return ()  # scratch, a layout or another target (its address): nothing to mount from
        try:
            ref = Reference.parse(base)
        except InvalidReference:
            return ()
        same = registry_api_host(ref.registry) == registry_api_host(self.registry)
        return (ref.repository,) if same and ref.repository != self.repository else ()

    def _blob(self, desc: Descriptor, what: str, mount_from: Tuple[str, ...]) -> None:
        path = self._path(desc, what)
        known = self.blobs.get(desc.digest)
        if known is not None:
            mount_from = tuple(dict.fromkeys(known.mount_from + mount_from))
        self.blobs[desc.digest] = BlobToPush(_plain(desc), path, mount_from)

    def document(self, desc: Descriptor, what: str) -> None:
        if desc.digest in self._seen:
            return
        self._seen.add(desc.digest)
        if desc.size > DOCUMENT_SIZE_LIMIT:
            raise LayoutError(f"{what} {desc.digest} is {desc.size} bytes, more than registries accept")
        data = self._path(desc, what).read_bytes()
        if sha256_digest(data) != desc.digest:
            raise LayoutError(f"{what} {desc.digest} in the layout does not match its digest; package it again")
        where = f"{desc.media_type} {desc.digest}"
        if is_index(desc.media_type):
            for entry in parse_index(data)["manifests"]:
                self.document(Descriptor.from_json(entry), f"a manifest of index {desc.digest}")
        elif is_manifest(desc.media_type):
            manifest = parse_manifest(data)
            self._blob(Descriptor.from_json(manifest["config"]), f"the config of {where}", ())
            mount_from = self._mount_sources(manifest)
            for layer in manifest["layers"]:
                self._blob(Descriptor.from_json(layer), f"a layer of {where}", mount_from)
        else:
            raise LayoutError(f"{what} {desc.digest} is a {desc.media_type}, neither an image manifest nor an index")
        self.documents.append(DocumentToPush(_plain(desc), data))


def plan_push(layout: Path, tags: Sequence[str], registry: str, repository: str) -> PushPlan:
    """What to push for `tags` of the layout at `layout` (all must name the same image) to registry/repository."""
    if not tags:
        raise ValueError("at least one tag is needed")
    layout = Path(layout)
    named: Dict[str, Descriptor] = {}
    for entry in read_layout(layout)["manifests"]:
        desc = Descriptor.from_json(entry)
        name = desc.annotation(REF_NAME_ANNOTATION)
        if name is not None:
            named.setdefault(name, desc)
    missing = [t for t in tags if t not in named]
    if missing:
        raise LayoutError(
            f"the layout has no image tagged {missing[0]!r} (it has: {', '.join(sorted(named)) or 'none'}); "
            "package the image again"
        )
    roots = {named[t].digest for t in tags}
    if len(roots) != 1:
        raise LayoutError(f"the tags {', '.join(tags)} name different images in the layout; package the image again")
    planner = _Planner(layout, registry, repository)
    planner.document(_plain(named[tags[0]]), "the image")
    return PushPlan(tuple(planner.blobs.values()), tuple(planner.documents))


def _push_blobs(client: RegistryClient, repository: str, blobs: Sequence[BlobToPush], jobs: int) -> List[str]:
    """Outcomes (uploaded/present/mounted), in order. The first blob goes alone so that the push token is
    fetched once; the rest share `jobs` threads, and the first failure cancels what has not started."""

    def push(blob: BlobToPush) -> str:
        d = blob.descriptor
        try:
            return client.upload_blob(repository, d.digest, d.size, blob.path, mount_from=blob.mount_from)
        except AuthenticationFailed:
            if not blob.mount_from:
                raise
            # A mount also needs pull access to the base's repository; without it, upload instead.
            return client.upload_blob(repository, d.digest, d.size, blob.path)

    if not blobs:
        return []
    outcomes = [push(blobs[0])]
    rest = blobs[1:]
    if jobs <= 1 or len(rest) <= 1:
        return outcomes + [push(b) for b in rest]
    with ThreadPoolExecutor(max_workers=min(jobs, len(rest)), thread_name_prefix="kocache-push") as pool:
        futures = [pool.submit(push, b) for b in rest]
        wait(futures, return_when=FIRST_EXCEPTION)
        for f in futures:
            f.cancel()
    for f in futures:
        if not f.cancelled() and f.exception() is not None:
            raise f.exception()  # type: ignore[misc]
    return outcomes + [f.result() for f in futures]


def push_image(
    client: RegistryClient, repository: str, plan: PushPlan, tags: Sequence[str], *, jobs: int = DEFAULT_JOBS
) -> PushReport:
    """Make `tags` of `repository` name the plan's root, pushing only what the registry lacks."""
    root = plan.root
    report = PushReport(f"{client.registry}/{repository}@{root.descriptor.digest}")
    if client.head_manifest(repository, root.descriptor.digest) is not None:
        report.already_complete = True
    else:
        for outcome in _push_blobs(client, repository, plan.blobs, jobs):
            report.blobs[outcome] += 1
        for doc in plan.documents:
            d = doc.descriptor
            if doc is not root and client.head_manifest(repository, d.digest) is not None:
                report.documents_present += 1
                continue
            client.put_manifest(repository, d.digest, doc.data, d.media_type)
            report.documents_pushed += 1
    for tag in tags:
        current = client.head_manifest(repository, tag)
        if current is not None and current.digest == root.descriptor.digest:
            report.tags_unchanged.append(tag)
            continue
        client.put_manifest(repository, tag, root.data, root.descriptor.media_type)
        report.tags_pushed.append(tag)
    return report
