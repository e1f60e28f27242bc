"""`./pants publish` against registries that need something: Basic auth (htpasswd, bcrypt), token auth through a
docker-credential helper, TLS with a private CA; and the ways a publish must fail clearly, naming the target and
the registry: wrong or missing credentials, an untrusted certificate, an unreachable registry, a repository or tag
the distribution spec forbids, nowhere to publish, a target that does not build.

One small repo, one pantsd for the module (stopped at the end); registries are started per test.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
import time
from pathlib import Path
from typing import Dict, Iterator, Optional

import pytest

from tests.support.pants_repo import PantsRepo, PantsResult
from tests.support.registry import free_port

pytestmark = pytest.mark.e2e

TARGET = "app/cmd/hello:img"
ALICE_PW = "Alice-Pa55word-never-print-me"
REFS = ["latest", "v1"]



@pytest.fixture(scope="module")
def repo(tmp_path_factory, registry) -> Iterator[PantsRepo]:
    repo = PantsRepo.copy(tmp_path_factory.mktemp("publish-access") / "repo", with_examples=False)
    repo.write("app/go.mod", "module example.com/app\n\ngo 1.21\n")
    repo.write("app/cmd/hello/main.go", 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello") }\n')
    repo.write(
        "app/cmd/hello/BUILD",
        'ko_binary(name="bin")\n'
        'ko_image(name="img", binary=":bin", tags=["latest", "v1"])\n'
        f'ko_image(name="badrepo", binary=":bin", repository="{registry.host}/Team/Hello")\n'
        'ko_image(name="badtag", binary=":bin", tags=["v1+build"])\n',
    )
    repo.write("app/cmd/broken/main.go", "package main\n\nfunc main() { undefined() }\n")
    repo.write("app/cmd/broken/BUILD", 'ko_binary(name="bin")\nko_image(name="img", binary=":bin")\n')
    try:
        yield repo
    finally:
        repo.stop_pantsd()


def docker_config(directory: Path, doc: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(doc))
    return directory


def publish(
    repo: PantsRepo, prefix: Optional[str], config: Path, *options: str, targets=(TARGET,), env: Optional[Dict[str, str]] = None
) -> PantsResult:
    prefix_option = (f"--kocache-default-repository={prefix}",) if prefix else ()
    return repo.run(
        "publish", *targets, pantsd=True, check=False, env={"DOCKER_CONFIG": str(config), **(env or {})},
        extra_options=(*prefix_option, *options),
    )


def pushed_digest(result: PantsResult, name: str) -> str:
    assert result.returncode == 0, result.stderr[-4000:]
    [line] = [line for line in result.stdout.splitlines() if line.startswith(f"{name}@sha256:")]
    return line.split("@", 1)[1]


def skopeo_digest(ref: str, *extra: str) -> str:
    out = subprocess.run(["skopeo", "inspect", *extra, f"docker://{ref}"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["Digest"]


def assert_secret_nowhere(result: PantsResult, repo: PantsRepo, *secrets: str) -> None:
    """Not in the output, nor in any file of the checkout (dist/, Pants' logs in .pants.d/)."""
    for secret in secrets:
        assert secret not in result.stdout and secret not in result.stderr
    for path in repo.root.rglob("*"):
        if path.is_file() and not path.is_symlink() and "src" not in path.relative_to(repo.root).parts[:1]:
            data = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in data, f"{secret!r} found in {path}"


# -- naming ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "naming, name",
    [("preserve-import-path", "{prefix}/example.com/app/cmd/hello"), ("bare", "{prefix}")],
)
def test_ko_naming_modes(repo: PantsRepo, registry, tmp_path: Path, naming: str, name: str) -> None:
    prefix = f"{registry.host}/naming-{naming}"
    result = publish(repo, prefix, docker_config(tmp_path / "docker", {}), f"--ko-publish-naming={naming}")
    digest = pushed_digest(result, name.format(prefix=prefix))
    assert skopeo_digest(f"{name.format(prefix=prefix)}:v1", "--tls-verify=false") == digest


# -- authentication and TLS ------------------------------------------------------------------------


def test_basic_auth_from_docker_config(repo: PantsRepo, registry_factory, tmp_path: Path) -> None:
    reg = registry_factory(auth="htpasswd", users={"alice": ALICE_PW})
    auth = base64.b64encode(f"alice:{ALICE_PW}".encode()).decode()
    config = docker_config(tmp_path / "docker", {"auths": {reg.host: {"auth": auth}}})
    result = publish(repo, f"{reg.host}/basic", config)
    digest = pushed_digest(result, f"{reg.host}/basic/hello")
    for tag in REFS:
        assert skopeo_digest(f"{reg.host}/basic/hello:{tag}", "--tls-verify=false", f"--creds=alice:{ALICE_PW}") == digest
    assert_secret_nowhere(result, repo, ALICE_PW, auth)


def test_wrong_credentials_fail_naming_the_registry_and_never_show_the_secret(
    repo: PantsRepo, registry_factory, tmp_path: Path
) -> None:
    reg = registry_factory(auth="htpasswd", users={"alice": ALICE_PW})
    wrong = "Wr0ng-" + ALICE_PW
    auth = base64.b64encode(f"alice:{wrong}".encode()).decode()
    config = docker_config(tmp_path / "docker", {"auths": {reg.host: {"auth": auth}}})
    result = publish(repo, f"{reg.host}/basic", config)
    assert result.returncode != 0
    assert f"kocache-push: {TARGET}: cannot publish to {reg.host}/basic/hello: " in result.stderr
    assert f"registry {reg.host} rejected the credentials (Basic auth)" in result.stderr
    assert f"{reg.host}/basic/hello:latest failed." in result.stderr
    assert_secret_nowhere(result, repo, wrong, auth)


