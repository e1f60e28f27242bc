"""`pants ko-explain`: the key's components, and which one changed since the last package."""

from __future__ import annotations

import pytest

from tests.support.pants_repo import PantsRepo

pytestmark = pytest.mark.e2e


def test_explain_names_the_changed_component(tmp_path) -> None:
    repo = PantsRepo.copy(tmp_path / "repo", with_examples=False)
    repo.write("m/go.mod", "module example.com/m\n\ngo 1.21\n")
    repo.write("m/lib/lib.go", "package lib\n\nconst X = 1\n")
    repo.write("m/app/main.go", 'package main\n\nimport "example.com/m/lib"\n\nfunc main() { println(lib.X) }\n')
    repo.write("m/app/BUILD", 'ko_binary(name="app")\nko_image(name="img", binary=":app", platforms=["linux/amd64", "linux/arm64"])\n')

    before = repo.run("ko-explain", "m/app:app").stdout
    assert "no record (run `pants package` first)" in before
    for component in ("key          sha256:", "argv         __kocache/go.sh build -trimpath -buildvcs=false",
                      "working dir  m", "platform     linux/amd64", "toolchain    go1", "GOARCH=amd64", "inputs       "):
        assert component in before, component

    repo.run("package", "::")
    assert repo.run("ko-explain", "m/app:img").stdout.count("since last package: unchanged") == 2

    repo.write("m/lib/lib.go", "package lib\n\nconst X = 2\n")
    repo.write("m/app/BUILD", 'ko_binary(name="app", ldflags=["-s"])\nko_image(name="img", binary=":app", platforms=["linux/amd64", "linux/arm64"])\n')
    out = repo.run("ko-explain", "m/app:img").stdout
    assert out.count("since last package: changed (go build runs again):") == 2
    assert out.count("input changed: m/lib/lib.go") == 2
    assert "argv: [" in out and "'-ldflags=-buildid= -s'" in out
