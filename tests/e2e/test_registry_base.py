"""A base image from a real registry on loopback: the base lock, caching by digest, and a base change
that re-links no binary and re-makes no binary layer."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from tests.support.base_layouts import write_base_layout
from tests.support.oci_tools import layout_manifest, skopeo_copy, umoci_unpack
from tests.support.pants_repo import PantsRepo

pytestmark = pytest.mark.e2e


def push_base(registry, tmp_path: Path, release: str) -> str:
    """Push a two-platform base as base/static:v1 with skopeo; returns the tag's (index) digest."""
    layout = tmp_path / f"base-{release.replace(' ', '-')}"
    write_base_layout(layout, ["linux/amd64", "linux/arm64"], release=release)
    skopeo_copy(f"oci:{layout}:latest", f"docker://{registry.host}/base/static:v1", "--all", "--dest-tls-verify=false")
    raw = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{registry.host}/base/static:v1"],
        capture_output=True, check=True,
    ).stdout
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def test_registry_base_lock_cache_and_change(registry_factory, tmp_path: Path) -> None:
    registry = registry_factory()
    v1 = push_base(registry, tmp_path, "base 1")
    repo = PantsRepo.copy(tmp_path / "repo", local_store=tmp_path / "store", with_examples=False)
    repo.write("app/go.mod", "module example.com/app\n\ngo 1.21\n")
    repo.write("app/main.go", 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("app") }\n')
    ref = f"{registry.host}/base/static:v1"
    repo.write("app/BUILD", f'ko_binary(name="bin")\nko_image(name="img", binary=":bin", base="{ref}", platforms=["linux/amd64", "linux/arm64"])\n')

    unlocked = repo.run("package", "::", check=False)
    assert unlocked.returncode != 0
    assert f"app:img: base `{ref}` is a tag that is not in the base lock (ko-bases.lock.json)" in unlocked.stderr

    repo.run("ko-lock-bases", "::")
    lock = json.loads((repo.root / "ko-bases.lock.json").read_text())
    assert lock["bases"][ref]["digest"] == v1
    assert sorted(lock["bases"][ref]["platforms"]) == ["linux/amd64", "linux/arm64"]

    first = repo.run("-ldebug", "package", "::")
    layout = repo.root / "dist/app/img"
    for arch in ("amd64", "arm64"):
        manifest = layout_manifest(layout, "latest", arch)
        assert manifest["annotations"]["org.opencontainers.image.base.name"] == ref
        rootfs = umoci_unpack(layout, "latest", tmp_path / f"bundle-{arch}", arch=arch)
        assert (rootfs / "etc/base-release").read_text() == f"base 1 linux/{arch}\n"
        assert (rootfs / "ko-app/app").is_file()
    assert len(first.executed("Fetch base layer")) == 2
    assert len(first.executed("go build")) == 2
    assert len(first.executed("Make the binary layer")) == 2, "positive control for the counts below"
    digest_v1 = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]

    # Metadata and layers are cached by digest: with the registry down, the same build still works.
    registry.stop()
    (repo.root / "dist").rename(tmp_path / "old-dist")
    again = repo.run("-ldebug", "package", "::")
    assert again.executed("Fetch base") == []
    assert json.loads((layout / "index.json").read_text())["manifests"][0]["digest"] == digest_v1

    # A new base: re-lock; manifests change, but no binary is rebuilt and no binary layer re-made.
    registry.start(same_port=True)
    v2 = push_base(registry, tmp_path, "base 2")
    assert v2 != v1
    repo.run("ko-lock-bases", "::")
    changed = repo.run("-ldebug", "package", "::")
    assert changed.executed("go build") == []
    assert changed.executed("Make the binary layer") == []
    assert len(changed.executed("Fetch base layer")) == 2
    assert json.loads((layout / "index.json").read_text())["manifests"][0]["digest"] != digest_v1
    rootfs = umoci_unpack(layout, "latest", tmp_path / "bundle-v2", arch="amd64")
    assert (rootfs / "etc/base-release").read_text() == "base 2 linux/amd64\n"


def test_unreachable_registry_without_cached_metadata(tmp_path: Path) -> None:
    repo = PantsRepo.copy(tmp_path / "repo", local_store=tmp_path / "store", with_examples=False)
    repo.write("app/go.mod", "module example.com/app\n\ngo 1.21\n")
    repo.write("app/main.go", "package main\n\nfunc main() {}\n")
    ref = "127.0.0.1:9/base/static@sha256:" + "a" * 64
    repo.write("app/BUILD", f'ko_binary(name="bin")\nko_image(name="img", binary=":bin", base="{ref}")\n')
    result = repo.run("package", "::", check=False)
    assert result.returncode != 0
    assert f"app:img: cannot read the base image {ref}" in result.stderr
    assert "127.0.0.1:9" in result.stderr
    assert not (repo.root / "dist").exists()
