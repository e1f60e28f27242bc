"""ko_layer: files under a path, with modes, directories and in-tree symlinks; escaping links refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pants.engine.internals.scheduler import ExecutionError
from pants.testutil.rule_runner import RuleRunner

from tests.rules.conftest import GO_MOD
from tests.rules.test_base_images import package
from tests.support.oci_tools import skopeo_inspect, umoci_unpack

BUILD = 'ko_binary(name="b")\nko_layer(name="data")\nko_image(name="img", binary=":b", layers=[":data"])\n'


@pytest.fixture
def repo(rule_runner: RuleRunner) -> RuleRunner:
    rule_runner.write_files(
        {
            "app/go.mod": GO_MOD,
            "app/main.go": "package main\n\nfunc main() {}\n",
            "app/BUILD": BUILD,
            "app/kodata/index.html": "<h1>hi</h1>\n",
            "app/kodata/bin/run.sh": "#!/bin/sh\necho run\n",
            "app/kodata/deep/er/file.txt": "deep\n",
        }
    )
    root = Path(rule_runner.build_root)
    (root / "app/kodata/bin/run.sh").chmod(0o755)
    os.symlink("index.html", root / "app/kodata/latest.html")
    os.symlink("../index.html", root / "app/kodata/deep/up.html")
    return rule_runner


def test_data_layer_contents(repo: RuleRunner) -> None:
    out = Path(repo.build_root) / "out"
    package(repo, "app", "img", out)
    config = skopeo_inspect(f"oci:{out}:latest", "--config")
    assert "KO_DATA_PATH=/var/run/ko" in config["config"]["Env"]
    rootfs = umoci_unpack(out, "latest", Path(repo.build_root) / "bundle")
    data = rootfs / "var/run/ko"
    assert (data / "index.html").read_text() == "<h1>hi</h1>\n"
    assert (data / "bin/run.sh").stat().st_mode & 0o777 == 0o755
    assert (data / "index.html").stat().st_mode & 0o777 == 0o644
    assert (data / "deep/er").is_dir()
    assert os.readlink(data / "latest.html") == "index.html"
    assert os.readlink(data / "deep/up.html") == "../index.html"


def test_escaping_symlink_is_refused(repo: RuleRunner) -> None:
    os.symlink("../../go.mod", Path(repo.build_root) / "app/kodata/deep/escape")
    with pytest.raises(ExecutionError) as exc:
        package(repo, "app", "img", Path(repo.build_root) / "out")
    assert "app:data: app/kodata/deep/escape is a symlink to '../../go.mod', which leaves the layer's directory" in str(exc.value)


def test_missing_file_names_the_target(repo: RuleRunner) -> None:
    repo.write_files({"app/BUILD": BUILD.replace('ko_layer(name="data")', 'ko_layer(name="data", sources=["kodata/missing.txt"])')})
    with pytest.raises(ExecutionError) as exc:
        package(repo, "app", "img", Path(repo.build_root) / "out")
    assert "app:data" in str(exc.value) and "kodata/missing.txt" in str(exc.value)


def test_two_layers_writing_one_path(repo: RuleRunner) -> None:
    repo.write_files({
        "app/BUILD": BUILD.replace('layers=[":data"]', 'layers=[":data", ":more"]') + 'ko_layer(name="more", sources=["more/**"], strip_prefix="more")\n',
        "app/more/index.html": "other\n",
    })
    with pytest.raises(ExecutionError) as exc:
        package(repo, "app", "img", Path(repo.build_root) / "out")
    assert "app:img: /var/run/ko/index.html is written by both the ko_layer app:data and the ko_layer app:more." in str(exc.value)
