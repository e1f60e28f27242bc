"""Entry point Pants loads for `backend_packages = ["kocache_plugin"]`: rules and target types, nothing else."""

from kocache_plugin import target_types as _target_types
from kocache_plugin.go import (
    analysis,
    binary_spec,
    build,
    build_cache,
    cacheprog_tool,
    git_facts,
    go_process,
    goroot_link,
    modules,
    plugin_tools,
    std_prebuild,
    toolchain,
)
from kocache_plugin.cache import build_records
from kocache_plugin.goals import explain, lock_bases, package, publish
from kocache_plugin.image import archive, assemble, base, base_lock, data_layer_spec, image_spec, layer_tool, layers, push, registry_tool, sbom


def rules():
    return [
        *toolchain.rules(),
        *go_process.rules(),
        *goroot_link.rules(),
        *build_cache.rules(),
        *plugin_tools.rules(),
        *cacheprog_tool.rules(),
        *std_prebuild.rules(),
        *modules.rules(),
        *analysis.rules(),
        *binary_spec.rules(),
        *git_facts.rules(),
        *build.rules(),
        *layer_tool.rules(),
        *layers.rules(),
        *image_spec.rules(),
        *data_layer_spec.rules(),
        *base.rules(),
        *base_lock.rules(),
        *registry_tool.rules(),
        *assemble.rules(),
        *archive.rules(),
        *sbom.rules(),
        *package.rules(),
        *push.rules(),
        *publish.rules(),
        *lock_bases.rules(),
        *build_records.rules(),
        *explain.rules(),
    ]


def target_types():
    return _target_types.target_types()
