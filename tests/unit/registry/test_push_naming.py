"""Where `pants publish` sends an image (image/push.py): ko's repository naming and the checks on names."""

from __future__ import annotations

import pytest

from kocache_plugin.image.push import ImagePublishError, go_module_path, parse_destination, repository_suffix
from kocache_plugin.subsystems.publish import RepositoryNaming

OWNER = "app/cmd/server:img"


def test_module_path_from_go_mod():
    assert go_module_path("// comment\nmodule example.com/App // trailing\n\ngo 1.21\n") == "example.com/App"
    assert go_module_path('module "example.com/quoted"\n') == "example.com/quoted"
    assert go_module_path("go 1.21\n") is None


@pytest.mark.parametrize(
    "naming, expected",
    [
        (RepositoryNaming.base_import_path, "server"),
        (RepositoryNaming.preserve_import_path, "example.com/app/cmd/server"),
    ],
)
def test_ko_naming_lowercases_the_import_path(naming, expected):
    assert repository_suffix("example.com/App/cmd/Server", naming) == expected


def test_destinations():
    assert parse_destination("127.0.0.1:5000/team/app", "x", OWNER) == ("127.0.0.1:5000", "team/app")
    assert parse_destination("ghcr.io/org/app", "x", OWNER) == ("ghcr.io", "org/app")
    assert parse_destination("org/app", "x", OWNER) == ("docker.io", "org/app")


@pytest.mark.parametrize(
    "name, message",
    [
        ("ghcr.io/org/App", "`ghcr.io/org/App` is not a valid repository for registry ghcr.io: invalid reference 'ghcr.io/org/App': repository 'org/App' must be lowercase"),
        ("ghcr.io/org/app:v1", "`ghcr.io/org/app:v1` is not a valid repository for registry ghcr.io: it has a tag or digest (tags go in the `tags` field)"),
        ("ghcr.io/org/app@sha256:" + "a" * 64, "it has a tag or digest"),
        ("ghcr.io/org/-app", "repository component '-app' is invalid"),
        ("ghcr.io", "`ghcr.io` names the registry ghcr.io but no repository in it"),
        ("127.0.0.1:5000", "names the registry 127.0.0.1:5000 but no repository in it"),
    ],
)
def test_bad_destinations_name_the_target_and_the_registry(name, message):
    with pytest.raises(ImagePublishError) as info:
        parse_destination(name, "the `repository` field", OWNER)
    assert str(info.value).startswith(f"{OWNER}: the `repository` field `{name}`")
    assert message in str(info.value)
