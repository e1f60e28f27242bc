"""Tests for the verifying GOCACHEPROG (src/python/kocache_plugin/go/cacheprog).

Go trusts its build cache: an entry of the right size is served without
re-hashing, so a bit flip at rest ends up in the binary. The program under test
re-verifies every output on every get. These tests run the real `go` command
against it, damage the store in the ways disks do, and check that the damage
is detected, never served (the binary stays byte-identical to a clean build)
and repaired.

Compiling the standard library into an empty store is the slow part, so it is
done once per session (the `warm` fixture, which is also the "clean build" the
others compare with); tests that damage a store work on a copy of it.
"""

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

SRC_REL = Path("src/python/kocache_plugin/go/cacheprog")
RECORD_VERSION = "kocache-action-v1"
MARKER = b"kocache-greet-marker"  # only in the compiled archive of the local package
TIMEOUT = 600

MODULE = {
    "go.mod": "module example.com/hello\n\ngo 1.24\n",
    # `banner` is a variable, not a constant, so the string data lives in this
    # package's archive only, even when Hello is inlined into main.
    "greet/greet.go": (
        "package greet\n\n"
        'import "strings"\n\n'
        f'var banner = "{MARKER.decode()}"\n\n'
        'func Hello(name string) string { return strings.ToUpper(banner) + ", " + name }\n'
    ),
    "main.go": (
        "package main\n\n"
        'import (\n\t"fmt"\n\t"os"\n\n\t"example.com/hello/greet"\n)\n\n'
        'func main() { fmt.Fprintln(os.Stdout, greet.Hello("world")) }\n'
    ),
}

# A compiler invocation in `go build -x` output (the tool path ends in /compile).
COMPILE_STEP = re.compile(r"/compile(\.exe)? ")


# --------------------------------------------------------------------------
# Fixtures and helpers
# --------------------------------------------------------------------------


def _src_dir() -> Path:
    for c in (Path(__file__).resolve().parents[3] / SRC_REL, Path.cwd() / SRC_REL):
        if (c / "go.mod").is_file():
            return c
    raise AssertionError(f"gocacheprog sources not found at {SRC_REL}")


def _go_env(tmp: Path) -> dict:
    env = dict(os.environ)
    for k in ("GOCACHEPROG", "KOCACHE_CACHEPROG_STATS", "GOEXPERIMENT"):
        env.pop(k, None)
    env.update(CGO_ENABLED="0", GOTOOLCHAIN="local", GOFLAGS="", GOENV="off", GOWORK="off", GOPROXY="off")
    if not env.get("HOME") and not env.get("GOPATH"):
        env["GOPATH"] = str(tmp / "gopath")
    return env


