"""Image reference parsing: Docker Hub defaults, registries with ports, tags, digests and clear errors."""

from __future__ import annotations

import pytest

from kocache_plugin.oci.registry.reference import (
    InvalidReference,
    Reference,
    check_repository,
    check_tag_or_digest,
    parse_reference,
    registry_api_host,
)

D = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    "text, registry, repository, tag, digest",
    [
        ("alpine", "docker.io", "library/alpine", "latest", None),
        ("alpine:3.19", "docker.io", "library/alpine", "3.19", None),
        ("library/alpine", "docker.io", "library/alpine", "latest", None),
        ("user/app:v1", "docker.io", "user/app", "v1", None),
        ("docker.io/alpine", "docker.io", "library/alpine", "latest", None),
        ("index.docker.io/user/app", "docker.io", "user/app", "latest", None),
        ("registry-1.docker.io/alpine:edge", "docker.io", "library/alpine", "edge", None),
        ("gcr.io/distroless/static:nonroot", "gcr.io", "distroless/static", "nonroot", None),
        ("localhost/app", "localhost", "app", "latest", None),
        ("localhost:5000/a/b/c:tag_1.2-x", "localhost:5000", "a/b/c", "tag_1.2-x", None),
        ("127.0.0.1:5000/app@" + D, "127.0.0.1:5000", "app", None, D),
        ("127.0.0.1:5000/app:v2@" + D, "127.0.0.1:5000", "app", "v2", D),
        ("[::1]:5000/app", "[::1]:5000", "app", "latest", None),
        ("my-registry.example.com/a__b/c.d/e--f:1", "my-registry.example.com", "a__b/c.d/e--f", "1", None),
        ("alpine@" + D, "docker.io", "library/alpine", None, D),
    ],
)
def test_parse(text, registry, repository, tag, digest):
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag, digest)
    assert Reference.parse(str(ref)) == ref  # str() round-trips


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "empty"),
        (" alpine", "whitespace"),
        ("https://gcr.io/app", "URL scheme"),
        ("Foo/Bar", "repository 'Bar' must be lowercase"),
        ("gcr.io/App", "must be lowercase"),
        ("gcr.io//app", "component ''"),
        ("gcr.io/app/", "component ''"),
        ("gcr.io/-app", "component '-app'"),
        ("gcr.io/app.", "component 'app.'"),
        ("app:", "':' must be followed by a tag"),
        ("app:.bad", "tag '.bad'"),
        ("app:" + "t" * 129, "tag 't"),
        ("app@", "'@' must be followed by a digest"),
        ("app@sha256:abc", "sha256 must have exactly 64"),
        ("app@md5:" + "a" * 32, "only sha256"),
        ("host:99999/app", "out-of-range port 99999"),
        ("host:12ab/app", "invalid port '12ab'"),
        ("bad_host.io/app", "hostname component 'bad_host'"),
        ("[zz]:5000/app", "IPv6"),
        ("gcr.io/" + "a" * 250, "longer than 255"),
    ],
)
def test_invalid(text, fragment):
    with pytest.raises(InvalidReference) as info:
        parse_reference(text)
    assert fragment in str(info.value)


def test_invalid_reference_is_value_error():
    with pytest.raises(ValueError):
        parse_reference("UPPER")  # a lone uppercase component is a repository, not a registry


def test_helpers():
    ref = parse_reference("127.0.0.1:5000/team/app:v1")
    assert str(ref) == "127.0.0.1:5000/team/app:v1"
    assert ref.context() == "127.0.0.1:5000/team/app"
    assert ref.identifier == "v1"
    pinned = ref.with_digest(D)
    assert str(pinned) == f"127.0.0.1:5000/team/app:v1@{D}" and pinned.identifier == D
    retagged = pinned.with_tag("v2")
    assert str(retagged) == "127.0.0.1:5000/team/app:v2" and retagged.digest is None
    with pytest.raises(InvalidReference, match="tag '-x'"):
        ref.with_tag("-x")
    with pytest.raises(InvalidReference):
        ref.with_digest("sha256:nope")
    assert parse_reference("alpine").api_host == "registry-1.docker.io"
    assert registry_api_host("ghcr.io") == "ghcr.io"


def test_direct_construction_is_validated():
    assert Reference("ghcr.io", "a/b", "v1").context() == "ghcr.io/a/b"
    with pytest.raises(InvalidReference, match="repository component"):
        Reference("ghcr.io", "a b")


def test_check_functions():
    assert check_repository("a/b-c") == "a/b-c"
    assert check_tag_or_digest("v1") == "v1"
    assert check_tag_or_digest(D) == D
    with pytest.raises(InvalidReference):
        check_repository("A")
    with pytest.raises(InvalidReference):
        check_tag_or_digest("sha256:xyz")
