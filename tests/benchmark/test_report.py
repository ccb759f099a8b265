"""fastspami.benchmark.report: summary, significance and cost tables; the report of a finished workflow run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from fastspami.benchmark import report

REPO = Path(__file__).resolve().parents[2]
TEST_CONFIG = REPO / "tests" / "workflow" / "test_config.yaml"


def score_rows(dataset, method, variant, seeds, values, status="ok", reason=""):
    """Tidy score rows of one method: ``values`` = {metric: [value per seed]}."""
    return [
        {
            "dataset": dataset,
            "scenario": "sim",
            "noise": 1.0,
            "method": method,
            "variant": variant,
            "seed": seed,
            "clustering": "leiden",
            "metric": metric,
            "value": per_seed[i],
            "status": status,
            "reason": reason,
        }
        for metric, per_seed in values.items()
        for i, seed in enumerate(seeds)
    ]


@pytest.fixture
def scores():
    return pd.DataFrame(
        score_rows("d", "spami", "default", [0, 1], {"ari": [0.70, 0.72], "nmi": [0.8, 0.8]})
        + score_rows("d", "mofa", "default", [0, 1], {"ari": [0.50, 0.60], "nmi": [0.9, 0.9]})
        + score_rows("d", "positive_control", "default", [0, 1], {"ari": [1, 1], "nmi": [1, 1]})
        + score_rows(
            "d",
            "seurat",
            "default",
            [0, 1],
            {"ari": [np.nan] * 2, "nmi": [np.nan] * 2},
            "unavailable",
            "MethodUnavailableError: R | Seurat not found",
        )
    )


def test_format_mean_sd():
    assert report.format_mean_sd(0.71234, 0.03149) == "0.712 ± 0.031"
    assert report.format_mean_sd(0.71234, np.nan) == "0.712"  # one seed: no spread
    assert report.format_mean_sd(np.nan, np.nan) == ""
    assert report.format_mean_sd(123.456, 7.89, 1) == "123.5 ± 7.9"


def test_summary_table_means_and_statuses(scores):
    table = report.summary_table(scores).set_index("method")
    assert table.loc["spami", "ari_mean"] == pytest.approx(0.71)
    assert table.loc["spami", "ari_sd"] == pytest.approx(np.std([0.70, 0.72], ddof=1))
    assert table.loc["seurat", "status"] == "unavailable"
    assert "Seurat not found" in table.loc["seurat", "reason"]
    assert list(table.index) == ["spami", "mofa", "seurat", "positive_control"]


def test_summary_markdown_bolds_the_best_method_not_the_control(scores):
    table = report.summary_table(scores)
    markdown = report.to_markdown(report.summary_blocks(table, "d"))
    lines = {line.split(" | ")[0].lstrip("| "): line for line in markdown.splitlines()}
    assert "**0.710 ± 0.014**" in lines["SpaMI"]  # best ARI; the control's 1.0 does not count
    assert "**0.900 ± 0.000**" in lines["MOFA+"]  # best NMI
    assert "**" not in lines["Positive control"]
    seurat = lines["Seurat WNN"]
    assert seurat.count("unavailable") >= 3  # two metric cells and the note
    assert seurat.endswith("| unavailable (1) |")  # a short status; the reason in note 1
    assert "1. Seurat WNN: unavailable (MethodUnavailableError: R \\| Seurat not found)" in (
        markdown
    )  # a pipe in a reason cannot break the table


def test_one_note_per_method_and_reason_under_the_tables(scores):
    """A failure repeated in every clustering's table (and by several variants) is one
    note; the cells give a short status and the note's number; the reason is shortened."""
    long = "ValueError: " + "the graph has no edge between these spots " * 10
    traceback = "RuntimeError: CUDA out of memory Traceback (most recent call last): File x"
    extra = pd.DataFrame(
        score_rows("d", "spami", "robust", [0, 1], {"ari": [np.nan] * 2}, "failed", long)
        + score_rows("d", "spami", "concat", [0, 1], {"ari": [np.nan] * 2}, "failed", long)
        + score_rows("d", "mofa", "default", [0], {"ari": [np.nan]}, "failed", traceback)
    )
    both = pd.concat([scores, extra], ignore_index=True)
    both = pd.concat([both, both.assign(clustering="kmeans")], ignore_index=True)
    blocks = report.summary_blocks(report.summary_table(both), "RNA + protein, noise sd 1")
    notes = [b for b in blocks if b[0] == "notes"]
    assert len(notes) == 1
    lines = notes[0][1]  # numbered in the order of the rows
    assert len(lines) == 3  # SpaMI's (two variants), MOFA+'s partial failure, Seurat's
    assert lines[0].startswith(
        "SpaMI (concatenation, no attention), SpaMI (robust preset): failed (ValueError: the graph"
    )
    assert len(lines[0].split(": failed ")[1]) < 200 and lines[0].endswith("…)")
    assert lines[1] == "MOFA+: partial (1 of 2 runs: RuntimeError: CUDA out of memory)"
    assert lines[2] == "Seurat WNN: unavailable (MethodUnavailableError: R | Seurat not found)"
    tables = [b for b in blocks if b[0] == "table"]
    assert len(tables) == 2  # leiden and kmeans: the notes are listed once for both
    for _, _, rows in tables:
        cells = {row[0]: row[-1] for row in rows}
        assert (
            cells["SpaMI (robust preset)"]
            == cells["SpaMI (concatenation, no attention)"]
            == "failed (1)"
        )
        assert cells["MOFA+ (partial)"] == "partial (2)"
        assert cells["Seurat WNN"] == "unavailable (3)"
        assert cells["SpaMI"] == ""
    html = report.to_html(blocks)
    assert html.count("<li>") == 3 and "Traceback" not in html


