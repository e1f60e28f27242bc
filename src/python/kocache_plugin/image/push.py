"""Pushing an image: where it goes (its repository, named as ko names them, and its tags) and the push step.

The push is the build's one side effect, so it is an InteractiveProcess: never cached, run only by
`pants publish`, after packaging. It runs the plugin's registry client (`oci/registry/push_cli.py`) with
the host's python3 over the image's OCI layout, which packaging already made: the same `BuiltImage`,
memoized, whatever `output` the package has. Credentials never enter the step: the client reads Docker's
config.json (or runs its credential helpers) itself, so only where they live is passed on.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from typing import Optional, Tuple

from pants.base.build_root import BuildRoot
from pants.core.util_rules.distdir import DistDir
from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.fs import AddPrefix, Digest, DigestContents, MergeDigests, PathGlobs
from pants.engine.process import InteractiveProcess
from pants.engine.rules import Get, collect_rules, rule

from kocache_plugin.go.modules import GoModule, GoModuleRequest
from kocache_plugin.image.assemble import BuiltImage, ImageRequest
from kocache_plugin.image.image_spec import KoImageSpec
from kocache_plugin.image.registry_tool import SOURCES_DIR, RegistryTool
from kocache_plugin.oci.registry.reference import DOCKER_HUB, InvalidReference, Reference
from kocache_plugin.subsystems.kocache import KocacheSubsystem
from kocache_plugin.subsystems.publish import KoPublishSubsystem, RepositoryNaming

_LAYOUT_DIR = "__image"
REFS_FILE = "image-refs.txt"


class ImagePublishError(Exception):
    """A ko_image that cannot be published as configured (the message names the target and the registry)."""


@dataclass(frozen=True)
class ImageDestination:
    registry: str  # host[:port], as in references; "docker.io" for Docker Hub
    repository: str
    tags: Tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    def tagged(self) -> Tuple[str, ...]:
        return tuple(f"{self.name}:{tag}" for tag in self.tags)


@dataclass(frozen=True)
class ImageDestinationRequest:
    spec: KoImageSpec
    repository: Optional[str]  # the target's `repository` field (None when unset)


@dataclass(frozen=True)
class ImagePushRequest:
    spec: KoImageSpec
    destination: ImageDestination


def go_module_path(go_mod: str) -> Optional[str]:
    """The `module` directive of a go.mod."""
    for line in go_mod.splitlines():
        line = line.split("//", 1)[0].strip()
        if line.startswith("module ") or line.startswith("module\t"):
            return line[len("module") :].strip().strip('"') or None
    return None


def repository_suffix(import_path: str, naming: RepositoryNaming) -> str:
    """What ko appends to KO_DOCKER_REPO for a main package's import path (lowercased, as ko does)."""
    if naming is RepositoryNaming.preserve_import_path:
        return import_path.lower()
    return posixpath.basename(import_path).lower()


async def _import_path(spec: KoImageSpec) -> str:
    owner = str(spec.address)
    main_dir = spec.binaries[0].main_dir
    module = await Get(GoModule, GoModuleRequest(main_dir, owner))
    contents = await Get(DigestContents, PathGlobs([module.path("go.mod")]))
    module_path = go_module_path(contents[0].content.decode(errors="replace")) if contents else None
    if not module_path:
        raise ImagePublishError(f"{owner}: {module.path('go.mod')} has no `module` line, so the image cannot be named")
    rel = posixpath.relpath(main_dir or ".", module.dir or ".")
    return module_path if rel == "." else f"{module_path}/{rel}"


def _registry_of(name: str) -> str:
    first, sep, _ = name.partition("/")
    return first if sep and ("." in first or ":" in first or first == "localhost") else DOCKER_HUB


