"""Registry authentication: WWW-Authenticate challenges, Basic credentials and per-scope Bearer tokens.

The client pings `/v2/` once to learn the registry's challenge, then authorizes each request up front:
- Basic: the credentials go with every request to the registry (never to other hosts).
- Bearer: a token is fetched from the challenge's realm (with Basic credentials, or an identity
  token via the OAuth2 refresh-token grant) for the exact scope set the request needs, and cached
  per (registry, scope set) until shortly before it expires. Push requests ask for
  "repository:<name>:pull,push", so a token obtained for pull is never sent with a push.
When a request still gets a 401 whose challenge names a scope we did not ask for, the scopes are
merged and a new token is fetched; a token refused for exactly the scopes it was issued for is an
AuthenticationFailed that names the registry, repository and whether credentials were found.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import urlencode

from kocache_plugin.oci.registry.counters import ClientCounters
from kocache_plugin.oci.registry.docker_config import ANONYMOUS, Credentials, CredentialsProvider
from kocache_plugin.oci.registry.errors import AuthenticationFailed, RegistryProtocolError
from kocache_plugin.oci.registry.transport import Attempts, Transport, describe_error_body, redact_url

DEFAULT_TOKEN_LIFETIME = 60  # seconds, per the Docker token spec when expires_in is absent
TOKEN_BODY_LIMIT = 1 << 20
CLIENT_ID = "kocache"

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_AUTH_PARAM = re.compile(rf"\s*({_TOKEN})\s*=\s*(\"(?:[^\"\\]|\\.)*\"|{_TOKEN})\s*")
_SCHEME = re.compile(rf"\s*({_TOKEN})(?:\s+|$)")


@dataclass(frozen=True)
class Challenge:
    """One challenge of a WWW-Authenticate header; `scheme` is lowercase ("basic", "bearer")."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def scopes(self) -> Tuple[str, ...]:
        return tuple(self.params.get("scope", "").split())


def parse_www_authenticate(value: str) -> List[Challenge]:
    """All challenges in a WWW-Authenticate value, e.g. 'Bearer realm="..",service="..",scope=".."'."""
    challenges: List[Challenge] = []
    pos = 0
    value = value or ""
    while pos < len(value):
        while pos < len(value) and value[pos] in " ,":
            pos += 1
        m = _SCHEME.match(value, pos)
        if not m:
            break
        scheme = m.group(1).lower()
        pos = m.end()
        params: Dict[str, str] = {}
        while pos < len(value):
            p = _AUTH_PARAM.match(value, pos)
            if not p:
                break
            raw = p.group(2)
            if raw.startswith('"'):
                raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
            params[p.group(1).lower()] = raw
            pos = p.end()
            if pos < len(value) and value[pos] == ",":
                pos += 1
        challenges.append(Challenge(scheme, params))
    return challenges


def repository_scope(repository: str, *actions: str) -> str:
    """ "repository:<name>:<actions>" with actions sorted, e.g. repository_scope("a/b", "push", "pull")."""
    return f"repository:{repository}:{','.join(sorted(set(actions)))}"


def canonical_scopes(*groups: Iterable[str]) -> Tuple[str, ...]:
    """Merge scope strings: actions on the same resource are united; the result is sorted."""
    resources: Dict[Tuple[str, str], set] = {}
    opaque = set()
    for group in groups:
        for scope in group:
            kind, sep, rest = scope.partition(":")
            name, sep2, actions = rest.rpartition(":")
            if not (sep and sep2 and kind and name):
                opaque.add(scope)
                continue
            resources.setdefault((kind, name), set()).update(a for a in actions.split(",") if a)
    merged = {f"{kind}:{name}:{','.join(sorted(actions))}" for (kind, name), actions in resources.items()}
    return tuple(sorted(merged | opaque))


@dataclass(frozen=True)
class Authorization:
    """The Authorization header chosen for a request, and whether its token was fetched just now."""

    header: Optional[str]
    fresh: bool = False


_NO_AUTH = Authorization(None)


def _basic(credentials: Credentials) -> str:
    raw = f"{credentials.username}:{credentials.password}".encode("utf-8")
    return "Basic " + base64.b64encode(raw).decode("ascii")


