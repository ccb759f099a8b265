"""The Snakemake workflow: config validation, lint, dry runs, and one small end-to-end run.

The end-to-end test (marked slow) runs tests/workflow/test_config.yaml in a temporary working
directory, with one extra method that always raises, to check that a failing method marks
its own cells and leaves every other result in place.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from fastspami.benchmark.jobs import (
    COST_COLUMNS,
    SCORE_COLUMNS,
    failure_status,
    resolve_modalities,
)
from fastspami.errors import ConfigError, MethodUnavailableError

REPO = Path(__file__).resolve().parents[2]
TEST_CONFIG = REPO / "tests" / "workflow" / "test_config.yaml"
BROKEN_METHOD = """
def integrate(mdata, *, seed, threads, device, **params):
    raise RuntimeError("this method always fails")
"""


def snakemake(workdir: Path, *args: str, env: dict | None = None, timeout: int = 600):
    """Run the repository's workflow in ``workdir``; return the finished process."""
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        *args,
    ]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=workdir,
    )


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def dry_run(workdir: Path, config: dict):
    """``snakemake -n`` of the workflow with ``config`` (written to workdir/c.yaml)."""
    return snakemake(workdir, "-n", "--configfile", str(write_config(workdir / "c.yaml", config)))


# ---------------------------------------------------------------- helpers of fastspami.benchmark.jobs


def test_resolve_modalities_keeps_file_order_and_names_missing_modality():
    names = ["rna", "adt", "atac"]
    assert resolve_modalities({"lr": 1}, names) == {"lr": 1}
    assert resolve_modalities({"modalities": ["atac", "rna"]}, names)["modalities"] == [
        "rna",
        "atac",
    ]
    assert resolve_modalities({"exclude_modalities": ["rna"]}, names) == {
        "modalities": ["adt", "atac"]
    }
    with pytest.raises(ConfigError, match="atac"):
        resolve_modalities({"exclude_modalities": ["atac"]}, ["rna", "adt"])
    with pytest.raises(ConfigError, match="no modality left"):
        resolve_modalities({"exclude_modalities": ["rna", "adt"]}, ["rna", "adt"])


def test_failure_status_classifies_exceptions():
    class NotApplicableError(Exception):
        pass

    assert failure_status(ConfigError("three modalities"))["status"] == "not_applicable"
    assert failure_status(NotApplicableError("no"))["status"] == "not_applicable"
    assert failure_status(MethodUnavailableError("no R"))["status"] == "unavailable"
    failed = failure_status(RuntimeError("boom\n  on two lines" + "x" * 400))
    assert failed["status"] == "failed"
    assert failed["reason"].startswith("RuntimeError: boom on two lines")
    assert len(failed["reason"]) < 330


# ---------------------------------------------------------------- config validation, lint, DAG


def test_misspelt_config_key_fails_naming_it(tmp_path):
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["methods"]["spami"]["parmas"] = config["methods"]["spami"].pop("params")
    result = dry_run(tmp_path, config)
    assert result.returncode != 0
    assert "parmas" in result.stdout + result.stderr


def test_misspelt_spami_setting_fails_before_any_job(tmp_path):
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["methods"]["spami"]["variants"]["no_cosine"]["epoch"] = 50
    result = dry_run(tmp_path, config)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "variant no_cosine" in output and "Unknown SpaMI setting(s) ['epoch']" in output


def test_a_device_torch_cannot_use_everywhere_is_refused(tmp_path):
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["device"] = "mps"  # SpaMI would have trained on the CPU, SpatialGlue failed
    result = dry_run(tmp_path, config)
    assert result.returncode != 0
    assert "'mps' does not match" in result.stdout + result.stderr


def test_bad_method_name_fails(tmp_path):
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["methods"]["pca/concat"] = config["methods"].pop("pca_concat")
    result = dry_run(tmp_path, config)
    assert result.returncode != 0
    assert "pca/concat" in result.stdout + result.stderr


