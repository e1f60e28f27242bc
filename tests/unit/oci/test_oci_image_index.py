import json

import pytest

from kocache_plugin.oci.descriptor import Descriptor
from kocache_plugin.oci.digest import sha256_digest
from kocache_plugin.oci.image_index import InvalidIndex, build_index, parse_index
from kocache_plugin.oci.media_types import (
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST_V2,
    OCI_INDEX,
    OCI_MANIFEST,
)
from kocache_plugin.oci.platform import Platform

MANIFESTS = (
    Descriptor(OCI_MANIFEST, "sha256:" + "a" * 64, 500, platform=Platform.parse("linux/amd64")),
    Descriptor(OCI_MANIFEST, "sha256:" + "b" * 64, 501, platform=Platform.parse("linux/arm/v7")),
)
GOLDEN_DIGEST = "sha256:b62cb2ea56479ffce645eb0b6be36b60973bd64a870fe090e610cbf309355f52"


def test_build_golden() -> None:
    out = build_index(MANIFESTS)
    assert sha256_digest(out) == GOLDEN_DIGEST
    assert out.startswith(b'{"manifests":[{"digest":"sha256:aaaa')
    assert out.endswith(
        b'],"mediaType":"application/vnd.oci.image.index.v1+json","schemaVersion":2}'
    )


def test_build_structure() -> None:
    doc = json.loads(build_index(MANIFESTS, {"org.example": "x"}))
    assert doc["schemaVersion"] == 2
    assert doc["mediaType"] == OCI_INDEX
    assert [m["platform"] for m in doc["manifests"]] == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm", "os": "linux", "variant": "v7"},
    ]
    assert doc["annotations"] == {"org.example": "x"}
    assert "annotations" not in json.loads(build_index(MANIFESTS))


def test_build_empty() -> None:
    assert build_index([]) == (
        b'{"manifests":[],"mediaType":"application/vnd.oci.image.index.v1+json","schemaVersion":2}'
    )


def test_parse_round_trip() -> None:
    doc = parse_index(build_index(MANIFESTS))
    assert tuple(Descriptor.from_json(m) for m in doc["manifests"]) == MANIFESTS


def test_parse_docker_manifest_list_and_missing_media_type() -> None:
    entry = {"mediaType": DOCKER_MANIFEST_V2, "digest": MANIFESTS[0].digest, "size": 1}
    for doc in (
        {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST_LIST, "manifests": [entry]},
        {"schemaVersion": 2, "manifests": [entry]},  # e.g. a layout's index.json
    ):
        assert parse_index(json.dumps(doc).encode()) == doc


@pytest.mark.parametrize(
    "doc, message",
    [
        ({"schemaVersion": 1, "manifests": []}, "schemaVersion must be 2, got 1"),
        ({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "manifests": []}, "got an image manifest"),
        (
            {"schemaVersion": 2, "mediaType": "text/plain", "manifests": []},
            "unsupported image index mediaType",
        ),
        ({"schemaVersion": 2}, "'manifests' must be a list"),
        (
            {"schemaVersion": 2, "manifests": [{"mediaType": OCI_MANIFEST}]},
            "manifests\\[0\\]: .*missing",
        ),
    ],
)
def test_parse_rejects(doc, message: str) -> None:
    with pytest.raises(InvalidIndex, match=message):
        parse_index(json.dumps(doc).encode())


def test_parse_rejects_invalid_json() -> None:
    with pytest.raises(InvalidIndex, match="image index is not valid JSON"):
        parse_index(b"{")
