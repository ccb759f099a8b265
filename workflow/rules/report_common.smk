"""Settings and input functions of the report rules (workflow/rules/report.smk).

Kept apart from the rules (Snakemake's linter asks for it) and, like common.smk, free of
spami imports.
"""

from types import SimpleNamespace

REPORT_METHOD = "spami"
REPORT_SEED = config["seeds"][0]
REPORT_CLUSTERING = (
    "leiden" if "leiden" in config["clustering"] else config["clustering"][0]
)
REPORT_SCENARIOS = list(config.get("simulation", {}).get("scenarios", {}))
# scenarios simulated at two or more noise levels: those with a metric-vs-noise figure
REPORT_NOISE_SWEEPS = [
    scenario
    for scenario in REPORT_SCENARIOS
    if len({e["noise"] for e in SIMULATED.values() if e["scenario"] == scenario}) > 1
]
# scenarios with a published number to show beside (config: scenarios.<name>.reference)
REPORT_PAPER_CHECKS = [
    name
    for name, settings in config.get("simulation", {}).get("scenarios", {}).items()
    if settings.get("reference")
]
REPORT_FIGURE_EXTS = ("png", "svg")
REPORT_TABLE_EXTS = ("csv", "md", "html")
REPORT_ENV = "../../envs/report.yaml"


def primary_variant(method):
    """The variant shown for a method beside the others: 'default', else its first."""
    variants = list(config["methods"][method]["variants"])
    return "default" if "default" in variants else variants[0]


REPORT_SHOWN = [(method, primary_variant(method)) for method in config["methods"]]
REPORT_SPAMI_VARIANTS = config["methods"].get(REPORT_METHOD, {}).get("variants", {})
REPORT_SINGLE_MODALITY = [
    variant
    for variant, params in REPORT_SPAMI_VARIANTS.items()
    if {"modalities", "exclude_modalities"} & set(params)
]
# SpaMI's run shown in the denoising figure, and its single-modality variants beside it
REPORT_SPAMI_RUN = (
    [(REPORT_METHOD, primary_variant(REPORT_METHOD))] if REPORT_SPAMI_VARIANTS else []
)
REPORT_SPAMI_PANELS = (
    [(REPORT_METHOD, v) for v in REPORT_SINGLE_MODALITY] + REPORT_SPAMI_RUN
    if REPORT_SINGLE_MODALITY
    else []
)
# SpaMI's variants compared in the diagnosis figure (issue #10), those the config has
REPORT_DIAGNOSIS_VARIANTS = ("default", "robust")
REPORT_DIAGNOSIS_RUNS = [
    (REPORT_METHOD, v) for v in REPORT_DIAGNOSIS_VARIANTS if v in REPORT_SPAMI_VARIANTS
]


def _has_ablations(subject):
    """Whether SpaMI runs in two or more variants on a scenario or real dataset."""
    datasets = [d for d in DATASETS if dataset_group(d) == subject]
    return any(
        len(runs_here(d, [(REPORT_METHOD, v) for v in REPORT_SPAMI_VARIANTS])) > 1
        for d in datasets
    )


REPORT_ABLATION_SUBJECTS = [s for s in [*REPORT_SCENARIOS, *REAL] if _has_ablations(s)]

# the reproduction panel (issue #30): our SpaMI beside the authors' code, where the config
# runs both on some dataset
REPORT_REPRODUCTION_RUNS = [(REPORT_METHOD, "default"), ("spami_reference", "default")]
REPORT_REPRODUCTION = all(
    method in config["methods"] and variant in config["methods"][method]["variants"]
    for method, variant in REPORT_REPRODUCTION_RUNS
) and any(
    len(runs_here(d, REPORT_REPRODUCTION_RUNS)) == len(REPORT_REPRODUCTION_RUNS)
    for d in DATASETS
)


def report_run_list(runs):
    """Params function: the (method, variant) pairs of ``runs`` that ran on the dataset."""
    return lambda wildcards: runs_here(wildcards.dataset, runs)


def report_runs(pattern, runs):
    """Input function: ``pattern`` of each (method, variant) of ``runs`` at the report seed."""

    def files(wildcards):
        return [
            pattern.format(
                dataset=wildcards.dataset, method=m, variant=v, seed=REPORT_SEED
            )
            for m, v in runs_here(wildcards.dataset, runs)
        ]

    return files


def report_clusters(pattern):
    """Input function: the dataset's clusters table (every run) at the report seed."""
    return lambda wildcards: pattern.format(dataset=wildcards.dataset, seed=REPORT_SEED)