def test_short_reason_keeps_one_line_without_traceback():
    text = "Traceback (most recent call last):\n  File 'x', line 1\nKeyError: 'spatial'"
    assert report.short_reason(text) == "KeyError: 'spatial'"
    assert report.short_reason("ConfigError: two modalities\nsee the docs") == (
        "ConfigError: two modalities"
    )
    assert report.short_reason("a " * 200, length=20) == "a a a a a a a a a a…"
    assert report.short_reason(None) == ""


def test_partially_failed_method_keeps_its_values(scores):
    partial = scores.copy()
    broken = (partial["method"] == "mofa") & (partial["seed"] == 1)
    partial.loc[broken, ["value", "status", "reason"]] = [np.nan, "failed", "boom"]
    row = report.summary_table(partial).set_index("method").loc["mofa"]
    assert row["status"] == "partial" and row["reason"].startswith("1 of 2 runs")
    assert row["ari_mean"] == pytest.approx(0.5)


def test_a_partial_row_is_marked_not_bolded(scores):
    partial = scores.copy()
    broken = (partial["method"] == "mofa") & (partial["seed"] == 1)
    partial.loc[broken, ["value", "status", "reason"]] = [np.nan, "failed", "boom"]
    markdown = report.to_markdown(report.summary_blocks(report.summary_table(partial), "d"))
    lines = {line.split(" | ")[0].lstrip("| "): line for line in markdown.splitlines()}
    assert "**" not in lines["MOFA+ (partial)"]  # best NMI (0.9), but on one seed of two
    assert "**0.800" in lines["SpaMI"]  # the best NMI of the methods that ran every seed
    assert "never bold" in markdown


def test_tables_are_written_as_csv_markdown_and_html(scores, tmp_path):
    table = report.summary_table(scores)
    blocks = report.summary_blocks(
        table, "d", reference={"values": {"spami": {"ari": 0.81}}, "figure": "Fig 3B"}
    )
    paths = [tmp_path / f"summary.{ext}" for ext in ("csv", "md", "html")]
    report.write_table(table, blocks, *paths)
    assert pd.read_csv(paths[0])["method"].tolist() == table["method"].tolist()
    assert "## Published in the paper" in paths[1].read_text()
    html = paths[2].read_text()
    assert "<b>0.710 ± 0.014</b>" in html and "**" not in html


