"""Command line for `pants publish` of one ko_image: push it from its OCI layout to a registry.

    python3 -m kocache_plugin.oci.registry.push_cli --target ADDR --layout DIR \
        --registry HOST[:PORT] --repository NAME --tag T [--tag T ...] [--expect-digest D] \
        [--insecure HOST]... [--ca-file PEM] [--refs-file PATH] [--request-timeout S] [--retry-timeout S]

Pants runs it as an InteractiveProcess: never cached, with only DOCKER_CONFIG/HOME/PATH (and what
[ko-publish].env_vars adds) from the user's environment, so that config.json and docker-credential-*
helpers work. Credentials are read here and go nowhere else: not in argv or env, not in the Pants cache,
not in any output. On success it prints `registry/repository@sha256:...` on stdout (what a deploy step
reads, as with ko), a one-line account of what crossed the wire on stderr, and records the reference in
the refs file. On failure: one line on stderr naming the target and the destination, exit 1.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import sys
from pathlib import Path
from typing import Dict

from kocache_plugin.oci.layout import LayoutError
from kocache_plugin.oci.registry.client import MOUNTED, PRESENT, UPLOADED, RegistryClient
from kocache_plugin.oci.registry.errors import RegistryError
from kocache_plugin.oci.registry.push import PushReport, plan_push, push_image
from kocache_plugin.oci.registry.reference import Reference
from kocache_plugin.oci.registry.transport import RetryPolicy

PROG = "kocache-push"


def record_ref(path: Path, reference: str) -> None:
    """Record `reference` in the refs file: one line per repository, the digest last pushed there.

    Other repositories' lines are kept (publishing a subset of targets updates only theirs); the file is
    sorted and rewritten under an exclusive lock, so concurrent publishes cannot interleave lines.
    """
    name = reference.split("@", 1)[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    with open(fd, "r+", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        lines = {line.strip() for line in f.read().splitlines() if line.strip()}
        lines = {line for line in lines if line.split("@", 1)[0] != name} | {reference}
        f.seek(0)
        f.truncate()
        f.write("".join(f"{line}\n" for line in sorted(lines)))


def summary(target: str, destination: str, report: PushReport, counters: Dict[str, int]) -> str:
    if report.already_complete:
        what = "image already in the registry, 0 blob bytes sent"
    else:
        b = report.blobs
        what = (
            f"blobs: {b[UPLOADED]} uploaded ({counters['blob_bytes_uploaded']} bytes sent), "
            f"{b[PRESENT]} already present, {b[MOUNTED]} mounted; "
            f"manifests: {report.documents_pushed} pushed, {report.documents_present} already present"
        )
    tags = [f"{t} pushed" for t in report.tags_pushed] + [f"{t} unchanged" for t in report.tags_unchanged]
    retries = f", {counters['retries']} retries" if counters["retries"] else ""
    return f"{PROG}: {target} -> {destination}: {what}; tags: {', '.join(tags)}{retries}"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Push one image from an OCI layout to a registry.")
    p.add_argument("--target", required=True, help="the ko_image address, for messages")
    p.add_argument("--layout", required=True, type=Path, help="OCI image layout directory")
    p.add_argument("--registry", required=True)
    p.add_argument("--repository", required=True)
    p.add_argument("--tag", action="append", required=True, dest="tags")
    p.add_argument("--expect-digest", help="the digest the tags must name in the layout")
    p.add_argument("--insecure", action="append", default=[], help="registries reached over plain http")
    p.add_argument("--ca-file", help="PEM bundle of extra CAs to trust")
    p.add_argument("--refs-file", type=Path, help="record registry/repository@digest here")
    p.add_argument("--request-timeout", type=float, default=60.0, help="seconds a request may stall")
    p.add_argument("--retry-timeout", type=float, default=300.0, help="seconds per operation, retries included")
    p.add_argument("--jobs", type=int, default=4, help="concurrent blob uploads")
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    destination = f"{args.registry}/{args.repository}"
    policy = RetryPolicy(
        total_timeout=args.retry_timeout,
        read_timeout=args.request_timeout,
        connect_timeout=min(15.0, args.request_timeout),
    )
    try:
        Reference(args.registry, args.repository)  # validates both, before any network traffic
        plan = plan_push(args.layout, args.tags, args.registry, args.repository)
        if args.expect_digest and plan.root.descriptor.digest != args.expect_digest:
            raise LayoutError(
                f"the layout's image is {plan.root.descriptor.digest}, not the {args.expect_digest} just built"
            )
        insecure = args.registry in args.insecure
        with RegistryClient(args.registry, insecure=insecure, ca_file=args.ca_file, retry_policy=policy) as client:
            report = push_image(client, args.repository, plan, args.tags, jobs=args.jobs)
            counters = client.counters.snapshot()
    except (RegistryError, ValueError, OSError) as e:  # LayoutError and InvalidReference are ValueErrors
        print(f"{PROG}: {args.target}: cannot publish to {destination}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: {args.target}: interrupted; no tag was moved unless complete, re-run to finish", file=sys.stderr)
        return 130
    print(summary(args.target, destination, report, counters), file=sys.stderr)
    print(report.reference, flush=True)
    if args.refs_file is not None:
        try:
            record_ref(args.refs_file, report.reference)
        except OSError as e:
            print(f"{PROG}: {args.target}: pushed, but cannot record it in {args.refs_file}: {e}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
