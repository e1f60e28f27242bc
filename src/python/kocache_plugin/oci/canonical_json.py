"""One JSON encoding for every config, manifest and index, so identical inputs give identical digests."""

from __future__ import annotations

import json
from typing import Any, Dict, Type


def canonical_json(obj: Any) -> bytes:
    """Encode with sorted keys, no whitespace, raw UTF-8 and no trailing newline.

    NaN/Infinity are rejected because they are not JSON and other tools would refuse the document.
    """
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def parse_json_object(
    data: bytes, what: str, error: Type[ValueError] = ValueError
) -> Dict[str, Any]:
    """Decode a JSON document that must be an object, raising `error` that names `what` (e.g. "manifest")."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise error(f"{what} is not UTF-8: {e}") from e
    except json.JSONDecodeError as e:
        raise error(f"{what} is not valid JSON: {e}") from e
    if not isinstance(doc, dict):
        raise error(f"{what} must be a JSON object, got {type(doc).__name__}")
    return doc
