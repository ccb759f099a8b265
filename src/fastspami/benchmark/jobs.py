"""The benchmark workflow's steps, one function per Snakemake rule; scripts only call these.

A method that fails never stops the benchmark. Each integration of a batch runs in a
child process of its own (``integrate_batch``, :mod:`fastspami._utils.child_process`), so a method
that calls ``sys.exit``, aborts or segfaults ends only that child. ``integrate_job``
catches the method's exception (``SystemExit`` included) and writes, beside the integrated
``.h5mu`` (then the unchanged input), a status file

    {"status": "ok" | "failed" | "not_applicable" | "unavailable", "reason": str, ...}

``evaluate_job`` reads it and carries the status forward, so every table row
of a failed cell has ``value`` NaN, its ``status`` and the ``reason``: the cell is marked,
every other method's results are still produced.

- ok: the method ran; its embedding is in the ``.h5mu``.
- not_applicable: the method cannot take this input (ConfigError, NotApplicableError; e.g.
  SpatialGlue with three modalities, a single-modality variant naming an absent modality).
- unavailable: a dependency is missing (MethodUnavailableError; e.g. R without Seurat).
- failed: any other exception, a method module that cannot be loaded (the traceback
  is in the job's log), and a process that ended before it could record its status (the
  reason then names its exit code or signal, e.g. "killed by signal SIGABRT (6)"; its
  ``.h5mu`` is a copy of the input).

The batch job itself ends with exit status 0 once every run has its files, failed or
not: Snakemake deletes the outputs of a job that fails, the finished runs' included, and
would not score the dataset at all.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import math
import os
import shutil
import sys
import time
import traceback
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from fastspami._utils.atomic import atomic_path
from fastspami._utils.child_process import ChildOutcome, can_fork, run_in_child
from fastspami.benchmark.usage import current_rss_mb, measure_usage
from fastspami.errors import ConfigError, MethodUnavailableError

log = logging.getLogger(__name__)

OK, FAILED, NOT_APPLICABLE, UNAVAILABLE = "ok", "failed", "not_applicable", "unavailable"
SCORE_COLUMNS = [
    "dataset",
    "scenario",
    "noise",
    "method",
    "variant",
    "seed",
    "clustering",
    "metric",
    "value",
    "status",
    "reason",
]
COST_COLUMNS = [
    "dataset",
    "scenario",
    "noise",
    "method",
    "variant",
    "seed",
    "s",
    "cpu_s",
    "max_rss_mb",
    "start_rss_mb",
    "method_s",
    "peak_above_start_mb",
    "status",
]
MORANS_COLUMNS = ["clustering", "cluster", "morans_i"]
CLUSTER_COLUMNS = ["spot", "method", "variant", "clustering", "label"]
ATTENTION_COLUMNS = ["domain_source", "domain", "modality", "mean_weight"]
JOB_KEYS = ("dataset", "scenario", "noise", "method", "variant", "seed")


@contextlib.contextmanager
def job_log(path: str | Path) -> Iterator[IO[str]]:
    """Send logging, warnings, stdout and stderr of a job to its log file (appending);
    yields the open log."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", buffering=1) as stream:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        logging.captureWarnings(True)
        if "SLURM_JOB_ID" in os.environ:  # where the job ran, for cluster users and tests
            stream.write(f"SLURM_JOB_ID={os.environ['SLURM_JOB_ID']}\n")
        try:
            with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
                yield stream
        except BaseException:
            stream.write(traceback.format_exc())
            raise
        finally:
            logging.captureWarnings(False)
            root.removeHandler(handler)


# ---------------------------------------------------------------- status files


def failure_status(err: BaseException) -> dict[str, str]:
    """Classify an exception raised by a method into a status and a one-line reason."""
    names = {cls.__name__ for cls in type(err).__mro__}
    if isinstance(err, MethodUnavailableError):
        status = UNAVAILABLE
    elif isinstance(err, ConfigError) or "NotApplicableError" in names:
        status = NOT_APPLICABLE
    else:
        status = FAILED
    message = " ".join(str(err).split()) or "(no message)"
    if isinstance(err, SystemExit):  # mofapy2 exits on input it cannot take
        message = f"the method called sys.exit({err.code!r})"
    if len(message) > 300:
        message = message[:297] + "..."
    return {
        "status": status,
        "reason": f"{type(err).__name__}: {message}",
        "exception": type(err).__name__,
    }


def write_json(data: Mapping[str, Any], path: str | Path) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=_json_default) + "\n")


