"""Measurements that explain what a trained SpaMI model learned, and a sensitivity sweep.

- :func:`modality_partition_scores`: Leiden ARI of the integrated embedding and of each
  modality's own embedding Z_m against every annotation column (the domains and, in the
  complementary simulations, each partition): does Z_m keep what its modality shows, and
  does the fusion keep both?
- :func:`attention_summary`: mean attention weight per modality within each group of an
  annotation column (and over all spots).
- :func:`loss_history_frame`: the loss terms over training, as a tidy table.
- :func:`result_from_mudata` and :func:`diagnosis_tables`: the three tables above for the
  runs the workflow wrote (integrated ``.h5mu`` files), one 'variant' column apiece; the
  report's diagnosis figure (``fastspami.pl.diagnosis_figure``) draws them.
- :func:`sensitivity_sweep`: SpaMI under many settings (and the baselines) on simulated
  datasets, one tidy CSV row per (dataset, method, variant, seed), appended as it goes so
  a long sweep can be resumed.

docs/robust_preset.md reports what these measured and the preset they led to.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fastspami.clustering.algorithms import leiden_n_clusters
from fastspami.errors import InputDataError
from fastspami.methods.contract import IntegrationResult
from fastspami.metrics import attention_by_domain, supervised_scores

log = logging.getLogger(__name__)

ANNOTATIONS = ("ground_truth", "partition_a", "partition_b")
BASELINES = ("smoothing", "pca_concat")


def annotation_columns(mdata: Any, wanted: Sequence[str] = ANNOTATIONS) -> list[str]:
    """The columns of ``wanted`` that ``mdata.obs`` has."""
    return [name for name in wanted if name in mdata.obs]


def leiden_ari(embedding: np.ndarray, truth: Any, *, seed: int = 0) -> float:
    """ARI of Leiden clustering of ``embedding`` (n, d) with as many clusters as ``truth``
    (n,) has labels (the benchmark's protocol: resolution searched to that count)."""
    labels = pd.Series(np.asarray(truth)).astype(str)
    n_clusters = labels.nunique()
    clustering = leiden_n_clusters(np.asarray(embedding), n_clusters, seed=seed)
    return supervised_scores(labels.to_numpy(), clustering.labels)["ari"]


def probe_accuracy(embedding: np.ndarray, truth: Any, *, seed: int = 0, n_pcs: int = 20) -> float:
    """Balanced accuracy of a 5-fold cross-validated logistic regression predicting
    ``truth`` (n,) from the leading ``n_pcs`` standardized PCs of ``embedding`` (n, d).

    Unlike a clustering into as many groups as ``truth`` has, it tells whether the
    embedding holds the labels at all, even when another, stronger structure (the other
    partition) decides how it clusters. Chance is 1 / number of labels.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from fastspami.clustering.algorithms import leading_pcs

    labels = pd.Series(np.asarray(truth)).astype(str).to_numpy()
    reduced = leading_pcs(np.asarray(embedding, dtype=np.float64), n_pcs, seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    scores = cross_val_score(model, reduced, labels, cv=folds, scoring="balanced_accuracy")
    return float(np.mean(scores))


def modality_partition_scores(
    result: IntegrationResult,
    mdata: Any,
    *,
    annotations: Sequence[str] = ANNOTATIONS,
    seed: int = 0,
) -> pd.DataFrame:
    """Leiden ARI of every embedding of ``result`` against every annotation column.

    Embeddings: 'integrated' (result.embedding) and each modality's own ('Z:<name>').
    Returns a tidy table with columns embedding, annotation, n_clusters, ari (Leiden with
    the annotation's number of groups) and probe (:func:`probe_accuracy`).
    """
    embeddings = {"integrated": result.embedding}
    embeddings.update({f"Z:{name}": z for name, z in result.modality_embeddings.items()})
    rows = []
    for column in annotation_columns(mdata, annotations):
        truth = mdata.obs[column]
        for name, embedding in embeddings.items():
            rows.append(
                {
                    "embedding": name,
                    "annotation": column,
                    "n_clusters": int(pd.Series(np.asarray(truth)).nunique()),
                    "ari": leiden_ari(embedding, truth, seed=seed),
                    "probe": probe_accuracy(embedding, truth, seed=seed),
                }
            )
    return pd.DataFrame(rows, columns=["embedding", "annotation", "n_clusters", "ari", "probe"])


def attention_summary(
    result: IntegrationResult, mdata: Any, *, annotations: Sequence[str] = ANNOTATIONS
) -> pd.DataFrame:
    """Mean attention weight per modality within each group of each annotation column.

    Returns columns annotation, group, modality, mean_weight; annotation 'all' holds the
    mean over all spots. Empty when the result has no attention (concat fusion, one
    modality, other methods).
    """
    columns = ["annotation", "group", "modality", "mean_weight"]
    if result.attention is None:
        return pd.DataFrame(columns=columns)
    names = list(result.attention_modalities)
    parts = [
        pd.DataFrame(
            {
                "annotation": "all",
                "group": "all",
                "modality": names,
                "mean_weight": result.attention.mean(axis=0),
            }
        )
    ]
    for column in annotation_columns(mdata, annotations):
        table = attention_by_domain(result.attention, names, mdata.obs[column])
        table = table.rename(columns={"domain": "group"})
        table.insert(0, "annotation", column)
        parts.append(table)
    return pd.concat(parts, ignore_index=True)[columns]


def loss_history_frame(result: IntegrationResult, *, every: int = 1) -> pd.DataFrame:
    """SpaMI's loss terms per epoch (every ``every``-th epoch and the last): columns epoch
    (1-based), term, value. Empty for results without a loss history."""
    history = result.uns.get("loss_history", {})
    rows = []
    for term, values in history.items():
        values = np.asarray(values)
        epochs = sorted(set(range(0, len(values), max(every, 1))) | {len(values) - 1})
        rows.extend({"epoch": e + 1, "term": term, "value": float(values[e])} for e in epochs)
    return pd.DataFrame(rows, columns=["epoch", "term", "value"])


def _names(values: Any) -> list[str]:
    """A stored list of names (list, numpy array of str or one str) as a list of str."""
    if values is None:
        return []
    if isinstance(values, str):
        return [values]
    return [str(v) for v in np.asarray(values).ravel()]


def result_from_mudata(mdata: Any, method: str = "spami") -> IntegrationResult:
    """Rebuild the :class:`IntegrationResult` that ``store_result`` wrote into ``mdata``.

    Reads the embedding (``obsm['X_<method>']``), the modality embeddings
    (``obsm['X_<method>_<modality>']``), the attention (``obsm['<method>_attention']``,
    columns named by ``uns[method]['attention_modalities']``) and ``uns[method]`` (with the
    loss history as float arrays). Reconstructions and graphs are not rebuilt.
    """
    key = f"X_{method}"
    if key not in mdata.obsm:
        raise InputDataError(
            f"no obsm[{key!r}] in the integrated data (has {sorted(mdata.obsm)}): "
            f"{method} did not run on it, or it failed."
        )
    uns = dict(mdata.uns.get(method, {}))
    if "loss_history" in uns:
        uns["loss_history"] = {
            str(term): np.asarray(values, dtype=np.float64).ravel()
            for term, values in dict(uns["loss_history"]).items()
        }
    prefix = f"{key}_"
    found = {k[len(prefix) :]: k for k in mdata.obsm if k.startswith(prefix)}
    known = list(getattr(mdata, "mod", {})) or list(found)
    order = [*_names(uns.get("modalities")), *known]
    names = [name for name in dict.fromkeys(order) if name in found and name in known]
    attention = mdata.obsm.get(f"{method}_attention")
    attention_modalities = _names(uns.get("attention_modalities")) if attention is not None else []
    if attention is not None and "attention_modalities" in uns:
        uns["attention_modalities"] = attention_modalities
    return IntegrationResult(
        method=method,
        embedding=np.asarray(mdata.obsm[key], dtype=np.float32),
        modality_embeddings={n: np.asarray(mdata.obsm[found[n]], dtype=np.float32) for n in names},
        attention=None if attention is None else np.asarray(attention, dtype=np.float32),
        attention_modalities=attention_modalities,
        uns=uns,
    )


DIAGNOSIS_COLUMNS = {
    "scores": ["variant", "embedding", "annotation", "n_clusters", "ari", "probe"],
    "attention": ["variant", "annotation", "group", "modality", "mean_weight"],
    "history": ["variant", "epoch", "term", "value"],
}


def diagnosis_tables(
    dataset_mdata: Any, results: Mapping[str, IntegrationResult], *, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Partition scores, attention per annotation group and loss history of several runs.

    dataset_mdata: anything with the dataset's ``obs`` (ground_truth and, in the
    complementary simulations, partition_a and partition_b); results: variant name ->
    result, its rows in the dataset's spot order. Returns (:func:`modality_partition_scores`,
    :func:`attention_summary`, :func:`loss_history_frame` every 10th epoch), each with a
    leading 'variant' column, variants in the order given.
    """
    parts: dict[str, list[pd.DataFrame]] = {name: [] for name in DIAGNOSIS_COLUMNS}
    for variant, result in results.items():
        tables = {
            "scores": modality_partition_scores(result, dataset_mdata, seed=seed),
            "attention": attention_summary(result, dataset_mdata),
            "history": loss_history_frame(result, every=10),
        }
        for name, table in tables.items():
            if len(table):
                parts[name].append(table.assign(variant=variant))
    frames = [
        pd.concat(parts[name], ignore_index=True)[columns]
        if parts[name]
        else pd.DataFrame(columns=columns)
        for name, columns in DIAGNOSIS_COLUMNS.items()
    ]
    return frames[0], frames[1], frames[2]


# ---------------------------------------------------------------- the sweep


def _method(name: str) -> Callable[..., IntegrationResult]:
    """A method's integrate function by registry name (or 'package.module:function')."""
    from fastspami.methods.contract import load_method

    return load_method(name)


def summarize_run(result: IntegrationResult, mdata: Any, *, seed: int = 0) -> dict[str, Any]:
    """One flat row of scores for a trained result: 'ari' (integrated vs domains), then
    'ari_<embedding>_<annotation>' for every other pair, the mean attention per modality
    ('attention_<name>'), the last value of each loss term ('loss_<term>') and the epochs
    run."""
    row: dict[str, Any] = {}
    scores = modality_partition_scores(result, mdata, seed=seed)
    for rec in scores.itertuples():
        key = (
            "ari"
            if (rec.embedding, rec.annotation) == ("integrated", "ground_truth")
            else f"ari_{rec.embedding.replace('Z:', 'Z_')}_{rec.annotation}"
        )
        row[key] = rec.ari
        row[f"probe_{rec.embedding.replace('Z:', 'Z_')}_{rec.annotation}"] = rec.probe
    if result.attention is not None:
        for name, weight in zip(
            result.attention_modalities, result.attention.mean(axis=0), strict=True
        ):
            row[f"attention_{name}"] = float(weight)
        row["attention_sd"] = float(result.attention[:, 0].std())
    for term, values in result.uns.get("loss_history", {}).items():
        if len(values):
            row[f"loss_{term}"] = float(np.asarray(values)[-1])
    if "epochs_run" in result.uns:
        row["epochs_run"] = int(result.uns["epochs_run"])
    return row


def _done_keys(path: Path) -> set[tuple[str, str, str, int]]:
    if not path.exists() or path.stat().st_size == 0:
        return set()
    done = pd.read_csv(path, usecols=["dataset", "method", "variant", "seed"])
    return {(d, m, v, int(s)) for d, m, v, s in done.itertuples(index=False)}


def _append_row(path: Path, row: dict[str, Any]) -> None:
    """Append one row; a row with new columns rewrites the file with the union of columns."""
    frame = pd.DataFrame([row])
    if path.exists() and path.stat().st_size > 0:
        old = pd.read_csv(path)
        if set(frame.columns) - set(old.columns):
            pd.concat([old, frame], ignore_index=True).to_csv(path, index=False)
            return
        frame = frame.reindex(columns=old.columns)
        frame.to_csv(path, mode="a", header=False, index=False)
    else:
        frame.to_csv(path, index=False)


def sensitivity_sweep(
    datasets: Mapping[str, Mapping[str, Any]],
    variants: Mapping[str, Mapping[str, Any]],
    seeds: Sequence[int],
    out_csv: str | Path,
    *,
    baselines: Sequence[str] = BASELINES,
    threads: int = 1,
    spami_defaults: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Run SpaMI variants and baselines on simulated datasets; one CSV row per run.

    datasets: name -> keyword arguments of :func:`fastspami.data.simulation.simulate` (the seed is
    added: each seed simulates its own data and trains with that seed); variants: name ->
    settings of :func:`fastspami.methods.spami_method.integrate` (a 'preset' key picks the
    preset, default 'simulated'), applied over ``spami_defaults``; baselines: method names
    ('smoothing', 'pca_concat' or 'module:function'), run with default settings.

    Rows hold dataset, the simulation parameters, method, variant, settings (JSON), seed,
    seconds and the scores of :func:`summarize_run`. Runs already in ``out_csv`` are
    skipped, so an interrupted sweep resumes. Returns the whole table.
    """
    from fastspami.data.simulation import simulate

    path = Path(out_csv)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = _done_keys(path)
    jobs = [("spami", name, {**(spami_defaults or {}), **v}) for name, v in variants.items()]
    jobs += [(name, "default", {}) for name in baselines]
    for seed in seeds:
        for data_name, sim_params in datasets.items():
            todo = [j for j in jobs if (data_name, j[0], j[1], int(seed)) not in done]
            if not todo:
                continue
            mdata = simulate(**{**sim_params, "seed": int(seed)})
            for method, variant, settings in todo:
                started = time.perf_counter()
                kwargs: dict[str, Any] = {"seed": int(seed), "threads": threads, **settings}
                if method == "spami":
                    kwargs["progress"] = False
                result = _method(method)(mdata, **kwargs)
                seconds = time.perf_counter() - started
                row = {
                    "dataset": data_name,
                    **{f"sim_{k}": v for k, v in sim_params.items()},
                    "method": method,
                    "variant": variant,
                    "settings": json.dumps(settings, sort_keys=True),
                    "seed": int(seed),
                    "seconds": round(seconds, 2),
                    **summarize_run(result, mdata, seed=int(seed)),
                }
                _append_row(path, row)
                log.info("%s %s/%s seed %d: ARI %.3f", data_name, method, variant, seed, row["ari"])
    return pd.read_csv(path)


def mean_over_seeds(table: pd.DataFrame, value: str = "ari") -> pd.DataFrame:
    """``value`` averaged over seeds: rows dataset, columns method/variant."""
    is_spami = table["method"] == "spami"
    label = table["method"].where(~is_spami, "spami:" + table["variant"].astype(str))
    pivot = table.assign(label=label).pivot_table(
        index="dataset", columns="label", values=value, aggfunc="mean"
    )
    return pivot.round(3)
