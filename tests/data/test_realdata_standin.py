"""The documented real-data run (config/real_lymph_node.yaml) on the lymph node A1 stand-in.

The stand-in is the real A1 protein file (3,484 spots, their coordinates and order) and
annotation (10 domains) with SIMULATED RNA for the same spots (fixtures.realdata_standin):
not the published dataset, and named ``human_lymph_node_a1_standin`` with "stand-in" in
its source. It is laid out as Data_SpatialGlue.zip holds the dataset, served by a fake
Zenodo record on 127.0.0.1, and run through the workflow with the shipped registry entry
of human_lymph_node_a1 (its archive members, annotation key, cluster count, SpaMI preset
and published scores): download, convert, SpaMI for a few epochs, scoring, the report's
summary. About a minute on 2 cores.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from fixtures.fake_repository import FakeRepository
from fixtures.realdata_standin import (
    A1_ADT,
    A1_ANNOTATION,
    STANDIN_NOTE,
    read_real,
    write_standin_deposit,
)
from fixtures.source_layouts import zip_folder

from fastspami.data.contract import read_mudata

REPO = Path(__file__).resolve().parents[2]
NAME = "human_lymph_node_a1_standin"


@pytest.mark.slow
def test_lymph_node_standin_runs_from_download_to_the_report(tmp_path):
    top = write_standin_deposit(tmp_path / "source")
    archive = zip_folder(top, tmp_path / "Data_SpatialGlue.zip", "Data_SpatialGlue")
    shipped = yaml.safe_load((REPO / "config" / "datasets.yaml").read_text())
    entry = dict(shipped["datasets"]["human_lymph_node_a1"])
    entry["title"] = entry["title"] + " (stand-in: simulated RNA)"
    entry["source"] = {**entry["source"], "note": STANDIN_NOTE}

    config = yaml.safe_load((REPO / "config" / "real_lymph_node.yaml").read_text())
    config.update(
        seeds=[0],
        datasets=[NAME],
        dataset_registry=str(tmp_path / "registry.yaml"),
        # SpaMI only, 5 epochs (the variant's settings win over the registry's preset)
        methods={
            "spami": {"params": {"preset": "simulated"}, "variants": {"default": {"epochs": 5}}}
        },
        clustering=["kmeans", "leiden"],
    )
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    summary = f"results/report/datasets/{NAME}/summary.md"
    with FakeRepository() as repo:
        repo.add("Data_SpatialGlue.zip", archive.read_bytes())
        registry = {"repositories": repo.api_templates(), "datasets": {NAME: entry}}
        (tmp_path / "registry.yaml").write_text(yaml.safe_dump(registry))
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "snakemake",
                "--snakefile",
                str(REPO / "Snakefile"),
                "--directory",
                str(tmp_path),
                "--configfile",
                str(tmp_path / "config.yaml"),
                "--cores",
                "2",
                summary,
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
        )
    assert done.returncode == 0, done.stderr[-4000:]

    protein = read_real(A1_ADT)
    mdata = read_mudata(tmp_path / "resources" / "datasets" / NAME / f"{NAME}.h5mu")
    assert list(mdata.obs_names) == list(protein.obs_names)  # all 3,484, in order
    assert mdata["adt"].shape == (3484, 31) and mdata["rna"].n_obs == 3484
    truth = mdata.obs["ground_truth"].astype(str)
    assert list(truth) == list(pd.read_csv(A1_ANNOTATION)["manual-anno"])
    assert "stand-in" in mdata.uns["dataset"]["source"]
    assert mdata.uns["dataset"]["n_clusters"] == 10

    integrated = read_mudata(tmp_path / f"results/integrated/{NAME}/spami/default/seed0.h5mu")
    embedding = np.asarray(integrated.obsm["X_spami"])
    assert embedding.shape == (3484, 64) and np.isfinite(embedding).all()
    run = integrated.uns["spami"]
    assert run["preset"] == "paper_default"  # the registry's, under the config's
    assert run["config"]["epochs"] == 5 and run["config"]["preprocess"]["n_top_genes"] == 2000

    scores = pd.read_csv(tmp_path / "results" / "scores.csv")
    ari = scores[(scores["metric"] == "ari") & (scores["dataset"] == NAME)]
    assert set(ari["clustering"]) == {"kmeans", "leiden"} and ari["value"].notna().all()
    text = (tmp_path / summary).read_text()
    assert "## Published by SMOBench (clustering leiden, 10 clusters)" in text
    assert "| SpaMI, this run |" in text
