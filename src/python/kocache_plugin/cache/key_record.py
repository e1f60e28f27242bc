"""Key records: the components of a `go build` step's cache key, as plain JSON, and their differences.

A record holds exactly what Pants keys the Process on (argv, env, working directory, input files by
digest) plus the platform and toolchain spelled out, so a changed key can be explained component by
component. Pure Python: the goal and the package step share it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Dict, List, Mapping

def key_of(components: Mapping[str, object]) -> str:
    """A stable digest of the components (not Pants' internal action digest, but it changes exactly when it does)."""
    data = json.dumps(components, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_record(target: str, platform: str, argv, env: Mapping[str, str], inputs: Mapping[str, str]) -> Dict:
    env = dict(env)
    components = {
        "argv": list(argv),
        "env": {k: v for k, v in sorted(env.items()) if k not in ("KOCACHE_WORKDIR", "KOCACHE_GO")},
        "working_dir": env.get("KOCACHE_WORKDIR", "."),
        "platform": platform,
        "toolchain": env.get("KOCACHE_GO", ""),
        "inputs": dict(sorted(inputs.items())),
    }
    return {"target": target, "platform": platform, "key": key_of(components), "components": components}


def describe_changes(old: Mapping, new: Mapping) -> List[str]:
    """Human-readable differences between two records of the same target and platform."""
    if old.get("key") == new.get("key"):
        return []
    changes: List[str] = []
    a, b = old.get("components", {}), new.get("components", {})
    for name in ("argv", "working_dir", "platform", "toolchain"):
        if a.get(name) != b.get(name):
            changes.append(f"{name}: {a.get(name)!r} → {b.get(name)!r}")
    env_a, env_b = a.get("env", {}), b.get("env", {})
    for k in sorted(set(env_a) | set(env_b)):
        if env_a.get(k) != env_b.get(k):
            changes.append(f"env {k}: {env_a.get(k)!r} → {env_b.get(k)!r}")
    in_a, in_b = a.get("inputs", {}), b.get("inputs", {})
    for path in sorted(set(in_a) | set(in_b)):
        if path not in in_a:
            changes.append(f"input added: {path}")
        elif path not in in_b:
            changes.append(f"input removed: {path}")
        elif in_a[path] != in_b[path]:
            changes.append(f"input changed: {path}")
    return changes or ["(components equal, key format changed)"]
