import dataclasses
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from kocache_plugin.oci.descriptor import Descriptor
from kocache_plugin.oci.digest import blob_path, sha256_digest
from kocache_plugin.oci.image_index import build_index
from kocache_plugin.oci.layout import (
    LayoutError,
    layout_files,
    read_layout,
    ref_name_annotation,
    resolve_manifest,
    write_layout,
)
from kocache_plugin.oci.media_types import OCI_INDEX
from kocache_plugin.oci.platform import Platform

REF_NAME = "org.opencontainers.image.ref.name"


def tagged(desc: Descriptor, tag: str) -> Descriptor:
    return dataclasses.replace(desc, annotations=desc.annotations + (ref_name_annotation(tag),))


def multi_platform(make_image):
    """Blobs and the (untagged) index descriptor for a linux/amd64 + linux/arm64/v8 image."""
    amd64 = make_image("linux/amd64", b"amd64\n")
    arm64 = make_image("linux/arm64/v8", b"arm64\n")
    index = build_index(
        [
            dataclasses.replace(amd64.manifest, platform=Platform.parse("linux/amd64")),
            dataclasses.replace(arm64.manifest, platform=Platform.parse("linux/arm64/v8")),
        ]
    )
    blobs = {**amd64.blobs, **arm64.blobs, sha256_digest(index): index}
    return blobs, Descriptor.for_bytes(OCI_INDEX, index), amd64, arm64


def test_ref_name_annotation() -> None:
    assert ref_name_annotation("v1.2.3") == (REF_NAME, "v1.2.3")
    for ok in ("latest", "example.com/app:v1", "a--b", "a+b@c"):
        assert ref_name_annotation(ok)[1] == ok


@pytest.mark.parametrize(
    "bad", ["", "-latest", "latest-", "a b", "a//b", "/a", "a/", "a!", "a---b"]
)
def test_ref_name_annotation_rejects(bad: str) -> None:
    with pytest.raises(LayoutError, match=f"invalid layout ref name {bad!r}"):
        ref_name_annotation(bad)


def test_layout_files_structure(make_image) -> None:
    img = make_image()
    files = layout_files(img.blobs, [tagged(img.manifest, "v1")])
    assert files["oci-layout"] == b'{"imageLayoutVersion":"1.0.0"}'
    assert set(files) == {"oci-layout", "index.json"} | {blob_path(d) for d in img.blobs}
    for digest, data in img.blobs.items():
        assert files[blob_path(digest)] == data
    index = json.loads(files["index.json"])
    assert index["schemaVersion"] == 2
    assert index["mediaType"] == OCI_INDEX
    assert index["manifests"] == [{**img.manifest.to_json(), "annotations": {REF_NAME: "v1"}}]


def test_layout_files_is_deterministic(make_image) -> None:
    one = layout_files(make_image().blobs, [tagged(make_image().manifest, "v1")])
    two = layout_files(
        dict(reversed(list(make_image().blobs.items()))), [tagged(make_image().manifest, "v1")]
    )
    assert one == two


def test_layout_files_missing_blob(make_image) -> None:
    img = make_image()
    blobs = {d: b for d, b in img.blobs.items() if d != img.layer.digest}
    expected = f"references {img.layer.media_type} blob {img.layer.digest}, which is not among"
    with pytest.raises(LayoutError, match=re.escape(expected)):
        layout_files(blobs, [tagged(img.manifest, "v1")])


def test_layout_files_external_blob(make_image) -> None:
    img = make_image()
    blobs = {d: b for d, b in img.blobs.items() if d != img.layer.digest}
    files = layout_files(blobs, [tagged(img.manifest, "v1")], external_blobs=[img.layer.digest])
    assert blob_path(img.layer.digest) not in files
    assert blob_path(img.manifest.digest) in files


def test_layout_files_missing_manifest_blob_in_index(make_image) -> None:
    blobs, index, amd64, _ = multi_platform(make_image)
    del blobs[amd64.manifest.digest]
    expected = f"{OCI_INDEX} {index.digest} references {amd64.manifest.media_type} blob {amd64.manifest.digest}"
    with pytest.raises(LayoutError, match=re.escape(expected)):
        layout_files(blobs, [tagged(index, "v1")])


def test_layout_files_wrong_content(make_image) -> None:
    img = make_image()
    blobs = {**img.blobs, img.layer.digest: b"tampered"}
    with pytest.raises(
        LayoutError,
        match=f"blob keyed {img.layer.digest} has content with digest {sha256_digest(b'tampered')}",
    ):
        layout_files(blobs, [tagged(img.manifest, "v1")])


