"""Shared fixtures for the whole suite: real registries on loopback, PKI, fault proxies."""

pytest_plugins = ["tests.support.fixtures"]
