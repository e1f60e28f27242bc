import json

import pytest

from kocache_plugin.oci.descriptor import Descriptor
from kocache_plugin.oci.digest import sha256_digest
from kocache_plugin.oci.manifest import InvalidManifest, build_manifest, parse_manifest
from kocache_plugin.oci.media_types import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST_V2,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
)

CONFIG = Descriptor(OCI_CONFIG, "sha256:" + "c" * 64, 123)
LAYERS = (
    Descriptor(OCI_LAYER_GZIP, "sha256:" + "1" * 64, 1000),
    Descriptor(OCI_LAYER_GZIP, "sha256:" + "2" * 64, 2000),
)
GOLDEN = (
    b'{"config":{"digest":"sha256:'
    + b"c" * 64
    + b'","mediaType":"application/vnd.oci.image.config.v1+json",'
    b'"size":123},"layers":[{"digest":"sha256:' + b"1" * 64 + b'","mediaType":'
    b'"application/vnd.oci.image.layer.v1.tar+gzip","size":1000},{"digest":"sha256:'
    + b"2" * 64
    + b'",'
    b'"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":2000}],'
    b'"mediaType":"application/vnd.oci.image.manifest.v1+json","schemaVersion":2}'
)
GOLDEN_DIGEST = "sha256:e3d3838475f8fb972672177bce05ce20f6d37a6bc3a8070196b40e27766d0c67"
ANNOTATED_DIGEST = "sha256:2992d3a706f814eeb21983876e316add4c6fdb2cc8d06e7468ddc3bb6bb2aa10"


def test_build_golden() -> None:
    out = build_manifest(CONFIG, LAYERS)
    assert out == GOLDEN
    assert sha256_digest(out) == GOLDEN_DIGEST


def test_build_structure_and_layer_order() -> None:
    doc = json.loads(build_manifest(CONFIG, tuple(reversed(LAYERS))))
    assert doc["schemaVersion"] == 2
    assert doc["mediaType"] == OCI_MANIFEST
    assert doc["config"] == CONFIG.to_json()
    assert [layer["size"] for layer in doc["layers"]] == [2000, 1000]
    assert "annotations" not in doc


def test_build_with_annotations() -> None:
    out = build_manifest(
        CONFIG, LAYERS, {"org.opencontainers.image.created": "1970-01-01T00:00:00Z"}
    )
    assert json.loads(out)["annotations"] == {
        "org.opencontainers.image.created": "1970-01-01T00:00:00Z"
    }
    assert sha256_digest(out) == ANNOTATED_DIGEST
    assert build_manifest(CONFIG, LAYERS, {}) == GOLDEN


def test_parse_round_trip() -> None:
    doc = parse_manifest(build_manifest(CONFIG, LAYERS))
    assert Descriptor.from_json(doc["config"]) == CONFIG
    assert tuple(Descriptor.from_json(layer) for layer in doc["layers"]) == LAYERS


def test_parse_docker_manifest() -> None:
    docker = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST_V2,
        "config": {"mediaType": DOCKER_CONFIG, "digest": CONFIG.digest, "size": 1},
        "layers": [{"mediaType": DOCKER_LAYER_GZIP, "digest": LAYERS[0].digest, "size": 2}],
    }
    assert parse_manifest(json.dumps(docker).encode()) == docker


def _without(key: str) -> dict:
    doc = json.loads(GOLDEN)
    del doc[key]
    return doc


@pytest.mark.parametrize(
    "doc, message",
    [
        ({**json.loads(GOLDEN), "schemaVersion": 1}, "schemaVersion must be 2, got 1"),
        (_without("schemaVersion"), "schemaVersion must be 2, got None"),
        ({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}, "got an image index"),
        ({"schemaVersion": 2, "manifests": []}, "got an image index"),
        (
            {**json.loads(GOLDEN), "mediaType": "text/plain"},
            "unsupported manifest mediaType 'text/plain'",
        ),
        (_without("config"), "no 'config' descriptor"),
        (
            {**json.loads(GOLDEN), "config": {"mediaType": OCI_CONFIG}},
            "manifest config: .*missing required field",
        ),
        (_without("layers"), "'layers' must be a list"),
        (
            {
                **json.loads(GOLDEN),
                "layers": [LAYERS[0].to_json(), {**LAYERS[1].to_json(), "digest": "sha256:x"}],
            },
            "manifest layers\\[1\\]: invalid digest 'sha256:x'",
        ),
    ],
)
def test_parse_rejects(doc, message: str) -> None:
    with pytest.raises(InvalidManifest, match=message):
        parse_manifest(json.dumps(doc).encode())


@pytest.mark.parametrize(
    "data, message", [(b"not json", "not valid JSON"), (b"[]", "must be a JSON object")]
)
def test_parse_rejects_non_object(data: bytes, message: str) -> None:
    with pytest.raises(InvalidManifest, match=message):
        parse_manifest(data)
