"""Pushing an image from an OCI layout (oci/registry/push.py) to a real docker-registry on loopback.

The order of what reaches the registry is observed at a proxy in front of it; skopeo cross-checks the result.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Dict, Optional, Sequence

import pytest

from kocache_plugin.oci.descriptor import Descriptor
from kocache_plugin.oci.digest import blob_path
from kocache_plugin.oci.layout import LayoutError, layout_files, ref_name_annotation, write_layout
from kocache_plugin.oci.manifest import build_manifest
from kocache_plugin.oci.media_types import OCI_INDEX, OCI_MANIFEST
from kocache_plugin.oci.registry import DigestMismatch, RegistryClient, RegistryUnreachable, RetryPolicy, static_provider
from kocache_plugin.oci.registry.push import BASE_NAME_ANNOTATION, plan_push, push_image
from tests.support.images import TestImage, index_for, make_image, push_image as push_test_image

FAST = RetryPolicy(initial_backoff=0.01, max_backoff=0.05, total_timeout=20, read_timeout=10)


def client_for(host: str, policy: RetryPolicy = FAST) -> RegistryClient:
    return RegistryClient(host, credentials_provider=static_provider({}), retry_policy=policy)


def make_layout(
    root: Path,
    images: Sequence[TestImage],
    tags: Sequence[str] = ("latest",),
    manifest: Optional[bytes] = None,
    extra_layers: Sequence[TestImage] = (),
) -> Descriptor:
    """An OCI layout of `images` (an index over them when there are several, or `manifest` when given, with
    the layers of `extra_layers` too); returns the descriptor the tags name."""
    blobs: Dict[str, bytes] = {}
    for image in images:
        blobs[image.config_desc.digest] = image.config
        if manifest is None:
            blobs[image.manifest_desc.digest] = image.manifest
    for image in (*images, *extra_layers):
        layer = root / blob_path(image.layer.digest)
        layer.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(image.layer_path, layer)
    if manifest is not None:
        top = Descriptor.for_bytes(OCI_MANIFEST, manifest)
        blobs[top.digest] = manifest
    elif len(images) > 1:
        index = index_for(images)
        top = Descriptor.for_bytes(OCI_INDEX, index)
        blobs[top.digest] = index
    else:
        top = Descriptor(OCI_MANIFEST, images[0].manifest_desc.digest, images[0].manifest_desc.size)
    entries = [Descriptor(top.media_type, top.digest, top.size, annotations=(ref_name_annotation(t),)) for t in tags]
    layers = {i.layer.digest for i in (*images, *extra_layers)}
    write_layout(root, layout_files(blobs, entries, external_blobs=layers))
    return top


def two_platforms(tmp_path: Path, name: str) -> Sequence[TestImage]:
    return [
        make_image(tmp_path / f"{name}-amd", platform="linux/amd64", content=f"{name} amd64\n".encode()),
        make_image(tmp_path / f"{name}-arm", platform="linux/arm64", content=f"{name} arm64\n".encode()),
    ]


def skopeo_raw(ref: str) -> bytes:
    out = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{ref}"], capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode()
    return out.stdout


def test_plan_lists_children_before_parents_and_every_blob_once(tmp_path):
    amd, arm = two_platforms(tmp_path, "plan")
    top = make_layout(tmp_path / "layout", [amd, arm], tags=("latest", "v1"))
    plan = plan_push(tmp_path / "layout", ["latest", "v1"], "127.0.0.1:5000", "team/app")
    assert [d.descriptor.digest for d in plan.documents] == [amd.manifest_desc.digest, arm.manifest_desc.digest, top.digest]
    assert plan.root.descriptor == top and plan.root.data == index_for([amd, arm])
    assert {b.descriptor.digest for b in plan.blobs} == {amd.config_desc.digest, amd.layer.digest, arm.config_desc.digest, arm.layer.digest}
    assert all(b.mount_from == () for b in plan.blobs)

    with pytest.raises(LayoutError, match="no image tagged 'v2' \\(it has: latest, v1\\)"):
        plan_push(tmp_path / "layout", ["v2"], "127.0.0.1:5000", "team/app")
    (tmp_path / "layout" / blob_path(arm.layer.digest)).write_bytes(b"short")
    with pytest.raises(LayoutError, match=f"a layer of .* {arm.manifest_desc.digest} {arm.layer.digest} has 5 bytes"):
        plan_push(tmp_path / "layout", ["latest"], "127.0.0.1:5000", "team/app")
    (tmp_path / "layout" / blob_path(arm.layer.digest)).unlink()
    with pytest.raises(LayoutError, match=f"missing a layer of .* {arm.layer.digest}; the image is incomplete"):
        plan_push(tmp_path / "layout", ["latest"], "127.0.0.1:5000", "team/app")


def test_push_order_skopeo_digest_and_a_second_push_sends_nothing(registry, fault_proxy, unique_repo, tmp_path):
    repo = unique_repo("push")
    images = two_platforms(tmp_path, "order")
    top = make_layout(tmp_path / "layout", images, tags=("latest", "v1"))
    plan = plan_push(tmp_path / "layout", ["latest", "v1"], fault_proxy.host, repo)
    with client_for(fault_proxy.host) as client:
        report = push_image(client, repo, plan, ["latest", "v1"])
    assert report.reference == f"{fault_proxy.host}/{repo}@{top.digest}"
    assert report.blobs == {"uploaded": 4, "present": 0, "mounted": 0}
    assert (report.documents_pushed, report.tags_pushed) == (3, ["latest", "v1"])

    writes = [(r.method, r.path.split("?")[0]) for r in fault_proxy.snapshot() if r.method in ("POST", "PATCH", "PUT")]
    manifest_puts = [path.rsplit("/", 1)[1] for method, path in writes if "/manifests/" in path]
    first_manifest = next(i for i, (_, path) in enumerate(writes) if "/manifests/" in path)
    assert all("/blobs/" in path for _, path in writes[:first_manifest]), "every blob before any manifest"
    assert len([w for w in writes if "/blobs/" in w[1] and w[0] == "PUT"]) == 4
    assert manifest_puts == [images[0].manifest_desc.digest, images[1].manifest_desc.digest, top.digest, "latest", "v1"]

    assert skopeo_raw(f"{registry.host}/{repo}:v1") == index_for(images)  # the exact bytes: the same digest

    sent = fault_proxy.upload_bytes()
    with client_for(fault_proxy.host) as client:
        again = push_image(client, repo, plan, ["latest", "v1", "v2"])
        assert client.counters.blob_bytes_uploaded == 0
    assert again.already_complete and again.tags_unchanged == ["latest", "v1"] and again.tags_pushed == ["v2"]
    assert fault_proxy.upload_bytes() == sent
    assert fault_proxy.count("PUT", "/manifests/") == 6  # only the new tag


def test_failed_push_leaves_no_tag_and_a_rerun_finishes_without_resending(registry, fault_proxy, unique_repo, tmp_path):
    repo = unique_repo("resume")
    images = two_platforms(tmp_path, "resume")
    top = make_layout(tmp_path / "layout", images)
    plan = plan_push(tmp_path / "layout", ["latest"], fault_proxy.host, repo)
    fault_proxy.fail(500, times=1000, methods=["PUT"], path=f"/manifests/{top.digest}")
    policy = RetryPolicy(max_attempts=3, initial_backoff=0.01, max_backoff=0.02, total_timeout=5)
    with client_for(fault_proxy.host, policy) as client:
        with pytest.raises(RegistryUnreachable, match=f"put manifest {fault_proxy.host}/{repo}@{top.digest}.*HTTP 500"):
            push_image(client, repo, plan, ["latest"])
    with client_for(registry.host) as direct:
        assert direct.head_manifest(repo, "latest") is None, "no tag for an image whose index is missing"
        assert direct.head_manifest(repo, images[0].manifest_desc.digest) is not None

    fault_proxy.clear_faults()
    sent = fault_proxy.upload_bytes()
    with client_for(fault_proxy.host) as client:
        report = push_image(client, repo, plan, ["latest"])
    assert report.blobs == {"uploaded": 0, "present": 4, "mounted": 0}
    assert (report.documents_present, report.documents_pushed, report.tags_pushed) == (2, 1, ["latest"])
    assert fault_proxy.upload_bytes() == sent
    assert skopeo_raw(f"{registry.host}/{repo}:latest") == plan.root.data


def test_layers_are_not_rehashed_so_a_corrupt_one_is_refused_by_the_registry(registry, unique_repo, tmp_path):
    repo = unique_repo("corrupt")
    image = make_image(tmp_path / "img", content=b"to be corrupted\n")
    make_layout(tmp_path / "layout", [image])
    layer = tmp_path / "layout" / blob_path(image.layer.digest)
    layer.write_bytes(bytes(len(layer.read_bytes())))  # same size, other bytes
    plan = plan_push(tmp_path / "layout", ["latest"], registry.host, repo)  # no local hashing of layers
    with client_for(registry.host) as client:
        with pytest.raises(DigestMismatch, match="does the file still match its digest"):
            push_image(client, repo, plan, ["latest"])
        assert client.head_manifest(repo, "latest") is None


def test_base_layers_are_mounted_from_the_base_repository(fault_proxy, unique_repo, tmp_path):
    base_repo, repo = unique_repo("base"), unique_repo("app")
    base = make_image(tmp_path / "base", content=b"base layer\n")
    app = make_image(tmp_path / "app", content=b"app layer\n")
    with client_for(fault_proxy.host) as client:
        push_test_image(client, base_repo, "v1", base)
    # The app's manifest stacks its layer on the base's, annotated as assemble.py does.
    manifest = build_manifest(
        app.config_desc, [base.layer, app.layer], {BASE_NAME_ANNOTATION: f"{fault_proxy.host}/{base_repo}:v1"}
    )
    layout = tmp_path / "layout"
    desc = make_layout(layout, [app], manifest=manifest, extra_layers=[base])

    plan = plan_push(layout, ["latest"], fault_proxy.host, repo)
    assert plan.root.descriptor.digest == desc.digest
    mounts = {b.descriptor.digest: b.mount_from for b in plan.blobs}
    assert mounts == {app.config_desc.digest: (), base.layer.digest: (base_repo,), app.layer.digest: (base_repo,)}
    sent = fault_proxy.upload_bytes()
    with client_for(fault_proxy.host) as client:
        report = push_image(client, repo, plan, ["latest"])
    assert report.blobs == {"uploaded": 2, "present": 0, "mounted": 1}
    assert fault_proxy.upload_bytes() - sent == app.config_desc.size + app.layer.size
    mount_query = f"mount={base.layer.digest.replace(':', '%3A')}"
    assert fault_proxy.count("POST", f"/v2/{repo}/blobs/uploads/\\?.*{mount_query}") == 1


def test_a_base_on_another_registry_is_not_mounted(tmp_path):
    image = make_image(tmp_path / "img")
    manifest = build_manifest(image.config_desc, [image.layer], {BASE_NAME_ANNOTATION: "ghcr.io/other/base:v1"})
    make_layout(tmp_path / "layout", [image], manifest=manifest)
    plan = plan_push(tmp_path / "layout", ["latest"], "127.0.0.1:5000", "team/app")
    assert all(b.mount_from == () for b in plan.blobs)
    assert json.loads(plan.root.data)["annotations"][BASE_NAME_ANNOTATION] == "ghcr.io/other/base:v1"


def test_a_refused_mount_falls_back_to_an_upload(fault_proxy, unique_repo, tmp_path):
    base_repo, repo = unique_repo("base"), unique_repo("app")
    base = make_image(tmp_path / "base", content=b"base, not mountable\n")
    app = make_image(tmp_path / "app", content=b"app on an unmountable base\n")
    with client_for(fault_proxy.host) as client:
        push_test_image(client, base_repo, "v1", base)
    manifest = build_manifest(
        app.config_desc, [base.layer, app.layer], {BASE_NAME_ANNOTATION: f"{fault_proxy.host}/{base_repo}:v1"}
    )
    make_layout(tmp_path / "layout", [app], manifest=manifest, extra_layers=[base])
    # As a registry answers a token lacking pull on the base's repository.
    fault_proxy.fail(401, times=1, methods=["POST"], path="mount=", headers={"WWW-Authenticate": 'Basic realm="x"'})
    plan = plan_push(tmp_path / "layout", ["latest"], fault_proxy.host, repo)
    with client_for(fault_proxy.host) as client:
        report = push_image(client, repo, plan, ["latest"], jobs=1)
    assert [r.status for r in fault_proxy.snapshot() if r.fault] == [401]
    assert report.blobs == {"uploaded": 3, "present": 0, "mounted": 0}  # the base layer too, after the refusal
    assert report.tags_pushed == ["latest"]


@pytest.mark.parametrize("base", ["examples/base:image", "oci:bases/static:v1", "scratch"])
def test_bases_that_are_not_registry_references_are_not_mounted(tmp_path, base):
    image = make_image(tmp_path / "img")
    manifest = build_manifest(image.config_desc, [image.layer], {BASE_NAME_ANNOTATION: base})
    make_layout(tmp_path / "layout", [image], manifest=manifest)
    plan = plan_push(tmp_path / "layout", ["latest"], "docker.io", "examples/app")
    assert all(b.mount_from == () for b in plan.blobs)
