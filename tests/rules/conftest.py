"""A RuleRunner with the plugin's rules and the real `go` from PATH (named caches: Pants' default place, shared)."""

from __future__ import annotations

import pytest
from pants.testutil.rule_runner import QueryRule, RuleRunner

from kocache_plugin import register
from kocache_plugin.go.binary_spec import GoBinarySpec, GoBinarySpecRequest
from kocache_plugin.go.build import BuiltGoBinary, GoBuildRequest
from kocache_plugin.image.assemble import BuiltImage, ImageRequest
from kocache_plugin.image.image_spec import KoImageSpec, KoImageSpecRequest

GO_MOD = "module example.com/m\n\ngo 1.21\n"


@pytest.fixture
def rule_runner() -> RuleRunner:
    runner = RuleRunner(
        rules=[
            *register.rules(),
            QueryRule(GoBinarySpec, [GoBinarySpecRequest]),
            QueryRule(BuiltGoBinary, [GoBuildRequest]),
            QueryRule(KoImageSpec, [KoImageSpecRequest]),
            QueryRule(BuiltImage, [ImageRequest]),
        ],
        target_types=register.target_types(),
    )
    runner.set_options([], env_inherit={"PATH"})
    return runner