@pytest.fixture(scope="session")
def gocacheprog(tmp_path_factory) -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.fail("the `go` toolchain (go1.24+) is required")
    tmp = tmp_path_factory.mktemp("gocacheprog-bin")
    env = _go_env(tmp)
    env["GOCACHE"] = os.environ.get("KOCACHE_TEST_GOCACHE") or os.path.join(
        tempfile.gettempdir(), "kocache-cacheprog-gocache"
    )
    out = tmp / "gocacheprog"
    proc = subprocess.run(
        [go, "build", "-trimpath", "-o", str(out), "."],
        cwd=_src_dir(),
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 0, f"go build failed:\n{proc.stdout}\n{proc.stderr}"
    return out


@pytest.fixture(scope="session")
def module(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hello")
    for rel, text in MODULE.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


class Build:
    """A `go build` using the cacheprog; start() + wait() lets several run at once."""

    def __init__(self, prog: Path, store: Path, module: Path, work: Path, args=()):
        work.mkdir(parents=True)
        self.out = work / "hello"
        self.stats_file = work / "stats.jsonl"
        env = _go_env(work)
        env.update(
            GOCACHEPROG=" ".join([str(prog), *args, str(store)]),
            KOCACHE_CACHEPROG_STATS=str(self.stats_file),
            # A fresh GOCACHE, so nothing can come from Go's own cache.
            GOCACHE=str(work / "gocache"),
        )
        self.proc = subprocess.Popen(
            ["go", "build", "-x", "-trimpath", "-o", str(self.out), "."],
            cwd=module,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait(self) -> "Build":
        self.stdout, self.stderr = self.proc.communicate(timeout=TIMEOUT)
        assert self.proc.returncode == 0, f"go build failed:\n{self.stdout}\n{self.stderr}"
        lines = self.stats_file.read_text().splitlines()
        assert len(lines) == 1, lines  # one cacheprog process per go command
        self.stats = json.loads(lines[0])
        self.compiles = [l for l in self.stderr.splitlines() if COMPILE_STEP.search(l)]
        self.binary = self.out.read_bytes()
        return self


def build(prog, store, module, work, args=()) -> Build:
    return Build(prog, store, module, work, args).wait()


@pytest.fixture(scope="session")
def warm(gocacheprog, module, tmp_path_factory):
    """A store filled by one build from empty; its binary is the clean reference."""
    root = tmp_path_factory.mktemp("warm")
    b = build(gocacheprog, root / "store", module, root / "build")
    return root / "store", b


@pytest.fixture
def store(warm, tmp_path) -> Path:
    dst = tmp_path / "store"
    shutil.copytree(warm[0], dst)
    return dst


def outputs(store: Path) -> dict:
    return {p.name: p for p in store.glob("o/*/*")}


def records(store: Path) -> dict:
    """ActionID hex -> (OutputID hex, path), checking each record's own checksum."""
    out = {}
    for p in store.glob("a/*/*"):
        line = p.read_text()
        assert line.endswith("\n"), p
        body, check = line[:-1].rsplit(" ", 1)
        assert hashlib.sha256(body.encode()).hexdigest() == check, p
        version, action, output, size, _nanos = body.split(" ")
        assert (version, action) == (RECORD_VERSION, p.name)
        out[action] = (output, int(size), p)
    return out


def assert_store_sound(store: Path):
    """Every body hashes to its name; every record verifies and names a present body."""
    outs = outputs(store)
    for name, p in outs.items():
        assert hashlib.sha256(p.read_bytes()).hexdigest() == name, f"corrupt body left in store: {p}"
    for action, (output, size, _) in records(store).items():
        assert output in outs, f"record {action} names missing output {output}"
        assert outs[output].stat().st_size == size
    assert list((store / "tmp").iterdir()) == []


def marker_output(store: Path) -> Path:
    hits = [p for p in outputs(store).values() if MARKER in p.read_bytes()]
    assert len(hits) == 1, hits
    return hits[0]


# --------------------------------------------------------------------------
# Real builds
# --------------------------------------------------------------------------


def test_second_build_is_served_from_the_store(gocacheprog, module, warm, store, tmp_path):
    _, first = warm
    # The warm-up started from an empty store: everything missed and was put.
    assert first.stats["hits"] == 0 and first.stats["gets"] == first.stats["misses"] > 0
    assert first.stats["puts"] > 0 and first.stats["corrupt"] == 0
    assert any("example.com/hello/greet" in c for c in first.compiles)
    assert_store_sound(store)

    again = build(gocacheprog, store, module, tmp_path / "b")
    assert again.compiles == []  # nothing recompiled: only the link step ran
    assert again.stats["hits"] > 50 and again.stats["corrupt"] == 0
    assert again.binary == first.binary
    assert subprocess.run([again.out], capture_output=True, text=True).stdout == "KOCACHE-GREET-MARKER, world\n"


def _flip(p: Path):
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0x01
    p.write_bytes(bytes(data))


def _truncate(p: Path):
    os.truncate(p, p.stat().st_size // 2)


def _redirect_record(store: Path, body: Path):
    """Point the body's record at another valid body: only the record's own checksum can tell."""
    (rec,) = [r for output, _, r in records(store).values() if output == body.name]
    other = next(name for name in outputs(store) if name != body.name)
    rec.write_text(rec.read_text().replace(body.name, other))


DAMAGE = {
    "bit-flip": lambda store, body: _flip(body),
    "truncated": lambda store, body: _truncate(body),
    "deleted": lambda store, body: body.unlink(),
    "record-redirected": _redirect_record,
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_entry_is_detected_rebuilt_and_replaced(gocacheprog, module, warm, store, tmp_path, damage):
    _, clean = warm
    body = marker_output(store)
    good = body.read_bytes()
    DAMAGE[damage](store, body)

    b = build(gocacheprog, store, module, tmp_path / "b1")
    assert b.binary == clean.binary
    assert b.stats["corrupt"] >= 1
    assert "discarded corrupt cache entry" in b.stderr
    assert any("example.com/hello/greet" in c for c in b.compiles)  # rebuilt, not served
    assert body.read_bytes() == good  # and put back
    assert_store_sound(store)

    # The repaired entry is served again.
    again = build(gocacheprog, store, module, tmp_path / "b2")
    assert again.compiles == [] and again.stats["corrupt"] == 0
    assert again.binary == clean.binary


def test_concurrent_builds_share_a_store(gocacheprog, module, warm, store, tmp_path):
    """Three builds race to detect, delete, rebuild and put the same damaged entry."""
    _, clean = warm
    body = marker_output(store)
    _flip(body)

    builds = [Build(gocacheprog, store, module, tmp_path / f"b{i}") for i in range(3)]
    builds = [b.wait() for b in builds]
    assert all(b.binary == clean.binary for b in builds)
    assert sum(b.stats["corrupt"] for b in builds) >= 1
    assert_store_sound(store)

    again = build(gocacheprog, store, module, tmp_path / "after")
    assert again.compiles == [] and again.stats["corrupt"] == 0
    assert again.binary == clean.binary


# --------------------------------------------------------------------------
# Importing from a plain Go cache (-import)
# --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def go_cache(module, tmp_path_factory) -> Path:
    """Go's own cache, filled by a plain `go build` (no cacheprog) with the same flags."""
    root = tmp_path_factory.mktemp("gocache")
    env = _go_env(root)
    env["GOCACHE"] = str(root / "gocache")
    proc = subprocess.run(
        ["go", "build", "-trimpath", "-o", str(root / "hello"), "."],
        cwd=module,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 0, f"go build failed:\n{proc.stdout}\n{proc.stderr}"
    return root / "gocache"


def snapshot(d: Path) -> dict:
    """Every file under d with its content hash and mtime, to show that d was only read."""
    return {
        str(p.relative_to(d)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(d.rglob("*"))
        if p.is_file()
    }


def test_import_reuses_a_plain_go_cache(gocacheprog, module, warm, go_cache, tmp_path):
    _, clean = warm
    before = snapshot(go_cache)
    store = tmp_path / "store"

    b = build(gocacheprog, store, module, tmp_path / "b1", ["-import", str(go_cache)])
    # Everything was compiled by the plain build, so nothing is compiled again.
    assert b.compiles == []
    assert b.stats["imported"] > 50 and b.stats["corrupt"] == 0
    assert b.stats["gets"] == b.stats["hits"] + b.stats["misses"]
    assert b.stats["imported"] <= b.stats["hits"]
    assert b.binary == clean.binary
    assert "gocacheprog:" not in b.stderr
    assert_store_sound(store)
    assert len(records(store)) >= b.stats["imported"]
    assert snapshot(go_cache) == before  # someone else's cache: only read

    # The imported entries are the store's own now.
    again = build(gocacheprog, store, module, tmp_path / "b2")
    assert again.compiles == [] and again.stats["imported"] == 0 and again.stats["hits"] > 50
    assert again.binary == clean.binary


def test_damaged_go_cache_entry_is_not_imported(gocacheprog, module, warm, go_cache, tmp_path):
    _, clean = warm
    imp = tmp_path / "gocache"
    shutil.copytree(go_cache, imp)
    damaged = max(imp.glob("*/*-d"), key=lambda p: p.stat().st_size)  # the runtime's archive, say
    _flip(damaged)
    flipped, before = damaged.read_bytes(), snapshot(imp)
    store = tmp_path / "store"

    b = build(gocacheprog, store, module, tmp_path / "b", ["-import", str(imp)])
    output = damaged.name.removesuffix("-d")
    # The damaged body was needed, refused and rebuilt; the rest was imported.
    assert f"does not match OutputID {output}" in b.stderr and "gocacheprog: not importing action" in b.stderr
    assert b.compiles != [] and b.stats["imported"] > 0
    assert b.binary == clean.binary
    assert_store_sound(store)  # no body that fails its hash, the rebuilt one included
    assert damaged.read_bytes() == flipped and snapshot(imp) == before


# --------------------------------------------------------------------------
# The protocol, driven directly
# --------------------------------------------------------------------------


class Prog:
    """Speaks the go command's side of the GOCACHEPROG protocol."""

    def __init__(self, prog: Path, store: Path, stats: Path, *args: str):
        env = dict(os.environ, KOCACHE_CACHEPROG_STATS=str(stats))
        self.p = subprocess.Popen(
            [str(prog), *args, str(store)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self.next_id = 0
        self.hello = self._read()

    def _read(self) -> dict:
        line = self.p.stdout.readline()
        assert line, self.p.stderr.read()
        return json.loads(line)

    def request(self, command: str, raw_body: bytes = None, **fields) -> dict:
        """`raw_body` is sent verbatim between the quotes (base64 unless testing garbage)."""
        self.next_id += 1
        req = {"ID": self.next_id, "Command": command}
        for k, v in fields.items():
            req[k] = base64.b64encode(v).decode() if isinstance(v, bytes) else v
        msg = json.dumps(req).encode() + b"\n\n"  # the go command adds an empty line
        if raw_body is not None:
            msg += b'"' + raw_body + b'"\n'
        self.p.stdin.write(msg)
        self.p.stdin.flush()
        res = self._read()
        assert res["ID"] == self.next_id
        return res

    def put(self, action: bytes, body: bytes, output: bytes = None, size: int = None) -> dict:
        output = hashlib.sha256(body).digest() if output is None else output
        size = len(body) if size is None else size
        raw = base64.b64encode(body) if size else None
        return self.request("put", raw, ActionID=action, OutputID=output, BodySize=size)

    def get(self, action: bytes) -> dict:
        return self.request("get", ActionID=action)

    def close(self) -> int:
        res = self.request("close")
        assert "Err" not in res
        assert self.p.stdout.read() == b""
        return self.p.wait(timeout=30)


def _aid(n: int) -> bytes:
    return hashlib.sha256(b"action %d" % n).digest()


def test_protocol_verifies_puts_and_gets(gocacheprog, tmp_path):
    store, stats = tmp_path / "store", tmp_path / "stats.jsonl"
    prog = Prog(gocacheprog, store, stats)
    assert set(prog.hello["KnownCommands"]) == {"get", "put", "close"}

    # A body that does not hash to its OutputID is refused and not stored.
    good, evil = b"good body", b"evil body"
    res = prog.put(_aid(1), evil, output=hashlib.sha256(good).digest())
    assert "does not match OutputID" in res["Err"] and "DiskPath" not in res
    assert prog.get(_aid(1)) == {"ID": prog.next_id, "Miss": True}
    # So is a body shorter than its BodySize ...
    assert "does not match OutputID" in prog.put(_aid(1), good, size=len(good) + 1)["Err"]
    # ... and one that is not base64; the stream stays in step after each.
    res = prog.request("put", b"!!not base64!!", ActionID=_aid(1), OutputID=_aid(1), BodySize=9)
    assert "illegal base64" in res["Err"]
    assert "must be 32 bytes" in prog.request("put", None, ActionID=b"short", OutputID=_aid(1))["Err"]
    assert "unknown command" in prog.request("get2", ActionID=_aid(1))["Err"]
    assert outputs(store) == {} and records(store) == {}

    # A good put is stored under its OutputID and served.
    res = prog.put(_aid(1), good)
    path = Path(res["DiskPath"])
    assert path.is_absolute() and path.read_bytes() == good and path.name == hashlib.sha256(good).hexdigest()
    hit = prog.get(_aid(1))
    assert base64.b64decode(hit["OutputID"]) == hashlib.sha256(good).digest()
    assert (hit["Size"], hit["DiskPath"]) == (len(good), str(path)) and "Time" in hit and "Miss" not in hit

    # An empty body is sent without a body line.
    empty = prog.put(_aid(2), b"")
    assert "Err" not in empty and Path(empty["DiskPath"]).read_bytes() == b""
    assert prog.get(_aid(2)).get("Size", 0) == 0 and "DiskPath" in prog.get(_aid(2))

    # Damage at rest is a miss, and the entry is gone until put again.
    _flip(path)
    assert prog.get(_aid(1)).get("Miss") is True
    assert not path.exists() and records(store).keys() == {_aid(2).hex()}
    assert prog.put(_aid(1), good)["DiskPath"] == str(path)
    assert "Miss" not in prog.get(_aid(1))

    rec = store / "a" / _aid(1).hex()[:2] / _aid(1).hex()
    rec.write_text(rec.read_text().replace(" 9 ", " 8 "))  # the size field
    assert prog.get(_aid(1)).get("Miss") is True and not rec.exists()

    assert prog.close() == 0
    counts = json.loads(stats.read_text())
    assert counts == {
        "gets": 7, "hits": 4, "misses": 3, "imported": 0, "corrupt": 2, "puts": 3, "rejected": 2, "trimmed": 0
    }
    assert list((store / "tmp").iterdir()) == []


def _go_entry(go_cache: Path, action: bytes, body: bytes, output: bytes = None, line: str = None):
    """Writes an entry the way cmd/go/internal/cache does (or `line` as its action file)."""
    output = hashlib.sha256(body).digest() if output is None else output
    if line is None:
        line = f"v1 {action.hex()} {output.hex()} {len(body):20d} {1_700_000_000_000_000_000:20d}\n"
    for name, data in ((f"{action.hex()}-a", line.encode()), (f"{output.hex()}-d", body)):
        p = go_cache / name[:2] / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def test_protocol_imports_verified_go_cache_entries(gocacheprog, tmp_path):
    store, stats, imp = tmp_path / "store", tmp_path / "stats.jsonl", tmp_path / "gocache"
    body = b"compiled elsewhere"
    _go_entry(imp, _aid(1), body)
    _go_entry(imp, _aid(2), b"", line=f"v1 {_aid(2).hex()} {hashlib.sha256(b'').hexdigest()} 0 1\n")
    _go_entry(imp, _aid(3), b"evil body", output=hashlib.sha256(b"good body").digest())
    misfiled = f"v1 {_aid(5).hex()} {hashlib.sha256(b'misfiled').hexdigest()} 8 1\n"  # names another action
    _go_entry(imp, _aid(4), b"misfiled", line=misfiled)
    _go_entry(imp, _aid(6), b"trimmed")
    trimmed = hashlib.sha256(b"trimmed").hexdigest()
    (imp / trimmed[:2] / f"{trimmed}-d").unlink()  # Go trims bodies and action files separately
    _go_entry(imp, _aid(7), b"stored body")
    before = snapshot(imp)

    prog = Prog(gocacheprog, store, stats, "-import", str(imp))
    # A good entry is copied into the store and served from there.
    hit = prog.get(_aid(1))
    assert base64.b64decode(hit["OutputID"]) == hashlib.sha256(body).digest()
    assert hit["Size"] == len(body) and "Time" in hit and "Miss" not in hit
    path = Path(hit["DiskPath"])
    assert path.parent.parent == store / "o" and path.read_bytes() == body
    assert records(store)[_aid(1).hex()][:2] == (hashlib.sha256(body).hexdigest(), len(body))
    again = prog.get(_aid(1))  # from the store now: imported once (see the counts)
    assert (again["OutputID"], again["Size"], again["DiskPath"]) == (hit["OutputID"], hit["Size"], hit["DiskPath"])
    # So is an empty one, whatever the padding of its action file.
    empty = prog.get(_aid(2))
    assert "Miss" not in empty and empty.get("Size", 0) == 0 and Path(empty["DiskPath"]).read_bytes() == b""

    # A body that does not match its OutputID, an action file for another
    # action, a trimmed body and no entry at all are misses, and nothing is stored.
    for n in (3, 4, 6, 8):
        assert prog.get(_aid(n)) == {"ID": prog.next_id, "Miss": True}, n
    assert records(store).keys() == {_aid(1).hex(), _aid(2).hex()}

    # A damaged entry of the store's own is replaced by a verified import.
    good = prog.put(_aid(7), b"stored body")
    _flip(Path(good["DiskPath"]))
    assert prog.get(_aid(7))["DiskPath"] == good["DiskPath"]
    assert Path(good["DiskPath"]).read_bytes() == b"stored body"

    assert prog.close() == 0
    stderr = prog.p.stderr.read().decode()
    assert f"not importing action {_aid(3).hex()}" in stderr and "does not match OutputID" in stderr
    assert f"not importing action {_aid(4).hex()}" in stderr
    assert _aid(6).hex() not in stderr and _aid(8).hex() not in stderr  # plain misses are quiet
    assert snapshot(imp) == before  # never written to
    assert_store_sound(store)
    counts = json.loads(stats.read_text())
    assert counts == {
        "gets": 8, "hits": 4, "misses": 4, "imported": 3, "corrupt": 1, "puts": 1, "rejected": 0, "trimmed": 0
    }


# --------------------------------------------------------------------------
# Trimming (Go's policy: files unused for 5 days go, at most one walk a day)
# --------------------------------------------------------------------------

HOUR, DAY = 3600, 24 * 3600


def _age(paths, seconds: float):
    t = time.time() - seconds
    for p in paths:
        os.utime(p, (t, t))


def _entry_files(store: Path, action: bytes, body: bytes) -> list:
    """The action record and the body of a stored entry."""
    output = hashlib.sha256(body).hexdigest()
    return [store / "a" / action.hex()[:2] / action.hex(), store / "o" / output[:2] / output]


def _recent(t: float) -> bool:
    return abs(t - time.time()) < 120


def _counts(stats: Path) -> dict:
    (line,) = stats.read_text().splitlines()
    return json.loads(line)


ZERO = {"gets": 0, "hits": 0, "misses": 0, "imported": 0, "corrupt": 0, "puts": 0, "rejected": 0, "trimmed": 0}


def test_protocol_trims_unused_entries_and_marks_used_ones(gocacheprog, tmp_path):
    store = tmp_path / "store"
    bodies = {n: b"body %d" % n for n in (1, 2, 3)}  # A, B, C
    prog = Prog(gocacheprog, store, tmp_path / "s1.jsonl")
    for n, body in bodies.items():
        assert "Err" not in prog.put(_aid(n), body)
    files = {n: _entry_files(store, _aid(n), body) for n, body in bodies.items()}
    assert all(p.is_file() for fs in files.values() for p in fs)
    _age(files[1], 6 * DAY)
    _age(files[2], 2 * DAY)
    assert not (store / "trim.txt").exists()  # a new store has never been trimmed
    assert prog.close() == 0
    assert prog.p.stderr.read() == b""

    assert not any(p.exists() for p in files[1])
    assert all(p.is_file() for p in files[2] + files[3])
    assert _recent(int((store / "trim.txt").read_text()))
    assert _counts(tmp_path / "s1.jsonl") == dict(ZERO, puts=3, trimmed=2)
    assert_store_sound(store)

    # A get marks the files it serves as used, once their mtime is an hour old.
    _age(files[3], HOUR / 2)
    c_mtimes = [p.stat().st_mtime_ns for p in files[3]]
    prog = Prog(gocacheprog, store, tmp_path / "s2.jsonl")
    hit = prog.get(_aid(2))
    assert base64.b64decode(hit["OutputID"]) == hashlib.sha256(bodies[2]).digest() and "Miss" not in hit
    assert all(_recent(p.stat().st_mtime) for p in files[2])
    assert "Miss" not in prog.get(_aid(3))
    assert [p.stat().st_mtime_ns for p in files[3]] == c_mtimes  # recent enough: not rewritten
    assert prog.get(_aid(1)) == {"ID": prog.next_id, "Miss": True}  # trimmed
    assert prog.close() == 0
    assert prog.p.stderr.read() == b""
    assert _counts(tmp_path / "s2.jsonl") == dict(ZERO, gets=3, hits=2, misses=1)


@pytest.mark.parametrize(
    "stamp, trims",
    [
        (lambda: str(int(time.time() - HOUR)), False),
        (lambda: f"{int(time.time() - 23 * HOUR)}\n", False),
        (lambda: str(int(time.time() - 25 * HOUR)), True),
        (lambda: str(int(time.time() + 2 * DAY)), True),  # a clock that was wrong
        (lambda: "yesterday", True),
        (lambda: "", True),
    ],
    ids=["1h-old", "23h-old", "25h-old", "future", "garbage", "empty"],
)
def test_trim_runs_at_most_once_a_day(gocacheprog, tmp_path, stamp, trims):
    store, stats = tmp_path / "store", tmp_path / "stats.jsonl"
    prog = Prog(gocacheprog, store, stats)
    assert "Err" not in prog.put(_aid(1), b"old body")
    old = _entry_files(store, _aid(1), b"old body")
    _age(old, 6 * DAY)
    text = stamp()
    (store / "trim.txt").write_text(text)
    assert prog.close() == 0
    assert prog.p.stderr.read() == b""

    assert all(p.exists() != trims for p in old)
    assert _counts(stats) == dict(ZERO, puts=1, trimmed=2 if trims else 0)
    if trims:
        assert _recent(int((store / "trim.txt").read_text()))
    else:
        assert (store / "trim.txt").read_text() == text


def test_trim_never_touches_the_import_directory(gocacheprog, tmp_path):
    store, stats, imp = tmp_path / "store", tmp_path / "stats.jsonl", tmp_path / "gocache"
    _go_entry(imp, _aid(1), b"compiled elsewhere")
    _go_entry(imp, _aid(2), b"also compiled elsewhere")
    _age([p for p in imp.rglob("*") if p.is_file()], 6 * DAY)
    before = snapshot(imp)

    prog = Prog(gocacheprog, store, stats, "-import", str(imp))
    assert "Miss" not in prog.get(_aid(1))  # imported: the store's copy is new
    assert "Err" not in prog.put(_aid(3), b"own body")
    own = _entry_files(store, _aid(3), b"own body")
    _age(own, 6 * DAY)
    assert prog.close() == 0
    assert prog.p.stderr.read() == b""

    assert not any(p.exists() for p in own)  # the trim did run
    assert records(store).keys() == {_aid(1).hex()}
    assert snapshot(imp) == before  # old, but someone else's: neither trimmed nor marked
    assert _counts(stats) == dict(ZERO, gets=1, hits=1, imported=1, puts=1, trimmed=2)


USAGE = "usage: gocacheprog [-import <go-cache-dir>] <cache-dir>\n"


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["store", "other"],
        ["-import"],
        ["-import", "gocache"],  # the flag takes the only argument
        ["-import=", "store"],
        ["-import", "gocache", "store", "other"],
        ["store", "-import", "gocache"],  # flags come first
        ["-bogus", "store"],
        [""],
    ],
)
def test_bad_arguments_print_usage(gocacheprog, tmp_path, args):
    proc = subprocess.run(
        [str(gocacheprog), *args], cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", USAGE)
    assert list(tmp_path.iterdir()) == []  # no store was created
