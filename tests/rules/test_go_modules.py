"""Third-party modules (through a file:// proxy the test makes), vendoring, local replacements, nested modules."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from pants.engine.internals.scheduler import ExecutionError
from pants.testutil.rule_runner import RuleRunner

from tests.rules.test_go_build import build, run_binary
from tests.support.go_proxy import add_module, go_sum_for

MAIN = 'package main\n\nimport (\n\t"fmt"\n\t"example.com/dep/greet"\n)\n\nfunc main() { fmt.Println(greet.Hello()) }\n'
GO_MOD = "module example.com/app\n\ngo 1.21\n\nrequire example.com/dep v1.2.0\n"


@pytest.fixture
def proxy(tmp_path: Path) -> Path:
    proxy = tmp_path / "proxy"
    add_module(proxy, "example.com/dep", "v1.2.0", {"greet/greet.go": 'package greet\n\nfunc Hello() string { return "hello from dep v1.2.0" }\n'})
    return proxy


def _module_files(tmp_path: Path, proxy: Path) -> dict:
    scratch = tmp_path / "scratch"
    (scratch / "mod").mkdir(parents=True)
    (scratch / "mod/go.mod").write_text(GO_MOD)
    (scratch / "mod/main.go").write_text(MAIN)
    go_sum = go_sum_for(scratch / "mod", proxy, scratch)
    return {"app/go.mod": GO_MOD, "app/go.sum": go_sum, "app/main.go": MAIN, "app/BUILD": 'ko_binary(name="app")\n'}


def test_third_party_module_from_the_proxy(rule_runner: RuleRunner, proxy: Path, tmp_path: Path) -> None:
    rule_runner.write_files(_module_files(tmp_path, proxy))
    rule_runner.set_options([f"--kocache-go-proxy=file://{proxy}", "--kocache-go-download-env=['GOSUMDB=off']"], env_inherit={"PATH"})
    assert run_binary(tmp_path, build(rule_runner, "app", "app")) == "hello from dep v1.2.0\n"


def test_download_failure_names_the_target(rule_runner: RuleRunner, proxy: Path, tmp_path: Path) -> None:
    rule_runner.write_files(_module_files(tmp_path, proxy))
    rule_runner.set_options([f"--kocache-go-proxy=file://{tmp_path}/no-such-proxy", "--kocache-go-download-env=['GOSUMDB=off']"], env_inherit={"PATH"})
    with pytest.raises(ExecutionError) as exc:
        build(rule_runner, "app", "app")
    assert "app:app: downloading the modules of app/go.mod failed" in str(exc.value)
    assert "no-such-proxy" in str(exc.value)


def test_missing_go_sum_entry(rule_runner: RuleRunner, proxy: Path, tmp_path: Path) -> None:
    files = _module_files(tmp_path, proxy)
    files["app/go.sum"] = ""
    rule_runner.write_files(files)
    rule_runner.set_options([f"--kocache-go-proxy=file://{proxy}", "--kocache-go-download-env=['GOSUMDB=off']"], env_inherit={"PATH"})
    with pytest.raises(ExecutionError) as exc:
        build(rule_runner, "app", "app")
    assert "app:app" in str(exc.value) and "go.sum" in str(exc.value)


def test_vendored_module_needs_no_proxy(rule_runner: RuleRunner, proxy: Path, tmp_path: Path) -> None:
    files = _module_files(tmp_path, proxy)
    scratch = tmp_path / "scratch" / "mod"
    (scratch / "go.sum").write_text(files["app/go.sum"])
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "GOPROXY": f"file://{proxy}", "GOSUMDB": "off",
           "GOMODCACHE": str(tmp_path / "scratch/modcache"), "GOFLAGS": "-modcacherw", "GOTOOLCHAIN": "local",
           "GOCACHE": str(tmp_path / "gocache")}
    subprocess.run(["go", "mod", "vendor"], cwd=scratch, env=env, check=True, capture_output=True)
    for path in (scratch / "vendor").rglob("*"):
        if path.is_file():
            files[f"app/{path.relative_to(scratch)}"] = path.read_text()
    rule_runner.write_files(files)
    # A proxy that does not exist: vendored builds must not download anything.
    rule_runner.set_options([f"--kocache-go-proxy=file://{tmp_path}/no-such-proxy"], env_inherit={"PATH"})
    assert run_binary(tmp_path, build(rule_runner, "app", "app")) == "hello from dep v1.2.0\n"


def test_local_replace_and_nested_modules(rule_runner: RuleRunner, tmp_path: Path) -> None:
    rule_runner.write_files(
        {
            "libs/shared/go.mod": "module example.com/shared\n\ngo 1.21\n",
            "libs/shared/shared.go": 'package shared\n\nconst Name = "shared lib"\n',
            "svc/go.mod": "module example.com/svc\n\ngo 1.21\n\nrequire example.com/shared v0.0.0\n\nreplace example.com/shared => ../libs/shared\n",
            "svc/cmd/a/main.go": 'package main\n\nimport (\n\t"fmt"\n\t"example.com/shared"\n)\n\nfunc main() { fmt.Println(shared.Name) }\n',
            "svc/cmd/a/BUILD": 'ko_binary(name="a")\n',
            # A second module in the repo, nested in another directory: it owns its own binaries.
            "tools/go.mod": "module example.com/tools\n\ngo 1.21\n",
            "tools/t/main.go": 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("tool") }\n',
            "tools/t/BUILD": 'ko_binary(name="t")\n',
        }
    )
    assert run_binary(tmp_path, build(rule_runner, "svc/cmd/a", "a")) == "shared lib\n"
    assert run_binary(tmp_path, build(rule_runner, "tools/t", "t")) == "tool\n"
