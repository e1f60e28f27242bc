"""Remote cache, for real: a REAPI cache (BuildGrid) on loopback shared by two checkouts, and caches that
misbehave. What Pants did is read from its own log (`Starting:` / `Canceled:` / `remote cache hit for:` lines,
-ldebug for the DEBUG-level layer steps) and its `--stats-log` counters; see docs/remote-cache.md."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List

import pytest

from tests.support.pants_repo import PantsRepo, PantsResult
from tests.support.remote_cache import (
    BUILD_AND_LAYER_STEPS,
    OUR_STEPS,
    BuildGridServer,
    GarbageServer,
    RefusingPort,
    SilentServer,
    bad_blobs,
    image_digests,
    ran_to_completion,
    remote_cache_options,
    remote_cache_warnings,
    remote_hits,
    started,
    steps,
)

pytestmark = pytest.mark.e2e

# What every run logs and counts.
RUN = ("-ldebug", "--stats-log", "package", "::")


@dataclass
class Checkouts:
    a: PantsRepo
    a_run: PantsResult
    b: PantsRepo
    b_run: PantsResult
    a_seconds: float
    b_seconds: float


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuildGridServer]:
    server = BuildGridServer(tmp_path_factory.mktemp("buildgrid")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def checkouts(cache: BuildGridServer, tmp_path_factory: pytest.TempPathFactory) -> Checkouts:
    """Checkout A builds everything (its own empty store) and writes the cache; checkout B, at another path with
    another empty local store and other (empty) named caches, only reads it."""
    root = tmp_path_factory.mktemp("remote")
    a = PantsRepo.copy(root / "a" / "repo", local_store=root / "a-store")
    t = time.monotonic()
    a_run = a.run(*RUN, extra_options=cache.pants_options(write=True))
    a_seconds = time.monotonic() - t
    b = PantsRepo.copy(root / "somewhere" / "else" / "b-checkout", local_store=root / "b-store")
    b.named_caches = root / "b-named-caches"
    t = time.monotonic()
    b_run = b.run(*RUN, extra_options=cache.pants_options(read=True))
    return Checkouts(a, a_run, b, b_run, a_seconds, time.monotonic() - t)


def test_checkout_a_writes_every_step(checkouts: Checkouts) -> None:
    ran = ran_to_completion(checkouts.a_run.stderr)
    assert len([d for d in ran if d.startswith("go build ")]) == 4, ran  # hello, server, wordcount × 2 platforms
    assert len([d for d in ran if d.startswith("Make the ")]) == 5, ran  # 4 binary layers + 1 data layer
    assert checkouts.a_run.stat("remote_cache_write_errors") == 0
    assert checkouts.a_run.stat("remote_cache_write_successes") >= len(ran)
    assert remote_cache_warnings(checkouts.a_run.stderr) == []


def test_checkout_b_produces_the_same_images(checkouts: Checkouts) -> None:
    assert checkouts.b.root != checkouts.a.root and checkouts.b.local_store != checkouts.a.local_store
    assert sorted(image_digests(checkouts.b)) == ["examples.cmd.hello/image", "examples.cmd.server/image", "examples.cmd.wordcount/image"]
    assert image_digests(checkouts.b) == image_digests(checkouts.a)
    assert bad_blobs(checkouts.b) == []


def test_checkout_b_gets_its_builds_from_the_remote_cache(checkouts: Checkouts) -> None:
    """No lookup of B's misses, every `go build` comes from the remote cache, and none runs to completion here.
    (Without the plugin's speculation delay, Pants would start each step locally while it asks the cache, and a
    tiny step could finish first; the next test pins that nothing starts.)"""
    b = checkouts.b_run
    a_steps = ran_to_completion(checkouts.a_run.stderr)
    hits = remote_hits(b.stderr)
    a_builds = [d for d in a_steps if d.startswith("go build ")]
    assert sorted(d for d in hits if d.startswith("go build ")) == sorted(a_builds)
    assert [d for d in ran_to_completion(b.stderr) if d.startswith("go build ")] == []
    assert b.stat("remote_cache_requests_uncached") == 0, "every lookup B made found an entry"
    assert b.stat("remote_cache_read_errors") == 0
    assert b.stat("remote_cache_requests_cached") >= len(a_builds)
    # A small step (a layer of a few KiB, `go version -m`) can finish locally before the cache answers
    # (~50-100 ms on loopback): Pants then keeps the local result. Whatever was not a hit ran locally.
    ran_locally = ran_to_completion(b.stderr)
    assert steps(hits + ran_locally) == steps(a_steps)
    assert b.stat("remote_cache_speculation_local_completed_first") == len(ran_locally), (
        "a cacheable step that is not in remote_cache.OUR_STEPS ran locally", ran_locally)


def test_checkout_b_starts_no_build_or_layer_process(checkouts: Checkouts) -> None:
    """Pants 2.17 races a local process against every remote cache lookup unless the Process sets
    `remote_cache_speculation_delay_millis`; the plugin sets [kocache].remote_cache_speculation_delay_millis."""
    b = checkouts.b_run
    assert started(b.stderr, BUILD_AND_LAYER_STEPS) == []
    assert started(b.stderr, OUR_STEPS) == []
    assert steps(remote_hits(b.stderr)) == steps(ran_to_completion(checkouts.a_run.stderr))
    assert b.stat("remote_cache_speculation_local_completed_first") == 0


# -- a cache that is down, hung, or not a cache ---------------------------------------------------------

FAULTS = {
    # kind: (server, the cause the one warning names, extra options)
    "refuses-connections": (RefusingPort, "Connection refused", ()),
    # Uploads to a hung cache fail (1 s timeout x 2 attempts) only ~2 s into the wait for pending uploads at
    # the end of the run, and Pants waits 3 s by default: too close to call on a loaded machine.
    "never-answers": (SilentServer, "timed out", ("--session-end-tasks-timeout=8",)),
    "answers-garbage": (GarbageServer, "transport error", ()),
}


@pytest.mark.parametrize("kind", list(FAULTS))
def test_a_broken_remote_cache_degrades_to_local_work(checkouts: Checkouts, tmp_path: Path, kind: str) -> None:
    server_type, cause, extra = FAULTS[kind]
    repo = PantsRepo.copy(tmp_path / "repo", local_store=tmp_path / "store")  # empty store: every step asks the cache
    with server_type() as server:
        options = [*remote_cache_options(server.address, read=True, write=True, rpc_timeout_millis=1000), *extra]
        result = repo.run(*RUN, extra_options=options, check=False)
        if isinstance(server, (SilentServer, GarbageServer)):
            assert server.connections >= 1, "Pants never reached the fake cache"
    assert result.returncode == 0, result.stderr[-4000:]
    assert image_digests(repo) == image_digests(checkouts.a)
    assert bad_blobs(repo) == []
    # All the work was done here, once.
    assert steps(ran_to_completion(result.stderr)) == steps(ran_to_completion(checkouts.a_run.stderr))
    assert result.stat("remote_cache_requests_cached") == 0
    # One clear warning per direction (read, write) at most, naming the cause; none of them an error.
    warnings = remote_cache_warnings(result.stderr)
    assert 1 <= len(warnings) <= 2, warnings
    assert len({w.split(" remote cache")[0] for w in warnings}) == len(warnings), warnings
    assert any(cause in w for w in warnings), warnings
    assert "[ERROR]" not in result.stderr


def test_a_cache_serving_corrupt_blobs_is_caught_and_bypassed(cache: BuildGridServer, checkouts: Checkouts, tmp_path: Path) -> None:
    """The action cache answers, but the CAS hands back wrong bytes for big outputs (binaries, layers): Pants
    checks each downloaded blob against its digest, rejects it with a warning, and does the step locally."""
    flipped: Dict[Path, bytes] = {}
    for path in cache.cas_blobs().values():
        if path.stat().st_size > 100_000:
            data = path.read_bytes()
            flipped[path] = data
            damaged = bytearray(data)
            damaged[len(damaged) // 2] ^= 0x01
            path.write_bytes(bytes(damaged))
    assert len(flipped) >= 4, "expected the binaries and binary layers in the cache"
    try:
        repo = PantsRepo.copy(tmp_path / "repo", local_store=tmp_path / "store")
        result = repo.run(*RUN, extra_options=cache.pants_options(read=True), check=False)
    finally:
        for path, data in flipped.items():
            path.write_bytes(data)
    assert result.returncode == 0, result.stderr[-4000:]
    assert image_digests(repo) == image_digests(checkouts.a)
    assert bad_blobs(repo) == []
    warnings: List[str] = remote_cache_warnings(result.stderr)
    assert warnings and all("Remote CAS gave wrong digest" in w for w in warnings), warnings
    assert result.stat("remote_cache_read_errors") >= 1
    assert [d for d in ran_to_completion(result.stderr) if d.startswith("go build ")], "the rejected builds ran here"
