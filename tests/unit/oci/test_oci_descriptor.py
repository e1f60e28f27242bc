import pytest

from kocache_plugin.oci.descriptor import Descriptor, InvalidDescriptor
from kocache_plugin.oci.digest import InvalidDigest
from kocache_plugin.oci.media_types import OCI_LAYER_GZIP, OCI_MANIFEST
from kocache_plugin.oci.platform import Platform

DIGEST = "sha256:" + "ab" * 32


def test_minimal_to_json() -> None:
    d = Descriptor(OCI_LAYER_GZIP, DIGEST, 42)
    assert d.to_json() == {"mediaType": OCI_LAYER_GZIP, "digest": DIGEST, "size": 42}


def test_full_to_json() -> None:
    d = Descriptor(
        OCI_MANIFEST,
        DIGEST,
        7,
        annotations=(("z", "1"), ("a", "2")),
        platform=Platform.parse("linux/arm/v7"),
        urls=["https://example.com/blob"],
    )
    assert d.to_json() == {
        "mediaType": OCI_MANIFEST,
        "digest": DIGEST,
        "size": 7,
        "annotations": {"a": "2", "z": "1"},
        "platform": {"architecture": "arm", "os": "linux", "variant": "v7"},
        "urls": ["https://example.com/blob"],
    }


def test_annotations_are_sorted_and_hashable() -> None:
    one = Descriptor(OCI_MANIFEST, DIGEST, 1, annotations=(("b", "1"), ("a", "2")))
    two = Descriptor(OCI_MANIFEST, DIGEST, 1, annotations={"a": "2", "b": "1"})  # type: ignore[arg-type]
    assert one.annotations == (("a", "2"), ("b", "1"))
    assert one == two
    assert hash(one) == hash(two)
    assert one.annotation("a") == "2"
    assert one.annotation("missing") is None


def test_for_bytes() -> None:
    d = Descriptor.for_bytes(OCI_LAYER_GZIP, b"hello", annotations={"k": "v"})
    assert d.digest == "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    assert d.size == 5
    assert d.annotations == (("k", "v"),)


@pytest.mark.parametrize(
    "d",
    [
        Descriptor(OCI_LAYER_GZIP, DIGEST, 0),
        Descriptor(
            OCI_MANIFEST,
            DIGEST,
            10,
            annotations=(("k", "v"),),
            platform=Platform.parse("linux/amd64"),
        ),
        Descriptor(
            OCI_MANIFEST,
            DIGEST,
            10,
            platform=Platform("windows", "amd64", os_version="10.0.1"),
            urls=("u",),
        ),
    ],
)
def test_json_round_trip(d: Descriptor) -> None:
    assert Descriptor.from_json(d.to_json()) == d


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"media_type": "", "digest": DIGEST, "size": 1}, InvalidDescriptor, "'type/subtype'"),
        (
            {"media_type": OCI_MANIFEST, "digest": "sha256:abc", "size": 1},
            InvalidDigest,
            "exactly 64",
        ),
        (
            {"media_type": OCI_MANIFEST, "digest": DIGEST, "size": -1},
            InvalidDescriptor,
            "non-negative integer",
        ),
        (
            {"media_type": OCI_MANIFEST, "digest": DIGEST, "size": True},
            InvalidDescriptor,
            "non-negative integer",
        ),
        (
            {"media_type": OCI_MANIFEST, "digest": DIGEST, "size": "1"},
            InvalidDescriptor,
            "non-negative integer",
        ),
        (
            {
                "media_type": OCI_MANIFEST,
                "digest": DIGEST,
                "size": 1,
                "annotations": (("a", "1"), ("a", "2")),
            },
            InvalidDescriptor,
            "duplicate annotation keys: a",
        ),
        (
            {"media_type": OCI_MANIFEST, "digest": DIGEST, "size": 1, "annotations": (("a", 1),)},
            InvalidDescriptor,
            "must be strings",
        ),
    ],
)
def test_constructor_rejects(kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        Descriptor(**kwargs)


@pytest.mark.parametrize(
    "obj, message",
    [
        ([], "must be a JSON object"),
        ({"digest": DIGEST, "size": 1}, "missing required field\\(s\\) mediaType"),
        ({"mediaType": OCI_MANIFEST}, "missing required field\\(s\\) digest, size"),
        (
            {"mediaType": OCI_MANIFEST, "digest": DIGEST, "size": 1, "annotations": []},
            "annotations must be an object",
        ),
        (
            {"mediaType": OCI_MANIFEST, "digest": DIGEST, "size": 1, "urls": "u"},
            "urls must be a list",
        ),
        (
            {"mediaType": OCI_MANIFEST, "digest": DIGEST, "size": 1, "platform": "linux/amd64"},
            "platform must be an object",
        ),
    ],
)
def test_from_json_rejects(obj, message: str) -> None:
    with pytest.raises(InvalidDescriptor, match=message):
        Descriptor.from_json(obj)