def read_json(path: str | Path) -> dict[str, Any]:
    """The JSON file at ``path`` (a status or manifest) as a dict."""
    return json.loads(Path(path).read_text())


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


# ---------------------------------------------------------------- simulate


def simulate_job(
    out_path: str | Path, *, scenario: str, noise: float, data_seed: int, **kwargs: Any
) -> None:
    """Simulate one dataset (noise = sd of the Gaussian noise) and write it as .h5mu."""
    from fastspami.data.contract import write_mudata
    from fastspami.data.simulation import simulate

    log.info("simulate %s noise_sd=%s seed=%s %s", scenario, noise, data_seed, kwargs)
    mdata = simulate(scenario, noise_sd=float(noise), seed=int(data_seed), **kwargs)
    write_mudata(mdata, out_path)


# ---------------------------------------------------------------- integrate


def resolve_modalities(params: Mapping[str, Any], modality_names: Sequence[str]) -> dict[str, Any]:
    """Turn the workflow-level 'modalities' / 'exclude_modalities' keys into ``modalities=[...]``.

    Both take modality names ('rna', 'adt', 'atac'); the result keeps the file's modality
    order. A name the dataset does not have is a ConfigError (the variant is then not
    applicable to that dataset). Without either key, ``params`` come back unchanged.
    """
    params = dict(params)
    keep = params.pop("modalities", None)
    drop = params.pop("exclude_modalities", None)
    if keep is None and drop is None:
        return params
    named = [*(keep or []), *(drop or [])]
    missing = sorted(set(named) - set(modality_names))
    if missing:
        raise ConfigError(
            f"modality {missing} not in this dataset (it has {list(modality_names)})."
        )
    chosen = [m for m in modality_names if (keep is None or m in keep) and m not in (drop or [])]
    if not chosen:
        raise ConfigError(
            f"no modality left of {list(modality_names)} after exclude_modalities={drop}."
        )
    params["modalities"] = chosen
    return params


def integrate_job(
    in_path: str | Path,
    out_h5mu: str | Path,
    out_status: str | Path,
    *,
    module: str,
    params: Mapping[str, Any],
    seed: int,
    threads: int,
    device: str,
    job: Mapping[str, Any],
) -> dict[str, Any]:
    """Run one method on one dataset; write the integrated .h5mu and its status JSON.

    Reading the input is outside the guard: a broken input file fails the job loudly, as
    it would fail every method alike. Everything the method does is inside it, and a
    method's ``sys.exit`` is caught like an exception (``KeyboardInterrupt`` is not: in a
    batch's child process, :func:`integrate_batch` records it). The status holds the
    method's own ``seconds`` and the run's ``usage`` (reading, method and writing: wall and
    CPU seconds, peak RSS; see :mod:`fastspami.benchmark.usage`).
    """
    from fastspami.data.contract import read_mudata, write_mudata
    from fastspami.methods.contract import load_method, store_result

    with measure_usage() as usage:
        mdata = read_mudata(in_path)
        status: dict[str, Any] = {**job, "module": module, "params": dict(params)}
        start = time.perf_counter()
        integrate = None
        try:
            integrate = load_method(module)
            call_params = resolve_modalities(params, list(mdata.mod))
            log.info(
                "%s(seed=%s, threads=%s, device=%s, %s)",
                module,
                seed,
                threads,
                device,
                call_params,
            )
            result = integrate(
                mdata, seed=int(seed), threads=int(threads), device=device, **call_params
            )
            result.check(mdata.n_obs)
            store_result(result, mdata)
        except (Exception, SystemExit) as err:  # a failing method marks its cells only
            log.error("integration failed:\n%s", traceback.format_exc())
            status.update(failure_status(err))
            if integrate is None and status["status"] == NOT_APPLICABLE:
                status["status"] = FAILED  # a method that cannot be loaded is a config error
        else:
            status.update(
                status=OK,
                reason="",
                embedding_key=f"X_{result.method}",
                connectivities_key=(
                    f"{result.method}_connectivities" if result.connectivities is not None else None
                ),
                attention_key=(
                    f"{result.method}_attention" if result.attention is not None else None
                ),
                attention_modalities=list(result.attention_modalities),
            )
        status["seconds"] = round(time.perf_counter() - start, 3)
        mdata.uns["integration"] = json.dumps(status, default=_json_default)  # provenance
        write_mudata(mdata, out_h5mu)
    status["usage"] = usage.as_dict()
    write_json(status, out_status)
    log.info("status: %s %s (%s)", status["status"], status["reason"], status["usage"])
    return status


