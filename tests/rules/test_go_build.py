"""The Go build rules with the real toolchain: what gets built, and every bad input's message."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pants.engine.addresses import Address
from pants.engine.fs import DigestContents
from pants.engine.internals.scheduler import ExecutionError
from pants.testutil.rule_runner import RuleRunner

from kocache_plugin.go.binary_spec import GoBinarySpec, GoBinarySpecRequest
from kocache_plugin.go.build import BuiltGoBinary, GoBuildRequest
from kocache_plugin.oci.platform import Platform
from tests.rules.conftest import GO_MOD

AMD64 = Platform.parse("linux/amd64")


def build(rule_runner: RuleRunner, spec_path: str, name: str, platform: Platform = AMD64) -> bytes:
    spec = rule_runner.request(GoBinarySpec, [GoBinarySpecRequest(Address(spec_path, target_name=name), "test")])
    built = rule_runner.request(BuiltGoBinary, [GoBuildRequest(spec, platform)])
    contents = rule_runner.request(DigestContents, [built.digest])
    assert [c.path for c in contents] == [spec.name]
    return contents[0].content


def run_binary(tmp_path: Path, content: bytes, *args: str) -> str:
    exe = tmp_path / "bin"
    exe.write_bytes(content)
    exe.chmod(0o755)
    return subprocess.run([str(exe), *args], capture_output=True, text=True, check=True).stdout


def test_builds_a_main_package_with_its_import_closure(rule_runner: RuleRunner, tmp_path: Path) -> None:
    rule_runner.write_files(
        {
            "go/go.mod": GO_MOD,
            "go/lib/lib.go": 'package lib\n\nfunc Msg() string { return "from lib" }\n',
            "go/cmd/app/main.go": 'package main\n\nimport (\n\t"fmt"\n\t"example.com/m/lib"\n)\n\nvar v = "dev"\n\nfunc main() { fmt.Println(lib.Msg(), v) }\n',
            "go/cmd/app/BUILD": 'ko_binary(name="app", ldflags=["-X main.v={{.Target}}"])\n',
        }
    )
    out = run_binary(tmp_path, build(rule_runner, "go/cmd/app", "app"))
    assert out == "from lib go/cmd/app:app\n"


def test_cross_compiles_per_platform(rule_runner: RuleRunner) -> None:
    rule_runner.write_files({"m/go.mod": GO_MOD, "m/main.go": "package main\n\nfunc main() {}\n", "m/BUILD": 'ko_binary(name="b")\n'})
    machines = {}
    for p in ("linux/arm64", "linux/arm/v7", "linux/amd64/v3"):
        elf = build(rule_runner, "m", "b", Platform.parse(p))
        assert elf[:4] == b"\x7fELF"
        machines[p] = int.from_bytes(elf[18:20], "little")
    assert machines == {"linux/arm64": 183, "linux/arm/v7": 40, "linux/amd64/v3": 62}


def _error(rule_runner: RuleRunner, spec_path: str, name: str, platform: Platform = AMD64) -> str:
    with pytest.raises(ExecutionError) as exc:
        build(rule_runner, spec_path, name, platform)
    return str(exc.value)


def test_compile_error_names_target_and_shows_go_output(rule_runner: RuleRunner) -> None:
    rule_runner.write_files({"m/go.mod": GO_MOD, "m/main.go": "package main\n\nfunc main() { undefinedThing() }\n", "m/BUILD": 'ko_binary(name="b")\n'})
    msg = _error(rule_runner, "m", "b")
    assert "m:b (linux/amd64)" in msg
    assert "undefined: undefinedThing" in msg


def test_not_a_main_package(rule_runner: RuleRunner) -> None:
    rule_runner.write_files({"m/go.mod": GO_MOD, "m/lib.go": "package lib\n", "m/BUILD": 'ko_binary(name="b")\n'})
    msg = _error(rule_runner, "m", "b")
    assert "m:b (linux/amd64)" in msg and "is `package lib`, not `package main`" in msg


def test_missing_main_directory(rule_runner: RuleRunner) -> None:
    rule_runner.write_files({"m/go.mod": GO_MOD, "m/BUILD": 'ko_binary(name="b", main="./nothing-here")\n'})
    msg = _error(rule_runner, "m", "b")
    assert "m:b (linux/amd64)" in msg and "no Go package in `m/nothing-here`" in msg


def test_no_go_mod(rule_runner: RuleRunner) -> None:
    rule_runner.write_files({"m/main.go": "package main\n\nfunc main() {}\n", "m/BUILD": 'ko_binary(name="b")\n'})
    msg = _error(rule_runner, "m", "b")
    assert "m:b" in msg and "no go.mod" in msg


def test_platform_go_does_not_support(rule_runner: RuleRunner) -> None:
    rule_runner.write_files({"m/go.mod": GO_MOD, "m/main.go": "package main\n\nfunc main() {}\n", "m/BUILD": 'ko_binary(name="b")\n'})
    msg = _error(rule_runner, "m", "b", Platform("plan9", "arm64"))
    assert "m:b" in msg and "plan9/arm64 is not in `go tool dist list`" in msg


@pytest.mark.parametrize(
    "fields, expected",
    [
        ('platforms=["linux/amd64", "linux/x86_64"]', "invalid platform 'linux/x86_64'"),
        ('platforms=["linux"]', "os/arch or os/arch/variant"),
        ('flags=["-toolexec=/bin/true"]', "`-toolexec=/bin/true` is not allowed"),
        ('env={"GOOS": "windows"}', "`env` may not set GOOS"),
        ('binary_name="a/b"', "plain file name"),
    ],
)
def test_bad_fields_name_the_target(rule_runner: RuleRunner, fields: str, expected: str) -> None:
    rule_runner.write_files({"m/go.mod": GO_MOD, "m/main.go": "package main\n\nfunc main() {}\n", "m/BUILD": f'ko_binary(name="b", {fields})\n'})
    with pytest.raises(ExecutionError) as exc:
        rule_runner.request(GoBinarySpec, [GoBinarySpecRequest(Address("m", target_name="b"), "test")])
    assert "m:b" in str(exc.value) and expected in str(exc.value)


def test_ldflags_templates(rule_runner: RuleRunner, tmp_path: Path) -> None:
    rule_runner.write_files(
        {
            "m/go.mod": GO_MOD,
            "m/main.go": 'package main\n\nimport "fmt"\n\nvar a, b, c, d string\n\nfunc main() { fmt.Println(a, b, c, d) }\n',
            "m/BUILD": 'ko_binary(name="b", ldflags=["-X main.a={{.Env.RELEASE}}", "-X main.b={{.Platform}}", "-X main.c={{ .Target }}", "-X main.d=x{{.Git.Commit}}"])\n',
        }
    )
    rule_runner.set_options([], env={"RELEASE": "1.2.3"}, env_inherit={"PATH"})
    # The RuleRunner's build root is no git checkout: Git facts render empty rather than failing.
    assert run_binary(tmp_path, build(rule_runner, "m", "b", Platform.parse("linux/amd64"))) == "1.2.3 linux/amd64 m:b x\n"


def test_no_go_found(rule_runner: RuleRunner, tmp_path: Path) -> None:
    rule_runner.write_files({"m/go.mod": GO_MOD, "m/main.go": "package main\n\nfunc main() {}\n", "m/BUILD": 'ko_binary(name="b")\n'})
    rule_runner.set_options([f"--kocache-go-search-paths=['{tmp_path}']"], env_inherit={"PATH"})
    msg = _error(rule_runner, "m", "b")
    assert f"No Go >= 1.21 found in [kocache-go].search_paths ({tmp_path})" in msg and "https://go.dev/dl/" in msg


def test_go_too_old(rule_runner: RuleRunner) -> None:
    from tests.support.go_toolchains import other_go_bin_dir

    rule_runner.write_files({"m/go.mod": GO_MOD, "m/main.go": "package main\n\nfunc main() {}\n", "m/BUILD": 'ko_binary(name="b")\n'})
    bin_dir = other_go_bin_dir()
    rule_runner.set_options([f"--kocache-go-search-paths=['{bin_dir}']", "--kocache-go-minimum-version=1.26"], env_inherit={"PATH"})
    msg = _error(rule_runner, "m", "b")
    assert "No Go >= 1.26 found" in msg and "Found only older ones" in msg and "go1.25.5" in msg


def test_cgo_builds_for_the_host(rule_runner: RuleRunner, tmp_path: Path) -> None:
    rule_runner.write_files(
        {
            "m/go.mod": GO_MOD,
            "m/main.go": 'package main\n\n// int twice(int x) { return 2 * x; }\nimport "C"\nimport "fmt"\n\nfunc main() { fmt.Println(C.twice(21)) }\n',
            "m/BUILD": 'ko_binary(name="b", cgo=True)\n',
        }
    )
    assert run_binary(tmp_path, build(rule_runner, "m", "b")) == "42\n"
    msg = _error(rule_runner, "m", "b", Platform.parse("linux/arm64"))
    assert "m:b (linux/arm64): cgo=True builds only for the host platform" in msg