def test_layout_files_wrong_size(make_image) -> None:
    img = make_image()
    with pytest.raises(LayoutError, match=f"declares size 1 for {img.manifest.digest}"):
        layout_files(img.blobs, [tagged(dataclasses.replace(img.manifest, size=1), "v1")])


def test_layout_files_non_sha256(make_image) -> None:
    img = make_image()
    with pytest.raises(LayoutError, match="only sha256 blobs are supported"):
        layout_files({**img.blobs, "sha512:" + "a" * 128: b""}, [tagged(img.manifest, "v1")])


def test_layout_files_requires_ref_names(make_image) -> None:
    img = make_image()
    with pytest.raises(LayoutError, match="has no org.opencontainers.image.ref.name annotation"):
        layout_files(img.blobs, [img.manifest])
    other = make_image(content=b"other")
    with pytest.raises(LayoutError, match="ref name 'v1' is used by both"):
        layout_files(
            {**img.blobs, **other.blobs}, [tagged(img.manifest, "v1"), tagged(other.manifest, "v1")]
        )
    with pytest.raises(LayoutError, match="invalid layout ref name"):
        layout_files(
            img.blobs, [dataclasses.replace(img.manifest, annotations=((REF_NAME, "bad name"),))]
        )


def test_write_read_resolve_round_trip(tmp_path, make_image) -> None:
    img = make_image()
    other = make_image("linux/arm/v7", b"other\n")
    files = layout_files(
        {**img.blobs, **other.blobs}, [tagged(img.manifest, "v1"), tagged(other.manifest, "arm")]
    )
    write_layout(tmp_path, files)
    for rel, data in files.items():
        assert (tmp_path / rel).read_bytes() == data
    index = read_layout(tmp_path)
    assert [m["annotations"][REF_NAME] for m in index["manifests"]] == ["v1", "arm"]
    assert resolve_manifest(tmp_path, "v1") == tagged(img.manifest, "v1")
    assert resolve_manifest(str(tmp_path), "v1", Platform.parse("linux/amd64")) == tagged(
        img.manifest, "v1"
    )
    # No platform in the descriptor: the image config decides.
    assert (
        resolve_manifest(tmp_path, "arm", Platform.parse("linux/arm/v7")).digest
        == other.manifest.digest
    )
    with pytest.raises(
        LayoutError, match="'arm' in .* has no manifest for linux/arm/v6; available: linux/arm/v7"
    ):
        resolve_manifest(tmp_path, "arm", Platform.parse("linux/arm/v6"))
    with pytest.raises(LayoutError, match="no image named 'v2' in .*; available: arm, v1"):
        resolve_manifest(tmp_path, "v2")


def test_resolve_through_index(tmp_path, make_image) -> None:
    blobs, index, amd64, arm64 = multi_platform(make_image)
    write_layout(tmp_path, layout_files(blobs, [tagged(index, "multi")]))
    assert (
        resolve_manifest(tmp_path, "multi", Platform.parse("linux/amd64")).digest
        == amd64.manifest.digest
    )
    # arm64 and arm64/v8 are the same platform.
    found = resolve_manifest(tmp_path, "multi", Platform.parse("linux/arm64"))
    assert found.digest == arm64.manifest.digest
    assert found.platform == Platform.parse("linux/arm64/v8")
    with pytest.raises(
        LayoutError, match=r"has 2 image manifests \(linux/amd64, linux/arm64/v8\); pass a platform"
    ):
        resolve_manifest(tmp_path, "multi")
    with pytest.raises(
        LayoutError, match="no manifest for linux/s390x; available: linux/amd64, linux/arm64/v8"
    ):
        resolve_manifest(tmp_path, "multi", Platform.parse("linux/s390x"))


def test_resolve_detects_corrupt_blob(tmp_path, make_image) -> None:
    blobs, index, _, _ = multi_platform(make_image)
    write_layout(tmp_path, layout_files(blobs, [tagged(index, "multi")]))
    (tmp_path / blob_path(index.digest)).write_bytes(b"{}")
    with pytest.raises(LayoutError, match="does not match its descriptor"):
        resolve_manifest(tmp_path, "multi", Platform.parse("linux/amd64"))
    (tmp_path / blob_path(index.digest)).unlink()
    with pytest.raises(LayoutError, match=f"is missing blob {index.digest}"):
        resolve_manifest(tmp_path, "multi", Platform.parse("linux/amd64"))


