"""The target types `ko_binary`, `ko_layer` and `ko_image` and their fields."""

from __future__ import annotations

from pants.core.goals.package import OutputPathField
from pants.option.global_options import GlobMatchErrorBehavior
from pants.engine.target import (
    COMMON_TARGET_FIELDS,
    BoolField,
    DictStringToStringField,
    MultipleSourcesField,
    StringField,
    StringSequenceField,
    Target,
)
from pants.util.strutil import softwrap

# --- ko_binary ------------------------------------------------------------------------------------


class KoBinaryMainField(StringField):
    alias = "main"
    default = "."
    help = softwrap(
        """
        Directory of the Go `package main` to build, relative to this BUILD file's directory.
        The default `.` means the package that lives next to the BUILD file (as `go_binary` does).
        """
    )


class KoBinaryNameField(StringField):
    alias = "binary_name"
    help = softwrap(
        """
        File name of the binary, and so of `/ko-app/<name>` in images. Defaults to the last
        element of the main package's directory (ko's choice: the import path's base name).
        """
    )


class KoPlatformsField(StringSequenceField):
    alias = "platforms"
    help = softwrap(
        """
        Platforms to build, as `os/arch` or `os/arch/variant`: `linux/amd64`, `linux/arm64`,
        `linux/arm/v7`, `linux/amd64/v3`, ... Each platform is its own build and its own cache
        key. Defaults to `[kocache].default_platforms`.
        """
    )


class KoBuildFlagsField(StringSequenceField):
    alias = "flags"
    help = "Extra `go build` flags, e.g. `['-a']`. `-toolexec` and `-o` are refused."


class KoLdflagsField(StringSequenceField):
    alias = "ldflags"
    help = softwrap(
        """
        Linker flags (`go build -ldflags`), e.g. `['-s', '-w', '-X main.version={{.Version}}']`.
        Templates: `{{.Target}}` (this target's address), `{{.Platform}}` (e.g. linux/arm64),
        `{{.Env.NAME}}` (the variable NAME of Pants' environment), `{{.Git.Commit}}` and
        `{{.Git.Describe}}` (`git describe --tags --always --dirty`; git runs at most once per Pants
        run, and only when a template asks). Rendered values are part of the build's key. `-buildid=`
        always comes first (an empty Go build ID, so that a comment-only edit leaves the binary
        byte-identical); a later `-buildid=...` of yours wins.
        """
    )


class KoGcflagsField(StringSequenceField):
    alias = "gcflags"
    help = "Compiler flags (`go build -gcflags`)."


class KoBuildTagsField(StringSequenceField):
    alias = "tags"
    help = "Go build tags (`go build -tags`)."


class KoBuildEnvField(DictStringToStringField):
    alias = "env"
    help = softwrap(
        """
        Extra environment for `go build`, e.g. `{"GOEXPERIMENT": "loopvar"}`. GOOS, GOARCH,
        GOARM, GOAMD64 and CGO_ENABLED come from `platforms` and `cgo` and cannot be set here.
        """
    )


class KoCgoField(BoolField):
    alias = "cgo"
    default = False
    help = "Build with CGO_ENABLED=1 (needs a C toolchain for each platform). Off by default, as in ko."


class KoBinaryTarget(Target):
    alias = "ko_binary"
    core_fields = (
        *COMMON_TARGET_FIELDS,
        KoBinaryMainField,
        KoBinaryNameField,
        KoPlatformsField,
        KoBuildFlagsField,
        KoLdflagsField,
        KoGcflagsField,
        KoBuildTagsField,
        KoBuildEnvField,
        KoCgoField,
    )
    help = softwrap(
        """
        A Go `package main` built hermetically (`-trimpath`, fixed env) for one or more
        platforms. Declare it in the main package's directory.
        """
    )


# --- ko_layer -------------------------------------------------------------------------------------


class KoLayerSourcesField(MultipleSourcesField):
    default = ("kodata/**/*",)
    # A layer file that does not exist is an error (naming the target and the glob), not a warning.
    default_glob_match_error_behavior = GlobMatchErrorBehavior.error
    help = softwrap(
        """
        Files to put in the layer, relative to this BUILD file's directory. With the default
        `kodata/**/*`, a file `kodata/a/b.txt` lands at `<path>/a/b.txt` (ko's `kodata/`).
        """
    )


class KoLayerStripPrefixField(StringField):
    alias = "strip_prefix"
    default = "kodata"
    help = "Leading directory (relative to the BUILD file) removed from each source path."


