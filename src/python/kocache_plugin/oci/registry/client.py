"""RegistryClient: the OCI distribution-spec operations kocache needs, for one registry.

Pulls verify every byte against its digest before it is used or renamed into place; pushes send
the exact manifest bytes given (so the digest computed locally is the digest in the registry),
HEAD before uploading, and stream blobs from disk (one PUT, or PATCH chunks for large blobs).
Orchestrating a whole image push is left to the caller.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union
from urllib.parse import urlencode, urljoin, urlsplit

from kocache_plugin.oci.descriptor import Descriptor
from kocache_plugin.oci.digest import parse_digest, sha256_digest
from kocache_plugin.oci.image_index import InvalidIndex, parse_index
from kocache_plugin.oci.manifest import InvalidManifest, parse_manifest
from kocache_plugin.oci.media_types import (
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST_V2,
    OCI_INDEX,
    OCI_MANIFEST,
    is_index,
    is_manifest,
)
from kocache_plugin.oci.platform import Platform
from kocache_plugin.oci.registry.auth import Authenticator, Authorization, canonical_scopes, repository_scope
from kocache_plugin.oci.registry.counters import ClientCounters
from kocache_plugin.oci.registry.docker_config import CredentialsProvider, DockerConfigProvider
from kocache_plugin.oci.registry.errors import (
    DigestMismatch,
    NotFound,
    PlatformNotFound,
    RegistryProtocolError,
)
from kocache_plugin.oci.registry.reference import (
    Reference,
    check_repository,
    check_tag_or_digest,
    registry_api_host,
)
from kocache_plugin.oci.registry.transport import (
    RETRYABLE_STATUSES,
    Attempts,
    FileBody,
    Response,
    RetryPolicy,
    Transport,
    TransientError,
    TRANSIENT_ERRORS,
    describe_error_body,
    describe_exception,
    error_codes,
    parse_retry_after,
)

MANIFEST_ACCEPT: Tuple[str, ...] = (OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST_V2)
MANIFEST_SIZE_LIMIT = 4 * 1024 * 1024  # distribution-spec: registries should accept at least 4 MiB
DEFAULT_BLOB_BYTES_LIMIT = 16 * 1024 * 1024
DEFAULT_CHUNK_SIZE = 16 * 1024 * 1024
DEFAULT_MONOLITHIC_THRESHOLD = 64 * 1024 * 1024
_MAX_AUTH_ROUNDS = 3
_GENERIC_CONTENT_TYPES = ("", "application/json", "text/plain", "application/octet-stream")

UPLOADED = "uploaded"
PRESENT = "present"
MOUNTED = "mounted"


class Resolution(NamedTuple):
    """What a reference resolved to: the document it names, and the image manifest for the platform.

    For a single-platform image both are the same descriptor.
    """

    root: Descriptor
    manifest: Descriptor


def _media_type(header: Optional[str]) -> str:
    return (header or "").split(";")[0].strip().lower()


def _is_digest(ref: str) -> bool:
    return ":" in ref


def _with_query(url: str, **params: str) -> str:
    return url + ("&" if urlsplit(url).query else "?") + urlencode(params)


def _parse_range_end(value: Optional[str]) -> Optional[int]:
    """The inclusive end offset from an upload Range header ("0-1023" or "bytes=0-1023")."""
    if not value:
        return None
    value = value.strip()
    if value.startswith("bytes="):
        value = value[len("bytes=") :]
    start, sep, end = value.partition("-")
    if not sep or not start.isdigit() or not end.isdigit():
        return None
    return int(end)


class RegistryClient:
    """A client for one registry host.

    `registry` is the name used in references ("ghcr.io", "127.0.0.1:5000", "docker.io"); Docker
    Hub's API host is substituted automatically. `insecure` allows plain http and skips TLS
    verification for this registry; loopback registries may use plain http regardless.
    `credentials_provider` maps a registry name to Credentials (default: Docker's config.json).
    """

    def __init__(
        self,
        registry: str,
        *,
        insecure: bool = False,
        ca_file: Optional[str] = None,
        credentials_provider: Optional[CredentialsProvider] = None,
        retry_policy: RetryPolicy = RetryPolicy(),
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        monolithic_threshold: int = DEFAULT_MONOLITHIC_THRESHOLD,
        counters: Optional[ClientCounters] = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        self.registry = registry
        self.host = registry_api_host(registry)
        self.retry_policy = retry_policy
        self.chunk_size = chunk_size
        self.monolithic_threshold = monolithic_threshold
        self.counters = counters if counters is not None else ClientCounters()
        self._sleep = sleep
        self.transport = Transport(self.host, insecure=insecure, ca_file=ca_file, counters=self.counters)
        provider = credentials_provider if credentials_provider is not None else DockerConfigProvider()
        self.auth = Authenticator(registry, self.transport, provider, counters=self.counters)

    def __repr__(self) -> str:
        return f"RegistryClient({self.registry!r})"

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> "RegistryClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- plumbing --------------------------------------------------------------------------------

    def _attempts(self, operation: str) -> Attempts:
        return Attempts(self.retry_policy, self.registry, operation, counters=self.counters, sleep=self._sleep)

    def _request(
        self,
        method: str,
        path_or_url: str,
        *,
        attempts: Attempts,
        scopes: Sequence[str],
        repository: str,
        headers: Optional[dict] = None,
        body=None,
        retry: bool = True,
        on_body_bytes: Optional[Callable[[int], None]] = None,
    ) -> Response:
        """One registry request, authorized for `scopes`; 401s are answered, 403 raises."""
        base = self.transport.base_url(attempts)
        self.auth.ping(base, attempts)
        url = path_or_url if "://" in path_or_url else base + path_or_url
        same_origin = urlsplit(url).netloc.lower() == urlsplit(base).netloc.lower()
        current = canonical_scopes(scopes)
        for _ in range(_MAX_AUTH_ROUNDS):
            authz = self.auth.authorization(current, attempts, repository) if same_origin else Authorization(None)
            all_headers = dict(headers or {})
            if authz.header:
                all_headers["Authorization"] = authz.header
            resp = self.transport.request(
                method,
                url,
                attempts=attempts,
                headers=all_headers,
                body=body,
                retry=retry,
                on_body_bytes=on_body_bytes,
            )
            if resp.status == 401:
                challenge = resp.header("WWW-Authenticate")
                resp.error_detail()
                current = self.auth.on_unauthorized(
                    challenge, current, authz, repository=repository, operation=attempts.operation
                )
                continue
            if resp.status == 403:
                detail = resp.error_detail()
                raise self.auth.failure(
                    "denied access (HTTP 403" + (f": {detail})" if detail else ")"),
                    repository=repository,
                    operation=attempts.operation,
                    status=403,
                )
            return resp
        raise self.auth.failure(
            f"kept answering 401 after {_MAX_AUTH_ROUNDS} authorization attempts",
            repository=repository,
            operation=attempts.operation,
            status=401,
        )

    def _unexpected(self, resp: Response, attempts: Attempts) -> RegistryProtocolError:
        detail = resp.error_detail()
        return RegistryProtocolError(
            f"{attempts.operation}: registry {self.registry} answered unexpected HTTP {resp.status}"
            + (f" ({detail})" if detail else ""),
            registry=self.registry,
            operation=attempts.operation,
        )

    def _not_found(self, resp: Response, attempts: Attempts, what: str, reference: str) -> NotFound:
        data_detail = resp.error_detail()
        return NotFound(
            f"{what} {reference} not found" + (f" ({data_detail})" if data_detail else ""),
            registry=self.registry,
            operation=attempts.operation,
            reference=reference,
        )

    @staticmethod
    def _pull(repo: str) -> List[str]:
        return [repository_scope(repo, "pull")]

    @staticmethod
    def _push(repo: str) -> List[str]:
        return [repository_scope(repo, "pull", "push")]

    def _name(self, repo: str, ref: str) -> str:
        return f"{self.registry}/{repo}{'@' if _is_digest(ref) else ':'}{ref}"

    # -- manifests -------------------------------------------------------------------------------

    def get_manifest(
        self, repo: str, ref: str, accept: Sequence[str] = MANIFEST_ACCEPT
    ) -> Tuple[bytes, str, str]:
        """(bytes, media type, digest) of a manifest or index, by tag or digest; the digest is verified."""
        check_repository(repo)
        check_tag_or_digest(ref)
        name = self._name(repo, ref)
        attempts = self._attempts(f"get manifest {name}")
        while True:
            resp = self._request(
                "GET",
                f"/v2/{repo}/manifests/{ref}",
                attempts=attempts,
                scopes=self._pull(repo),
                repository=repo,
                headers={"Accept": ", ".join(accept)},
            )
            if resp.status == 404:
                raise self._not_found(resp, attempts, "manifest", name)
            if resp.status != 200:
                raise self._unexpected(resp, attempts)
            try:
                data = resp.read(MANIFEST_SIZE_LIMIT)
            except TRANSIENT_ERRORS as e:
                attempts.retry(describe_exception(e))
                continue
            break
        digest = sha256_digest(data)
        if _is_digest(ref) and parse_digest(ref)[0] == "sha256" and digest != ref:
            raise DigestMismatch(
                f"{attempts.operation}: registry {self.registry} returned content with digest {digest}",
                registry=self.registry,
                operation=attempts.operation,
            )
        header = resp.header("Docker-Content-Digest")
        if header and header.startswith("sha256:") and header != digest:
            raise DigestMismatch(
                f"{attempts.operation}: Docker-Content-Digest {header} does not match the content ({digest})",
                registry=self.registry,
                operation=attempts.operation,
            )
        media_type = _media_type(resp.header("Content-Type"))
        if media_type in _GENERIC_CONTENT_TYPES:
            media_type = self._media_type_from_document(data, attempts)
        return data, media_type, digest

    def _media_type_from_document(self, data: bytes, attempts: Attempts) -> str:
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            doc = None
        media_type = doc.get("mediaType") if isinstance(doc, dict) else None
        if isinstance(media_type, str) and media_type:
            return media_type
        if isinstance(doc, dict) and "manifests" in doc:
            return OCI_INDEX
        if isinstance(doc, dict) and "config" in doc:
            return OCI_MANIFEST
        raise RegistryProtocolError(
            f"{attempts.operation}: no usable Content-Type and the document names no mediaType",
            registry=self.registry,
            operation=attempts.operation,
        )

    def head_manifest(self, repo: str, ref: str, accept: Sequence[str] = MANIFEST_ACCEPT) -> Optional[Descriptor]:
        """The descriptor of a manifest (by tag or digest), or None if it does not exist."""
        check_repository(repo)
        check_tag_or_digest(ref)
        attempts = self._attempts(f"head manifest {self._name(repo, ref)}")
        resp = self._request(
            "HEAD",
            f"/v2/{repo}/manifests/{ref}",
            attempts=attempts,
            scopes=self._pull(repo),
            repository=repo,
            headers={"Accept": ", ".join(accept)},
        )
        resp.error_detail()
        if resp.status == 404:
            return None
        if resp.status != 200:
            raise self._unexpected(resp, attempts)
        digest = resp.header("Docker-Content-Digest") or (ref if _is_digest(ref) else None)
        length = resp.header("Content-Length")
        media_type = _media_type(resp.header("Content-Type"))
        if digest and length and length.isdigit() and media_type not in _GENERIC_CONTENT_TYPES:
            return Descriptor(media_type=media_type, digest=digest, size=int(length))
        # Some registries omit headers on HEAD: fall back to fetching the document.
        data, media_type, digest = self.get_manifest(repo, ref, accept)
        return Descriptor(media_type=media_type, digest=digest, size=len(data))

    def put_manifest(self, repo: str, ref: str, data: bytes, media_type: str) -> str:
        """Push `data` byte for byte under a tag or digest; returns its digest."""
        check_repository(repo)
        check_tag_or_digest(ref)
        if not isinstance(data, bytes):
            raise TypeError("put_manifest needs the exact manifest bytes")
        digest = sha256_digest(data)
        name = self._name(repo, ref)
        attempts = self._attempts(f"put manifest {name}")
        if _is_digest(ref) and ref != digest:
            raise DigestMismatch(
                f"{attempts.operation}: the manifest bytes have digest {digest}, not {ref}",
                registry=self.registry,
                operation=attempts.operation,
            )
        resp = self._request(
            "PUT",
            f"/v2/{repo}/manifests/{ref}",
            attempts=attempts,
            scopes=self._push(repo),
            repository=repo,
            headers={"Content-Type": media_type},
            body=data,
        )
        if resp.status not in (200, 201, 202):
            detail = resp.error_detail()
            raise RegistryProtocolError(
                f"{attempts.operation}: registry {self.registry} rejected the manifest (HTTP {resp.status}"
                + (f": {detail})" if detail else ")"),
                registry=self.registry,
                operation=attempts.operation,
            )
        header = resp.header("Docker-Content-Digest")
        resp.error_detail()
        if header and header != digest:
            raise DigestMismatch(
                f"{attempts.operation}: registry stored digest {header}, but the bytes sent have {digest}",
                registry=self.registry,
                operation=attempts.operation,
            )
        return digest

    # -- blobs: pull -----------------------------------------------------------------------------

    def _blob_chunks(self, resp: Response) -> Iterator[bytes]:
        try:
            for chunk in resp.iter_chunks():
                self.counters.add("blob_bytes_downloaded", len(chunk))
                yield chunk
        except TRANSIENT_ERRORS as e:
            raise TransientError(describe_exception(e)) from e

    def _open_blob(self, repo: str, digest: str, attempts: Attempts) -> Response:
        resp = self._request(
            "GET", f"/v2/{repo}/blobs/{digest}", attempts=attempts, scopes=self._pull(repo), repository=repo
        )
        if resp.status == 404:
            raise self._not_found(resp, attempts, "blob", f"{self.registry}/{repo}@{digest}")
        if resp.status != 200:
            raise self._unexpected(resp, attempts)
        return resp

    def get_blob(self, repo: str, digest: str, dest_path: Union[str, os.PathLike], size: Optional[int] = None) -> int:
        """Download a blob to `dest_path` (via a temp file, renamed only once sha256 matches); returns its size."""
        check_repository(repo)
        self._require_sha256(digest)
        dest = Path(dest_path)
        attempts = self._attempts(f"get blob {self.registry}/{repo}@{digest}")
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=str(dest.parent))
        os.close(fd)
        try:
            while True:
                resp = self._open_blob(repo, digest, attempts)
                hasher = hashlib.sha256()
                written = 0
                try:
                    with open(tmp, "wb") as f:
                        for chunk in self._blob_chunks(resp):
                            hasher.update(chunk)
                            f.write(chunk)
                            written += len(chunk)
                            if size is not None and written > size:
                                resp.close()
                                break
                except TransientError as e:
                    attempts.retry(e.description)
                    continue
                break
            self._verify(attempts, digest, "sha256:" + hasher.hexdigest(), size, written)
            os.replace(tmp, dest)
            return written
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def get_blob_bytes(self, repo: str, digest: str, max_size: int = DEFAULT_BLOB_BYTES_LIMIT) -> bytes:
        """A small blob (e.g. an image config) in memory, verified against its digest."""
        check_repository(repo)
        self._require_sha256(digest)
        attempts = self._attempts(f"get blob {self.registry}/{repo}@{digest}")
        while True:
            resp = self._open_blob(repo, digest, attempts)
            try:
                data = resp.read(max_size)
            except TRANSIENT_ERRORS as e:
                attempts.retry(describe_exception(e))
                continue
            break
        self.counters.add("blob_bytes_downloaded", len(data))
        self._verify(attempts, digest, sha256_digest(data), None, len(data))
        return data

    def _verify(self, attempts: Attempts, expected: str, actual: str, size: Optional[int], got: int) -> None:
        if size is not None and got != size:
            raise DigestMismatch(
                f"{attempts.operation}: expected {size} bytes, registry sent {got if got <= size else 'more'}",
                registry=self.registry,
                operation=attempts.operation,
            )
        if actual != expected:
            raise DigestMismatch(
                f"{attempts.operation}: content has digest {actual}", registry=self.registry, operation=attempts.operation
            )

    def _require_sha256(self, digest: str) -> None:
        if parse_digest(digest)[0] != "sha256":
            raise ValueError(f"only sha256 blobs are supported, got {digest}")

    # -- blobs: push -----------------------------------------------------------------------------

    def _blob_exists(self, repo: str, digest: str, scopes: Sequence[str], attempts: Attempts) -> bool:
        resp = self._request("HEAD", f"/v2/{repo}/blobs/{digest}", attempts=attempts, scopes=scopes, repository=repo)
        resp.error_detail()
        if resp.status == 200:
            return True
        if resp.status == 404:
            return False
        raise self._unexpected(resp, attempts)

    def blob_exists(self, repo: str, digest: str) -> bool:
        """Whether the repository has the blob (HEAD)."""
        check_repository(repo)
        parse_digest(digest)
        attempts = self._attempts(f"head blob {self.registry}/{repo}@{digest}")
        return self._blob_exists(repo, digest, self._pull(repo), attempts)

    def _mount(self, repo: str, digest: str, from_repo: str, attempts: Attempts) -> bool:
        resp = self._request(
            "POST",
            _with_query(f"/v2/{repo}/blobs/uploads/", mount=digest, **{"from": from_repo}),
            attempts=attempts,
            scopes=self._push(repo) + self._pull(from_repo),
            repository=repo,
        )
        if resp.status == 201:
            resp.error_detail()
            self.counters.add("mounts")
            return True
        if resp.status == 202:
            location = resp.header("Location")
            resp.error_detail()
            if location:
                self._cancel_upload(repo, urljoin(resp.url, location), attempts)
            return False
        raise self._unexpected(resp, attempts)

    def _cancel_upload(self, repo: str, url: str, attempts: Attempts) -> None:
        """Best effort: an abandoned upload session would otherwise linger until the registry purges it."""
        try:
            resp = self._request("DELETE", url, attempts=attempts, scopes=self._push(repo), repository=repo, retry=False)
            resp.error_detail()
        except Exception:
            pass

    def mount_blob(self, repo: str, digest: str, from_repo: str) -> bool:
        """Cross-repository mount of `digest` from `from_repo`; False if the registry declined."""
        check_repository(repo)
        check_repository(from_repo)
        parse_digest(digest)
        attempts = self._attempts(f"mount blob {digest} from {from_repo} into {self.registry}/{repo}")
        return self._mount(repo, digest, from_repo, attempts)

    def upload_blob(
        self,
        repo: str,
        digest: str,
        size: int,
        path: Union[str, os.PathLike],
        *,
        mount_from: Sequence[str] = (),
        check_exists: bool = True,
    ) -> str:
        """Make `digest` present in `repo`, streaming `path` only if needed.

        HEADs first ("present" if already there), then tries mounting from each of `mount_from`
        ("mounted"), else uploads ("uploaded"): one streaming PUT up to `monolithic_threshold`
        bytes, PATCH chunks of `chunk_size` beyond. A failure mid-upload restarts the upload in
        a new session, within the retry policy.
        """
        check_repository(repo)
        self._require_sha256(digest)
        path = os.fspath(path)
        actual_size = os.stat(path).st_size
        if actual_size != size:
            raise ValueError(f"{path} has {actual_size} bytes, but blob {digest} is declared with {size}")
        attempts = self._attempts(f"upload blob {digest} to {self.registry}/{repo}")
        if check_exists and self._blob_exists(repo, digest, self._push(repo), attempts):
            self.counters.add("blobs_skipped")
            return PRESENT
        for source in mount_from:
            if source != repo and self._mount(repo, digest, source, attempts):
                return MOUNTED
        while True:
            try:
                if size <= self.monolithic_threshold:
                    self._upload_monolithic(repo, digest, size, path, attempts)
                else:
                    self._upload_chunked(repo, digest, size, path, attempts)
            except TransientError as e:
                attempts.retry(e.description, e.status, e.retry_after)
                continue
            self.counters.add("blobs_uploaded")
            return UPLOADED

    def _start_upload(self, repo: str, attempts: Attempts) -> Tuple[str, int]:
        resp = self._request(
            "POST", f"/v2/{repo}/blobs/uploads/", attempts=attempts, scopes=self._push(repo), repository=repo
        )
        if resp.status != 202:
            raise self._unexpected(resp, attempts)
        location = resp.header("Location")
        min_chunk = resp.header("OCI-Chunk-Min-Length") or ""
        resp.error_detail()
        if not location:
            raise RegistryProtocolError(
                f"{attempts.operation}: upload started without a Location header",
                registry=self.registry,
                operation=attempts.operation,
            )
        return urljoin(resp.url, location), int(min_chunk) if min_chunk.isdigit() else 0

    def _upload_request(
        self, method: str, url: str, repo: str, attempts: Attempts, body, headers: dict
    ) -> Response:
        """A request carrying upload data: not replayed on its own; transient failures restart the upload."""
        resp = self._request(
            method,
            url,
            attempts=attempts,
            scopes=self._push(repo),
            repository=repo,
            headers=headers,
            body=body,
            retry=False,
            on_body_bytes=lambda n: self.counters.add("blob_bytes_uploaded", n),
        )
        if resp.status in RETRYABLE_STATUSES:
            retry_after = parse_retry_after(resp.header("Retry-After"))
            detail = resp.error_detail()
            raise TransientError(f"HTTP {resp.status}" + (f" ({detail})" if detail else ""), resp.status, retry_after)
        if resp.status in (404, 416):
            # Upload session unknown/expired, or offsets out of step: start over.
            detail = resp.error_detail()
            raise TransientError(f"HTTP {resp.status} during upload" + (f" ({detail})" if detail else ""), resp.status)
        return resp

    def _finish_upload(self, resp: Response, digest: str, attempts: Attempts) -> None:
        if resp.status == 400:
            body = resp.error_body()
            detail = describe_error_body(body) or "HTTP 400"
            if {"DIGEST_INVALID", "SIZE_INVALID"} & set(error_codes(body)):
                raise DigestMismatch(
                    f"{attempts.operation}: registry rejected the upload ({detail}); "
                    "does the file still match its digest?",
                    registry=self.registry,
                    operation=attempts.operation,
                )
            raise RegistryProtocolError(
                f"{attempts.operation}: registry rejected the upload ({detail})",
                registry=self.registry,
                operation=attempts.operation,
            )
        if resp.status not in (201, 204):
            raise self._unexpected(resp, attempts)
        header = resp.header("Docker-Content-Digest")
        resp.error_detail()
        if header and header != digest:
            raise DigestMismatch(
                f"{attempts.operation}: registry stored {header}", registry=self.registry, operation=attempts.operation
            )

    def _upload_monolithic(self, repo: str, digest: str, size: int, path: str, attempts: Attempts) -> None:
        location, _ = self._start_upload(repo, attempts)
        resp = self._upload_request(
            "PUT",
            _with_query(location, digest=digest),
            repo,
            attempts,
            FileBody(path, 0, size),
            {"Content-Type": "application/octet-stream"},
        )
        self._finish_upload(resp, digest, attempts)

    def _upload_chunked(self, repo: str, digest: str, size: int, path: str, attempts: Attempts) -> None:
        location, min_chunk = self._start_upload(repo, attempts)
        chunk = max(self.chunk_size, min_chunk)
        offset = 0
        while offset < size:
            length = min(chunk, size - offset)
            resp = self._upload_request(
                "PATCH",
                location,
                repo,
                attempts,
                FileBody(path, offset, length),
                {
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{offset}-{offset + length - 1}",
                },
            )
            if resp.status != 202:
                raise self._unexpected(resp, attempts)
            new_location = resp.header("Location")
            end = _parse_range_end(resp.header("Range"))
            resp.error_detail()
            if new_location:
                location = urljoin(location, new_location)
            new_offset = offset + length if end is None else end + 1
            if new_offset <= offset or new_offset > size:
                raise RegistryProtocolError(
                    f"{attempts.operation}: registry acknowledged bytes up to {new_offset} after a chunk at "
                    f"{offset}-{offset + length - 1}",
                    registry=self.registry,
                    operation=attempts.operation,
                )
            offset = new_offset
        resp = self._upload_request("PUT", _with_query(location, digest=digest), repo, attempts, None, {})
        self._finish_upload(resp, digest, attempts)

    # -- resolution ------------------------------------------------------------------------------

    def resolve(self, reference: Union[Reference, str], platform: Optional[Platform] = None) -> Resolution:
        """Resolve a (base image) reference to its root document and the image manifest for `platform`.

        For an index, the entry matching `platform` is chosen (without a platform, the index must
        have exactly one image manifest). For a single manifest with a platform given, its config
        is fetched to check that the image is for that platform.
        """
        ref = Reference.parse(reference) if isinstance(reference, str) else reference
        if registry_api_host(ref.registry) != self.host:
            raise ValueError(f"{ref} is not on registry {self.registry}")
        data, media_type, digest = self.get_manifest(ref.repository, ref.identifier)
        root = Descriptor(media_type=media_type, digest=digest, size=len(data))
        if is_manifest(media_type):
            if platform is not None:
                self._check_manifest_platform(ref, data, platform)
            return Resolution(root, root)
        if not is_index(media_type):
            raise RegistryProtocolError(
                f"{ref} is a {media_type}, not an image manifest or index",
                registry=self.registry,
                operation="resolve",
            )
        try:
            entries = parse_index(data)["manifests"]
        except InvalidIndex as e:
            raise RegistryProtocolError(f"{ref}: {e}", registry=self.registry, operation="resolve") from None
        images = [e for e in entries if is_manifest(e.get("mediaType", ""))]
        if platform is None:
            if len(images) == 1:
                return Resolution(root, Descriptor.from_json(images[0]))
            raise PlatformNotFound(
                f"{ref} is a multi-platform index; choose a platform (available: {self._platforms(images)})",
                registry=self.registry,
                operation="resolve",
                reference=str(ref),
            )
        for entry in images:
            if isinstance(entry.get("platform"), dict) and platform.matches(entry["platform"]):
                return Resolution(root, Descriptor.from_json(entry))
        raise PlatformNotFound(
            f"{ref} has no image for platform {platform}; available: {self._platforms(images)}",
            registry=self.registry,
            operation="resolve",
            reference=str(ref),
        )

    @staticmethod
    def _platforms(entries: Sequence[dict]) -> str:
        names = []
        for entry in entries:
            p = entry.get("platform")
            if isinstance(p, dict) and p.get("os") and p.get("architecture"):
                names.append("/".join(x for x in (p["os"], p["architecture"], p.get("variant") or "") if x))
            else:
                names.append("(no platform)")
        return ", ".join(names) or "none"

    def _check_manifest_platform(self, ref: Reference, data: bytes, platform: Platform) -> None:
        try:
            config = Descriptor.from_json(parse_manifest(data)["config"])
        except InvalidManifest as e:
            raise RegistryProtocolError(f"{ref}: {e}", registry=self.registry, operation="resolve") from None
        raw = self.get_blob_bytes(ref.repository, config.digest)
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise RegistryProtocolError(
                f"{ref}: image config {config.digest} is not JSON", registry=self.registry, operation="resolve"
            ) from None
        if not isinstance(doc, dict) or not platform.matches(doc):
            actual = self._platforms([{"platform": doc}]) if isinstance(doc, dict) else "unknown"
            raise PlatformNotFound(
                f"{ref} is a single-platform image for {actual}, not {platform}",
                registry=self.registry,
                operation="resolve",
                reference=str(ref),
            )
