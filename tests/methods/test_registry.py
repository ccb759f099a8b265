"""The method registry: what the config, the rules and the report read about a method."""

from __future__ import annotations

import pytest

from fastspami.errors import ConfigError
from fastspami.methods.registry import (
    complete_config_methods,
    get_method,
    is_control,
    load_entry,
    method_label,
    registered_methods,
    resolve_entry,
    unregister_method,
)


def test_shipped_methods_have_a_label_a_role_an_env_and_an_importable_entry():
    for name, method in registered_methods().items():
        assert method.label and method.role in ("method", "baseline", "control"), name
        assert method.entry.startswith("fastspami.methods."), name
        module = method.entry.partition(":")[0]
        __import__("importlib").util.find_spec(module)  # resolvable without importing baselines
    assert is_control("random_control") and not is_control("smoothing")
    assert method_label("spami", "robust") == "SpaMI (robust preset)"
    assert method_label("spami", "my_variant") == "SpaMI (my_variant)"


def test_configs_written_for_the_old_package_name_keep_working():
    old = "spami.methods.spami_method:integrate"
    assert resolve_entry(old) == "fastspami.methods.spami_method:integrate"
    assert load_entry(old) is load_entry(get_method("spami").entry)
    with pytest.raises(ConfigError, match="fastspami.benchmark.jobs"):
        resolve_entry("spami.benchmark.jobs:anything")


def test_config_methods_are_completed_from_the_registry_or_declared():
    methods = {
        "spami": {"params": {}},
        "seurat": {"threads": 1},
        "mine": {"module": "fixtures.toy_method:integrate", "label": "Mine", "role": "baseline"},
    }
    try:
        complete_config_methods(methods)
        assert methods["spami"]["module"] == get_method("spami").entry
        assert methods["seurat"]["env"] == "seurat"
        assert methods["mine"]["env"] == "spami" and method_label("mine") == "Mine"
        with pytest.raises(ConfigError, match="module"):
            complete_config_methods({"nothing_known": {}})
    finally:
        unregister_method("mine")
