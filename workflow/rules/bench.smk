# Scaling benchmark of SpaMI (not part of `all`): snakemake --cores 2 bench
# Sizes and epochs: config key `bench` (optional), else the harness's defaults; its
# `threads` (default 2) are the rule's, and `device: cuda` asks the scheduler for a GPU.
# `reference: true` times the authors' SpaMI package beside ours (up to `reference_max_n`
# spots) and runs in its env, where that package is installed.

BENCH = config.get("bench", {})


rule bench:
    output:
        "results/bench/scaling.csv",
    log:
        "logs/bench/scaling.log",
    benchmark:
        "benchmarks/bench/scaling.tsv"
    conda:
        (
            "../../envs/spami_reference.yaml"
            if BENCH.get("reference")
            else "../../envs/spami.yaml"
        )
    threads: BENCH.get("threads", 2)
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=1 if BENCH.get("device", "cpu").startswith("cuda") else 0,
    params:
        settings={k: v for k, v in BENCH.items() if k != "threads"},
    script:
        "../scripts/bench.py"