def test_published_scores_are_shown_beside_this_runs_for_the_same_clustering(scores):
    """A registry 'published' set (e.g. SMOBench's) gets a row per method for the source
    and one for this run's mean of the same clustering; a metric this benchmark does not
    compute (another Moran's I) shows the source's number alone, and a 'beside' metric
    shows this run's in a column of its own."""
    morans = score_rows("d", "spami", "default", [0, 1], {"morans_i_median": [0.4, 0.6]})
    table = report.summary_table(pd.concat([scores, pd.DataFrame(morans)], ignore_index=True))
    reference = {
        "published": [
            {
                "source": "SMOBench",
                "clustering": "leiden",
                "n_clusters": 10,
                "note": "one run per method",
                "values": {"spami": {"nmi": 0.381, "ari": 0.192}, "mofa": {"ari": 0.1}},
            },
            {
                "source": "SMOBench",
                "clustering": "mclust",  # this run has no mclust scores
                "values": {"spami": {"ari": 0.185}},
            },
            {
                "source": "SMOBench",
                "clustering": "leiden",
                "metrics": {"moran_numbers": "Moran's I of cluster numbers"},
                "beside": ["morans_i_median"],
                "values": {"spami": {"moran_numbers": 0.76}},
            },
        ]
    }
    markdown = report.to_markdown(report.summary_blocks(table, "d", reference=reference))
    leiden, mclust, moran = markdown.split("## Published by ")[1:]
    assert leiden.startswith("SMOBench (clustering leiden, 10 clusters)")
    assert "one run per method" in leiden
    assert "| Method | ARI | NMI |" in leiden  # the summary's order, not the registry's
    assert "| SpaMI, this run | 0.710 ± 0.014 | 0.800 ± 0.000 |" in leiden
    assert "| SpaMI, SMOBench | 0.192 | 0.381 |" in leiden
    assert "| MOFA+, this run | 0.550 ± 0.071 | 0.900 ± 0.000 |" in leiden
    assert "| MOFA+, SMOBench | 0.100 |  |" in leiden
    assert "this run" not in mclust and "| SpaMI, SMOBench | 0.185 |" in mclust
    assert "| Method | Moran's I (median) | Moran's I of cluster numbers |" in moran
    assert "| SpaMI, this run | 0.500 ± 0.141 | – |" in moran
    assert "| SpaMI, SMOBench |  | 0.760 |" in moran


def test_noise_sweep_table_has_every_run_at_every_noise_level():
    rows = []
    for noise, spami, mofa in [(0.5, [0.9, 0.8], [0.6, 0.6]), (2.0, [0.5, 0.7], [0.2, 0.4])]:
        for method, variant, values in [
            ("spami", "default", spami),
            ("spami", "no_cosine", [v - 0.1 for v in spami]),
            ("mofa", "default", mofa),
        ]:
            for row in score_rows("d", method, variant, [0, 1], {"ari": values}):
                rows.append({**row, "dataset": f"sim-noise{noise}", "noise": noise})
    failed = score_rows("d", "seurat", "default", [0, 1], {"ari": [np.nan] * 2}, "failed", "x")
    failed = [{**row, "noise": noise} for row in failed for noise in (0.5, 2.0)]
    table = report.noise_sweep_table(pd.DataFrame(rows + failed), metrics=["ari"])

    assert len(table) == 8  # 4 runs x 2 noise levels; the failed method has no mean
    assert table.loc[table["method"] == "seurat", "mean"].isna().all()
    low = table.set_index(["method", "variant", "noise"]).loc[("spami", "default", 2.0)]
    assert low["mean"] == pytest.approx(0.6) and low["sd"] == pytest.approx(
        np.std([0.5, 0.7], ddof=1)
    )
    assert low["n_runs"] == 2 and low["spread"] == "seeds"
    markdown = report.to_markdown(report.noise_sweep_blocks(table, "sim"))
    assert "| Method | noise sd 0.5 | noise sd 2 | Runs |" in markdown
    assert "| SpaMI (w/o cosine loss) | 0.75 ± 0.07 | 0.50 ± 0.14 | 2 |" in markdown
    assert "| Seurat WNN | failed | failed | 2 |" in markdown  # kept, with its status


