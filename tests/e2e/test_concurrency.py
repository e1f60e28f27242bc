"""Concurrency, crashes and a damaged local store, through the real `./pants` (see docs/remote-cache.md).

- Four `pants package ::` at once, in four checkouts sharing one (empty) local store and the named caches.
- A cold run killed with SIGKILL while `go build` runs: the next run on the same store and caches succeeds and
  makes the images a clean build makes.
- A truncated or bit-flipped entry in the local store: what Pants 2.17 does with it (it serves it), and the way
  out (delete the entry: Pants re-runs the step that made it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional

import pytest

from tests.support.pants_repo import PantsRepo, PantsResult
from tests.support.remote_cache import bad_blobs, image_digests, ran_to_completion

pytestmark = pytest.mark.e2e


@dataclass
class CleanBuild:
    repo: PantsRepo
    digests: Dict[str, List[str]]


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> CleanBuild:
    """The reference: one build from an empty local store of its own."""
    root = tmp_path_factory.mktemp("clean")
    repo = PantsRepo.copy(root / "repo", local_store=root / "store")
    repo.run("package", "::")
    assert bad_blobs(repo) == []
    return CleanBuild(repo, image_digests(repo))


def _pants_argv(repo: PantsRepo, *args: str) -> List[str]:
    return ["./pants", "--no-pantsd", f"--local-store-dir={repo.local_store}", f"--named-caches-dir={repo.named_caches}", *args]


# -- four at once ---------------------------------------------------------------------------------------


def test_four_concurrent_runs_share_one_store(clean: CleanBuild, tmp_path: Path) -> None:
    store = tmp_path / "shared-store"  # empty: all four build, and all four write the same entries
    repos = [PantsRepo.copy(tmp_path / f"checkout-{i}" / "repo", local_store=store) for i in range(4)]
    procs = [
        subprocess.Popen(_pants_argv(r, "package", "::"), cwd=r.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
        for r in repos
    ]
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=600))
    finally:
        for proc in procs:
            if proc.poll() is None:
                _kill_run(proc)
    for (out, err), proc in zip(outputs, procs):
        assert proc.returncode == 0, err[-4000:]
    for repo in repos:
        assert image_digests(repo) == clean.digests
        assert bad_blobs(repo) == []
    builds = sum(len(ran_to_completion(err, ("go build ",))) for _, err in outputs)
    assert builds >= 4, "the store was empty: somebody built"
    # What the four left in the store is whole: a fifth run finds every step there.
    again = repos[0].run("package", "::")
    assert ran_to_completion(again.stderr, ("go build ",)) == []
    assert image_digests(repos[0]) == clean.digests


# -- SIGKILL in the middle of a build ---------------------------------------------------------------------


def _processes() -> Dict[int, int]:
    """pid → parent pid of every live process."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state, ppid, pgrp, session, ...
            if fields[0] != "Z":
                out[int(entry)] = int(fields[1])
    return out


def _descendants(root: int) -> List[int]:
    children: Dict[int, List[int]] = {}
    for pid, ppid in _processes().items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _cwd(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return ""


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _in_sandboxes(sandboxes: Path) -> List[int]:
    """Processes working inside `sandboxes` (the run's --local-execution-root-dir): its sandboxed steps."""
    root = str(sandboxes) + "/"
    return [pid for pid in _processes() if _cwd(pid).startswith(root)]


def _kill_run(proc: subprocess.Popen, sandboxes: Optional[Path] = None) -> List[int]:
    """SIGKILL a Pants run started with start_new_session=True, as a crash would: its process group at once.
    Pants 2.17 starts every sandboxed process in a session of its own, so those outlive it as orphans; they
    are killed next (found beforehand as descendants, and afterwards by their working directory), until none
    is left. Returns the pids that outlived Pants' group."""
    tree = _descendants(proc.pid)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(30)
    orphans = [pid for pid in tree if pid in _processes()]
    deadline = time.monotonic() + 30
    while True:
        alive = [pid for pid in tree if pid in _processes()] + (_in_sandboxes(sandboxes) if sandboxes else [])
        if not alive:
            return orphans
        if time.monotonic() > deadline:
            raise AssertionError(f"processes of the killed run survived SIGKILL: {alive}")
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)


