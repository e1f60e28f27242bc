"""The synthetic Go monorepo: N services, ~N/5 shared libraries, one data layer per ten images, one base.

Shaped like a real service monorepo so the numbers mean something: every main is an HTTP server
(`net/http`), imports the package `common` and three shared libraries (which import each other, so an edit
reaches mains transitively), and each ten images share a `ko_layer` of static files. Seeded, so a size
always yields the same tree. The edits the scenarios make live here too, next to the code they edit.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

from kobench.base_image import write_base_layout

MODULE_DIR = "gomono"
MODULE_PATH = "bench.example/mono"
BASE_LAYOUT_DIR = "base/layout"
OCI_BASE_REF = f"oci:{BASE_LAYOUT_DIR}"
LIBS_PER_MAIN = 3
MAINS_PER_DATA_LAYER = 10
FUNCS_PER_LIB = 12

_STD_HELPERS = {
    "encoding/json": "func Encode(r Record) string {\n\tb, _ := json.Marshal(r)\n\treturn string(b)\n}\n",
    "strconv": "func Parse(s string) int {\n\tn, _ := strconv.Atoi(s)\n\treturn n\n}\n",
    "crypto/sha256": "func Hash(s string) string {\n\treturn fmt.Sprintf(\"%x\", sha256.Sum256([]byte(s)))\n}\n",
    "time": "func Stamp() string {\n\treturn time.Unix(0, 0).UTC().Format(time.RFC3339)\n}\n",
    "bytes": "func JoinBytes(a, b []byte) []byte {\n\treturn bytes.Join([][]byte{a, b}, []byte(\",\"))\n}\n",
    "unicode": "func Letters(s string) int {\n\tn := 0\n\tfor _, r := range s {\n\t\tif unicode.IsLetter(r) {\n\t\t\tn++\n\t\t}\n\t}\n\treturn n\n}\n",
}
_HELPER_CALLS = {
    "encoding/json": "Encode(Record{Key: \"k\", Score: 1})",
    "strconv": "fmt.Sprint(Parse(\"42\"))",
    "crypto/sha256": "Hash(\"kobench\")",
    "time": "Stamp()",
    "bytes": "string(JoinBytes([]byte(\"a\"), []byte(\"b\")))",
    "unicode": "fmt.Sprint(Letters(\"kobench 1\"))",
}

_REVISION = re.compile(r'^const revision = "[^"\n]*"$', re.M)
_MARKER = re.compile(r"^// Revision marker: .*$", re.M)


@dataclass
class Monorepo:
    """A generated tree, and the edits the scenarios make to it."""

    root: Path
    n: int
    base_ref: str  # what every ko_image's `base` is: OCI_BASE_REF, or "scratch"
    mains: List[str]
    libs: List[str]
    main_libs: Dict[str, List[str]]  # direct imports of shared libraries, per main
    lib_libs: Dict[str, List[str]]  # direct imports of other shared libraries, per library
    data_layers: List[str]
    base_variant: str = "v0"
    _edited_lib: Optional[str] = field(default=None, repr=False)

    @property
    def module_dir(self) -> Path:
        return self.root / MODULE_DIR

    def image_targets(self) -> List[str]:
        return [f"{MODULE_DIR}/cmd/{m}:image" for m in self.mains]

    def importers(self, lib: str) -> Set[str]:
        """Mains whose import closure holds `lib` (the ones an edit of it must rebuild)."""
        return {m for m in self.mains if lib in self._closure(self.main_libs[m])}

    def _closure(self, roots: List[str]) -> Set[str]:
        seen: Set[str] = set()
        stack = list(roots)
        while stack:
            lib = stack.pop()
            if lib not in seen:
                seen.add(lib)
                stack.extend(self.lib_libs[lib])
        return seen

    @property
    def edited_lib(self) -> str:
        """The library scenario 3 edits: the one with the median number of importing mains (a typical edit)."""
        if self._edited_lib is None:
            by_k = sorted(self.libs, key=lambda lib: (len(self.importers(lib)), lib))
            self._edited_lib = by_k[len(by_k) // 2]
        return self._edited_lib

    def edit_shared_library(self, revision: str) -> Tuple[str, int]:
        """Change a constant every importer links: their binaries change. Returns (package, k importers)."""
        lib = self.edited_lib
        path = self.module_dir / "internal" / lib / f"{lib}.go"
        text, count = _REVISION.subn(f'const revision = "{revision}"', path.read_text())
        assert count == 1, f"no revision constant in {path}"
        path.write_text(text)
        return f"internal/{lib}", len(self.importers(lib))

    def edit_common_comment(self, revision: str) -> str:
        """Rewrite one comment line in place (no line moves, so binaries stay byte-identical)."""
        path = self.module_dir / "internal" / "common" / "common.go"
        text, count = _MARKER.subn(f"// Revision marker: {revision}", path.read_text())
        assert count == 1, f"no revision marker in {path}"
        path.write_text(text)
        return "internal/common"

    def change_base(self, variant: str) -> None:
        self.base_variant = variant
        write_base_layout(self.root / BASE_LAYOUT_DIR, variant)


def _lib_source(name: str, deps: List[str], std: List[str]) -> str:
    imports = sorted({"fmt", "sort", "strings", *std})
    lines = [f"// Package {name} is a shared library of the kobench synthetic monorepo.", f"package {name}", "", "import ("]
    lines += [f'\t"{p}"' for p in imports]
    if deps:
        lines.append("")
        lines += [f'\t"{MODULE_PATH}/internal/{d}"' for d in deps]
    lines += [
        ")",
        "",
        "// revision is what scenario 3 of the benchmark edits: every binary that links this package changes.",
        'const revision = "r0"',
        "",
        "// Record is a value the services pass around.",
        "type Record struct {",
        "\tKey   string",
        "\tScore int",
        "}",
        "",
        "// Describe names this package, its revision and its dependencies' (so every importer links them).",
        "func Describe() string {",
        f'\tparts := []string{{fmt.Sprintf("{name}@%s", revision)}}',
    ]
    lines += [f"\tparts = append(parts, {d}.Describe())" for d in deps]
    lines += [f"\tparts = append(parts, {_HELPER_CALLS[p]})" for p in std]
    lines += [f"\tparts = append(parts, fmt.Sprint(Compute{i}(7)))" for i in range(FUNCS_PER_LIB)]
    lines += ["\treturn strings.Join(parts, \" \")", "}", ""]
    lines += [
        "// Rank orders records by score, then key.",
        "func Rank(records []Record) []Record {",
        "\tout := append([]Record(nil), records...)",
        "\tsort.Slice(out, func(i, j int) bool {",
        "\t\tif out[i].Score != out[j].Score {",
        "\t\t\treturn out[i].Score > out[j].Score",
        "\t\t}",
        "\t\treturn out[i].Key < out[j].Key",
        "\t})",
        "\treturn out",
        "}",
        "",
    ]
    for i in range(FUNCS_PER_LIB):
        lines += [
            f"// Compute{i} is busywork, so compiling the package costs something.",
            f"func Compute{i}(n int) int {{",
            "\tacc := 0",
            "\tfor i := 0; i < n; i++ {",
            f"\t\tacc = acc*{31 + i} + i%{3 + i}",
            "\t\tif acc > 1<<20 {",
            f"\t\t\tacc %= {1009 + 2 * i}",
            "\t\t}",
            "\t}",
            "\treturn acc",
            "}",
            "",
        ]
    return "\n".join(lines) + "".join("\n" + _STD_HELPERS[p] for p in std)


_COMMON = """// Package common is imported by every service of the kobench synthetic monorepo.
package common

