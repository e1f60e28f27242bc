"""Pure units of the registry client: challenge parsing, scopes, retry budget, Retry-After, host rules."""

from __future__ import annotations

import time

import pytest

from kocache_plugin.oci.registry.auth import canonical_scopes, parse_www_authenticate, repository_scope
from kocache_plugin.oci.registry.client import _parse_range_end
from kocache_plugin.oci.registry.errors import RegistryProtocolError, RegistryUnreachable
from kocache_plugin.oci.registry.transport import (
    Attempts,
    RetryPolicy,
    Transport,
    describe_error_body,
    is_loopback_host,
    parse_retry_after,
    redact_url,
    split_host_port,
)


def test_parse_bearer_challenge():
    [c] = parse_www_authenticate(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/alpine:pull,push",error="insufficient_scope"'
    )
    assert c.scheme == "bearer"
    assert c.params["realm"] == "https://auth.docker.io/token"
    assert c.params["service"] == "registry.docker.io"
    assert c.scopes == ("repository:library/alpine:pull,push",)
    assert c.params["error"] == "insufficient_scope"


def test_parse_multiple_and_odd_challenges():
    cs = parse_www_authenticate('Basic realm="a, b", Bearer realm=x,scope="s1 s2"')
    assert [c.scheme for c in cs] == ["basic", "bearer"]
    assert cs[0].params == {"realm": "a, b"}
    assert cs[1].scopes == ("s1", "s2")
    assert parse_www_authenticate('bearer realm="q\\"uote"')[0].params["realm"] == 'q"uote'
    assert parse_www_authenticate("") == []
    assert parse_www_authenticate("Basic")[0].scheme == "basic"


def test_scopes():
    assert repository_scope("a/b", "push", "pull", "push") == "repository:a/b:pull,push"
    merged = canonical_scopes(["repository:a:pull"], ["repository:a:push", "repository:b:pull", "registry:catalog:*"])
    assert merged == ("registry:catalog:*", "repository:a:pull,push", "repository:b:pull")
    # A pull scope and a push scope are different cache keys.
    assert canonical_scopes(["repository:a:pull"]) != canonical_scopes(["repository:a:pull,push"])


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_backoff_is_exponential_jittered_and_bounded():
    fake = FakeClock()
    policy = RetryPolicy(max_attempts=5, initial_backoff=1.0, multiplier=2.0, jitter=0.5, max_backoff=3.0)
    attempts = Attempts(policy, "reg.example", "get thing", clock=fake.clock, sleep=fake.sleep, rand=lambda: 1.0)
    for _ in range(4):
        attempts.retry("HTTP 503", 503)
    assert fake.sleeps == [0.5, 1.0, 1.5, 1.5]  # base 1,2,4->3,8->3, each reduced by 50% jitter
    with pytest.raises(RegistryUnreachable) as info:
        attempts.retry("HTTP 503 (UNAVAILABLE: down)", 503)
    err = info.value
    assert "get thing on registry reg.example failed after 5 attempt(s)" in str(err)
    assert "HTTP 503 (UNAVAILABLE: down)" in str(err)
    assert err.last_status == 503 and err.registry == "reg.example"


def test_total_time_bound_and_retry_after():
    fake = FakeClock()
    policy = RetryPolicy(max_attempts=100, total_timeout=10.0, retry_after_cap=4.0)
    attempts = Attempts(policy, "r", "op", clock=fake.clock, sleep=fake.sleep, rand=lambda: 0.0)
    attempts.retry("HTTP 429", 429, retry_after=2.0)
    attempts.retry("HTTP 429", 429, retry_after=3600.0)  # capped
    assert fake.sleeps == [2.0, 4.0]
    with pytest.raises(RegistryUnreachable, match="would exceed the 10s budget"):
        attempts.retry("HTTP 429", 429, retry_after=5.0)
    fake.now = 11
    with pytest.raises(RegistryUnreachable, match="time budget spent"):
        attempts.check()


def test_parse_retry_after():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = time.time()
    http_date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now + 30))
    assert 25 <= parse_retry_after(http_date, now=now) <= 31
    past = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now - 30))
    assert parse_retry_after(past, now=now) == 0.0


def test_hosts():
    for host in ("localhost", "127.0.0.1", "127.8.9.1", "::1", "[::1]"):
        assert is_loopback_host(host), host
    for host in ("10.0.0.1", "example.com", "128.0.0.1", "::2"):
        assert not is_loopback_host(host), host
    assert split_host_port("127.0.0.1:5000") == ("127.0.0.1", 5000)
    assert split_host_port("[::1]:5000") == ("::1", 5000)
    assert split_host_port("ghcr.io") == ("ghcr.io", None)


def test_plain_http_refused_for_remote_hosts():
    attempts = Attempts(RetryPolicy(), "ghcr.io", "op")
    transport = Transport("ghcr.io")
    with pytest.raises(RegistryProtocolError, match="refusing plain-http"):
        transport.request("GET", "http://ghcr.io/v2/", attempts=attempts)
    # An insecure registry may use http, but only towards itself.
    insecure = Transport("reg.internal:5000", insecure=True)
    assert insecure._http_allowed("reg.internal") and not insecure._http_allowed("other.internal")


def test_describe_error_body():
    body = b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}'
    assert describe_error_body(body) == "MANIFEST_UNKNOWN: manifest unknown"
    assert describe_error_body(b"<html>\n bad gateway </html>") == "<html> bad gateway </html>"
    assert describe_error_body(b"{}") == ""


def test_redact_url():
    signed = "https://user:pw@storage.example.com:8443/blobs/abc?X-Amz-Signature=SECRET&X-Amz-Credential=K"
    assert redact_url(signed) == "https://storage.example.com:8443/blobs/abc"
    assert redact_url("http://[::1]:5000/v2/?x=1") == "http://[::1]:5000/v2/"


def test_upload_range_header():
    assert _parse_range_end("0-1023") == 1023
    assert _parse_range_end("bytes=0-99") == 99
    assert _parse_range_end(None) is None
    assert _parse_range_end("garbage") is None
