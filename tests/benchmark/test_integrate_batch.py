"""Several integrations in one process (the workflow's integrate_* rules): each run is the
same as on its own, writes its own files, and records its own cost."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fastspami._utils.child_process import can_fork
from fastspami.benchmark.jobs import integrate_batch, read_json
from fastspami.data.contract import read_mudata, write_mudata
from fastspami.data.simulation import simulate

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


FIXTURES = Path(__file__).parents[1] / "fixtures"


@pytest.mark.skipif(not can_fork(), reason="runs are isolated in child processes on Linux only")
def test_a_method_that_ends_its_process_fails_only_its_own_run(dataset, tmp_path, monkeypatch):
    """sys.exit (mofapy2 on bad input), os.abort, a segfault, os._exit, KeyboardInterrupt
    from library code: each marks its run failed with the reason; the runs before and after
    it finish, and every run has its .h5mu and status file (what Snakemake expects)."""
    monkeypatch.syspath_prepend(str(FIXTURES))
    toys = ["exit", "abort", "segfault", "hard_exit", "interrupt"]
    runs = [
        _run("pca_before", "fastspami.methods.controls:integrate_pca_concat"),
        *[_run(toy, f"toy_methods:integrate_{toy}") for toy in toys],
        _run("spami", SPAMI, preset="simulated", epochs=5),
    ]
    names = ["pca_before", *toys, "spami"]
    outputs = _outputs(tmp_path, names)
    statuses = integrate_batch(dataset, runs, outputs, seed=0, device="cpu")
    by_name = dict(zip(names, statuses, strict=True))
    assert by_name["pca_before"]["status"] == by_name["spami"]["status"] == "ok"
    reasons = {
        "exit": "SystemExit: the method called sys.exit(3)",
        "abort": "killed by signal SIGABRT (6)",
        "segfault": "killed by signal SIGSEGV (11)",
        "hard_exit": "exited with code 5",
        "interrupt": "raised KeyboardInterrupt",
    }
    for toy, reason in reasons.items():
        assert by_name[toy]["status"] == "failed", toy
        assert reason in by_name[toy]["reason"], by_name[toy]["reason"]
        assert read_json(tmp_path / f"{toy}.status.json")["reason"] == by_name[toy]["reason"]
        assert by_name[toy]["usage"]["s"] > 0
    for h5mu, status, log in outputs:
        assert h5mu.is_file() and status.is_file() and log.is_file()
    assert read_mudata(tmp_path / "abort.h5mu").n_obs == read_mudata(dataset).n_obs
    assert "X_spami" in read_mudata(tmp_path / "spami.h5mu").obsm
    # the crash's own traces are in its run's log, not elsewhere
    assert "Fatal Python error: Segmentation fault" in (tmp_path / "segfault.log").read_text()
    assert not list(tmp_path.glob(".*.tmp*"))


def test_a_run_isolated_equals_the_run_in_process(dataset, tmp_path):
    runs = [_run("spami", SPAMI, preset="simulated", epochs=10)]
    for isolate in (False, True):
        integrate_batch(
            dataset, runs, _outputs(tmp_path / str(isolate), ["spami"]), seed=0, device="cpu",
            isolate=isolate,
        )  # fmt: skip
    in_process = read_mudata(tmp_path / "False" / "spami.h5mu").obsm["X_spami"]
    isolated = read_mudata(tmp_path / "True" / "spami.h5mu").obsm["X_spami"]
    np.testing.assert_array_equal(in_process, isolated)


@pytest.mark.skipif(not can_fork(), reason="runs are isolated in forked processes on Linux")
def test_costs_per_method_do_not_depend_on_the_order_of_the_batch(dataset, tmp_path):
    """The same two runs in both orders: each method's own seconds and its memory above its
    process's start agree within noise. (Run one after the other in one process, the first
    would pay the imports and the warm-up: 1-3 s and hundreds of MB here.)"""
    from fastspami.benchmark.jobs import cost_job

    spami = _run("spami", SPAMI, preset="simulated", epochs=30)
    pca = _run("pca_concat", "fastspami.methods.controls:integrate_pca_concat")
    costs = {}
    for order, runs in (("spami_first", [spami, pca]), ("pca_first", [pca, spami])):
        names = [run["job"]["method"] for run in runs]
        outputs = _outputs(tmp_path / order, names)
        integrate_batch(dataset, runs, outputs, seed=0, device="cpu")
        table = cost_job([status for _, status, _ in outputs], tmp_path / f"{order}.csv")
        costs[order] = table.set_index("method")
    a, b = costs["spami_first"], costs["pca_first"]
    for method in ("spami", "pca_concat"):
        s_a, s_b = a.at[method, "method_s"], b.at[method, "method_s"]
        assert abs(s_a - s_b) <= 0.5 + 0.5 * min(s_a, s_b), (method, s_a, s_b)
        m_a, m_b = a.at[method, "peak_above_start_mb"], b.at[method, "peak_above_start_mb"]
        assert abs(m_a - m_b) <= 40 + 0.3 * min(m_a, m_b), (method, m_a, m_b)
    assert (a["method_s"] > 0).all() and (a["peak_above_start_mb"] >= 0).all()
