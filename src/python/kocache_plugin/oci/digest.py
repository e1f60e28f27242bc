"""Content digests: every OCI blob is named by one, so they are computed and validated in one place."""

from __future__ import annotations

import hashlib
import os
import re
from typing import Tuple, Union

# OCI image-spec descriptor.md grammar:
#   digest              ::= algorithm ":" encoded
#   algorithm           ::= algorithm-component (algorithm-separator algorithm-component)*
#   algorithm-component ::= [a-z0-9]+
#   algorithm-separator ::= [+._-]
#   encoded             ::= [a-zA-Z0-9=_-]+
_ALGORITHM = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*")
_ENCODED = re.compile(r"[a-zA-Z0-9=_-]+")
_LOWER_HEX = re.compile(r"[a-f0-9]*")
# Registered algorithms have a fixed lowercase-hex encoding of this length.
_REGISTERED_HEX_LENGTH = {"sha256": 64, "sha512": 128}
_CHUNK_SIZE = 1 << 20
_EXAMPLE = "sha256:<64 lowercase hex characters>"


class InvalidDigest(ValueError):
    """A string that does not follow the OCI digest grammar."""


def sha256_digest(data: bytes) -> str:
    """The "sha256:<hex>" digest of in-memory bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha256_file(path: Union[str, os.PathLike]) -> Tuple[str, int]:
    """The digest and size of a file, read in chunks so large layers never sit in memory."""
    hasher = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK_SIZE), b""):
            hasher.update(chunk)
            size += len(chunk)
    return "sha256:" + hasher.hexdigest(), size


def parse_digest(s: str) -> Tuple[str, str]:
    """Split a digest into (algorithm, encoded), rejecting anything a registry or runtime would reject."""
    if not isinstance(s, str):
        raise InvalidDigest(
            f"digest must be a string like {_EXAMPLE}, got {type(s).__name__} {s!r}"
        )
    algorithm, sep, encoded = s.partition(":")
    if not sep:
        raise InvalidDigest(f"invalid digest {s!r}: missing ':' (expected {_EXAMPLE})")
    if not _ALGORITHM.fullmatch(algorithm):
        raise InvalidDigest(
            f"invalid digest {s!r}: algorithm {algorithm!r} must be lowercase alphanumeric "
            f"components joined by one of '+._-' (expected {_EXAMPLE})"
        )
    if not _ENCODED.fullmatch(encoded):
        raise InvalidDigest(
            f"invalid digest {s!r}: encoded part {encoded!r} must be non-empty and use only "
            f"[a-zA-Z0-9=_-] (expected {_EXAMPLE})"
        )
    hex_length = _REGISTERED_HEX_LENGTH.get(algorithm)
    if hex_length is not None:
        if not _LOWER_HEX.fullmatch(encoded):
            raise InvalidDigest(f"invalid digest {s!r}: {algorithm} must be lowercase hex [a-f0-9]")
        if len(encoded) != hex_length:
            raise InvalidDigest(
                f"invalid digest {s!r}: {algorithm} must have exactly {hex_length} hex characters, "
                f"got {len(encoded)}"
            )
    return algorithm, encoded


def blob_path(digest: str) -> str:
    """The path of a blob inside an OCI image layout ("blobs/<algorithm>/<encoded>")."""
    algorithm, encoded = parse_digest(digest)
    return f"blobs/{algorithm}/{encoded}"
