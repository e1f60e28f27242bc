"""Parse `go version -m <binary>`: the module versions and sums Go embeds in every binary it links."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Tuple


class BuildInfoError(ValueError):
    """Output that is not `go version -m` build information."""


@dataclass(frozen=True)
class Module:
    path: str
    version: str
    sum: str = ""
    replaced_by: str = ""  # "path version" of a `=>` line, if any


@dataclass(frozen=True)
class BuildInfo:
    go_version: str
    path: str  # the main package's import path
    main: Module
    deps: Tuple[Module, ...]
    settings: Tuple[Tuple[str, str], ...] = field(default=())


def parse_go_version_m(text: str) -> BuildInfo:
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or ":" not in lines[0]:
        raise BuildInfoError("no `<file>: <go version>` header")
    go_version = lines[0].split(":", 1)[1].strip()
    path = ""
    main = Module("", "")
    deps: List[Module] = []
    settings: Dict[str, str] = {}
    for line in lines[1:]:
        parts = line.strip().split("\t")
        kind, rest = parts[0], parts[1:]
        if kind == "path" and rest:
            path = rest[0]
        elif kind == "mod" and rest:
            main = Module(rest[0], rest[1] if len(rest) > 1 else "", rest[2] if len(rest) > 2 else "")
        elif kind == "dep" and rest:
            deps.append(Module(rest[0], rest[1] if len(rest) > 1 else "", rest[2] if len(rest) > 2 else ""))
        elif kind == "=>" and deps and rest:
            last = deps.pop()
            deps.append(Module(last.path, last.version, rest[2] if len(rest) > 2 else last.sum, " ".join(rest[:2])))
        elif kind == "build" and rest:
            key, _, value = rest[0].partition("=")
            settings[key] = value
    if not path:
        raise BuildInfoError("no `path` line: the binary carries no Go build information")
    return BuildInfo(go_version, path, main, tuple(sorted(deps, key=lambda m: m.path)), tuple(sorted(settings.items())))
