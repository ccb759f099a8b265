# Scaling benchmark of SpaMI (not part of `all`): snakemake --cores 2 bench
# Sizes and epochs: config key `bench` (optional), else the harness's defaults.


rule bench:
    output:
        "results/bench/scaling.csv",
    log:
        "logs/bench/scaling.log",
    benchmark:
        "benchmarks/bench/scaling.tsv"
    conda:
        "../../envs/spami.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
    params:
        settings=config.get("bench", {}),
    script:
        "../scripts/bench.py"
