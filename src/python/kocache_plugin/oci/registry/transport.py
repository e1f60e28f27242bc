"""HTTP(S) to registries over http.client: schemes, TLS, pooled connections, retries, redirects, streaming bodies.

- https by default, verified against the system CA bundle (plus `ca_file` when given). Plain http only
  for a registry marked insecure or on loopback (127.0.0.0/8, localhost, [::1]); for those a TLS
  handshake is tried first and http is used only if the server does not speak TLS. An insecure
  registry's TLS certificate is not verified (Docker's "insecure-registries" meaning).
- Retries with exponential backoff and jitter on 408/429/5xx, resets, refusals and timeouts,
  honouring Retry-After (capped), bounded by both an attempt count and a total time per operation.
  The final error names the registry, the operation and the last failure, never a credential.
- Request bodies are bytes or a file section, streamed from disk on every attempt.
- GET/HEAD redirects are followed; Authorization is dropped when the redirect leaves the origin.
"""

from __future__ import annotations

import email.utils
import http.client
import ipaddress
import json
import logging
import random
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Tuple, Union
from urllib.parse import urljoin, urlsplit

from kocache_plugin.oci.registry.counters import ClientCounters
from kocache_plugin.oci.registry.errors import (
    RegistryProtocolError,
    RegistryUnreachable,
    TLSVerificationFailed,
)

_log = logging.getLogger(__name__)  # method, redacted URL and status only: never headers

USER_AGENT = "kocache-registry-client/1"
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
ERROR_BODY_LIMIT = 64 * 1024
_BLOCK_SIZE = 256 * 1024
_MAX_IDLE_PER_HOST = 8
# Failures of the network or of the peer that may well go away on a second try.
TRANSIENT_ERRORS = (
    ConnectionError,  # refused, reset, aborted, broken pipe, RemoteDisconnected
    socket.timeout,
    http.client.IncompleteRead,
    http.client.BadStatusLine,
    ssl.SSLError,  # TLS record/EOF errors; certificate failures are raised before this is consulted
    OSError,  # e.g. network unreachable
)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts and total seconds are both bounds, whichever is hit first."""

    max_attempts: int = 6
    initial_backoff: float = 0.25
    max_backoff: float = 10.0
    multiplier: float = 2.0
    jitter: float = 0.3  # each delay is reduced by up to this fraction, at random
    total_timeout: float = 300.0  # seconds for one operation, retries and sleeps included
    retry_after_cap: float = 60.0
    connect_timeout: float = 15.0
    read_timeout: float = 60.0  # per socket operation: a stalled server fails after this

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("RetryPolicy.max_attempts must be at least 1")
        for name in ("initial_backoff", "max_backoff", "total_timeout", "connect_timeout", "read_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"RetryPolicy.{name} must be positive")
        if not 0 <= self.jitter < 1:
            raise ValueError("RetryPolicy.jitter must be in [0, 1)")


class Attempts:
    """The retry budget of one operation (e.g. "upload blob sha256:... to repo"), shared by its requests."""

    def __init__(
        self,
        policy: RetryPolicy,
        registry: str,
        operation: str,
        *,
        counters: Optional[ClientCounters] = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.policy = policy
        self.registry = registry
        self.operation = operation
        self._counters = counters
        self._clock = clock
        self._sleep = sleep
        self._rand = rand
        self.started = clock()
        self.failures = 0
        self.last_failure = ""
        self.last_status: Optional[int] = None

    def elapsed(self) -> float:
        return self._clock() - self.started

    def remaining(self) -> float:
        return self.policy.total_timeout - self.elapsed()

    def socket_timeout(self, base: float) -> float:
        """`base`, shortened so that one blocking call cannot outlive the operation's budget."""
        return max(0.05, min(base, self.remaining()))

    def check(self) -> None:
        """Raise if the budget is already spent (called before each attempt)."""
        if self.remaining() <= 0:
            raise self.exhausted("time budget spent")

    def retry(self, failure: str, status: Optional[int] = None, retry_after: Optional[float] = None) -> None:
        """Record a retryable failure, then sleep before the next attempt or raise RegistryUnreachable."""
        self.failures += 1
        self.last_failure = failure
        self.last_status = status
        if self.failures >= self.policy.max_attempts:
            raise self.exhausted()
        if retry_after is not None:
            delay = min(max(retry_after, 0.0), self.policy.retry_after_cap)
        else:
            base = min(
                self.policy.max_backoff,
                self.policy.initial_backoff * self.policy.multiplier ** (self.failures - 1),
            )
            delay = base * (1 - self.policy.jitter * self._rand())
        if delay >= self.remaining():
            note = f"the next retry (in {delay:.1f}s) would exceed the {self.policy.total_timeout:.0f}s budget"
            raise self.exhausted(note)
        if self._counters is not None:
            self._counters.add("retries")
        self._sleep(delay)

    def exhausted(self, note: str = "") -> RegistryUnreachable:
        message = (
            f"{self.operation} on registry {self.registry} failed after {max(self.failures, 1)} "
            f"attempt(s) in {self.elapsed():.1f}s; last error: {self.last_failure or 'none'}"
        )
        if note:
            message += f" ({note})"
        return RegistryUnreachable(
            message,
            registry=self.registry,
            operation=self.operation,
            last_status=self.last_status,
            attempts=self.failures,
        )


