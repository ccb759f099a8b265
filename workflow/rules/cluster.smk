rule cluster:
    input:
        h5mu=rules.integrate.output.h5mu,
        status=rules.integrate.output.status,
    output:
        tsv="results/clusters/{dataset}/{method}/{variant}/seed{seed}.tsv",
        json="results/clusters/{dataset}/{method}/{variant}/seed{seed}.json",
    log:
        "logs/cluster/{dataset}/{method}/{variant}/seed{seed}.log",
    benchmark:
        "benchmarks/cluster/{dataset}/{method}/{variant}/seed{seed}.tsv"
    conda:
        "../../envs/spami.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb("cluster"),
        runtime=runtime("cluster"),
    params:
        algorithms=config["clustering"],
        n_clusters=dataset_n_clusters,
    script:
        "../scripts/cluster.py"
