"""Config validation, the benchmark grid and per-job settings, shared by every rule file.

Snakemake may run from an environment without the package's dependencies: the rule files
import only fastspami's light modules (standard library and PyYAML) from the source tree,
which this file puts on sys.path.
"""

import os
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import yaml
from snakemake.utils import validate

validate(config, "../../config/schemas/config.schema.yaml")

# Jobs import fastspami from this source tree: the venv, each conda env (which hold the
# dependencies only) and SLURM jobs (which inherit the environment) all see the same code.
SPAMI_SRC = str(Path(workflow.basedir) / "src")
os.environ.update(
    PYTHONPATH=os.pathsep.join(p for p in (SPAMI_SRC, os.getenv("PYTHONPATH")) if p)
)
if SPAMI_SRC not in sys.path:
    sys.path.insert(0, SPAMI_SRC)

from fastspami.methods.registry import complete_config_methods

# Each method's module and conda env from the registry (or the config's own declaration).
complete_config_methods(config["methods"])
from fastspami.data.draws import (
    simulated_datasets,
)  # noqa: E402 (needs SPAMI_SRC on sys.path)
from fastspami.benchmark import grid

NAME = "[A-Za-z0-9_]+"


def noise_label(level):
    """The noise level as it appears in dataset ids: 2.0 -> '2', 0.5 -> '0.5'."""
    return f"{float(level):g}"


def registry_path():
    """The dataset registry: as given, else relative to the repository (for --directory runs)."""
    path = config["dataset_registry"]
    if not os.path.isabs(path) and not os.path.exists(path):
        path = os.path.join(workflow.basedir, path)
    return path


def _real_datasets():
    """{name: registry entry} of the real datasets the config names."""
    if not config["datasets"]:
        return {}
    path = registry_path()
    with open(path) as handle:
        registry = yaml.safe_load(handle)["datasets"]
    unknown = sorted(set(config["datasets"]) - set(registry))
    if unknown:
        raise ValueError(
            f"datasets {unknown} are not in the registry {config['dataset_registry']}; "
            f"known: {sorted(registry)}."
        )
    return {name: registry[name] or {} for name in config["datasets"]}


# {dataset id: settings}: every scenario x noise level x data draw, each its own data seed
SIMULATED = simulated_datasets(config.get("simulation", {}))
REAL = _real_datasets()
DATASETS = [*SIMULATED, *REAL]


def _method_variants():
    """[(method, variant)] in config order; checks each method's conda env file exists."""
    pairs = []
    for method, spec in config["methods"].items():
        env = Path(workflow.basedir) / "envs" / f"{spec['env']}.yaml"
        if not env.exists():
            raise ValueError(
                f"methods.{method}.env: no conda env file {env}; use the stem of a file in envs/."
            )
        pairs.extend((method, variant) for variant in spec["variants"])
    return pairs


METHOD_VARIANTS = _method_variants()


wildcard_constraints:
    dataset="|".join(re.escape(d) for d in DATASETS) or "(?!)",
    method=NAME,
    variant=NAME,
    seed="[0-9]+",


def dataset_group(dataset):
    """What a variant's ``run_on`` names: a simulated dataset's scenario, else the dataset."""
    return grid.dataset_group(dataset, SIMULATED)


grid.check_run_on(config["methods"], {dataset_group(d) for d in DATASETS})
# {(dataset, method, variant): settings} of every integration the config asks for: the one
# resolution of run_on, which tests/data/test_draws.py checks the study's parts against
RUNS = grid.planned_runs(config["methods"], SIMULATED, REAL)


def runs_here(dataset, runs=METHOD_VARIANTS):
    """The (method, variant) pairs of ``runs`` (default: all) that run on ``dataset``."""
    return [(m, v) for m, v in runs if (dataset, m, v) in RUNS]


def integration_targets(pattern):
    """``pattern`` expanded over every dataset x method x variant x seed that runs."""
    return [
        pattern.format(dataset=dataset, method=method, variant=variant, seed=seed)
        for dataset in DATASETS
        for method, variant in runs_here(dataset)
        for seed in config["seeds"]
    ]


def evaluation_targets(pattern):
    """``pattern`` expanded over every dataset x seed (the score files)."""
    return [
        pattern.format(dataset=dataset, seed=seed)
        for dataset in DATASETS
        for seed in config["seeds"]
    ]


