"""Tests for the Go "layer tool" (src/python/kocache_plugin/image/layer_tool).

The tool is built once per session with the real `go` toolchain and then run
as a subprocess against small, generated inputs.

The golden digests pin the exact bytes of a layer. They depend on the tool's
header policy *and* on the Go toolchain (compress/flate). If either changes on
purpose, bump `toolVersion` in main.go and update the goldens here.
"""

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest

TOOL_SRC_REL = Path("src/python/kocache_plugin/image/layer_tool")
TOOL_VERSION = "layertool 1"

GZIP_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
TAR_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar"

# Golden values for `make_inputs` + `standard_spec()` (gzip level 1).
# Computed with go1.26.8 (linux/amd64).
GOLDEN_DIGEST = "sha256:d5ce73be9fba7b513b9362f6f8d7c1379d7a46699404c0a1bd6bf0fe685bb735"
GOLDEN_SIZE = 958
GOLDEN_DIFF_ID = "sha256:ed8671d29cd8e4b4e4dc922adde233037ad84f27d4868a5994a6fa53faa8f2d2"

MTIME = 1700000000


# --------------------------------------------------------------------------
# Fixtures and helpers
# --------------------------------------------------------------------------


def _tool_src_dir() -> Path:
    override = os.environ.get("KOCACHE_LAYER_TOOL_SRC")
    candidates = [Path(override)] if override else []
    candidates += [
        Path(__file__).resolve().parents[3] / TOOL_SRC_REL,
        Path.cwd() / TOOL_SRC_REL,
    ]
    for c in candidates:
        if (c / "go.mod").is_file():
            return c
    raise AssertionError(f"layer tool sources not found in any of {candidates}")


