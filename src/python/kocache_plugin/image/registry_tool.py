"""Registry reads as Pants Processes: the plugin's own stdlib-only registry client, run by the host's python3.

A read by digest is a pure function of the digest (the client verifies what it fetched), so its Process is
cached like any build step, locally and remotely: base metadata and layers are fetched once per digest.
Resolving a tag is not pure, so it never caches (it is what the base lock is for).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Tuple

from pants.base.build_root import BuildRoot
from pants.core.util_rules.system_binaries import BinaryPathRequest, BinaryPaths, BinaryPathTest
from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.fs import CreateDigest, Digest, FileContent
from pants.engine.process import Process, ProcessCacheScope
from pants.engine.rules import Get, collect_rules, rule
from pants.util.logging import LogLevel

from kocache_plugin.subsystems.kocache import KocacheSubsystem

_PLUGIN_ROOT = Path(__file__).resolve().parents[1]  # .../kocache_plugin
SOURCES_DIR = "__kocache_py"


class RegistryToolError(Exception):
    """No usable python3 for the registry client."""


@dataclass(frozen=True)
class RegistryTool:
    python: str
    sources: Digest  # kocache_plugin/oci/** under SOURCES_DIR


@dataclass(frozen=True)
class RegistryProcess:
    args: Tuple[str, ...]
    description: str
    output_directories: Tuple[str, ...] = ()
    cacheable: bool = True  # False for tag resolution


@rule(desc="Find python3 for the registry client", level=LogLevel.DEBUG)
async def find_registry_tool() -> RegistryTool:
    pythons = await Get(
        BinaryPaths,
        BinaryPathRequest(
            binary_name="python3",
            search_path=("/usr/bin", "/bin", "/usr/local/bin"),
            test=BinaryPathTest(["-c", "import sys; assert sys.version_info >= (3, 9); print(sys.version)"]),
        ),
    )
    if not pythons.first_path:
        raise RegistryToolError(
            "Reading images from registries needs python3 >= 3.9 in /usr/bin, /bin or /usr/local/bin; none was found."
        )
    files = [_PLUGIN_ROOT / "__init__.py", *sorted((_PLUGIN_ROOT / "oci").rglob("*.py"))]
    sources = await Get(
        Digest,
        CreateDigest(
            [FileContent(f"{SOURCES_DIR}/kocache_plugin/{p.relative_to(_PLUGIN_ROOT)}", p.read_bytes()) for p in files]
        ),
    )
    return RegistryTool(pythons.first_path.path, sources)


@rule
async def registry_process(
    request: RegistryProcess, tool: RegistryTool, kocache: KocacheSubsystem, build_root: BuildRoot
) -> Process:
    # Where credentials live (never the credentials themselves) and PATH for docker-credential-* helpers.
    env = await Get(EnvironmentVars, EnvironmentVarsRequest(["DOCKER_CONFIG", "HOME", "PATH"]))
    insecure = [arg for registry in kocache.insecure_registries for arg in ("--insecure", registry)]
    if kocache.registry_ca_certs:
        insecure += ["--ca-file", os.path.join(build_root.path, kocache.registry_ca_certs)]
    return Process(
        argv=(tool.python, "-m", "kocache_plugin.oci.registry.fetch_cli", *request.args[:1], *insecure, *request.args[1:]),
        description=request.description,
        input_digest=tool.sources,
        env={"PYTHONPATH": SOURCES_DIR, "PYTHONDONTWRITEBYTECODE": "1", **env},
        output_directories=request.output_directories,
        cache_scope=ProcessCacheScope.SUCCESSFUL if request.cacheable else ProcessCacheScope.PER_SESSION,
        remote_cache_speculation_delay_millis=kocache.remote_cache_speculation_delay_millis if request.cacheable else 0,
        level=LogLevel.DEBUG,
    )


def rules():
    return collect_rules()
