"""A `ko_binary` target read once into a plain value: what to build and how (validated up front)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Optional, Tuple

from pants.engine.addresses import Address
from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.target import WrappedTarget, WrappedTargetRequest
from pants.util.frozendict import FrozenDict

from kocache_plugin.go.git_facts import GitFacts
from kocache_plugin.oci.platform import InvalidPlatform, Platform
from kocache_plugin.target_types import (
    KoBinaryMainField,
    KoBinaryNameField,
    KoBuildEnvField,
    KoBuildFlagsField,
    KoBuildTagsField,
    KoCgoField,
    KoGcflagsField,
    KoLdflagsField,
    KoPlatformsField,
)

_REFUSED_FLAGS = ("-toolexec", "-o", "-C", "-modfile", "-overlay", "-pgo=auto")
_RESERVED_ENV = ("GOOS", "GOARCH", "GOARM", "GOAMD64", "GOARM64", "GO386", "CGO_ENABLED", "GOROOT", "GOPATH",
                 "GOCACHE", "GOMODCACHE", "GOFLAGS", "GOPROXY", "GOTOOLCHAIN")
_TEMPLATE = re.compile(r"\{\{\s*\.(Target|Platform|Git\.(?:Commit|Describe)|Env\.([A-Za-z_][A-Za-z0-9_]*))\s*\}\}")


class KoBinaryError(Exception):
    """A ko_binary whose fields are wrong, or an address that is not a ko_binary."""


@dataclass(frozen=True)
class GoBinarySpec:
    address: Address
    main_dir: str  # relative to the build root
    name: str
    platforms: Optional[Tuple[Platform, ...]]  # None: use the image's or the global default
    flags: Tuple[str, ...]
    ldflags: Tuple[str, ...]  # `{{.Env.X}}` already rendered; `{{.Platform}}` per build
    gcflags: Tuple[str, ...]
    tags: Tuple[str, ...]
    env: FrozenDict
    cgo: bool

    def render_ldflags(self, platform: Platform) -> Tuple[str, ...]:
        return tuple(
            _TEMPLATE.sub(lambda m: str(platform) if m.group(1) == "Platform" else m.group(0), flag)
            for flag in self.ldflags
        )


@dataclass(frozen=True)
class GoBinarySpecRequest:
    address: Address
    owner: str  # who refers to it (for errors): an image address, or the binary itself


def parse_platforms(values, owner: str) -> Optional[Tuple[Platform, ...]]:
    if values is None:
        return None
    try:
        platforms = tuple(Platform.parse(v) for v in values)
    except InvalidPlatform as e:
        raise KoBinaryError(f"{owner}: {e}") from None
    if not platforms:
        raise KoBinaryError(f"{owner}: `platforms` is empty; name at least one platform, e.g. ['linux/amd64'].")
    return tuple(dict.fromkeys(platforms))


def _check_flags(address: Address, flags) -> None:
    for flag in flags:
        name = flag.split("=", 1)[0].lstrip("-")
        if any(name == refused.lstrip("-").split("=")[0] for refused in _REFUSED_FLAGS):
            raise KoBinaryError(
                f"{address}: the go build flag `{flag}` is not allowed: it would make the build depend on "
                "things outside its inputs (or move its output). ko refuses -toolexec too."
            )


@rule
async def resolve_go_binary_spec(request: GoBinarySpecRequest) -> GoBinarySpec:
    wrapped = await Get(WrappedTarget, WrappedTargetRequest(request.address, description_of_origin=request.owner))
    tgt = wrapped.target
    if not tgt.has_field(KoBinaryMainField):
        raise KoBinaryError(
            f"{request.owner}: `{request.address}` is a `{tgt.alias}` target, not a `ko_binary`."
        )
    address = tgt.address
    main_dir = os.path.normpath(os.path.join(address.spec_path, tgt[KoBinaryMainField].value))
    main_dir = "" if main_dir == "." else main_dir
    if main_dir.startswith(".."):
        raise KoBinaryError(f"{address}: `main` points outside the repository: {tgt[KoBinaryMainField].value}")
    flags = tuple(tgt[KoBuildFlagsField].value or ())
    _check_flags(address, flags)
    env = dict(tgt[KoBuildEnvField].value or {})
    reserved = sorted(set(env) & set(_RESERVED_ENV))
    if reserved:
        raise KoBinaryError(
            f"{address}: `env` may not set {', '.join(reserved)}: platforms, cgo and the plugin decide those."
        )
    ldflags = tuple(tgt[KoLdflagsField].value or ())
    env_names = sorted({m.group(2) for flag in ldflags for m in _TEMPLATE.finditer(flag) if m.group(2)})
    host_env = await Get(EnvironmentVars, EnvironmentVarsRequest(env_names)) if env_names else {}
    uses_git = any(m.group(1).startswith("Git.") for flag in ldflags for m in _TEMPLATE.finditer(flag))
    git = await Get(GitFacts) if uses_git else None

    def render(m: re.Match) -> str:
        if m.group(1) == "Target":
            return str(address)
        if m.group(2):
            return host_env.get(m.group(2), "")
        if git is not None and m.group(1) == "Git.Commit":
            return git.commit
        if git is not None and m.group(1) == "Git.Describe":
            return git.describe
        return m.group(0)  # {{.Platform}}: per build

    name = tgt[KoBinaryNameField].value or (os.path.basename(main_dir) or "app")
    if "/" in name or name in ("", ".", ".."):
        raise KoBinaryError(f"{address}: `binary_name` must be a plain file name, not {name!r}.")
    return GoBinarySpec(
        address=address,
        main_dir=main_dir,
        name=name,
        platforms=parse_platforms(tgt[KoPlatformsField].value, str(address)),
        flags=flags,
        ldflags=tuple(_TEMPLATE.sub(render, flag) for flag in ldflags),
        gcflags=tuple(tgt[KoGcflagsField].value or ()),
        tags=tuple(tgt[KoBuildTagsField].value or ()),
        env=FrozenDict(env),
        cgo=tgt[KoCgoField].value,
    )


def rules():
    return collect_rules()
