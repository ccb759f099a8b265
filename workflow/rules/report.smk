"""The report: the paper's figures and tables, made from results/ into results/report/.

Figures as PNG (in the report) and SVG (for print); tables as CSV, Markdown and HTML (the
HTML is what the report shows). The reader's report is results/report/index.html (rule
report_index: every figure with its caption under it, every table inline, by section).
Snakemake's own report bundles the same files into one file:

    snakemake --cores 2 --report results/report.html

Maps and UMAPs show the first seed of the config and, where the config has it, Leiden;
each method's primary variant and its presets (variants that set ``preset``).
"""


include: "report_common.smk"


report: "../report/workflow.rst"


wildcard_constraints:
    scenario="|".join(REPORT_NOISE_SWEEPS) or "(?!)",
    subject="|".join(REPORT_ABLATION_SUBJECTS) or "(?!)",


# ---------------------------------------------------------------- maps and embeddings


rule report_maps:
    input:
        dataset=dataset_file,
        clusters=report_clusters(SCORE_FILES["clusters"]),
        integrated=report_runs(INTEGRATED_H5MU, REPORT_SHOWN),
        statuses=report_runs(INTEGRATED_STATUS, REPORT_SHOWN),
    output:
        domains_png=report(
            "results/report/datasets/{dataset}/domain_maps.png",
            caption="../report/domain_maps.rst",
            category=report_category,
            subcategory=report_subcategory,
            labels=report_labels("domain maps", "Fig 2A, 3D, 4D, 6C, 7D"),
        ),
        domains_svg="results/report/datasets/{dataset}/domain_maps.svg",
        umaps_png=report(
            "results/report/datasets/{dataset}/embedding_umaps.png",
            caption="../report/embedding_umaps.rst",
            category=report_category,
            subcategory=report_subcategory,
            labels=report_labels("embedding UMAPs", "Fig 2B, 7E"),
        ),
        umaps_svg="results/report/datasets/{dataset}/embedding_umaps.svg",
    log:
        "logs/report/{dataset}/maps.log",
    benchmark:
        "benchmarks/report/{dataset}/maps.tsv"
    conda:
        REPORT_ENV
    threads: 1
    resources:
        mem_mb=mem_mb("score"),
        runtime=runtime("score"),
    params:
        label=report_label,
        runs=report_run_list(REPORT_SHOWN),
        clustering=REPORT_CLUSTERING,
        seed=REPORT_SEED,
    script:
        "../scripts/report_maps.py"


rule report_single_vs_integrated_maps:
    input:
        dataset=dataset_file,
        clusters=report_clusters(SCORE_FILES["clusters"]),
        statuses=report_runs(INTEGRATED_STATUS, REPORT_SPAMI_PANELS),
    output:
        png=report(
            "results/report/datasets/{dataset}/single_vs_integrated_maps.png",
            caption="../report/single_vs_integrated_maps.rst",
            category=report_category,
            subcategory=report_subcategory,
            labels=report_labels("SpaMI on one modality vs all", "Fig 3F, 4F, 6F"),
        ),
        svg="results/report/datasets/{dataset}/single_vs_integrated_maps.svg",
    log:
        "logs/report/{dataset}/single_vs_integrated_maps.log",
    benchmark:
        "benchmarks/report/{dataset}/single_vs_integrated_maps.tsv"
    conda:
        REPORT_ENV
    threads: 1
    resources:
        mem_mb=mem_mb("score"),
        runtime=runtime("score"),
    params:
        label=report_label,
        clustering=REPORT_CLUSTERING,
    script:
        "../scripts/report_single_vs_integrated_maps.py"


rule report_denoising_maps:
    input:
        integrated=report_runs(INTEGRATED_H5MU, REPORT_SPAMI_RUN),
        status=report_runs(INTEGRATED_STATUS, REPORT_SPAMI_RUN),
        clusters=report_clusters(SCORE_FILES["clusters"]),
    output:
        png=report(
            "results/report/datasets/{dataset}/denoising_maps.png",
            caption="../report/denoising_maps.rst",
            category=report_category,
            subcategory=report_subcategory,
            labels=report_labels("denoising", "Fig 3E, 4E, 6D"),
        ),
        svg="results/report/datasets/{dataset}/denoising_maps.svg",
    log:
        "logs/report/{dataset}/denoising_maps.log",
    benchmark:
        "benchmarks/report/{dataset}/denoising_maps.tsv"
    conda:
        REPORT_ENV
    threads: 1
    resources:
        mem_mb=mem_mb("integrate"),
        runtime=runtime("score"),
    params:
        label=report_label,
        markers=dataset_markers,
        clustering=REPORT_CLUSTERING,
    script:
        "../scripts/report_denoising_maps.py"


# ---------------------------------------------------------------- scores of one dataset


