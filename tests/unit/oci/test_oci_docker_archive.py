import dataclasses
import io
import json
import shutil
import subprocess
import tarfile

import pytest

from kocache_plugin.oci.digest import blob_path, sha256_digest
from kocache_plugin.oci.docker_archive import InvalidDockerArchive, docker_archive_members
from kocache_plugin.oci.layout import layout_files, ref_name_annotation, resolve_manifest
from kocache_plugin.oci.platform import Platform


def test_members(make_image) -> None:
    img = make_image()
    members = docker_archive_members(
        img.config, [(img.layer.digest, img.diff_id)], ["example.com/app:v1"]
    )
    config_path = blob_path(sha256_digest(img.config))
    assert set(members) == {"manifest.json", config_path}
    assert members[config_path] == img.config
    assert json.loads(members["manifest.json"]) == [
        {
            "Config": config_path,
            "RepoTags": ["example.com/app:v1"],
            "Layers": [blob_path(img.layer.digest)],
        }
    ]


def test_members_golden() -> None:
    config = (
        b'{"architecture":"amd64","os":"linux","rootfs":{"diff_ids":["sha256:'
        + b"1" * 64
        + b'"],"type":"layers"}}'
    )
    members = docker_archive_members(
        config, [("sha256:" + "2" * 64, "sha256:" + "1" * 64)], ["app:latest"]
    )
    assert members["manifest.json"] == (
        b'[{"Config":"blobs/sha256/' + sha256_digest(config)[7:].encode() + b'",'
        b'"Layers":["blobs/sha256/' + b"2" * 64 + b'"],"RepoTags":["app:latest"]}]'
    )
    assert sha256_digest(members["manifest.json"]) == (
        "sha256:f1223dd9151db427cb7982b75e5080dc8371205bc05c499bc3f5884aafafd12d"
    )


def test_rejects_diff_id_mismatch(make_image) -> None:
    img = make_image()
    with pytest.raises(InvalidDockerArchive, match="do not match the config's rootfs.diff_ids"):
        docker_archive_members(img.config, [(img.layer.digest, "sha256:" + "0" * 64)], ["app:v1"])
    with pytest.raises(InvalidDockerArchive, match="do not match"):
        docker_archive_members(img.config, [], ["app:v1"])


@pytest.mark.parametrize(
    "tag", ["app", "localhost:5000/app", "app:", "app@sha256:" + "a" * 64, "app:v 1"]
)
def test_rejects_bad_repo_tags(make_image, tag: str) -> None:
    img = make_image()
    with pytest.raises(
        InvalidDockerArchive, match=f"invalid repo tag {tag!r}: docker load needs 'name:tag'"
    ):
        docker_archive_members(img.config, [(img.layer.digest, img.diff_id)], [tag])


def test_rejects_bad_config() -> None:
    with pytest.raises(InvalidDockerArchive, match="image config is not valid JSON"):
        docker_archive_members(b"nope", [], ["app:v1"])


@pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo not installed")
def test_skopeo_reads_archive_that_is_also_a_layout(tmp_path, make_image) -> None:
    img = make_image("linux/arm64")
    files = layout_files(
        img.blobs, [dataclasses.replace(img.manifest, annotations=(ref_name_annotation("v1"),))]
    )
    files.update(
        docker_archive_members(
            img.config, [(img.layer.digest, img.diff_id)], ["example.com/app:v1"]
        )
    )
    archive = tmp_path / "image.tar"
    with tarfile.open(archive, "w") as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

    def skopeo(*args: str) -> str:
        result = subprocess.run(["skopeo", *args], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        return result.stdout

    info = json.loads(skopeo("inspect", f"docker-archive:{archive}:example.com/app:v1"))
    assert info["Name"] == "example.com/app"
    assert info["Architecture"] == "arm64"
    # docker-archive layers are addressed by their uncompressed digest.
    assert info["Layers"] == [img.diff_id]
    skopeo("copy", f"docker-archive:{archive}:example.com/app:v1", f"oci:{tmp_path / 'copy'}:v1")
    copied = resolve_manifest(tmp_path / "copy", "v1", Platform.parse("linux/arm64"))
    config = json.loads(
        (
            tmp_path / "copy" / blob_path(_config_digest(tmp_path / "copy", copied.digest))
        ).read_bytes()
    )
    assert config["rootfs"]["diff_ids"] == [img.diff_id]


def _config_digest(layout, manifest_digest: str) -> str:
    return json.loads((layout / blob_path(manifest_digest)).read_bytes())["config"]["digest"]
