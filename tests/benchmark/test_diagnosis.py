"""The diagnosis of SpaMI's modality use (issue #10): result_from_mudata, diagnosis_tables,
pl.diagnosis_figure, report.diagnosis_report and the workflow's rule report_diagnosis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mudata
import numpy as np
import pandas as pd
import pytest
import yaml

from fastspami import pl
from fastspami.benchmark import report
from fastspami.benchmark.diagnosis import diagnosis_tables, result_from_mudata
from fastspami.data.contract import write_mudata
from fastspami.methods.contract import store_result

REPO = Path(__file__).resolve().parents[2]
TEST_CONFIG = REPO / "tests" / "workflow" / "test_config.yaml"


def read_h5mu(path: Path) -> mudata.MuData:
    with mudata.set_options(pull_on_update=False):
        return mudata.read_h5mu(path)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny complementary simulation, SpaMI's result on it, and the result's .h5mu."""
    from fastspami.data.simulation import simulate
    from fastspami.methods.spami_method import integrate

    mdata = simulate("complementary_rna_adt", grid_size=12, seed=0)
    result = integrate(mdata, preset="simulated", epochs=20, seed=0, threads=1, progress=False)
    folder = tmp_path_factory.mktemp("diagnosis")
    dataset = folder / "dataset.h5mu"
    write_mudata(mdata.copy(), dataset)
    integrated = folder / "integrated.h5mu"
    store_result(result, mdata.copy()).write(integrated)
    return mdata, result, dataset, integrated


@pytest.fixture(scope="module")
def tables(trained):
    mdata, result, _, integrated = trained
    stored = result_from_mudata(read_h5mu(integrated))
    return diagnosis_tables(mdata, {"default": stored, "robust": result}, seed=0)


def test_result_from_mudata_round_trips(trained):
    _, result, _, integrated = trained
    stored = result_from_mudata(read_h5mu(integrated))
    assert stored.method == "spami"
    np.testing.assert_allclose(stored.embedding, result.embedding, rtol=1e-6)
    assert list(stored.modality_embeddings) == list(result.modality_embeddings)
    for name, z in result.modality_embeddings.items():
        np.testing.assert_allclose(stored.modality_embeddings[name], z, rtol=1e-6)
    np.testing.assert_allclose(stored.attention, result.attention, rtol=1e-6)
    assert stored.attention_modalities == list(result.attention_modalities) == ["rna", "adt"]
    history = result.uns["loss_history"]
    assert set(stored.uns["loss_history"]) == set(history)
    for term, values in history.items():
        np.testing.assert_allclose(stored.uns["loss_history"][term], values, rtol=1e-6)
    assert stored.uns["epochs_run"] == result.uns["epochs_run"] == 20


def test_result_from_mudata_names_a_missing_embedding(trained):
    from fastspami.errors import InputDataError

    mdata = trained[0]
    with pytest.raises(InputDataError, match="X_spami"):
        result_from_mudata(mdata)


def test_diagnosis_tables(tables):
    scores, attention, history = tables
    assert list(scores.columns) == [
        "variant",
        "embedding",
        "annotation",
        "n_clusters",
        "ari",
        "probe",
    ]
    assert list(attention.columns) == ["variant", "annotation", "group", "modality", "mean_weight"]
    assert list(history.columns) == ["variant", "epoch", "term", "value"]
    for table in tables:
        assert list(dict.fromkeys(table["variant"])) == ["default", "robust"]
    assert set(scores["embedding"]) == {"integrated", "Z:rna", "Z:adt"}
    assert set(scores["annotation"]) == {"ground_truth", "partition_a", "partition_b"}
    # the stored and the in-memory result give the same numbers
    by_variant = [
        rows.drop(columns="variant").reset_index(drop=True)
        for _, rows in scores.groupby("variant", sort=False)
    ]
    pd.testing.assert_frame_equal(*by_variant, atol=1e-3)
    truth = attention[(attention["variant"] == "default") & (attention["annotation"] == "all")]
    assert truth["mean_weight"].sum() == pytest.approx(1.0, abs=1e-4)
    assert sorted(set(history["epoch"])) == [1, 11, 20]


