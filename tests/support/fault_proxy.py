"""A threaded HTTP reverse proxy on 127.0.0.1 that injects faults in front of a real registry.

    proxy = FaultProxy("127.0.0.1:5000").start()
    proxy.fail(500, times=2)                       # next 2 matching requests get a 500
    proxy.fail(429, times=1, retry_after=1)        # ... a 429 with Retry-After: 1
    proxy.fail(401, headers={"WWW-Authenticate": 'Bearer realm="..",scope=".."'})  # a challenge
    proxy.reset_upload(times=1, after_bytes=4096)  # read 4 KiB of an upload body, then send a TCP RST
    proxy.stall(seconds=5, times=1)                # hold the request (bounded), then drop the connection
    proxy.redirect_blob_gets("http://127.0.0.1:9999")  # 307 blob GETs elsewhere
    proxy.upload_bytes()                           # request-body bytes of blob uploads seen so far

Faults are matched in the order they were added, by method and a path regex, each for a number of
requests. Every request is recorded (method, path, status, request headers, body bytes, fault).
The Host header is passed through, so the registry's Location headers point back at the proxy.
The proxy stops itself after `max_lifetime` seconds; stalls end early when it stops.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import struct
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, FrozenSet, List, Optional

from tests.support.loopback_http import LoopbackHTTPServer

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "trailers",
     "transfer-encoding", "upgrade"}
)
_UPLOAD_PATH = re.compile(r"/v2/.+/blobs/uploads/")
_BLOB_GET_PATH = r"/v2/.+/blobs/sha256:[a-f0-9]{64}"
_BLOCK = 64 * 1024


@dataclass
class Fault:
    kind: str  # "status" | "reset" | "stall" | "redirect"
    times: int
    methods: Optional[FrozenSet[str]] = None
    path: Optional[str] = None  # regex searched in the request path
    status: int = 500
    retry_after: Optional[str] = None
    after_bytes: int = 0
    seconds: float = 0.0
    target: str = ""
    needs_body: bool = False
    headers: Dict[str, str] = field(default_factory=dict)

    def matches(self, method: str, path: str, has_body: bool) -> bool:
        if self.times <= 0:
            return False
        if self.methods is not None and method not in self.methods:
            return False
        if self.path is not None and not re.search(self.path, path):
            return False
        if self.needs_body and not has_body:
            return False
        return True


@dataclass(frozen=True)
class ProxyRecord:
    method: str
    path: str
    status: Optional[int]  # None when the connection was reset or dropped
    headers: Dict[str, str]
    body_bytes: int
    fault: str = ""  # kind of fault injected, "" when forwarded

    @property
    def is_upload(self) -> bool:
        return self.method in ("POST", "PATCH", "PUT") and bool(_UPLOAD_PATH.search(self.path))


class FaultProxy(LoopbackHTTPServer):
    """See the module docstring."""

    def __init__(self, upstream: str, *, max_lifetime: float = 120.0, upstream_timeout: float = 30.0) -> None:
        super().__init__(max_lifetime)
        self.upstream = upstream  # "host:port", plain http
        self._upstream_timeout = upstream_timeout
        self._lock = threading.Lock()
        self._faults: List[Fault] = []
        self.records: List[ProxyRecord] = []
        self._stopped = threading.Event()

    # -- lifecycle -------------------------------------------------------------------------------

    def _handler_class(self):
        return _make_handler(self)

    def _configure(self, server: ThreadingHTTPServer) -> None:
        server.handle_error = lambda request, client_address: None  # resets are expected here

    def stop(self) -> None:
        self._stopped.set()
        super().stop()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    # -- faults ----------------------------------------------------------------------------------

    def _add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def fail(
        self,
        status: int = 500,
        *,
        times: int = 1,
        retry_after: Optional[float] = None,
        methods: Optional[List[str]] = None,
        path: Optional[str] = None,
        headers: Optional[Dict[str, str]] = None,
    ) -> Fault:
        """Answer the next `times` matching requests with `status` (plus Retry-After and `headers`,
        e.g. a WWW-Authenticate challenge) instead of forwarding them."""
        return self._add(
            Fault(
                "status",
                times,
                frozenset(methods) if methods else None,
                path,
                status=status,
                retry_after=None if retry_after is None else str(int(retry_after)),
                headers=dict(headers or {}),
            )
        )

    def reset_upload(self, *, times: int = 1, after_bytes: int = 1024, methods: Optional[List[str]] = None) -> Fault:
        """Read `after_bytes` of the next blob-upload bodies (PATCH/PUT), then reset the connection."""
        return self._add(
            Fault(
                "reset",
                times,
                frozenset(methods or ("PATCH", "PUT")),
                _UPLOAD_PATH.pattern,
                after_bytes=after_bytes,
                needs_body=True,
            )
        )

    def stall(
        self, seconds: float, *, times: int = 1, methods: Optional[List[str]] = None, path: Optional[str] = None
    ) -> Fault:
        """Hold matching requests for `seconds` (less if the proxy stops), then drop the connection."""
        return self._add(Fault("stall", times, frozenset(methods) if methods else None, path, seconds=seconds))

    def redirect_blob_gets(self, target_base_url: str, *, times: int = 1000) -> Fault:
        """Answer blob GETs with 307 to `target_base_url` + the same path (like a storage redirect)."""
        return self._add(
            Fault("redirect", times, frozenset({"GET"}), _BLOB_GET_PATH, status=307, target=target_base_url.rstrip("/"))
        )

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take(self, method: str, path: str, has_body: bool) -> Optional[Fault]:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path, has_body):
                    fault.times -= 1
                    return fault
        return None

    # -- observation -----------------------------------------------------------------------------

    def _record(self, record: ProxyRecord) -> None:
        with self._lock:
            self.records.append(record)

    def snapshot(self) -> List[ProxyRecord]:
        with self._lock:
            return list(self.records)

    def upload_bytes(self) -> int:
        """Request-body bytes of blob uploads (POST/PATCH/PUT under /blobs/uploads/) received so far."""
        return sum(r.body_bytes for r in self.snapshot() if r.is_upload)

    def count(self, method: Optional[str] = None, path: Optional[str] = None) -> int:
        return sum(
            1
            for r in self.snapshot()
            if (method is None or r.method == method) and (path is None or re.search(path, r.path))
        )


def _make_handler(proxy: FaultProxy):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def finish(self) -> None:
            try:
                super().finish()
            except OSError:
                pass

        def _read_body(self, limit: Optional[int] = None):
            """Yield the request body in blocks (at most `limit` bytes)."""
            remaining = int(self.headers.get("Content-Length") or 0)
            if limit is not None:
                remaining = min(remaining, limit)
            while remaining > 0:
                block = self.rfile.read(min(_BLOCK, remaining))
                if not block:
                    return
                remaining -= len(block)
                yield block

        def _reply(self, status: int, body: bytes = b"", headers: Optional[Dict[str, str]] = None) -> None:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _drop(self, rst: bool) -> None:
            self.close_connection = True
            try:
                if rst:
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                else:
                    self.connection.shutdown(socket.SHUT_RDWR)
                self.connection.close()
            except OSError:
                pass

        def _handle(self) -> None:
            method, path = self.command, self.path
            headers = {k: v for k, v in self.headers.items()}
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                self._reply(501, b"chunked request bodies are not supported by the test proxy")
                return
            has_body = int(self.headers.get("Content-Length") or 0) > 0
            fault = proxy._take(method, path, has_body)
            if fault is not None and fault.kind == "reset":
                got = sum(len(b) for b in self._read_body(fault.after_bytes))
                proxy._record(ProxyRecord(method, path, None, headers, got, "reset"))
                self._drop(rst=True)
                return
            body_bytes = 0
            if fault is not None:
                body_bytes = sum(len(b) for b in self._read_body())
                if fault.kind == "status":
                    proxy._record(ProxyRecord(method, path, fault.status, headers, body_bytes, "status"))
                    extra = {"Content-Type": "application/json"}
                    if fault.retry_after is not None:
                        extra["Retry-After"] = fault.retry_after
                    extra.update(fault.headers)
                    body = json.dumps(
                        {"errors": [{"code": "UNAVAILABLE", "message": f"injected {fault.status}"}]}
                    ).encode()
                    self._reply(fault.status, body, extra)
                elif fault.kind == "stall":
                    proxy._record(ProxyRecord(method, path, None, headers, body_bytes, "stall"))
                    proxy._stopped.wait(fault.seconds)
                    self._drop(rst=False)
                elif fault.kind == "redirect":
                    proxy._record(ProxyRecord(method, path, 307, headers, body_bytes, "redirect"))
                    self._reply(307, b"", {"Location": fault.target + path})
                return
            self._forward(method, path, headers)

        def _forward(self, method: str, path: str, headers: Dict[str, str]) -> None:
            conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=proxy._upstream_timeout)
            body_bytes = 0
            try:
                conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
                for k, v in self.headers.items():
                    if k.lower() not in _HOP_BY_HOP:
                        conn.putheader(k, v)
                conn.endheaders()
                for block in self._read_body():
                    body_bytes += len(block)
                    conn.send(block)
                resp = conn.getresponse()
                data = b"" if method == "HEAD" else resp.read()
            except (OSError, http.client.HTTPException) as e:
                proxy._record(ProxyRecord(method, path, 502, headers, body_bytes, ""))
                self._reply(502, f"upstream error: {e}".encode())
                conn.close()
                return
            conn.close()
            proxy._record(ProxyRecord(method, path, resp.status, headers, body_bytes, ""))
            self.send_response_only(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() not in _HOP_BY_HOP and k.lower() != "content-length":
                    self.send_header(k, v)
            length = resp.getheader("Content-Length") if method == "HEAD" else str(len(data))
            if length is not None:
                self.send_header("Content-Length", length)
            self.end_headers()
            if method != "HEAD" and resp.status not in (204, 304):
                self.wfile.write(data)

        @property
        def upstream_host(self) -> str:
            return proxy.upstream.rsplit(":", 1)[0]

        @property
        def upstream_port(self) -> int:
            return int(proxy.upstream.rsplit(":", 1)[1])

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    return Handler
