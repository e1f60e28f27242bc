"""The `[kocache-go]` options: where to find `go`, what version it must be, and which Go env vars pass through."""

from __future__ import annotations

from pants.option.option_types import StrListOption, StrOption
from pants.option.subsystem import Subsystem
from pants.util.strutil import softwrap


class KoGoSubsystem(Subsystem):
    options_scope = "kocache-go"
    help = "The Go toolchain used by ko_binary builds."

    class EnvironmentAware(Subsystem.EnvironmentAware):
        env_vars_used_by_options = ("PATH",)

        search_paths = StrListOption(
            default=["<PATH>"],
            help=softwrap(
                """
                Directories to search for the `go` binary, in order. `<PATH>` stands for the
                PATH of the environment Pants runs in. The first `go` that meets
                `[kocache-go].minimum_version` is used.
                """
            ),
        )

    minimum_version = StrOption(
        default="1.21",
        help="The oldest Go version (major.minor) accepted.",
    )
    proxy = StrOption(
        default="https://proxy.golang.org,direct",
        help=softwrap(
            """
            GOPROXY for the step that downloads third-party modules (and only that step: builds run
            with GOPROXY=off against the downloaded module cache).
            """
        ),
    )
    download_env = StrListOption(
        default=["GOPROXY", "GOPRIVATE", "GONOPROXY", "GONOSUMDB", "GOSUMDB", "GOINSECURE"],
        help=softwrap(
            """
            Environment variables copied from Pants' environment into the module download step
            (`NAME`), or set there (`NAME=value`). Only that step sees them; a GOPROXY set here
            wins over `[kocache-go].proxy`.
            """
        ),
        advanced=True,
    )
    goflags = StrOption(
        default="",
        help=softwrap(
            """
            GOFLAGS for every `go build` (part of the cache key). The host's GOFLAGS never leaks
            into builds. `-toolexec` is refused.
            """
        ),
        advanced=True,
    )