rule report_scores:
    input:
        scores=rules.merge_scores.output.scores,
        morans_i=rules.merge_scores.output.morans_i,
    output:
        bars_png=report(
            "results/report/datasets/{dataset}/metric_bars.png",
            caption="../report/metric_bars.rst",
            category=report_category,
            subcategory=report_subcategory,
            labels=report_labels("clustering metrics", "Fig 3B, 4B, 7C"),
        ),
        bars_svg="results/report/datasets/{dataset}/metric_bars.svg",
        morans_png=report(
            "results/report/datasets/{dataset}/morans_boxplots.png",
            caption="../report/morans_boxplots.rst",
            category=report_category,
            subcategory=report_subcategory,
            labels=report_labels("Moran's I per cluster", "Fig 3C, 4C, 6B, 7B"),
        ),
        morans_svg="results/report/datasets/{dataset}/morans_boxplots.svg",
        summary_csv="results/report/datasets/{dataset}/summary.csv",
        summary_md="results/report/datasets/{dataset}/summary.md",
        summary_html=report(
            "results/report/datasets/{dataset}/summary.html",
            caption="../report/summary.rst",
            category=report_category,
            subcategory=report_subcategory,
            labels=report_labels("summary table", "Fig 3B, 4B, 7C as numbers"),
        ),
    log:
        "logs/report/{dataset}/scores.log",
    benchmark:
        "benchmarks/report/{dataset}/scores.tsv"
    conda:
        REPORT_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        label=report_label,
        clustering=REPORT_CLUSTERING,
        reference=dataset_reference,
    script:
        "../scripts/report_scores.py"


rule report_attention_by_domain:
    input:
        attention=rules.merge_scores.output.attention,
    output:
        png=report(
            "results/report/datasets/{dataset}/attention_by_domain.png",
            caption="../report/attention_by_domain.rst",
            category=report_category,
            subcategory=report_subcategory,
            labels=report_labels("attention per domain", "(SpaMI's fusion weights)"),
        ),
        svg="results/report/datasets/{dataset}/attention_by_domain.svg",
    log:
        "logs/report/{dataset}/attention_by_domain.log",
    benchmark:
        "benchmarks/report/{dataset}/attention_by_domain.tsv"
    conda:
        REPORT_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        label=report_label,
        run=REPORT_SPAMI_RUN,
    script:
        "../scripts/report_attention_by_domain.py"


rule report_diagnosis:
    input:
        dataset=dataset_file,
        integrated=report_runs(INTEGRATED_H5MU, REPORT_DIAGNOSIS_RUNS),
        statuses=report_runs(INTEGRATED_STATUS, REPORT_DIAGNOSIS_RUNS),
    output:
        png=report(
            "results/report/datasets/{dataset}/diagnosis.png",
            caption="../report/diagnosis.rst",
            category=report_category,
            subcategory=report_subcategory,
            labels=report_labels("SpaMI's use of each modality", "(not in the paper)"),
        ),
        svg="results/report/datasets/{dataset}/diagnosis.svg",
        csv="results/report/datasets/{dataset}/diagnosis.csv",
        md="results/report/datasets/{dataset}/diagnosis.md",
        html=report(
            "results/report/datasets/{dataset}/diagnosis.html",
            caption="../report/diagnosis.rst",
            category=report_category,
            subcategory=report_subcategory,
            labels=report_labels(
                "what SpaMI keeps of each modality", "(not in the paper)"
            ),
        ),
    log:
        "logs/report/{dataset}/diagnosis.log",
    benchmark:
        "benchmarks/report/{dataset}/diagnosis.tsv"
    conda:
        REPORT_ENV
    threads: 1
    resources:
        mem_mb=mem_mb("integrate"),
        runtime=runtime("score"),
    params:
        label=report_label,
        runs=report_run_list(REPORT_DIAGNOSIS_RUNS),
        seed=REPORT_SEED,
    script:
        "../scripts/report_diagnosis.py"


# ---------------------------------------------------------------- across datasets


rule report_metric_vs_noise:
    input:
        scores=rules.merge_scores.output.scores,
    output:
        png=report(
            "results/report/simulation/{scenario}/metric_vs_noise.png",
            caption="../report/metric_vs_noise.rst",
            category=report_scenario_category,
            subcategory="noise sweep",
            labels=report_labels("metrics vs noise", "Fig 2C, S1 Fig A"),
        ),
        svg="results/report/simulation/{scenario}/metric_vs_noise.svg",
        table_csv="results/report/simulation/{scenario}/noise_sweep.csv",
        table_md="results/report/simulation/{scenario}/noise_sweep.md",
        table_html=report(
            "results/report/simulation/{scenario}/noise_sweep.html",
            caption="../report/noise_sweep.rst",
            category=report_scenario_category,
            subcategory="noise sweep",
            labels=report_labels("noise sweep table", "Fig 2C, 2D as numbers"),
        ),
    log:
        "logs/report/metric_vs_noise/{scenario}.log",
    benchmark:
        "benchmarks/report/metric_vs_noise/{scenario}.tsv"
    conda:
        REPORT_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        label=report_label,
        clustering=REPORT_CLUSTERING,
    script:
        "../scripts/report_metric_vs_noise.py"