def test_noise_sweep_keeps_methods_that_do_not_apply_and_says_where_runs_failed():
    rows = []
    for noise in (0.5, 2.0):
        for method, values in (("spami", [0.9, 0.8, 0.7]), ("mofa", [0.5, 0.5, 0.5])):
            for row in score_rows("d", method, "default", [0, 1, 2], {"ari": values}):
                rows.append({**row, "dataset": f"sim-noise{noise}", "noise": noise})
        na = score_rows("d", "spatialglue", "default", [0, 1, 2], {"ari": [np.nan] * 3})
        rows += [{**r, "noise": noise, "status": "not_applicable"} for r in na]
    scores = pd.DataFrame(rows)
    failed = (scores["method"] == "spami") & (scores["noise"] == 2.0) & (scores["seed"] == 2)
    scores.loc[failed, ["value", "status"]] = [np.nan, "failed"]
    table = report.noise_sweep_table(scores, metrics=["ari"])

    spami = table[table["method"] == "spami"].set_index("noise")
    assert spami["n_runs"].tolist() == [3, 2] and spami["status"].tolist() == ["ok", "partial"]
    markdown = report.to_markdown(report.noise_sweep_blocks(table, "sim"))
    assert "| SpaMI | 0.80 ± 0.10 | 0.85 ± 0.07 (2 of 3 runs) | 3 |" in markdown
    assert "| SpatialGlue | n/a | n/a | 3 |" in markdown


def test_significance_pairs_datasets_after_averaging_seeds():
    """Seeds share a dataset's data draw and MOFA+ repeats one value: datasets are the pairs."""
    rows = []
    rng = np.random.default_rng(0)
    for dataset in ("a-noise0.5", "a-noise2", "b-noise0.5", "b-noise2", "c-noise1"):
        for seed in range(3):
            for method, base in (("spami", 0.8), ("mofa", 0.5)):
                noise = rng.normal(0, 0.01) if method == "spami" else 0.0
                rows += score_rows(dataset, method, "default", [seed], {"ari": [base + noise]})
    rows += score_rows("a-noise0.5", "spatialglue", "default", [0, 1, 2], {"ari": [np.nan] * 3})
    for row in rows[-3:]:
        row.update(status="not_applicable", reason="ConfigError: 3 modalities")
    table = report.significance_table(pd.DataFrame(rows), metrics=["ari"])

    mofa = table.set_index("method").loc["mofa"]
    assert mofa["n_pairs"] == 5  # five datasets, not 15 (dataset, seed) pairs
    assert mofa["p_value"] == pytest.approx(0.0625)  # the smallest p five pairs can give
    assert mofa["mean_difference"] == pytest.approx(0.3, abs=0.02)
    spatialglue = table.set_index("method").loc["spatialglue"]  # n/a: kept, with a note
    assert spatialglue["note"] == "no test (spatialglue n/a on every draw)"
    markdown = report.to_markdown(report.significance_blocks(table))
    assert "| leiden | ARI | MOFA+ | 5 | +0.29" in markdown
    assert "| leiden | ARI | SpatialGlue | 0 |" in markdown
    assert "no p is below 0.0625" in markdown


