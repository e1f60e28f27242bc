"""Peak memory of Pants while a command runs, by sampling RSS with psutil.

Two numbers, because they answer different questions: "Pants" is the client plus pantsd (what the engine
itself costs), "tree" adds every process they spawned (go, the layer tool), i.e. what the machine needed.
pantsd is not a child of the client, so its pid is asked for on every sample (a run may start it).
RSS double-counts shared pages; it is still the number people compare, and cheap enough to sample often.
"""

from __future__ import annotations

import threading
from typing import Callable, Iterable, Optional, Tuple

import psutil

SAMPLE_SECONDS = 0.05


def _rss(proc: psutil.Process) -> int:
    try:
        return proc.memory_info().rss
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return 0


def _tree(pid: int) -> Tuple[int, int]:
    """(RSS of the process itself, RSS of it and all its descendants)."""
    try:
        proc = psutil.Process(pid)
        children = proc.children(recursive=True)
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return 0, 0
    own = _rss(proc)
    return own, own + sum(_rss(c) for c in children)


class RssSampler:
    """Samples in a thread between start() and stop(); peaks are in bytes."""

    def __init__(self, client_pid: int, pantsd_pid: Callable[[], Optional[int]] = lambda: None):
        self._client_pid = client_pid
        self._pantsd_pid = pantsd_pid
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.peak_pants = 0
        self.peak_tree = 0
        self.pantsd_pids_seen: set = set()

    def _pids(self) -> Iterable[int]:
        yield self._client_pid
        pantsd = self._pantsd_pid()
        if pantsd and pantsd != self._client_pid:
            self.pantsd_pids_seen.add(pantsd)
            yield pantsd

    def _sample(self) -> None:
        pants = tree = 0
        for pid in self._pids():
            own, whole = _tree(pid)
            pants += own
            tree += whole
        self.peak_pants = max(self.peak_pants, pants)
        self.peak_tree = max(self.peak_tree, tree)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(SAMPLE_SECONDS)

    def start(self) -> "RssSampler":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
