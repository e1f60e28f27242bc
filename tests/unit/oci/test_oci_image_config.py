import json

import pytest

from kocache_plugin.oci.digest import sha256_digest
from kocache_plugin.oci.image_config import (
    DEFAULT_CREATED,
    HistoryEntry,
    ImageConfigSpec,
    InvalidImageConfig,
    build_image_config,
)
from kocache_plugin.oci.platform import Platform

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64

FULL_SPEC = ImageConfigSpec(
    platform=Platform.parse("linux/arm/v7"),
    diff_ids=[D1],  # type: ignore[arg-type]
    entrypoint=["/ko-app/hello"],  # type: ignore[arg-type]
    cmd=["--port", "8080"],  # type: ignore[arg-type]
    env=["SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt", "KO_DATA_PATH=/var/run/ko"],  # type: ignore[arg-type]
    user="65532",
    working_dir="/",
    labels={"org.opencontainers.image.source": "https://example.com/repo"},  # type: ignore[arg-type]
    exposed_ports=["8080/tcp", "53/udp"],  # type: ignore[arg-type]
    history=[{"created_by": "kocache", "comment": "go binary"}],  # type: ignore[list-item]
)

FULL_GOLDEN = (
    b'{"architecture":"arm","config":{"Cmd":["--port","8080"],"Entrypoint":["/ko-app/hello"],'
    b'"Env":["SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt","KO_DATA_PATH=/var/run/ko"],'
    b'"ExposedPorts":{"53/udp":{},"8080/tcp":{}},'
    b'"Labels":{"org.opencontainers.image.source":"https://example.com/repo"},'
    b'"User":"65532","WorkingDir":"/"},"created":"1970-01-01T00:00:00Z",'
    b'"history":[{"comment":"go binary","created":"1970-01-01T00:00:00Z","created_by":"kocache"}],'
    b'"os":"linux","rootfs":{"diff_ids":["sha256:1111111111111111111111111111111111111111111111111111111111111111"],'
    b'"type":"layers"},"variant":"v7"}'
)
FULL_GOLDEN_DIGEST = "sha256:6440f42b57b38d261cc4dd959ac36e47898d441f8ce024e8d6b188f4b08a3915"

# Shaped like a real distroless/busybox config: Go's nulls, a Cmd meant for the base's shell.
BASE = {
    "architecture": "arm",
    "os": "linux",
    "variant": "v7",
    "author": "base-author",
    "created": "2023-01-01T00:00:00Z",
    "config": {
        "Cmd": ["sh"],
        "Entrypoint": None,
        "Env": ["PATH=/usr/bin:/bin", "SSL_CERT_FILE=/base/certs.pem"],
        "Labels": {"maintainer": "base", "org.opencontainers.image.source": "https://base"},
        "ExposedPorts": {"22/tcp": {}},
        "StopSignal": "SIGTERM",
        "User": "0",
        "WorkingDir": "/root",
    },
    "rootfs": {"type": "layers", "diff_ids": [D2, D3]},
    "history": [
        {"created": "2023-01-01T00:00:00Z", "created_by": "base layer 1"},
        {"created_by": "base layer 2"},
    ],
}


def test_full_spec_golden() -> None:
    out = build_image_config(FULL_SPEC)
    assert out == FULL_GOLDEN
    assert sha256_digest(out) == FULL_GOLDEN_DIGEST


def test_deterministic_regardless_of_input_order() -> None:
    reordered = ImageConfigSpec(
        platform=FULL_SPEC.platform,
        diff_ids=FULL_SPEC.diff_ids,
        entrypoint=FULL_SPEC.entrypoint,
        cmd=FULL_SPEC.cmd,
        env=FULL_SPEC.env,
        user=FULL_SPEC.user,
        working_dir=FULL_SPEC.working_dir,
        labels=tuple(reversed(FULL_SPEC.labels)),
        exposed_ports=("53/udp", "8080"),
        history=(HistoryEntry(created_by="kocache", comment="go binary"),),
    )
    assert reordered == FULL_SPEC
    assert build_image_config(reordered) == FULL_GOLDEN