def _is_go_build(cmdline: str) -> bool:
    return "go.sh build " in cmdline or "/go build " in cmdline or bool(re.search(r"/pkg/tool/\S+/(compile|link) ", cmdline))


def _wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_sigkill_mid_build_leaves_nothing_a_later_run_trusts(clean: CleanBuild, tmp_path: Path) -> None:
    repo = PantsRepo.copy(tmp_path / "repo", local_store=tmp_path / "store")  # cold: it must build
    sandboxes = tmp_path / "sandboxes"
    sandboxes.mkdir()
    argv = _pants_argv(repo, f"--local-execution-root-dir={sandboxes}", "package", "::")
    proc = subprocess.Popen(argv, cwd=repo.root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    lines: List[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)
    reader.start()
    building: List[str] = []
    orphans: List[int] = []
    try:
        # Kill when one go build has finished (its outputs are on their way into the store) and another `go build`
        # is running in this run's sandboxes. With a warm Go build cache a build lasts ~0.3-1 s: watch /proc.
        def killing_time() -> bool:
            if proc.poll() is not None:
                return True
            building[:] = [c for c in map(_cmdline, _in_sandboxes(sandboxes)) if _is_go_build(c)]
            return bool(building) and any("Completed: go build" in line for line in lines)

        _wait_for(killing_time, 300)
    finally:
        orphans = _kill_run(proc, sandboxes)
        reader.join(10)
    assert proc.returncode == -signal.SIGKILL, f"the run ended by itself ({proc.returncode}) before a go build was caught"
    assert building, "no go build was running to be killed:\n" + "".join(lines)[-4000:]
    assert not any("Wrote dist/" in line for line in lines), "the run was not killed mid-build"
    # Pants' sandboxed processes (each in a session of its own) outlive it; _kill_run killed them too.
    assert _in_sandboxes(sandboxes) == [], f"orphans left running (outlived Pants: {orphans})"

    again = repo.run("package", "::")
    assert image_digests(repo) == clean.digests
    assert bad_blobs(repo) == []
    # It redid what the killed run had not finished, and nothing else went wrong.
    assert ran_to_completion(again.stderr, ("go build ",)), "the killed run cannot have finished every build"


# -- a damaged local store ------------------------------------------------------------------------------


@dataclass
class StoreFixture:
    repo: PantsRepo
    pristine: Path  # a copy of the store after a clean build
    digests: Dict[str, List[str]]
    big_layer: str  # hex digest of the server binary layer: > 512 KiB, kept as a plain file under immutable/
    small_layer: str  # hex digest of the server's data layer: a few hundred bytes, kept in the files/ LMDB
    small_layer_bytes: bytes


@pytest.fixture(scope="module")
def built_store(tmp_path_factory: pytest.TempPathFactory) -> StoreFixture:
    root = tmp_path_factory.mktemp("damaged")
    repo = PantsRepo.copy(root / "repo", local_store=root / "store")
    repo.run("package", "::")
    pristine = root / "pristine-store"
    shutil.copytree(repo.local_store, pristine, symlinks=True)
    layout = repo.layouts()["examples.cmd.server/image"]
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads((layout / "blobs/sha256" / index["manifests"][0]["digest"].split(":")[1]).read_text())
    layers = sorted(manifest["layers"], key=lambda d: d["size"])
    small = layers[0]["digest"][7:]
    small_bytes = (layout / "blobs/sha256" / small).read_bytes()
    return StoreFixture(repo, pristine, image_digests(repo), layers[-1]["digest"][7:], small, small_bytes)


def _fresh_store(fx: StoreFixture) -> Path:
    shutil.rmtree(fx.repo.local_store)
    shutil.copytree(fx.pristine, fx.repo.local_store, symlinks=True)
    shutil.rmtree(fx.repo.root / "dist", ignore_errors=True)
    return fx.repo.local_store


def _immutable_file(store: Path, hex_digest: str) -> Path:
    path = store / "immutable" / "files" / hex_digest[:2] / hex_digest
    assert path.is_file(), f"Pants 2.17 keeps files > 512 KiB as plain files; {path} is missing"
    return path


def _rewrite(path: Path, change: Callable[[bytes], bytes]) -> None:
    mode = path.stat().st_mode
    path.chmod(0o644)  # the store keeps its files read-only
    path.write_bytes(change(path.read_bytes()))
    path.chmod(mode)


def _flip(data: bytes) -> bytes:
    damaged = bytearray(data)
    damaged[len(damaged) // 2] ^= 0x10
    return bytes(damaged)


def _damage_lmdb_entry(store: Path, content: bytes) -> int:
    """Flip one bit in every copy of `content` inside the files/ LMDB shards; returns how many copies."""
    found = 0
    for db in sorted((store / "files").glob("*/data.mdb")):
        raw = db.read_bytes()
        if content not in raw:
            continue
        damaged = bytearray(raw)
        i = raw.find(content)
        while i >= 0:
            damaged[i + len(content) // 2] ^= 0x10
            found += 1
            i = raw.find(content, i + 1)
        db.write_bytes(bytes(damaged))
    return found


def _package(fx: StoreFixture) -> PantsResult:
    return fx.repo.run("-ldebug", "package", "::", check=False)


@pytest.mark.parametrize("damage", ["bit-flip-large-file", "truncate-large-file", "bit-flip-lmdb-entry"])
def test_a_damaged_store_entry_is_served_as_is(built_store: StoreFixture, damage: str) -> None:
    """What Pants 2.17 does: a damaged entry of a cache hit's output is NOT detected. The run succeeds, re-runs
    nothing, and writes the damaged bytes into dist/ under their old name; the manifests (and so the digests
    printed) do not change. Documents Pants' behaviour (docs/remote-cache.md), not one we want."""
    fx = built_store
    store = _fresh_store(fx)
    server_blobs = fx.repo.root / "dist/examples.cmd.server/image/blobs/sha256"
    if damage == "bit-flip-large-file":
        _rewrite(_immutable_file(store, fx.big_layer), _flip)
        damaged = fx.big_layer
    elif damage == "truncate-large-file":
        _rewrite(_immutable_file(store, fx.big_layer), lambda b: b[: len(b) // 2])
        damaged = fx.big_layer
    else:
        assert _damage_lmdb_entry(store, fx.small_layer_bytes) >= 1, "the data layer's bytes are not in the files/ LMDB"
        damaged = fx.small_layer
    result = _package(fx)
    assert result.returncode == 0, result.stderr[-4000:]
    assert ran_to_completion(result.stderr) == [], "nothing was re-run: the damage went unnoticed"
    assert image_digests(fx.repo) == fx.digests
    assert bad_blobs(fx.repo) == [str((server_blobs / damaged).relative_to(fx.repo.root))]


def test_deleting_the_damaged_entry_makes_pants_redo_that_step(built_store: StoreFixture) -> None:
    fx = built_store
    store = _fresh_store(fx)
    path = _immutable_file(store, fx.big_layer)
    _rewrite(path, _flip)
    path.unlink()
    result = _package(fx)
    assert result.returncode == 0, result.stderr[-4000:]
    assert ran_to_completion(result.stderr) == [
        "Make the binary layer /ko-app/server (linux/amd64) of examples/cmd/server:image"
    ]
    assert image_digests(fx.repo) == fx.digests
    assert bad_blobs(fx.repo) == []
