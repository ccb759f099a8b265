"""Several integrations in one process (the workflow's integrate_* rules): each run is the
same as on its own, writes its own files, and records its own cost."""

from __future__ import annotations

import numpy as np
import pytest

from fastspami.benchmark.jobs import integrate_batch, read_json
from fastspami.data.contract import read_mudata, write_mudata
from fastspami.data.simulate import simulate

SPAMI = "fastspami.methods.spami_method:integrate"


def _run(name, module, **params):
    job = {"dataset": "toy", "method": name, "variant": "default", "seed": 0}
    return {"module": module, "params": params, "threads": 1, "job": job}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("batch") / "toy.h5mu"
    write_mudata(simulate("rna_adt", grid_size=12, n_rna=120, n_adt=20, seed=0), path)
    return path


def _outputs(tmp_path, names):
    return [
        (tmp_path / f"{n}.h5mu", tmp_path / f"{n}.status.json", tmp_path / f"{n}.log")
        for n in names
    ]


def test_a_run_in_a_batch_equals_the_run_alone(dataset, tmp_path):
    runs = [
        _run("spami", SPAMI, preset="simulated", epochs=20),
        _run("broken", "no_such_module:integrate"),
        _run("pca_concat", "fastspami.methods.controls:integrate_pca_concat"),
        _run("spami_no_cosine", SPAMI, preset="simulated", epochs=20, weights=[1, 1, 10, 10, 0]),
    ]
    names = ["spami", "broken", "pca", "no_cosine"]
    statuses = integrate_batch(
        dataset, runs, _outputs(tmp_path / "batch", names), seed=0, device="cpu"
    )
    assert [s["status"] for s in statuses] == ["ok", "failed", "ok", "ok"]
    assert "no_such_module" in statuses[1]["reason"]
    assert "Traceback" in (tmp_path / "batch" / "broken.log").read_text()

    alone = integrate_batch(
        dataset, runs[-1:], _outputs(tmp_path / "alone", ["no_cosine"]), seed=0, device="cpu"
    )
    assert alone[0]["status"] == "ok"
    in_batch = read_mudata(tmp_path / "batch" / "no_cosine.h5mu").obsm["X_spami"]
    on_its_own = read_mudata(tmp_path / "alone" / "no_cosine.h5mu").obsm["X_spami"]
    np.testing.assert_array_equal(in_batch, on_its_own)


def test_each_run_records_its_cost(dataset, tmp_path):
    runs = [_run("pca_concat", "fastspami.methods.controls:integrate_pca_concat")]
    integrate_batch(dataset, runs, _outputs(tmp_path, ["pca"]), seed=0, device="cpu")
    usage = read_json(tmp_path / "pca.status.json")["usage"]
    assert usage["s"] > 0 and usage["cpu_s"] > 0
    # the process's peak during the run: at least what it held when the run started
    assert usage["max_rss_mb"] >= usage["start_rss_mb"] > 50
