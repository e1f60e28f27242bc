"""Target platforms: one value both selects a base-image manifest and sets the Go cross-compile environment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Mapping

_VALID_FORMS = (
    "os/arch or os/arch/variant, e.g. linux/amd64, linux/arm64, linux/arm/v7, linux/amd64/v3"
)

# Go's GOOS/GOARCH names, which are also the OCI platform names: parse() rejects typos early
# rather than letting `go build` or a registry fail later.
_KNOWN_OS = frozenset(
    "aix android darwin dragonfly freebsd illumos ios js linux netbsd openbsd plan9 solaris "
    "wasip1 windows".split()
)
_KNOWN_ARCH = frozenset(
    "386 amd64 arm arm64 loong64 mips mipsle mips64 mips64le ppc64 ppc64le riscv64 s390x "
    "wasm".split()
)
# Variants that mean something to Go (GOARM / GOAMD64) or to the OCI spec (arm64/v8).
_VALID_VARIANTS = {
    "arm": ("v5", "v6", "v7"),
    "arm64": ("v8",),
    "amd64": ("v1", "v2", "v3", "v4"),
}
# Non-Go spellings people commonly type, mapped to what they most likely meant.
_ARCH_ALIASES = {
    "x86_64": "amd64",
    "x86-64": "amd64",
    "aarch64": "arm64",
    "armhf": "arm/v7",
    "armel": "arm/v6",
    "i386": "386",
    "i686": "386",
}


class InvalidPlatform(ValueError):
    """A platform string or JSON object that cannot name an OCI/Go target."""


def _normalized_variant(architecture: str, variant: str) -> str:
    """Variant with containerd's defaults applied: arm64 is v8, amd64 is v1, bare arm is v7."""
    if architecture == "arm64" and variant == "v8":
        return ""
    if architecture == "amd64" and variant == "v1":
        return ""
    if architecture == "arm" and variant == "":
        return "v7"
    return variant


@dataclass(frozen=True)
class Platform:
    """An OCI platform (os, architecture, optional variant and os.version)."""

    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""

    def __post_init__(self) -> None:
        if not self.os or not self.architecture:
            raise InvalidPlatform(
                f"platform needs a non-empty os and architecture, got os={self.os!r} "
                f"architecture={self.architecture!r}"
            )

    @classmethod
    def parse(cls, s: str) -> Platform:
        """Parse "os/arch" or "os/arch/variant", validating names and variants against what Go can build."""

        def fail(reason: str) -> InvalidPlatform:
            return InvalidPlatform(f"invalid platform {s!r}: {reason}; expected {_VALID_FORMS}")

        if not isinstance(s, str):
            raise InvalidPlatform(f"platform must be a string ({_VALID_FORMS}), got {s!r}")
        parts = s.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise fail("wrong number of '/'-separated parts or an empty part")
        os_name, arch = parts[0], parts[1]
        variant = parts[2] if len(parts) == 3 else ""
        if os_name not in _KNOWN_OS:
            raise fail(f"unknown os {os_name!r} (Go GOOS names, e.g. linux, windows)")
        if arch not in _KNOWN_ARCH:
            alias = _ARCH_ALIASES.get(arch)
            hint = f"; did you mean {os_name}/{alias}?" if alias else ""
            raise fail(f"unknown architecture {arch!r} (Go GOARCH names){hint}")
        if variant:
            allowed = _VALID_VARIANTS.get(arch, ())
            if variant not in allowed:
                choices = ", ".join(allowed) if allowed else "none"
                raise fail(
                    f"variant {variant!r} is not valid for {arch} (valid variants: {choices})"
                )
        return cls(os=os_name, architecture=arch, variant=variant)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Platform:
        """Read an OCI platform object, accepting any names since real indexes carry e.g. unknown/unknown."""
        os_name = obj.get("os")
        arch = obj.get("architecture")
        if not isinstance(os_name, str) or not isinstance(arch, str):
            raise InvalidPlatform(
                f"platform object needs string 'os' and 'architecture' fields, got {dict(obj)!r}"
            )
        variant = obj.get("variant", "")
        os_version = obj.get("os.version", "")
        if not isinstance(variant, str) or not isinstance(os_version, str):
            raise InvalidPlatform(
                f"platform 'variant' and 'os.version' must be strings, got {dict(obj)!r}"
            )
        return cls(os=os_name, architecture=arch, variant=variant, os_version=os_version)

    def __str__(self) -> str:
        parts = [self.os, self.architecture] + ([self.variant] if self.variant else [])
        return "/".join(parts)

    def to_json(self) -> Dict[str, str]:
        """The OCI platform object; optional fields appear only when set."""
        obj = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            obj["variant"] = self.variant
        if self.os_version:
            obj["os.version"] = self.os_version
        return obj

    def go_env(self) -> Dict[str, str]:
        """The environment for `go build` targeting this platform."""
        env = {"GOOS": self.os, "GOARCH": self.architecture}
        if self.variant and self.architecture == "arm":
            env["GOARM"] = self.variant[1:]
        elif self.variant and self.architecture == "amd64":
            env["GOAMD64"] = self.variant
        return env

    def matches(self, other: Mapping[str, Any]) -> bool:
        """Whether an OCI platform object (e.g. from an index entry or image config) is this platform.

        Variants are compared after containerd's normalization (arm64 v8 == "", amd64 v1 == "",
        arm "" == v7); os.version is compared only when this platform specifies one.
        """
        if other.get("os") != self.os or other.get("architecture") != self.architecture:
            return False
        if self.os_version and other.get("os.version", "") != self.os_version:
            return False
        theirs = other.get("variant") or ""
        return _normalized_variant(self.architecture, theirs) == _normalized_variant(
            self.architecture, self.variant
        )
