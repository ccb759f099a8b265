# One job per batch: every method/variant of one conda env on one dataset and seed, run one
# after the other in one process (common.smk, IntegrationBatch). Starting Python and
# importing torch, scanpy or R costs more than most integrations of a small dataset; each
# run still writes its own .h5mu, status (with its seconds and peak memory) and log.

from fastspami.errors import ConfigError

# no torch: the standard library only
from fastspami.model.presets import check_settings as check_spami_settings
from fastspami.model.ranges import check_modality_names

from fastspami.methods.registry import get_method

SPAMI_MODULE = get_method("spami").entry


def _check_method_settings():
    """A typo or a value out of range in SpaMI's settings, and a modality named twice in
    any method's, stops the run here, naming method and variant: in a job it would only
    mark that run's cells as not applicable, or train something meaningless."""
    for dataset in DATASETS:
        for method, variant in runs_here(dataset):
            where = SimpleNamespace(dataset=dataset, method=method, variant=variant)
            params = method_params(where)
            try:
                for key in ("modalities", "exclude_modalities"):
                    check_modality_names(key, params.get(key))
                if config["methods"][method]["module"] == SPAMI_MODULE:
                    check_spami_settings(params)
            except ConfigError as err:
                raise ValueError(
                    f"methods.{method} (variant {variant}, dataset {dataset}): {err}"
                ) from None


_check_method_settings()


for batch in INTEGRATION_BATCHES:

    rule:
        name:
            batch.rule_name
        input:
            h5mu=dataset_file,
        output:
            h5mu=batch.files(INTEGRATED_H5MU),
            status=batch.files(INTEGRATED_STATUS),
        log:
            runs=batch.files(INTEGRATION_LOG),
        benchmark:
            f"benchmarks/integrate/{{dataset}}/seed{{seed}}/{batch.rule_name}.tsv"
        wildcard_constraints:
            dataset=batch.dataset_regex,
        conda:
            f"../../envs/{batch.env}.yaml"
        threads: batch_threads(batch)
        resources:
            mem_mb=mem_mb("integrate"),
            runtime=batch_runtime(batch),
            gpu=1 if config["device"].startswith("cuda") else 0,
        params:
            runs=batch_runs(batch),
            device=config["device"],
        script:
            "../scripts/integrate.py"
