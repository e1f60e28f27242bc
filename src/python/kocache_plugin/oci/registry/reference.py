"""Image references (`[registry[:port]/]repository[:tag][@digest]`), parsed and validated like the Docker CLI.

Grammar (distribution/reference, distribution-spec):
    repository component  [a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*   joined by "/"
    tag                   [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
    domain                hostname components joined by ".", or [IPv6], optionally ":port"
The first "/"-separated part is a registry only if it contains "." or ":", is "localhost", or has
uppercase letters; otherwise the reference is on Docker Hub ("docker.io", API host
registry-1.docker.io), where single-component repositories get the "library/" prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Optional

from kocache_plugin.oci.digest import InvalidDigest, parse_digest

DOCKER_HUB = "docker.io"
DOCKER_HUB_API_HOST = "registry-1.docker.io"
DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DOMAIN_COMPONENT = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?")
_IPV6 = re.compile(r"\[[A-Fa-f0-9:.]+\]")
_PORT = re.compile(r"[0-9]+")


class InvalidReference(ValueError):
    """A string that is not a valid image reference; the message names the offending part."""


def registry_api_host(registry: str) -> str:
    """The host[:port] to talk to for a registry name (Docker Hub's API lives on registry-1.docker.io)."""
    return DOCKER_HUB_API_HOST if registry in DOCKER_HUB_ALIASES else registry


def _check_registry(registry: str, whole: str) -> None:
    def fail(reason: str) -> InvalidReference:
        return InvalidReference(f"invalid reference {whole!r}: registry {registry!r} {reason}")

    if not registry:
        raise fail("is empty")
    if registry.startswith("["):
        host, _, rest = registry.partition("]")
        host += "]"
        if not _IPV6.fullmatch(host):
            raise fail("is not a valid bracketed IPv6 address")
        if rest and not (rest.startswith(":") and _PORT.fullmatch(rest[1:])):
            raise fail("has an invalid port (expected [ipv6]:<digits>)")
        return
    host, sep, port = registry.partition(":")
    if sep and not _PORT.fullmatch(port):
        raise fail(f"has an invalid port {port!r} (expected digits)")
    if sep and not 0 < int(port) < 65536:
        raise fail(f"has an out-of-range port {port}")
    for component in host.split("."):
        if not _DOMAIN_COMPONENT.fullmatch(component):
            raise fail(
                f"has an invalid hostname component {component!r} "
                "(letters, digits and inner '-', separated by '.')"
            )


def _check_repository(repository: str, whole: str) -> None:
    if not repository:
        raise InvalidReference(f"invalid reference {whole!r}: repository name is empty")
    if repository != repository.lower():
        raise InvalidReference(
            f"invalid reference {whole!r}: repository {repository!r} must be lowercase"
        )
    for component in repository.split("/"):
        if not _PATH_COMPONENT.fullmatch(component):
            raise InvalidReference(
                f"invalid reference {whole!r}: repository component {component!r} is invalid "
                "(lowercase letters and digits, separated by '.', '_', '__' or '-'; no empty parts)"
            )


def _check_tag(tag: str, whole: str) -> None:
    if not _TAG.fullmatch(tag):
        raise InvalidReference(
            f"invalid reference {whole!r}: tag {tag!r} is invalid "
            "(1-128 characters of [A-Za-z0-9_.-], not starting with '.' or '-')"
        )


def _check_digest(digest: str, whole: str) -> None:
    try:
        algorithm, _ = parse_digest(digest)
    except InvalidDigest as e:
        raise InvalidReference(f"invalid reference {whole!r}: {e}") from None
    if algorithm != "sha256":
        raise InvalidReference(
            f"invalid reference {whole!r}: digest {digest!r} uses {algorithm}; only sha256 is supported"
        )


@dataclass(frozen=True)
class Reference:
    """A parsed image reference; `tag` defaults to "latest" only when neither tag nor digest was given."""

    registry: str
    repository: str
    tag: Optional[str] = None
    digest: Optional[str] = None

    def __post_init__(self) -> None:
        whole = self._format()
        _check_registry(self.registry, whole)
        _check_repository(self.repository, whole)
        if self.tag is not None:
            _check_tag(self.tag, whole)
        if self.digest is not None:
            _check_digest(self.digest, whole)
        if len(f"{self.registry}/{self.repository}") > NAME_TOTAL_LENGTH_MAX:
            raise InvalidReference(
                f"invalid reference {whole!r}: name is longer than {NAME_TOTAL_LENGTH_MAX} characters"
            )

    @classmethod
    def parse(cls, s: str, *, default_registry: str = DOCKER_HUB) -> "Reference":
        """Parse a reference string, applying Docker Hub defaults for names without a registry."""
        if not isinstance(s, str):
            raise InvalidReference(f"image reference must be a string, got {type(s).__name__}")
        if not s:
            raise InvalidReference("image reference is empty")
        if s != s.strip() or any(c.isspace() for c in s):
            raise InvalidReference(f"invalid reference {s!r}: contains whitespace")
        if "://" in s:
            raise InvalidReference(
                f"invalid reference {s!r}: remove the URL scheme (write host[:port]/repo[:tag])"
            )
        rest, at, digest = s.partition("@")
        if at and not digest:
            raise InvalidReference(f"invalid reference {s!r}: '@' must be followed by a digest")
        slash = rest.rfind("/")
        colon = rest.rfind(":")
        tag: Optional[str] = None
        if colon > slash:
            rest, tag = rest[:colon], rest[colon + 1 :]
            if not tag:
                raise InvalidReference(f"invalid reference {s!r}: ':' must be followed by a tag")
        first, sep, remainder = rest.partition("/")
        if sep and (
            "." in first or ":" in first or first == "localhost" or first.startswith("[") or first != first.lower()
        ):
            registry, repository = first, remainder
        else:
            registry, repository = default_registry, rest
        if registry in DOCKER_HUB_ALIASES:
            registry = DOCKER_HUB
            if repository and "/" not in repository:
                repository = f"library/{repository}"
        if tag is None and not digest:
            tag = DEFAULT_TAG
        if not repository:
            raise InvalidReference(f"invalid reference {s!r}: repository name is empty")
        # Validate first so that errors quote what the user wrote, not the normalized form.
        _check_registry(registry, s)
        _check_repository(repository, s)
        if tag is not None:
            _check_tag(tag, s)
        if digest:
            _check_digest(digest, s)
        if len(f"{registry}/{repository}") > NAME_TOTAL_LENGTH_MAX:
            raise InvalidReference(f"invalid reference {s!r}: name is longer than {NAME_TOTAL_LENGTH_MAX} characters")
        return cls(registry=registry, repository=repository, tag=tag, digest=digest or None)

    def _format(self) -> str:
        out = f"{self.registry}/{self.repository}"
        if self.tag is not None:
            out += f":{self.tag}"
        if self.digest is not None:
            out += f"@{self.digest}"
        return out

    def __str__(self) -> str:
        return self._format()

    @property
    def identifier(self) -> str:
        """What to ask the registry for: the digest when known, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    @property
    def api_host(self) -> str:
        """The host[:port] serving the registry API for this reference."""
        return registry_api_host(self.registry)

    def context(self) -> str:
        """registry/repository, without tag or digest."""
        return f"{self.registry}/{self.repository}"

    def with_tag(self, tag: str) -> "Reference":
        """The same repository at `tag` (any digest is dropped: a tag names whatever it points at)."""
        return replace(self, tag=tag, digest=None)

    def with_digest(self, digest: str) -> "Reference":
        """The same repository pinned to `digest`; the tag, if any, is kept for display."""
        return replace(self, digest=digest)


def parse_reference(s: str, *, default_registry: str = DOCKER_HUB) -> Reference:
    """Shorthand for Reference.parse."""
    return Reference.parse(s, default_registry=default_registry)


def check_repository(repository: str) -> str:
    """`repository` if it is a valid repository name (e.g. "team/app"), else InvalidReference."""
    _check_repository(repository, repository)
    if len(repository) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidReference(f"repository {repository!r} is longer than {NAME_TOTAL_LENGTH_MAX} characters")
    return repository


def check_tag_or_digest(ref: str) -> str:
    """`ref` if it is a valid tag or sha256 digest (what follows ':' or '@' in a reference)."""
    if ":" in ref:
        _check_digest(ref, ref)
    else:
        _check_tag(ref, ref)
    return ref
