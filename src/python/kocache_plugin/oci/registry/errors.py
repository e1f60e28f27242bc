"""Registry errors: one hierarchy so callers can tell "retry later" from "fix your config" from "no such image".

Messages name the registry, the operation and the reference involved, and never a credential:
no password, token or Authorization header is ever formatted into an exception.
"""

from __future__ import annotations

from typing import Optional


class RegistryError(Exception):
    """Base of every error raised by the registry client."""

    def __init__(self, message: str, *, registry: str = "", operation: str = "") -> None:
        super().__init__(message)
        self.registry = registry
        self.operation = operation


class RegistryUnreachable(RegistryError):
    """The registry could not be reached, or kept failing (5xx, 429, resets, timeouts) until retries ran out."""

    def __init__(
        self,
        message: str,
        *,
        registry: str = "",
        operation: str = "",
        last_status: Optional[int] = None,
        attempts: int = 0,
    ) -> None:
        super().__init__(message, registry=registry, operation=operation)
        self.last_status = last_status
        self.attempts = attempts


class TLSVerificationFailed(RegistryUnreachable):
    """The registry speaks TLS but its certificate is not trusted (pass ca_file, or mark it insecure)."""


class AuthenticationFailed(RegistryError):
    """401/403: credentials missing, wrong, or lacking the scope (e.g. push) the request needs."""

    def __init__(
        self,
        message: str,
        *,
        registry: str = "",
        operation: str = "",
        repository: str = "",
        credentials_found: bool = False,
        status: Optional[int] = None,
    ) -> None:
        super().__init__(message, registry=registry, operation=operation)
        self.repository = repository
        self.credentials_found = credentials_found
        self.status = status


class NotFound(RegistryError):
    """The manifest, tag or blob does not exist in the repository."""

    def __init__(self, message: str, *, registry: str = "", operation: str = "", reference: str = "") -> None:
        super().__init__(message, registry=registry, operation=operation)
        self.reference = reference


class PlatformNotFound(NotFound):
    """An image index has no manifest for the requested platform."""


class RegistryProtocolError(RegistryError):
    """The registry answered something the distribution spec does not allow (bad digest, missing header...)."""


class DigestMismatch(RegistryProtocolError):
    """Content whose sha256 differs from the digest it was fetched or pushed by."""
