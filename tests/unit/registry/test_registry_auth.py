"""Authentication against real registries: htpasswd Basic auth and token (Bearer) auth with scopes."""

from __future__ import annotations

import pytest

from kocache_plugin.oci.registry import (
    AuthenticationFailed,
    Credentials,
    NotFound,
    RegistryClient,
    RetryPolicy,
    static_provider,
)
from tests.support.images import make_image, push_image
from tests.support.token_server import decode_jwt_claims

FAST = RetryPolicy(initial_backoff=0.01, max_backoff=0.05, total_timeout=20, read_timeout=10)
ALICE_PW = "alice-Pa55word-do-not-print"
READER_PW = "reader-Pa55word-do-not-print"


def client(host: str, creds=None) -> RegistryClient:
    return RegistryClient(host, credentials_provider=static_provider({host: creds} if creds else {}), retry_policy=FAST)


def test_basic_auth_good_credentials(registry_factory, tmp_path):
    reg = registry_factory(auth="htpasswd", users={"alice": ALICE_PW})
    image = make_image(tmp_path / "img")
    with client(reg.host, Credentials("alice", ALICE_PW)) as c:
        digest = push_image(c, "basic/app", "v1", image)
        assert c.get_manifest("basic/app", "v1")[2] == digest
        assert c.auth.challenge.scheme == "basic"
        assert c.counters.token_requests == 0


def test_basic_auth_bad_or_missing_credentials(registry_factory, tmp_path):
    reg = registry_factory(auth="htpasswd", users={"alice": ALICE_PW})
    wrong = "WRONG-" + ALICE_PW
    with client(reg.host, Credentials("alice", wrong)) as c:
        with pytest.raises(AuthenticationFailed) as info:
            c.get_manifest("basic/app", "v1")
    err = info.value
    message = str(err)
    assert reg.host in message and "basic/app" in message
    assert "rejected the credentials" in message and "credentials were found" in message and "'alice'" in message
    assert wrong not in message and ALICE_PW not in message and wrong not in repr(err.args)
    assert err.credentials_found and err.status == 401 and err.repository == "basic/app"

    with client(reg.host) as c:
        with pytest.raises(AuthenticationFailed) as info:
            c.blob_exists("basic/app", "sha256:" + "0" * 64)
    assert "no credentials were found for " + reg.host in str(info.value)
    assert not info.value.credentials_found


def _token_registry(registry_factory, **extra):
    return registry_factory(
        auth="token",
        users={"alice": ALICE_PW, "reader": READER_PW},
        grants={None: ("pull",), "alice": ("pull", "push"), "reader": ("pull",)},
        **extra,
    )


def test_token_auth_push_scope_and_no_pull_token_reuse(registry_factory, fault_proxy_factory, tmp_path):
    reg = _token_registry(registry_factory)
    proxy = fault_proxy_factory(reg.host)
    tokens = reg.token_server
    image = make_image(tmp_path / "img", content=b"token auth\n")
    with client(proxy.host, Credentials("alice", ALICE_PW)) as c:
        # A pull first: the client gets (and caches) a pull-only token.
        with pytest.raises(NotFound):
            c.get_manifest("tok/app", "v1")
        assert c.auth.cached_token_scopes() == [("repository:tok/app:pull",)]
        digest = push_image(c, "tok/app", "v1", image)
        assert c.get_manifest("tok/app", "v1")[2] == digest
        assert ("repository:tok/app:pull,push",) in c.auth.cached_token_scopes()
        assert c.counters.token_requests == 2  # one per scope set, then cached

    assert [r.scopes for r in tokens.requests] == [("repository:tok/app:pull",), ("repository:tok/app:pull,push",)]
    assert all(r.user == "alice" for r in tokens.requests)
    # Every request that writes carried a token granting push: the pull-only token was never reused.
    writes = [r for r in proxy.snapshot() if r.method in ("POST", "PATCH", "PUT")]
    assert writes
    for record in writes:
        scheme, _, token = record.headers["Authorization"].partition(" ")
        assert scheme == "Bearer"
        [access] = decode_jwt_claims(token)["access"]
        assert access["name"] == "tok/app" and "push" in access["actions"], record

    # Anonymous users may pull (with an anonymous token) ...
    with client(proxy.host) as anon:
        assert anon.get_manifest("tok/app", "v1")[2] == digest
    assert tokens.requests[-1].user is None
    # ... and a pull-only user cannot push: the registry refuses the token's missing push scope.
    with client(proxy.host, Credentials("reader", READER_PW)) as reader:
        assert reader.blob_exists("tok/app", image.layer.digest)
        with pytest.raises(AuthenticationFailed) as info:
            reader.put_manifest("tok/app", "v2", image.manifest, image.manifest_desc.media_type)
    message = str(info.value)
    assert "refused a token for scope repository:tok/app:pull,push" in message
    assert "'reader'" in message and READER_PW not in message
    assert tokens.requests[-1].granted == ("repository:tok/app:pull",)


def test_token_auth_bad_password_and_identity_token(registry_factory, tmp_path):
    reg = _token_registry(registry_factory, refresh_tokens={"identity-token-xyz": "alice"})
    with client(reg.host, Credentials("alice", "nope-" + ALICE_PW)) as c:
        with pytest.raises(AuthenticationFailed) as info:
            c.get_manifest("tok/app", "v1")
    message = str(info.value)
    assert "token server http://127.0.0.1:" in message and "refused to issue a token" in message
    assert reg.host in message and ALICE_PW not in message

    image = make_image(tmp_path / "img", content=b"identity\n")
    with client(reg.host, Credentials(identity_token="identity-token-xyz")) as c:
        push_image(c, "tok/idt", "v1", image)
    assert reg.token_server.requests[-1].grant_type == "refresh_token"
    assert reg.token_server.requests[-1].user == "alice"


def test_token_challenge_names_a_new_scope(registry_factory, fault_proxy_factory, tmp_path):
    """A 401 whose challenge names a scope the client did not ask for leads to a token for the union."""
    reg = _token_registry(registry_factory)
    proxy = fault_proxy_factory(reg.host)
    tokens = reg.token_server
    image = make_image(tmp_path / "img", content=b"scopes\n")
    with client(proxy.host, Credentials("alice", ALICE_PW)) as c:
        push_image(c, "tok/src", "v1", image)
        challenge = (
            f'Bearer realm="{tokens.realm}",service="{tokens.config.service}",'
            'scope="repository:tok/src:pull repository:tok/extra:pull",error="insufficient_scope"'
        )
        proxy.fail(401, times=1, methods=["GET"], path="/manifests/", headers={"WWW-Authenticate": challenge})
        assert c.get_manifest("tok/src", "v1")[0] == image.manifest
        assert tokens.requests[-1].scopes == ("repository:tok/extra:pull", "repository:tok/src:pull")

        # A cached token that the registry stops accepting is replaced once, not reported as a failure.
        same = f'Bearer realm="{tokens.realm}",service="{tokens.config.service}",scope="repository:tok/src:pull"'
        before = c.counters.token_requests
        proxy.fail(401, times=1, methods=["HEAD"], path="/manifests/", headers={"WWW-Authenticate": same})
        assert c.head_manifest("tok/src", "v1").digest == image.manifest_desc.digest
        assert c.counters.token_requests == before + 1

        # Mounting asks for push on the target and pull on the source in one token.
        assert c.mount_blob("tok/dst", image.layer.digest, "tok/src")
    assert ("repository:tok/dst:pull,push", "repository:tok/src:pull") in [r.scopes for r in tokens.requests]
