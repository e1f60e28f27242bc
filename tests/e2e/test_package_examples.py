"""The main job, for real: `./pants package ::` on a copy of the example monorepo, checked by skopeo and umoci."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.oci_tools import skopeo_inspect, umoci_unpack
from tests.support.pants_repo import PantsRepo

pytestmark = pytest.mark.e2e

ELF_MACHINE = {"amd64": 62, "arm64": 183}


@pytest.fixture(scope="module")
def packaged(tmp_path_factory) -> PantsRepo:
    repo = PantsRepo.copy(tmp_path_factory.mktemp("checkout") / "repo")
    repo.run("package", "::")
    return repo


def _config(layout: Path, *extra: str) -> dict:
    return skopeo_inspect(f"oci:{layout}:latest", "--config", *extra)


def _elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", f"{path} is not an ELF binary"
    return int.from_bytes(header[18:20], "little")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_every_image_target_becomes_a_layout(packaged: PantsRepo) -> None:
    assert sorted(packaged.layouts()) == ["examples.cmd.hello/image", "examples.cmd.server/image", "examples.cmd.wordcount/image"]
    for layout in packaged.layouts().values():
        index = json.loads((layout / "index.json").read_text())
        assert [m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]] == ["latest"]
        inspected = skopeo_inspect(f"oci:{layout}:latest")
        assert inspected["Os"] == "linux"


def test_hello_image_runs(packaged: PantsRepo, tmp_path: Path) -> None:
    layout = packaged.layouts()["examples.cmd.hello/image"]
    config = _config(layout)["config"]
    assert config["Entrypoint"] == ["/ko-app/hello"]
    assert config["Cmd"] == ["kocache"]
    rootfs = umoci_unpack(layout, "latest", tmp_path / "bundle")
    binary = rootfs / "ko-app/hello"
    assert binary.stat().st_mode & 0o777 == 0o755
    out = subprocess.run([str(rootfs / config["Entrypoint"][0].lstrip("/")), *config["Cmd"]], capture_output=True, text=True, check=True)
    assert out.stdout == "Hello, kocache!\nversion 1.0.0\n"  # ldflags -X from the BUILD file


def test_server_image_answers_http(packaged: PantsRepo, tmp_path: Path) -> None:
    layout = packaged.layouts()["examples.cmd.server/image"]
    config = _config(layout)["config"]
    assert "KO_DATA_PATH=/var/run/ko" in config["Env"]
    assert "8080/tcp" in config["ExposedPorts"]
    rootfs = umoci_unpack(layout, "latest", tmp_path / "bundle")
    assert (rootfs / "ko-app/hello").is_file(), "the extra binary has its own layer"
    assert (rootfs / "var/run/ko/index.txt").read_text() == "Welcome to the example server.\n"
    port = _free_port()
    env = {"PORT": str(port), "KO_DATA_PATH": str(rootfs / "var/run/ko")}
    server = subprocess.Popen([str(rootfs / "ko-app/server")], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/?name=pants", timeout=2).read()
                break
            except OSError:
                assert server.poll() is None, server.stderr.read()
                assert time.monotonic() < deadline, "server did not answer in 20 s"
                time.sleep(0.1)
        assert body == b"Hello, pants!\n"
        static = urllib.request.urlopen(f"http://127.0.0.1:{port}/static/index.txt", timeout=5).read()
        assert static == b"Welcome to the example server.\n"
    finally:
        server.kill()
        server.wait()


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_multi_platform_image(packaged: PantsRepo, tmp_path: Path, arch: str) -> None:
    layout = packaged.layouts()["examples.cmd.wordcount/image"]
    index = skopeo_inspect(f"oci:{layout}:latest", raw=True)
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert sorted(m["platform"]["architecture"] for m in index["manifests"]) == ["amd64", "arm64"]
    config = _config(layout, "--override-arch", arch)
    assert config["architecture"] == arch
    assert config["config"]["Labels"] == {"org.opencontainers.image.title": "wordcount"}
    rootfs = umoci_unpack(layout, "latest", tmp_path / "bundle", arch=arch)
    binary = rootfs / "ko-app/wordcount"
    assert _elf_machine(binary) == ELF_MACHINE[arch]
    if arch == "amd64":
        out = subprocess.run([str(binary)], input="a b c\nd e\n", capture_output=True, text=True, check=True)
        assert out.stdout == "2 lines, 5 words\n"


def test_two_checkouts_give_the_same_digests(packaged: PantsRepo, tmp_path: Path) -> None:
    """Another directory and an empty local store: every step runs again, and the bytes are the same."""
    other = PantsRepo.copy(tmp_path / "elsewhere" / "deeper" / "repo", local_store=tmp_path / "store")
    result = other.run("package", "::", env={"TZ": "Asia/Kolkata"})
    assert len(result.executed("go build")) == 4, "an empty store must really build"
    for name, layout in packaged.layouts().items():
        assert (other.layouts()[name] / "index.json").read_bytes() == (layout / "index.json").read_bytes(), name
