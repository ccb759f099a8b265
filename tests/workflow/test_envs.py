"""The conda env files: they parse, use the agreed channels, hold what their rules import,
and pin the same versions as requirements.txt (the one source of truth CI installs)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from fastspami.methods.registry import registered_methods

REPO = Path(__file__).resolve().parents[2]
ENVS = sorted((REPO / "envs").glob("*.yaml"))

# What the jobs of each env import (besides the spami package itself).
REQUIRED = {
    "spami": {
        "torch",
        "numpy",
        "scipy",
        "pandas",
        "anndata",
        "mudata",
        "scanpy",
        "squidpy",
        "scikit-learn",
        "rpy2",
        "r-mclust",
        "tqdm",
        "requests",
        "pyyaml",
    },  # fmt: skip
    "seurat": {"rpy2", "r-seurat", "r-mclust", "r-base", "numpy", "scipy", "anndata", "mudata"},
    "mofa": {"mofapy2", "numpy", "scipy", "anndata", "mudata", "scanpy"},
    "spatialglue": {"spatialglue", "torch", "torch_geometric", "scanpy", "scikit-misc"},
    "spami_reference": {"spami", "episcanpy", "pot", "torch", "torch_geometric", "scanpy"},
    "report": {"matplotlib", "scanpy", "pandas", "mudata", "jinja2"},
}


def _requirements() -> dict[str, str]:
    pins = {}
    lines = [
        line
        for name in ("requirements.txt", "requirements-reference.txt")
        for line in (REPO / name).read_text().splitlines()
    ]
    for line in lines:
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[name.lower()] = version
    return pins


def _packages(env: dict) -> dict[str, str | None]:
    """name -> pinned version (None if unpinned) of the conda and pip entries."""
    out: dict[str, str | None] = {}
    for dep in env["dependencies"]:
        entries = dep["pip"] if isinstance(dep, dict) else [dep]
        for entry in entries:
            if entry.startswith("-"):
                continue  # pip options such as --index-url
            name, version = re.match(r"([A-Za-z0-9_.\-]+)\s*(?:==?\s*(\S+))?", entry).groups()
            out[name.lower()] = version
    return out


@pytest.mark.parametrize("path", ENVS, ids=lambda p: p.stem)
def test_env_parses_with_pinned_channels_and_required_packages(path):
    env = yaml.safe_load(path.read_text())
    assert env["channels"] == ["conda-forge", "bioconda", "nodefaults"]
    packages = _packages(env)
    missing = REQUIRED[path.stem] - set(packages)
    assert not missing, f"{path.name} lacks {sorted(missing)}"
    unpinned = [name for name, version in packages.items() if name not in {"pip"} and not version]
    assert not unpinned, f"{path.name}: unpinned {unpinned}"


@pytest.mark.parametrize("path", ENVS, ids=lambda p: p.stem)
def test_env_pins_equal_requirements(path):
    pins = _requirements()
    for name, version in _packages(yaml.safe_load(path.read_text())).items():
        if name in pins:
            assert version == pins[name], f"{path.name}: {name}=={version}, CI has {pins[name]}"


def test_every_env_is_used_and_every_rule_names_one():
    used = set()
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        text = smk.read_text()
        for block in re.split(r"\n(?=(?:local)?rule \w+:)", text):
            if not re.match(r"(?:local)?rule \w+:", block.strip()):
                continue
            assert "conda:" in block, f"{smk.name}: rule without conda: {block.splitlines()[0]}"
        used |= set(re.findall(r"envs/(\w+)\.yaml", text))
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    known = registered_methods()
    used |= {m.get("env") or known[name].env for name, m in config["methods"].items()}
    assert used == {p.stem for p in ENVS}
