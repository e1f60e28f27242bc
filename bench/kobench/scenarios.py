"""The measurements for one size N, in the order that lets each one start from the state it claims.

  floor (cold Go cache, then warm)  plain go build + tar/gzip/sha256: the least work possible
  1  cold                           empty Pants store and Go cache, --no-pantsd, `package ::`
     pants list (--no-pantsd)       Pants' own no-op floor on the same repo
  2b warm no-op, --no-pantsd
     warm store, pantsd starting    (informational: the first run that starts pantsd)
  2a warm no-op, pantsd
     pants list (pantsd)
  3  one shared package edited      a constant k mains link: k go builds and k binary layers expected
  4  comment-only edit in `common`  every main rebuilt by go, binaries identical: 0 layer steps expected
  5  base image changed             no go build and no layer step expected: only configs and manifests
  6  publish cold, then warm        to an empty loopback registry, then again: 0 blob bytes expected
     ko (cold, then warm)           only when a `ko` binary is there
Edits and later no-ops run with pantsd, as a developer would. Every edit is a new value, so every
repetition really is an edit. A scenario needing a missing feature is skipped with the probe's reason.
"""

from __future__ import annotations

import os
import shutil
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

from kobench.capabilities import Capabilities
from kobench.floor import run_floor
from kobench.ko_baseline import push_base, run_ko
from kobench.measure import CommandRun
from kobench.monorepo import BASE_LAYOUT_DIR, OCI_BASE_REF, Monorepo, generate
from kobench.pants_log import count_executed
from kobench.registry import LoopbackRegistry
from kobench.results import Measurement, Sample, SizeResult
from kobench.workspace import Workspace


@dataclass
class BenchOptions:
    repeat: int
    cold_repeat: int
    workdir: Path
    keep: bool
    go: str
    ko: Optional[str]
    source: Path  # the snapshot of the plugin repo every workspace is copied from
    publish_options: Sequence[str] = ()


def _mib(n: int) -> str:
    return f"{n / 2**20:.0f}"


