import pytest

from kocache_plugin.oci.platform import InvalidPlatform, Platform

VALID = [
    "linux/amd64",
    "linux/arm64",
    "linux/arm64/v8",
    "linux/arm/v7",
    "linux/arm/v6",
    "linux/arm/v5",
    "linux/amd64/v3",
    "linux/386",
    "linux/ppc64le",
    "linux/s390x",
    "linux/riscv64",
    "windows/amd64",
]


@pytest.mark.parametrize("s", VALID)
def test_parse_round_trips_through_str(s: str) -> None:
    assert str(Platform.parse(s)) == s


def test_parse_fields() -> None:
    assert Platform.parse("linux/arm/v7") == Platform(os="linux", architecture="arm", variant="v7")
    assert Platform.parse("linux/amd64") == Platform("linux", "amd64")


@pytest.mark.parametrize(
    "bad, reason",
    [
        ("linux", "wrong number"),
        ("amd64", "wrong number"),
        ("linux/", "empty part"),
        ("/amd64", "empty part"),
        ("linux//v7", "empty part"),
        ("linux/arm/v7/extra", "wrong number"),
        ("Linux/amd64", "unknown os 'Linux'"),
        ("linux/amd46", "unknown architecture 'amd46'"),
        ("linux/arm/v8", "variant 'v8' is not valid for arm (valid variants: v5, v6, v7)"),
        ("linux/arm64/v7", "variant 'v7' is not valid for arm64 (valid variants: v8)"),
        ("linux/amd64/v5", "variant 'v5' is not valid for amd64 (valid variants: v1, v2, v3, v4)"),
        ("linux/386/v1", "variant 'v1' is not valid for 386 (valid variants: none)"),
    ],
)
def test_parse_rejects(bad: str, reason: str) -> None:
    with pytest.raises(InvalidPlatform) as exc:
        Platform.parse(bad)
    message = str(exc.value)
    assert repr(bad) in message
    assert reason in message
    assert (
        "os/arch or os/arch/variant, e.g. linux/amd64, linux/arm64, linux/arm/v7, linux/amd64/v3"
        in message
    )


@pytest.mark.parametrize(
    "bad, suggestion",
    [
        ("linux/x86_64", "linux/amd64"),
        ("linux/aarch64", "linux/arm64"),
        ("linux/armhf", "linux/arm/v7"),
    ],
)
def test_parse_suggests_go_names(bad: str, suggestion: str) -> None:
    with pytest.raises(InvalidPlatform, match=f"did you mean {suggestion}\\?"):
        Platform.parse(bad)


def test_parse_rejects_non_string() -> None:
    with pytest.raises(InvalidPlatform, match="must be a string"):
        Platform.parse(None)  # type: ignore[arg-type]


def test_constructor_requires_os_and_architecture() -> None:
    with pytest.raises(InvalidPlatform, match="non-empty os and architecture"):
        Platform("", "amd64")


def test_to_json() -> None:
    assert Platform.parse("linux/amd64").to_json() == {"architecture": "amd64", "os": "linux"}
    assert Platform.parse("linux/arm/v7").to_json() == {
        "architecture": "arm",
        "os": "linux",
        "variant": "v7",
    }
    assert Platform("windows", "amd64", os_version="10.0.17763.1").to_json() == {
        "architecture": "amd64",
        "os": "windows",
        "os.version": "10.0.17763.1",
    }


def test_from_json_round_trip_and_permissive_names() -> None:
    for p in (Platform.parse("linux/arm/v6"), Platform("windows", "amd64", os_version="10.0.1")):
        assert Platform.from_json(p.to_json()) == p
    # buildx attestation manifests use unknown/unknown; reading an index must not fail on them.
    assert (
        str(Platform.from_json({"os": "unknown", "architecture": "unknown"})) == "unknown/unknown"
    )


@pytest.mark.parametrize(
    "obj",
    [
        {},
        {"os": "linux"},
        {"os": "linux", "architecture": 1},
        {"os": "linux", "architecture": "arm", "variant": 7},
    ],
)
def test_from_json_rejects(obj) -> None:
    with pytest.raises(InvalidPlatform):
        Platform.from_json(obj)


@pytest.mark.parametrize(
    "s, env",
    [
        ("linux/amd64", {"GOOS": "linux", "GOARCH": "amd64"}),
        ("linux/amd64/v3", {"GOOS": "linux", "GOARCH": "amd64", "GOAMD64": "v3"}),
        ("linux/arm/v7", {"GOOS": "linux", "GOARCH": "arm", "GOARM": "7"}),
        ("linux/arm/v6", {"GOOS": "linux", "GOARCH": "arm", "GOARM": "6"}),
        ("linux/arm64", {"GOOS": "linux", "GOARCH": "arm64"}),
        ("linux/arm64/v8", {"GOOS": "linux", "GOARCH": "arm64"}),
        ("linux/s390x", {"GOOS": "linux", "GOARCH": "s390x"}),
    ],
)
def test_go_env(s: str, env) -> None:
    assert Platform.parse(s).go_env() == env


def test_matches_exact() -> None:
    p = Platform.parse("linux/amd64")
    assert p.matches({"os": "linux", "architecture": "amd64"})
    assert not p.matches({"os": "linux", "architecture": "arm64"})
    assert not p.matches({"os": "windows", "architecture": "amd64"})
    assert not p.matches({"os": "linux", "architecture": "amd64", "variant": "v3"})
    assert not Platform.parse("linux/amd64/v3").matches({"os": "linux", "architecture": "amd64"})


def test_matches_normalizes_default_variants() -> None:
    arm64_v8 = {"os": "linux", "architecture": "arm64", "variant": "v8"}
    arm64 = {"os": "linux", "architecture": "arm64"}
    assert Platform.parse("linux/arm64").matches(arm64_v8)
    assert Platform.parse("linux/arm64/v8").matches(arm64)
    assert Platform.parse("linux/amd64").matches(
        {"os": "linux", "architecture": "amd64", "variant": "v1"}
    )
    assert Platform.parse("linux/arm/v7").matches({"os": "linux", "architecture": "arm"})
    assert not Platform.parse("linux/arm/v6").matches({"os": "linux", "architecture": "arm"})
    assert not Platform.parse("linux/arm/v6").matches(
        {"os": "linux", "architecture": "arm", "variant": "v7"}
    )


def test_matches_os_version_only_when_requested() -> None:
    other = {"os": "windows", "architecture": "amd64", "os.version": "10.0.17763.1"}
    assert Platform("windows", "amd64").matches(other)
    assert Platform("windows", "amd64", os_version="10.0.17763.1").matches(other)
    assert not Platform("windows", "amd64", os_version="10.0.20348.1").matches(other)


def test_hashable_and_frozen() -> None:
    p = Platform.parse("linux/arm64")
    assert {p: 1}[Platform("linux", "arm64")] == 1
    with pytest.raises(AttributeError):
        p.os = "windows"  # type: ignore[misc]