def test_noise_sweep_averages_seeds_within_draws_and_spreads_over_draws():
    rows = []
    # two draws at one level; seeds vary around each draw's own value
    for dataset, level in (("sim-noise1-draw0", 0.4), ("sim-noise1-draw1", 0.8)):
        rows += score_rows(
            dataset, "spami", "default", [0, 1, 2], {"ari": [level - 0.01, level, level + 0.01]}
        )
    table = report.noise_sweep_table(pd.DataFrame(rows), metrics=["ari"])
    cell = table.iloc[0]
    assert cell["n_draws"] == 2 and cell["n_runs"] == 6 and cell["spread"] == "draws"
    assert cell["mean"] == pytest.approx(0.6)
    assert cell["sd"] == pytest.approx(np.std([0.4, 0.8], ddof=1))  # over the 2 draw means
    markdown = report.to_markdown(report.noise_sweep_blocks(table, "sim"))
    assert "| SpaMI | 0.60 ± 0.28 | 2 × 3 |" in markdown


def test_significance_holm_adjusts_across_every_clustering_and_metric():
    rows = []
    rng = np.random.default_rng(1)
    for draw in range(6):
        for clustering in ("leiden", "kmeans"):
            for seed in (0, 1):
                values = {"ari": [0.8 + rng.normal(0, 0.01)], "nmi": [0.7 + rng.normal(0, 0.01)]}
                for row in score_rows(f"sim-noise1-draw{draw}", "spami", "default", [seed], values):
                    rows.append({**row, "clustering": clustering})
                for row in score_rows(
                    f"sim-noise1-draw{draw}",
                    "mofa",
                    "default",
                    [seed],
                    {"ari": [0.5], "nmi": [0.5]},
                ):
                    rows.append({**row, "clustering": clustering})
    table = report.significance_table(pd.DataFrame(rows), metrics=["ari", "nmi"])
    assert len(table) == 4 and (table["n_pairs"] == 6).all()  # 6 draws, not 12 runs
    np.testing.assert_allclose(table["p_value"], 2 / 2**6)
    np.testing.assert_allclose(table["p_holm"], 4 * 2 / 2**6)  # 4 tests together, not 1
    markdown = report.to_markdown(report.significance_blocks(table))
    assert "across every test of this table" in markdown and "over the table's 4 tests" in markdown


def test_paper_check_sets_the_published_number_beside_the_draws():
    rows = []
    for draw, ari in enumerate((0.9, 0.95, 1.0)):
        for clustering in ("tutorial", "leiden"):
            for row in score_rows(
                f"rna_adt-noise0.5-draw{draw}", "spami", "default", [0, 1], {"ari": [ari, ari]}
            ):
                rows.append({**row, "noise": 0.5, "clustering": clustering})
        rows += [
            {**r, "noise": 2.0}
            for r in score_rows(
                f"rna_adt-noise2-draw{draw}", "spami", "default", [0], {"ari": [0.0]}
            )
        ]
    reference = {
        "source": "SpaMI Tutorial 4",
        "noise": 0.5,
        "method": "spami",
        "clustering": "tutorial",
        "values": {"ari": 0.963},
    }
    table = report.paper_check_table(pd.DataFrame(rows), reference)
    assert table["row"].tolist() == ["leiden", "tutorial", "published"]
    tutorial = table.set_index("row").loc["tutorial"]
    assert tutorial["n_draws"] == 3 and tutorial["ari_mean"] == pytest.approx(0.95)
    assert table.set_index("row").loc["published", "ari_mean"] == 0.963
    markdown = report.to_markdown(report.paper_check_blocks(table, "rna_adt", reference))
    assert "| tutorial | 3 | 0.950 ± 0.050 |" in markdown
    assert "| published (tutorial) | 1 | 0.963 |" in markdown


def test_significance_without_the_reference_is_an_empty_table(scores):
    table = report.significance_table(scores[scores["method"] != "spami"])
    assert table.empty
    assert "No test" in report.to_markdown(report.significance_blocks(table))


