"""Layer steps: files in, one gzip layer blob and its descriptor out, as a cached Process.

The step's key is the layer tool's digest, the layer spec (paths, modes, mtime, compression) and the
input files' content. An unchanged binary is therefore never re-tarred, re-hashed or re-gzipped: the
descriptor (digest, size, diffID) recorded with the output is reused by every later step.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Tuple

from pants.engine.fs import Digest, DigestContents, DigestSubset, MergeDigests, PathGlobs, RemovePrefix
from pants.engine.fs import CreateDigest, FileContent
from pants.engine.process import FallibleProcessResult, Process
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.util.logging import LogLevel

from kocache_plugin.image.layer_tool import LayerTool
from kocache_plugin.oci.descriptor import Descriptor
from kocache_plugin.subsystems.kocache import KocacheSubsystem

_SPEC = "__kocache/layer.json"
_OUT = "__kocache_layer"


class LayerError(Exception):
    """A layer that cannot be made: a missing file, an escaping symlink, two files at one path."""


@dataclass(frozen=True)
class LayerEntry:
    """One item of a layer: kind is "file" (src → dest), "tree" (a directory, recursively), "dir" or
    "symlink" (dest → target)."""

    kind: str
    dest: str  # path in the image, without a leading "/"
    src: str = ""  # path in the step's input digest
    mode: int = 0o644
    target: str = ""  # symlinks only

    def to_json(self) -> dict:
        entry = {"type": self.kind, "dest": self.dest.lstrip("/")}
        if self.src:
            entry["src"] = self.src
        if self.kind == "symlink":
            entry["target"] = self.target
        elif self.kind != "tree":
            entry["mode"] = self.mode
        return entry


@dataclass(frozen=True)
class LayerRequest:
    entries: Tuple[LayerEntry, ...]
    inputs: Digest
    owner: str  # the target this layer belongs to, for messages
    what: str  # e.g. "binary layer /ko-app/server (linux/arm64)"
    compression: str = "gzip"  # or "none" (a plain tar: archives of whole images)


@dataclass(frozen=True)
class BuiltLayer:
    descriptor: Descriptor  # mediaType, digest, size of the compressed blob
    diff_id: str
    blob: Digest  # holds `blobs/sha256/<hex>`


@rule(desc="Make an image layer", level=LogLevel.DEBUG)
async def make_layer(request: LayerRequest, tool: LayerTool, kocache: KocacheSubsystem) -> BuiltLayer:
    spec = {
        "compression": request.compression,
        "level": kocache.gzip_level,
        "mtime": kocache.source_date_epoch,
        "entries": [e.to_json() for e in request.entries],
    }
    spec_digest = await Get(Digest, CreateDigest([FileContent(_SPEC, json.dumps(spec, sort_keys=True).encode())]))
    inputs = await Get(Digest, MergeDigests([tool.digest, spec_digest, request.inputs]))
    result = await Get(
        FallibleProcessResult,
        Process(
            argv=(f"./{tool.path}", "-spec", _SPEC, "-out", _OUT),
            description=f"Make {request.what} of {request.owner}",
            input_digest=inputs,
            output_directories=(_OUT,),
            level=LogLevel.DEBUG,
            remote_cache_speculation_delay_millis=kocache.remote_cache_speculation_delay_millis,
        ),
    )
    if result.exit_code != 0:
        raise LayerError(f"{request.owner}: cannot make {request.what}: {result.stderr.decode(errors='replace').strip()}")
    out = await Get(Digest, RemovePrefix(result.output_digest, _OUT))
    descriptor_file, blob = await MultiGet(
        Get(DigestContents, DigestSubset(out, PathGlobs(["descriptor.json"]))),
        Get(Digest, DigestSubset(out, PathGlobs(["blobs/**"]))),
    )
    meta = json.loads(descriptor_file[0].content)
    return BuiltLayer(Descriptor(meta["mediaType"], meta["digest"], meta["size"]), meta["diffID"], blob)


def rules():
    return collect_rules()
