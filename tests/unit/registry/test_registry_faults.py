"""Retries against injected faults (fault proxy in front of the real registry), all bounded in time."""

from __future__ import annotations

import time

import pytest

from kocache_plugin.oci.digest import sha256_file
from kocache_plugin.oci.registry import RegistryClient, RegistryUnreachable, RetryPolicy, static_provider
from tests.support.images import make_image, push_image, random_blob
from tests.support.registry import free_port

FAST = RetryPolicy(initial_backoff=0.01, max_backoff=0.05, total_timeout=20, read_timeout=10)


class RecordingSleep:
    def __init__(self) -> None:
        self.calls = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        time.sleep(seconds)


def make_client(host: str, policy: RetryPolicy = FAST, **kwargs) -> RegistryClient:
    return RegistryClient(host, credentials_provider=static_provider({}), retry_policy=policy, **kwargs)


def test_500s_then_success(fault_proxy, unique_repo, tmp_path):
    repo = unique_repo("flaky")
    image = make_image(tmp_path / "img", content=b"flaky\n")
    with make_client(fault_proxy.host) as c:
        push_image(c, repo, "v1", image)
        fault_proxy.fail(500, times=2, methods=["GET"], path="/manifests/")
        assert c.get_manifest(repo, "v1")[0] == image.manifest
        assert c.counters.retries == 2
        # An upload PUT failing with 502/503 restarts the upload in a new session.
        blob = random_blob(tmp_path, 10_000, seed=1)
        fault_proxy.fail(503, times=1, methods=["PUT"], path="/blobs/uploads/")
        fault_proxy.fail(502, times=1, methods=["POST"], path="/blobs/uploads/")
        assert c.upload_blob(repo, *sha256_file(blob), blob) == "uploaded"
        assert c.counters.retries == 4
        assert c.blob_exists(repo, sha256_file(blob)[0])


def test_persistent_500_gives_a_clear_error(fault_proxy, unique_repo):
    repo = unique_repo("down")
    fault_proxy.fail(500, times=100, path="/manifests/")
    policy = RetryPolicy(max_attempts=3, initial_backoff=0.01, max_backoff=0.02, total_timeout=10)
    with make_client(fault_proxy.host, policy) as c:
        with pytest.raises(RegistryUnreachable) as info:
            c.get_manifest(repo, "v1")
    err = info.value
    message = str(err)
    assert f"get manifest {fault_proxy.host}/{repo}:v1 on registry {fault_proxy.host}" in message
    assert "failed after 3 attempt(s)" in message and "HTTP 500 (UNAVAILABLE: injected 500)" in message
    assert err.last_status == 500 and err.attempts == 3


def test_429_retry_after_is_honoured(fault_proxy, unique_repo, tmp_path):
    repo = unique_repo("throttled")
    image = make_image(tmp_path / "img", content=b"throttled\n")
    sleep = RecordingSleep()
    with make_client(fault_proxy.host, sleep=sleep) as c:
        push_image(c, repo, "v1", image)
        fault_proxy.fail(429, times=1, retry_after=1, path="/manifests/")
        started = time.monotonic()
        assert c.head_manifest(repo, "v1").digest == image.manifest_desc.digest
        assert time.monotonic() - started >= 1.0
    assert sleep.calls == [1.0]
    # A Retry-After beyond the budget fails at once instead of sleeping through it.
    policy = RetryPolicy(total_timeout=2, retry_after_cap=60)
    with make_client(fault_proxy.host, policy, sleep=sleep) as c:
        fault_proxy.fail(429, times=1, retry_after=30, path="/manifests/")
        with pytest.raises(RegistryUnreachable, match="HTTP 429.*Retry-After 30.*would exceed"):
            c.head_manifest(repo, "v1")
    assert sleep.calls == [1.0]


@pytest.mark.parametrize("chunked", [False, True], ids=["monolithic", "chunked"])
def test_reset_mid_upload_then_success(fault_proxy, unique_repo, tmp_path, chunked):
    repo = unique_repo("reset")
    blob = random_blob(tmp_path, 300_000, seed=3)
    digest, size = sha256_file(blob)
    fault_proxy.reset_upload(times=1, after_bytes=50_000)
    kwargs = {"chunk_size": 100_000, "monolithic_threshold": 100_000} if chunked else {}
    with make_client(fault_proxy.host, **kwargs) as c:
        assert c.upload_blob(repo, digest, size, blob) == "uploaded"
        assert c.counters.retries == 1
        assert c.counters.blob_bytes_uploaded >= size + 50_000 - 1  # the lost part was sent again
        out = tmp_path / "back.bin"
        c.get_blob(repo, digest, out, size=size)
        assert out.read_bytes() == blob.read_bytes()
    resets = [r for r in fault_proxy.snapshot() if r.fault == "reset"]
    assert len(resets) == 1 and resets[0].body_bytes == 50_000
    assert fault_proxy.count("POST", "/blobs/uploads/") == 2  # the upload restarted in a new session


def test_stall_fails_within_bounded_time(fault_proxy, unique_repo):
    fault_proxy.stall(30, times=100)
    policy = RetryPolicy(max_attempts=10, initial_backoff=0.05, read_timeout=0.4, connect_timeout=0.4, total_timeout=1.5)
    started = time.monotonic()
    with make_client(fault_proxy.host, policy) as c:
        with pytest.raises(RegistryUnreachable) as info:
            c.get_manifest(unique_repo("stall"), "v1")
    elapsed = time.monotonic() - started
    assert elapsed < 4.0
    assert "timed out waiting for the server" in str(info.value)


def test_connection_refused_is_bounded():
    port = free_port()  # nothing listens here
    policy = RetryPolicy(max_attempts=3, initial_backoff=0.01, max_backoff=0.02, total_timeout=5)
    started = time.monotonic()
    with make_client(f"127.0.0.1:{port}", policy) as c:
        with pytest.raises(RegistryUnreachable, match="connection refused") as info:
            c.blob_exists("x/y", "sha256:" + "0" * 64)
    assert time.monotonic() - started < 3
    assert f"127.0.0.1:{port}" in str(info.value)
