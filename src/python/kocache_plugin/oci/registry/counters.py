"""Counters of what a client did on the wire, for tests and benchmarks (thread-safe)."""

from __future__ import annotations

import threading
from typing import Dict

_FIELDS = (
    "requests",  # HTTP requests sent to registries and token servers, every attempt and redirect hop
    "retries",  # attempts repeated after a retryable failure
    "token_requests",  # bearer tokens fetched from a realm
    "blob_bytes_uploaded",  # request-body bytes sent for blob uploads, failed attempts included
    "blob_bytes_downloaded",  # blob bytes received (verified or not)
    "blobs_uploaded",  # blobs whose upload completed
    "blobs_skipped",  # uploads skipped because the registry already had the blob
    "mounts",  # blobs mounted from another repository instead of uploaded
)


class ClientCounters:
    """Monotonic counters; read them as attributes or with `snapshot()`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        for name in _FIELDS:
            object.__setattr__(self, name, 0)

    def add(self, name: str, amount: int = 1) -> None:
        if name not in _FIELDS:
            raise AttributeError(f"unknown counter {name!r}")
        with self._lock:
            object.__setattr__(self, name, getattr(self, name) + amount)

    def snapshot(self) -> Dict[str, int]:
        with self._lock:
            return {name: getattr(self, name) for name in _FIELDS}

    def __setattr__(self, name: str, value: object) -> None:
        if name in _FIELDS:
            raise AttributeError("counters are changed with add()")
        object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        return "ClientCounters(" + ", ".join(f"{k}={v}" for k, v in self.snapshot().items()) + ")"
