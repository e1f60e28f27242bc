"""A real REAPI remote cache on loopback for tests, plus servers that misbehave in the ways a cache can.

    with BuildGridServer(tmp_path) as cache:           # BuildGrid: CAS + ByteStream + ActionCache
        repo.run("-ldebug", "--stats-log", "package", "::", extra_options=cache.pants_options(write=True))
        cache.cas_blobs()                              # sha256 hex -> file of its disk CAS

    with RefusingPort() as port: ...                   # a bound, never-listening port: connect() is refused
    with SilentServer() as server: ...                 # accepts connections, never answers a byte
    with GarbageServer() as server: ...                # accepts, answers bytes that are not HTTP/2, hangs up
    remote_cache_options(server.address, read=True, write=True, rpc_timeout_millis=1000)

Reading a run: started / canceled / ran_to_completion / remote_hits (descriptions from Pants' log; the layer
steps log at DEBUG, so run with -ldebug), steps() to compare runs, remote_cache_warnings(). Checking outputs:
image_digests(repo) (manifest digests per image) and bad_blobs(repo) (blobs whose bytes do not hash to their
name: a damaged image whose digests still look right).

bazel-remote would be the lighter server, but the Go module proxy refuses to serve its module here (403), so
the cache is BuildGrid from PyPI. BuildGrid needs Python >= 3.11 and Pants' own venv is 3.9: BuildGrid gets its
own virtualenv, made once per machine under `shared_cache_dir("buildgrid")` with the first interpreter of
`python3`, `python3.13`, `python3.12`, `python3.11` that is new enough (KOCACHE_BUILDGRID_PYTHON overrides).

Every server binds 127.0.0.1 only, has a bounded lifetime and is stopped by its context manager (and by atexit
as a safety net); BuildGrid runs in its own session and is killed with its process group.
"""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from tests.support.pants_repo import PantsRepo, shared_cache_dir

BUILDGRID_VERSION = "0.4.4"  # the newest release that runs on Python 3.11 (later ones need 3.12+)
STARTUP_TIMEOUT = 60.0
INSTANCE_NAME = "kocache-test"

_PYTHON_CANDIDATES = ("python3", "python3.13", "python3.12", "python3.11")


class RemoteCacheStartError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- BuildGrid's virtualenv --------------------------------------------------------------------------