def test_cost_table_per_method_and_size():
    cost = pd.DataFrame(
        {
            "dataset": ["a", "a", "b", "b"],
            "method": "spami",
            "variant": "default",
            "seed": [0, 1, 0, 1],
            "s": [10.0, 12.0, 100.0, 1.0],
            "max_rss_mb": [500.0, 520.0, 900.0, 50.0],
            "status": ["ok", "ok", "ok", "failed"],
        }
    )
    table = report.cost_table(report.cost_with_sizes(cost, {"a": 100, "b": 2000}))
    assert table[["n_spots", "n_runs", "n_failed"]].values.tolist() == [[100, 2, 0], [2000, 1, 1]]
    assert table["seconds_mean"].tolist() == [11.0, 100.0]  # an older table: wall seconds
    markdown = report.to_markdown(report.cost_blocks(table))
    assert "| SpaMI | 2,000 | 1 | 100.0 | 900 | 1 |" in markdown


def test_cost_table_does_not_count_a_method_that_does_not_apply_as_failed():
    cost = pd.DataFrame(
        {
            "dataset": ["two", "three"],
            "method": "spatialglue",
            "variant": "default",
            "seed": 0,
            "s": [5.0, np.nan],
            "max_rss_mb": [300.0, np.nan],
            "status": ["ok", "not_applicable"],
        }
    )
    table = report.cost_table(report.cost_with_sizes(cost, {"two": 400, "three": 900}))
    assert table[["n_spots", "n_runs", "n_failed"]].values.tolist() == [[400, 1, 0], [900, 0, 0]]
    markdown = report.to_markdown(report.cost_blocks(table))
    assert "| SpatialGlue | 900 | 0 | n/a | n/a |  |" in markdown


def test_run_labels_explain_failures(tmp_path):
    ok, failed = tmp_path / "ok.status.json", tmp_path / "failed.status.json"
    ok.write_text(json.dumps({"status": "ok", "reason": "", "method": "a", "variant": "v"}))
    failed.write_text(
        json.dumps(
            {"status": "not_applicable", "reason": "ConfigError: 3 mods", "method": "b"}
            | {"variant": "v"}
        )
    )
    tsv = tmp_path / "clusters.tsv"
    tsv.write_text(
        "spot\tmethod\tvariant\tclustering\tlabel\n"
        "s1\ta\tv\tleiden\t0\ns2\ta\tv\tleiden\t1\n"
        "s1\ta\tv\tkmeans\t\ns2\ta\tv\tkmeans\t\n"
        "s1\tb\tv\tleiden\t\ns2\tb\tv\tleiden\t\n"
    )
    labels = report.run_labels(tsv, [ok, failed], "leiden")
    assert labels[0].tolist() == ["0", "1"]
    assert labels[1] == "n/a: ConfigError: 3 mods"
    assert "kmeans clustering failed" in report.run_labels(tsv, [ok], "kmeans")[0]


def test_modality_titles_of_single_modality_variants():
    modalities = ["rna", "adt"]
    assert report.modality_title({"params": {"modalities": ["rna"]}}, modalities) == "RNA only"
    excluded = {"params": {"exclude_modalities": ["rna"]}}
    assert report.modality_title(excluded, modalities) == "protein only"
    assert report.modality_title({"params": {}}, modalities) == "RNA + protein"


def test_empty_results_file_reads_as_an_empty_table(tmp_path):
    path = tmp_path / "attention.csv"
    path.write_text("")
    table = report.read_results(path, "d")
    assert table.empty and "dataset" in table


# ---------------------------------------------------------------- end to end


def snakemake(workdir: Path, *args: str, timeout: int = 1800):
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
    return subprocess.run(
        [*command, "--directory", str(workdir), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ),
        cwd=workdir,
    )


