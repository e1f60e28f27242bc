"""`pants publish` for ko_image: push every packaged image to its repository. Thin: the work is in image/push.py.

Pants' publish goal packages every target first, then asks each for its processes, then runs them one after
the other. Naming and validation happen while the processes are asked for, so a bad repository or tag (or a
target that does not build) stops the goal before anything reaches a registry.
"""

from __future__ import annotations

from dataclasses import dataclass

from pants.core.goals.publish import (
    PublishFieldSet,
    PublishOutputData,
    PublishPackages,
    PublishProcesses,
    PublishRequest,
)
from pants.engine.process import InteractiveProcess
from pants.engine.rules import Get, collect_rules, rule

from kocache_plugin.image.image_spec import KoImageSpec, KoImageSpecRequest
from kocache_plugin.image.push import ImageDestination, ImageDestinationRequest, ImagePushRequest
from kocache_plugin.target_types import KoImageBinaryField, KoImageRepositoryField, KoImageTagsField


class PublishKoImageRequest(PublishRequest):
    pass


@dataclass(frozen=True)
class PublishKoImageFieldSet(PublishFieldSet):
    publish_request_type = PublishKoImageRequest
    required_fields = (KoImageBinaryField,)

    repository: KoImageRepositoryField
    tags: KoImageTagsField

    def get_output_data(self) -> PublishOutputData:
        return PublishOutputData({"publisher": "kocache", **super().get_output_data()})


@rule(desc="Publish a ko image")
async def publish_ko_image(request: PublishKoImageRequest) -> PublishProcesses:
    field_set = request.field_set
    spec = await Get(KoImageSpec, KoImageSpecRequest(field_set.address))
    destination = await Get(ImageDestination, ImageDestinationRequest(spec, field_set.repository.value))
    process = await Get(InteractiveProcess, ImagePushRequest(spec, destination))
    return PublishProcesses(
        [
            PublishPackages(
                names=destination.tagged(),
                process=process,
                data=PublishOutputData({"registry": destination.registry, "repository": destination.repository}),
            )
        ]
    )


def rules():
    return (*collect_rules(), *PublishKoImageFieldSet.rules())