def integrate_batch(
    in_path: str | Path,
    runs: Sequence[Mapping[str, Any]],
    outputs: Sequence[tuple[str | Path, str | Path, str | Path]],
    *,
    seed: int,
    device: str,
    isolate: bool | None = None,
) -> list[dict[str, Any]]:
    """Run several integrations of one dataset and seed, one after the other.

    runs: per integration its ``module``, ``params``, ``threads`` and ``job`` identity (as
    :func:`integrate_job` takes them); outputs: per integration its (.h5mu, status JSON,
    log) paths. The method modules are imported once, here; each integration then runs in
    a child process forked from this one (``isolate``, default: where fork is available),
    which starts with those imports: one interpreter start and one import of the
    scientific stack serve them all (on small data these cost more than the integrations),
    and a method that exits or crashes its process fails only its own run
    (:func:`integrate_isolated`). Each run is seeded by its method, writes its own files
    and log, and has its own cost in its status.
    """
    isolate = can_fork() if isolate is None else isolate
    if isolate:
        preload_methods(run["module"] for run in runs)
    statuses = []
    for run, (h5mu, status, log_path) in zip(runs, outputs, strict=True):
        job = {
            "module": run["module"],
            "params": run["params"],
            "seed": seed,
            "threads": run["threads"],
            "device": device,
            "job": run["job"],
        }
        with job_log(log_path) as stream:
            if isolate:
                statuses.append(integrate_isolated(in_path, h5mu, status, stream, **job))
            else:
                statuses.append(integrate_job(in_path, h5mu, status, **job))
    return statuses


def preload_methods(modules: Iterable[str]) -> None:
    """Import the method modules (``'package.module:function'``) in this process, what the
    fastspami modules they use list in ``LAZY_IMPORTS`` (modules they import on first use),
    and run each method module's ``preload()`` (its imports and warm-up: R and Seurat, the
    compiled kernels, ...), so that the child of each run starts with them: no run pays the
    imports and warm-up its place in the batch would give it. A module or preload that
    fails is left to its run, which fails with the error (only a module whose import
    crashes the interpreter takes the batch down)."""
    names = list(dict.fromkeys(spec.partition(":")[0] for spec in modules))
    for name in names:
        _try_import(name)
    loaded = [m for name, m in list(sys.modules.items()) if name.split(".")[0] == "fastspami"]
    for module in loaded:
        for lazy in getattr(module, "LAZY_IMPORTS", ()):
            _try_import(lazy)
    for name in names:
        module = sys.modules.get(name)
        warm_up = getattr(module, "preload", None)
        if callable(warm_up):
            try:
                warm_up()
            except KeyboardInterrupt:
                raise
            except BaseException as err:  # noqa: BLE001 - its run reports it
                log.info("preload of %s failed (%s); its runs will say why", name, err)


def _try_import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except KeyboardInterrupt:
        raise
    except BaseException:  # noqa: BLE001 - its run reports it, in its own log
        return None


def integrate_isolated(
    in_path: str | Path,
    out_h5mu: str | Path,
    out_status: str | Path,
    stream: IO[str],
    **job: Any,
) -> dict[str, Any]:
    """:func:`integrate_job` in a child process whose output goes to ``stream`` (the run's
    log); returns its status.

    Where the child ends without its status file (an exit, an abort, a segfault, a kill),
    the run is recorded here as failed with the reason (exit code or signal), its cost as
    the child's, and the unchanged input as its ``.h5mu``: the files Snakemake expects
    exist, and the other runs of the batch go on.
    """
    Path(out_status).unlink(missing_ok=True)  # only the child's own status counts
    start_rss = current_rss_mb()
    outcome = run_in_child(
        lambda: integrate_job(in_path, out_h5mu, out_status, **job), output_fd=stream.fileno()
    )
    if outcome.ok and Path(out_status).is_file():
        return read_json(out_status)
    status = _ended_without_status(job, outcome, start_rss)
    log.error("integration failed: %s", status["reason"])
    with atomic_path(out_h5mu) as tmp:
        shutil.copyfile(in_path, tmp)
    write_json(status, out_status)
    log.info("status: %s %s (%s)", status["status"], status["reason"], status["usage"])
    return status


