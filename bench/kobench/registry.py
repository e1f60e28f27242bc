"""Debian's `docker-registry` (CNCF distribution) on 127.0.0.1, with empty storage, behind the counting proxy.

A real registry, as in the e2e tests, so "bytes uploaded" includes whatever a real client must send (and
skips what a real registry lets it skip). Loopback only; plain HTTP, which registry clients allow for
127.0.0.1. Started and stopped by the harness (by its own pid), never left running.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Optional

from kobench.upload_counter import CountingProxy

_CONFIG = """\
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


def registry_binary() -> Optional[str]:
    return shutil.which("docker-registry")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoopbackRegistry:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self._proc: Optional[subprocess.Popen] = None
        self._port = 0
        self.proxy: Optional[CountingProxy] = None

    @property
    def host(self) -> str:
        """What clients use: the proxy's host:port."""
        assert self.proxy is not None
        return f"127.0.0.1:{self.proxy.port}"

    def start(self) -> "LoopbackRegistry":
        self._start_registry(_free_port())
        self.proxy = CountingProxy(self._port).start()
        return self

    def wipe(self) -> None:
        """Restart the registry with empty storage behind the same proxy (same address for clients)."""
        self._stop_registry()
        self._start_registry(self._port)
        assert self.proxy is not None
        self.proxy.reset()

    def _start_registry(self, port: int) -> None:
        binary = registry_binary()
        if binary is None:
            raise RuntimeError("docker-registry is not installed (Debian package `docker-registry`)")
        self._port = port
        storage = self.workdir / "storage"
        shutil.rmtree(storage, ignore_errors=True)
        storage.mkdir(parents=True)
        config = self.workdir / "config.yml"
        config.write_text(_CONFIG.format(root=storage, port=port))
        log = open(self.workdir / "registry.log", "wb")
        self._proc = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2).read()
                break
            except OSError:
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"docker-registry did not start; see {self.workdir / 'registry.log'}")
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None
        self._stop_registry()

    def _stop_registry(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def __enter__(self) -> "LoopbackRegistry":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
