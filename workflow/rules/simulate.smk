rule simulate:
    output:
        "resources/simulated/{dataset}.h5mu",
    log:
        "logs/simulate/{dataset}.log",
    benchmark:
        "benchmarks/simulate/{dataset}.tsv"
    conda:
        "../../envs/spami.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb("simulate"),
        runtime=runtime("simulate"),
    params:
        settings=simulation_settings,
    script:
        "../scripts/simulate.py"