def seed_files(pattern):
    """``pattern`` for every seed, {dataset} left as a wildcard (one scoring job's outputs)."""
    return [pattern.format(dataset="{dataset}", seed=seed) for seed in config["seeds"]]


def _runs_by_seed(wildcards):
    """(method, variant, seed) of every integration of the dataset, seed by seed."""
    return [
        (m, v, seed)
        for seed in config["seeds"]
        for m, v in runs_here(wildcards.dataset)
    ]


def runs_of_dataset(pattern):
    """Input function: ``pattern`` of every integration of the dataset, at every seed (the
    integrations one scoring job evaluates)."""
    return lambda wildcards: [
        pattern.format(dataset=wildcards.dataset, method=m, variant=v, seed=seed)
        for m, v, seed in _runs_by_seed(wildcards)
    ]


def jobs_of_dataset(wildcards):
    """The job identities of those integrations, in the same order."""
    return [
        job_identity(
            SimpleNamespace(dataset=wildcards.dataset, method=m, variant=v, seed=seed)
        )
        for m, v, seed in _runs_by_seed(wildcards)
    ]


# ---------------------------------------------------------------- file names

SCORE_FILES = {
    "clusters": "results/clusters/{dataset}/seed{seed}.tsv",
    "clustering": "results/clusters/{dataset}/seed{seed}.json",
    "scores": "results/scores/{dataset}/seed{seed}.csv",
    "morans_i": "results/scores/{dataset}/seed{seed}.morans_i.csv",
    "attention": "results/scores/{dataset}/seed{seed}.attention.csv",
}

# ---------------------------------------------------------------- integration batches

INTEGRATED_H5MU = "results/integrated/{dataset}/{method}/{variant}/seed{seed}.h5mu"
INTEGRATED_STATUS = (
    "results/integrated/{dataset}/{method}/{variant}/seed{seed}.status.json"
)
INTEGRATION_LOG = "logs/integrate/{dataset}/{method}/{variant}/seed{seed}.log"


@dataclass(frozen=True)
class IntegrationBatch:
    """Integrations that one job runs in one process: every method/variant of one conda env
    on a dataset, at one seed. Datasets that run the same set share the batch (one rule).
    """

    rule_name: str
    env: str
    runs: tuple
    datasets: tuple

    def files(self, pattern):
        """``pattern`` for each run, {dataset} and {seed} left as wildcards."""
        return [
            pattern.format(dataset="{dataset}", method=m, variant=v, seed="{seed}")
            for m, v in self.runs
        ]

    @property
    def dataset_regex(self):
        return "|".join(re.escape(d) for d in self.datasets)


def _integration_batches():
    """One batch per conda env and set of runs (run_on makes the sets differ by dataset).

    Rule names: integrate_<env> for the set most datasets run, integrate_<env>_<scenario>
    for the others (e.g. integrate_spami_rna_adt where the ablations run on rna_adt only;
    integrate_<env>_<first scenario>_and_<n>_more where several scenarios share a set).
    """
    datasets_of = {}  # (env, runs) -> datasets, in config order
    for dataset in DATASETS:
        runs_by_env = {}
        for method, variant in runs_here(dataset):
            env = config["methods"][method]["env"]
            runs_by_env.setdefault(env, []).append((method, variant))
        for env, runs in runs_by_env.items():
            datasets_of.setdefault((env, tuple(runs)), []).append(dataset)
    main_set = {}  # env -> the (env, runs) key with the most datasets
    for key, datasets in datasets_of.items():
        if len(datasets) > len(datasets_of.get(main_set.get(key[0]), ())):
            main_set[key[0]] = key
    batches = []
    for key, datasets in datasets_of.items():
        env, runs = key
        name = f"integrate_{env}"
        if main_set[env] != key:
            groups = list(dict.fromkeys(dataset_group(d) for d in datasets))
            name += f"_{groups[0]}" + (
                f"_and_{len(groups) - 1}_more" if len(groups) > 1 else ""
            )
        while name in {b.rule_name for b in batches}:
            name += "_"
        batches.append(IntegrationBatch(name, env, runs, tuple(datasets)))
    return batches


INTEGRATION_BATCHES = _integration_batches()


def batch_runs(batch):
    """Params function: module, params, threads and job identity of each run of ``batch``."""

    def runs(wildcards):
        out = []
        for method, variant in batch.runs:
            run = SimpleNamespace(
                dataset=wildcards.dataset,
                method=method,
                variant=variant,
                seed=wildcards.seed,
            )
            out.append(
                {
                    "module": method_module(run),
                    "params": method_params(run),
                    "threads": method_threads(run),
                    "job": job_identity(run),
                }
            )
        return out

    return runs


