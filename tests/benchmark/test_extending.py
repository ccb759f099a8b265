"""Adding a method and a metric touches one module and one registry entry each: a toy
method and a toy metric, registered in one place, run through the benchmark's jobs and
reach the report's tables."""

from __future__ import annotations

import numpy as np
import pytest

from fastspami.benchmark import report
from fastspami.benchmark.jobs import evaluate_job, integrate_job, read_json
from fastspami.data.contract import write_mudata
from fastspami.data.simulation import simulate
from fastspami.methods.registry import Method, get_method, register_method, unregister_method
from fastspami.metrics.registry import Metric, register_metric, unregister_metric


def _largest_cluster_share(truth: np.ndarray, labels: np.ndarray) -> float:
    """Toy metric, lower is better: the share of spots in the largest cluster."""
    return float(np.unique(labels, return_counts=True)[1].max() / len(labels))


@pytest.fixture
def toy_registry():
    register_method(Method("toy", "Toy method", "fixtures.toy_method:integrate", role="baseline"))
    register_metric(
        Metric(
            "toy_share",
            "Largest cluster share",
            True,
            _largest_cluster_share,
            higher_is_better=False,
        )
    )
    yield
    unregister_method("toy")
    unregister_metric("toy_share")


def test_a_registered_toy_method_and_metric_reach_the_report(toy_registry, tmp_path):
    data = tmp_path / "data.h5mu"
    write_mudata(simulate("rna_adt", grid_size=12, seed=1), data)
    job = {
        "dataset": "toy_data",
        "scenario": "rna_adt",
        "noise": 0.5,
        "method": "toy",
        "variant": "default",
        "seed": 0,
    }
    status = integrate_job(
        data,
        tmp_path / "toy.h5mu",
        tmp_path / "toy.json",
        module=get_method("toy").entry,
        params={},
        seed=0,
        threads=1,
        device="cpu",
        job=job,
    )
    assert status["status"] == "ok", status
    out = {
        name: tmp_path / f"{name}.out"
        for name in ("clusters", "clustering", "scores", "morans_i", "attention")
    }
    scores = evaluate_job(
        [tmp_path / "toy.h5mu"],
        [tmp_path / "toy.json"],
        [job],
        out,
        algorithms=["kmeans"],
        n_clusters=None,
        seed=0,
    )
    assert set(scores["metric"]) >= {"ari", "toy_share", "morans_i_median"}
    assert read_json(out["clustering"])["toy/default"]["algorithms"]["kmeans"]["status"] == "ok"

    table = report.summary_table(scores)
    blocks = report.summary_blocks(table, "toy_data")
    header, rows = next((b[1], b[2]) for b in blocks if b[0] == "table")
    assert "Largest cluster share" in header and "ARI" in header
    assert rows[0][0] == "Toy method"
    # the toy metric is ranked in its own direction: the only (lowest) value is bold
    assert rows[0][header.index("Largest cluster share")].startswith("**")
