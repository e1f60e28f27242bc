"""`./pants publish ::` on a copy of the example monorepo, to a real registry behind a counting, fault-injecting
proxy: every image lands with the digest of its local layout (skopeo), pulls back and unpacks (umoci), a second
publish sends no blob byte, faults are retried, and a stalled registry fails in bounded time without a tag.

The module's runs share one pantsd (a warm run takes seconds); it is stopped at the end.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Dict, Iterator

import pytest

from kocache_plugin.oci.registry import RegistryClient, static_provider
from tests.support.fault_proxy import FaultProxy
from tests.support.oci_tools import skopeo_copy, skopeo_inspect, umoci_unpack
from tests.support.pants_repo import PantsRepo, PantsResult

pytestmark = pytest.mark.e2e

IMAGES = {"hello": "examples.cmd.hello/image", "server": "examples.cmd.server/image", "wordcount": "examples.cmd.wordcount/image"}



@pytest.fixture(scope="module")
def proxy(registry) -> Iterator[FaultProxy]:
    proxy = FaultProxy(registry.host, max_lifetime=1800).start()
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Iterator[PantsRepo]:
    root = tmp_path_factory.mktemp("publish")
    repo = PantsRepo.copy(root / "repo")
    (root / "docker").mkdir()  # an empty Docker config: the host's credentials play no part
    try:
        yield repo
    finally:
        repo.stop_pantsd()


def publish(repo: PantsRepo, prefix: str, *options: str, check: bool = True) -> PantsResult:
    env = {"DOCKER_CONFIG": str(repo.root.parent / "docker")}
    return repo.run(
        "publish", "examples::", pantsd=True, check=check, env=env,
        extra_options=(f"--kocache-default-repository={prefix}", *options),
    )


def refs(result: PantsResult) -> Dict[str, str]:
    """{image name: digest} from the `registry/repo@sha256:...` lines publish prints on stdout."""
    lines = [line for line in result.stdout.splitlines() if "@sha256:" in line]
    return {line.split("@")[0].rsplit("/", 1)[1]: line.split("@")[1] for line in lines}


def layout_digest(repo: PantsRepo, name: str) -> str:
    [entry] = json.loads((repo.root / "dist" / IMAGES[name] / "index.json").read_text())["manifests"]
    return entry["digest"]


@pytest.fixture(scope="module")
def published(repo: PantsRepo, proxy: FaultProxy) -> PantsResult:
    repo.run("package", "examples::", pantsd=True)  # the local layouts to compare with (and a warm pantsd)
    return publish(repo, f"{proxy.host}/team")


def test_every_image_lands_with_its_local_digest(repo: PantsRepo, proxy: FaultProxy, published: PantsResult) -> None:
    expected = {name: layout_digest(repo, name) for name in IMAGES}
    assert refs(published) == expected
    for name, digest in expected.items():
        ref = f"{proxy.host}/team/{name}"
        assert f"✓ {ref}:latest published." in published.stderr
        inspected = skopeo_inspect(f"docker://{ref}:latest", "--tls-verify=false")
        assert inspected["Digest"] == digest
        raw = subprocess.run(
            ["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{ref}@{digest}"], capture_output=True, check=True
        ).stdout
        assert raw == (repo.root / "dist" / IMAGES[name] / "blobs/sha256" / digest.split(":")[1]).read_bytes()
    recorded = (repo.root / "dist/image-refs.txt").read_text()
    assert recorded == "".join(sorted(f"{proxy.host}/team/{name}@{digest}\n" for name, digest in expected.items()))


def test_pushed_images_pull_back_and_unpack(proxy: FaultProxy, published: PantsResult, tmp_path: Path) -> None:
    hello = tmp_path / "hello"
    skopeo_copy(f"docker://{proxy.host}/team/hello:latest", f"oci:{hello}:latest", "--src-tls-verify=false")
    rootfs = umoci_unpack(hello, "latest", tmp_path / "hello-bundle")
    out = subprocess.run([str(rootfs / "ko-app/hello"), "kocache"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("Hello, kocache!")

    wordcount = tmp_path / "wordcount"
    skopeo_copy(f"docker://{proxy.host}/team/wordcount:latest", f"oci:{wordcount}:latest", "--src-tls-verify=false", "--all")
    for arch, machine in (("amd64", 62), ("arm64", 183)):
        binary = umoci_unpack(wordcount, "latest", tmp_path / f"wordcount-{arch}", arch=arch) / "ko-app/wordcount"
        assert int.from_bytes(binary.read_bytes()[18:20], "little") == machine


def test_blobs_then_manifests_then_tags(proxy: FaultProxy, published: PantsResult) -> None:
    writes = [r for r in proxy.snapshot() if r.method in ("POST", "PATCH", "PUT") and "/team/" in r.path]
    for name in IMAGES:
        mine = [r.path.split("?")[0] for r in writes if r.path.startswith(f"/v2/team/{name}/")]
        kinds = ["blob" if "/blobs/" in p else "tag" if p.endswith("/manifests/latest") else "manifest" for p in mine]
        assert kinds == sorted(kinds, key=["blob", "manifest", "tag"].index), (name, mine)
        assert kinds.count("tag") == 1
    # wordcount is multi-platform: both manifests by digest, then the index, then the tag.
    index = [p for p in (r.path for r in writes) if p.startswith("/v2/team/wordcount/manifests/")]
    assert len(index) == 4 and index[2].endswith(refs(published)["wordcount"])


def test_a_second_publish_sends_no_blob_bytes(repo: PantsRepo, proxy: FaultProxy, published: PantsResult) -> None:
    sent, uploads = proxy.upload_bytes(), proxy.count("POST", "/blobs/uploads/")
    again = publish(repo, f"{proxy.host}/team")
    assert refs(again) == refs(published)
    assert proxy.upload_bytes() == sent and proxy.count("POST", "/blobs/uploads/") == uploads
    assert again.stderr.count("image already in the registry, 0 blob bytes sent; tags: latest unchanged") == 3


def test_5xx_429_and_resets_are_retried(repo: PantsRepo, proxy: FaultProxy, published: PantsResult) -> None:
    proxy.fail(500, times=2, methods=["PUT"], path="/manifests/")
    proxy.fail(429, times=1, retry_after=1, methods=["POST"], path="/blobs/uploads/")
    proxy.reset_upload(times=1, after_bytes=100_000)
    try:
        result = publish(repo, f"{proxy.host}/faults")
    finally:
        proxy.clear_faults()
    injected = [r.fault or str(r.status) for r in proxy.snapshot() if "/faults/" in r.path and (r.fault or r.status in (429, 500))]
    assert sorted(injected) == ["reset", "status", "status", "status"]
    assert refs(result) == refs(published)  # the same images, complete, in other repositories
    assert "retries" in result.stderr
    for name, digest in refs(result).items():
        assert skopeo_inspect(f"docker://{proxy.host}/faults/{name}:latest", "--tls-verify=false")["Digest"] == digest


def test_a_stalled_registry_fails_in_bounded_time_without_a_tag_then_a_rerun_completes(
    repo: PantsRepo, proxy: FaultProxy, registry, published: PantsResult
) -> None:
    proxy.stall(60, times=1000, methods=["PUT"], path="/manifests/")
    started = time.monotonic()
    try:
        failed = publish(
            repo, f"{proxy.host}/stall", "--ko-publish-request-timeout=1", "--ko-publish-retry-timeout=3", check=False
        )
    finally:
        proxy.clear_faults()
    assert failed.returncode != 0
    assert time.monotonic() - started < 90
    for target, name in (("examples/cmd/hello:image", "hello"), ("examples/cmd/wordcount:image", "wordcount")):
        assert f"kocache-push: {target}: cannot publish to {proxy.host}/stall/{name}: " in failed.stderr
        assert f"on registry {proxy.host} failed after" in failed.stderr
        assert f"{proxy.host}/stall/{name}:latest failed." in failed.stderr
    assert "timed out waiting for the server" in failed.stderr
    with RegistryClient(registry.host, credentials_provider=static_provider({})) as direct:
        for name in IMAGES:
            assert direct.head_manifest(f"stall/{name}", "latest") is None, f"stall/{name} has a tag"

    sent = proxy.upload_bytes()
    rerun = publish(repo, f"{proxy.host}/stall")
    assert refs(rerun) == refs(published)
    assert proxy.upload_bytes() == sent, "the blobs that landed were not sent again"
    assert rerun.stderr.count("blobs: 0 uploaded (0 bytes sent)") == 3
