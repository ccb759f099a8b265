"""Every shipped study config passes the workflow's schema, so a typo fails here, not in a run."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "config" / "schemas" / "config.schema.yaml"
# config/datasets.yaml is the registry of real datasets, not a study
STUDIES = sorted(p for p in (REPO / "config").glob("*.yaml") if p.name != "datasets.yaml")


def test_every_study_config_is_checked():
    names = {p.name for p in STUDIES}
    assert {"config.yaml", "simulation.yaml", "simulation_spami.yaml"} <= names


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.name)
def test_a_shipped_study_config_passes_the_schema(path):
    config = yaml.safe_load(path.read_text())
    validate(config, str(SCHEMA))  # raises WorkflowError naming the key


def test_the_schema_rejects_a_misspelt_key():
    config = yaml.safe_load((REPO / "config" / "simulation_spatialglue.yaml").read_text())
    config["simulation"]["draw"] = 5  # for "draws"
    with pytest.raises(Exception, match="draw"):
        validate(config, str(SCHEMA))