class SizeBench:
    def __init__(self, n: int, opts: BenchOptions, caps: Capabilities):
        self.n = n
        self.opts = opts
        self.caps = caps
        self.dir = opts.workdir / f"n{n}"
        self.result = SizeResult(n)
        self.ws: Optional[Workspace] = None
        self.repo: Optional[Monorepo] = None
        self.floor_cache: Optional[Path] = None  # the floor's own Go cache, warm after its cold run

    # --- plumbing ---------------------------------------------------------------------------------

    def _say(self, text: str) -> None:
        print(f"[N={self.n}] {text}", flush=True)

    def _measure(self, key: str, title: str, kind: str, runs: int, one_run: Optional[Callable[[int], Sample]],
                 baseline: Optional[str] = None, ko_baseline: Optional[str] = None,
                 skipped: Optional[str] = None) -> Measurement:
        m = self.result.add(Measurement(key, title, kind, runs, baseline=baseline, ko_baseline=ko_baseline))
        if skipped:
            m.skipped = skipped
            self._say(f"{title}: skipped ({skipped})")
            return m
        assert one_run is not None
        try:
            for i in range(runs):
                sample = one_run(i)
                m.samples.append(sample)
                self._say(f"{title} {i + 1}/{runs}: {self._describe(sample)}")
        except Exception as e:  # a broken scenario must not hide the others' results
            m.failed = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"[:400]
            self._say(f"{title}: FAILED {m.failed}")
            (self.dir / "logs").mkdir(parents=True, exist_ok=True)
            (self.dir / "logs" / f"failure-{key}.txt").write_text(traceback.format_exc())
        return m

    @staticmethod
    def _describe(s: Sample) -> str:
        parts = [f"{s.wall_s:.2f} s"]
        if s.processes is not None:
            parts.append(f"{s.processes.go_builds} go builds, {s.processes.layer_steps} layer steps")
        if s.images_changed is not None:
            parts.append(f"{s.images_changed} images changed")
        if s.upload is not None:
            parts.append(f"{s.upload.blob_bytes} blob bytes sent")
        if s.peak_pants_rss:
            parts.append(f"Pants {_mib(s.peak_pants_rss)} MiB")
        return ", ".join(parts)

    def _pants_sample(self, *args: str, pantsd: bool, label: str, options=(), registry=None) -> Sample:
        assert self.ws is not None
        before = self.ws.dist_fingerprints()
        if registry is not None:
            registry.proxy.reset()
        pid_before = self.ws.pantsd_pid() if pantsd else None
        run: CommandRun = self.ws.pants(*args, pantsd=pantsd, label=label, options=options).check(f"pants {' '.join(args)}")
        after = self.ws.dist_fingerprints()
        pid_after = self.ws.pantsd_pid() if pantsd else None
        restarted = pid_before is not None and (pid_after != pid_before or len(run.pantsd_pids) > 1)
        return Sample(
            wall_s=run.wall_s,
            peak_pants_rss=run.peak_pants_rss,
            peak_tree_rss=run.peak_tree_rss,
            processes=count_executed(run.stderr),
            images_changed=sum(1 for k, v in after.items() if before.get(k) != v),
            upload=registry.proxy.reset() if registry is not None else None,
            pantsd_restarted=restarted,
        )

    # --- the sequence -----------------------------------------------------------------------------

    def run(self) -> SizeResult:
        base_ref = OCI_BASE_REF if self.caps.base_unsupported is None else "scratch"
        self.ws = Workspace.create(self.dir / "repo", self.dir / "caches", self.dir / "logs", self.opts.source)
        self.repo = generate(self.ws.root, self.n, base_ref)
        self.result.facts.update({
            "images": self.n,
            "shared_packages": len(self.repo.libs),
            "data_layers": len(self.repo.data_layers),
            "base": base_ref if base_ref != "scratch" else f"scratch (oci base not supported yet: {self.caps.base_unsupported})",
        })
        self.result.facts["load_1m_at_start"] = round(os.getloadavg()[0], 2)
        try:
            self.floor()
            self.cold()
            self.warm_no_pantsd()
            self.warm_pantsd()
            self.shared_edit()
            self.comment_edit()
            self.base_change()
            self.publish()
        finally:
            self.ws.stop_pantsd()
        self.ko()
        self.result.facts["load_1m_at_end"] = round(os.getloadavg()[0], 2)
        if not self.opts.keep:
            shutil.rmtree(self.dir / "caches", ignore_errors=True)
            shutil.rmtree(self.dir / "floor", ignore_errors=True)
            shutil.rmtree(self.dir / "ko", ignore_errors=True)
        return self.result

    def floor(self) -> None:
        assert self.repo is not None
        work = self.dir / "floor"

        def cold(i: int) -> Sample:
            cache = work / f"gocache-{i}"
            for old in work.glob("gocache-*"):
                shutil.rmtree(old)
            f = run_floor(self.repo.module_dir, self.opts.go, cache, work, self.dir / "logs" / f"floor-cold-{i}")
            self.floor_cache = cache
            return Sample(wall_s=f.wall_s, peak_tree_rss=f.peak_tree_rss)

        def warm(i: int) -> Sample:
            assert self.floor_cache is not None, "the cold floor run failed"
            f = run_floor(self.repo.module_dir, self.opts.go, self.floor_cache, work, self.dir / "logs" / f"floor-warm-{i}")
            return Sample(wall_s=f.wall_s, peak_tree_rss=f.peak_tree_rss)

        self._measure("floor_cold_go", "floor, cold Go cache (go build + tar/gzip-1/sha256)", "baseline", self.opts.cold_repeat, cold)
        self._measure("floor", "floor (go build, warm Go cache + tar/gzip-1/sha256)", "baseline", self.opts.repeat, warm)

    def cold(self) -> None:
        assert self.ws is not None

        def one(i: int) -> Sample:
            self.ws.fresh_caches()
            shutil.rmtree(self.ws.root / "dist", ignore_errors=True)
            return self._pants_sample("package", "::", pantsd=False, label=f"cold-{i}")

        m = self._measure("cold", "1. cold: empty store + Go cache (--no-pantsd)", "scenario", self.opts.cold_repeat, one,
                          baseline="floor", ko_baseline="ko_cold")
        m.also_vs.append("floor_cold_go")

    def warm_no_pantsd(self) -> None:
        self._measure("list_no_pantsd", "pants list :: (--no-pantsd)", "baseline", self.opts.repeat,
                      lambda i: self._pants_sample("list", "::", pantsd=False, label=f"list-nopd-{i}"))
        self._measure("noop_no_pantsd", "2b. warm no-op (--no-pantsd)", "scenario", self.opts.repeat,
                      lambda i: self._pants_sample("package", "::", pantsd=False, label=f"noop-nopd-{i}"),
                      baseline="list_no_pantsd", ko_baseline="ko_warm")

    def warm_pantsd(self) -> None:
        self._measure("pantsd_start", "warm store, pantsd starting (informational)", "scenario", 1,
                      lambda i: self._pants_sample("package", "::", pantsd=True, label="pantsd-start"))
        self._measure("noop_pantsd", "2a. warm no-op (pantsd)", "scenario", self.opts.repeat,
                      lambda i: self._pants_sample("package", "::", pantsd=True, label=f"noop-pd-{i}"),
                      baseline="list_pantsd", ko_baseline="ko_warm")
        self._measure("list_pantsd", "pants list :: (pantsd)", "baseline", self.opts.repeat,
                      lambda i: self._pants_sample("list", "::", pantsd=True, label=f"list-pd-{i}"))

    def shared_edit(self) -> None:
        assert self.repo is not None
        package, k = self.repo.edit_shared_library("r0")  # no change: only learns which package and k
        self.result.facts.update({"edited_shared_package": package, "k_importers": k})

        def one(i: int) -> Sample:
            self.repo.edit_shared_library(f"r{i + 1}")
            return self._pants_sample("package", "::", pantsd=True, label=f"shared-edit-{i}")

        m = self._measure("shared_edit", f"3. shared package edited ({k} of {self.n} mains import it)", "scenario",
                          self.opts.repeat, one, baseline="floor", ko_baseline="ko_warm")
        m.notes.append(f"{package}: expect {k} go builds and {k} binary layer steps")

    def comment_edit(self) -> None:
        assert self.repo is not None

        def one(i: int) -> Sample:
            self.repo.edit_common_comment(f"r{i + 1}")
            return self._pants_sample("package", "::", pantsd=True, label=f"comment-edit-{i}")

        self._measure("comment_edit", "4. comment-only edit, every main imports it", "scenario", self.opts.repeat, one,
                      baseline="floor", ko_baseline="ko_warm")

    def base_change(self) -> None:
        assert self.repo is not None
        unsupported = self.caps.base_unsupported

        def one(i: int) -> Sample:
            self.repo.change_base(f"v{i + 1}")
            return self._pants_sample("package", "::", pantsd=True, label=f"base-change-{i}")

        self._measure("base_change", "5. base image changed", "scenario", self.opts.repeat, one,
                      baseline="floor", ko_baseline="ko_warm",
                      skipped=f"not supported yet: {unsupported}" if unsupported else None)

    def publish(self) -> None:
        unsupported = self.caps.publish_unsupported
        skipped = f"not supported yet: {unsupported}" if unsupported else None
        if skipped:
            self._measure("publish_cold", "6a. publish, empty registry", "scenario", self.opts.cold_repeat, None, skipped=skipped)
            self._measure("publish_warm", "6b. publish again, everything present", "scenario", self.opts.repeat, None, skipped=skipped)
            return
        with LoopbackRegistry(self.dir / "registry") as registry:
            options = (f"--kocache-default-repository={registry.host}/kobench", *self.opts.publish_options)

            def cold(i: int) -> Sample:
                registry.wipe()
                return self._pants_sample("publish", "::", pantsd=True, label=f"publish-cold-{i}", options=options, registry=registry)

            def warm(i: int) -> Sample:
                return self._pants_sample("publish", "::", pantsd=True, label=f"publish-warm-{i}", options=options, registry=registry)

            self._measure("publish_cold", "6a. publish, empty registry", "scenario", self.opts.cold_repeat, cold, baseline="floor")
            self._measure("publish_warm", "6b. publish again, everything present", "scenario", self.opts.repeat, warm,
                          baseline="list_pantsd")

    def ko(self) -> None:
        assert self.repo is not None
        ko = self.opts.ko
        skipped = None if ko else "no `ko` binary on PATH or in $KO_BIN (the harness never installs it)"
        if skipped:
            self._measure("ko_cold", "ko build, cold (empty KOCACHE + Go cache)", "baseline", self.opts.cold_repeat, None, skipped=skipped)
            self._measure("ko_warm", "ko build, warm KOCACHE + Go cache", "baseline", self.opts.repeat, None, skipped=skipped)
            return
        work = self.dir / "ko"
        with LoopbackRegistry(work / "registry") as registry:
            base_ref = push_base(self.repo.root / BASE_LAYOUT_DIR, registry.host)
            mains = self.repo.mains

            def build(label: str, cache_dir: Path) -> Sample:
                run = run_ko(ko, self.repo.module_dir, mains, cache_dir / "kocache", cache_dir / "gocache", work,
                             registry.host, base_ref, self.dir / "logs" / label).check("ko build")
                return Sample(wall_s=run.wall_s, peak_tree_rss=run.peak_tree_rss)

            def cold(i: int) -> Sample:
                shutil.rmtree(work / "caches", ignore_errors=True)
                return build(f"ko-cold-{i}", work / "caches")

            self._measure("ko_cold", "ko build, cold (empty KOCACHE + Go cache)", "baseline", self.opts.cold_repeat, cold)
            self._measure("ko_warm", "ko build, warm KOCACHE + Go cache", "baseline", self.opts.repeat,
                          lambda i: build(f"ko-warm-{i}", work / "caches"))