def test_read_layout_errors(tmp_path) -> None:
    with pytest.raises(LayoutError, match="is not an OCI image layout: it has no oci-layout file"):
        read_layout(tmp_path)
    (tmp_path / "oci-layout").write_bytes(b'{"imageLayoutVersion":"2.0.0"}')
    with pytest.raises(LayoutError, match="unsupported imageLayoutVersion '2.0.0'"):
        read_layout(tmp_path)
    (tmp_path / "oci-layout").write_bytes(b'{"imageLayoutVersion":"1.0.0"}')
    with pytest.raises(LayoutError, match="it has no index.json"):
        read_layout(tmp_path)
    (tmp_path / "index.json").write_bytes(b'{"schemaVersion":2}')
    with pytest.raises(LayoutError, match="index.json: image index 'manifests' must be a list"):
        read_layout(tmp_path)


@pytest.mark.parametrize("bad", ["/etc/passwd", "../outside", "blobs/../../outside", ""])
def test_write_layout_refuses_escaping_paths(tmp_path, bad: str) -> None:
    with pytest.raises(LayoutError, match="refusing to write"):
        write_layout(tmp_path / "layout", {bad: b"x"})
    assert not (tmp_path / "outside").exists()


def test_write_layout_writes_index_last(tmp_path, make_image, monkeypatch) -> None:
    img = make_image()
    written = []
    original = Path.write_bytes
    monkeypatch.setattr(
        Path, "write_bytes", lambda self, data: (written.append(self.name), original(self, data))[1]
    )
    write_layout(tmp_path, layout_files(img.blobs, [tagged(img.manifest, "v1")]))
    assert written[-2:] == ["oci-layout", "index.json"]
    assert len(written) == len(img.blobs) + 2


needs_skopeo = pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo not installed")
needs_umoci = pytest.mark.skipif(shutil.which("umoci") is None, reason="umoci not installed")


def run(*args: str) -> str:
    result = subprocess.run(args, capture_output=True, text=True)
    assert result.returncode == 0, f"{args} failed:\n{result.stderr}"
    return result.stdout


@needs_skopeo
def test_skopeo_reads_written_layout(tmp_path, make_image) -> None:
    img = make_image("linux/arm64")
    write_layout(tmp_path, layout_files(img.blobs, [tagged(img.manifest, "v1")]))
    info = json.loads(run("skopeo", "inspect", f"oci:{tmp_path}:v1"))
    assert info["Digest"] == img.manifest.digest
    assert (info["Os"], info["Architecture"]) == ("linux", "arm64")
    assert info["Layers"] == [img.layer.digest]
    assert info["Env"] == ["PATH=/usr/bin:/bin"]
    assert json.loads(run("skopeo", "inspect", "--config", f"oci:{tmp_path}:v1"))["rootfs"][
        "diff_ids"
    ] == [img.diff_id]


@needs_skopeo
def test_skopeo_picks_platform_from_written_index(tmp_path, make_image) -> None:
    blobs, index, amd64, arm64 = multi_platform(make_image)
    write_layout(tmp_path, layout_files(blobs, [tagged(index, "multi")]))
    for arch, expected in (("amd64", amd64), ("arm64", arm64)):
        info = json.loads(
            run(
                "skopeo",
                "--override-os",
                "linux",
                "--override-arch",
                arch,
                "inspect",
                f"oci:{tmp_path}:multi",
            )
        )
        # skopeo reports the index digest, so the platform's layers identify the chosen manifest.
        assert info["Digest"] == index.digest
        assert info["Architecture"] == arch
        assert info["Layers"] == [expected.layer.digest]
    # A full copy verifies every blob's digest and size.
    run("skopeo", "copy", "--all", f"oci:{tmp_path}:multi", f"oci:{tmp_path / 'copy'}:multi")
    assert (
        resolve_manifest(tmp_path / "copy", "multi", Platform.parse("linux/arm64")).digest
        == arm64.manifest.digest
    )


@needs_umoci
def test_umoci_unpacks_written_layout(tmp_path, make_image) -> None:
    img = make_image(content=b"hello from kocache\n")
    layout = tmp_path / "layout"
    write_layout(layout, layout_files(img.blobs, [tagged(img.manifest, "v1")]))
    bundle = tmp_path / "bundle"
    run("umoci", "unpack", "--rootless", "--image", f"{layout}:v1", str(bundle))
    assert (bundle / "rootfs" / "app" / "hello.txt").read_bytes() == b"hello from kocache\n"
    process = json.loads((bundle / "config.json").read_text())["process"]
    assert process["args"] == ["/app/hello.txt"]
    assert "PATH=/usr/bin:/bin" in process["env"]