@pytest.fixture(scope="session")
def layertool(tmp_path_factory) -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.fail("the `go` toolchain (go1.21+) is required to build the layer tool")
    # Build from a copy, like the plugin does in its sandbox, so the source
    # tree is never written to.
    build_dir = tmp_path_factory.mktemp("layertool-src")
    for f in _tool_src_dir().iterdir():
        if f.name == "go.mod" or f.suffix == ".go":
            shutil.copy(f, build_dir / f.name)
    env = dict(os.environ)
    env.update(CGO_ENABLED="0", GOTOOLCHAIN="local", GOFLAGS="-mod=mod")
    if not env.get("GOCACHE"):
        # Shared across sessions so only the first run compiles the stdlib.
        env["GOCACHE"] = os.path.join(tempfile.gettempdir(), "kocache-layertool-gocache")
    if not env.get("HOME") and not env.get("GOPATH"):
        env["GOPATH"] = str(tmp_path_factory.mktemp("gopath"))
    out = build_dir / "layertool"
    proc = subprocess.run(
        [go, "build", "-trimpath", "-o", str(out), "."],
        cwd=build_dir,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, f"go build failed:\n{proc.stdout}\n{proc.stderr}"
    return out


def run_tool(tool, workdir, spec=None, args=None, env=None, umask=None):
    """Run the tool in `workdir` with a spec written to spec.json there."""
    workdir = Path(workdir)
    if spec is not None:
        (workdir / "spec.json").write_text(json.dumps(spec))
    if args is None:
        args = ["-spec", "spec.json", "-out", "out"]
    preexec = (lambda: os.umask(umask)) if umask is not None else None
    return subprocess.run(
        [str(tool), *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=preexec,
    )


def build_ok(tool, workdir, spec, **kwargs):
    """Run the tool, assert success; return (descriptor dict, raw descriptor, blob bytes)."""
    proc = run_tool(tool, workdir, spec, **kwargs)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == ""
    out = Path(workdir) / "out"
    raw_desc = (out / "descriptor.json").read_bytes()
    desc = json.loads(raw_desc)
    blob = (out / "blobs" / "sha256" / desc["digest"].split(":", 1)[1]).read_bytes()
    return desc, raw_desc, blob


def make_inputs(root: Path) -> None:
    """The fixed input set used by the golden / reproducibility tests."""
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "hello").write_bytes(b"\x7fELF pretend binary\n" * 50)
    (root / "notes.txt").write_text("top-level note\n")
    kd = root / "kodata_in"
    (kd / "data").mkdir(parents=True)
    (kd / "sub" / "deeper").mkdir(parents=True)
    (kd / "empty").mkdir()
    (kd / "data" / "v1.txt").write_text("version one\n")
    (kd / "sub" / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (kd / "sub" / "run.sh").chmod(0o755)
    (kd / "sub" / "deeper" / "x.bin").write_bytes(bytes(range(256)) * 4)
    os.symlink("../data/v1.txt", kd / "sub" / "link-to-v1")
    os.symlink("sub/deeper", kd / "dirlink")
    os.symlink(".", kd / "sub" / "self")


def standard_spec(compression="gzip", level=1, mtime=MTIME):
    spec = {
        "compression": compression,
        "mtime": mtime,
        "entries": [
            {"type": "file", "src": "bin/hello", "dest": "ko-app/hello", "mode": 0o755},
            {"type": "file", "src": "notes.txt", "dest": "ko-app.txt"},
            {"type": "dir", "dest": "var/run/ko", "mode": 0o750},
            {"type": "dir", "dest": "./tmp/"},
            {"type": "symlink", "dest": "var/run/ko/latest", "target": "data/v1.txt"},
            {"type": "tree", "src": "kodata_in", "dest": "var/run/ko"},
        ],
    }
    if level is not None:
        spec["level"] = level
    return spec


# name (as in the tar, dirs with "/"), type, mode, link target
EXPECTED_MEMBERS = [
    ("ko-app/", tarfile.DIRTYPE, 0o755, ""),
    # Plain byte order of the cleaned path: "." (0x2e) < "/" (0x2f).
    ("ko-app.txt", tarfile.REGTYPE, 0o644, ""),
    ("ko-app/hello", tarfile.REGTYPE, 0o755, ""),
    ("tmp/", tarfile.DIRTYPE, 0o755, ""),
    ("var/", tarfile.DIRTYPE, 0o755, ""),
    ("var/run/", tarfile.DIRTYPE, 0o755, ""),
    ("var/run/ko/", tarfile.DIRTYPE, 0o750, ""),  # explicit dir mode beats the tree's 0755
    ("var/run/ko/data/", tarfile.DIRTYPE, 0o755, ""),
    ("var/run/ko/data/v1.txt", tarfile.REGTYPE, 0o644, ""),
    ("var/run/ko/dirlink", tarfile.SYMTYPE, 0o777, "sub/deeper"),
    ("var/run/ko/empty/", tarfile.DIRTYPE, 0o755, ""),
    ("var/run/ko/latest", tarfile.SYMTYPE, 0o777, "data/v1.txt"),
    ("var/run/ko/sub/", tarfile.DIRTYPE, 0o755, ""),
    ("var/run/ko/sub/deeper/", tarfile.DIRTYPE, 0o755, ""),
    ("var/run/ko/sub/deeper/x.bin", tarfile.REGTYPE, 0o644, ""),
    ("var/run/ko/sub/link-to-v1", tarfile.SYMTYPE, 0o777, "../data/v1.txt"),
    ("var/run/ko/sub/run.sh", tarfile.REGTYPE, 0o755, ""),
    ("var/run/ko/sub/self", tarfile.SYMTYPE, 0o777, "."),
]


def raw_header_names(tar_bytes: bytes):
    """(name, magic) of every header block, straight from the bytes."""
    out = []
    with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:") as tf:
        for m in tf.getmembers():
            block = tar_bytes[m.offset : m.offset + 512]
            prefix = block[345:500].rstrip(b"\0").decode()
            name = block[0:100].rstrip(b"\0").decode()
            out.append(((prefix + "/" + name) if prefix else name, block[257:265]))
    return out


@pytest.fixture
def std_layer(layertool, tmp_path):
    make_inputs(tmp_path)
    return build_ok(layertool, tmp_path, standard_spec())


# --------------------------------------------------------------------------
# (1) golden digests
# --------------------------------------------------------------------------


def test_golden_digest(std_layer):
    desc, raw_desc, blob = std_layer
    assert desc == {
        "diffID": GOLDEN_DIFF_ID,
        "digest": GOLDEN_DIGEST,
        "mediaType": GZIP_MEDIA_TYPE,
        "size": GOLDEN_SIZE,
    }


def test_version(layertool, tmp_path):
    proc = run_tool(layertool, tmp_path, args=["-version"])
    assert proc.returncode == 0
    assert proc.stdout == TOOL_VERSION + "\n"
    assert proc.stderr == ""


# --------------------------------------------------------------------------
# (2) reproducibility across directories, mtimes, modes, umask, TZ, symlinked inputs
# --------------------------------------------------------------------------


def test_byte_identical_across_environments(layertool, tmp_path):
    a = tmp_path / "a"
    b = tmp_path / "nested" / "other-b"
    make_inputs(a)

    # Copy B: same contents, but: different mtimes, different non-exec mode
    # bits, the "file" input and the tree root materialized as symlinks (as
    # Pants may do), and reversed entry order in the spec.
    store = tmp_path / "store"
    make_inputs(store)
    b.mkdir(parents=True)
    (b / "bin").mkdir()
    os.symlink(store / "bin" / "hello", b / "bin" / "hello")
    shutil.copy(store / "notes.txt", b / "notes.txt")
    os.symlink(store / "kodata_in", b / "kodata_in")
    (store / "bin" / "hello").chmod(0o600)
    (store / "kodata_in" / "data" / "v1.txt").chmod(0o600)
    (store / "kodata_in" / "sub" / "run.sh").chmod(0o700)
    (store / "kodata_in" / "sub" / "deeper").chmod(0o700)
    for root, dirs, files in os.walk(store):
        for n in dirs + files:
            os.utime(os.path.join(root, n), (123456789, 987654321), follow_symlinks=False)

    spec_a = standard_spec()
    spec_b = standard_spec()
    spec_b["entries"].reverse()

    env_a = dict(os.environ, TZ="UTC")
    env_b = dict(os.environ, TZ="Pacific/Kiritimati", LC_ALL="C")
    desc_a, raw_a, blob_a = build_ok(layertool, a, spec_a, env=env_a, umask=0o022)
    desc_b, raw_b, blob_b = build_ok(layertool, b, spec_b, env=env_b, umask=0o077)

    assert raw_a == raw_b
    assert blob_a == blob_b
    assert desc_a["digest"] == GOLDEN_DIGEST
    # Running again in the same place is also stable (and overwrites cleanly).
    assert build_ok(layertool, a, spec_a)[2] == blob_a


# --------------------------------------------------------------------------
# (3) the layer as seen by Python's tarfile
# --------------------------------------------------------------------------


def test_tar_contents(std_layer, tmp_path):
    _, _, blob = std_layer
    tar_bytes = gzip.decompress(blob)
    with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:") as tf:
        members = tf.getmembers()
        assert tf.pax_headers == {}
        contents = {
            m.name: tf.extractfile(m).read() for m in members if m.isreg()
        }

    raw = raw_header_names(tar_bytes)
    assert [name for name, _ in raw] == [e[0] for e in EXPECTED_MEMBERS]
    # Every header is plain USTAR ("ustar\0" + "00"), no PAX/GNU blocks.
    assert all(magic == b"ustar\x0000" for _, magic in raw)

    got = [(m.name, m.type, m.mode, m.linkname) for m in members]
    want = [(n.rstrip("/"), t, mode, link) for n, t, mode, link in EXPECTED_MEMBERS]
    assert got == want

    names = [m.name for m in members]
    assert names == sorted(names, key=lambda s: s.encode())
    for m in members:
        assert not m.name.startswith(("/", "./"))
        assert (m.uid, m.gid, m.uname, m.gname) == (0, 0, "", "")
        assert m.mtime == MTIME
        assert (m.devmajor, m.devminor) == (0, 0)
        assert m.pax_headers == {}
        # Every parent directory is present, before its children.
        parent = os.path.dirname(m.name)
        if parent:
            assert names.index(parent) < names.index(m.name)

    assert contents["ko-app/hello"] == b"\x7fELF pretend binary\n" * 50
    assert contents["var/run/ko/data/v1.txt"] == b"version one\n"
    assert contents["var/run/ko/sub/deeper/x.bin"] == bytes(range(256)) * 4


def test_long_names_use_pax_path_only(layertool, tmp_path):
    long_name = "n" * 120  # a single 120-byte component cannot be split for USTAR
    (tmp_path / "f").write_text("x")
    spec = {
        "compression": "none",
        "mtime": 5,
        "entries": [
            {"type": "file", "src": "f", "dest": "d/" + long_name},
            {"type": "symlink", "dest": "l", "target": "t" * 150},
            {"type": "file", "src": "f", "dest": "/".join(["p" * 60] * 3) + "/short"},
        ],
    }
    _, _, blob = build_ok(layertool, tmp_path, spec)
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:") as tf:
        by_name = {m.name: m for m in tf.getmembers()}
    assert by_name["d/" + long_name].pax_headers == {"path": "d/" + long_name}
    assert by_name["l"].pax_headers == {"linkpath": "t" * 150}
    # 185 bytes, but splittable into USTAR prefix/name: no PAX needed.
    assert by_name["/".join(["p" * 60] * 3) + "/short"].pax_headers == {}
    assert all(m.mtime == 5 for m in by_name.values())


# --------------------------------------------------------------------------
# (4) descriptor consistency and output layout
# --------------------------------------------------------------------------


def test_descriptor_matches_blob(std_layer, tmp_path):
    desc, raw_desc, blob = std_layer
    assert raw_desc == json.dumps(desc, sort_keys=True, separators=(",", ":")).encode()
    assert not raw_desc.endswith(b"\n")
    assert list(desc) == sorted(desc)
    assert desc["mediaType"] == GZIP_MEDIA_TYPE
    assert desc["digest"] == "sha256:" + hashlib.sha256(blob).hexdigest()
    assert desc["size"] == len(blob)
    assert desc["diffID"] == "sha256:" + hashlib.sha256(gzip.decompress(blob)).hexdigest()

    # gzip header: no FNAME/FCOMMENT/FEXTRA, MTIME 0, OS 255 (Go default).
    assert blob[:3] == b"\x1f\x8b\x08"
    assert blob[3] == 0
    assert blob[4:8] == b"\0\0\0\0"
    assert blob[9] == 255

    out = tmp_path / "out"
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == ["blobs/sha256/" + desc["digest"].split(":")[1], "descriptor.json"]


# --------------------------------------------------------------------------
# (5) errors
# --------------------------------------------------------------------------


def _spec(*entries):
    return {"compression": "gzip", "level": 1, "mtime": 0, "entries": list(entries)}


def _tree_with_link(target):
    def setup(d: Path):
        (d / "t" / "sub").mkdir(parents=True)
        (d / "t" / "sub" / "ok.txt").write_text("ok")
        os.symlink(target, d / "t" / "sub" / "bad")

    return setup


def _files(*names):
    def setup(d: Path):
        for n in names:
            (d / n).parent.mkdir(parents=True, exist_ok=True)
            (d / n).write_text(n)

    return setup


ERROR_CASES = {
    "escaping-symlink": (
        _tree_with_link("../../outside.txt"),
        _spec({"type": "tree", "src": "t", "dest": "data"}),
        ['"t/sub/bad"', '"../../outside.txt"', "escapes the tree"],
    ),
    "absolute-symlink": (
        _tree_with_link("/etc/passwd"),
        _spec({"type": "tree", "src": "t", "dest": "data"}),
        ['"t/sub/bad"', '"/etc/passwd"', "absolute"],
    ),
    "dotdot-dest": (
        _files("a"),
        _spec({"type": "file", "src": "a", "dest": "x/../../etc/a"}),
        ["entries[0]", '"x/../../etc/a"', '".."'],
    ),
    "absolute-dest": (
        _files("a"),
        _spec({"type": "file", "src": "a", "dest": "/usr/bin/a"}),
        ["entries[0]", '"/usr/bin/a"'],
    ),
    "empty-dest": (
        _files("a"),
        _spec({"type": "dir", "dest": ""}),
        ["entries[0]", "dest"],
    ),
    "duplicate-dest": (
        _files("one.txt", "two.txt"),
        _spec(
            {"type": "file", "src": "one.txt", "dest": "etc/conf"},
            {"type": "file", "src": "two.txt", "dest": "./etc//conf"},
        ),
        ['"etc/conf"', '"one.txt"', '"two.txt"', "entries[0]", "entries[1]"],
    ),
    "duplicate-explicit-dirs": (
        _files(),
        _spec({"type": "dir", "dest": "etc"}, {"type": "dir", "dest": "etc/"}),
        ['"etc"', "entries[0]", "entries[1]"],
    ),
    "file-where-dir-needed": (
        _files("one.txt", "two.txt"),
        _spec(
            {"type": "file", "src": "one.txt", "dest": "etc"},
            {"type": "file", "src": "two.txt", "dest": "etc/conf"},
        ),
        ['"etc"', '"one.txt"', '"two.txt"', "directory"],
    ),
    "dir-needed-then-file": (
        _files("one.txt", "two.txt"),
        _spec(
            {"type": "file", "src": "two.txt", "dest": "etc/conf"},
            {"type": "symlink", "dest": "etc", "target": "elsewhere"},
        ),
        ['"etc"', '"two.txt"', "entries[1]", "directory"],
    ),
    "tree-file-vs-file": (
        _files("t/conf", "other"),
        _spec(
            {"type": "tree", "src": "t", "dest": "etc"},
            {"type": "file", "src": "other", "dest": "etc/conf"},
        ),
        ['"etc/conf"', '"t/conf"', '"other"'],
    ),
    "missing-src": (
        _files(),
        _spec({"type": "file", "src": "nope.txt", "dest": "a"}),
        ['"nope.txt"'],
    ),
    "missing-level": (
        _files(),
        {"compression": "gzip", "mtime": 0, "entries": []},
        ['"level"'],
    ),
    "unknown-field": (
        _files(),
        {"compression": "none", "mtime": 0, "entries": [], "levle": 3},
        ['"levle"'],
    ),
    "bad-compression": (
        _files(),
        {"compression": "zstd", "level": 1, "mtime": 0, "entries": []},
        ['"zstd"'],
    ),
}


@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_errors(layertool, tmp_path, case):
    setup, spec, needles = ERROR_CASES[case]
    setup(tmp_path)
    proc = run_tool(layertool, tmp_path, spec)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.startswith("layertool: ")
    assert proc.stderr.endswith("\n") and proc.stderr.count("\n") == 1, proc.stderr
    for needle in needles:
        assert needle in proc.stderr, (needle, proc.stderr)
    assert not (tmp_path / "out" / "descriptor.json").exists()


@pytest.mark.parametrize(
    "args",
    [[], ["-spec", "spec.json"], ["-out", "out"], ["-bogus"], ["-spec", "s", "-out", "o", "extra"]],
)
def test_usage_errors(layertool, tmp_path, args):
    proc = run_tool(layertool, tmp_path, args=args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("layertool: ") and proc.stderr.count("\n") == 1


# --------------------------------------------------------------------------
# (6) no compression, other levels
# --------------------------------------------------------------------------


def test_compression_none(layertool, tmp_path):
    make_inputs(tmp_path)
    desc, _, blob = build_ok(layertool, tmp_path, standard_spec(compression="none", level=None))
    assert desc["mediaType"] == TAR_MEDIA_TYPE
    assert desc["digest"] == desc["diffID"] == "sha256:" + hashlib.sha256(blob).hexdigest()
    assert desc["size"] == len(blob)
    # The uncompressed layer is exactly the tar inside the gzip golden.
    assert desc["diffID"] == GOLDEN_DIFF_ID
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:") as tf:
        assert [m.name for m in tf.getmembers()] == [e[0].rstrip("/") for e in EXPECTED_MEMBERS]


def test_gzip_level_changes_digest_not_diff_id(layertool, tmp_path):
    make_inputs(tmp_path)
    desc9, _, blob9 = build_ok(layertool, tmp_path, standard_spec(level=9))
    assert desc9["diffID"] == GOLDEN_DIFF_ID
    assert desc9["digest"] != GOLDEN_DIGEST
    assert hashlib.sha256(gzip.decompress(blob9)).hexdigest() == GOLDEN_DIFF_ID.split(":")[1]


def test_empty_layer(layertool, tmp_path):
    desc, _, blob = build_ok(layertool, tmp_path, _spec())
    tar_bytes = gzip.decompress(blob)
    assert tar_bytes == b"\0" * 1024
    assert desc["diffID"] == "sha256:" + hashlib.sha256(tar_bytes).hexdigest()


def test_tree_at_image_root_and_merging(layertool, tmp_path):
    (tmp_path / "rootfs" / "etc").mkdir(parents=True)
    (tmp_path / "rootfs" / "etc" / "os-release").write_text("ID=test\n")
    os.symlink("..", tmp_path / "rootfs" / "etc" / "up")  # resolves to the tree root: allowed
    (tmp_path / "more" / "etc").mkdir(parents=True)
    (tmp_path / "more" / "etc" / "hosts").write_text("127.0.0.1 localhost\n")
    spec = _spec(
        {"type": "tree", "src": "rootfs", "dest": "."},
        {"type": "tree", "src": "more/", "dest": "./"},  # two trees sharing "etc" merge
        {"type": "file", "src": "more/etc/hosts", "dest": "etc/hosts2", "mode": 0o600},
    )
    _, _, blob = build_ok(layertool, tmp_path, spec)
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob)), mode="r:") as tf:
        got = [(m.name, m.mode, m.linkname) for m in tf.getmembers()]
    assert got == [
        ("etc", 0o755, ""),
        ("etc/hosts", 0o644, ""),
        ("etc/hosts2", 0o600, ""),
        ("etc/os-release", 0o644, ""),
        ("etc/up", 0o777, ".."),
    ]


def test_mode_not_supported_on_tree(layertool, tmp_path):
    (tmp_path / "t").mkdir()
    proc = run_tool(layertool, tmp_path, _spec({"type": "tree", "src": "t", "dest": "x", "mode": 0o755}))
    assert proc.returncode == 1
    assert proc.stderr.startswith("layertool: ") and '"mode"' in proc.stderr and "entries[0]" in proc.stderr
