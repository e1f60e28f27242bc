"""The SBOM step: `go version -m` on each built binary (a cached Process keyed by the binary's content),
then an SPDX document for the image."""

from __future__ import annotations

from dataclasses import dataclass

from pants.engine.fs import CreateDigest, Digest, FileContent
from pants.engine.process import ProcessResult
from pants.engine.rules import Get, MultiGet, collect_rules, rule

from kocache_plugin.go.go_process import GoProcess
from kocache_plugin.image.assemble import BuiltImage, rfc3339
from kocache_plugin.sbom.go_buildinfo import parse_go_version_m
from kocache_plugin.sbom.spdx import image_sbom
from kocache_plugin.subsystems.kocache import KocacheSubsystem


@dataclass(frozen=True)
class ImageSbomRequest:
    image: BuiltImage
    name: str  # e.g. the target address
    path: str  # where the document goes in the output digest


@rule(desc="Write an image SBOM")
async def image_sbom_document(request: ImageSbomRequest, kocache: KocacheSubsystem) -> Digest:
    results = await MultiGet(
        Get(
            ProcessResult,
            GoProcess.create(
                ["version", "-m", binary.name],
                f"Read the build information of {binary.address} ({binary.platform})",
                input_digest=binary.digest,
                build_cache=None,
            ),
        )
        for binary in request.image.binaries
    )
    binaries = [
        (str(binary.platform), binary.name, parse_go_version_m(result.stdout.decode()))
        for binary, result in zip(request.image.binaries, results)
    ]
    document = image_sbom(request.name, request.image.top.digest, rfc3339(kocache.source_date_epoch), binaries)
    return await Get(Digest, CreateDigest([FileContent(request.path, document)]))


def rules():
    return collect_rules()