def parse_destination(name: str, origin: str, owner: str) -> Tuple[str, str]:
    """(registry, repository) of `name`, which must be a repository: no tag, no digest."""
    registry = _registry_of(name)

    def fail(why: str) -> ImagePublishError:
        return ImagePublishError(f"{owner}: {origin} `{name}` is not a valid repository for registry {registry}: {why}")

    if "/" not in name and ("." in name or ":" in name or name == "localhost"):
        raise ImagePublishError(
            f"{owner}: {origin} `{name}` names the registry {name} but no repository in it; "
            "write host[:port]/repository"
        )
    if "@" in name or ":" in name.rsplit("/", 1)[-1]:
        raise fail("it has a tag or digest (tags go in the `tags` field)")
    try:
        ref = Reference.parse(name)
    except InvalidReference as e:
        raise fail(str(e)) from None
    return ref.registry, ref.repository


@rule(desc="Name a ko image's repository")
async def image_destination(
    request: ImageDestinationRequest, kocache: KocacheSubsystem, publish: KoPublishSubsystem
) -> ImageDestination:
    spec = request.spec
    owner = str(spec.address)
    if request.repository:
        name, origin = request.repository.strip(), "the `repository` field"
    else:
        default = (kocache.default_repository or "").strip().rstrip("/")
        if not default:
            raise ImagePublishError(
                f"{owner}: nowhere to publish: set `repository` on the target, or [kocache].default_repository "
                "(like ko's KO_DOCKER_REPO), e.g. `registry.example.com/team`."
            )
        if publish.naming is RepositoryNaming.bare:
            name = default
        else:
            name = f"{default}/{repository_suffix(await _import_path(spec), publish.naming)}"
        origin = f"the repository named from [kocache].default_repository ({publish.naming.value})"
    registry, repository = parse_destination(name, origin, owner)
    for tag in spec.tags:
        try:
            Reference(registry, repository, tag=tag)
        except InvalidReference as e:
            raise ImagePublishError(f"{owner}: the tag {tag!r} cannot be pushed to {registry}/{repository}: {e}") from None
    return ImageDestination(registry, repository, spec.tags)


@rule(desc="Prepare a ko image push")
async def image_push_process(
    request: ImagePushRequest,
    tool: RegistryTool,
    kocache: KocacheSubsystem,
    publish: KoPublishSubsystem,
    build_root: BuildRoot,
    distdir: DistDir,
) -> InteractiveProcess:
    spec, dest = request.spec, request.destination
    image = await Get(BuiltImage, ImageRequest(spec))
    layout = await Get(Digest, AddPrefix(image.layout, _LAYOUT_DIR))
    input_digest = await Get(Digest, MergeDigests([tool.sources, layout]))
    env = await Get(EnvironmentVars, EnvironmentVarsRequest(publish.env_vars))
    refs_file = publish.image_refs or os.path.join(str(distdir.relpath), REFS_FILE)
    argv = [
        tool.python,
        "-S",  # no site module at all: the client is stdlib only, and a host's .pth files cost each push ~40 ms
        "-m",
        "kocache_plugin.oci.registry.push_cli",
        f"--target={spec.address}",
        f"--layout={_LAYOUT_DIR}",
        f"--registry={dest.registry}",
        f"--repository={dest.repository}",
        *(f"--tag={tag}" for tag in dest.tags),
        f"--expect-digest={image.top.digest}",
        *(f"--insecure={registry}" for registry in kocache.insecure_registries),
        f"--refs-file={os.path.join(build_root.path, refs_file)}",
        f"--request-timeout={publish.request_timeout}",
        f"--retry-timeout={publish.retry_timeout}",
    ]
    if kocache.registry_ca_certs:
        argv.append(f"--ca-file={os.path.join(build_root.path, kocache.registry_ca_certs)}")
    return InteractiveProcess(
        argv=argv,
        env={**env, "PYTHONPATH": SOURCES_DIR, "PYTHONDONTWRITEBYTECODE": "1"},
        input_digest=input_digest,
    )


def rules():
    return collect_rules()