def report_category(wildcards):
    """A dataset's report category: its simulation scenario, or the real dataset."""
    entry = SIMULATED.get(wildcards.dataset)
    return (
        f"Simulation {entry['scenario']}" if entry else f"Dataset {wildcards.dataset}"
    )


def report_subcategory(wildcards):
    entry = SIMULATED.get(wildcards.dataset)
    if not entry:
        return "Figures and tables"
    return f"noise {noise_label(entry['noise'])}, draw {entry['draw']}"


def report_labels(name, paper):
    return {"figure": name, "paper": paper}


def dataset_markers(wildcards):
    """Marker features of a real dataset ({modality: [names]}) from the registry, if any."""
    return REAL.get(wildcards.dataset, {}).get("markers") or {}


def dataset_reference(wildcards):
    """Published numbers of a real dataset (registry 'reference'), if any."""
    return REAL.get(wildcards.dataset, {}).get("reference") or {}


def scenario_reference(wildcards):
    """A scenario's published number (config: simulation.scenarios.<name>.reference)."""
    return config["simulation"]["scenarios"][wildcards.scenario]["reference"]


def has_figures(dataset):
    """Per-dataset figures: every real dataset, and the first data draw of each simulated
    scenario and level (the other draws have their summary table and enter every
    across-dataset table and figure, but drawing each would multiply the report by draws).
    """
    return SIMULATED.get(dataset, {}).get("draw", 0) == 0


def is_complementary(dataset):
    """Whether a dataset is simulated by a complementary scenario (two partitions)."""
    scenario = SIMULATED.get(dataset, {}).get("kwargs", {}).get("scenario", "")
    return str(scenario).startswith("complementary")


def report_targets():
    """Every figure and table of the report: what ``rule all`` asks for."""
    per_dataset = []
    for dataset in filter(has_figures, DATASETS):
        figures = ["domain_maps", "embedding_umaps", "metric_bars", "morans_boxplots"]
        if REPORT_SPAMI_RUN and runs_here(dataset, REPORT_SPAMI_RUN):
            figures += ["denoising_maps", "attention_by_domain"]
        panels = runs_here(dataset, REPORT_SPAMI_PANELS)
        if len(panels) > 1 and panels[-1] == REPORT_SPAMI_RUN[0]:
            figures.append("single_vs_integrated_maps")
        if is_complementary(dataset) and runs_here(dataset, REPORT_DIAGNOSIS_RUNS):
            per_dataset += expand(
                "results/report/datasets/{dataset}/diagnosis.{ext}",
                dataset=dataset,
                ext=(*REPORT_FIGURE_EXTS, *REPORT_TABLE_EXTS),
            )
        per_dataset += expand(
            "results/report/datasets/{dataset}/{figure}.{ext}",
            dataset=dataset,
            figure=figures,
            ext=REPORT_FIGURE_EXTS,
        )
    return [
        *per_dataset,
        *expand(
            "results/report/datasets/{dataset}/summary.{ext}",
            dataset=DATASETS,
            ext=REPORT_TABLE_EXTS,
        ),
        *expand(
            "results/report/simulation/{scenario}/metric_vs_noise.{ext}",
            scenario=REPORT_NOISE_SWEEPS,
            ext=REPORT_FIGURE_EXTS,
        ),
        *expand(
            "results/report/simulation/{scenario}/noise_sweep.{ext}",
            scenario=REPORT_NOISE_SWEEPS,
            ext=REPORT_TABLE_EXTS,
        ),
        *expand(
            "results/report/simulation/{scenario}/paper_check.{ext}",
            scenario=REPORT_PAPER_CHECKS,
            ext=REPORT_TABLE_EXTS,
        ),
        *expand(
            "results/report/ablation/{subject}.{ext}",
            subject=REPORT_ABLATION_SUBJECTS,
            ext=REPORT_FIGURE_EXTS,
        ),
        *expand(
            "results/report/cost.{ext}", ext=(*REPORT_FIGURE_EXTS, *REPORT_TABLE_EXTS)
        ),
        *expand("results/report/significance.{ext}", ext=REPORT_TABLE_EXTS),
        *(
            expand(
                "results/report/reproduction.{ext}",
                ext=(*REPORT_FIGURE_EXTS, *REPORT_TABLE_EXTS),
            )
            if REPORT_REPRODUCTION
            else []
        ),
    ]
