"""The `[ko-publish]` options: how `pants publish` names, pushes and records ko images."""

from __future__ import annotations

from enum import Enum

from pants.option.option_types import EnumOption, FloatOption, StrListOption, StrOption
from pants.option.subsystem import Subsystem
from pants.util.strutil import softwrap


class RepositoryNaming(Enum):
    """ko's choices for an image's repository under `[kocache].default_repository` (KO_DOCKER_REPO)."""

    base_import_path = "base-import-path"  # ko -B: <default>/<last element of the import path>
    preserve_import_path = "preserve-import-path"  # ko -P: <default>/<the whole import path>
    bare = "bare"  # ko --bare: <default> itself


class KoPublishSubsystem(Subsystem):
    options_scope = "ko-publish"
    help = "How `pants publish` pushes ko_image targets to registries (the kocache plugin)."

    naming = EnumOption(
        default=RepositoryNaming.base_import_path,
        help=softwrap(
            """
            How an image that sets no `repository` is named under `[kocache].default_repository`, from
            the Go import path of its entrypoint's main package (lowercased), as ko does:
            `base-import-path` (ko -B) appends the path's last element (`example.com/app/cmd/server` →
            `<default>/server`); `preserve-import-path` (ko -P) appends the whole path
            (`<default>/example.com/app/cmd/server`); `bare` (ko --bare) uses `<default>` itself,
            so every such image shares one repository.
            """
        ),
    )
    image_refs = StrOption(
        default=None,
        help=softwrap(
            """
            The refs file (like ko's `--image-refs`), relative to the build root: one line
            `registry/repository@sha256:...` per repository published to, the digest last pushed there.
            Publishing some targets updates their lines and keeps the others. Default:
            `image-refs.txt` in Pants' dist directory.
            """
        ),
    )
    request_timeout = FloatOption(
        default=60.0,
        help="Seconds one registry request may stall (connect, or wait for data) before it is retried.",
        advanced=True,
    )
    retry_timeout = FloatOption(
        default=300.0,
        help=softwrap(
            """
            Seconds one registry operation (a blob upload, a manifest put) may take, retries and
            backoff included (5xx, 429 with Retry-After, resets, timeouts); then publish fails.
            """
        ),
        advanced=True,
    )
    env_vars = StrListOption(
        default=["DOCKER_CONFIG", "HOME", "PATH"],
        help=softwrap(
            """
            Environment variables passed to the push: where Docker's config.json is, and what
            `docker-credential-*` helpers need (add e.g. `DBUS_SESSION_BUS_ADDRESS` for
            secretservice). Put credentials in config.json or a helper, not here.
            """
        ),
        advanced=True,
    )
