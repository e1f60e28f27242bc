"""Bad input through the real `./pants`: a clear error naming the target, and nothing partial in dist/."""

from __future__ import annotations

import shutil

import pytest

from tests.support.pants_repo import PantsRepo

pytestmark = pytest.mark.e2e

GO_MOD = "module example.com/bad\n\ngo 1.21\n"


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> PantsRepo:
    repo = PantsRepo.copy(tmp_path_factory.mktemp("bad") / "repo", with_examples=False)
    repo.write("app/go.mod", GO_MOD)
    repo.write("app/good/main.go", "package main\n\nfunc main() {}\n")
    repo.write("app/good/BUILD", 'ko_binary(name="bin")\nko_image(name="img", binary=":bin")\n')
    return repo


@pytest.mark.parametrize(
    "files, expected",
    [
        (
            {"app/broken/main.go": "package main\n\nfunc main() { nope() }\n",
             "app/broken/BUILD": 'ko_binary(name="bin")\nko_image(name="img", binary=":bin")\n'},
            ["app/broken:bin (linux/amd64): `go build` failed", "undefined: nope"],
        ),
        (
            {"app/broken/BUILD": 'ko_layer(name="files", sources=["x.txt"], strip_prefix="")\nko_image(name="img", binary=":files")\n',
             "app/broken/x.txt": "x"},
            ["app/broken:img: `app/broken:files` is a `ko_layer` target, not a `ko_binary`"],
        ),
        (
            {"app/broken/BUILD": 'ko_binary(name="bin", main="./missing")\nko_image(name="img", binary=":bin")\n'},
            ["app/broken:bin (linux/amd64): no Go package in `app/broken/missing`"],
        ),
        (
            {"app/broken/lib.go": "package lib\n", "app/broken/BUILD": 'ko_binary(name="bin")\nko_image(name="img", binary=":bin")\n'},
            ["is `package lib`, not `package main`"],
        ),
        (
            {"app/broken/main.go": "package main\n\nfunc main() {}\n",
             "app/broken/BUILD": 'ko_binary(name="bin")\nko_image(name="img", binary=":bin", platforms=["linux/amd65"])\n'},
            ["app/broken:img", "invalid platform 'linux/amd65'", "linux/arm/v7"],
        ),
    ],
    ids=["compile-error", "not-a-ko_binary", "missing-main", "not-package-main", "bad-platform"],
)
def test_bad_target_fails_clearly_and_writes_nothing(repo: PantsRepo, files, expected) -> None:
    for path, content in files.items():
        repo.write(path, content)
    try:
        result = repo.run("package", "::", check=False)
        assert result.returncode != 0
        for text in expected:
            assert text in result.stderr, result.stderr[-3000:]
        assert not (repo.root / "dist/app.broken").exists()
    finally:
        for path in files:
            (repo.root / path).unlink()
        shutil.rmtree(repo.root / "dist", ignore_errors=True)
    # The repository is fine again once the bad target is gone.
    repo.run("package", "::")
    assert (repo.root / "dist/app.good/img/index.json").is_file()
