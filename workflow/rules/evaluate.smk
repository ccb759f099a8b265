rule score:
    input:
        h5mu=runs_of_dataset(INTEGRATED_H5MU),
        status=runs_of_dataset(INTEGRATED_STATUS),
    output:
        clusters="results/clusters/{dataset}/seed{seed}.tsv",
        clustering="results/clusters/{dataset}/seed{seed}.json",
        scores="results/scores/{dataset}/seed{seed}.csv",
        morans_i="results/scores/{dataset}/seed{seed}.morans_i.csv",
        attention="results/scores/{dataset}/seed{seed}.attention.csv",
    log:
        "logs/score/{dataset}/seed{seed}.log",
    benchmark:
        "benchmarks/score/{dataset}/seed{seed}.tsv"
    conda:
        "../../envs/spami.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb("score"),
        runtime=scoring_runtime,
    params:
        jobs=jobs_of_dataset,
        algorithms=config["clustering"],
        n_clusters=dataset_n_clusters,
    script:
        "../scripts/score.py"


rule merge_scores:
    input:
        scores=evaluation_targets(rules.score.output.scores),
        morans_i=evaluation_targets(rules.score.output.morans_i),
        attention=evaluation_targets(rules.score.output.attention),
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
