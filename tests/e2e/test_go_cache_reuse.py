"""Go's build cache is reused, not refilled: a go build that re-runs against a warm cache adds no entry.

Regression guard: when GOROOT reached `go` through a per-sandbox link, Go keyed its module index by that path, so
every build re-indexed the standard library and stored ~190 new index entries. Also checks that the verified
cache took standard packages from the tools' plain cache instead of compiling them again.
"""

from __future__ import annotations

import pytest

from tests.support.pants_repo import NET_HTTP_MAIN, PantsRepo

pytestmark = pytest.mark.e2e


def _entries(store) -> int:
    return sum(1 for p in (store / "a").rglob("*") if p.is_file())


def test_rebuild_against_a_warm_go_cache_adds_no_entries(tmp_path) -> None:
    repo = PantsRepo.one_go_image(tmp_path, NET_HTTP_MAIN)
    repo.run("package", "::")

    store = repo.named_caches / "kocache_go_build"
    tools = repo.named_caches / "kocache_go_tools"
    first = _entries(store)
    # The tools' plain Go cache (Go's own layout) compiled runtime, fmt, ...; the verified store imported them.
    assert any(tools.rglob("*-a")), "the tools were built with a plain Go cache"

    # Fresh local stores make every step run again, twice, against the same Go caches.
    for n in (2, 3):
        repo.local_store = tmp_path / f"store-{n}"
        again = repo.run("package", "::")
        assert len(again.executed("go build")) == 1
    assert _entries(store) == first, "a rebuild with nothing new to compile stored new cache entries"
