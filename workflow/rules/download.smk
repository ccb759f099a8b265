"""Real datasets: download with verified checksums, then convert to the data contract.

    resources/datasets/<name>/raw/download.json   verified downloads + extracted inputs
    resources/datasets/<name>/<name>.h5mu         the dataset, as every method reads it

A dataset of one's own (registry layout: h5mu) is read from that .h5mu as it is: nothing
is downloaded or converted for it. Archives shared by several datasets
(Data_SpatialGlue.zip) are kept once under resources/downloads/. Downloading runs on the
submitting host (localrule): cluster nodes often have no internet. Limit parallel downloads
with --resources downloads=1.
"""

from fastspami.data.registry import check_local_datasets, load_registry

# Checked at parse time, so a broken registry entry (or a missing file of one's own) fails
# before any job starts.
REGISTRY = load_registry(registry_path()) if REAL else {}
check_local_datasets(REGISTRY, list(REAL))
DOWNLOADED = [name for name in REAL if not REGISTRY[name].is_local]
DOWNLOADED_NAMES = "|".join(re.escape(name) for name in DOWNLOADED) or "(?!)"
DOWNLOAD_CACHE = "resources/downloads"


rule download_dataset:
    output:
        manifest="resources/datasets/{dataset}/raw/download.json",
    log:
        "logs/download/{dataset}.log",
    benchmark:
        "benchmarks/download/{dataset}.tsv"
    wildcard_constraints:
        dataset=DOWNLOADED_NAMES,
    retries: 1
    localrule: True
    conda:
        "../../envs/spami.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=240,
        downloads=1,
    params:
        registry=registry_path(),
        cache_dir=DOWNLOAD_CACHE,
    script:
        "../scripts/download_fetch.py"


rule convert_dataset:
    input:
        manifest=rules.download_dataset.output.manifest,
    output:
        "resources/datasets/{dataset}/{dataset}.h5mu",
    log:
        "logs/convert/{dataset}.log",
    benchmark:
        "benchmarks/convert/{dataset}.tsv"
    wildcard_constraints:
        dataset=DOWNLOADED_NAMES,
    retries: 1
    conda:
        "../../envs/spami.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb("convert"),
        runtime=runtime("convert"),
    params:
        registry=registry_path(),
    script:
        "../scripts/download_convert.py"