def _ended_without_status(
    job: Mapping[str, Any], outcome: ChildOutcome, start_rss: float
) -> dict[str, Any]:
    """The status of a run whose process ended before it recorded one."""
    if outcome.error:  # an exception outside integrate_job's guard (KeyboardInterrupt, ...)
        reason = f"the method's process {outcome.describe()}"
        exception = outcome.error_type
    else:
        reason = f"the method's process {outcome.describe()} before it could record a result"
        exception = outcome.describe().split()[-2] if outcome.signal else "exit"
    return {
        **job["job"],
        "module": job["module"],
        "params": dict(job["params"]),
        "status": FAILED,
        "reason": reason[:300],
        "exception": exception,
        "seconds": round(outcome.s, 3),
        "usage": {
            "s": round(outcome.s, 3),
            "cpu_s": round(outcome.cpu_s, 3),
            # the child's address space began as a copy of this process's
            "max_rss_mb": round(max(outcome.max_rss_mb, start_rss), 3),
            "start_rss_mb": round(start_rss, 3),
        },
    }


# ---------------------------------------------------------------- cluster


def domain_count(mdata: Any, n_clusters: int | None) -> int:
    """The number of clusters to find: given, or the number of ground-truth domains."""
    if n_clusters:
        return int(n_clusters)
    if "ground_truth" not in mdata.obs:
        raise ConfigError(
            "The dataset has no obs['ground_truth'] and no n_clusters was given; "
            "set n_clusters for it in the dataset registry."
        )
    from fastspami.metrics import is_annotated

    truth = mdata.obs["ground_truth"].to_numpy(dtype=object)
    return int(pd.Series(truth[is_annotated(truth)]).astype(str).nunique())


