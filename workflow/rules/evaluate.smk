rule score:
    input:
        h5mu=runs_of_dataset(INTEGRATED_H5MU),
        status=runs_of_dataset(INTEGRATED_STATUS),
    output:
        **{name: seed_files(pattern) for name, pattern in SCORE_FILES.items()},
    log:
        "logs/score/{dataset}.log",
    benchmark:
        "benchmarks/score/{dataset}.tsv"
    conda:
        "../../envs/spami.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb("score"),
        runtime=scoring_runtime,
    params:
        jobs=jobs_of_dataset,
        seeds=config["seeds"],
        algorithms=config["clustering"],
        n_clusters=dataset_n_clusters,
    script:
        "../scripts/score.py"


rule merge_scores:
    input:
        scores=evaluation_targets(SCORE_FILES["scores"]),
        morans_i=evaluation_targets(SCORE_FILES["morans_i"]),
        attention=evaluation_targets(SCORE_FILES["attention"]),
    output:
        scores="results/scores.csv",
        morans_i="results/morans_i.csv",
        attention="results/attention.csv",
    log:
        "logs/merge_scores.log",
    benchmark:
        "benchmarks/merge_scores.tsv"
    conda:
        "../../envs/spami.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/merge_scores.py"


rule cost:
    input:
        statuses=integration_targets(INTEGRATED_STATUS),
    output:
        "results/cost.csv",
    log:
        "logs/cost.log",
    benchmark:
        "benchmarks/cost.tsv"
    conda:
        "../../envs/spami.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/cost.py"
