"""The `[kocache]` options: repo-wide defaults for images (ko's KO_DOCKER_REPO, defaultPlatforms, ...)."""

from __future__ import annotations

from pants.option.option_types import BoolOption, FileOption, IntOption, StrListOption, StrOption
from pants.option.subsystem import Subsystem
from pants.util.strutil import softwrap


class KocacheSubsystem(Subsystem):
    options_scope = "kocache"
    help = "Defaults for ko_binary / ko_image targets (the kocache plugin)."

    default_platforms = StrListOption(
        default=["linux/amd64"],
        help=softwrap(
            """
            Platforms to build when a `ko_image` or `ko_binary` sets no `platforms` (like ko's
            `defaultPlatforms`). Forms: `os/arch` or `os/arch/variant`, e.g. `linux/amd64`,
            `linux/arm64`, `linux/arm/v7`, `linux/amd64/v3`.
            """
        ),
    )
    default_repository = StrOption(
        default=None,
        help="Repository prefix for images that set no `repository` (like ko's KO_DOCKER_REPO).",
    )
    gzip_level = IntOption(
        default=1,
        help=softwrap(
            """
            Gzip level (1-9) of the layers the plugin makes. Part of every layer's cache key.
            Level 1 is ko's choice too: binaries barely compress, so more effort buys little.
            """
        ),
    )
    source_date_epoch = IntOption(
        default=0,
        help=softwrap(
            """
            Seconds since the epoch used for every file mtime in layers and for the image's
            `created` time. Fixed by default so that images are reproducible; the environment
            variable SOURCE_DATE_EPOCH does not enter builds implicitly (set this option instead).
            """
        ),
        advanced=True,
    )
    base_lock = StrOption(
        default="ko-bases.lock.json",
        help=softwrap(
            """
            The base lock (relative to the build root): registry base images by tag, resolved to
            digests by `pants ko-lock-bases ::`. Commit it: builds then need no network for base
            metadata, and a base changes only when the lock does.
            """
        ),
    )
    resolve_unlocked_bases = BoolOption(
        default=False,
        help=softwrap(
            """
            Resolve a registry base tag that is missing from the base lock at build time (once per
            Pants run) instead of failing. Builds then depend on what the tag points at today.
            """
        ),
    )
    insecure_registries = StrListOption(
        default=[],
        help="Registries (host[:port]) reached over plain http / without TLS verification. Loopback registries always may.",
    )
    go_build_cache = StrOption(
        default=None,
        help=softwrap(
            """
            Directory for Go's build cache (an accelerator only: no output depends on it). Default:
            `$KOCACHE/go-build` when ko's KOCACHE is set, else Pants' named cache
            `kocache_go_build` under `[GLOBAL].named_caches_dir`. The location never enters a cache key.
            """
        ),
    )
    registry_ca_certs = FileOption(
        default=None,
        help=softwrap(
            """
            A PEM bundle of CA certificates trusted for registries (base image reads and publish), on
            top of the system's: for a registry whose certificate a private CA signed.
            """
        ),
    )
    remote_cache_speculation_delay_millis = IntOption(
        default=1000,
        help=softwrap(
            """
            With a remote cache, how long a step waits for the cache to answer before it also starts
            locally. Pants' default (0) starts every step at once and kills it when the hit arrives, so a
            checkout with a warm remote cache still spawns each `go build`. Not part of any key.
            """
        ),
        advanced=True,
    )
