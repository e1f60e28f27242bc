"""ko's KOCACHE: Go's build cache goes where the user says, and the location never enters a key."""

from __future__ import annotations

import os

import pytest

from tests.support.pants_repo import PantsRepo

pytestmark = pytest.mark.e2e


def test_kocache_places_the_go_build_cache(tmp_path) -> None:
    repo = PantsRepo.one_go_image(tmp_path, "package main\n\nfunc main() {}\n")

    kocache = tmp_path / "kocache"
    first = repo.run("package", "::", env={"KOCACHE": str(kocache)})
    assert len(first.executed("go build")) == 1
    link = repo.named_caches / "kocache_go_build"
    assert link.is_symlink() and os.path.realpath(link) == str(kocache / "go-build")
    # The verifying cache program keeps Go's compiled outputs there, each named by its sha256.
    outputs = [p for p in (kocache / "go-build" / "o").rglob("*") if p.is_file()]
    assert outputs, "Go's build outputs were cached there"

    # Same keys without KOCACHE (or with another one): a cache hit, no build.
    assert repo.run("package", "::", env={"KOCACHE": str(tmp_path / "elsewhere")}).executed("go build") == []