def test_diagnosis_figure(tables, tmp_path):
    figure = pl.diagnosis_figure(*tables, notes={"other": "failed: boom"})
    assert len(figure.axes) >= 3
    pl.save_figure(figure, tmp_path / "d.png", tmp_path / "d.svg")
    assert (tmp_path / "d.png").stat().st_size > 0 and (tmp_path / "d.svg").stat().st_size > 0
    one = [t[t["variant"] == "default"] for t in tables]
    assert len(pl.diagnosis_figure(*one).axes) >= 3
    empty = pl.diagnosis_figure(*(t.iloc[:0] for t in tables), notes={"default": "failed: x"})
    text = " ".join(t.get_text() for ax in empty.axes for t in ax.texts).replace("\n", " ")
    assert "No run to diagnose" in text and "default: failed: x" in text


def test_diagnosis_report_leaves_failed_variants_out(trained, tmp_path, monkeypatch):
    import fastspami.benchmark.diagnosis

    # the scores themselves are tested above: here only what the report makes of them
    monkeypatch.setattr(fastspami.benchmark.diagnosis, "leiden_ari", lambda *args, **kwargs: 0.5)
    monkeypatch.setattr(
        fastspami.benchmark.diagnosis, "probe_accuracy", lambda *args, **kwargs: 0.75
    )
    _, _, dataset, integrated = trained
    ok = tmp_path / "ok.status.json"
    ok.write_text(json.dumps({"status": "ok", "reason": ""}))
    failed = tmp_path / "failed.status.json"
    failed.write_text(json.dumps({"status": "failed", "reason": "RuntimeError: boom"}))

    figure, table, blocks = report.diagnosis_report(
        dataset, [integrated, integrated], [ok, failed], ["default", "robust"], name="comp"
    )
    assert len(figure.axes) >= 3
    assert set(table.loc[table["status"] == "ok", "variant"]) == {"default"}
    left_out = table[table["variant"] == "robust"]
    assert len(left_out) == 1 and "boom" in left_out["note"].iloc[0]
    markdown = report.to_markdown(blocks)
    assert "## SpaMI\n" in markdown and "SpaMI (robust preset) is left out" in markdown
    assert "partition" not in markdown  # the reader's names of the annotations
    assert "domains RNA sees" in markdown and "domains protein sees" in markdown
    assert "0.500 (0.750)" in markdown
    out = [tmp_path / f"d.{ext}" for ext in ("csv", "md", "html")]
    report.write_table(table, blocks, *out)
    assert pd.read_csv(out[0])["variant"].tolist().count("default") == 9

    figure, table, blocks = report.diagnosis_report(
        dataset, [integrated], [failed], ["default"], name="comp"
    )
    assert table["status"].tolist() == ["failed"]
    texts = " ".join(t.get_text() for ax in figure.axes for t in ax.texts)
    assert "boom" in texts


def test_dry_run_plans_diagnosis_for_complementary_datasets_only(tmp_path):
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["simulation"]["scenarios"]["comp"] = {
        "scenario": "complementary_rna_adt",
        "grid_size": 12,
    }
    config["methods"]["spami"]["variants"]["robust"] = {"preset": "robust"}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-n",
            "--snakefile",
            str(REPO / "Snakefile"),
            "--directory",
            str(tmp_path),
            "--configfile",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ),
        cwd=tmp_path,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    counts = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    assert counts.get("report_diagnosis") == 1
    assert "results/report/datasets/comp-noise1-draw0/diagnosis.png" in output
    assert "results/integrated/comp-noise1-draw0/spami/robust/seed0.h5mu" in output
    assert "rna_adt-noise1-draw0/diagnosis" not in output