class Authenticator:
    """Authorization for one registry: its challenge, its credentials and its token cache."""

    def __init__(
        self,
        registry: str,
        transport: Transport,
        credentials_provider: CredentialsProvider,
        *,
        counters: Optional[ClientCounters] = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self._transport = transport
        self._provider = credentials_provider
        self._counters = counters if counters is not None else transport.counters
        self._clock = clock
        self._lock = threading.Lock()
        self._pinged = False
        self._challenge: Optional[Challenge] = None
        self._credentials: Optional[Credentials] = None
        self._tokens: Dict[Tuple[str, ...], Tuple[str, float]] = {}

    # -- state -----------------------------------------------------------------------------------

    def credentials(self) -> Credentials:
        with self._lock:
            if self._credentials is None:
                self._credentials = self._provider(self.registry) or ANONYMOUS
            return self._credentials

    @property
    def credentials_found(self) -> bool:
        return not self.credentials().is_anonymous

    @property
    def challenge(self) -> Optional[Challenge]:
        return self._challenge

    def cached_token_scopes(self) -> List[Tuple[str, ...]]:
        """The scope sets that currently have a cached token (for tests)."""
        with self._lock:
            return sorted(self._tokens)

    def ping(self, base_url: str, attempts: Attempts) -> None:
        """GET /v2/ once to learn whether and how the registry authenticates."""
        with self._lock:
            if self._pinged:
                return
        resp = self._transport.request("GET", f"{base_url}/v2/", attempts=attempts)
        header = resp.header("WWW-Authenticate") or ""
        status = resp.status
        resp.error_detail()
        if status == 401:
            self._set_challenge(parse_www_authenticate(header))
        with self._lock:
            self._pinged = True

    def _set_challenge(self, challenges: Sequence[Challenge]) -> Optional[Challenge]:
        chosen = next((c for c in challenges if c.scheme == "bearer"), None) or next(
            (c for c in challenges if c.scheme == "basic"), None
        )
        if chosen is not None:
            with self._lock:
                self._challenge = chosen
        return chosen

    # -- authorizing requests --------------------------------------------------------------------

    def authorization(self, scopes: Sequence[str], attempts: Attempts, repository: str = "") -> Authorization:
        """The Authorization header for a request needing `scopes` (fetching a token if needed)."""
        challenge = self._challenge
        if challenge is None:
            return _NO_AUTH
        if challenge.scheme == "basic":
            creds = self.credentials()
            if creds.is_anonymous or not creds.username:
                return _NO_AUTH
            return Authorization(_basic(creds))
        if challenge.scheme == "bearer":
            key = canonical_scopes(scopes)
            now = self._clock()
            with self._lock:
                cached = self._tokens.get(key)
            if cached is not None and cached[1] > now:
                return Authorization(f"Bearer {cached[0]}")
            token, lifetime = self._fetch_token(challenge, key, attempts, repository)
            # Refresh a little before the registry would start refusing it.
            margin = min(max(lifetime * 0.1, 5.0), lifetime / 2)
            with self._lock:
                self._tokens[key] = (token, self._clock() + lifetime - margin)
            return Authorization(f"Bearer {token}", fresh=True)
        return _NO_AUTH

    def on_unauthorized(
        self,
        www_authenticate: Optional[str],
        scopes: Sequence[str],
        sent: Authorization,
        *,
        repository: str,
        operation: str,
        status: int = 401,
    ) -> Tuple[str, ...]:
        """After a 401: the scopes to retry with, or AuthenticationFailed when retrying cannot help."""
        challenges = parse_www_authenticate(www_authenticate or "")
        chosen = self._set_challenge(challenges)
        if chosen is None:
            raise self.failure(
                f"answered {status} without a usable WWW-Authenticate challenge",
                repository=repository,
                operation=operation,
                status=status,
            )
        if chosen.scheme == "basic":
            if not self.credentials_found:
                raise self.failure("requires credentials (Basic auth)", repository=repository, operation=operation, status=status)
            if sent.header is None:
                return tuple(scopes)
            raise self.failure("rejected the credentials (Basic auth)", repository=repository, operation=operation, status=status)
        if chosen.scheme != "bearer":
            raise self.failure(
                f"asks for unsupported auth scheme {chosen.scheme!r}",
                repository=repository,
                operation=operation,
                status=status,
            )
        current = canonical_scopes(scopes)
        wanted = canonical_scopes(scopes, chosen.scopes)
        if sent.header is None or wanted != current:
            return wanted
        with self._lock:
            self._tokens.pop(current, None)
        if not sent.fresh:
            return current  # a cached token the registry no longer accepts: fetch a new one
        error = chosen.params.get("error", "")
        detail = f"refused a token for scope {' '.join(current)}"
        if error:
            detail += f" (error={error})"
        raise self.failure(detail, repository=repository, operation=operation, status=status)

    def failure(self, what: str, *, repository: str, operation: str, status: Optional[int]) -> AuthenticationFailed:
        creds = self.credentials()
        if creds.is_anonymous:
            found = f"no credentials were found for {self.registry}"
        elif creds.username:
            found = f"credentials were found for {self.registry} (user {creds.username!r})"
        else:
            found = f"an identity token was found for {self.registry}"
        where = f" for repository {repository}" if repository else ""
        return AuthenticationFailed(
            f"{operation}: registry {self.registry} {what}{where}; {found}",
            registry=self.registry,
            operation=operation,
            repository=repository,
            credentials_found=not creds.is_anonymous,
            status=status,
        )

    # -- tokens ----------------------------------------------------------------------------------

    def _fetch_token(
        self, challenge: Challenge, scopes: Tuple[str, ...], attempts: Attempts, repository: str
    ) -> Tuple[str, float]:
        realm = challenge.params.get("realm")
        if not realm:
            raise RegistryProtocolError(
                f"registry {self.registry} sent a Bearer challenge without a realm",
                registry=self.registry,
                operation=attempts.operation,
            )
        service = challenge.params.get("service")
        creds = self.credentials()
        headers = {"Accept": "application/json"}
        self._counters.add("token_requests")
        if creds.identity_token:
            form = [("grant_type", "refresh_token"), ("refresh_token", creds.identity_token), ("client_id", CLIENT_ID)]
            if service:
                form.append(("service", service))
            if scopes:
                form.append(("scope", " ".join(scopes)))
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            resp = self._transport.request(
                "POST", realm, attempts=attempts, headers=headers, body=urlencode(form).encode("ascii")
            )
        else:
            query = ([("service", service)] if service else []) + [("scope", s) for s in scopes]
            url = realm + (("&" if "?" in realm else "?") + urlencode(query) if query else "")
            if creds.username:
                headers["Authorization"] = _basic(creds)
            resp = self._transport.request("GET", url, attempts=attempts, headers=headers)
        realm_name = redact_url(realm)
        if resp.status in (401, 403):
            resp.error_detail()
            raise self.failure(
                f"token server {realm_name} refused to issue a token for scope {' '.join(scopes) or '(none)'}",
                repository=repository,
                operation=attempts.operation,
                status=resp.status,
            )
        if resp.status != 200:
            detail = resp.error_detail()
            raise RegistryProtocolError(
                f"token server {realm_name} answered HTTP {resp.status}" + (f": {detail}" if detail else ""),
                registry=self.registry,
                operation=attempts.operation,
            )
        data = resp.read(TOKEN_BODY_LIMIT)
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise RegistryProtocolError(
                f"token server {realm_name} answered with invalid JSON", registry=self.registry
            ) from None
        token = (doc.get("token") or doc.get("access_token")) if isinstance(doc, dict) else None
        if not isinstance(token, str) or not token:
            raise RegistryProtocolError(
                f"token server {realm_name} answered without a token"
                + (f" ({describe_error_body(data)})" if describe_error_body(data) else ""),
                registry=self.registry,
            )
        lifetime = doc.get("expires_in", DEFAULT_TOKEN_LIFETIME)
        if not isinstance(lifetime, (int, float)) or isinstance(lifetime, bool) or lifetime <= 0:
            lifetime = DEFAULT_TOKEN_LIFETIME
        return token, float(lifetime)
