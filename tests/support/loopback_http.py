"""A threaded HTTP server on 127.0.0.1 for test fixtures: a free port, bounded lifetime, clean stop."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional, Type


class LoopbackHTTPServer:
    """Serves `_handler_class()` from a daemon thread and stops itself after `max_lifetime` seconds, so a
    test that forgets to stop it cannot leave it running."""

    def __init__(self, max_lifetime: float) -> None:
        self._max_lifetime = max_lifetime
        self._server: Optional[ThreadingHTTPServer] = None
        self._timer: Optional[threading.Timer] = None

    def _handler_class(self) -> Type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def _configure(self, server: ThreadingHTTPServer) -> None:
        """Adjust the server before it starts (e.g. quieter error handling)."""

    def start(self):
        server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        server.daemon_threads = True
        self._configure(server)
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        self._timer = threading.Timer(self._max_lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if self._timer is not None:
            self._timer.cancel()
        if server is not None:
            server.shutdown()
            server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, f"{type(self).__name__} not started"
        return self._server.server_address[1]