class TransientError(Exception):
    """A failure worth retrying, raised by requests made with retry=False so the caller can restart a sequence."""

    def __init__(self, description: str, status: Optional[int] = None, retry_after: Optional[float] = None):
        super().__init__(description)
        self.description = description
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class FileBody:
    """`length` bytes of the file at `path` from `offset`: re-read from disk on each attempt, never held in memory."""

    path: str
    offset: int
    length: int


Body = Union[None, bytes, FileBody]


class FileChanged(ValueError):
    """A file being uploaded ended early: a local problem that retrying cannot fix."""


class _SliceReader:
    """A file-like view of a FileBody for http.client, counting the bytes handed to the socket."""

    def __init__(self, f, length: int, on_bytes: Callable[[int], None]) -> None:
        self._f = f
        self._remaining = length
        self._on_bytes = on_bytes

    def read(self, n: int = -1) -> bytes:
        if self._remaining <= 0:
            return b""
        n = self._remaining if n is None or n < 0 else min(n, self._remaining)
        data = self._f.read(n)
        if not data:
            raise FileChanged("file to upload is shorter than expected (changed while uploading?)")
        self._remaining -= len(data)
        self._on_bytes(len(data))
        return data


def is_loopback_host(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1 (host without port; IPv6 with or without brackets)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def split_host_port(host_port: str) -> Tuple[str, Optional[int]]:
    """("host", port) from "host[:port]" or "[v6]:port"; the host comes back without brackets."""
    parts = urlsplit(f"//{host_port}")
    try:
        port = parts.port
    except ValueError:
        raise RegistryProtocolError(f"invalid host:port {host_port!r}") from None
    return parts.hostname or host_port, port


def redact_url(url: str) -> str:
    """scheme://host[:port]/path: no query (storage redirects carry signatures there) and no userinfo."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{parts.scheme}://{host}{f':{port}' if port else ''}{parts.path}"


def describe_error_body(data: bytes) -> str:
    """A short summary of a registry error body ({"errors": [{"code", "message"}]}), or ""."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        text = data[:200].decode("utf-8", "replace").strip()
        return " ".join(text.split())
    errors = doc.get("errors") if isinstance(doc, dict) else None
    if not isinstance(errors, list):
        return ""
    parts = []
    for err in errors[:3]:
        if isinstance(err, dict):
            code, message = err.get("code", ""), err.get("message", "")
            parts.append(f"{code}: {message}" if code and message else str(code or message))
    return "; ".join(parts)


def error_codes(data: bytes) -> List[str]:
    """The `code`s of a registry error body."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return []
    errors = doc.get("errors") if isinstance(doc, dict) else None
    if not isinstance(errors, list):
        return []
    return [str(e.get("code")) for e in errors if isinstance(e, dict) and e.get("code")]


def parse_retry_after(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent or unparsable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = datetime.now(timezone.utc).timestamp() if now is None else now
    return max(0.0, when.timestamp() - current)


def describe_exception(e: BaseException) -> str:
    if isinstance(e, socket.timeout):
        return "timed out waiting for the server"
    if isinstance(e, http.client.RemoteDisconnected):
        return "server closed the connection without a response"
    if isinstance(e, ConnectionResetError):
        return "connection reset by peer"
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    if isinstance(e, BrokenPipeError):
        return "connection closed while sending (broken pipe)"
    if isinstance(e, http.client.IncompleteRead):
        return f"response body cut short after {len(e.partial)} bytes"
    return f"{type(e).__name__}: {e}"


class Response:
    """A response whose body has not been read yet: read() it, iterate it, or close() it."""

    def __init__(
        self,
        raw: http.client.HTTPResponse,
        url: str,
        release: Callable[[bool], None],
    ) -> None:
        self._raw = raw
        self.url = url
        self.status: int = raw.status
        self.reason: str = raw.reason
        self.headers = raw.headers
        self._release = release
        self._done = False

    def header(self, name: str) -> Optional[str]:
        return self.headers.get(name)

    def _finish(self, reusable: bool) -> None:
        if not self._done:
            self._done = True
            # Only a fully consumed body leaves the connection in a state fit for the next request.
            self._release(reusable and self._raw.isclosed() and not self._raw.will_close)

    def read(self, limit: Optional[int] = None) -> bytes:
        """The whole body; RegistryProtocolError if it is longer than `limit`."""
        try:
            data = self._raw.read() if limit is None else self._raw.read(limit + 1)
        except BaseException:
            self._finish(False)
            raise
        if limit is not None and len(data) > limit:
            self._finish(False)
            raise RegistryProtocolError(f"response from {redact_url(self.url)} is larger than {limit} bytes")
        self._finish(True)
        return data

    def iter_chunks(self, size: int = 1 << 20) -> Iterator[bytes]:
        """The body in chunks of at most `size` bytes; the connection is released at the end."""
        try:
            while True:
                chunk = self._raw.read(size)
                if not chunk:
                    break
                yield chunk
        except BaseException:
            self._finish(False)
            raise
        self._finish(True)

    def error_body(self) -> bytes:
        """Read a (bounded) error body; never raises (b"" when it cannot be read)."""
        try:
            data = self._raw.read(ERROR_BODY_LIMIT)
            self._finish(True)
        except Exception:
            self._finish(False)
            return b""
        return data

    def error_detail(self) -> str:
        """Read a (bounded) error body and summarize it; never raises."""
        return describe_error_body(self.error_body())

    def close(self) -> None:
        """Discard the response; the connection is closed unless the body was already consumed."""
        self._finish(False)


class Transport:
    """Connections to one registry (and the token realms and storage it redirects to)."""

    def __init__(
        self,
        registry_host: str,
        *,
        insecure: bool = False,
        ca_file: Optional[str] = None,
        counters: Optional[ClientCounters] = None,
        user_agent: str = USER_AGENT,
    ) -> None:
        self.registry_host = registry_host
        self.insecure = insecure
        self.ca_file = ca_file
        self.counters = counters if counters is not None else ClientCounters()
        self.user_agent = user_agent
        self._lock = threading.Lock()
        self._idle: Dict[Tuple[str, str, int], List[http.client.HTTPConnection]] = {}
        self._schemes: Dict[str, str] = {}
        self._contexts: Dict[bool, ssl.SSLContext] = {}

    # -- schemes and TLS -------------------------------------------------------------------------

    def _http_allowed(self, host: str) -> bool:
        """Plain http only towards the insecure registry itself or loopback."""
        registry_hostname, _ = split_host_port(self.registry_host)
        return is_loopback_host(host) or (self.insecure and host.lower() == registry_hostname.lower())

    def _verify_tls(self, host: str) -> bool:
        registry_hostname, _ = split_host_port(self.registry_host)
        return not (self.insecure and host.lower() == registry_hostname.lower())

    def ssl_context(self, verify: bool = True) -> ssl.SSLContext:
        with self._lock:
            ctx = self._contexts.get(verify)
            if ctx is None:
                ctx = ssl.create_default_context()
                if verify:
                    if self.ca_file:
                        ctx.load_verify_locations(cafile=self.ca_file)
                else:
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                self._contexts[verify] = ctx
            return ctx

    def _tls_failure(self, host: str, port: int, e: ssl.SSLCertVerificationError) -> TLSVerificationFailed:
        reason = getattr(e, "verify_message", "") or str(e)
        hint = (
            f"pass ca_file=<PEM bundle of the CA that signed it> (currently {self.ca_file})"
            if self.ca_file
            else "pass ca_file=<PEM bundle of its CA> for a private CA"
        )
        return TLSVerificationFailed(
            f"TLS certificate of {host}:{port} is not trusted ({reason}); {hint}, "
            "or mark the registry insecure to skip verification",
            registry=self.registry_host,
            operation="TLS handshake",
        )

    def base_url(self, attempts: Attempts) -> str:
        """scheme://host[:port] of the registry, probing TLS first for loopback/insecure registries."""
        with self._lock:
            scheme = self._schemes.get(self.registry_host)
        if scheme is None:
            scheme = self._probe_scheme(attempts)
            with self._lock:
                self._schemes[self.registry_host] = scheme
        return f"{scheme}://{self.registry_host}"

    def _probe_scheme(self, attempts: Attempts) -> str:
        host, port = split_host_port(self.registry_host)
        if not self._http_allowed(host):
            return "https"
        while True:
            attempts.check()
            conn = http.client.HTTPSConnection(
                host,
                port or 443,
                timeout=attempts.socket_timeout(attempts.policy.connect_timeout),
                context=self.ssl_context(self._verify_tls(host)),
            )
            try:
                conn.connect()
                return "https"
            except ssl.SSLCertVerificationError as e:
                raise self._tls_failure(host, port or 443, e) from None
            except (ssl.SSLError, ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
                # The server answered, but not with TLS: a plain-http registry.
                return "http"
            except TRANSIENT_ERRORS as e:
                attempts.retry(describe_exception(e))
            finally:
                conn.close()

    # -- connections -----------------------------------------------------------------------------

    def _connect(self, scheme: str, host: str, port: int, attempts: Attempts) -> http.client.HTTPConnection:
        timeout = attempts.socket_timeout(attempts.policy.connect_timeout)
        conn: http.client.HTTPConnection
        if scheme == "https":
            conn = http.client.HTTPSConnection(
                host, port, timeout=timeout, context=self.ssl_context(self._verify_tls(host)), blocksize=_BLOCK_SIZE
            )
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout, blocksize=_BLOCK_SIZE)
        try:
            conn.connect()
        except ssl.SSLCertVerificationError as e:
            conn.close()
            raise self._tls_failure(host, port, e) from None
        except BaseException:
            conn.close()
            raise
        return conn

    def _checkout(
        self, key: Tuple[str, str, int], fresh: bool, attempts: Attempts
    ) -> Tuple[http.client.HTTPConnection, bool]:
        if not fresh:
            with self._lock:
                idle = self._idle.get(key)
                if idle:
                    return idle.pop(), True
        return self._connect(*key, attempts), False

    def _checkin(self, key: Tuple[str, str, int], conn: http.client.HTTPConnection, reusable: bool) -> None:
        if reusable:
            with self._lock:
                idle = self._idle.setdefault(key, [])
                if len(idle) < _MAX_IDLE_PER_HOST:
                    idle.append(conn)
                    return
        conn.close()

    def close(self) -> None:
        """Close idle connections (in-flight responses close theirs when done)."""
        with self._lock:
            conns = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
        for conn in conns:
            conn.close()

    # -- requests --------------------------------------------------------------------------------

    def _split(self, url: str) -> Tuple[Tuple[str, str, int], str]:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise RegistryProtocolError(f"unsupported URL {redact_url(url)!r}", registry=self.registry_host)
        host = parts.hostname
        if scheme == "http" and not self._http_allowed(host):
            raise RegistryProtocolError(
                f"refusing plain-http URL {redact_url(url)}: only loopback "
                f"hosts and registries marked insecure may use http",
                registry=self.registry_host,
            )
        port = parts.port or (443 if scheme == "https" else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return (scheme, host, port), target

    def _send_once(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Body,
        attempts: Attempts,
        fresh: bool,
        on_body_bytes: Optional[Callable[[int], None]],
    ) -> Response:
        key, target = self._split(url)
        conn, reused = self._checkout(key, fresh, attempts)
        try:
            conn.sock.settimeout(attempts.socket_timeout(attempts.policy.read_timeout))
            all_headers = {"User-Agent": self.user_agent}
            all_headers.update(headers)
            self.counters.add("requests")
            if isinstance(body, FileBody):
                all_headers["Content-Length"] = str(body.length)
                with open(body.path, "rb") as f:
                    f.seek(body.offset)
                    reader = _SliceReader(f, body.length, on_body_bytes or (lambda n: None))
                    conn.request(method, target, body=reader, headers=all_headers)
            elif isinstance(body, bytes):
                all_headers["Content-Length"] = str(len(body))
                conn.request(method, target, body=body, headers=all_headers)
                if on_body_bytes is not None:
                    on_body_bytes(len(body))
            else:
                if method in ("POST", "PUT", "PATCH"):
                    all_headers["Content-Length"] = "0"
                conn.request(method, target, headers=all_headers)
            raw = conn.getresponse()
            _log.debug("%s %s -> %s", method, redact_url(url), raw.status)
        except BaseException as e:
            conn.close()
            if reused and isinstance(e, (ConnectionError, http.client.BadStatusLine)):
                raise _StaleConnection() from e
            raise
        return Response(raw, url, lambda reusable: self._checkin(key, conn, reusable))

    def request(
        self,
        method: str,
        url: str,
        *,
        attempts: Attempts,
        headers: Optional[Mapping[str, str]] = None,
        body: Body = None,
        retry: bool = True,
        follow_redirects: bool = True,
        on_body_bytes: Optional[Callable[[int], None]] = None,
    ) -> Response:
        """Send a request, retrying within `attempts` when `retry`; returns the final response.

        With retry=False (request bodies that must not be replayed blindly, such as upload chunks)
        a transient failure raises TransientError and a retryable status is returned as is; such
        requests always use a fresh connection so that a stale keep-alive cannot fail them.
        """
        headers = dict(headers or {})
        hops = 0
        stale_retries = 0
        while True:
            attempts.check()
            try:
                resp = self._send_once(method, url, headers, body, attempts, not retry, on_body_bytes)
            except TLSVerificationFailed:
                raise
            except _StaleConnection as e:
                # An idle keep-alive connection the server had closed: try once more on a new one.
                stale_retries += 1
                if stale_retries <= 2:
                    continue
                cause = e.__cause__ or e
                if not retry:
                    raise TransientError(describe_exception(cause)) from cause
                attempts.retry(describe_exception(cause))
                continue
            except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError):
                raise  # a local file to upload, not the network
            except TRANSIENT_ERRORS as e:
                if not retry:
                    raise TransientError(describe_exception(e)) from e
                attempts.retry(describe_exception(e))
                continue
            if retry and resp.status in RETRYABLE_STATUSES:
                retry_after = parse_retry_after(resp.header("Retry-After"))
                detail = resp.error_detail()
                failure = f"HTTP {resp.status}" + (f" ({detail})" if detail else "")
                if retry_after is not None:
                    failure += f", Retry-After {resp.header('Retry-After')}"
                attempts.retry(failure, resp.status, retry_after)
                continue
            if follow_redirects and method in ("GET", "HEAD") and resp.status in REDIRECT_STATUSES:
                location = resp.header("Location")
                resp.error_detail()  # drain so the connection can be reused
                if not location:
                    raise RegistryProtocolError(
                        f"{method} {redact_url(url)} answered {resp.status} without a Location header",
                        registry=self.registry_host,
                        operation=attempts.operation,
                    )
                hops += 1
                if hops > MAX_REDIRECTS:
                    raise RegistryProtocolError(
                        f"{method} {redact_url(url)}: more than {MAX_REDIRECTS} redirects",
                        registry=self.registry_host,
                        operation=attempts.operation,
                    )
                new_url = urljoin(url, location)
                if _origin(new_url) != _origin(url):
                    headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
                url = new_url
                continue
            return resp


class _StaleConnection(Exception):
    """A reused keep-alive connection failed before any response arrived."""


def _origin(url: str) -> Tuple[str, str, Optional[int]]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or (443 if scheme == "https" else 80)