def batch_threads(batch):
    """The most threads any run of the batch asks for (they run one after the other)."""
    return max(
        method_threads(SimpleNamespace(method=m, variant=v)) for m, v in batch.runs
    )


def batch_runtime(batch):
    """Minutes of a batch: one integration's worth per run."""
    one_run = runtime("integrate")
    return lambda wildcards, input, attempt: one_run(wildcards, input, attempt) * len(
        batch.runs
    )


# ---------------------------------------------------------------- per-dataset settings


def dataset_file(wildcards):
    """The input .h5mu of a dataset: simulated here, or made by the download rules."""
    if wildcards.dataset in SIMULATED:
        return f"resources/simulated/{wildcards.dataset}.h5mu"
    return f"resources/datasets/{wildcards.dataset}/{wildcards.dataset}.h5mu"


def simulation_settings(wildcards):
    """simulate() settings of a simulated dataset id: scenario, noise, data_seed and kwargs."""
    entry = SIMULATED[wildcards.dataset]
    return {"name": wildcards.dataset, "noise": entry["noise"], **entry["kwargs"]}


def job_identity(wildcards):
    """The columns identifying an integration job in every results table."""
    entry = SIMULATED.get(wildcards.dataset, {})
    return {
        "dataset": wildcards.dataset,
        "scenario": entry.get("scenario"),
        "noise": entry.get("noise"),
        "method": wildcards.method,
        "variant": wildcards.variant,
        "seed": int(wildcards.seed),
    }


def dataset_n_clusters(wildcards):
    """A real dataset's n_clusters from the registry; None = count the ground-truth domains."""
    return REAL.get(wildcards.dataset, {}).get("n_clusters")


# ---------------------------------------------------------------- per-method settings


def _method(wildcards):
    try:
        spec = config["methods"][wildcards.method]
        spec["variants"][wildcards.variant]
    except KeyError:
        raise ValueError(
            f"{wildcards.method}/{wildcards.variant} is not a method/variant of the config."
        ) from None
    return spec


def method_module(wildcards):
    return _method(wildcards)["module"]


def method_params(wildcards):
    """Method params, then the dataset's own settings for it (registry), then the variant's."""
    spec = _method(wildcards)
    per_dataset = REAL.get(wildcards.dataset, {}).get("method_params", {}) or {}
    return grid.run_settings(spec, wildcards.variant, per_dataset.get(wildcards.method))


def method_threads(wildcards):
    return _method(wildcards).get("threads", config["threads"])


# ---------------------------------------------------------------- resources

# Rough sizes, to be refined from benchmarks/: a real dataset's spots from its registry
# entry, else from its file size; per-step memory and runtime grow linearly with spots.
SPOTS_PER_FILE_MB = 20
STEP_COST = {
    # step: (base mem_mb, mem_mb per 1000 spots, base minutes, minutes per 1000 spots)
    "simulate": (1000, 200, 5, 1),
    "convert": (2000, 1000, 30, 0),
    "integrate": (2000, 400, 10, 6),
    "score": (
        1000,
        200,
        5,
        3,
    ),  # per integration scored: Leiden, mclust, k-means, metrics
}


def dataset_spots(dataset, input):
    if dataset in SIMULATED:
        return SIMULATED[dataset]["kwargs"].get("grid_size", 36) ** 2
    if REAL.get(dataset, {}).get("n_spots"):
        return REAL[dataset]["n_spots"]
    return input.size_mb * SPOTS_PER_FILE_MB


def _per_spot(base, per_1k_spots):
    """A resource callable: attempt x (base + per_1k_spots x spots / 1000)."""
    return lambda wildcards, input, attempt: int(
        attempt * (base + per_1k_spots * dataset_spots(wildcards.dataset, input) / 1000)
    )


def mem_mb(step):
    return _per_spot(*STEP_COST[step][:2])


def runtime(step):
    """Minutes."""
    return _per_spot(*STEP_COST[step][2:])


def scoring_runtime(wildcards, input, attempt):
    """Minutes of a scoring job: one integration's worth per run it scores."""
    one_run = runtime("score")(wildcards, input, attempt)
    return one_run * max(1, len(_runs_by_seed(wildcards)))
