"""An SPDX 2.3 JSON document for an image: the image, its Go binaries per platform, and their modules.

Deterministic: ordering, identifiers and the creation time come from the inputs alone, so the SBOM is
as reproducible as the image it describes.
"""

from __future__ import annotations

import json
import re
from typing import Dict, List, Sequence, Tuple

from kocache_plugin.sbom.go_buildinfo import BuildInfo, Module

_ID_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")


def _spdx_id(*parts: str) -> str:
    return "SPDXRef-" + "-".join(_ID_UNSAFE.sub("-", p).strip("-") for p in parts if p)


def _purl(module: Module) -> str:
    version = f"@{module.version}" if module.version and module.version != "(devel)" else ""
    return f"pkg:golang/{module.path}{version}"


def _package(spdx_id: str, name: str, version: str, purl: str = "", comment: str = "") -> Dict:
    pkg = {
        "SPDXID": spdx_id,
        "name": name,
        "versionInfo": version or "NOASSERTION",
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "supplier": "NOASSERTION",
    }
    if purl:
        pkg["externalRefs"] = [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": purl}]
    if comment:
        pkg["comment"] = comment
    return pkg


def image_sbom(
    image_name: str, image_digest: str, created: str, binaries: Sequence[Tuple[str, str, BuildInfo]]
) -> bytes:
    """`binaries` are (platform, binary name, build info). Returns the SPDX JSON bytes."""
    image_id = _spdx_id("Image", image_name)
    packages: Dict[str, Dict] = {image_id: _package(image_id, image_name, image_digest, comment="OCI image (kocache)")}
    relationships: List[Dict] = [
        {"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": image_id}
    ]
    for platform, name, info in sorted(binaries, key=lambda b: (b[0], b[1])):
        binary_id = _spdx_id("Binary", name, platform)
        packages[binary_id] = _package(
            binary_id, f"/ko-app/{name} ({platform})", info.main.version, _purl(Module(info.path, info.main.version)),
            comment=f"{info.go_version}; " + " ".join(f"{k}={v}" for k, v in info.settings if k != "DefaultGODEBUG"),
        )
        relationships.append({"spdxElementId": image_id, "relationshipType": "CONTAINS", "relatedSpdxElement": binary_id})
        for dep in info.deps:
            dep_id = _spdx_id("Module", dep.path, dep.version)
            if dep_id not in packages:
                comment = f"go.sum {dep.sum}" + (f"; replaced by {dep.replaced_by}" if dep.replaced_by else "")
                packages[dep_id] = _package(dep_id, dep.path, dep.version, _purl(dep), comment=comment)
            relationships.append({"spdxElementId": binary_id, "relationshipType": "DEPENDS_ON", "relatedSpdxElement": dep_id})
    doc = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": image_name,
        "documentNamespace": f"https://kocache.dev/spdx/{image_name}/{image_digest}",
        "creationInfo": {"created": created, "creators": ["Tool: kocache"]},
        "packages": [packages[k] for k in sorted(packages)],
        "relationships": sorted(relationships, key=lambda r: (r["spdxElementId"], r["relationshipType"], r["relatedSpdxElement"])),
    }
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()