def test_token_auth_with_a_credential_helper(repo: PantsRepo, registry_factory, tmp_path: Path) -> None:
    reg = registry_factory(
        auth="token", users={"alice": ALICE_PW}, grants={None: ("pull",), "alice": ("pull", "push")}
    )
    helpers = tmp_path / "bin"
    helpers.mkdir()
    helper = helpers / "docker-credential-kotest"
    helper.write_text(f'#!/bin/sh\nread server\necho \'{{"ServerURL": "\'$server\'", "Username": "alice", "Secret": "{ALICE_PW}"}}\'\n')
    helper.chmod(helper.stat().st_mode | stat.S_IXUSR)
    config = docker_config(tmp_path / "docker", {"credHelpers": {reg.host: "kotest"}})
    result = publish(repo, f"{reg.host}/tok", config, env={"PATH": f"{helpers}:{os.environ['PATH']}"})
    digest = pushed_digest(result, f"{reg.host}/tok/hello")
    assert skopeo_digest(f"{reg.host}/tok/hello:v1", "--tls-verify=false", f"--creds=alice:{ALICE_PW}") == digest
    granted = [r.granted for r in reg.token_server.requests if r.user == "alice"]
    assert ("repository:tok/hello:pull,push",) in granted
    assert_secret_nowhere(result, repo, ALICE_PW)


def test_no_credentials_for_a_push_is_a_clear_401(repo: PantsRepo, registry_factory, tmp_path: Path) -> None:
    reg = registry_factory(auth="token", users={"alice": ALICE_PW}, grants={None: ("pull",)})
    result = publish(repo, f"{reg.host}/tok", docker_config(tmp_path / "docker", {}))
    assert result.returncode != 0
    assert f"kocache-push: {TARGET}: cannot publish to {reg.host}/tok/hello: " in result.stderr
    assert f"registry {reg.host} refused a token for scope repository:tok/hello:pull,push" in result.stderr
    assert f"no credentials were found for {reg.host}" in result.stderr


def test_tls_with_a_private_ca(repo: PantsRepo, registry_factory, test_pki, tmp_path: Path) -> None:
    reg = registry_factory(tls=True)
    config = docker_config(tmp_path / "docker", {})
    untrusted = publish(repo, f"{reg.host}/tls", config)
    assert untrusted.returncode != 0
    assert f"kocache-push: {TARGET}: cannot publish to {reg.host}/tls/hello: TLS certificate of {reg.host} is not trusted" in untrusted.stderr

    result = publish(repo, f"{reg.host}/tls", config, f"--kocache-registry-ca-certs={test_pki.ca_cert}")
    digest = pushed_digest(result, f"{reg.host}/tls/hello")
    cert_dir = tmp_path / "certs"
    cert_dir.mkdir()
    shutil.copyfile(test_pki.ca_cert, cert_dir / "ca.crt")
    assert skopeo_digest(f"{reg.host}/tls/hello:latest", f"--cert-dir={cert_dir}") == digest


# -- bad input ---------------------------------------------------------------------------------------


def test_an_invalid_repository_name_is_refused_before_anything_is_pushed(repo: PantsRepo, registry, tmp_path: Path) -> None:
    before = registry.request_count()
    result = publish(repo, None, docker_config(tmp_path / "docker", {}), targets=("app/cmd/hello:badrepo",))
    assert result.returncode != 0
    assert (
        f"app/cmd/hello:badrepo: the `repository` field `{registry.host}/Team/Hello` is not a valid repository for "
        f"registry {registry.host}: invalid reference '{registry.host}/Team/Hello': repository 'Team/Hello' must be lowercase"
    ) in result.stderr
    assert registry.request_count() == before


def test_a_tag_with_illegal_characters_is_refused(repo: PantsRepo, registry, tmp_path: Path) -> None:
    result = publish(repo, f"{registry.host}/bad", docker_config(tmp_path / "docker", {}), targets=("app/cmd/hello:badtag",))
    assert result.returncode != 0
    assert f"app/cmd/hello:badtag: the tag 'v1+build' cannot be pushed to {registry.host}/bad/hello: " in result.stderr
    assert "tag 'v1+build' is invalid (1-128 characters of [A-Za-z0-9_.-]" in result.stderr


def test_nowhere_to_publish(repo: PantsRepo, tmp_path: Path) -> None:
    result = publish(repo, None, docker_config(tmp_path / "docker", {}))
    assert result.returncode != 0
    assert f"{TARGET}: nowhere to publish: set `repository` on the target, or [kocache].default_repository" in result.stderr


def test_an_unreachable_registry_fails_in_bounded_time(repo: PantsRepo, tmp_path: Path) -> None:
    host = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = publish(repo, f"{host}/team", docker_config(tmp_path / "docker", {}), "--ko-publish-retry-timeout=3")
    assert result.returncode != 0
    assert time.monotonic() - started < 60
    assert f"kocache-push: {TARGET}: cannot publish to {host}/team/hello: " in result.stderr
    assert f"on registry {host} failed after" in result.stderr and "connection refused" in result.stderr


def test_a_target_that_does_not_build_stops_the_publish_before_any_push(repo: PantsRepo, registry, tmp_path: Path) -> None:
    before = registry.request_count()
    result = publish(
        repo, f"{registry.host}/broken", docker_config(tmp_path / "docker", {}), targets=("app/cmd/broken:img", TARGET)
    )
    assert result.returncode != 0
    assert "app/cmd/broken:bin (linux/amd64): `go build` failed" in result.stderr
    assert "@sha256:" not in result.stdout
    assert registry.request_count() == before, "nothing was pushed, not even the image that built"
