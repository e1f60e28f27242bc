"""The `go build` key, through the real `./pants`: every input that shapes a binary makes a new build, and
nothing else does. Counted as executed `go build` processes (a cache hit runs none), never timed."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Dict, Optional, Set

import pytest

from tests.support.go_toolchains import OTHER_GO_VERSION, other_go_bin_dir
from tests.support.pants_repo import PantsRepo

pytestmark = pytest.mark.e2e

FILES = {
    "km/go.mod": "module example.com/km\n\ngo 1.21\n",
    "km/lib1/lib1.go": 'package lib1\n\nconst Name = "lib1"\n',
    "km/lib2/lib2.go": 'package lib2\n\nconst Name = "lib2"\n',
    "km/unused/unused.go": "package unused\n\nconst X = 1\n",
    "km/cmd/a/main.go": 'package main\n\nimport (\n\t"fmt"\n\t"example.com/km/lib1"\n)\n\nfunc main() { fmt.Println(lib1.Name) }\n',
    "km/cmd/b/main.go": 'package main\n\nimport (\n\t"fmt"\n\t"example.com/km/lib2"\n)\n\nfunc main() { fmt.Println(lib2.Name) }\n',
    "km/cmd/b/BUILD": 'ko_binary(name="b")\nko_image(name="img", binary=":b")\n',
}
A_BUILD = 'ko_binary(name="a"{extra})\nko_image(name="img", binary=":a"{image_extra})\n'


class KeyedRepo:
    def __init__(self, repo: PantsRepo):
        self.repo = repo

    def built(self, env: Optional[Dict[str, str]] = None, options=(), repo: Optional[PantsRepo] = None) -> Set[str]:
        result = (repo or self.repo).run("package", "::", env=env, extra_options=options)
        return {re.match(r"go build (\S+) for", d).group(1) for d in result.executed("go build ")}

    def set_a(self, extra: str = "", image_extra: str = "") -> None:
        self.repo.write("km/cmd/a/BUILD", A_BUILD.format(extra=extra, image_extra=image_extra))


@pytest.fixture(scope="module")
def keyed(tmp_path_factory) -> KeyedRepo:
    root = tmp_path_factory.mktemp("key")
    repo = PantsRepo.copy(root / "repo", local_store=root / "store", with_examples=False)
    for path, content in FILES.items():
        repo.write(path, content)
    keyed = KeyedRepo(repo)
    keyed.set_a()
    assert keyed.built() == {"km/cmd/a:a", "km/cmd/b:b"}
    return keyed


A = {"km/cmd/a:a"}


@pytest.mark.parametrize(
    "mutation, expected",
    [
        ("ldflags", A),
        ("env", A),
        ("tags", A),
        ("platform", A),
        ("source-of-lib1", A),
        ("unused-package", set()),
        ("unrelated-file", set()),
        ("test-file", set()),
    ],
)
def test_repo_mutations(keyed: KeyedRepo, mutation: str, expected: Set[str]) -> None:
    repo = keyed.repo
    original = {p: (repo.root / p).read_text() for p in ("km/lib1/lib1.go", "km/unused/unused.go")}
    if mutation == "ldflags":
        keyed.set_a(extra=', ldflags=["-s"]')
    elif mutation == "env":
        keyed.set_a(extra=', env={"GOEXPERIMENT": ""}')
    elif mutation == "tags":
        keyed.set_a(extra=', tags=["netgo"]')
    elif mutation == "platform":
        keyed.set_a(image_extra=', platforms=["linux/arm64"]')
    elif mutation == "source-of-lib1":
        repo.write("km/lib1/lib1.go", 'package lib1\n\nconst Name = "lib1 changed"\n')
    elif mutation == "unused-package":
        repo.write("km/unused/unused.go", "package unused\n\nconst X = 2\n")
    elif mutation == "unrelated-file":
        repo.write("km/README.md", "notes\n")
    elif mutation == "test-file":
        repo.write("km/lib1/lib1_test.go", "package lib1\n")
    try:
        assert keyed.built() == expected, mutation
    finally:
        keyed.set_a()
        for path, content in original.items():
            repo.write(path, content)
        for extra in ("km/README.md", "km/lib1/lib1_test.go"):
            (repo.root / extra).unlink(missing_ok=True)
    assert keyed.built() == set(), "back to the original inputs: all cache hits"


@pytest.mark.parametrize(
    "env",
    [
        {"PATH": "/opt/nothing-here/bin:{PATH}"},
        {"HOME": "{tmp}/other-home"},
        {"TMPDIR": "{tmp}"},
        {"TZ": "Pacific/Chatham", "LANG": "C", "LC_ALL": "C"},
        {"USER": "someone-else", "LOGNAME": "someone-else", "GOFLAGS": "-a", "GOPATH": "/elsewhere", "GOCACHE": "/elsewhere"},
    ],
    ids=["PATH", "HOME", "TMPDIR", "TZ-and-locale", "user-and-go-env"],
)
def test_host_environment_does_not_enter_the_key(keyed: KeyedRepo, tmp_path: Path, env: Dict[str, str]) -> None:
    import os

    values = {k: v.format(PATH=os.environ["PATH"], tmp=tmp_path) for k, v in env.items()}
    bootstrap = os.environ.get("KOCACHE_BOOTSTRAP_DIR") or str(Path.home() / ".cache/kocache/bootstrap")
    assert keyed.built(env={**values, "KOCACHE_BOOTSTRAP_DIR": bootstrap}) == set()


def test_umask_does_not_enter_the_key(keyed: KeyedRepo) -> None:
    import os

    old = os.umask(0o077)
    try:
        assert keyed.built() == set()
    finally:
        os.umask(old)


def test_another_checkout_directory_hits(keyed: KeyedRepo, tmp_path: Path) -> None:
    other = tmp_path / "a" / "different" / "place"
    shutil.copytree(keyed.repo.root, other, ignore=shutil.ignore_patterns("dist", ".pants.d", ".pids"))
    assert keyed.built(repo=PantsRepo(other, keyed.repo.local_store)) == set()


def test_moving_the_module_changes_the_working_dir(keyed: KeyedRepo, tmp_path: Path) -> None:
    moved = tmp_path / "moved"
    shutil.copytree(keyed.repo.root, moved, ignore=shutil.ignore_patterns("dist", ".pants.d", ".pids"))
    (moved / "km").rename(moved / "services")
    assert keyed.built(repo=PantsRepo(moved, keyed.repo.local_store)) == {"services/cmd/a:a", "services/cmd/b:b"}


def test_toolchain_version_enters_the_key(keyed: KeyedRepo) -> None:
    bin_dir = other_go_bin_dir()
    options = [f"--kocache-go-search-paths=['{bin_dir}']"]
    result = keyed.repo.run("package", "::", extra_options=options)
    assert {re.match(r"go build (\S+) for", d).group(1) for d in result.executed("go build ")} == {"km/cmd/a:a", "km/cmd/b:b"}
    assert OTHER_GO_VERSION.startswith("go1.25")
    assert keyed.built(options=options) == set()


def test_goroot_location_does_not_enter_the_key(keyed: KeyedRepo, tmp_path: Path) -> None:
    """The same Go at another path (another machine's layout) hits: only the toolchain's identity is keyed."""
    import subprocess

    goroot = subprocess.run(["go", "env", "GOROOT"], capture_output=True, text=True, check=True).stdout.strip()
    elsewhere = tmp_path / "opt" / "go"
    elsewhere.parent.mkdir(parents=True)
    if subprocess.run(["cp", "-al", goroot, str(elsewhere)], capture_output=True).returncode != 0:
        shutil.copytree(goroot, elsewhere, symlinks=True)
    assert keyed.built(options=[f"--kocache-go-search-paths=['{elsewhere}/bin']"]) == set()