@pytest.mark.parametrize(
    "config",
    [
        None,
        "tests/workflow/test_config.yaml",
        "config/real_lymph_node.yaml",  # one real dataset (docs/real_data.md)
        # 7,000+ jobs: about a minute to build
        pytest.param("config/simulation.yaml", marks=pytest.mark.slow),
    ],
)
def test_dry_run_builds_the_dag(tmp_path, config):
    args = ["-n", "--quiet", "rules"] + (["--configfile", str(REPO / config)] if config else [])
    result = snakemake(tmp_path, *args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "integrate_spami" in result.stdout + result.stderr


def _planned_jobs(result) -> dict[str, int]:
    """{rule: count} from the job-stats table of a dry run."""
    counts = {}
    for line in (result.stdout + result.stderr).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    return counts


def test_run_on_restricts_a_variant_to_its_scenarios(tmp_path):
    config = yaml.safe_load(TEST_CONFIG.read_text())
    scenarios = config["simulation"]["scenarios"]
    scenarios["rna_atac"] = {"scenario": "rna_atac", "grid_size": 18}
    config["methods"]["spami"]["variants"]["no_cosine"]["run_on"] = ["rna_atac"]
    result = dry_run(tmp_path, config)
    assert result.returncode == 0, result.stderr[-3000:]
    # one job per dataset, seed and conda env: spami default + pca_concat on rna_adt,
    # the same + no_cosine on rna_atac (a batch, and so a rule, of its own)
    jobs = _planned_jobs(result)
    assert jobs["integrate_spami"] == 1
    assert jobs["integrate_spami_rna_atac"] == 1
    assert "integrate" not in jobs
    assert jobs["score"] == 2  # one per dataset and seed

    config["methods"]["spami"]["variants"]["no_cosine"]["run_on"] = ["rna_atc"]
    result = dry_run(tmp_path, config)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "rna_atc" in output and "run_on" in output


def test_a_scenario_can_have_its_own_noise_levels(tmp_path):
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["simulation"]["noise_levels"] = [0.5, 1.0, 2.0]
    scenarios = config["simulation"]["scenarios"]
    scenarios["comp"] = {"scenario": "complementary_rna_adt", "grid_size": 18}
    scenarios["comp"]["noise_levels"] = [0.5]
    result = dry_run(tmp_path, config)
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert _planned_jobs(result)["simulate"] == 3 + 1
    assert "comp-noise0.5" in output and "comp-noise1" not in output
    # a noise sweep figure only for the scenario simulated at several levels
    assert "simulation/rna_adt/metric_vs_noise.png" in output
    assert "simulation/comp/metric_vs_noise.png" not in output


def test_maps_show_every_preset_and_the_page_comes_last(tmp_path):
    """A variant that sets ``preset`` (robust) is drawn in the maps and UMAPs beside the
    default; an ablation (no_cosine) is not. The reader's page is part of the default
    target and waits for every figure and table."""
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["methods"]["spami"]["variants"]["robust"] = {"preset": "robust"}
    result = dry_run(tmp_path, config)
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    maps = output.split("rule report_maps:")[1].split("\n")[1]
    assert maps.lstrip().startswith("input:")
    assert "spami/default/seed0.status.json" in maps and "spami/robust/seed0.status.json" in maps
    assert "no_cosine" not in maps
    page = output.split("rule report_index:")[1].split("\n")[1]
    assert "domain_maps.png" in page and "summary.html" in page and "domain_maps.rst" in page
    assert _planned_jobs(result)["report_index"] == 1


def test_reproduction_panel_only_where_both_spamis_run(tmp_path):
    config = yaml.safe_load(TEST_CONFIG.read_text())
    result = dry_run(tmp_path, config)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "report/reproduction.png" not in result.stdout + result.stderr
    config["methods"]["spami_reference"] = {
        "module": "fastspami.methods.spami_reference:integrate",
        "env": "spami_reference",
        "params": {"epochs": 5},
    }
    result = dry_run(tmp_path, config)
    assert result.returncode == 0, result.stderr[-3000:]
    assert _planned_jobs(result)["report_reproduction"] == 1
    assert _planned_jobs(result)["integrate_spami_reference"] == 1  # a conda env of its own


def test_lint_is_clean():
    result = snakemake(REPO, "--lint")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


# ---------------------------------------------------------------- end to end


def test_bench_rule_writes_the_scaling_table(tmp_path):
    """``snakemake bench`` with the config's `bench` settings (the harness's own options)."""
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["bench"] = {
        "sizes": [300],
        "full_epochs": 0,
        "epochs_timed": 1,
        "feature_dims": [6, 4],
        "threads": 1,
    }
    configfile = write_config(tmp_path / "config.yaml", config)
    result = snakemake(tmp_path, "bench", "--cores", "1", "--configfile", str(configfile))
    assert result.returncode == 0, result.stderr[-5000:]
    table = pd.read_csv(tmp_path / "results" / "bench" / "scaling.csv")
    assert len(table) == 1 and table.loc[0, "feature_dims"] == "6+4"
    assert table.loc[0, "threads"] == 1
    assert table.loc[0, "epoch_s"] > 0 and table.loc[0, "epoch_over_gemm_all"] > 0
    assert (tmp_path / "results" / "bench" / "scaling.png").is_file()


def test_a_dataset_of_ones_own_is_integrated_and_scored_without_download(tmp_path):
    """A registry entry with layout h5mu: its file is checked at parse time, then used as is."""
    from fastspami.data.simulation import simulate

    registry = write_config(
        tmp_path / "registry.yaml",
        {"datasets": {"mine": {"layout": "h5mu", "n_clusters": 3}}},
    )
    config = {
        "seeds": [0],
        "threads": 1,
        "dataset_registry": str(registry),
        "datasets": ["mine"],
        "simulation": {"noise_levels": [1.0], "scenarios": {}},
        "methods": {"pca_concat": {"module": "fastspami.methods.controls:integrate_pca_concat"}},
        "clustering": ["kmeans"],
    }
    configfile = write_config(tmp_path / "config.yaml", config)
    result = snakemake(tmp_path, "-n", "--configfile", str(configfile))
    assert result.returncode != 0
    assert "resources/datasets/mine/mine.h5mu does not exist" in result.stdout + result.stderr

    target = tmp_path / "resources" / "datasets" / "mine" / "mine.h5mu"
    target.parent.mkdir(parents=True)
    simulate("rna_adt", grid_size=10, n_rna=60, n_adt=10, seed=0).write(target)
    scores = "results/scores/mine/seed0.csv"
    result = snakemake(tmp_path, scores, "--cores", "1", "--configfile", str(configfile))
    assert result.returncode == 0, result.stderr[-5000:]
    output = result.stdout + result.stderr
    assert "download_dataset" not in output and "convert_dataset" not in output
    table = pd.read_csv(tmp_path / scores)
    ari = table[(table.method == "pca_concat") & (table.metric == "ari")]["value"]
    assert len(ari) == 1 and 0.0 < ari.iloc[0] <= 1.0


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """Run the test study plus an always-failing method; return the working directory."""
    workdir = tmp_path_factory.mktemp("workflow")
    (workdir / "broken_method.py").write_text(BROKEN_METHOD)
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["methods"]["broken"] = {"module": "broken_method:integrate"}
    # the reduced sweep of the evaluation issue: 2 noise levels x 2 seeds
    config["simulation"]["noise_levels"] = [0.5, 1.0]
    config["seeds"] = [0, 1]
    configfile = write_config(workdir / "config.yaml", config)
    # The tables only: the report rules have their own tests.
    tables = [f"results/{name}.csv" for name in ("scores", "cost", "morans_i", "attention")]
    result = snakemake(
        workdir,
        *tables,
        "--cores",
        "2",
        "--configfile",
        str(configfile),
        env={"PYTHONPATH": str(workdir)},
    )
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir, config


@pytest.mark.slow
def test_scores_table_is_complete(finished_run):
    workdir, config = finished_run
    scores = pd.read_csv(workdir / "results" / "scores.csv")
    assert list(scores.columns) == SCORE_COLUMNS
    n_variants = sum(len(m.get("variants", {"default": {}})) for m in config["methods"].values())
    metrics = {"ari", "ami", "nmi", "homogeneity", "morans_i_median"}
    n_runs = n_variants * len(config["seeds"]) * 2  # two noise levels
    assert len(scores) == n_runs * len(config["clustering"]) * len(metrics)
    assert set(scores["metric"]) == metrics
    assert set(scores["clustering"]) == set(config["clustering"])
    assert set(scores["dataset"]) == {"rna_adt-noise0.5-draw0", "rna_adt-noise1-draw0"}
    assert set(scores["noise"]) == {0.5, 1.0}
    assert set(scores["seed"]) == set(config["seeds"])
    cell = ["dataset", "method", "variant", "seed", "clustering", "metric"]
    assert not scores.duplicated(cell).any()

    working = scores[scores["method"] != "broken"]
    assert (working["status"] == "ok").all(), working[working["status"] != "ok"]
    required = [c for c in SCORE_COLUMNS if c != "reason"]
    assert not working[required].isna().any().any()
    assert working["value"].between(-1, 1).all()
    # the positive signal is there: SpaMI and PCA find the simulated domains
    ari = working[working["metric"] == "ari"]
    assert ari["value"].max() > 0.3


@pytest.mark.slow
def test_failing_method_marks_its_cells(finished_run):
    workdir, _ = finished_run
    scores = pd.read_csv(workdir / "results" / "scores.csv")
    broken = scores[scores["method"] == "broken"]
    assert len(broken) > 0
    assert (broken["status"] == "failed").all()
    assert broken["value"].isna().all()
    assert broken["reason"].str.contains("this method always fails").all()
    status = json.loads(
        (
            workdir / "results/integrated/rna_adt-noise1-draw0/broken/default/seed0.status.json"
        ).read_text()
    )
    assert status["status"] == "failed"
    log = workdir / "logs/integrate/rna_adt-noise1-draw0/broken/default/seed0.log"
    assert "Traceback" in log.read_text()


@pytest.mark.slow
def test_cost_and_side_tables(finished_run):
    workdir, config = finished_run
    cost = pd.read_csv(workdir / "results" / "cost.csv")
    assert list(cost.columns) == COST_COLUMNS
    n_variants = sum(len(m.get("variants", {"default": {}})) for m in config["methods"].values())
    assert len(cost) == n_variants * len(config["seeds"]) * 2
    assert (cost["s"] > 0).all()
    assert cost.loc[cost["method"] != "broken", "max_rss_mb"].gt(0).all()

    morans = pd.read_csv(workdir / "results" / "morans_i.csv")
    assert {"clustering", "cluster", "morans_i"} <= set(morans.columns)
    assert set(morans["method"]) == {"spami", "pca_concat"}
    attention = pd.read_csv(workdir / "results" / "attention.csv")
    assert set(attention["method"]) == {"spami"}

    clusters = pd.read_csv(workdir / "results/clusters/rna_adt-noise1-draw0/seed0.tsv", sep="\t")
    assert list(clusters.columns) == ["spot", "method", "variant", "clustering", "label"]
    details = json.loads((workdir / "results/clusters/rna_adt-noise1-draw0/seed0.json").read_text())
    assert details["spami/default"]["n_clusters"] == 5  # four spatial factors and background
    kmeans = clusters[
        (clusters["method"] == "spami")
        & (clusters["variant"] == "default")
        & (clusters["clustering"] == "kmeans")
    ]
    n_spots = clusters["spot"].nunique()
    assert len(kmeans) == n_spots
    assert kmeans["label"].nunique() == 5
    # one block of labels per run and clustering, every run of the dataset there
    runs = clusters.groupby(["method", "variant", "clustering"]).size()
    assert (runs == n_spots).all()
    assert len(runs) == len(details) * len(config["clustering"])


# ---------------------------------------------------------------- issue 31: reliability


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"epochs": 0}, "epochs must be an integer >= 1, got 0."),
        ({"lr": 0}, "lr must be a finite number > 0, got 0."),
        ({"lr": -0.001}, "lr must be a finite number > 0, got -0.001."),
        ({"lr": "1e-3"}, "lr must be a finite number > 0, got '1e-3', text rather than"),
        ({"weights": [0, 0, 0, 0, 0]}, "weights are all 0"),
        ({"weights": [1, -1, 10, 10, 5]}, "weights must be finite numbers >= 0"),
        ({"weights": [1, 1, 10, 10]}, "weights must have 5 entries"),
        ({"tile_spots": -5}, "tile_spots must be an integer >= 1 (or null for none), got -5."),
        ({"modalities": ["rna", "rna"]}, "modalities names ['rna'] more than once"),
        ({"dropout": 1.5}, "dropout must be a finite number in [0, 1), got 1.5."),
    ],
    ids=lambda value: str(value)[:30] if isinstance(value, dict) else "",
)
def test_a_bad_variant_setting_stops_the_dry_run(tmp_path, setting, message):
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["methods"]["spami"]["variants"]["no_cosine"].update(setting)
    result = dry_run(tmp_path, config)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"methods.spami (variant no_cosine, dataset rna_adt-noise1-draw0): {message}" in output
    assert "Traceback" not in output


