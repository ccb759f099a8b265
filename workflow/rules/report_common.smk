"""Settings and input functions of the report rules (workflow/rules/report.smk).

Kept apart from the rules (Snakemake's linter asks for it) and, like common.smk, free of
spami imports.
"""

from types import SimpleNamespace

from fastspami.data.labels import dataset_labels, dataset_levels, scenario_labels
from fastspami.methods.registry import method_label

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
REPORT_CAPTIONS = Path(workflow.basedir) / "workflow" / "report"

# Names for the reader (fastspami.data.labels): scenarios, datasets, real datasets' titles
SCENARIO_LABELS = scenario_labels(config.get("simulation"))
DATASET_LABELS = dataset_labels(SIMULATED, REAL, config.get("simulation"))
DATASET_LEVELS = dataset_levels(SIMULATED)  # 'noise sd 0.5' (', draw 2 of 5')
REPORT_LABELS = {
    **DATASET_LABELS,
    **SCENARIO_LABELS,
}  # a real dataset is its own subject


def primary_variant(method):
    """The variant shown for a method beside the others: 'default', else its first."""
    variants = list(config["methods"][method]["variants"])
    return "default" if "default" in variants else variants[0]


def shown_variants(method):
    """A method's variants in the maps and UMAPs: its primary variant and its presets (the
    variants that set ``preset``, e.g. SpaMI's robust); ablations have their own figure.
    """
    primary = primary_variant(method)
    variants = config["methods"][method]["variants"]
    presets = [v for v, p in variants.items() if v != primary and "preset" in (p or {})]
    return [primary, *presets]


REPORT_SHOWN = [(m, v) for m in config["methods"] for v in shown_variants(m)]
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
# SpaMI's variants compared in the diagnosis figure, those the config has
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

# the reproduction panel: our SpaMI beside the authors' code, where the config
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


def dataset_section(dataset):
    """A dataset's section of the report: its simulation scenario, or the real dataset."""
    entry = SIMULATED.get(dataset)
    if entry:
        return f"Simulation: {SCENARIO_LABELS[entry['scenario']]}"
    return f"Dataset: {DATASET_LABELS[dataset]}"


def dataset_subsection(dataset):
    """A simulated dataset's subsection: its noise level (and draw); '' for a real one."""
    return DATASET_LEVELS.get(dataset, "")


def report_category(wildcards):
    """A dataset's category in Snakemake's report (its section)."""
    return dataset_section(wildcards.dataset)


def report_scenario_category(wildcards):
    """A scenario's category in Snakemake's report (its section)."""
    return f"Simulation: {SCENARIO_LABELS[wildcards.scenario]}"


def report_subcategory(wildcards):
    return dataset_subsection(wildcards.dataset) or "Figures and tables"


def report_label(wildcards):
    """Params function: the name for the reader of the rule's dataset, scenario or subject."""
    for key in ("dataset", "scenario", "subject"):
        if key in wildcards.keys():
            return REPORT_LABELS.get(wildcards[key], wildcards[key])
    return ""


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


def scenario_reference_method(wildcards):
    """The name for the reader of the method a scenario's published number is of."""
    return method_label(scenario_reference(wildcards)["method"])


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


# Each entry of the report: a figure (PNG for the page, SVG for print) or a table (CSV,
# Markdown, HTML), its section of the reader's page (results/report/index.html), its
# caption (workflow/report/<caption>.rst) and what the caption's template names.
FIGURE_TITLES = {
    "domain_maps": "Spatial domains",
    "embedding_umaps": "Embedding UMAPs",
    "metric_bars": "Clustering metrics",
    "morans_boxplots": "Moran's I per cluster",
    "denoising_maps": "Denoising",
    "attention_by_domain": "Attention per domain",
    "single_vs_integrated_maps": "SpaMI on one modality and on all",
    "diagnosis": "SpaMI's use of each modality",
}


def report_entry(section, subsection, kind, stem, caption, subject="", title=""):
    """One figure or table of the report (stem: its path under results/report/ without
    the extension; subject: the dataset, scenario or real dataset its caption names)."""
    params = {
        "label": REPORT_LABELS.get(subject, subject),
        "clustering": REPORT_CLUSTERING,
        "seed": REPORT_SEED,
    }
    if subject in REPORT_PAPER_CHECKS:
        reference = config["simulation"]["scenarios"][subject]["reference"]
        params.update(reference=reference, method=method_label(reference["method"]))
    return {
        "section": section,
        "subsection": subsection[:1].upper() + subsection[1:],
        "kind": kind,
        "stem": stem,
        "path": f"{stem}.png" if kind == "figure" else f"{stem}.html",
        "caption": caption,
        "title": title,
        "context": {"params": params},
    }


