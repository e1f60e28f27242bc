"""The key-mutation matrix over the whole pipeline (build → layer → image), through the real `./pants`.

Each mutation names what must run again (go builds, layer steps) and whether the image changes. A *wrong hit*
is an image that should have changed but did not; a *needless miss* is a step that ran although none of its
inputs changed. Both must be zero. (The go build key alone is covered case by case in test_build_key.py.)
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import List, Tuple

import pytest

from tests.support.base_layouts import write_base_layout
from tests.support.pants_repo import PantsRepo, PantsResult

pytestmark = pytest.mark.e2e

BUILD = """ko_binary(name="app", platforms={platforms!r})
ko_layer(name="data", path={path!r})
ko_image(name="img", binary=":app", layers=[":data"], base="oci:base", entrypoint={entrypoint!r})
"""
DEFAULTS = {"platforms": ["linux/arm/v7"], "path": "/var/run/ko", "entrypoint": ["/ko-app/app"]}


class Matrix:
    def __init__(self, repo: PantsRepo, tmp: Path):
        self.repo, self.tmp = repo, tmp
        self.rows: List[Tuple[str, int, int, bool, bool]] = []

    def build_file(self, **overrides) -> None:
        self.repo.write("app/BUILD", BUILD.format(**{**DEFAULTS, **overrides}))

    def digest(self) -> str:
        return json.loads((self.repo.root / "dist/app/img/index.json").read_text())["manifests"][0]["digest"]

    def run(self, options=(), pantsd: bool = False) -> Tuple[PantsResult, str]:
        result = self.repo.run("-ldebug", "package", "::", extra_options=options, pantsd=pantsd)
        return result, self.digest()

    def check(self, name: str, builds: int, layers: int, image_changes: bool, options=(), pantsd: bool = False) -> None:
        before = self.digest()
        result, after = self.run(options, pantsd)
        ran_builds, ran_layers = len(result.executed("go build")), len(result.executed("Make the"))
        changed = after != before
        self.rows.append((name, ran_builds, ran_layers, changed, (ran_builds, ran_layers, changed) == (builds, layers, image_changes)))
        assert (ran_builds, ran_layers, changed) == (builds, layers, image_changes), (
            f"{name}: expected {builds} go builds, {layers} layer steps, image {'changed' if image_changes else 'same'}; "
            f"got {ran_builds}, {ran_layers}, {'changed' if changed else 'same'}"
        )


@pytest.fixture(scope="module")
def matrix(tmp_path_factory) -> Matrix:
    tmp = tmp_path_factory.mktemp("matrix")
    repo = PantsRepo.copy(tmp / "repo", local_store=tmp / "store", with_examples=False)
    repo.write("app/go.mod", "module example.com/app\n\ngo 1.21\n")
    repo.write("app/main.go", 'package main\n\nimport "fmt"\n\n// Comment one.\nfunc main() { fmt.Println("app") }\n')
    repo.write("app/kodata/index.html", "hello\n")
    write_base_layout(repo.root / "base", ["linux/arm/v7", "linux/arm/v6"], release="base 1")
    repo.write("base/BUILD", "")
    m = Matrix(repo, tmp)
    m.build_file()
    m.run()
    yield m
    repo.stop_pantsd()
    print("\nkey-mutation matrix (mutation, go builds, layer steps, image changed, as expected):")
    for row in m.rows:
        print("  ", row)


# Mutations are applied in order; each leaves the repo changed, so every step is relative to the previous one.
def test_matrix(matrix: Matrix) -> None:
    m = matrix
    m.check("nothing changed", 0, 0, False)
    m.check("pantsd on (same inputs)", 0, 0, False, pantsd=True)
    m.repo.stop_pantsd()
    m.check("pantsd off again", 0, 0, False)

    m.build_file(entrypoint=["/ko-app/app", "--verbose"])
    m.check("config only (entrypoint)", 0, 0, True)

    m.build_file(entrypoint=["/ko-app/app", "--verbose"], path="/srv/data")
    m.check("ko_layer path", 0, 1, True)

    m.check("gzip level 1 → 6", 0, 2, True, options=["--kocache-gzip-level=6"])
    m.check("source_date_epoch (layer mtimes, created)", 0, 2, True, options=["--kocache-gzip-level=6", "--kocache-source-date-epoch=1700000000"])
    m.check("back to the defaults: cache hits", 0, 0, True)

    write_base_layout(m.repo.root / "base", ["linux/arm/v7", "linux/arm/v6"], release="base 2")
    m.check("base digest", 0, 0, True)

    m.build_file(entrypoint=["/ko-app/app", "--verbose"], path="/srv/data", platforms=["linux/arm/v6"])
    m.check("platform variant v7 → v6", 1, 1, True)

    m.repo.write("app/kodata/index.html", "hello again\n")
    m.check("data file content", 0, 1, True)

    # Same line count: a comment that moved code would change line tables, and so the binary.
    m.repo.write("app/main.go", 'package main\n\nimport "fmt"\n\n// Comment two.\nfunc main() { fmt.Println("app") }\n')
    m.check("comment-only Go edit", 1, 0, False)

    m.repo.write("app/README.md", "unrelated\n")
    m.check("unrelated file", 0, 0, False)

    other = m.tmp / "elsewhere" / "checkout"
    shutil.copytree(m.repo.root, other, ignore=shutil.ignore_patterns(".pants.d", ".pids"))
    m.repo = PantsRepo(other, m.repo.local_store)
    m.check("another checkout directory", 0, 0, False)

    assert len(m.rows) == 14 and all(ok for *_, ok in m.rows)