def test_minimal_spec() -> None:
    doc = json.loads(build_image_config(ImageConfigSpec(platform=Platform.parse("linux/amd64"))))
    assert doc == {
        "architecture": "amd64",
        "os": "linux",
        "created": DEFAULT_CREATED,
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": []},
    }


def test_spec_is_hashable() -> None:
    assert hash(FULL_SPEC) == hash(
        ImageConfigSpec(**{f: getattr(FULL_SPEC, f) for f in FULL_SPEC.__dataclass_fields__})
    )


def test_extends_base() -> None:
    spec = ImageConfigSpec(
        platform=Platform.parse("linux/arm/v7"),
        diff_ids=(D1,),
        entrypoint=("/ko-app/hello",),
        env=("SSL_CERT_FILE=/ours.pem", "KO_DATA_PATH=/var/run/ko"),
        labels=(("org.opencontainers.image.source", "https://ours"),),
        exposed_ports=("8080/tcp",),
        history=(HistoryEntry(created_by="kocache"),),
        created="2024-05-06T07:08:09Z",
    )
    doc = json.loads(build_image_config(spec, BASE))
    config = doc["config"]
    assert doc["rootfs"] == {"type": "layers", "diff_ids": [D2, D3, D1]}
    assert [h["created_by"] for h in doc["history"]] == ["base layer 1", "base layer 2", "kocache"]
    assert doc["history"][2]["created"] == "2024-05-06T07:08:09Z"
    assert doc["created"] == "2024-05-06T07:08:09Z"
    # Base order kept, ours replaces in place, new keys appended.
    assert config["Env"] == [
        "PATH=/usr/bin:/bin",
        "SSL_CERT_FILE=/ours.pem",
        "KO_DATA_PATH=/var/run/ko",
    ]
    assert config["Labels"] == {
        "maintainer": "base",
        "org.opencontainers.image.source": "https://ours",
    }
    assert config["ExposedPorts"] == {"22/tcp": {}, "8080/tcp": {}}
    assert config["Entrypoint"] == ["/ko-app/hello"]
    # The base's Cmd was arguments for the base's entrypoint, so it must not reach our binary.
    assert "Cmd" not in config
    # Unset user/working_dir and fields we do not manage are inherited.
    assert config["User"] == "0"
    assert config["WorkingDir"] == "/root"
    assert config["StopSignal"] == "SIGTERM"
    assert doc["author"] == "base-author"
    assert doc["variant"] == "v7"


def test_base_is_not_mutated() -> None:
    before = json.dumps(BASE, sort_keys=True)
    build_image_config(FULL_SPEC, BASE)
    assert json.dumps(BASE, sort_keys=True) == before


def test_base_entrypoint_and_cmd_kept_when_not_given() -> None:
    base = {**BASE, "config": {**BASE["config"], "Entrypoint": ["/bin/tini", "--"]}}
    spec = ImageConfigSpec(platform=Platform.parse("linux/arm/v7"), diff_ids=(D1,))
    config = json.loads(build_image_config(spec, base))["config"]
    assert config["Entrypoint"] == ["/bin/tini", "--"]
    assert config["Cmd"] == ["sh"]


def test_cmd_alone_replaces_base_cmd() -> None:
    base = {**BASE, "config": {**BASE["config"], "Entrypoint": ["/bin/tini", "--"]}}
    spec = ImageConfigSpec(platform=Platform.parse("linux/arm/v7"), cmd=("/app",))
    config = json.loads(build_image_config(spec, base))["config"]
    assert config["Entrypoint"] == ["/bin/tini", "--"]
    assert config["Cmd"] == ["/app"]


def test_empty_entrypoint_clears_base() -> None:
    base = {**BASE, "config": {**BASE["config"], "Entrypoint": ["/bin/tini"]}}
    spec = ImageConfigSpec(platform=Platform.parse("linux/arm/v7"), entrypoint=(), cmd=("/app",))
    config = json.loads(build_image_config(spec, base))["config"]
    assert "Entrypoint" not in config
    assert config["Cmd"] == ["/app"]


