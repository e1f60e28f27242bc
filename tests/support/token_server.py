"""A tiny Docker-registry token server (the `auth.token` realm) on loopback, for tests.

GET  /token?service=..&scope=repository:<name>:<actions>[&scope=..]   (Basic credentials optional)
POST /token  grant_type=refresh_token&refresh_token=..&service=..&scope=..   (identity tokens)
answers {"token", "access_token", "expires_in", "issued_at"} with an RS256 JWT whose header carries
the signing certificate (x5c), which the registry verifies against its `rootcertbundle`.
What each user may do comes from `grants` ({user or None for anonymous: allowed actions}); the
granted actions are the requested ones that are allowed. Every request is recorded.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Dict, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import parse_qsl, urlsplit

from tests.support.loopback_http import LoopbackHTTPServer

_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def rs256_sign(message: bytes, n: int, d: int) -> bytes:
    """RSASSA-PKCS1-v1_5 with SHA-256 (JWT "RS256"), in plain Python."""
    k = (n.bit_length() + 7) // 8
    t = _SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
    em = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
    return pow(int.from_bytes(em, "big"), d, n).to_bytes(k, "big")


def decode_jwt_claims(token: str) -> Dict:
    """The (unverified) claims of a JWT: for tests that check what a token grants."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@dataclass(frozen=True)
class TokenRequest:
    """One request the token server answered."""

    user: Optional[str]  # None for anonymous
    scopes: Tuple[str, ...]
    granted: Tuple[str, ...]  # "repository:name:actions" actually put in the token
    status: int
    grant_type: str = ""  # "refresh_token" for POSTs


@dataclass
class TokenServerConfig:
    issuer: str = "kocache-test-issuer"
    service: str = "kocache-test-registry"
    users: Mapping[str, str] = field(default_factory=dict)  # user -> password
    refresh_tokens: Mapping[str, str] = field(default_factory=dict)  # identity token -> user
    grants: Mapping[Optional[str], Sequence[str]] = field(default_factory=lambda: {None: ("pull",)})
    lifetime: int = 300


class TokenServer(LoopbackHTTPServer):
    """Issue registry tokens on 127.0.0.1:<free port>; stops itself after `max_lifetime` seconds."""

    def __init__(
        self,
        cert_der: bytes,
        rsa_key: Tuple[int, int],
        config: Optional[TokenServerConfig] = None,
        *,
        max_lifetime: float = 300.0,
    ) -> None:
        super().__init__(max_lifetime)
        self.config = config or TokenServerConfig()
        self._cert_der = cert_der
        self._n, self._d = rsa_key
        self._lock = threading.Lock()
        self.requests: List[TokenRequest] = []
        self.issued: List[str] = []

    # -- lifecycle -------------------------------------------------------------------------------

    def _handler_class(self):
        return _make_handler(self)

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    # -- tokens ----------------------------------------------------------------------------------

    def _grant(self, user: Optional[str], scopes: Sequence[str]) -> List[Dict]:
        allowed = set(self.config.grants.get(user, ()))
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind != "repository" or not name:
                continue
            granted = sorted(a for a in set(actions.split(",")) if a in allowed)
            access.append({"type": kind, "name": name, "actions": granted})
        return access

    def make_token(self, user: Optional[str], access: List[Dict]) -> str:
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(self._cert_der).decode("ascii")]}
        claims = {
            "iss": self.config.issuer,
            "sub": user or "",
            "aud": self.config.service,
            "exp": now + self.config.lifetime,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        signing_input = (
            _b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        signature = rs256_sign(signing_input.encode("ascii"), self._n, self._d)
        return signing_input + "." + _b64url(signature)

    def _record(self, request: TokenRequest) -> None:
        with self._lock:
            self.requests.append(request)


def _make_handler(server: TokenServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def _reply(self, status: int, doc: Dict, extra: Optional[Dict[str, str]] = None) -> None:
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _basic_user(self) -> Tuple[Optional[str], bool]:
            """(user, ok): ok is False when credentials were sent but are wrong."""
            header = self.headers.get("Authorization", "")
            if not header:
                return None, True
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "basic":
                return None, False
            try:
                user, _, password = base64.b64decode(value).decode().partition(":")
            except Exception:
                return None, False
            if server.config.users.get(user) != password:
                return user, False
            return user, True

        def _issue(self, user: Optional[str], scopes: List[str], service: str, grant_type: str = "") -> None:
            if service and service != server.config.service:
                server._record(TokenRequest(user, tuple(scopes), (), 400, grant_type))
                self._reply(400, {"errors": [{"code": "INVALID_SERVICE", "message": "unknown service"}]})
                return
            access = server._grant(user, scopes)
            token = server.make_token(user, access)
            with server._lock:
                server.issued.append(token)
            granted = tuple(f"repository:{a['name']}:{','.join(a['actions'])}" for a in access)
            server._record(TokenRequest(user, tuple(scopes), granted, 200, grant_type))
            doc = {
                "token": token,
                "access_token": token,
                "expires_in": server.config.lifetime,
                "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            self._reply(200, doc)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path != "/token":
                self._reply(404, {"errors": [{"code": "NOT_FOUND", "message": parts.path}]})
                return
            query = parse_qsl(parts.query)
            scopes = [v for k, v in query if k == "scope"]
            service = next((v for k, v in query if k == "service"), "")
            user, ok = self._basic_user()
            if not ok:
                server._record(TokenRequest(user, tuple(scopes), (), 401))
                self._reply(
                    401,
                    {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]},
                    {"WWW-Authenticate": 'Basic realm="kocache-test-token"'},
                )
                return
            self._issue(user, scopes, service)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = dict(parse_qsl(self.rfile.read(length).decode()))
            scopes = form.get("scope", "").split()
            if form.get("grant_type") != "refresh_token":
                self._reply(400, {"error": "unsupported_grant_type"})
                return
            user = server.config.refresh_tokens.get(form.get("refresh_token", ""))
            if user is None:
                server._record(TokenRequest(None, tuple(scopes), (), 401, "refresh_token"))
                self._reply(401, {"error": "invalid_grant"})
                return
            self._issue(user, scopes, form.get("service", ""), "refresh_token")

    return Handler