class KoLayerPathField(StringField):
    alias = "path"
    default = "/var/run/ko"
    help = "Directory in the image that receives the files. `KO_DATA_PATH` is set to it."


class KoLayerTarget(Target):
    alias = "ko_layer"
    core_fields = (*COMMON_TARGET_FIELDS, KoLayerSourcesField, KoLayerStripPrefixField, KoLayerPathField)
    help = "Extra files for images (ko's `kodata/`), made into their own content-addressed layer."


# --- ko_image -------------------------------------------------------------------------------------


class KoImageBinaryField(StringField):
    alias = "binary"
    required = True
    help = "Address of the `ko_binary` that is the image's entrypoint, e.g. `//cmd/server`."


class KoImageExtraBinariesField(StringSequenceField):
    alias = "binaries"
    help = "Addresses of more `ko_binary` targets to put in the image, each in its own layer."


class KoImageLayersField(StringSequenceField):
    alias = "layers"
    help = "Addresses of `ko_layer` targets to add on top of the base image."


class KoImageBaseField(StringField):
    alias = "base"
    default = "scratch"
    help = softwrap(
        """
        The base image: `scratch` (empty); `oci:path/to/layout[:tag]`, an OCI image layout directory
        in the repo; the address of another `ko_image` (e.g. `//base:image`), which is built first; or
        a registry reference such as `cgr.dev/chainguard/static:latest` or `repo@sha256:...` (tags are
        resolved through the base lock, see `pants ko-lock-bases`).
        """
    )


class KoImageEntrypointField(StringSequenceField):
    alias = "entrypoint"
    help = "The image's entrypoint. Defaults to `['/ko-app/<binary_name>']`, as in ko."


class KoImageArgsField(StringSequenceField):
    alias = "args"
    help = "Default arguments (the config's `Cmd`)."


class KoImageEnvField(DictStringToStringField):
    alias = "env"
    help = "Environment of the running container. PATH includes `/ko-app`."


class KoImageLabelsField(DictStringToStringField):
    alias = "labels"
    help = "Image labels."


class KoImageUserField(StringField):
    alias = "user"
    help = "User (and group) to run as, e.g. `65532` or `nonroot:nonroot`."


class KoImageWorkdirField(StringField):
    alias = "workdir"
    help = "Working directory of the running container."


class KoImagePortsField(StringSequenceField):
    alias = "ports"
    help = "Exposed ports, e.g. `['8080/tcp']`."


class KoImageRepositoryField(StringField):
    alias = "repository"
    help = "Repository to publish to, e.g. `registry.example.com/team/app`. Defaults from `[kocache].default_repository`."


class KoImageTagsField(StringSequenceField):
    alias = "tags"
    default = ("latest",)
    help = "Tags: the `org.opencontainers.image.ref.name` entries of the layout and the tags pushed by publish."


class KoImageOutputField(StringField):
    alias = "output"
    default = "oci-layout"
    valid_choices = ("oci-layout", "oci-archive", "docker-archive")
    help = softwrap(
        """
        What `pants package` writes: `oci-layout` (a directory), `oci-archive` (that directory as
        one tar, `<output_path>.tar`) or `docker-archive` (a tarball `docker load` accepts,
        `<output_path>.docker.tar`, one platform only). Every form holds the complete image, base
        layers included. An SPDX SBOM lands beside it as `<output_path>.spdx.json`.
        """
    )


class KoImageOutputPathField(OutputPathField):
    help = softwrap(
        """
        Where the OCI image layout directory is written, relative to `dist/`. Defaults to
        `path.to.dir/<target name>`.
        """
    )


class KoImageTarget(Target):
    alias = "ko_image"
    core_fields = (
        *COMMON_TARGET_FIELDS,
        KoImageBinaryField,
        KoImageExtraBinariesField,
        KoImageLayersField,
        KoImageBaseField,
        KoPlatformsField,
        KoImageEntrypointField,
        KoImageArgsField,
        KoImageEnvField,
        KoImageLabelsField,
        KoImageUserField,
        KoImageWorkdirField,
        KoImagePortsField,
        KoImageRepositoryField,
        KoImageTagsField,
        KoImageOutputField,
        KoImageOutputPathField,
    )
    help = softwrap(
        """
        An OCI image: a base image plus one layer per binary and per `ko_layer`, for one or more
        platforms. `pants package` writes an OCI image layout to `dist/`.
        """
    )


def target_types():
    return (KoBinaryTarget, KoLayerTarget, KoImageTarget)
