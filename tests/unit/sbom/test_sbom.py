"""The SBOM core: parsing `go version -m` and the SPDX document (deterministic, complete)."""

from __future__ import annotations

import json

import pytest

from kocache_plugin.sbom.go_buildinfo import BuildInfoError, Module, parse_go_version_m
from kocache_plugin.sbom.spdx import image_sbom

GO_VERSION_M = (
    "app: go1.26.8\n"
    "\tpath\texample.com/app\n"
    "\tmod\texample.com/app\t(devel)\t\n"
    "\tdep\texample.com/z\tv0.1.0\th1:zzz=\n"
    "\tdep\texample.com/dep\tv1.2.0\th1:abc=\n"
    "\tdep\texample.com/local\tv0.0.0\t\n"
    "\t=>\t../local\t(devel)\t\n"
    "\tbuild\t-trimpath=true\n"
    "\tbuild\tCGO_ENABLED=0\n"
    "\tbuild\tGOARCH=arm64\n"
)


def test_parse_go_version_m() -> None:
    info = parse_go_version_m(GO_VERSION_M)
    assert info.go_version == "go1.26.8"
    assert info.path == "example.com/app"
    assert info.main == Module("example.com/app", "(devel)", "")
    assert info.deps == (
        Module("example.com/dep", "v1.2.0", "h1:abc="),
        Module("example.com/local", "v0.0.0", "", "../local (devel)"),
        Module("example.com/z", "v0.1.0", "h1:zzz="),
    )
    assert dict(info.settings)["GOARCH"] == "arm64"


def test_not_build_info() -> None:
    with pytest.raises(BuildInfoError):
        parse_go_version_m("hello: not a go binary\n")


def test_spdx_document() -> None:
    info = parse_go_version_m(GO_VERSION_M)
    doc_bytes = image_sbom("app:img", "sha256:" + "1" * 64, "1970-01-01T00:00:00Z", [("linux/arm64", "app", info), ("linux/amd64", "app", info)])
    assert doc_bytes == image_sbom("app:img", "sha256:" + "1" * 64, "1970-01-01T00:00:00Z", [("linux/amd64", "app", info), ("linux/arm64", "app", info)])
    doc = json.loads(doc_bytes)
    assert doc["spdxVersion"] == "SPDX-2.3" and doc["dataLicense"] == "CC0-1.0"
    names = {p["name"] for p in doc["packages"]}
    assert {"/ko-app/app (linux/amd64)", "/ko-app/app (linux/arm64)", "example.com/dep", "example.com/local", "example.com/z", "app:img"} == names
    dep = next(p for p in doc["packages"] if p["name"] == "example.com/dep")
    assert dep["externalRefs"][0]["referenceLocator"] == "pkg:golang/example.com/dep@v1.2.0"
    assert "h1:abc=" in dep["comment"]
    ids = {p["SPDXID"] for p in doc["packages"]}
    for rel in doc["relationships"]:
        assert rel["relatedSpdxElement"] in ids
    depends = [r for r in doc["relationships"] if r["relationshipType"] == "DEPENDS_ON"]
    assert len(depends) == 6  # 3 modules × 2 platforms