def test_user_and_working_dir_override_base() -> None:
    spec = ImageConfigSpec(
        platform=Platform.parse("linux/arm/v7"), user="65532:65532", working_dir="/app"
    )
    config = json.loads(build_image_config(spec, BASE))["config"]
    assert (config["User"], config["WorkingDir"]) == ("65532:65532", "/app")


def test_base_with_nulls_and_missing_sections() -> None:
    base = {
        "architecture": "amd64",
        "os": "linux",
        "config": None,
        "rootfs": {"type": "layers", "diff_ids": None},
    }
    spec = ImageConfigSpec(platform=Platform.parse("linux/amd64"), diff_ids=(D1,), env=("A=1",))
    doc = json.loads(build_image_config(spec, base))
    assert doc["config"] == {"Env": ["A=1"]}
    assert doc["rootfs"]["diff_ids"] == [D1]
    assert "history" not in doc


def test_base_arm64_v8_matches_plain_arm64() -> None:
    base = {
        "architecture": "arm64",
        "os": "linux",
        "variant": "v8",
        "rootfs": {"type": "layers", "diff_ids": []},
    }
    doc = json.loads(
        build_image_config(ImageConfigSpec(platform=Platform.parse("linux/arm64")), base)
    )
    assert (doc["architecture"], doc["variant"]) == ("arm64", "v8")


def test_rejects_base_for_other_platform() -> None:
    with pytest.raises(
        InvalidImageConfig,
        match="base image is linux/arm/v7 but the image being built is linux/amd64",
    ):
        build_image_config(ImageConfigSpec(platform=Platform.parse("linux/amd64")), BASE)


@pytest.mark.parametrize(
    "base, message",
    [
        ({**BASE, "rootfs": {"type": "other", "diff_ids": []}}, "rootfs.type must be 'layers'"),
        (
            {**BASE, "rootfs": {"type": "layers", "diff_ids": "x"}},
            "rootfs.diff_ids must be a list of strings",
        ),
        ({**BASE, "config": {"Env": "A=1"}}, "config.Env must be a list of strings"),
        ({**BASE, "config": {"Labels": []}}, "config.Labels must be an object"),
        ({**BASE, "config": []}, "base config config must be an object"),
    ],
)
def test_rejects_malformed_base(base, message: str) -> None:
    with pytest.raises(InvalidImageConfig, match=message):
        build_image_config(ImageConfigSpec(platform=Platform.parse("linux/arm/v7")), base)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"diff_ids": ("sha256:abc",)}, "diff_ids\\[0\\]: invalid digest"),
        ({"env": ("NOEQUALS",)}, "invalid env entry 'NOEQUALS': expected KEY=VALUE"),
        ({"env": ("=value",)}, "invalid env entry '=value'"),
        ({"env": ("A=1", "A=2")}, "env sets A twice: 'A=1' and 'A=2'"),
        ({"labels": (("a", "1"), ("a", "2"))}, "duplicate label keys: a"),
        ({"labels": {"a": 1}}, "values strings"),
        ({"exposed_ports": ("http",)}, "invalid exposed port 'http'"),
        ({"exposed_ports": ("0/tcp",)}, "invalid exposed port '0/tcp'"),
        ({"exposed_ports": ("70000",)}, "invalid exposed port '70000'"),
        ({"exposed_ports": ("80/icmp",)}, "invalid exposed port '80/icmp'"),
        ({"created": "yesterday"}, "RFC 3339"),
        ({"created": "2024-01-01 00:00:00"}, "RFC 3339"),
        ({"history": ({"created_by": "x", "author": "me"},)}, "unsupported field\\(s\\) author"),
        ({"history": ({"created_by": None},)}, "history entry created_by must be a string"),
    ],
)
def test_spec_rejects(kwargs, message: str) -> None:
    with pytest.raises(InvalidImageConfig, match=message):
        ImageConfigSpec(platform=Platform.parse("linux/amd64"), **kwargs)


def test_created_accepts_offsets_and_fractions() -> None:
    for created in ("2024-01-02T03:04:05.123456789Z", "2024-01-02T03:04:05+02:00"):
        assert (
            ImageConfigSpec(platform=Platform.parse("linux/amd64"), created=created).created
            == created
        )
