"""Credentials from Docker's config.json: auths, credHelpers, credsStore, and secrets kept out of sight."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from kocache_plugin.oci.registry.docker_config import (
    ANONYMOUS,
    Credentials,
    DockerConfig,
    DockerConfigError,
    DockerConfigProvider,
    default_config_path,
    static_provider,
)

SECRET = "hunter2-very-secret"


def _write_config(directory: Path, doc: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.json"
    path.write_text(json.dumps(doc))
    return path


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


@pytest.fixture
def helper_env(tmp_path: Path) -> dict:
    """PATH with a fake `docker-credential-test` helper that knows one server and logs its stdin."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "helper.log"
    script = bin_dir / "docker-credential-test"
    script.write_text(
        f"""#!/bin/sh
[ "$1" = get ] || exit 2
read server
echo "$server" >> {log}
case "$server" in
  helper.example.com) echo '{{"ServerURL":"helper.example.com","Username":"helperuser","Secret":"{SECRET}"}}' ;;
  https://index.docker.io/v1/) echo '{{"ServerURL":"https://index.docker.io/v1/","Username":"hubuser","Secret":"{SECRET}"}}' ;;
  token.example.com) echo '{{"ServerURL":"token.example.com","Username":"<token>","Secret":"{SECRET}"}}' ;;
  broken.example.com) echo "oops {SECRET}" >&2; exit 3 ;;
  garbage.example.com) echo 'not json' ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
"""
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["HELPER_LOG"] = str(log)
    return env


def test_default_path(tmp_path: Path):
    assert default_config_path({"DOCKER_CONFIG": str(tmp_path)}) == tmp_path / "config.json"
    assert default_config_path({"HOME": "/home/u"}) == Path("/home/u/.docker/config.json")


def test_missing_config_is_anonymous(tmp_path: Path):
    provider = DockerConfigProvider(env={"DOCKER_CONFIG": str(tmp_path / "none")})
    assert provider("ghcr.io") is ANONYMOUS
    assert provider("ghcr.io").is_anonymous


def test_auths_forms(tmp_path: Path):
    path = _write_config(
        tmp_path,
        {
            "auths": {
                "https://index.docker.io/v1/": {"auth": _b64(f"hubuser:{SECRET}")},
                "ghcr.io": {"username": "gh", "password": SECRET},
                "https://registry.example.com:5000/v2/": {"auth": _b64(f"ex:{SECRET}:with:colons")},
                "id.example.com": {"identitytoken": SECRET},
            }
        },
    )
    config = DockerConfig.load(path)
    assert config.credentials("docker.io") == Credentials("hubuser", SECRET)
    assert config.credentials("registry-1.docker.io") == Credentials("hubuser", SECRET)
    assert config.credentials("index.docker.io") == Credentials("hubuser", SECRET)
    assert config.credentials("ghcr.io") == Credentials("gh", SECRET)
    assert config.credentials("registry.example.com:5000") == Credentials("ex", f"{SECRET}:with:colons")
    assert config.credentials("registry.example.com") is ANONYMOUS  # the port is part of the name
    assert config.credentials("id.example.com").identity_token == SECRET
    assert config.credentials("quay.io") is ANONYMOUS


def test_docker_config_env_var(tmp_path: Path):
    _write_config(tmp_path / "cfg", {"auths": {"ghcr.io": {"auth": _b64(f"u:{SECRET}")}}})
    provider = DockerConfigProvider(env={"DOCKER_CONFIG": str(tmp_path / "cfg")})
    assert provider("ghcr.io").username == "u"


def test_cred_helpers_and_store(tmp_path: Path, helper_env: dict):
    path = _write_config(
        tmp_path / "cfg",
        {
            "auths": {"fallback.example.com": {"auth": _b64(f"fb:{SECRET}")}, "helper-miss.example.com": {"auth": _b64("x:y")}},
            "credHelpers": {"helper.example.com": "test", "token.example.com": "test", "helper-miss.example.com": "test"},
            "credsStore": "test",
        },
    )
    config = DockerConfig.load(path, env=helper_env)
    assert config.credentials("helper.example.com") == Credentials("helperuser", SECRET)
    identity = config.credentials("token.example.com")
    assert identity.identity_token == SECRET and not identity.username
    # credHelpers: a miss is anonymous even if auths has an entry (as docker does).
    assert config.credentials("helper-miss.example.com") is ANONYMOUS
    # credsStore: the default helper; a miss falls back to auths.
    assert config.credentials("docker.io") == Credentials("hubuser", SECRET)
    assert config.credentials("fallback.example.com") == Credentials("fb", SECRET)
    assert config.credentials("nothing.example.com") is ANONYMOUS
    asked = Path(helper_env["HELPER_LOG"]).read_text().split()
    assert "https://index.docker.io/v1/" in asked and "helper.example.com" in asked


def test_helper_failures_do_not_leak(tmp_path: Path, helper_env: dict):
    path = _write_config(
        tmp_path / "cfg",
        {"credHelpers": {"broken.example.com": "test", "garbage.example.com": "test", "missing.example.com": "absent"}},
    )
    config = DockerConfig.load(path, env=helper_env)
    with pytest.raises(DockerConfigError) as info:
        config.credentials("broken.example.com")
    assert "docker-credential-test" in str(info.value) and "exit code 3" in str(info.value)
    assert SECRET not in str(info.value)
    with pytest.raises(DockerConfigError, match="invalid JSON"):
        config.credentials("garbage.example.com")
    with pytest.raises(DockerConfigError, match="docker-credential-absent.*not on PATH"):
        config.credentials("missing.example.com")


def test_bad_config_files(tmp_path: Path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"auths": {"x": {"auth": "' + SECRET + '"')
    with pytest.raises(DockerConfigError) as info:
        DockerConfig.load(bad)
    assert "not valid JSON" in str(info.value) and SECRET not in str(info.value)
    undecodable = _write_config(tmp_path / "u", {"auths": {"x.io": {"auth": _b64("no-colon-" + SECRET)}}})
    with pytest.raises(DockerConfigError) as info:
        DockerConfig.load(undecodable).credentials("x.io")
    assert SECRET not in str(info.value)
    wrong_type = _write_config(tmp_path / "w", {"auths": []})
    with pytest.raises(DockerConfigError, match="must be objects"):
        DockerConfig.load(wrong_type)


def test_repr_hides_secrets():
    creds = Credentials("alice", SECRET)
    assert SECRET not in repr(creds) and SECRET not in str(creds) and "alice" in repr(creds)
    assert SECRET not in repr(Credentials(identity_token=SECRET))
    assert repr(ANONYMOUS) == "Credentials(anonymous)"
    assert SECRET not in repr([creds, {"c": creds}])


def test_static_provider():
    provider = static_provider({"docker.io": Credentials("u", SECRET)})
    assert provider("registry-1.docker.io").username == "u"
    assert provider("ghcr.io") is ANONYMOUS