def _python_for_buildgrid() -> str:
    override = os.environ.get("KOCACHE_BUILDGRID_PYTHON")
    candidates = [override] if override else [p for p in (shutil.which(c) for c in _PYTHON_CANDIDATES) if p]
    if not override and Path("/usr/bin/python3").exists():
        candidates.append("/usr/bin/python3")
    for python in candidates:
        try:
            out = subprocess.run(
                [python, "-c", "import sys, venv; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True, text=True, timeout=30,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0 and tuple(int(x) for x in out.stdout.strip().split(".")) >= (3, 11):
            return python
    raise RemoteCacheStartError(
        f"BuildGrid needs Python >= 3.11 with the venv module; none of {candidates} is (set KOCACHE_BUILDGRID_PYTHON)"
    )


def buildgrid_bgd() -> Path:
    """The `bgd` executable of BuildGrid's own virtualenv, made on first use (under a file lock)."""
    base = shared_cache_dir("buildgrid")
    venv = base / f"venv-{BUILDGRID_VERSION}"
    bgd = venv / "bin" / "bgd"
    marker = venv / ".complete"
    if marker.exists():
        return bgd
    with open(base / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():
            return bgd
        shutil.rmtree(venv, ignore_errors=True)
        python = _python_for_buildgrid()
        subprocess.run([python, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
        env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        out = subprocess.run(
            [str(venv / "bin/python"), "-m", "pip", "install", "-q", f"buildgrid=={BUILDGRID_VERSION}"],
            capture_output=True, text=True, timeout=900, env=env,
        )
        if out.returncode != 0 or not bgd.exists():
            raise RemoteCacheStartError(f"pip install buildgrid=={BUILDGRID_VERSION} failed:\n{out.stderr[-4000:]}")
        marker.write_text(python + "\n")
    return bgd


# -- BuildGrid as a remote cache ---------------------------------------------------------------------

_CONFIG = """\
server:
  - !channel
    address: "127.0.0.1:{port}"
    insecure-mode: true
authorization:
  method: none
thread-pool-size: 16
storages:
  - !disk-storage &cas
    path: "{cas}"
caches:
  - !lru-action-cache &ac
    storage: *cas
    max-cached-refs: 100000
    allow-updates: true
    cache-failed-actions: false
instances:
  - name: "{instance}"
    services:
      - !action-cache
        cache: *ac
      - !cas
        storage: *cas
      - !bytestream
        storage: *cas
"""


class BuildGridServer:
    """`bgd server start` with a disk CAS and an in-memory action cache, on a free 127.0.0.1 port."""

    def __init__(self, workdir: Path, *, instance_name: str = INSTANCE_NAME, max_lifetime: float = 1800.0) -> None:
        self.workdir = Path(workdir)
        self.instance_name = instance_name
        self.max_lifetime = max_lifetime
        self.port = 0
        self.cas_dir = self.workdir / "cas"
        self.config_path = self.workdir / "buildgrid.yml"
        self.log_path = self.workdir / "buildgrid.log"
        self._proc: Optional[subprocess.Popen] = None
        self._timer: Optional[threading.Timer] = None

    @property
    def address(self) -> str:
        """The value for Pants' --remote-store-address."""
        return f"grpc://127.0.0.1:{self.port}"

    def pants_options(self, *, read: bool = False, write: bool = False) -> List[str]:
        return remote_cache_options(self.address, read=read, write=write, instance_name=self.instance_name)

    def start(self) -> "BuildGridServer":
        bgd = buildgrid_bgd()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.cas_dir.mkdir(exist_ok=True)
        last = ""
        for _ in range(3):
            self.port = free_port()
            self.config_path.write_text(
                _CONFIG.format(port=self.port, cas=self.cas_dir, instance=self.instance_name)
            )
            log = open(self.log_path, "ab")
            self._proc = subprocess.Popen(
                [str(bgd), "server", "start", str(self.config_path)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            log.close()
            atexit.register(self.stop)
            try:
                self._wait_ready()
            except RemoteCacheStartError as e:
                last = str(e)
                self.stop()
                continue
            self._timer = threading.Timer(self.max_lifetime, self.stop)
            self._timer.daemon = True
            self._timer.start()
            return self
        raise RemoteCacheStartError(last)

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RemoteCacheStartError(f"bgd exited ({self._proc.returncode}):\n{self.log_text()[-4000:]}")
            # BuildGrid binds its port last, after every service is set up.
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise RemoteCacheStartError(f"bgd did not listen on 127.0.0.1:{self.port} in {STARTUP_TIMEOUT}s:\n"
                                    f"{self.log_text()[-4000:]}")

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def __enter__(self) -> "BuildGridServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def cas_blobs(self) -> Dict[str, Path]:
        """sha256 hex → the file holding that blob in BuildGrid's disk CAS (`.../objects/<2 hex>/<62 hex>`)."""
        return {p.parent.name + p.name: p for p in self.cas_dir.rglob("*") if p.is_file() and len(p.name) == 62}


def remote_cache_options(
    address: str, *, read: bool, write: bool, instance_name: Optional[str] = INSTANCE_NAME,
    rpc_timeout_millis: Optional[int] = None, warnings: str = "first_only",
) -> List[str]:
    """Pants 2.17 global options for a REAPI cache (what a team puts under [GLOBAL] in pants.toml)."""
    options = [
        f"--remote-store-address={address}",
        f"--{'' if read else 'no-'}remote-cache-read",
        f"--{'' if write else 'no-'}remote-cache-write",
        f"--remote-cache-warnings={warnings}",
    ]
    if instance_name:
        options.append(f"--remote-instance-name={instance_name}")
    if rpc_timeout_millis is not None:
        options += [
            f"--remote-cache-rpc-timeout-millis={rpc_timeout_millis}",
            f"--remote-store-rpc-timeout-millis={rpc_timeout_millis}",
            "--remote-store-rpc-retries=1",
            "--remote-store-chunk-upload-timeout-seconds=2",
        ]
    return options


# -- reading what Pants did --------------------------------------------------------------------------

# Descriptions of the plugin's cacheable steps (Processes whose identity is the cache key). Keep it complete:
# the remote cache tests compare Pants' counters with the steps found here.
OUR_STEPS = (
    "go build ",
    "Compile ",  # "Compile N standard packages for <os>/<arch>": warms Go's cache before parallel builds
    "Make the ",  # "Make the binary layer ..." / "Make the data layer ..."
    "List Go packages",
    "Build the kocache ",  # the layer tool (and any other tool the plugin builds from Go source)
    "Download Go modules",
    "Read the build information",
)
BUILD_AND_LAYER_STEPS = ("go build ", "Make the ")


def _ours(description: str, prefixes: Sequence[str]) -> bool:
    return description.startswith(tuple(prefixes))


def started(stderr: str, prefixes: Sequence[str] = OUR_STEPS) -> List[str]:
    """Descriptions of local processes Pants started (`Starting:`; run with -ldebug for the DEBUG-level steps).
    Remote cache lookups (`Starting: Remote cache lookup for: ...`) are not processes and are left out."""
    return [d for d in re.findall(r"\] Starting: ([^\n]*)", stderr) if _ours(d, prefixes)]


def canceled(stderr: str, prefixes: Sequence[str] = OUR_STEPS) -> List[str]:
    """Local processes Pants killed before they finished (a remote cache hit won the race against them)."""
    return [d for d in re.findall(r"\] Canceled: ([^\n]*)", stderr) if _ours(d, prefixes)]


def ran_to_completion(stderr: str, prefixes: Sequence[str] = OUR_STEPS) -> List[str]:
    """Local processes that started and were not canceled: the work really done on this machine."""
    left = list(canceled(stderr, prefixes))
    done = []
    for d in started(stderr, prefixes):
        if d in left:
            left.remove(d)
        else:
            done.append(d)
    return done


def remote_hits(stderr: str, prefixes: Sequence[str] = OUR_STEPS) -> List[str]:
    """Descriptions whose result came from the remote cache (DEBUG `remote cache hit for: "<description>"`)."""
    return [d for d in re.findall(r'remote cache hit for: "([^"]*)"', stderr) if _ours(d, prefixes)]


def steps(descriptions: Sequence[str]) -> List[str]:
    """Sorted descriptions with a layer's owner left out, to compare runs: two images that share a binary need
    one layer, keyed by content, and the description names whichever image asked first."""
    return sorted(re.sub(r"^(Make the .*) of \S+$", r"\1", d) for d in descriptions)


def remote_cache_warnings(stderr: str) -> List[str]:
    return re.findall(r"\[WARN\] (Failed to (?:read from|write to) remote cache[^\n]*)", stderr)


# -- what a build produced ---------------------------------------------------------------------------


def image_digests(repo: PantsRepo) -> Dict[str, List[str]]:
    """dist/<image> → the manifest (or index) digests its index.json names, one per tag."""
    return {
        name: [m["digest"] for m in json.loads((layout / "index.json").read_text())["manifests"]]
        for name, layout in repo.layouts().items()
    }


def bad_blobs(repo: PantsRepo) -> List[str]:
    """Blobs under dist/*/blobs/sha256/ whose content does not hash to their name (a damaged image)."""
    bad = []
    for layout in repo.layouts().values():
        for blob in sorted((layout / "blobs" / "sha256").iterdir()):
            h = hashlib.sha256()
            with open(blob, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            if h.hexdigest() != blob.name:
                bad.append(str(blob.relative_to(repo.root)))
    return bad


# -- misbehaving "caches" ----------------------------------------------------------------------------


class RefusingPort:
    """A 127.0.0.1 port bound but never listened on: every connect() gets a RST (ECONNREFUSED), and no other
    process can take the port while this holds it."""

    def __init__(self) -> None:
        self._sock: Optional[socket.socket] = None
        self.port = 0

    def __enter__(self) -> "RefusingPort":
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        if self._sock is not None:
            self._sock.close()

    @property
    def address(self) -> str:
        return f"grpc://127.0.0.1:{self.port}"


class _TcpServer:
    """A threaded loopback TCP server that hands each connection to `_serve`; stops itself after
    `max_lifetime` seconds and closes every connection it holds when stopped."""

    def __init__(self, *, max_lifetime: float = 300.0) -> None:
        self.max_lifetime = max_lifetime
        self._listener: Optional[socket.socket] = None
        self._stopped = threading.Event()
        self._conns: List[socket.socket] = []
        self._lock = threading.Lock()
        self.connections = 0
        self.bytes_received = 0
        self.port = 0

    @property
    def address(self) -> str:
        return f"grpc://127.0.0.1:{self.port}"

    def start(self) -> "_TcpServer":
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        listener.settimeout(0.2)
        self._listener = listener
        self.port = listener.getsockname()[1]
        threading.Thread(target=self._accept_loop, daemon=True).start()
        timer = threading.Timer(self.max_lifetime, self.stop)
        timer.daemon = True
        timer.start()
        atexit.register(self.stop)
        return self

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._conns.append(conn)
            threading.Thread(target=self._guarded, args=(conn,), daemon=True).start()

    def _guarded(self, conn: socket.socket) -> None:
        try:
            self._serve(conn)
        except OSError:
            pass

    def _serve(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def _read_some(self, conn: socket.socket) -> bool:
        """Read what the client sends, for up to 0.2 s; False when the client hung up or we stopped."""
        conn.settimeout(0.2)
        try:
            data = conn.recv(65536)
        except socket.timeout:
            return not self._stopped.is_set()
        with self._lock:
            self.bytes_received += len(data)
        return bool(data) and not self._stopped.is_set()

    def stop(self) -> None:
        self._stopped.set()
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            try:
                conn.close()
            except OSError:
                pass

    def __enter__(self) -> "_TcpServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SilentServer(_TcpServer):
    """Accepts every connection and reads what is sent, but never answers (a hung cache): clients time out."""

    def _serve(self, conn: socket.socket) -> None:
        while self._read_some(conn):
            pass


class GarbageServer(_TcpServer):
    """Answers every connection with bytes that are not HTTP/2 (so not gRPC), then hangs up."""

    GARBAGE = bytes(range(256)) * 16 + b"HTTP/1.1 200 OK\r\n\r\nnot a grpc server\r\n"

    def _serve(self, conn: socket.socket) -> None:
        self._read_some(conn)
        conn.sendall(self.GARBAGE)
        time.sleep(0.05)
        conn.close()



if __name__ == "__main__":  # pragma: no cover - `python -m tests.support.remote_cache DIR` runs one by hand
    with BuildGridServer(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/buildgrid")) as s:
        print(s.address, flush=True)
        try:
            time.sleep(3600)
        except KeyboardInterrupt:
            pass
