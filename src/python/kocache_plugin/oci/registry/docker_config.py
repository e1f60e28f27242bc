"""Registry credentials from the Docker CLI's config.json, including credential helpers.

Looked up like `docker login` stores them: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
For a registry host, the first of these that applies wins:
  1. `credHelpers[host]`: run `docker-credential-<helper> get` (a miss means anonymous);
  2. `credsStore`: the default helper (a miss falls back to `auths`);
  3. `auths[host]`: base64 `auth` ("user:password"), or `username`/`password`, or `identitytoken`.
Keys of `auths` may be bare hosts or URLs ("https://host/v1/"); Docker Hub's names are all one registry.

Secrets never appear in a repr, a log line or an exception message.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import subprocess
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional
from urllib.parse import urlsplit

from kocache_plugin.oci.registry.errors import RegistryError
from kocache_plugin.oci.registry.reference import DOCKER_HUB_ALIASES

# The key under which `docker login` stores Docker Hub credentials (and what helpers are asked for).
DOCKER_HUB_CONFIG_KEY = "https://index.docker.io/v1/"
HELPER_TIMEOUT_SECONDS = 30.0
_HELPER_NOT_FOUND = "credentials not found"


class DockerConfigError(RegistryError):
    """An unreadable config.json or a failing credential helper (the message never holds a secret)."""


class Credentials:
    """A username/password pair, or an identity (refresh) token; empty means anonymous."""

    __slots__ = ("username", "password", "identity_token")

    def __init__(self, username: str = "", password: str = "", identity_token: str = "") -> None:
        self.username = username
        self.password = password
        self.identity_token = identity_token

    @property
    def is_anonymous(self) -> bool:
        return not (self.username or self.password or self.identity_token)

    def __repr__(self) -> str:
        if self.is_anonymous:
            return "Credentials(anonymous)"
        kind = "identity_token=<redacted>" if self.identity_token else "password=<redacted>"
        return f"Credentials(username={self.username!r}, {kind})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Credentials):
            return NotImplemented
        return (self.username, self.password, self.identity_token) == (
            other.username,
            other.password,
            other.identity_token,
        )

    def __hash__(self) -> int:
        return hash((self.username, self.password, self.identity_token))


ANONYMOUS = Credentials()

CredentialsProvider = Callable[[str], Credentials]


def anonymous_provider(registry: str) -> Credentials:
    """A provider that never has credentials."""
    return ANONYMOUS


def static_provider(mapping: Mapping[str, Credentials]) -> CredentialsProvider:
    """A provider answering from a {registry host: Credentials} mapping (Docker Hub aliases unified)."""
    normalized = {_normalize_host(k): v for k, v in mapping.items()}
    return lambda registry: normalized.get(_normalize_host(registry), ANONYMOUS)


def _normalize_host(key: str) -> str:
    """The registry host[:port] that a config key or registry name designates."""
    key = key.strip()
    if "://" in key:
        host = urlsplit(key).netloc
    else:
        host = key.split("/", 1)[0]
    host = host.lower()
    return "docker.io" if host in DOCKER_HUB_ALIASES else host


def default_config_path(env: Optional[Mapping[str, str]] = None) -> Path:
    """`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`."""
    env = os.environ if env is None else env
    config_dir = env.get("DOCKER_CONFIG")
    if config_dir:
        return Path(config_dir) / "config.json"
    home = env.get("HOME") or str(Path.home())
    return Path(home) / ".docker" / "config.json"


def _run_helper(
    helper: str, server: str, env: Optional[Mapping[str, str]], timeout: float
) -> Optional[Credentials]:
    """Ask `docker-credential-<helper> get` for `server`; None when it has no entry."""
    program = f"docker-credential-{helper}"
    try:
        proc = subprocess.run(
            [program, "get"],
            input=server.encode("utf-8"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=None if env is None else dict(env),
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise DockerConfigError(
            f"credential helper {program!r} (configured for {server}) is not on PATH"
        ) from None
    except subprocess.TimeoutExpired:
        raise DockerConfigError(
            f"credential helper {program!r} did not answer for {server} within {timeout:.0f}s"
        ) from None
    if proc.returncode != 0:
        if _HELPER_NOT_FOUND in (proc.stdout + proc.stderr).decode("utf-8", "replace").lower():
            return None
        # stderr is not quoted: a helper may echo what it was handling.
        raise DockerConfigError(
            f"credential helper {program!r} failed for {server} with exit code {proc.returncode}"
        )
    try:
        doc = json.loads(proc.stdout.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise DockerConfigError(f"credential helper {program!r} printed invalid JSON for {server}") from None
    if not isinstance(doc, dict):
        raise DockerConfigError(f"credential helper {program!r} printed a non-object for {server}")
    username = doc.get("Username") or ""
    secret = doc.get("Secret") or ""
    if not isinstance(username, str) or not isinstance(secret, str):
        raise DockerConfigError(f"credential helper {program!r} printed non-string fields for {server}")
    if username == "<token>":
        return Credentials(identity_token=secret)
    return Credentials(username=username, password=secret)


def _from_auth_entry(entry: Any, where: str) -> Credentials:
    if not isinstance(entry, dict):
        raise DockerConfigError(f"{where} must be an object")
    identity_token = entry.get("identitytoken") or ""
    username = entry.get("username") or ""
    password = entry.get("password") or ""
    encoded = entry.get("auth") or ""
    if not all(isinstance(v, str) for v in (identity_token, username, password, encoded)):
        raise DockerConfigError(f"{where}: auth, username, password and identitytoken must be strings")
    if encoded:
        try:
            decoded = base64.b64decode(encoded, validate=False).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise DockerConfigError(f"{where}: 'auth' is not base64 of 'username:password'") from None
        user, sep, pw = decoded.partition(":")
        if not sep:
            raise DockerConfigError(f"{where}: 'auth' does not decode to 'username:password'")
        username, password = username or user, pw
    return Credentials(username=username, password=password, identity_token=identity_token)


class DockerConfig:
    """A parsed config.json; `credentials(registry)` resolves helpers and auths for one registry."""

    def __init__(
        self,
        doc: Mapping[str, Any],
        *,
        path: str = "<memory>",
        env: Optional[Mapping[str, str]] = None,
        helper_timeout: float = HELPER_TIMEOUT_SECONDS,
    ) -> None:
        self.path = path
        self._env = env
        self._helper_timeout = helper_timeout
        auths = doc.get("auths", {}) if doc.get("auths") is not None else {}
        helpers = doc.get("credHelpers", {}) if doc.get("credHelpers") is not None else {}
        store = doc.get("credsStore", "") if doc.get("credsStore") is not None else ""
        if not isinstance(auths, dict) or not isinstance(helpers, dict) or not isinstance(store, str):
            raise DockerConfigError(
                f"{path}: 'auths' and 'credHelpers' must be objects and 'credsStore' a string"
            )
        self.creds_store = store
        self.cred_helpers: Dict[str, str] = {_normalize_host(k): v for k, v in helpers.items()}
        # Keep the original key: helpers are asked with the exact server URL docker stored.
        self._auths: Dict[str, Any] = {}
        self._auth_keys: Dict[str, str] = {}
        for key, entry in auths.items():
            host = _normalize_host(key)
            self._auths.setdefault(host, entry)
            self._auth_keys.setdefault(host, key)

    @classmethod
    def load(
        cls, path: Optional[os.PathLike] = None, *, env: Optional[Mapping[str, str]] = None
    ) -> "DockerConfig":
        """Read the config at `path` (default: see `default_config_path`); a missing file is empty."""
        config_path = Path(path) if path is not None else default_config_path(env)
        try:
            raw = config_path.read_bytes()
        except FileNotFoundError:
            return cls({}, path=str(config_path), env=env)
        except OSError as e:
            raise DockerConfigError(f"cannot read {config_path}: {e.strerror}") from None
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            # Position only: the message of a JSON error can quote the document.
            pos = getattr(e, "pos", None)
            raise DockerConfigError(
                f"{config_path} is not valid JSON" + (f" (at character {pos})" if pos is not None else "")
            ) from None
        if not isinstance(doc, dict):
            raise DockerConfigError(f"{config_path} must hold a JSON object")
        return cls(doc, path=str(config_path), env=env)

    def _server_key(self, host: str) -> str:
        return DOCKER_HUB_CONFIG_KEY if host == "docker.io" else host

    def credentials(self, registry: str) -> Credentials:
        """The credentials for `registry` (host[:port], or any Docker Hub alias); ANONYMOUS if none."""
        host = _normalize_host(registry)
        helper = self.cred_helpers.get(host)
        if helper:
            found = _run_helper(helper, self._server_key(host), self._env, self._helper_timeout)
            return found or ANONYMOUS
        if self.creds_store:
            found = _run_helper(self.creds_store, self._server_key(host), self._env, self._helper_timeout)
            if found is not None:
                return found
        entry = self._auths.get(host)
        if entry is None:
            return ANONYMOUS
        return _from_auth_entry(entry, f"{self.path}: auths[{self._auth_keys[host]!r}]")


class DockerConfigProvider:
    """A credentials provider over config.json, loaded on first use and cached per registry."""

    def __init__(self, path: Optional[os.PathLike] = None, *, env: Optional[Mapping[str, str]] = None) -> None:
        self._path = path
        self._env = env
        self._config: Optional[DockerConfig] = None
        self._cache: Dict[str, Credentials] = {}
        self._lock = threading.Lock()

    def __call__(self, registry: str) -> Credentials:
        host = _normalize_host(registry)
        with self._lock:
            if host not in self._cache:
                if self._config is None:
                    self._config = DockerConfig.load(self._path, env=self._env)
                self._cache[host] = self._config.credentials(host)
            return self._cache[host]

    def __repr__(self) -> str:
        return f"DockerConfigProvider(path={str(self._path) if self._path else 'default'!r})"
