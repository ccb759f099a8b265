"""One scoring job per dataset and seed: every run clustered and scored, failures marked."""

import json

import pandas as pd
import pytest

from fastspami.benchmark.jobs import CLUSTER_COLUMNS, SCORE_COLUMNS, evaluate_job, integrate_job
from fastspami.data.contract import write_mudata
from fastspami.data.simulation import simulate

RUNS = {
    "pca_concat": "fastspami.methods.controls:integrate_pca_concat",
    "positive_control": "fastspami.methods.controls:integrate_positive",
    "missing": "fastspami.methods.no_such_module:integrate",
}


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("evaluate")
    dataset = tmp / "data.h5mu"
    write_mudata(simulate("rna_adt", noise_sd=0.5, seed=0, grid_size=14), dataset)
    h5mus, statuses, jobs = [], [], []
    for method, module in RUNS.items():
        job = {"dataset": "d", "scenario": "rna_adt", "noise": 0.5}
        job |= {"method": method, "variant": "default", "seed": 0}
        h5mu, status = tmp / f"{method}.h5mu", tmp / f"{method}.status.json"
        integrate_job(
            dataset, h5mu, status, module=module, params={}, seed=0, threads=1,
            device="cpu", job=job,
        )  # fmt: skip
        h5mus.append(h5mu)
        statuses.append(status)
        jobs.append(job)
    out = {
        name: tmp / f"out.{name}.{ext}"
        for name, ext in [("clusters", "tsv"), ("clustering", "json"), ("scores", "csv")]
        + [("morans_i", "csv"), ("attention", "csv")]
    }
    evaluate_job(
        h5mus, statuses, jobs, out, algorithms=["leiden", "kmeans"], n_clusters=None, seed=0
    )
    return out


def test_every_run_has_its_labels_and_scores(evaluated):
    clusters = pd.read_csv(evaluated["clusters"], sep="\t", dtype=str, keep_default_na=False)
    assert list(clusters.columns) == CLUSTER_COLUMNS
    assert set(clusters["method"]) == set(RUNS)
    sizes = clusters.groupby(["method", "clustering"]).size()
    assert len(sizes) == len(RUNS) * 2 and sizes.nunique() == 1  # 196 spots each
    positive = clusters[(clusters["method"] == "positive_control")]
    assert positive.groupby("clustering")["label"].nunique().eq(5).all()

    scores = pd.read_csv(evaluated["scores"])
    assert list(scores.columns) == SCORE_COLUMNS
    ok = scores[scores["method"] != "missing"]
    assert (ok["status"] == "ok").all() and ok["value"].notna().all()
    positive_ari = ok[(ok["method"] == "positive_control") & (ok["metric"] == "ari")]
    assert positive_ari["value"].min() > 0.9


def test_a_failed_run_keeps_its_rows_with_the_reason(evaluated):
    clusters = pd.read_csv(evaluated["clusters"], sep="\t", dtype=str, keep_default_na=False)
    assert clusters.loc[clusters["method"] == "missing", "label"].eq("").all()
    scores = pd.read_csv(evaluated["scores"])
    missing = scores[scores["method"] == "missing"]
    assert len(missing) == 2 * 5  # two clusterings x five metrics, all marked
    assert (missing["status"] == "failed").all() and missing["value"].isna().all()
    assert missing["reason"].str.contains("no_such_module").all()
    details = json.loads(evaluated["clustering"].read_text())
    assert details["missing/default"]["integration_status"] == "failed"
    assert details["pca_concat/default"]["algorithms"]["leiden"]["reached"] is True
