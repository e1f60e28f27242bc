"""Base images: an OCI layout in the repo (an index with several platforms) and another ko_image target."""

from __future__ import annotations

from pathlib import Path

import pytest
from pants.engine.addresses import Address
from pants.engine.internals.scheduler import ExecutionError
from pants.testutil.rule_runner import RuleRunner

from kocache_plugin.image.assemble import BuiltImage, ImageRequest
from kocache_plugin.image.image_spec import KoImageSpec, KoImageSpecRequest
from tests.rules.conftest import GO_MOD
from tests.support.base_layouts import write_base_layout
from tests.support.oci_tools import layout_manifest, skopeo_inspect, umoci_unpack

MAIN = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("app") }\n'


def package(rule_runner: RuleRunner, spec_path: str, name: str, out: Path) -> BuiltImage:
    spec = rule_runner.request(KoImageSpec, [KoImageSpecRequest(Address(spec_path, target_name=name))])
    image = rule_runner.request(BuiltImage, [ImageRequest(spec)])
    rule_runner.write_digest(image.layout, path_prefix=str(out.relative_to(rule_runner.build_root)))
    return image


@pytest.fixture
def repo(rule_runner: RuleRunner) -> RuleRunner:
    manifests = write_base_layout(Path(rule_runner.build_root) / "bases/distroless", ["linux/amd64", "linux/arm64"])
    rule_runner.write_files({"app/go.mod": GO_MOD, "app/main.go": MAIN, "bases/distroless/BUILD": ""})
    rule_runner.manifests = manifests  # type: ignore[attr-defined]
    return rule_runner


def test_layout_base_with_several_platforms(repo: RuleRunner) -> None:
    repo.write_files({"app/BUILD": 'ko_binary(name="b")\nko_image(name="img", binary=":b", base="oci:bases/distroless", platforms=["linux/amd64", "linux/arm64"])\n'})
    out = Path(repo.build_root) / "out"
    package(repo, "app", "img", out)
    for arch in ("amd64", "arm64"):
        raw = layout_manifest(out, "latest", arch)
        assert raw["annotations"]["org.opencontainers.image.base.name"] == "oci:bases/distroless"
        assert raw["annotations"]["org.opencontainers.image.base.digest"] == repo.manifests[f"linux/{arch}"]
        config = skopeo_inspect(f"oci:{out}:latest", "--override-arch", arch, "--config")
        assert config["config"]["Env"] == ["PATH=/usr/bin:/bin:/ko-app", "BASE=yes"]
        assert config["config"]["User"] == "65532", "the base's settings are inherited"
        assert len(config["rootfs"]["diff_ids"]) == 2
        rootfs = umoci_unpack(out, "latest", Path(repo.build_root) / f"bundle-{arch}", arch=arch)
        assert (rootfs / "etc/base-release").read_text() == f"base 1 linux/{arch}\n"
        assert (rootfs / "ko-app/app").is_file()


def test_platform_missing_from_the_base(repo: RuleRunner) -> None:
    repo.write_files({"app/BUILD": 'ko_binary(name="b")\nko_image(name="img", binary=":b", base="oci:bases/distroless", platforms=["linux/arm/v7"])\n'})
    with pytest.raises(ExecutionError) as exc:
        package(repo, "app", "img", Path(repo.build_root) / "out")
    assert "app:img: base image oci:bases/distroless has no image for platform linux/arm/v7; it has: linux/amd64, linux/arm64" in str(exc.value)


@pytest.mark.parametrize(
    "base, expected",
    [
        ("oci:nowhere", "app:img: base `oci:nowhere`: no files in `nowhere`"),
        ("oci:bases/distroless:v2", "has no entry tagged 'v2' (tags: latest)"),
        ("//app:b", "base `//app:b` is a `ko_binary` target, not a `ko_image`"),
        ("registry.example/Bad Repo:v1", "app:img: base `registry.example/Bad Repo:v1` is not a valid image reference"),
        ("registry.example/base:v1", "app:img: base `registry.example/base:v1` is a tag that is not in the base lock"),
    ],
)
def test_bad_bases(repo: RuleRunner, base: str, expected: str) -> None:
    repo.write_files({"app/BUILD": f'ko_binary(name="b")\nko_image(name="img", binary=":b", base="{base}")\n'})
    with pytest.raises(ExecutionError) as exc:
        package(repo, "app", "img", Path(repo.build_root) / "out")
    assert expected in str(exc.value)


def test_image_chaining(repo: RuleRunner) -> None:
    repo.write_files(
        {
            "tool/main.go": MAIN,
            "app/go.mod": GO_MOD,
            "app/tool/main.go": 'package main\n\nfunc main() {}\n',
            "app/BUILD": 'ko_binary(name="b")\nko_image(name="img", binary=":b", base="//app/tool:img")\n',
            "app/tool/BUILD": 'ko_binary(name="tool")\nko_image(name="img", binary=":tool", base="oci:bases/distroless", tags=["v1"])\n',
        }
    )
    out = Path(repo.build_root) / "out"
    package(repo, "app", "img", out)
    raw = layout_manifest(out, "latest")
    assert raw["annotations"]["org.opencontainers.image.base.name"] == "app/tool:img"
    assert len(raw["layers"]) == 3
    rootfs = umoci_unpack(out, "latest", Path(repo.build_root) / "bundle")
    assert sorted(p.name for p in (rootfs / "ko-app").iterdir()) == ["app", "tool"]
    assert (rootfs / "etc/base-release").is_file()
    config = skopeo_inspect(f"oci:{out}:latest", "--config")
    assert config["config"]["Env"][0] == "PATH=/usr/bin:/bin:/ko-app"
