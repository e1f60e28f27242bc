"""Output forms of `package` (OCI layout, OCI archive, docker-archive) and the SBOM beside them."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
from pants.core.goals.package import BuiltPackage
from pants.engine.addresses import Address
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.target import WrappedTarget, WrappedTargetRequest
from pants.testutil.rule_runner import QueryRule, RuleRunner

from kocache_plugin import register
from kocache_plugin.goals.package import KoImageFieldSet
from tests.rules.conftest import GO_MOD
from tests.support.oci_tools import skopeo_inspect

MAIN = 'package main\n\nfunc main() {}\n'


@pytest.fixture
def runner() -> RuleRunner:
    runner = RuleRunner(
        rules=[*register.rules(), QueryRule(BuiltPackage, [KoImageFieldSet])],
        target_types=register.target_types(),
    )
    runner.set_options([], env_inherit={"PATH"})
    runner.write_files({"app/go.mod": GO_MOD, "app/main.go": MAIN})
    return runner


def package(runner: RuleRunner, build: str) -> Path:
    runner.write_files({"app/BUILD": build})
    tgt = runner.request(WrappedTarget, [WrappedTargetRequest(Address("app", target_name="img"), "test")]).target
    built = runner.request(BuiltPackage, [KoImageFieldSet.create(tgt)])
    runner.write_digest(built.digest, path_prefix="dist")
    return Path(runner.build_root) / "dist"


def test_oci_archive(runner: RuleRunner) -> None:
    dist = package(runner, 'ko_binary(name="b")\nko_image(name="img", binary=":b", output="oci-archive", tags=["v1"])\n')
    archive = dist / "app/img.tar"
    inspected = skopeo_inspect(f"oci-archive:{archive}:v1")
    assert inspected["Architecture"] == "amd64"
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        assert "oci-layout" in names and "index.json" in names
        assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 for m in tar.getmembers())
    assert (dist / "app/img.spdx.json").is_file()


def test_docker_archive(runner: RuleRunner) -> None:
    dist = package(runner, 'ko_binary(name="b")\nko_image(name="img", binary=":b", output="docker-archive", repository="registry.example/team/app")\n')
    archive = dist / "app/img.docker.tar"
    inspected = skopeo_inspect(f"docker-archive:{archive}")
    assert inspected["Os"] == "linux"
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    assert manifest[0]["RepoTags"] == ["registry.example/team/app:latest"]
    assert len(manifest[0]["Layers"]) == 1


def test_docker_archive_needs_one_platform(runner: RuleRunner) -> None:
    with pytest.raises(ExecutionError) as exc:
        package(runner, 'ko_binary(name="b")\nko_image(name="img", binary=":b", output="docker-archive", platforms=["linux/amd64", "linux/arm64"])\n')
    assert "app:img: a docker-archive holds one platform, but the image has 2" in str(exc.value)


def test_sbom_lists_binaries_per_platform(runner: RuleRunner) -> None:
    dist = package(runner, 'ko_binary(name="b")\nko_image(name="img", binary=":b", platforms=["linux/amd64", "linux/arm64"])\n')
    doc = json.loads((dist / "app/img.spdx.json").read_text())
    assert doc["spdxVersion"] == "SPDX-2.3"
    index = json.loads((dist / "app/img/index.json").read_text())
    assert doc["documentNamespace"].endswith(index["manifests"][0]["digest"])
    assert {p["name"] for p in doc["packages"]} >= {"/ko-app/app (linux/amd64)", "/ko-app/app (linux/arm64)"}


@pytest.mark.parametrize(
    "build, expected",
    [
        (
            'ko_binary(name="b")\nko_layer(name="l", sources=["files/**"], strip_prefix="files", path="/ko-app")\n'
            'ko_image(name="img", binary=":b", layers=[":l"])\n',
            "app:img: /ko-app/app is written by both the binary app:b and the ko_layer app:l.",
        ),
        (
            'ko_binary(name="b")\nko_image(name="img", binary=":b", entrypoint=["/bin/sh"])\n',
            "app:img: the entrypoint '/bin/sh' names no file in the image (its base is scratch",
        ),
    ],
)
def test_path_errors(runner: RuleRunner, build: str, expected: str) -> None:
    runner.write_files({"app/files/app": "not a binary"})
    with pytest.raises(ExecutionError) as exc:
        package(runner, build)
    assert expected in str(exc.value)
