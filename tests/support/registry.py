"""Run Debian's `docker-registry` (distribution v2) on 127.0.0.1 for tests.

    with RegistryServer(tmp_path) as reg:                      # plain http, no auth
        client = RegistryClient(reg.host)
    RegistryServer(tmp_path, auth="htpasswd", users={"alice": "s3cret"})
    RegistryServer(tmp_path, auth="token", token_server=TokenServer(...).start(), pki=pki)
    RegistryServer(tmp_path, pki=pki, tls=True)               # https; clients trust pki.ca_cert

Each server gets a free port, its own storage directory and log file; `start()` waits until
`/v2/` answers, `stop()` terminates it (and is also registered with atexit as a safety net).
"""

from __future__ import annotations

import atexit
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
import warnings
from pathlib import Path
from typing import Dict, List, Mapping, Optional

from tests.support.pki import TestPKI
from tests.support.token_server import TokenServer

REGISTRY_BINARY = "docker-registry"
STARTUP_TIMEOUT = 20.0
_START_TRIES = 3


class RegistryStartError(RuntimeError):
    pass


def find_registry_binary() -> str:
    path = shutil.which(REGISTRY_BINARY) or shutil.which("registry")
    if path is None:
        raise RegistryStartError(
            "the distribution registry is not installed: apt-get install docker-registry "
            "(provides /usr/bin/docker-registry)"
        )
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bcrypt_hash(password: str) -> str:
    """A bcrypt hash for htpasswd files: libxcrypt through Python's crypt module, else `htpasswd -B`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt  # removed in Python 3.13; fine on the interpreters the tests use

        hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 4))
        if hashed and hashed.startswith("$2"):
            return hashed
    except (ImportError, ValueError, AttributeError):
        pass
    htpasswd = shutil.which("htpasswd")
    if htpasswd is None:
        raise RegistryStartError("no bcrypt available: install apache2-utils (htpasswd) or use Python < 3.13")
    out = subprocess.run(
        [htpasswd, "-nbBC", "4", "user", password], stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True, timeout=30
    ).stdout.decode()
    return out.strip().split(":", 1)[1]


class RegistryServer:
    """One docker-registry process on 127.0.0.1 with its own storage; see the module docstring."""

    def __init__(
        self,
        workdir: Path,
        *,
        auth: Optional[str] = None,
        users: Optional[Mapping[str, str]] = None,
        token_server: Optional[TokenServer] = None,
        pki: Optional[TestPKI] = None,
        tls: bool = False,
        relative_urls: bool = False,
        log_level: str = "info",
    ) -> None:
        if auth not in (None, "htpasswd", "token"):
            raise ValueError(f"auth must be None, 'htpasswd' or 'token', got {auth!r}")
        if auth == "token" and (token_server is None or pki is None):
            raise ValueError("auth='token' needs a started token_server and the pki holding its signing certificate")
        if tls and pki is None:
            raise ValueError("tls=True needs a pki (the server certificate and its CA)")
        self.workdir = Path(workdir)
        self.auth = auth
        self.users = dict(users or {})
        self.token_server = token_server
        self.pki = pki
        self.tls = tls
        self.relative_urls = relative_urls
        self.log_level = log_level
        self.port = 0
        self.storage = self.workdir / "storage"
        self.config_path = self.workdir / "config.yml"
        self.log_path = self.workdir / "registry.log"
        self._proc: Optional[subprocess.Popen] = None
        self._log_file = None

    # -- addresses -------------------------------------------------------------------------------

    @property
    def host(self) -> str:
        """"127.0.0.1:<port>", the registry name to use in references and RegistryClient."""
        return f"127.0.0.1:{self.port}"

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    @property
    def ca_file(self) -> Optional[str]:
        return str(self.pki.ca_cert) if self.tls and self.pki else None

    # -- config ----------------------------------------------------------------------------------

    def _config(self) -> Dict:
        http_cfg: Dict = {
            "addr": f"127.0.0.1:{self.port}",
            "secret": "kocache-test-secret",
            "relativeurls": self.relative_urls,
            "headers": {"X-Content-Type-Options": ["nosniff"]},
        }
        if self.tls:
            assert self.pki is not None
            http_cfg["tls"] = {"certificate": str(self.pki.server_cert), "key": str(self.pki.server_key)}
        config: Dict = {
            "version": 0.1,
            "log": {"level": self.log_level, "formatter": "text", "accesslog": {"disabled": False}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.storage)},
                "delete": {"enabled": True},
                "maintenance": {"uploadpurging": {"enabled": False}},
                "cache": {"blobdescriptor": "inmemory"},
            },
            "http": http_cfg,
        }
        if self.auth == "htpasswd":
            htpasswd = self.workdir / "htpasswd"
            htpasswd.write_text("".join(f"{u}:{bcrypt_hash(p)}\n" for u, p in self.users.items()))
            config["auth"] = {"htpasswd": {"realm": "kocache-test", "path": str(htpasswd)}}
        elif self.auth == "token":
            assert self.token_server is not None and self.pki is not None
            ts = self.token_server
            config["auth"] = {
                "token": {
                    "realm": ts.realm,
                    "service": ts.config.service,
                    "issuer": ts.config.issuer,
                    "rootcertbundle": str(self.pki.token_cert),
                }
            }
        # JSON is YAML: no PyYAML needed.
        return config

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, timeout: float = STARTUP_TIMEOUT, *, same_port: bool = False) -> "RegistryServer":
        """Start (again); `same_port` restarts on the previous port, so references stay valid."""
        binary = find_registry_binary()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.storage.mkdir(exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        last_error = ""
        previous = self.port
        for _ in range(_START_TRIES):
            self.port = previous if same_port and previous else free_port()
            self.config_path.write_text(json.dumps(self._config(), indent=2))
            self._log_file = open(self.log_path, "ab")
            self._proc = subprocess.Popen(
                [binary, "serve", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                env=env,
            )
            atexit.register(self.stop)
            try:
                self._wait_ready(timeout)
                return self
            except RegistryStartError as e:
                last_error = str(e)
                self.stop()
                if "address already in use" not in self.log_text():
                    break
        raise RegistryStartError(last_error)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise RegistryStartError(
                    f"docker-registry exited with {self._proc.returncode}; log:\n{self.log_text()[-3000:]}"
                )
            try:
                if self.tls:
                    ctx = ssl.create_default_context(cafile=self.ca_file)
                    conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                        "127.0.0.1", self.port, timeout=1, context=ctx
                    )
                else:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                try:
                    conn.request("GET", "/v2/")
                    status = conn.getresponse().status
                finally:
                    conn.close()
                if status in (200, 401):
                    return
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.05)
        raise RegistryStartError(f"docker-registry did not answer /v2/ within {timeout:.0f}s; log:\n{self.log_text()[-3000:]}")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        try:
            atexit.unregister(self.stop)
        except Exception:
            pass

    def __enter__(self) -> "RegistryServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- observation -----------------------------------------------------------------------------

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def request_count(self, method: Optional[str] = None, path: Optional[str] = None) -> int:
        """How many requests the registry logged, optionally only `method` and paths matching regex `path`."""
        count = 0
        for request in self.access_log():
            verb, _, rest = request.partition(" ")
            target = rest.rsplit(" ", 1)[0]
            if (method is None or verb == method) and (path is None or re.search(path, target)):
                count += 1
        return count

    def access_log(self) -> List[str]:
        """Request lines of the access log ("METHOD /path HTTP/1.1" status), in order."""
        lines = []
        for line in self.log_text().splitlines():
            # Combined log format: ... "PUT /v2/x/blobs/uploads/... HTTP/1.1" 201 0 "" "agent"
            if '"' in line and " HTTP/1." in line and " /v2/" in line:
                request = line.split('"')[1]
                lines.append(request)
        return lines