def cluster_integration(
    mdata: Any,
    integration: Mapping[str, Any],
    *,
    algorithms: Sequence[str],
    n_clusters: int | None,
    seed: int,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Cluster one integrated embedding with each algorithm: (labels, details).

    labels has a ``spot`` column and one column per algorithm (empty where it failed or the
    integration did not succeed). Each algorithm runs on its own, so that one failing (mclust
    without R) leaves the others.
    """
    from fastspami.clustering.algorithms import cluster_embedding

    labels = pd.DataFrame({"spot": mdata.obs_names.astype(str)})
    details: dict[str, Any] = {"integration_status": integration["status"], "algorithms": {}}
    if integration["status"] == OK:
        target = domain_count(mdata, n_clusters)
        details["n_clusters"] = target
        embedding = np.asarray(mdata.obsm[integration["embedding_key"]])
        key = integration.get("connectivities_key")
        graph = mdata.obsp[key] if key else None
    for algorithm in algorithms:
        if integration["status"] != OK:
            labels[algorithm] = ""
            details["algorithms"][algorithm] = {
                "status": integration["status"],
                "reason": integration["reason"],
            }
            continue
        try:
            found = cluster_embedding(
                embedding, target, (algorithm,), seed=int(seed), connectivities=graph
            )[algorithm]
        except Exception as err:
            log.error("%s failed:\n%s", algorithm, traceback.format_exc())
            labels[algorithm] = ""
            details["algorithms"][algorithm] = failure_status(err)
            continue
        labels[algorithm] = found.labels
        details["algorithms"][algorithm] = {
            "status": OK,
            "reason": found.message,
            "resolution": found.resolution,
            "n_clusters": found.n_clusters,
            "reached": found.reached,
        }
    return labels, details


# ---------------------------------------------------------------- score


def score_integration(
    mdata: Any,
    integration: Mapping[str, Any],
    labels: pd.DataFrame,
    details: Mapping[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Score each clustering of one integration: (scores, Moran's I, attention) tables.

    scores: one row per (clustering, metric) with metrics ari, ami, nmi, homogeneity (when the
    dataset has a ground truth) and morans_i_median; ``value`` is NaN and ``status``/``reason``
    say why wherever the integration or the clustering failed.
    morans_i: Moran's I of each cluster's indicator (one row per clustering and cluster).
    attention: mean attention per ground-truth domain (or per Leiden cluster without one),
    for methods that give attention weights; empty (header only) otherwise.
    """
    from fastspami.data.contract import spatial_coordinates

    truth = (
        mdata.obs["ground_truth"].to_numpy(dtype=object) if "ground_truth" in mdata.obs else None
    )
    from fastspami.metrics import spatial_metrics, supervised_metrics

    metrics = [*(supervised_metrics() if truth is not None else ()), *spatial_metrics()]
    coords = spatial_coordinates(mdata)

    rows: list[dict[str, Any]] = []
    morans_tables = []
    for algorithm, info in details["algorithms"].items():
        status, reason, values = info["status"], info.get("reason", ""), {}
        if status == OK:
            try:
                values, per_cluster = clustering_scores(truth, coords, labels[algorithm].to_numpy())
            except Exception as err:
                log.error("scoring %s failed:\n%s", algorithm, traceback.format_exc())
                status, reason = FAILED, f"scoring: {failure_status(err)['reason']}"
            else:
                morans_tables.append(per_cluster.assign(clustering=algorithm)[MORANS_COLUMNS])
        rows.extend(
            {
                "clustering": algorithm,
                "metric": metric,
                "value": values.get(metric, math.nan),
                "status": status,
                "reason": reason,
            }
            for metric in metrics
        )
    morans_i = (
        pd.concat(morans_tables, ignore_index=True)
        if morans_tables
        else pd.DataFrame(columns=MORANS_COLUMNS)
    )
    return (
        pd.DataFrame(rows, columns=SCORE_COLUMNS[6:]),
        morans_i,
        attention_table(mdata, integration, truth, labels),
    )


def evaluate_job(
    h5mus: Sequence[str | Path],
    statuses: Sequence[str | Path],
    jobs: Sequence[Mapping[str, Any]],
    out: Mapping[str, str | Path],
    *,
    algorithms: Sequence[str],
    n_clusters: int | None,
    seed: int,
) -> pd.DataFrame:
    """Cluster and score every integration of one dataset and seed; write five tables.

    One job per (dataset, seed) rather than per integration: starting Python and importing
    scanpy, squidpy and rpy2 costs more than clustering and scoring a small dataset.
    ``out`` names the files: ``clusters`` (TSV: spot, method, variant, clustering, label;
    label empty where the run or its clustering failed), ``clustering`` (JSON: each run's
    details by "method/variant"), ``scores``, ``morans_i`` and ``attention`` (CSVs with
    the job columns dataset, scenario, noise, method, variant, seed first). Nothing is
    written until every run is scored.
    """
    from fastspami.data.contract import read_mudata

    clusters, details_by_run = [], {}
    tables: dict[str, list[pd.DataFrame]] = {"scores": [], "morans_i": [], "attention": []}
    for h5mu, status_path, job in zip(h5mus, statuses, jobs, strict=True):
        integration = read_json(status_path)
        mdata = read_mudata(h5mu)
        labels, details = cluster_integration(
            mdata, integration, algorithms=algorithms, n_clusters=n_clusters, seed=seed
        )
        run = f"{job['method']}/{job['variant']}"
        details_by_run[run] = details
        long = labels.melt(id_vars="spot", var_name="clustering", value_name="label")
        long.insert(1, "method", job["method"])
        long.insert(2, "variant", job["variant"])
        clusters.append(long)
        scored = score_integration(mdata, integration, labels, details)
        for name, table in zip(tables, scored, strict=True):
            tables[name].append(_with_job(table, job))
    columns = {
        "scores": SCORE_COLUMNS,
        "morans_i": [*JOB_KEYS, *MORANS_COLUMNS],
        "attention": [*JOB_KEYS, *ATTENTION_COLUMNS],
    }
    merged = {name: _concat(parts, columns[name]) for name, parts in tables.items()}
    with atomic_path(out["clusters"]) as tmp:
        _concat(clusters, CLUSTER_COLUMNS).to_csv(tmp, sep="\t", index=False)
    write_json(details_by_run, out["clustering"])
    for name, table in merged.items():
        with atomic_path(out[name]) as tmp:
            table.to_csv(tmp, index=False)
    return merged["scores"]


def evaluate_dataset(
    h5mus: Sequence[str | Path],
    statuses: Sequence[str | Path],
    jobs: Sequence[Mapping[str, Any]],
    outputs: Mapping[str, Sequence[str | Path]],
    *,
    seeds: Sequence[int],
    algorithms: Sequence[str],
    n_clusters: int | None,
) -> None:
    """:func:`evaluate_job` for every seed of one dataset, in one process.

    outputs: for each of evaluate_job's five tables, one path per seed (in ``seeds``'
    order); the integrations are matched to their seed by their job's ``seed``.
    """
    for index, seed in enumerate(seeds):
        picked = [k for k, job in enumerate(jobs) if int(job["seed"]) == int(seed)]
        evaluate_job(
            [h5mus[k] for k in picked],
            [statuses[k] for k in picked],
            [jobs[k] for k in picked],
            {name: paths[index] for name, paths in outputs.items()},
            algorithms=algorithms,
            n_clusters=n_clusters,
            seed=int(seed),
        )


def _concat(parts: Sequence[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    """The non-empty tables of ``parts`` stacked, or an empty table with ``columns``."""
    non_empty = [p for p in parts if len(p)]
    if not non_empty:
        return pd.DataFrame(columns=list(columns))
    return pd.concat(non_empty, ignore_index=True)[list(columns)]


def clustering_scores(
    truth: np.ndarray | None, coords: np.ndarray, clusters: np.ndarray
) -> tuple[dict[str, float], pd.DataFrame]:
    """({metric: value}, per-cluster Moran's I table) of one clustering of n spots: every
    registered metric (supervised ones where there is a ground truth)."""
    from fastspami.metrics import (
        get_metric,
        morans_i_per_cluster,
        spatial_metrics,
        supervised_scores,
    )

    values = supervised_scores(truth, clusters) if truth is not None else {}
    per_cluster = morans_i_per_cluster(coords, clusters)
    for name in spatial_metrics():
        if name == "morans_i_median":  # from the per-cluster table the box plots keep
            values[name] = float(np.nanmedian(per_cluster.to_numpy(dtype=float)))
        else:
            values[name] = get_metric(name).compute(coords, clusters)
    table = pd.DataFrame(
        {"cluster": per_cluster.index.astype(str), "morans_i": per_cluster.to_numpy(dtype=float)}
    )
    return values, table


def attention_table(
    mdata: Any, integration: Mapping[str, Any], truth: np.ndarray | None, labels: pd.DataFrame
) -> pd.DataFrame:
    """Mean attention per modality and domain (ground truth, else Leiden clusters); may be empty."""
    from fastspami.metrics import attention_by_domain

    key = integration.get("attention_key")
    if integration["status"] != OK or not key:
        return pd.DataFrame(columns=ATTENTION_COLUMNS)
    if truth is not None:
        domains, source = truth, "ground_truth"
    elif "leiden" in labels and labels["leiden"].ne("").all():
        domains, source = labels["leiden"].to_numpy(), "leiden"
    else:
        return pd.DataFrame(columns=ATTENTION_COLUMNS)
    table = attention_by_domain(
        np.asarray(mdata.obsm[key]), integration["attention_modalities"], domains
    )
    table.insert(0, "domain_source", source)
    return table[ATTENTION_COLUMNS]


def _with_job(table: pd.DataFrame, job: Mapping[str, Any]) -> pd.DataFrame:
    """Prefix ``table`` with the job's identifying columns (dataset, scenario, noise, ...)."""
    table = table.copy()
    for position, key in enumerate(JOB_KEYS):
        table.insert(position, key, [job.get(key)] * len(table))
    return table


# ---------------------------------------------------------------- merge


def merge_tables(paths: Iterable[str | Path], out_path: str | Path) -> pd.DataFrame:
    """Concatenate CSV tables (skipping empty ones) into one CSV, written atomically."""
    tables = [pd.read_csv(p) for p in paths]
    non_empty = [t for t in tables if len(t)]
    merged = (
        pd.concat(non_empty, ignore_index=True)
        if non_empty
        else (tables[0] if tables else pd.DataFrame())
    )
    with atomic_path(out_path) as tmp:
        merged.to_csv(tmp, index=False)
    return merged


def cost_job(statuses: Sequence[str | Path], out_path: str | Path) -> pd.DataFrame:
    """One row per integration: its identity, its status, and its cost from the status file.

    ``s``, ``cpu_s``, ``max_rss_mb``, ``start_rss_mb``: the run's process (reading, the
    method, writing), as :mod:`fastspami.benchmark.usage` measured it; ``method_s``: the
    method's own call; ``peak_above_start_mb``: the peak above what the run's process held
    when it started (the batch's imports and warm-up, the same for every run of the batch):
    the two numbers the report compares methods on, whatever their place in a batch."""
    rows = []
    for status_path in statuses:
        status = read_json(status_path)
        usage = status.get("usage", {})
        rows.append(
            {
                **{k: status.get(k) for k in JOB_KEYS},
                **{k: usage.get(k, math.nan) for k in ("s", "cpu_s", "max_rss_mb", "start_rss_mb")},
                "method_s": status.get("seconds", math.nan),
                "peak_above_start_mb": usage.get("max_rss_mb", math.nan)
                - usage.get("start_rss_mb", math.nan),
                "status": status["status"],
            }
        )
    table = pd.DataFrame(rows, columns=COST_COLUMNS)
    with atomic_path(out_path) as tmp:
        table.to_csv(tmp, index=False)
    return table
