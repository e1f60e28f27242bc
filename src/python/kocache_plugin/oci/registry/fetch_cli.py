"""Command line for the plugin's registry reads, run as a Pants Process (so results land in Pants' store).

    python3 -m kocache_plugin.oci.registry.fetch_cli resolve  --ref R:TAG --platform P... > resolution.json
    python3 -m kocache_plugin.oci.registry.fetch_cli metadata --ref R@DIGEST --platform P... --out DIR
    python3 -m kocache_plugin.oci.registry.fetch_cli blob     --ref R@DIGEST --size N --out DIR

`metadata` writes a small OCI layout (index.json tagged "base"; the root document, each platform's
manifest and config) without layer blobs; `blob` writes one blob. Everything fetched by digest is
verified before it is written. Errors: one line on stderr, exit 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kocache_plugin.oci import media_types
from kocache_plugin.oci.canonical_json import canonical_json
from kocache_plugin.oci.descriptor import Descriptor
from kocache_plugin.oci.digest import blob_path
from kocache_plugin.oci.layout import INDEX_FILE, OCI_LAYOUT_FILE, ref_name_annotation
from kocache_plugin.oci.platform import Platform
from kocache_plugin.oci.registry.client import RegistryClient
from kocache_plugin.oci.registry.errors import RegistryError
from kocache_plugin.oci.registry.reference import Reference

LAYOUT_TAG = "base"


def _client(ref: Reference, args) -> RegistryClient:
    return RegistryClient(ref.registry, insecure=ref.registry in args.insecure, ca_file=args.ca_file)


def _write(out: Path, digest: str, data: bytes) -> None:
    path = out / blob_path(digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def resolve(args) -> None:
    ref = Reference.parse(args.ref)
    client = _client(ref, args)
    platforms = {}
    root = None
    for p in args.platform:
        resolution = client.resolve(ref, Platform.parse(p))
        root = resolution.root
        platforms[p] = resolution.manifest.to_json()
    if root is None:
        data, media_type, digest = client.get_manifest(ref.repository, ref.identifier)
        root = Descriptor(media_type, digest, len(data))
    print(json.dumps({"root": root.to_json(), "platforms": platforms}, sort_keys=True))


def metadata(args) -> None:
    ref = Reference.parse(args.ref)
    if not ref.digest:
        raise SystemExit(f"kocache-fetch: {args.ref} has no digest; metadata is fetched by digest only")
    client = _client(ref, args)
    out = Path(args.out)
    data, media_type, digest = client.get_manifest(ref.repository, ref.digest)
    _write(out, digest, data)
    for p in args.platform:
        manifest = client.resolve(ref, Platform.parse(p)).manifest
        if manifest.digest != digest:
            m_data, _, m_digest = client.get_manifest(ref.repository, manifest.digest)
            _write(out, m_digest, m_data)
        else:
            m_data = data
        config = Descriptor.from_json(json.loads(m_data)["config"])
        _write(out, config.digest, client.get_blob_bytes(ref.repository, config.digest))
    root = Descriptor(media_type, digest, len(data), annotations=(ref_name_annotation(LAYOUT_TAG),))
    (out / OCI_LAYOUT_FILE).write_bytes(canonical_json({"imageLayoutVersion": "1.0.0"}))
    (out / INDEX_FILE).write_bytes(
        canonical_json({"schemaVersion": 2, "mediaType": media_types.OCI_INDEX, "manifests": [root.to_json()]})
    )


def blob(args) -> None:
    ref = Reference.parse(args.ref)
    out = Path(args.out) / blob_path(ref.digest)
    out.parent.mkdir(parents=True, exist_ok=True)
    _client(ref, args).get_blob(ref.repository, ref.digest, out, size=args.size)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="kocache-fetch")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("resolve", "metadata", "blob"):
        p = sub.add_parser(name)
        p.add_argument("--ref", required=True)
        p.add_argument("--insecure", action="append", default=[], help="registries reached over plain http")
        p.add_argument("--ca-file", help="PEM bundle of extra CAs to trust")
        if name != "blob":
            p.add_argument("--platform", action="append", default=[])
        if name != "resolve":
            p.add_argument("--out", required=True)
        if name == "blob":
            p.add_argument("--size", type=int, required=True)
    args = parser.parse_args(argv)
    try:
        {"resolve": resolve, "metadata": metadata, "blob": blob}[args.command](args)
    except (RegistryError, ValueError, OSError) as e:
        print(f"kocache-fetch: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
