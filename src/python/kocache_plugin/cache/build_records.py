"""Key records of the `go build` steps behind an image, computed from the planned Processes (nothing runs)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Tuple

from pants.engine.fs import Digest, DigestEntries, FileEntry
from pants.engine.process import Process
from pants.engine.rules import Get, MultiGet, collect_rules, rule

from kocache_plugin.cache.key_record import make_record
from kocache_plugin.go.binary_spec import GoBinarySpec
from kocache_plugin.go.build import GoBuildPlan, GoBuildRequest
from kocache_plugin.go.go_process import GoProcess
from kocache_plugin.oci.platform import Platform

RECORDS_DIR = ".kocache/keys"


@dataclass(frozen=True)
class BuildRecordsRequest:
    builds: Tuple[Tuple[GoBinarySpec, Platform], ...]


@dataclass(frozen=True)
class BuildRecords:
    records: Tuple[str, ...]  # JSON of each record (hashable)

    def as_json(self) -> list:
        return [json.loads(r) for r in self.records]


@rule
async def build_records(request: BuildRecordsRequest) -> BuildRecords:
    plans = await MultiGet(Get(GoBuildPlan, GoBuildRequest(spec, platform)) for spec, platform in request.builds)
    processes = await MultiGet(Get(Process, GoProcess, plan.process) for plan in plans)
    entries = await MultiGet(Get(DigestEntries, Digest, p.input_digest) for p in processes)
    records = []
    for (spec, platform), process, files in zip(request.builds, processes, entries):
        inputs = {e.path: f"{e.file_digest.fingerprint}/{e.file_digest.serialized_bytes_length}" for e in files if isinstance(e, FileEntry)}
        for name, digest in process.immutable_input_digests.items():
            inputs[f"{name}/ (module cache)"] = f"{digest.fingerprint}/{digest.serialized_bytes_length}"
        record = make_record(str(spec.address), str(platform), process.argv[1:], process.env, inputs)
        records.append(json.dumps(record, sort_keys=True))
    return BuildRecords(tuple(records))


def rules():
    return collect_rules()