def test_a_modality_named_twice_stops_the_dry_run_for_any_method(tmp_path):
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["methods"]["pca_concat"]["variants"] = {"twice": {"modalities": ["adt", "adt"]}}
    result = dry_run(tmp_path, config)
    assert result.returncode != 0
    assert "methods.pca_concat (variant twice" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("threads", 0, "0 is less than the minimum of 1"),
        ("seeds", [-1], "-1 is less than the minimum of 0"),
        ("device", "gpu", "'gpu' does not match"),
    ],
)
def test_bad_run_options_stop_the_dry_run(tmp_path, key, value, message):
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config[key] = value
    result = dry_run(tmp_path, config)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr


@pytest.mark.slow
def test_methods_that_exit_or_abort_cost_only_their_own_cells(tmp_path):
    """sys.exit (mofapy2 on bad input) and os.abort in the same batch as SpaMI: the run
    ends with every table and the report's tables; SpaMI's cells are scored, theirs are
    failed with the reason."""
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["simulation"]["scenarios"]["rna_adt"].update(grid_size=12, n_rna=100, n_adt=20)
    config["methods"]["spami"]["params"]["epochs"] = 30
    config["methods"]["spami"]["variants"] = {"default": {}}
    config["methods"]["exits"] = {"module": "toy_methods:integrate_exit"}
    config["methods"]["aborts"] = {"module": "toy_methods:integrate_abort"}
    configfile = write_config(tmp_path / "config.yaml", config)
    tables = ["scores", "cost", "morans_i", "attention"]
    report = ["datasets/rna_adt-noise1-draw0/summary.md", "cost.md"]
    result = snakemake(
        tmp_path,
        *(f"results/{name}.csv" for name in tables),
        *(f"results/report/{name}" for name in report),
        "--cores",
        "2",
        "--configfile",
        str(configfile),
        env={"PYTHONPATH": str(REPO / "tests" / "fixtures")},
    )
    assert result.returncode == 0, result.stderr[-5000:]
    scores = pd.read_csv(tmp_path / "results" / "scores.csv")
    assert set(scores["method"]) == {"spami", "pca_concat", "exits", "aborts"}
    scored = scores[scores["method"].isin(["spami", "pca_concat"])]
    assert (scored["status"] == "ok").all() and scored["value"].notna().all()
    reasons = {
        "exits": "SystemExit: the method called sys.exit(3)",
        "aborts": "the method's process was killed by signal SIGABRT (6)",
    }
    for method, reason in reasons.items():
        cells = scores[scores["method"] == method]
        assert len(cells) > 0 and (cells["status"] == "failed").all()
        assert cells["value"].isna().all()
        assert cells["reason"].str.startswith(reason).all(), cells["reason"].iloc[0]
    cost = pd.read_csv(tmp_path / "results" / "cost.csv").set_index("method")
    assert cost.loc["spami", "status"] == "ok" and cost.loc["aborts", "status"] == "failed"
    summary = (tmp_path / "results/report/datasets/rna_adt-noise1-draw0/summary.md").read_text()
    assert "aborts" in summary and "failed" in summary
    assert (tmp_path / "results/report/cost.md").is_file()
