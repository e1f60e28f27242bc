"""pytest fixtures for registry tests; register with `pytest_plugins = ["tests.support.fixtures"]`.

    test_pki                 (session) CA + 127.0.0.1 server cert + token signing key (tests.support.pki)
    registry                 (session) a plain-http, no-auth docker-registry; use unique repo names
    registry_factory         make(auth=None|"htpasswd"|"token", tls=False, users=..., grants=...,
                             relative_urls=False) -> RegistryServer, stopped after the test
    token_server_factory     make(TokenServerConfig) -> started TokenServer, stopped after the test
    fault_proxy_factory      make(upstream "host:port") -> started FaultProxy, stopped after the test
    fault_proxy              a FaultProxy in front of the session `registry`
    unique_repo              make(prefix="test") -> a fresh repository name
"""

from __future__ import annotations

import itertools
import uuid
from typing import Callable, Iterator, List, Mapping, Optional, Sequence

import pytest

from tests.support.fault_proxy import FaultProxy
from tests.support.pki import TestPKI, make_test_pki
from tests.support.registry import RegistryServer
from tests.support.token_server import TokenServer, TokenServerConfig

_counter = itertools.count()


@pytest.fixture(scope="session")
def test_pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return make_test_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    server = RegistryServer(tmp_path_factory.mktemp("registry")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def token_server_factory(test_pki: TestPKI) -> Iterator[Callable[..., TokenServer]]:
    started: List[TokenServer] = []

    def make(config: Optional[TokenServerConfig] = None) -> TokenServer:
        server = TokenServer(test_pki.token_cert_der, test_pki.token_rsa, config).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def registry_factory(
    tmp_path_factory: pytest.TempPathFactory,
    test_pki: TestPKI,
    token_server_factory: Callable[..., TokenServer],
) -> Iterator[Callable[..., RegistryServer]]:
    started: List[RegistryServer] = []

    def make(
        *,
        auth: Optional[str] = None,
        tls: bool = False,
        users: Optional[Mapping[str, str]] = None,
        grants: Optional[Mapping[Optional[str], Sequence[str]]] = None,
        refresh_tokens: Optional[Mapping[str, str]] = None,
        relative_urls: bool = False,
    ) -> RegistryServer:
        token_server = None
        if auth == "token":
            config = TokenServerConfig(users=dict(users or {}), refresh_tokens=dict(refresh_tokens or {}))
            if grants is not None:
                config.grants = dict(grants)
            token_server = token_server_factory(config)
        server = RegistryServer(
            tmp_path_factory.mktemp("registry"),
            auth=auth,
            users=users,
            token_server=token_server,
            pki=test_pki,
            tls=tls,
            relative_urls=relative_urls,
        )
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def fault_proxy_factory() -> Iterator[Callable[[str], FaultProxy]]:
    started: List[FaultProxy] = []

    def make(upstream: str, *, max_lifetime: float = 120.0) -> FaultProxy:
        proxy = FaultProxy(upstream, max_lifetime=max_lifetime).start()
        started.append(proxy)
        return proxy

    yield make
    for proxy in started:
        proxy.stop()


@pytest.fixture
def fault_proxy(registry: RegistryServer, fault_proxy_factory: Callable[[str], FaultProxy]) -> FaultProxy:
    return fault_proxy_factory(registry.host)


@pytest.fixture
def unique_repo() -> Callable[..., str]:
    def make(prefix: str = "test") -> str:
        return f"{prefix}/r{next(_counter)}-{uuid.uuid4().hex[:8]}"

    return make
