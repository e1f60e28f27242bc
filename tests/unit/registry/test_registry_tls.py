"""TLS: a registry serving a certificate from a private test CA."""

from __future__ import annotations

import time

import pytest

from kocache_plugin.oci.registry import RegistryClient, RetryPolicy, TLSVerificationFailed, static_provider
from tests.support.images import make_image, push_image

FAST = RetryPolicy(initial_backoff=0.01, max_backoff=0.05, total_timeout=20, read_timeout=10)


def test_tls_with_test_ca(registry_factory, tmp_path):
    reg = registry_factory(tls=True)
    image = make_image(tmp_path / "img", content=b"tls\n")
    with RegistryClient(reg.host, ca_file=reg.ca_file, credentials_provider=static_provider({}), retry_policy=FAST) as c:
        digest = push_image(c, "tls/app", "v1", image)
        assert c.get_manifest("tls/app", "v1")[2] == digest
        assert c.transport.base_url(c._attempts("probe")) == f"https://{reg.host}"

    # Without the CA: a clear, immediate error (no retries, no silent downgrade to http).
    started = time.monotonic()
    with RegistryClient(reg.host, credentials_provider=static_provider({}), retry_policy=FAST) as c:
        with pytest.raises(TLSVerificationFailed) as info:
            c.get_manifest("tls/app", "v1")
        assert c.counters.retries == 0
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert f"TLS certificate of {reg.host} is not trusted" in message
    assert "ca_file" in message and "insecure" in message

    # Marked insecure: verification is skipped (Docker's insecure-registries semantics).
    with RegistryClient(reg.host, insecure=True, credentials_provider=static_provider({}), retry_policy=FAST) as c:
        assert c.get_manifest("tls/app", "v1")[2] == digest
