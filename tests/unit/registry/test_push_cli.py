"""The push command line (oci/registry/push_cli.py): its output, its refs file and its one-line errors."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest

from kocache_plugin.oci.registry.push_cli import main, record_ref
from tests.support.images import make_image
from tests.support.registry import free_port
from tests.unit.registry.test_push import make_layout

TARGET = "app/cmd/hello:img"
FAST = ["--request-timeout=2", "--retry-timeout=3"]


def push(tmp_path: Path, layout: Path, registry: str, repository: str, *extra: str) -> int:
    return main(
        [f"--target={TARGET}", f"--layout={layout}", f"--registry={registry}", f"--repository={repository}",
         "--tag=latest", f"--refs-file={tmp_path / 'refs.txt'}", *FAST, *extra]
    )


def test_prints_the_reference_and_records_one_line_per_repository(registry, unique_repo, tmp_path, capsys):
    first, second = unique_repo("cli"), unique_repo("cli")
    top = make_layout(tmp_path / "one", [make_image(tmp_path / "i1", content=b"one\n")])
    other = make_layout(tmp_path / "two", [make_image(tmp_path / "i2", content=b"two\n")])

    assert push(tmp_path, tmp_path / "one", registry.host, first, f"--expect-digest={top.digest}") == 0
    out, err = capsys.readouterr()
    assert out == f"{registry.host}/{first}@{top.digest}\n"
    assert f"kocache-push: {TARGET} -> {registry.host}/{first}: blobs: 2 uploaded (" in err
    assert "manifests: 1 pushed, 0 already present; tags: latest pushed" in err

    assert push(tmp_path, tmp_path / "two", registry.host, second) == 0
    assert push(tmp_path, tmp_path / "two", registry.host, first) == 0  # `first` now holds the other image
    out, err = capsys.readouterr()
    assert out.splitlines()[-1] == f"{registry.host}/{first}@{other.digest}"
    assert (tmp_path / "refs.txt").read_text() == "".join(
        sorted(f"{registry.host}/{repo}@{other.digest}\n" for repo in (first, second))
    )


def test_record_ref_replaces_only_its_repository(tmp_path):
    refs = tmp_path / "dist" / "refs.txt"
    a1, a2, b = ("r:5000/a@sha256:" + "1" * 64), ("r:5000/a@sha256:" + "2" * 64), ("r:5000/a/b@sha256:" + "3" * 64)
    record_ref(refs, a1)
    record_ref(refs, b)
    record_ref(refs, a2)
    assert refs.read_text() == f"{b}\n{a2}\n"  # sorted


@pytest.mark.parametrize(
    "repository, expected",
    [
        ("Team/App", "invalid reference '{host}/Team/App': repository 'Team/App' must be lowercase"),
        ("team//app", "repository component '' is invalid"),
    ],
    ids=["uppercase", "empty-component"],
)
def test_an_invalid_repository_fails_before_any_request(registry, tmp_path, capsys, repository, expected):
    make_layout(tmp_path / "layout", [make_image(tmp_path / "img")])
    before = len(registry.access_log())
    assert push(tmp_path, tmp_path / "layout", registry.host, repository) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"kocache-push: {TARGET}: cannot publish to {registry.host}/{repository}: ")
    assert expected.format(host=registry.host) in err
    assert len(registry.access_log()) == before
    assert not (tmp_path / "refs.txt").exists()


def test_an_unreachable_registry_fails_in_bounded_time(tmp_path, capsys):
    make_layout(tmp_path / "layout", [make_image(tmp_path / "img")])
    host = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    assert push(tmp_path, tmp_path / "layout", host, "team/app") == 1
    assert time.monotonic() - started < 6
    err = capsys.readouterr().err
    assert f"kocache-push: {TARGET}: cannot publish to {host}/team/app: " in err
    assert f"on registry {host} failed after" in err and "connection refused" in err


def test_a_layout_that_is_not_what_was_built_is_refused(registry, unique_repo, tmp_path, capsys):
    make_layout(tmp_path / "layout", [make_image(tmp_path / "img")])
    assert push(tmp_path, tmp_path / "layout", registry.host, unique_repo("x"), "--expect-digest=sha256:" + "0" * 64) == 1
    assert "not the sha256:0000" in capsys.readouterr().err


def test_wrong_credentials_fail_naming_the_registry_and_never_print_the_secret(
    registry_factory, tmp_path, capsys, monkeypatch
):
    secret = "Wr0ng-Pa55word-never-print-me"
    reg = registry_factory(auth="htpasswd", users={"alice": "the-right-one"})
    config = tmp_path / "docker"
    config.mkdir()
    auth = base64.b64encode(f"alice:{secret}".encode()).decode()
    (config / "config.json").write_text(json.dumps({"auths": {reg.host: {"auth": auth}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    make_layout(tmp_path / "layout", [make_image(tmp_path / "img")])

    assert push(tmp_path, tmp_path / "layout", reg.host, "team/app") == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert f"kocache-push: {TARGET}: cannot publish to {reg.host}/team/app: " in err
    assert f"registry {reg.host} rejected the credentials (Basic auth)" in err and "user 'alice'" in err
    assert secret not in err and auth not in err
