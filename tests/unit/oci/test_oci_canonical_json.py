import json

import pytest

from kocache_plugin.oci.canonical_json import canonical_json, parse_json_object
from kocache_plugin.oci.digest import sha256_digest


def test_sorted_keys_no_whitespace_no_newline() -> None:
    assert canonical_json({"b": 1, "a": [1, {"d": None, "c": True}]}) == (
        b'{"a":[1,{"c":true,"d":null}],"b":1}'
    )


def test_independent_of_insertion_order() -> None:
    one = {"z": 1, "a": {"y": 2, "b": 3}}
    two = {"a": {"b": 3, "y": 2}, "z": 1}
    assert canonical_json(one) == canonical_json(two)


def test_utf8_not_escaped() -> None:
    out = canonical_json({"label": "caf\u00e9 \u2603"})
    assert out == '{"label":"caf\u00e9 \u2603"}'.encode("utf-8")
    assert b"\\u" not in out
    assert json.loads(out.decode("utf-8")) == {"label": "caf\u00e9 \u2603"}


def test_golden_digest() -> None:
    doc = {"schemaVersion": 2, "mediaType": "x/y", "list": ["a", "b"]}
    assert canonical_json(doc) == b'{"list":["a","b"],"mediaType":"x/y","schemaVersion":2}'
    assert (
        sha256_digest(canonical_json(doc))
        == "sha256:1ffeffb7f5953e22f45bc7bc8356280b0a26a045ea98ddafd75e63d9a41f3282"
    )


def test_rejects_nan() -> None:
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_parse_json_object() -> None:
    assert parse_json_object(b'{"a":1}', "thing") == {"a": 1}


@pytest.mark.parametrize(
    "data, message",
    [
        (b"{", "thing is not valid JSON"),
        (b"\xff", "thing is not UTF-8"),
        (b"[1]", "thing must be a JSON object, got list"),
    ],
)
def test_parse_json_object_errors(data: bytes, message: str) -> None:
    class Custom(ValueError):
        pass

    with pytest.raises(Custom, match=message):
        parse_json_object(data, "thing", Custom)
