"""`pants package` for ko_image: write the image's OCI layout under dist/. Thin: the work is in image/."""

from __future__ import annotations

from dataclasses import dataclass

from pants.core.goals.package import BuiltPackage, BuiltPackageArtifact, PackageFieldSet
from pants.engine.fs import AddPrefix, Digest
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.unions import UnionRule

from kocache_plugin.image.assemble import BuiltImage, ImageRequest
from kocache_plugin.image.image_spec import KoImageSpec, KoImageSpecRequest
from kocache_plugin.target_types import KoImageBinaryField, KoImageOutputPathField


@dataclass(frozen=True)
class KoImageFieldSet(PackageFieldSet):
    required_fields = (KoImageBinaryField,)

    binary: KoImageBinaryField
    output_path: KoImageOutputPathField


@rule(desc="Package a ko image")
async def package_ko_image(field_set: KoImageFieldSet) -> BuiltPackage:
    spec = await Get(KoImageSpec, KoImageSpecRequest(field_set.address))
    image = await Get(BuiltImage, ImageRequest(spec))
    digest = await Get(Digest, AddPrefix(image.layout, spec.output_path))
    platforms = ", ".join(str(m.platform) for m in image.manifests)
    return BuiltPackage(
        digest,
        (BuiltPackageArtifact(spec.output_path, extra_log_lines=(f"{image.top.digest} ({platforms})",)),),
    )


def rules():
    return (*collect_rules(), UnionRule(PackageFieldSet, KoImageFieldSet))
