"""A corrupted entry in Go's build cache (the plugin's named cache) is detected and rebuilt, never served."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.support.pants_repo import NET_HTTP_MAIN, PantsRepo

pytestmark = pytest.mark.e2e


def _image_digest(repo: PantsRepo) -> str:
    return json.loads((repo.root / "dist/m/img/index.json").read_text())["manifests"][0]["digest"]


def test_bit_flip_in_the_go_build_cache(tmp_path) -> None:
    repo = PantsRepo.one_go_image(tmp_path, NET_HTTP_MAIN)
    repo.run("package", "::")
    clean = _image_digest(repo)

    store = repo.named_caches / "kocache_go_build"
    outputs = sorted((store / "o").rglob("*"), key=lambda p: p.stat().st_size if p.is_file() else 0)
    victim = outputs[-1]  # the largest cached object (a std package every build links)
    assert victim.is_file() and hashlib.sha256(victim.read_bytes()).hexdigest() == victim.name
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))

    # A fresh local store makes the go build run again, against the damaged Go cache.
    repo.local_store = tmp_path / "store-2"
    again = repo.run("package", "::")
    assert len(again.executed("go build")) == 1
    assert _image_digest(repo) == clean, "the corrupted entry must not reach the binary"
    assert hashlib.sha256(victim.read_bytes()).hexdigest() == victim.name, "the entry was rebuilt"