@pytest.mark.slow
def test_report_bundles_every_figure_and_table(tmp_path):
    """Run the test study, then ``snakemake --report``: every declared result is inside."""
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["simulation"]["noise_levels"] = [0.5, 1.0]  # a noise sweep to draw
    config["methods"]["spami"]["variants"]["robust"] = {"preset": "robust"}  # a preset
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    run = snakemake(tmp_path, "--cores", "2", "--configfile", str(configfile))
    assert run.returncode == 0, run.stderr[-5000:]

    made = sorted(
        p.relative_to(tmp_path).as_posix() for p in (tmp_path / "results/report").rglob("*.*")
    )
    dataset = "results/report/datasets/rna_adt-noise1-draw0"
    figures = ["domain_maps", "embedding_umaps", "metric_bars", "morans_boxplots"]
    figures += ["denoising_maps", "attention_by_domain"]  # SpaMI is in the test study
    expected = {f"{dataset}/{name}.{ext}" for name in figures for ext in ("png", "svg")}
    expected |= {f"{dataset}/summary.{ext}" for ext in ("csv", "md", "html")}
    expected |= {"results/report/simulation/rna_adt/metric_vs_noise.png"}
    expected |= {f"results/report/simulation/rna_adt/noise_sweep.{e}" for e in ("csv", "md")}
    expected |= {"results/report/ablation/rna_adt.png"}  # SpaMI has two variants
    expected |= {f"results/report/{name}.html" for name in ("cost", "significance")}
    expected |= {"results/report/index.html"}  # the reader's page
    assert expected <= set(made), sorted(expected - set(made))
    check_reader_page(tmp_path / "results/report")

    html = tmp_path / "report.html"
    result = snakemake(tmp_path, "--configfile", str(configfile), "--report", str(html))
    assert result.returncode == 0, result.stderr[-5000:]
    text = html.read_text()
    declared = [p for p in made if p.endswith((".png", ".html")) and "index.html" not in p]
    missing = [p for p in declared if p not in text]
    assert not missing, missing
    assert "SpaMI benchmark" in text  # the workflow description
    summary = (tmp_path / dataset / "summary.md").read_text()
    assert "| SpaMI |" in summary and "±" in summary
    sweep = pd.read_csv(tmp_path / "results/report/simulation/rna_adt/noise_sweep.csv")
    spami_ari = sweep[(sweep["method"] == "spami") & (sweep["metric"] == "ari")]
    assert sorted(spami_ari["noise"].unique()) == [0.5, 1.0]
    assert spami_ari["mean"].between(-1, 1).all() and spami_ari["n_runs"].ge(1).all()


def check_reader_page(root: Path) -> None:
    """results/report/index.html: every figure PNG of the report on the page, each with
    its caption directly under it, every summary table inline, plain names only."""
    import re

    from PIL import Image

    page = (root / "index.html").read_text()
    figures = re.findall(r"<img [^>]*src='([^']+)'[^>]*>\s*<figcaption>(.*?)</figcaption>", page)
    assert len(figures) == page.count("<img ")  # no image without its caption
    shown = {src for src, _ in figures}
    made = {p.relative_to(root).as_posix() for p in root.rglob("*.png")}
    assert shown == made, sorted(shown ^ made)
    captions = dict(figures)
    dataset = "datasets/rna_adt-noise1-draw0"
    assert captions[f"{dataset}/domain_maps.png"].startswith(
        "<p>Spatial domains of each method on RNA + protein, noise sd 1 (seed 0, leiden"
    )
    assert "metric_bars" not in captions[f"{dataset}/metric_bars.png"]
    assert all(len(text) > 80 for text in captions.values())
    assert page.count("Clustering: leiden") == 2  # each level's summary table, inline
    # the reader's names: no dataset id, scenario key or issue number outside file paths
    visible = re.sub(r"<[^>]+>", " ", re.sub(r"<code>.*?</code>", "", page))
    for internal in ("rna_adt", "noise1-draw0", "issue", "partition"):
        assert internal not in visible, internal
    for src in shown:  # PNGs of a reasonable size, none wider than a page at 96 px/inch
        with Image.open(root / src) as image:
            assert image.size[0] / image.info["dpi"][0] <= 14.5, src
        assert (root / src).stat().st_size < 1_500_000, src
