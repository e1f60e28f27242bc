import hashlib

import pytest

from kocache_plugin.oci.digest import (
    InvalidDigest,
    blob_path,
    parse_digest,
    sha256_digest,
    sha256_file,
)

EMPTY = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
HELLO = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"


def test_sha256_digest_golden() -> None:
    assert sha256_digest(b"") == EMPTY
    assert sha256_digest(b"hello") == HELLO


def test_sha256_file_matches_in_memory_digest(tmp_path) -> None:
    # Larger than one read chunk so the streaming loop runs more than once.
    data = bytes(range(256)) * (5 * 4096 + 7)
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert sha256_file(path) == ("sha256:" + hashlib.sha256(data).hexdigest(), len(data))
    assert sha256_file(str(path)) == sha256_file(path)


def test_sha256_file_empty(tmp_path) -> None:
    path = tmp_path / "empty"
    path.write_bytes(b"")
    assert sha256_file(path) == (EMPTY, 0)


def test_parse_digest_valid() -> None:
    assert parse_digest(HELLO) == ("sha256", HELLO[len("sha256:") :])
    assert parse_digest("sha512:" + "a" * 128) == ("sha512", "a" * 128)
    # Unregistered algorithms only need to follow the grammar.
    assert parse_digest("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8") == (
        "multihash+base58",
        "QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8",
    )


@pytest.mark.parametrize(
    "bad, message",
    [
        ("", "missing ':'"),
        ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "missing ':'"),
        ("sha256:", "must be non-empty"),
        (":" + "a" * 64, "algorithm ''"),
        ("SHA256:" + "a" * 64, "algorithm 'SHA256'"),
        ("sha256+:" + "a" * 64, "algorithm 'sha256+'"),
        ("sha256:" + "A" * 64, "lowercase hex"),
        ("sha256:" + "g" * 64, "lowercase hex"),
        ("sha256:" + "a" * 63, "exactly 64 hex characters, got 63"),
        ("sha256:" + "a" * 65, "exactly 64 hex characters, got 65"),
        ("sha256:abc:def", "[a-zA-Z0-9=_-]"),
        ("sha256: " + "a" * 63, "[a-zA-Z0-9=_-]"),
        ("sha512:" + "a" * 64, "exactly 128 hex characters, got 64"),
    ],
)
def test_parse_digest_rejects(bad: str, message: str) -> None:
    with pytest.raises(InvalidDigest) as exc:
        parse_digest(bad)
    assert message in str(exc.value)
    assert repr(bad) in str(exc.value)


def test_parse_digest_rejects_non_string() -> None:
    with pytest.raises(InvalidDigest, match="must be a string"):
        parse_digest(b"sha256:" + b"a" * 64)  # type: ignore[arg-type]


def test_invalid_digest_is_value_error() -> None:
    assert issubclass(InvalidDigest, ValueError)


def test_blob_path() -> None:
    assert blob_path(HELLO) == "blobs/sha256/" + HELLO[len("sha256:") :]
    with pytest.raises(InvalidDigest):
        blob_path("sha256:../../etc/passwd")
