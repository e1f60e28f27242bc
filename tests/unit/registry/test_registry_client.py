"""RegistryClient against a real docker-registry on loopback, cross-checked with skopeo."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List

import pytest

from kocache_plugin.oci.digest import sha256_digest, sha256_file
from kocache_plugin.oci.layout import read_layout
from kocache_plugin.oci.media_types import OCI_INDEX, OCI_MANIFEST
from kocache_plugin.oci.platform import Platform
from kocache_plugin.oci.registry import (
    ANONYMOUS,
    MOUNTED,
    PRESENT,
    UPLOADED,
    Credentials,
    DigestMismatch,
    NotFound,
    PlatformNotFound,
    RegistryClient,
    RetryPolicy,
    static_provider,
)
from tests.support.images import index_for, make_image, push_image, random_blob, write_blob

FAST = RetryPolicy(initial_backoff=0.01, max_backoff=0.05, total_timeout=20, read_timeout=10)


def client_for(host: str, **kwargs) -> RegistryClient:
    kwargs.setdefault("credentials_provider", static_provider({}))
    kwargs.setdefault("retry_policy", FAST)
    return RegistryClient(host, **kwargs)


def skopeo(*args: str) -> subprocess.CompletedProcess:
    if shutil.which("skopeo") is None:
        pytest.fail("skopeo is not installed (apt-get install skopeo)")
    return subprocess.run(
        ["skopeo", "--insecure-policy", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60
    )


def test_push_then_skopeo_sees_the_same_digest(registry, unique_repo, tmp_path):
    repo = unique_repo("push")
    image = make_image(tmp_path / "img")
    with client_for(registry.host) as client:
        digest = push_image(client, repo, "v1", image)
        assert digest == image.manifest_desc.digest == sha256_digest(image.manifest)
        data, media_type, got_digest = client.get_manifest(repo, "v1")
        assert (data, media_type, got_digest) == (image.manifest, OCI_MANIFEST, digest)  # exact bytes
        assert client.get_manifest(repo, digest)[0] == image.manifest
        head = client.head_manifest(repo, "v1")
        assert (head.digest, head.size, head.media_type) == (digest, len(image.manifest), OCI_MANIFEST)
        assert client.counters.blobs_uploaded == 2
        assert client.counters.blob_bytes_uploaded == image.layer.size + image.config_desc.size

    inspect = skopeo("inspect", "--tls-verify=false", f"docker://{registry.host}/{repo}:v1")
    assert inspect.returncode == 0, inspect.stderr
    info = json.loads(inspect.stdout)
    assert info["Digest"] == digest
    assert (info["Os"], info["Architecture"]) == ("linux", "amd64")

    layout = tmp_path / "layout"
    copy = skopeo("copy", "--src-tls-verify=false", f"docker://{registry.host}/{repo}:v1", f"oci:{layout}:v1")
    assert copy.returncode == 0, copy.stderr
    [entry] = read_layout(layout)["manifests"]
    assert entry["digest"] == digest
    assert (layout / "blobs" / "sha256" / image.layer.digest.split(":")[1]).read_bytes() == image.layer_path.read_bytes()


def test_head_first_second_push_uploads_nothing(registry, fault_proxy, unique_repo, tmp_path):
    repo = unique_repo("headfirst")
    image = make_image(tmp_path / "img", content=b"head first\n")
    with client_for(fault_proxy.host) as first:
        push_image(first, repo, "v1", image)
    sent_first = fault_proxy.upload_bytes()
    assert sent_first == image.layer.size + image.config_desc.size

    with client_for(fault_proxy.host) as second:
        push_image(second, repo, "v2", image)
        assert second.counters.blobs_skipped == 2
        assert second.counters.blob_bytes_uploaded == 0
    assert fault_proxy.upload_bytes() == sent_first  # not a single blob byte crossed the wire
    assert fault_proxy.count("POST", r"/blobs/uploads/") == 2  # only the first push opened uploads
    assert registry.request_count("POST", f"/v2/{repo}/blobs/uploads/") == 2  # as the registry saw it


def test_cross_repository_mount(fault_proxy, unique_repo, tmp_path):
    source, target = unique_repo("mount-src"), unique_repo("mount-dst")
    image = make_image(tmp_path / "img", content=b"mount me\n")
    with client_for(fault_proxy.host) as client:
        push_image(client, source, "v1", image)
        before = fault_proxy.upload_bytes()
        assert not client.blob_exists(target, image.layer.digest)
        assert client.mount_blob(target, image.layer.digest, source) is True
        assert client.blob_exists(target, image.layer.digest)
        # upload_blob tries the mount sources after its HEAD.
        config_path = write_blob(tmp_path, image.config)
        outcome = client.upload_blob(
            target, image.config_desc.digest, image.config_desc.size, config_path, mount_from=[source]
        )
        assert outcome == MOUNTED
        assert client.upload_blob(target, image.layer.digest, image.layer.size, image.layer_path) == PRESENT
        assert client.counters.mounts == 2
        assert fault_proxy.upload_bytes() == before
        # A blob the source does not have is not mounted (and the opened session is cancelled).
        unknown = write_blob(tmp_path, b"not anywhere")
        assert client.mount_blob(target, sha256_file(unknown)[0], source) is False
        assert fault_proxy.count("DELETE", r"/blobs/uploads/") == 1
        client.put_manifest(target, "v1", image.manifest, OCI_MANIFEST)


@pytest.mark.parametrize("relative_urls", [False, True], ids=["absolute-location", "relative-location"])
def test_chunked_upload(registry_factory, fault_proxy_factory, tmp_path, relative_urls):
    reg = registry_factory(relative_urls=relative_urls)
    proxy = fault_proxy_factory(reg.host)
    chunk = 64 * 1024
    blob = random_blob(tmp_path, 3 * chunk + 123, seed=7)
    digest, size = sha256_file(blob)
    with client_for(proxy.host, chunk_size=chunk, monolithic_threshold=chunk) as client:
        assert client.upload_blob("big/blob", digest, size, blob) == UPLOADED
        assert proxy.count("PATCH", r"/blobs/uploads/") == 4
        assert proxy.count("PUT", r"/blobs/uploads/.*digest=") == 1
        assert proxy.upload_bytes() == size
        out = tmp_path / "out.bin"
        assert client.get_blob("big/blob", digest, out, size=size) == size
        assert out.read_bytes() == blob.read_bytes()
        assert client.counters.blob_bytes_downloaded == size
    # Small blobs go in one streaming PUT.
    small = write_blob(tmp_path, b"x" * 1000)
    with client_for(proxy.host, chunk_size=chunk, monolithic_threshold=chunk) as client:
        client.upload_blob("big/blob", *sha256_file(small), small)
    assert proxy.count("PATCH") == 4


def test_not_found(registry, unique_repo, tmp_path):
    repo = unique_repo("missing")
    missing = "sha256:" + "0" * 64
    with client_for(registry.host) as client:
        with pytest.raises(NotFound) as info:
            client.get_manifest(repo, "nope")
        assert f"{registry.host}/{repo}:nope" in str(info.value)
        assert client.head_manifest(repo, "nope") is None
        assert client.blob_exists(repo, missing) is False
        with pytest.raises(NotFound, match=missing):
            client.get_blob(repo, missing, tmp_path / "x")
        assert not (tmp_path / "x").exists()
        assert list(tmp_path.iterdir()) == []  # no temp files left behind


def test_get_blob_bytes_and_local_digest_checks(registry, unique_repo, tmp_path):
    repo = unique_repo("bytes")
    image = make_image(tmp_path / "img", content=b"config please\n")
    with client_for(registry.host) as client:
        push_image(client, repo, "v1", image)
        assert client.get_blob_bytes(repo, image.config_desc.digest) == image.config
        with pytest.raises(DigestMismatch):
            client.put_manifest(repo, "sha256:" + "1" * 64, image.manifest, OCI_MANIFEST)
        wrong = write_blob(tmp_path, b"these bytes do not match")
        with pytest.raises(DigestMismatch, match="still match its digest"):
            client.upload_blob(repo, "sha256:" + "2" * 64, wrong.stat().st_size, wrong)
        with pytest.raises(ValueError, match="declared with"):
            client.upload_blob(repo, image.layer.digest, image.layer.size + 1, image.layer_path)


def test_resolve_index_and_platforms(registry, unique_repo, tmp_path):
    repo = unique_repo("resolve")
    amd = make_image(tmp_path / "amd", platform="linux/amd64", content=b"amd\n")
    arm = make_image(tmp_path / "arm", platform="linux/arm64", content=b"arm\n")
    with client_for(registry.host) as client:
        push_image(client, repo, None, amd)
        push_image(client, repo, None, arm)
        index = index_for([amd, arm])
        index_digest = client.put_manifest(repo, "multi", index, OCI_INDEX)
        push_image(client, repo, "single", amd)

        root, manifest = client.resolve(f"{registry.host}/{repo}:multi", Platform.parse("linux/arm64"))
        assert (root.digest, root.media_type, root.size) == (index_digest, OCI_INDEX, len(index))
        assert manifest.digest == arm.manifest_desc.digest
        assert client.resolve(f"{registry.host}/{repo}@{index_digest}", Platform.parse("linux/amd64")).manifest.digest == amd.manifest_desc.digest

        with pytest.raises(PlatformNotFound) as info:
            client.resolve(f"{registry.host}/{repo}:multi", Platform.parse("linux/s390x"))
        assert "linux/s390x" in str(info.value) and "available: linux/amd64, linux/arm64" in str(info.value)
        with pytest.raises(PlatformNotFound, match="choose a platform"):
            client.resolve(f"{registry.host}/{repo}:multi")

        single = client.resolve(f"{registry.host}/{repo}:single", Platform.parse("linux/amd64"))
        assert single.root == single.manifest and single.manifest.digest == amd.manifest_desc.digest
        with pytest.raises(PlatformNotFound, match="single-platform image for linux/amd64, not linux/arm64"):
            client.resolve(f"{registry.host}/{repo}:single", Platform.parse("linux/arm64"))
        with pytest.raises(ValueError, match="not on registry"):
            client.resolve("ghcr.io/some/thing:v1")


class _StorageServer:
    """Stands in for the blob storage a registry redirects to; records request headers."""

    def __init__(self, blobs: Dict[str, bytes]) -> None:
        self.blobs = blobs
        self.headers: List[Dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                outer.headers.append(dict(self.headers.items()))
                data = outer.blobs.get(self.path.rsplit("/", 1)[-1], b"")
                self.send_response(200 if data else 404)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_redirected_blob_get_drops_authorization(registry_factory, fault_proxy_factory, tmp_path):
    password = "redirect-secret-pw"
    reg = registry_factory(auth="htpasswd", users={"alice": password})
    proxy = fault_proxy_factory(reg.host)
    image = make_image(tmp_path / "img", content=b"redirect\n")
    creds = static_provider({proxy.host: Credentials("alice", password)})
    storage = _StorageServer({image.layer.digest: image.layer_path.read_bytes(), image.config_desc.digest: b"tampered"})
    try:
        with client_for(proxy.host, credentials_provider=creds) as client:
            push_image(client, "redir/app", "v1", image)
            proxy.redirect_blob_gets(storage.url)
            out = tmp_path / "layer.tgz"
            client.get_blob("redir/app", image.layer.digest, out)
            assert out.read_bytes() == image.layer_path.read_bytes()
            with pytest.raises(DigestMismatch):
                client.get_blob_bytes("redir/app", image.config_desc.digest)
            with pytest.raises(DigestMismatch):
                client.get_blob("redir/app", image.config_desc.digest, tmp_path / "config.json")
            assert not (tmp_path / "config.json").exists()
    finally:
        storage.stop()
    assert len(storage.headers) == 3
    assert all("Authorization" not in h for h in storage.headers)
    redirected = [r for r in proxy.snapshot() if r.fault == "redirect"]
    assert redirected and all(r.headers.get("Authorization", "").startswith("Basic ") for r in redirected)


def test_anonymous_repr_and_counters(registry):
    client = client_for(registry.host, credentials_provider=lambda r: ANONYMOUS)
    assert repr(client) == f"RegistryClient({registry.host!r})"
    assert client.blob_exists("any/repo", "sha256:" + "3" * 64) is False
    snap = client.counters.snapshot()
    assert snap["requests"] == 2  # the /v2/ ping, then the HEAD
    with pytest.raises(AttributeError):
        client.counters.requests = 0
    client.close()
