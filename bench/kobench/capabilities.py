"""Which plugin features the scenarios need are there today, found by trying them, not by reading code.

The plugin is being extended while this harness exists (base images other than `scratch`, `publish`), so a
scenario that needs a missing feature is skipped with the reason, never faked. The probe is a tiny separate
workspace (its own store and Go cache, so the benchmark's cold runs stay cold) with one trivial main:
- base: `ko_image(base="oci:base/layout")` must package, and the image must really hold the base's layers;
- publish: `pants publish` of one image to the loopback registry must succeed and PUT a manifest there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

from kobench.base_image import write_base_layout
from kobench.monorepo import BASE_LAYOUT_DIR, OCI_BASE_REF
from kobench.pants_log import failure_reason
from kobench.registry import LoopbackRegistry, registry_binary
from kobench.workspace import Workspace

_PROBE_BUILD = f"""ko_binary(name="hello")

ko_image(name="scratch", binary=":hello")

ko_image(name="based", binary=":hello", base="{OCI_BASE_REF}")
"""


@dataclass
class Capabilities:
    base_unsupported: Optional[str]  # None when `base="oci:..."` works, else why not
    publish_unsupported: Optional[str]  # None when `pants publish` pushes to the registry, else why not

    def to_json(self) -> dict:
        return {"oci_base": self.base_unsupported or "supported", "publish": self.publish_unsupported or "supported"}


def _layers_of(layout: Path) -> List[str]:
    def blob(digest: str) -> dict:
        return json.loads((layout / "blobs" / "sha256" / digest.split(":", 1)[1]).read_text())

    top = json.loads((layout / "index.json").read_text())["manifests"][0]
    doc = blob(top["digest"])
    if "manifests" in doc:  # an image index: look at its first platform
        doc = blob(doc["manifests"][0]["digest"])
    return [layer["digest"] for layer in doc.get("layers", [])]


def _probe_base(ws: Workspace, base_digests: Sequence[str]) -> Optional[str]:
    run = ws.pants("package", "probe/cmd/hello:based", pantsd=False, label="probe-base")
    if run.returncode != 0:
        return failure_reason(run.stderr)
    layouts = [p.parent for p in (ws.root / "dist").rglob("oci-layout") if "based" in str(p)]
    if not layouts:
        return "packaged, but no OCI layout was written for the probe image"
    missing = [d for d in base_digests if d not in _layers_of(layouts[0])]
    return f"accepted, but the image lacks the base's layers {missing}" if missing else None


def _probe_publish(ws: Workspace, workdir: Path, publish_options: Sequence[str]) -> Optional[str]:
    if registry_binary() is None:
        return "docker-registry is not installed (apt-get install docker-registry)"
    with LoopbackRegistry(workdir / "probe-registry") as registry:
        run = ws.pants(
            "publish", "probe/cmd/hello:scratch", pantsd=False, label="probe-publish",
            options=(f"--kocache-default-repository={registry.host}/probe", *publish_options),
        )
        tally = registry.proxy.reset()
    if run.returncode != 0:
        return failure_reason(run.stderr)
    if tally.manifest_puts == 0:
        return "`pants publish` succeeded but pushed no manifest to the registry"
    return None


def probe(workdir: Path, source: Path, publish_options: Sequence[str] = ()) -> Capabilities:
    ws = Workspace.create(workdir / "repo", workdir / "caches", workdir / "logs", source)
    try:
        ws.fresh_caches()
        digests = write_base_layout(ws.root / BASE_LAYOUT_DIR, "probe")
        (ws.root / "probe/cmd/hello").mkdir(parents=True)
        (ws.root / "probe/go.mod").write_text("module bench.example/probe\n\ngo 1.21\n")
        (ws.root / "probe/cmd/hello/main.go").write_text("package main\n\nfunc main() { println(\"probe\") }\n")
        (ws.root / "probe/cmd/hello/BUILD").write_text(_PROBE_BUILD)
        base = _probe_base(ws, list(digests.values()))
        publish = _probe_publish(ws, workdir, publish_options)
        return Capabilities(base, publish)
    finally:
        ws.remove_caches()
