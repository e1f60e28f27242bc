"""A counting reverse proxy in front of the loopback registry: how many bytes did a publish really send?

The registry cannot say (its logs have no request sizes), and counting on the client side would trust the
code under test. So clients talk to this proxy, which forwards each request unchanged (Host included, so
the registry's upload Locations point back here) and tallies request bodies: blob uploads (POST/PATCH/PUT
under `/blobs/uploads/`), manifests (PUT under `/manifests/`), and existence checks (HEAD).
"""

from __future__ import annotations

import http.client
import sys
import threading
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}


@dataclass
class UploadTally:
    requests: int = 0
    body_bytes: int = 0  # every request body: blobs + manifests + anything else
    blob_bytes: int = 0
    blob_uploads: int = 0  # finished uploads (the PUT that commits a blob)
    manifest_bytes: int = 0
    manifest_puts: int = 0
    head_checks: int = 0

    def to_json(self) -> dict:
        return asdict(self)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "CountingProxy"

    def log_message(self, format, *args) -> None:  # quiet: the harness prints its own summary
        pass

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _forward(self) -> None:
        body = self._read_body()
        self.server.tally_request(self.command, self.path, body)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP and k.lower() != "content-length"}
        if body or self.command in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len(body))
        upstream = http.client.HTTPConnection(*self.server.backend, timeout=300)
        try:
            upstream.request(self.command, self.path, body=body or None, headers=headers)
            response = upstream.getresponse()
            payload = response.read()
            self.send_response(response.status, response.reason)
            for k, v in response.getheaders():
                if k.lower() not in _HOP_BY_HOP and k.lower() != "content-length":
                    self.send_header(k, v)
            length = response.getheader("Content-Length") if self.command == "HEAD" else str(len(payload))
            if length is not None:
                self.send_header("Content-Length", length)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
        finally:
            upstream.close()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _forward


class CountingProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, backend_port: int):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.backend = ("127.0.0.1", backend_port)
        self.tally = UploadTally()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def handle_error(self, request, client_address) -> None:
        """A client that hangs up early (ko does, once it has what it needs) is not an error worth a traceback."""
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def tally_request(self, method: str, path: str, body: bytes) -> None:
        with self._lock:
            t = self.tally
            t.requests += 1
            t.body_bytes += len(body)
            if "/blobs/uploads/" in path and method in ("POST", "PATCH", "PUT"):
                t.blob_bytes += len(body)
                t.blob_uploads += method == "PUT"
            elif "/manifests/" in path and method == "PUT":
                t.manifest_bytes += len(body)
                t.manifest_puts += 1
            elif method == "HEAD":
                t.head_checks += 1

    def reset(self) -> UploadTally:
        """Return the tally so far and start a new one (one per measured run)."""
        with self._lock:
            tally, self.tally = self.tally, UploadTally()
        return tally

    def start(self) -> "CountingProxy":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join()
