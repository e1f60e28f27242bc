"""Git facts for ldflags templates (`{{.Git.Commit}}`, `{{.Git.Describe}}`), read once per Pants run.

ko runs git once per image per platform; we run it at most once per session, and only when a template
asks. The values enter `go build`'s argv, so a binary is rebuilt only when the rendered value changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from pants.core.util_rules.system_binaries import BinaryPathRequest, BinaryPaths
from pants.engine.fs import EMPTY_DIGEST
from pants.engine.process import FallibleProcessResult, Process, ProcessCacheScope
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.base.build_root import BuildRoot
from pants.util.logging import LogLevel


@dataclass(frozen=True)
class GitFacts:
    commit: str  # "" outside a git checkout
    describe: str


@rule(desc="Read git facts for ldflags", level=LogLevel.DEBUG)
async def read_git_facts(build_root: BuildRoot) -> GitFacts:
    git = await Get(BinaryPaths, BinaryPathRequest(binary_name="git", search_path=("/usr/bin", "/bin", "/usr/local/bin")))
    if not git.first_path:
        return GitFacts("", "")
    base = (git.first_path.path, f"--git-dir={build_root.path}/.git", f"--work-tree={build_root.path}")

    def run(*args: str) -> Get:
        return Get(
            FallibleProcessResult,
            Process(
                (*base, *args),
                description=f"git {' '.join(args)}",
                input_digest=EMPTY_DIGEST,
                cache_scope=ProcessCacheScope.PER_SESSION,
                level=LogLevel.DEBUG,
            ),
        )

    commit, describe = await MultiGet(run("rev-parse", "HEAD"), run("describe", "--tags", "--always", "--dirty"))
    return GitFacts(
        commit.stdout.decode().strip() if commit.exit_code == 0 else "",
        describe.stdout.decode().strip() if describe.exit_code == 0 else "",
    )


def rules():
    return collect_rules()
