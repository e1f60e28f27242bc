"""A small OCI distribution-spec registry client (stdlib only); see README.md for why it exists."""

from kocache_plugin.oci.registry.client import (
    MANIFEST_ACCEPT,
    MOUNTED,
    PRESENT,
    UPLOADED,
    RegistryClient,
    Resolution,
)
from kocache_plugin.oci.registry.counters import ClientCounters
from kocache_plugin.oci.registry.docker_config import (
    ANONYMOUS,
    Credentials,
    DockerConfig,
    DockerConfigError,
    DockerConfigProvider,
    static_provider,
)
from kocache_plugin.oci.registry.errors import (
    AuthenticationFailed,
    DigestMismatch,
    NotFound,
    PlatformNotFound,
    RegistryError,
    RegistryProtocolError,
    RegistryUnreachable,
    TLSVerificationFailed,
)
from kocache_plugin.oci.registry.reference import InvalidReference, Reference, parse_reference
from kocache_plugin.oci.registry.transport import RetryPolicy

__all__ = [
    "ANONYMOUS",
    "AuthenticationFailed",
    "ClientCounters",
    "Credentials",
    "DigestMismatch",
    "DockerConfig",
    "DockerConfigError",
    "DockerConfigProvider",
    "InvalidReference",
    "MANIFEST_ACCEPT",
    "MOUNTED",
    "NotFound",
    "PRESENT",
    "PlatformNotFound",
    "Reference",
    "RegistryClient",
    "RegistryError",
    "RegistryProtocolError",
    "RegistryUnreachable",
    "Resolution",
    "RetryPolicy",
    "TLSVerificationFailed",
    "UPLOADED",
    "parse_reference",
    "static_provider",
]