def _dataset_entries(dataset):
    """The figures (first draw of a simulated level, every real dataset) and the summary
    table of one dataset."""
    section, sub = dataset_section(dataset), dataset_subsection(dataset)
    stem = f"datasets/{dataset}"
    figures = []
    if has_figures(dataset):
        figures = ["domain_maps", "embedding_umaps", "metric_bars", "morans_boxplots"]
        panels = runs_here(dataset, REPORT_SPAMI_PANELS)
        if len(panels) > 1 and panels[-1] == REPORT_SPAMI_RUN[0]:
            figures.append("single_vs_integrated_maps")
        if REPORT_SPAMI_RUN and runs_here(dataset, REPORT_SPAMI_RUN):
            figures += ["denoising_maps", "attention_by_domain"]
    entries = [
        report_entry(
            section, sub, "figure", f"{stem}/{f}", f, dataset, FIGURE_TITLES[f]
        )
        for f in figures
    ]
    entries.append(
        report_entry(section, sub, "table", f"{stem}/summary", "summary", dataset)
    )
    if (
        has_figures(dataset)
        and is_complementary(dataset)
        and runs_here(dataset, REPORT_DIAGNOSIS_RUNS)
    ):
        title = FIGURE_TITLES["diagnosis"]
        for kind in ("figure", "table"):
            entry = report_entry(
                section, sub, kind, f"{stem}/diagnosis", "diagnosis", dataset, title
            )
            entries.append(entry)
    return entries


def report_entries():
    """Every figure and table of the report, in the reader's order: each simulation
    scenario (its noise sweep, then each level), each real dataset, the ablations, cost,
    significance, reproduction and the comparison with the paper."""
    entries = []
    for scenario in REPORT_SCENARIOS:
        section = f"Simulation: {SCENARIO_LABELS[scenario]}"
        if scenario in REPORT_NOISE_SWEEPS:
            stem = f"simulation/{scenario}"
            entries += [
                report_entry(
                    section,
                    "",
                    "figure",
                    f"{stem}/metric_vs_noise",
                    "metric_vs_noise",
                    scenario,
                    "Metrics against noise",
                ),
                report_entry(
                    section, "", "table", f"{stem}/noise_sweep", "noise_sweep", scenario
                ),
            ]
        for dataset in DATASETS:
            if SIMULATED.get(dataset, {}).get("scenario") == scenario:
                entries += _dataset_entries(dataset)
    for dataset in REAL:
        entries += _dataset_entries(dataset)
    for subject in REPORT_ABLATION_SUBJECTS:
        label = REPORT_LABELS.get(subject, subject)
        stem = f"ablation/{subject}"
        entries.append(
            report_entry("Ablation", label, "figure", stem, "ablation_bars", subject)
        )
    entries += [
        report_entry("Cost", "", "figure", "cost", "cost"),
        report_entry("Cost", "", "table", "cost", "cost_table"),
        report_entry("Significance", "", "table", "significance", "significance"),
    ]
    if REPORT_REPRODUCTION:
        entries += [
            report_entry("Reproduction", "", "figure", "reproduction", "reproduction"),
            report_entry(
                "Reproduction", "", "table", "reproduction", "reproduction_table"
            ),
        ]
    for scenario in REPORT_PAPER_CHECKS:
        label = SCENARIO_LABELS[scenario]
        stem = f"simulation/{scenario}/paper_check"
        entries.append(
            report_entry(
                "Beside the paper", label, "table", stem, "paper_check", scenario
            )
        )
    return entries


def report_targets():
    """Every figure and table of the report: what ``rule all`` asks for."""
    return [
        f"results/report/{entry['stem']}.{ext}"
        for entry in report_entries()
        for ext in (
            REPORT_FIGURE_EXTS if entry["kind"] == "figure" else REPORT_TABLE_EXTS
        )
    ]


def report_captions():
    """The caption files of the report's entries and of its introduction."""
    names = sorted({entry["caption"] for entry in report_entries()} | {"workflow"})
    return [str(REPORT_CAPTIONS / f"{name}.rst") for name in names]
