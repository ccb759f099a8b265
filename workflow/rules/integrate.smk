rule integrate:
    input:
        h5mu=dataset_file,
    output:
        h5mu="results/integrated/{dataset}/{method}/{variant}/seed{seed}.h5mu",
        status="results/integrated/{dataset}/{method}/{variant}/seed{seed}.status.json",
    log:
        "logs/integrate/{dataset}/{method}/{variant}/seed{seed}.log",
    benchmark:
        "benchmarks/integrate/{dataset}/{method}/{variant}/seed{seed}.tsv"
    conda:
        method_env
    threads: method_threads
    resources:
        mem_mb=mem_mb("integrate"),
        runtime=runtime("integrate"),
    params:
        module=method_module,
        method_params=method_params,
        job=job_identity,
        device=config["device"],
    script:
        "../scripts/integrate.py"