rule report_paper_check:
    input:
        scores=rules.merge_scores.output.scores,
    output:
        csv="results/report/simulation/{scenario}/paper_check.csv",
        md="results/report/simulation/{scenario}/paper_check.md",
        html=report(
            "results/report/simulation/{scenario}/paper_check.html",
            caption="../report/paper_check.rst",
            category=report_scenario_category,
            subcategory="paper check",
            labels=report_labels("beside the paper", "Tutorial 4 (ARI 0.963)"),
        ),
    log:
        "logs/report/paper_check/{scenario}.log",
    benchmark:
        "benchmarks/report/paper_check/{scenario}.tsv"
    conda:
        REPORT_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        label=report_label,
        reference=scenario_reference,
        method=scenario_reference_method,
    script:
        "../scripts/report_paper_check.py"


rule report_ablation_bars:
    input:
        scores=rules.merge_scores.output.scores,
    output:
        png=report(
            "results/report/ablation/{subject}.png",
            caption="../report/ablation_bars.rst",
            category="Ablation",
            subcategory=report_label,
            labels=report_labels("SpaMI ablations", "Fig 2D, S1 Fig I"),
        ),
        svg="results/report/ablation/{subject}.svg",
    log:
        "logs/report/ablation/{subject}.log",
    benchmark:
        "benchmarks/report/ablation/{subject}.tsv"
    conda:
        REPORT_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        label=report_label,
        method=REPORT_METHOD,
        clustering=REPORT_CLUSTERING,
    script:
        "../scripts/report_ablation_bars.py"


rule report_cost:
    input:
        cost=rules.cost.output[0],
        datasets=[dataset_file(SimpleNamespace(dataset=d)) for d in DATASETS],
    output:
        png=report(
            "results/report/cost.png",
            caption="../report/cost.rst",
            category="Cost",
            labels=report_labels("seconds and peak memory", "S1 Table B"),
        ),
        svg="results/report/cost.svg",
        csv="results/report/cost.csv",
        md="results/report/cost.md",
        html=report(
            "results/report/cost.html",
            caption="../report/cost_table.rst",
            category="Cost",
            labels=report_labels("cost table", "S1 Table B"),
        ),
    log:
        "logs/report/cost.log",
    benchmark:
        "benchmarks/report/cost.tsv"
    conda:
        REPORT_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        datasets=DATASETS,
    script:
        "../scripts/report_cost.py"


rule report_significance:
    input:
        scores=rules.merge_scores.output.scores,
    output:
        csv="results/report/significance.csv",
        md="results/report/significance.md",
        html=report(
            "results/report/significance.html",
            caption="../report/significance.rst",
            category="Significance",
            labels=report_labels("paired Wilcoxon tests", "(SpaMI vs each method)"),
        ),
    log:
        "logs/report/significance.log",
    benchmark:
        "benchmarks/report/significance.tsv"
    conda:
        REPORT_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        reference=REPORT_METHOD,
    script:
        "../scripts/report_significance.py"


rule report_reproduction:
    input:
        scores=rules.merge_scores.output.scores,
        cost=rules.cost.output[0],
    output:
        png=report(
            "results/report/reproduction.png",
            caption="../report/reproduction.rst",
            category="Reproduction",
            labels=report_labels("ours vs the authors' code", "(not in the paper)"),
        ),
        svg="results/report/reproduction.svg",
        csv="results/report/reproduction.csv",
        md="results/report/reproduction.md",
        html=report(
            "results/report/reproduction.html",
            caption="../report/reproduction_table.rst",
            category="Reproduction",
            labels=report_labels("reproduction table", "(not in the paper)"),
        ),
    log:
        "logs/report/reproduction.log",
    benchmark:
        "benchmarks/report/reproduction.tsv"
    conda:
        REPORT_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        clustering=REPORT_CLUSTERING,
        labels=REPORT_LABELS,
    script:
        "../scripts/report_reproduction.py"


# ---------------------------------------------------------------- the reader's page


rule report_index:
    input:
        entries=report_targets(),
        captions=report_captions(),
    output:
        html="results/report/index.html",
    log:
        "logs/report/index.log",
    benchmark:
        "benchmarks/report/index.tsv"
    conda:
        REPORT_ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        entries=report_entries(),
    script:
        "../scripts/report_index.py"