import "strings"

// Revision marker: r0
// (Scenario 4 of the benchmark rewrites the line above in place: a comment-only edit, binaries unchanged.)

// Banner is the first line every service answers with.
func Banner(service string) string {{
	return strings.ToUpper(service) + " (kobench)"
}}
"""


def _main_source(name: str, libs: List[str]) -> str:
    imports = "\n".join(f'\t"{MODULE_PATH}/internal/{lib}"' for lib in ["common", *libs])
    describe = "\n".join(f"\t\tfmt.Fprintln(w, {lib}.Describe())" for lib in libs)
    return f"""// Command {name} is a service of the kobench synthetic monorepo.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"

{imports}
)

func main() {{
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {{
		fmt.Fprintln(w, common.Banner("{name}"))
{describe}
	}})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {{
		w.WriteHeader(http.StatusNoContent)
	}})
	addr := os.Getenv("ADDR")
	if addr == "" {{
		addr = "127.0.0.1:8080"
	}}
	log.Fatal(http.ListenAndServe(addr, mux))
}}
"""


def _image_build(name: str, data_layer: str, base_ref: str) -> str:
    base = f'\n    base="{base_ref}",' if base_ref != "scratch" else ""
    return f"""ko_binary(name="{name}")

ko_image(
    name="image",
    binary=":{name}",
    layers=["//data/{data_layer}:data"],{base}
    ports=["8080/tcp"],
)
"""


def _write(path: Path, text) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)


def generate(root: Path, n: int, base_ref: str = OCI_BASE_REF, seed: int = 0) -> Monorepo:
    """Write the monorepo for `n` services under `root` (a Pants workspace)."""
    rng = random.Random(f"kobench-{n}-{seed}")
    mains = [f"svc{i:03d}" for i in range(n)]
    libs = [f"lib{i:02d}" for i in range(max(1, n // 5))]
    lib_libs: Dict[str, List[str]] = {}
    for i, lib in enumerate(libs):
        lib_libs[lib] = [libs[rng.randrange(i)]] if i >= 2 and rng.random() < 0.5 else []
    main_libs = {m: sorted(rng.sample(libs, min(LIBS_PER_MAIN, len(libs)))) for m in mains}
    data_layers = [f"data{i:02d}" for i in range((n + MAINS_PER_DATA_LAYER - 1) // MAINS_PER_DATA_LAYER)]

    module = root / MODULE_DIR
    _write(module / "go.mod", f"module {MODULE_PATH}\n\ngo 1.21\n")
    _write(module / "internal/common/common.go", _COMMON)
    std_pool = sorted(_STD_HELPERS)
    for lib in libs:
        _write(module / "internal" / lib / f"{lib}.go", _lib_source(lib, lib_libs[lib], rng.sample(std_pool, 2)))
    for i, main in enumerate(mains):
        _write(module / "cmd" / main / "main.go", _main_source(main, main_libs[main]))
        _write(module / "cmd" / main / "BUILD", _image_build(main, data_layers[i // MAINS_PER_DATA_LAYER], base_ref))
    for layer in data_layers:
        d = root / "data" / layer
        _write(d / "BUILD", 'ko_layer(name="data")\n')
        _write(d / "kodata/index.html", f"<html><body><h1>{layer}</h1>" + "<p>static content</p>" * 200 + "</body></html>\n")
        _write(d / "kodata/config.json", '{"feature_flags": {"a": true, "b": false}, "layer": "%s"}\n' % layer)
        _write(d / "kodata/assets/blob.bin", random.Random(layer).randbytes(128 * 1024))

    repo = Monorepo(root, n, base_ref, mains, libs, main_libs, lib_libs, data_layers)
    repo.change_base("v0")
    return repo
