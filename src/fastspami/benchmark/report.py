"""The benchmark report: summary tables, and the figures built from the workflow's result files.

Tables (each written as CSV for machines, Markdown for the README, HTML for the Snakemake
report):

- summary_table: per dataset, methods x metrics, mean ± sd over seeds, per clustering;
  failed / not-applicable methods keep their row, with status and reason.
- significance_table: paired Wilcoxon tests of SpaMI against each other method
  (``fastspami.benchmark.stats.paired_wilcoxon``) on data-draw means over seeds, per metric and
  clustering, Holm-adjusted across the whole table.
- cost_table: seconds and peak memory per method and dataset size.
- noise_sweep_table: per scenario, every method and variant at every noise level (the
  numbers behind the noise-sweep and ablation figures).
- paper_check_table: a method's scores at one noise level of a scenario, mean ± sd over data
  draws per clustering, beside a published number (SpaMI Tutorial 4's ARI 0.963).
- diagnosis_table: Leiden ARI and probe accuracy of SpaMI's embeddings against the
  partitions of a complementary simulation, per variant (with the diagnosis figure).

Figures: ``*_figure`` functions read the result files of one dataset (ground truth and
coordinates from the input ``.h5mu``, clusters from the dataset's TSV, embeddings from the
integrated ``.h5mu``, status files for failures) and hand arrays to ``fastspami.pl.style``.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fastspami import pl
from fastspami._utils.atomic import atomic_path
from fastspami.benchmark.jobs import (
    ATTENTION_COLUMNS,
    MORANS_COLUMNS,
    NOT_APPLICABLE,
    OK,
    SCORE_COLUMNS,
    read_json,
    resolve_modalities,
)
from fastspami.data.labels import modalities_label
from fastspami.errors import ConfigError, InputDataError
from fastspami.methods.registry import is_control, method_label
from fastspami.metrics.registry import metric_label, registered_metrics, supervised_metrics
from fastspami.pl.style import run_sort_key

STATUS_TEXT = {"failed": "failed", "not_applicable": "n/a", "unavailable": "unavailable"}
Block = tuple  # ("h1" | "h2" | "p", text), ("table", header, rows) or ("notes", [text])
REASON_LENGTH = 160  # characters of a failure's reason shown to the reader
TRACEBACK = "Traceback (most recent call last)"


# ---------------------------------------------------------------- reading result files


@dataclass
class Spots:
    """The spots of a dataset: obs (n rows), (n, 2) coordinates, modality names in order."""

    obs: pd.DataFrame
    coords: np.ndarray
    modalities: list[str]

    @property
    def truth(self) -> np.ndarray | None:
        """(n,) ground-truth domains, or None when the dataset has none."""
        if "ground_truth" not in self.obs:
            return None
        return self.obs["ground_truth"].to_numpy(dtype=object)


def read_spots(path: str | Path) -> Spots:
    """obs, coordinates and modality names of an .h5mu, without loading the count matrices."""
    import h5py
    from anndata.io import read_elem

    with h5py.File(path, "r") as f:
        obs = read_elem(f["obs"])
        order = f["mod"].attrs.get("mod-order", list(f["mod"].keys()))
        modalities = [str(m) for m in order]
        coords = read_elem(f["obsm"]["spatial"]) if "spatial" in f.get("obsm", {}) else None
    if coords is None:  # coordinates only on the modalities: let fastspami.data.contract find them
        from fastspami.data.contract import read_mudata, spatial_coordinates

        coords = spatial_coordinates(read_mudata(path))
    return Spots(obs, np.asarray(coords, dtype=float), modalities)


def n_spots(path: str | Path) -> int:
    """Number of spots of an .h5mu (read from its obs index only)."""
    import h5py

    with h5py.File(path, "r") as f:
        return int(f["obs"][f["obs"].attrs["_index"]].shape[0])


def read_embedding(path: str | Path, key: str) -> np.ndarray:
    """(n, d) ``obsm[key]`` of an integrated .h5mu, without loading the count matrices."""
    import h5py
    from anndata.io import read_elem

    with h5py.File(path, "r") as f:
        return np.asarray(read_elem(f["obsm"][key]), dtype=np.float32)


def read_labels(path: str | Path, method: str, variant: str, clustering: str) -> np.ndarray | None:
    """(n,) labels of one run's clustering from a dataset's clusters TSV (spot, method,
    variant, clustering, label), in spot order; None where it failed (empty labels)."""
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    rows = table[
        (table["method"] == method)
        & (table["variant"] == variant)
        & (table["clustering"] == clustering)
    ]
    if rows.empty or rows["label"].eq("").any():
        return None
    return rows["label"].to_numpy(dtype=object)


def short_reason(reason: Any, length: int = REASON_LENGTH) -> str:
    """A failure's reason as a reader needs it: one line, no traceback, at most ``length``
    characters (cut at a word). Of a traceback, its last line (the exception) is kept."""
    lines = [line.strip() for line in str(reason or "").splitlines() if line.strip()]
    if not lines:
        return ""
    traceback_at = next((i for i, line in enumerate(lines) if line.startswith(TRACEBACK)), None)
    text = lines[-1] if traceback_at is not None else lines[0]
    # a traceback joined into the message's one line: keep what comes before it
    text = " ".join(text.split(TRACEBACK)[0].split()).rstrip(" :;,") or " ".join(text.split())
    if len(text) <= length:
        return text
    cut = text[: length - 1]
    if not text[length - 1].isspace():  # the cut falls inside a word: drop that word
        cut = cut.rsplit(" ", 1)[0]
    cut = cut.rstrip(" ,;:")
    return f"{cut}…"


def failure_text(status: Mapping[str, Any]) -> str:
    """'failed: RuntimeError: ...' for a status file's content (the reason shortened)."""
    text = STATUS_TEXT.get(status["status"], status["status"])
    reason = short_reason(status.get("reason", ""))
    return f"{text}: {reason}" if reason else text


def run_labels(
    clusters: str | Path, status_paths: Sequence[str | Path], clustering: str
) -> list[np.ndarray | str]:
    """Each run's (n,) labels, or a str saying why it has none (failed, not applicable).

    The runs are those of the status files (each names its method and variant); their
    labels come from the dataset's clusters TSV.
    """
    out: list[np.ndarray | str] = []
    for status_path in status_paths:
        status = read_json(status_path)
        if status["status"] != OK:
            out.append(failure_text(status))
            continue
        labels = read_labels(clusters, status["method"], status["variant"], clustering)
        if labels is None:
            out.append(f"{clustering} clustering failed (see the score log)")
        else:
            out.append(labels)
    return out


def read_results(path: str | Path, subject: str | None = None) -> pd.DataFrame:
    """A study-wide results CSV (scores, morans_i, attention), only ``subject``'s rows if given.

    An empty file reads as an empty table with the workflow's columns.
    """
    try:
        table = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        columns = [*SCORE_COLUMNS, *MORANS_COLUMNS, *ATTENTION_COLUMNS]
        table = pd.DataFrame(columns=list(dict.fromkeys(columns)))
    return table if subject is None else of_subject(table, subject)


def of_subject(table: pd.DataFrame, subject: str) -> pd.DataFrame:
    """Rows of a results table whose dataset or scenario is ``subject``."""
    keep = table["dataset"].astype(str) == subject
    if "scenario" in table:
        keep |= table["scenario"].astype(str) == subject
    return table[keep]


def modality_title(status: Mapping[str, Any], modalities: Sequence[str]) -> str:
    """'RNA only', 'protein only' or 'RNA + protein': the modalities a SpaMI variant was
    trained on."""
    try:
        params = resolve_modalities(status.get("params", {}), list(modalities))
    except ConfigError:
        return str(status.get("variant", "?"))
    used = params.get("modalities", list(modalities))
    names = modalities_label(used)
    return names if len(used) == len(modalities) else f"{names} only"


# ---------------------------------------------------------------- figures from result files


def domain_maps_figure(
    dataset: str | Path,
    clusters: str | Path,
    status_paths: Sequence[str | Path],
    titles: Sequence[str],
    clustering: str,
    name: str = "",
) -> Any:
    """Domain maps (pl.domain_maps) of the runs given, one panel per title, each titled
    with its ARI; name: the dataset's name for the reader (in the figure's title)."""
    spots = read_spots(dataset)
    labels = run_labels(clusters, status_paths, clustering)
    panels = dict(zip(titles, labels, strict=True))
    heading = f"Spatial domains ({clustering} clustering)" + (f": {name}" if name else "")
    return pl.domain_maps(spots.coords, panels, spots.truth, title=heading)


def single_vs_integrated_figure(
    dataset: str | Path,
    clusters: str | Path,
    status_paths: Sequence[str | Path],
    clustering: str,
    name: str = "",
) -> Any:
    """SpaMI's single-modality variants beside the full model, titled by their modalities;
    name: the dataset's name for the reader (in the figure's title)."""
    spots = read_spots(dataset)
    titles = [modality_title(read_json(p), spots.modalities) for p in status_paths]
    labels = run_labels(clusters, status_paths, clustering)
    heading = "SpaMI on one modality and on all" + (f": {name}" if name else "")
    return pl.single_vs_integrated_maps(
        spots.coords, dict(zip(titles, labels, strict=True)), spots.truth, title=heading
    )


def embedding_umaps_figure(
    dataset: str | Path,
    integrated_paths: Sequence[str | Path],
    status_paths: Sequence[str | Path],
    titles: Sequence[str],
    seed: int = 0,
    clusters: str | Path | None = None,
    clustering: str = "",
    name: str = "",
) -> Any:
    """UMAP of each run's embedding coloured by the ground truth (pl.embedding_umaps).

    clusters, clustering: the dataset's clusters TSV and the clustering whose ARI each
    panel's title gives (as in the domain maps); name: the dataset's name for the reader.
    """
    from fastspami.pl.maps import clustering_ari

    spots = read_spots(dataset)
    embeddings: dict[str, np.ndarray | str] = {}
    ari: dict[str, float | None] = {}
    for title, h5mu, status_path in zip(titles, integrated_paths, status_paths, strict=True):
        status = read_json(status_path)
        ok = status["status"] == OK
        embeddings[title] = (
            read_embedding(h5mu, status["embedding_key"]) if ok else failure_text(status)
        )
        if ok and clusters is not None and clustering:
            labels = read_labels(clusters, status["method"], status["variant"], clustering)
            ari[title] = clustering_ari(spots.truth, labels) if labels is not None else None
    heading = "Embeddings (UMAP)" + (f": {name}" if name else "")
    return pl.embedding_umaps(embeddings, spots.truth, seed=seed, ari=ari, title=heading)


def denoising_figure(
    integrated: str | Path,
    status_path: str | Path,
    clusters: str | Path,
    clustering: str,
    markers: Mapping[str, Sequence[str]] | Sequence[str] | None = None,
) -> Any:
    """Input vs SpaMI-reconstructed marker genes (pl.denoising_maps) of one SpaMI run.

    markers: gene names, or {modality: names} as in the dataset registry (the names of
    the reconstructed modality are used); without any, the top DE gene of each
    ground-truth domain, or of each SpaMI cluster when the dataset has no ground truth.
    """
    import mudata

    status = read_json(status_path)
    if status["status"] != OK:
        return pl.message_figure(failure_text(status), "Denoising")
    mdata = mudata.read_h5mu(integrated)
    domains = None
    if "ground_truth" not in mdata.obs:
        domains = read_labels(clusters, status["method"], status["variant"], clustering)
    try:
        if isinstance(markers, Mapping):
            markers = markers.get(pl.maps.reconstruction_modality(mdata), [])
        return pl.denoising_maps(mdata, list(markers or []) or None, domains=domains)
    except InputDataError as err:
        return pl.message_figure(str(err), "Denoising")


def attention_figure(attention: pd.DataFrame, method: str, variant: str, name: str = "") -> Any:
    """Attention per domain (pl.attention_by_domain_plot) of one method and variant; name:
    the dataset's name for the reader (in the title)."""
    rows = attention[(attention["method"] == method) & (attention["variant"] == variant)]
    if rows.empty:
        return pl.message_figure(
            f"No attention weights of {method_label(method, variant)}: it failed, or "
            "ran on one modality."
        )
    title = f"{method_label(method, variant)}'s attention" + (f": {name}" if name else "")
    return pl.attention_by_domain_plot(rows, title=title)


def read_diagnosis_runs(
    integrated_paths: Sequence[str | Path],
    status_paths: Sequence[str | Path],
    variants: Sequence[str],
    method: str = "spami",
) -> tuple[dict[str, Any], dict[str, str]]:
    """The results of the runs that finished ({variant: IntegrationResult}) and why each
    other run has none ({variant: 'failed: ...'})."""
    import mudata

    from fastspami.benchmark.diagnosis import result_from_mudata

    results: dict[str, Any] = {}
    notes: dict[str, str] = {}
    runs = zip(variants, integrated_paths, status_paths, strict=True)
    for variant, h5mu, status_path in runs:
        status = read_json(status_path)
        if status["status"] != OK:
            notes[variant] = failure_text(status)
            continue
        with mudata.set_options(pull_on_update=False):
            mdata = mudata.read_h5mu(h5mu)
        results[variant] = result_from_mudata(mdata, method)
    return results, notes


def diagnosis_table(scores: pd.DataFrame, notes: Mapping[str, str]) -> pd.DataFrame:
    """Partition scores (``fastspami.benchmark.diagnosis.diagnosis_tables``' first table) with status and
    note columns; a variant without a result keeps one row naming why."""
    table = scores.assign(status=OK, note="")
    missing = pd.DataFrame(
        [{"variant": v, "status": n.split(":")[0], "note": n} for v, n in notes.items()]
    )
    parts = [t for t in (table, missing) if len(t)]
    columns = [*scores.columns, "status", "note"]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True).reindex(columns=columns)


def diagnosis_blocks(table: pd.DataFrame, dataset: str, digits: int = 3) -> list[Block]:
    """The diagnosis table of one dataset as document blocks: one table per variant, rows
    the embeddings, cells 'ARI (probe)' per annotation; variants without a result as notes.
    dataset: its name for the reader."""
    from fastspami.pl.diagnosis import annotation_label, embedding_label, other_modality

    blocks: list[Block] = [
        ("h1", f"{dataset}: what SpaMI keeps of each modality's domains"),
        (
            "p",
            "Leiden ARI of SpaMI's integrated embedding and of each modality's own embedding "
            "(Z) against all domains, the domains RNA sees and those the other modality "
            "sees (each modality alone tells only some domains apart), with the balanced "
            "accuracy of a cross-validated linear probe in brackets (chance: 1 / number of "
            "groups).",
        ),
    ]
    ok = table[table["status"] == OK]
    for variant, rows in ok.groupby("variant", sort=False):
        annotations = list(dict.fromkeys(rows["annotation"]))
        other = other_modality(rows["embedding"].unique())
        header = ["Embedding", *(annotation_label(a, other) for a in annotations)]
        body = []
        for embedding, of_embedding in rows.groupby("embedding", sort=False):
            cells = of_embedding.set_index("annotation")
            body.append(
                [
                    embedding_label(embedding),
                    *(
                        f"{cells.at[a, 'ari']:.{digits}f} ({cells.at[a, 'probe']:.{digits}f})"
                        if a in cells.index
                        else "–"
                        for a in annotations
                    ),
                ]
            )
        blocks += [("h2", method_label("spami", str(variant))), ("table", header, body)]
    for _, row in table[table["status"] != OK].iterrows():
        name = method_label("spami", str(row["variant"]))
        blocks.append(("p", f"{name} is left out: {row['note']}"))
    if ok.empty and table.empty:
        blocks.append(("p", "No SpaMI variant to diagnose runs on this dataset."))
    return blocks


def diagnosis_report(
    dataset: str | Path,
    integrated_paths: Sequence[str | Path],
    status_paths: Sequence[str | Path],
    variants: Sequence[str],
    *,
    name: str,
    seed: int = 0,
) -> tuple[Any, pd.DataFrame, list[Block]]:
    """The diagnosis figure (pl.diagnosis_figure), table and its blocks of SpaMI's runs
    (variants, in the order of the paths) on one dataset; runs that did not finish are
    named in the figure and the table, and with none finished the figure says so."""
    from fastspami.benchmark.diagnosis import diagnosis_tables

    results, notes = read_diagnosis_runs(integrated_paths, status_paths, variants)
    scores, attention, history = diagnosis_tables(read_spots(dataset), results, seed=seed)
    figure = pl.diagnosis_figure(
        scores, attention, history, notes=notes, title=f"SpaMI's use of each modality: {name}"
    )
    table = diagnosis_table(scores, notes)
    return figure, table, diagnosis_blocks(table, name)


def cost_with_sizes(cost: pd.DataFrame, sizes: Mapping[str, int]) -> pd.DataFrame:
    """The cost table with an n_spots column, from {dataset: number of spots}."""
    return cost.assign(n_spots=cost["dataset"].astype(str).map(dict(sizes)))


# ---------------------------------------------------------------- numbers as text


def format_mean_sd(mean: float, sd: float, digits: int = 3) -> str:
    """'0.712 ± 0.031'; the mean alone when sd is NaN (one seed); '' when mean is NaN."""
    if mean is None or not math.isfinite(mean):
        return ""
    if sd is None or not math.isfinite(sd):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def format_p(p: float) -> str:
    """A p-value with 3 significant digits; '' when NaN."""
    return "" if p is None or not math.isfinite(p) else f"{p:.3g}"


def clustering_rank(clustering: str) -> tuple[int, str]:
    """Sort key of clustering algorithms: the paper's Leiden first, then mclust, k-means, and
    the tutorial's fixed-resolution Leiden."""
    order = ("leiden", "mclust", "kmeans", "tutorial")
    return (order.index(clustering) if clustering in order else len(order), clustering)


def ok_rows(table: pd.DataFrame) -> pd.Series:
    """Which rows come from runs that succeeded (all of them when there is no status column)."""
    return table["status"].eq(OK) if "status" in table else pd.Series(True, index=table.index)


# ---------------------------------------------------------------- summary table


def _run_status(group: pd.DataFrame) -> tuple[str, str]:
    """(status, reason) of one method/variant/clustering cell, from its score rows."""
    status = group["status"] if "status" in group else pd.Series(OK, index=group.index)
    bad = group[status != OK]
    if bad.empty:
        return OK, ""
    reasons = (
        "; ".join(dict.fromkeys(bad["reason"].fillna("").astype(str))) if "reason" in bad else ""
    )
    if not group.loc[status == OK, "value"].notna().any():
        return str(bad["status"].mode().iloc[0]), reasons
    runs = group["seed"].nunique()
    return "partial", f"{bad['seed'].nunique()} of {runs} runs: {reasons}"


def summary_table(scores: pd.DataFrame, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Methods x metrics of one dataset: mean and sd over seeds, per clustering.

    scores: the tidy scores table (one dataset). Returns one row per (clustering, method,
    variant) with n_runs, ``<metric>_mean`` and ``<metric>_sd`` for each metric present,
    status ('ok', 'partial', or the failure's status) and reason.
    """
    metrics = tuple(registered_metrics()) if metrics is None else metrics
    present = [m for m in metrics if m in set(scores["metric"])]
    ok = ok_rows(scores)
    rows = []
    keys = ["clustering", "method", "variant"]
    for (clustering, method, variant), group in scores.groupby(keys, sort=False):
        status, reason = _run_status(group)
        row = {"clustering": clustering, "method": method, "variant": variant}
        row["n_runs"] = int(group["seed"].nunique())
        good = group[ok.loc[group.index]]
        for metric in present:
            values = good.loc[good["metric"] == metric, "value"].dropna().astype(float)
            row[f"{metric}_mean"] = values.mean() if len(values) else np.nan
            row[f"{metric}_sd"] = values.std(ddof=1) if len(values) > 1 else np.nan
        rows.append({**row, "status": status, "reason": reason})
    columns = [*keys, "n_runs", *(f"{m}_{s}" for m in present for s in ("mean", "sd"))]
    table = pd.DataFrame(rows, columns=[*columns, "status", "reason"])
    order = sorted(
        range(len(table)),
        key=lambda i: (
            clustering_rank(table.at[i, "clustering"]),
            run_sort_key(table.at[i, "method"], table.at[i, "variant"]),
        ),
    )
    return table.iloc[order].reset_index(drop=True)


def _best_means(table: pd.DataFrame, metric: str, digits: int) -> set[int]:
    """Row positions holding the best (rounded) mean of a metric, in the metric's registered
    direction, among the runs that finished on every seed; controls and partial rows
    (ranked on survivors) aside."""
    from fastspami.metrics.registry import registered_metrics

    column = f"{metric}_mean"
    complete = table["status"].eq(OK) & ~table["method"].map(is_control)
    candidates = table[complete][column].dropna().round(digits)
    if candidates.empty:
        return set()
    known = registered_metrics().get(metric)
    best = (
        candidates.min() if known is not None and not known.higher_is_better else candidates.max()
    )
    return set(candidates.index[candidates == best])


def summary_blocks(
    table: pd.DataFrame,
    dataset: str,
    digits: int = 3,
    reference: Mapping[str, Any] | None = None,
) -> list[Block]:
    """The summary of one dataset as document blocks (headings and one table per clustering).

    reference: the dataset registry's published numbers ({'values': {method: {metric:
    value}}, 'cost': {method: {...}}, 'figure': ..., 'published': [score sets of other
    sources]}), shown after this run's tables; each published set beside this run's means
    (:func:`published_blocks`).
    """
    metrics = [c[: -len("_mean")] for c in table.columns if c.endswith("_mean")]
    seeds = int(table["n_runs"].max()) if len(table) else 0
    blocks: list[Block] = [
        ("h1", dataset),
        (
            "p",
            f"Mean ± sd over {seeds} seed(s); the best method in bold, among those that ran "
            "on every seed (controls aside). partial: the method failed on some seeds, its "
            "means are over the seeds that ran, and it is never bold. n/a: the method cannot "
            "take this dataset; failed: it raised. The number in brackets points to the "
            "note below the tables that says why.",
        ),
    ]
    notes = FailureNotes()
    header = ["Method", *(metric_label(m) for m in metrics), "Note"]
    for clustering, of_clustering in table.groupby("clustering", sort=False):
        best = {m: _best_means(of_clustering, m, digits) for m in metrics}
        rows = []
        for index, row in of_clustering.iterrows():
            name = method_label(row["method"], row["variant"])
            cells = [f"{name} (partial)" if row["status"] == "partial" else name]
            for metric in metrics:
                text = format_mean_sd(row[f"{metric}_mean"], row[f"{metric}_sd"], digits)
                if not text:
                    text = STATUS_TEXT.get(row["status"], "–")
                elif index in best[metric]:
                    text = f"**{text}**"
                cells.append(text)
            note = ""
            if row["status"] != OK:
                number = notes.add(row["method"], name, row["status"], row["reason"])
                note = f"{STATUS_TEXT.get(row['status'], row['status'])} ({number})"
            rows.append([*cells, note])
        blocks += [("h2", f"Clustering: {clustering}"), ("table", header, rows)]
    return [
        *blocks,
        *notes.blocks(),
        *reference_blocks(reference or {}, metrics),
        *published_blocks(reference or {}, table, digits),
    ]


class FailureNotes:
    """Numbered notes of a table's failures: one per method and reason, however many rows
    (variants, clusterings) share it; each row's cell names the note's number."""

    def __init__(self) -> None:
        self._notes: dict[tuple[str, str, str], list[str]] = {}

    def add(self, method: str, run: str, status: str, reason: Any) -> int:
        """The number (from 1) of the note of ``method``'s failure ``status``/``reason``;
        ``run`` (the row's name, e.g. 'SpaMI (robust preset)') is listed in it."""
        key = (str(method), str(status), short_reason(reason))
        runs = self._notes.setdefault(key, [])
        if run not in runs:
            runs.append(run)
        return list(self._notes).index(key) + 1

    def lines(self) -> list[str]:
        """'SpaMI, SpaMI (robust preset): failed (RuntimeError: ...)', one per note, in order."""
        out = []
        for (_, status, reason), runs in self._notes.items():
            text = STATUS_TEXT.get(status, status)
            out.append(f"{', '.join(runs)}: {text}" + (f" ({reason})" if reason else ""))
        return out

    def blocks(self) -> list[Block]:
        """The notes as one ('notes', lines) block, or none."""
        return [("notes", self.lines())] if self._notes else []


def published_blocks(
    reference: Mapping[str, Any], table: pd.DataFrame, digits: int = 3
) -> list[Block]:
    """Score sets published by other sources (registry ``reference.published``), each as a
    table in which every method has a row for this run (the mean over seeds of its default
    variant, same clustering) and one for the source.

    A set's metric that this benchmark computes (a registered metric, e.g. ``ari``) shows
    both numbers; one it does not (the set's ``metrics`` names and labels it, e.g. a Moran's
    I of another definition) shows the source's alone, so nothing unlike is put side by side.
    ``beside`` lists metrics of this run shown in columns of their own (e.g. this
    benchmark's Moran's I next to the source's).
    """
    blocks: list[Block] = []
    known = registered_metrics()
    for item in reference.get("published") or []:
        values = item.get("values") or {}
        labels = dict(item.get("metrics") or {})
        keys = list(dict.fromkeys(m for numbers in values.values() for m in numbers))
        keys += [m for m in item.get("beside") or [] if m not in keys]
        # this run's metrics in the summary's order, then the others as given
        rank = {m: i for i, m in enumerate(known)}
        keys = sorted(keys, key=lambda m, given=list(keys): rank.get(m, len(rank) + given.index(m)))
        ours = [m for m in keys if m in known and f"{m}_mean" in table.columns]
        header = ["Method", *(metric_label(m) if m in known else labels.get(m, m) for m in keys)]
        clustering = item.get("clustering")
        where = table["variant"].eq("default")
        if clustering is not None:
            where &= table["clustering"].eq(clustering)
        rows = []
        for method, published in values.items():
            mine = table[where & table["method"].eq(method)]
            if len(mine) == 1:
                row = mine.iloc[0]
                cells = [
                    format_mean_sd(row[f"{m}_mean"], row[f"{m}_sd"], digits) if m in ours else ""
                    for m in keys
                ]
                rows.append([f"{method_label(method)}, this run", *(c or "–" for c in cells)])
            rows.append(
                [f"{method_label(method)}, {item['source']}"]
                + [_number(published.get(m)) for m in keys]
            )
        setting = ", ".join(
            text
            for text in (
                f"clustering {clustering}" if clustering else "",
                f"{item['n_clusters']} clusters" if item.get("n_clusters") else "",
            )
            if text
        )
        blocks.append(
            ("h2", f"Published by {item['source']}" + (f" ({setting})" if setting else ""))
        )
        if item.get("note"):
            blocks.append(("p", str(item["note"])))
        blocks.append(("table", header, rows))
    return blocks


def reference_blocks(reference: Mapping[str, Any], metrics: Sequence[str]) -> list[Block]:
    """Published numbers of a dataset (registry 'reference'), as blocks; none if empty."""
    values = reference.get("values") or {}
    cost = reference.get("cost") or {}
    if not values and not cost:
        return []
    blocks: list[Block] = [("h2", "Published in the paper")]
    if reference.get("figure"):
        blocks.append(("p", f"Source: {reference['figure']}."))
    if values:
        names = {"morans_i_median": "morans_i"}  # the registry's name of the Moran's I score
        header = ["Method", *(metric_label(m) for m in metrics)]
        rows = [
            [method_label(method)]
            + [_number(published.get(m, published.get(names.get(m, m)))) for m in metrics]
            for method, published in values.items()
        ]
        blocks.append(("table", header, rows))
    for method, numbers in cost.items():
        text = ", ".join(f"{key} {value}" for key, value in numbers.items())
        blocks.append(("p", f"Cost of {method_label(method)}: {text}."))
    return blocks


def _number(value: Any) -> str:
    return (
        f"{value:.3f}" if isinstance(value, int | float) else ("" if value is None else str(value))
    )


# ---------------------------------------------------------------- noise sweep table


def draw_means(rows: pd.DataFrame) -> pd.Series:
    """Each data draw's (dataset's) mean over its successful seeds: one value per draw with one."""
    good = rows[ok_rows(rows) & rows["value"].notna()]
    draw = good["dataset"] if "dataset" in good else pd.Series("", index=good.index)
    return good["value"].astype(float).groupby(draw.to_numpy()).mean()


def _sweep_cell(group: pd.DataFrame) -> dict[str, Any]:
    """Runs, draws, mean, sd and status of one run at one noise level.

    With two or more data draws the mean and sd are over the draws' means (each draw's
    seeds averaged first: the draws are the independent samples); with one draw, over its
    seeds. n_runs: (draw, seed) runs with a value; n_planned: all of them; n_draws: draws.
    """
    ok = ok_rows(group) & group["value"].notna()
    draws = group["dataset"] if "dataset" in group else pd.Series("", index=group.index)
    n_draws = int(draws.nunique())
    n_planned = int(len(pd.DataFrame({"d": draws, "s": group["seed"]}).drop_duplicates()))
    if n_draws > 1:
        values, spread = draw_means(group), "draws"
    else:
        values, spread = group.loc[ok, "value"].astype(float), "seeds"
    n_runs = int(ok.sum())
    if n_runs == 0:
        status = pl.scores.failure_status(group)
    else:
        status = OK if n_runs == n_planned else "partial"
    return {
        "n_runs": n_runs,
        "n_planned": n_planned,
        "n_draws": n_draws,
        "mean": values.mean() if len(values) else np.nan,
        "sd": values.std(ddof=1) if len(values) > 1 else np.nan,  # std of one value is NaN
        "spread": spread,
        "status": status,
    }


SWEEP_COLUMNS = ["n_runs", "n_planned", "n_draws", "mean", "sd", "spread", "status"]


def noise_sweep_table(
    scores: pd.DataFrame,
    *,
    clustering: str = "leiden",
    metrics: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Every method and variant at every noise level: mean and sd over data draws, per metric.

    The numbers behind Fig 2C and 2D. scores: the tidy scores table of one scenario (a
    dataset is one data draw). Returns one row per (metric, method, variant, noise) with
    ``SWEEP_COLUMNS``: n_runs (runs with a value), n_planned (draws x seeds), n_draws,
    mean and sd (over the draws' seed means; over the seeds where a level has one draw:
    ``spread`` says which) and status ('ok', 'partial', or why there is no mean: 'failed',
    'not_applicable', ...); failed and not-applicable runs count in no mean but keep
    their row.
    """
    metrics = supervised_metrics() if metrics is None else metrics
    rows = scores[
        scores["clustering"].eq(clustering)
        & scores["metric"].isin(metrics)
        & scores["noise"].notna()
    ]
    keys = ["metric", "method", "variant", "noise"]
    cells = [
        {**dict(zip(keys, key, strict=True)), **_sweep_cell(group)}
        for key, group in rows.groupby(keys)
    ]
    table = pd.DataFrame(cells, columns=[*keys, *SWEEP_COLUMNS])
    order = sorted(
        range(len(table)),
        key=lambda i: (
            list(metrics).index(table.at[i, "metric"]),
            run_sort_key(table.at[i, "method"], table.at[i, "variant"]),
            float(table.at[i, "noise"]),
        ),
    )
    return table.iloc[order].reset_index(drop=True).assign(clustering=clustering)


def _sweep_text(cell: pd.Series, digits: int) -> str:
    """'0.50 ± 0.14', '0.50 (2 of 3 runs)' where runs failed, 'n/a' / 'failed' without any."""
    text = format_mean_sd(cell["mean"], cell["sd"], digits)
    if not text:
        return STATUS_TEXT.get(cell["status"], cell["status"])
    if cell["n_runs"] < cell["n_planned"]:
        return f"{text} ({int(cell['n_runs'])} of {int(cell['n_planned'])} runs)"
    return text


def _runs_text(run: pd.DataFrame) -> str:
    """'5 × 3' draws x seeds of a method's row, or '3' seeds with one draw per level."""
    draws = int(run["n_draws"].max())
    seeds = int(round(run["n_planned"].max() / max(draws, 1)))
    return f"{draws} × {seeds}" if draws > 1 else str(seeds)


def noise_sweep_blocks(table: pd.DataFrame, scenario: str, digits: int = 2) -> list[Block]:
    """The noise sweep of one scenario as document blocks: per metric, runs x noise levels."""
    clustering = table["clustering"].iloc[0] if len(table) else ""
    blocks: list[Block] = [
        ("h1", f"Noise sweep: {scenario}"),
        (
            "p",
            f"Mean ± sd ({clustering} clustering) of every method and SpaMI variant at every "
            "noise level (sd of the Gaussian noise added to the simulated counts). With "
            "several data draws per level, each draw's seeds are averaged first and the sd "
            "is over the draws (the independent samples); with one draw, over its seeds. "
            "Runs: draws × seeds per level (or seeds). Runs that failed or do not apply "
            "count in no mean: a level where some failed says how many ran ('8 of 9 runs'); "
            "one where none ran says why (n/a, failed).",
        ),
    ]
    noises = sorted(table["noise"].unique())
    header = ["Method", *(f"noise sd {n:g}" for n in noises), "Runs"]
    for metric, of_metric in table.groupby("metric", sort=False):
        rows = []
        for (method, variant), run in of_metric.groupby(["method", "variant"], sort=False):
            by_noise = run.set_index("noise")
            cells = [
                _sweep_text(by_noise.loc[n], digits) if n in by_noise.index else "–" for n in noises
            ]
            rows.append([method_label(method, variant), *cells, _runs_text(run)])
        blocks += [("h2", metric_label(metric)), ("table", header, rows)]
    return blocks


# ---------------------------------------------------------------- paper check


def paper_check_table(scores: pd.DataFrame, reference: Mapping[str, Any]) -> pd.DataFrame:
    """A method's scores beside a published number: one row per clustering, then the paper's.

    scores: the tidy scores of one scenario; reference: the scenario's ``reference``
    (source, noise, method, clustering, values {metric: number}). Rows: each clustering of
    the method's default variant at the reference's noise level, with n_draws and per
    metric ``<metric>_mean`` / ``<metric>_sd`` over the data draws (each draw's seeds
    averaged first), then a row 'published' with the reference's values (sd NaN).
    """
    metrics = [m for m in supervised_metrics() if m in reference["values"]]
    rows = scores[
        scores["method"].eq(reference["method"])
        & scores["variant"].eq("default")
        & np.isclose(scores["noise"].astype(float), float(reference["noise"]))
    ]
    out = []
    for clustering in sorted(set(rows["clustering"]), key=clustering_rank):
        of_clustering = rows[rows["clustering"] == clustering]
        row: dict[str, Any] = {"row": clustering, "n_draws": 0}
        for metric in metrics:
            means = draw_means(of_clustering[of_clustering["metric"] == metric])
            row["n_draws"] = max(row["n_draws"], len(means))
            row[f"{metric}_mean"] = means.mean() if len(means) else np.nan
            row[f"{metric}_sd"] = means.std(ddof=1) if len(means) > 1 else np.nan
        out.append(row)
    published = {"row": "published", "n_draws": np.nan}
    for metric in metrics:
        published[f"{metric}_mean"] = float(reference["values"][metric])
        published[f"{metric}_sd"] = np.nan
    columns = ["row", "n_draws", *(f"{m}_{s}" for m in metrics for s in ("mean", "sd"))]
    return pd.DataFrame([*out, published], columns=columns)


def paper_check_blocks(
    table: pd.DataFrame, scenario: str, reference: Mapping[str, Any], digits: int = 3
) -> list[Block]:
    """The paper check as document blocks: this run's rows, then the published one."""
    metrics = [c[: -len("_mean")] for c in table.columns if c.endswith("_mean")]
    method = method_label(reference["method"])
    blocks: list[Block] = [
        ("h1", f"{scenario}: {method} beside the paper"),
        (
            "p",
            f"{method} (default settings) on {scenario} at noise sd "
            f"{float(reference['noise']):g}: mean ± sd over the data draws (each draw's seeds "
            "averaged first), per clustering, and the published number: "
            f"{reference['source']}, clustered '{reference['clustering']}'. The published "
            "number is one run on one data draw of the authors' own; the clusterings other "
            "than the published one are told the number of domains.",
        ),
    ]
    header = ["Clustering", "Draws", *(metric_label(m) for m in metrics)]
    rows = []
    for _, row in table.iterrows():
        is_paper = row["row"] == "published"
        name = f"published ({reference['clustering']})" if is_paper else row["row"]
        draws = "1" if is_paper else str(int(row["n_draws"]))
        cells = [format_mean_sd(row[f"{m}_mean"], row[f"{m}_sd"], digits) or "–" for m in metrics]
        rows.append([name, draws, *cells])
    return [*blocks, ("table", header, rows)]


# ---------------------------------------------------------------- significance table


def significance_table(
    scores: pd.DataFrame,
    reference: str = "spami",
    metrics: Sequence[str] | None = None,
    clusterings: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Paired Wilcoxon tests of ``reference`` against every other method (default variants).

    One ``fastspami.benchmark.stats.paired_wilcoxon`` call per metric and clustering across every dataset
    in ``scores``: each method's scores are averaged over its successful seeds per dataset
    first, and the pairs are datasets, each one data draw (the seeds of a draw share its
    data). p_holm is adjusted across every test of the table (all clusterings, metrics and
    methods: the tests the report shows together), not per call. Columns (method,
    reference, metric, clustering, n_pairs, n_used, n_excluded, mean_difference, statistic,
    p_value, p_holm, note).
    """
    from fastspami.benchmark.stats import RESULT_COLUMNS, holm_adjust, paired_wilcoxon

    metrics = tuple(registered_metrics()) if metrics is None else metrics
    tables = []
    for clustering in clusterings or sorted(set(scores["clustering"]), key=clustering_rank):
        for metric in metrics:
            try:
                tables.append(
                    paired_wilcoxon(scores, reference, metric, clustering, pair_on=("dataset",))
                )
            except InputDataError:  # no row of the reference for this metric / clustering
                continue
    tables = [t for t in tables if len(t)]
    if not tables:
        return pd.DataFrame(columns=list(RESULT_COLUMNS))
    table = pd.concat(tables, ignore_index=True)
    table["p_holm"] = holm_adjust(table["p_value"].to_numpy())
    return table


def _pairs_cell(row: pd.Series) -> str:
    """'5' draws ranked, or '4 of 5' when the test dropped tied draws."""
    used, paired = int(row["n_used"]), int(row["n_pairs"])
    return str(paired) if used in (0, paired) else f"{used} of {paired}"


def _power_text(table: pd.DataFrame) -> str:
    """'With 5 pairs (the most here) no p can fall below 0.0625 ...', or '' without a test."""
    from fastspami.benchmark.stats import smallest_p

    tested = table["n_used"][table["p_value"].notna()]
    if tested.empty:
        return ""
    most = int(tested.max())
    return (
        f" An exact test of n draws cannot give p below 2/2^n: with {most} draws (the most "
        f"here) no p is below {format_p(smallest_p(most))}, before the Holm adjustment "
        f"over the table's {int(table['p_value'].notna().sum())} tests."
    )


def significance_blocks(table: pd.DataFrame, alpha: float = 0.05) -> list[Block]:
    """The significance table as document blocks; Holm-adjusted p below ``alpha`` in bold."""
    reference = method_label(table["reference"].iloc[0]) if len(table) else "SpaMI"
    blocks: list[Block] = [
        ("h1", f"{reference} against each method: paired Wilcoxon signed-rank tests"),
        (
            "p",
            "Units: data draws. Every simulated dataset is one independent draw of the "
            "simulator (its own data seed) and a real dataset counts as one. Each method's "
            "score is first averaged over its successful seeds on a draw (the seeds of a "
            "draw share its data, and deterministic methods repeat one value every seed, so "
            "seeds are not independent); a draw where either method has no successful seed "
            "is left out, and the note says how many and why. Draws: those the test ranked "
            "('4 of 5': it drops draws with a zero difference). Mean difference: "
            f"{reference} minus the method (positive: {reference} scores higher). p (Holm): "
            "adjusted across every test of this table (all clusterings, metrics and "
            f"methods); bold below {alpha}." + _power_text(table),
        ),
    ]
    if table.empty:
        return [*blocks, ("p", "No test: the reference method has no scores.")]
    header = ["Clustering", "Metric", "Method", "Draws", "Mean difference", "p", "p (Holm)", "Note"]
    rows = []
    for _, row in table.iterrows():
        p_holm = format_p(row["p_holm"])
        if p_holm and row["p_holm"] < alpha:
            p_holm = f"**{p_holm}**"
        rows.append(
            [
                row["clustering"],
                metric_label(row["metric"]),
                method_label(row["method"]),
                _pairs_cell(row),
                "" if pd.isna(row["mean_difference"]) else f"{row['mean_difference']:+.3f}",
                format_p(row["p_value"]),
                p_holm,
                str(row["note"]) if isinstance(row["note"], str) else "",
            ]
        )
    return [*blocks, ("table", header, rows)]


# ---------------------------------------------------------------- cost table


def cost_columns(cost: pd.DataFrame) -> tuple[str, str]:
    """(seconds, memory) columns to compare methods on: the method's own call and its peak
    above its process's start (``cost.csv``), else, in an older table, the run's wall
    seconds and peak RSS."""
    seconds = "method_s" if "method_s" in cost and cost["method_s"].notna().any() else "s"
    memory = (
        "peak_above_start_mb"
        if "peak_above_start_mb" in cost and cost["peak_above_start_mb"].notna().any()
        else "max_rss_mb"
    )
    return seconds, memory


def cost_table(cost: pd.DataFrame) -> pd.DataFrame:
    """Seconds and memory per method, variant and dataset size (mean and sd over jobs).

    cost: one row per integration job (method, variant, method_s and peak_above_start_mb
    (:func:`cost_columns`), status, and n_spots or dataset). Returns seconds_mean/_sd and
    memory_mb_mean/_sd. Failed jobs are counted in n_failed, jobs where the method does not
    apply (e.g. a two-modality method on three) in neither, and neither is in the means.
    """
    size = "n_spots" if "n_spots" in cost and cost["n_spots"].notna().all() else "dataset"
    measures = dict(zip(("seconds", "memory_mb"), cost_columns(cost), strict=True))
    ok = ok_rows(cost)
    rows = []
    for (method, variant, value), group in cost.groupby(["method", "variant", size]):
        good = group[ok.loc[group.index]]
        row = {"method": method, "variant": variant, size: value, "n_runs": len(good)}
        not_applicable = group["status"].eq(NOT_APPLICABLE).sum() if "status" in group else 0
        row["n_failed"] = len(group) - len(good) - int(not_applicable)
        for name, column in measures.items():
            values = good[column].dropna().astype(float)
            row[f"{name}_mean"] = values.mean() if len(values) else np.nan
            row[f"{name}_sd"] = values.std(ddof=1) if len(values) > 1 else np.nan
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    order = sorted(
        range(len(table)),
        key=lambda i: (
            table.at[i, size],
            run_sort_key(table.at[i, "method"], table.at[i, "variant"]),
        ),
    )
    return table.iloc[order].reset_index(drop=True)


def _no_run(row: pd.Series) -> str:
    """What a cost cell without a value says: failed, or n/a where no run failed."""
    return "failed" if row["n_failed"] else "n/a"


def cost_blocks(table: pd.DataFrame) -> list[Block]:
    """The cost table as document blocks."""
    blocks: list[Block] = [
        ("h1", "Computational cost of the integration step"),
        (
            "p",
            "Seconds of each method's own call and its peak resident memory above what its "
            "process held at the start, mean ± sd over runs. Each integration runs in a "
            "process forked from its batch's, after the batch has imported and warmed up "
            "every method of the batch, so neither number depends on the method's place in "
            "the batch: the imports, the interpreter and the input data are not counted.",
        ),
    ]
    if table.empty:
        return [*blocks, ("p", "No integration job finished.")]
    size = "n_spots" if "n_spots" in table else "dataset"
    size_name = "Spots" if size == "n_spots" else "Dataset"
    header = ["Method", size_name, "Runs", "Seconds", "Memory above start (MB)", "Failed"]
    rows = [
        [
            method_label(row["method"], row["variant"]),
            f"{int(row[size]):,}" if size == "n_spots" else str(row[size]),
            str(row["n_runs"]),
            format_mean_sd(row["seconds_mean"], row["seconds_sd"], 1) or _no_run(row),
            format_mean_sd(row["memory_mb_mean"], row["memory_mb_sd"], 0) or _no_run(row),
            str(row["n_failed"]) if row["n_failed"] else "",
        ]
        for _, row in table.iterrows()
    ]
    return [*blocks, ("table", header, rows)]


# ---------------------------------------------------------------- documents


def _markdown_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: Sequence[Block]) -> str:
    """Blocks as Markdown: '# h1', '## h2', paragraphs and pipe tables (bold as **x**)."""
    lines: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2"):
            lines += [f"{'#' * int(kind[1])} {block[1]}", ""]
        elif kind == "p":
            lines += [block[1], ""]
        elif kind == "table":
            header, rows = block[1], block[2]
            lines.append("| " + " | ".join(_markdown_cell(h) for h in header) + " |")
            lines.append("|" + "|".join("---" for _ in header) + "|")
            lines += ["| " + " | ".join(_markdown_cell(c) for c in row) + " |" for row in rows]
            lines.append("")
        elif kind == "notes":
            lines += ["Notes:", ""]
            lines += [f"{i}. {_markdown_cell(text)}" for i, text in enumerate(block[1], 1)]
            lines.append("")
    return "\n".join(lines)


def _html_cell(text: str) -> str:
    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(str(text)))


def html_blocks(blocks: Sequence[Block], level: int = 1) -> str:
    """Blocks as an HTML fragment; 'h1' becomes <h{level}>, 'h2' <h{level + 1}>."""
    body = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2"):
            tag = f"h{min(6, level + int(kind[1]) - 1)}"
            body.append(f"<{tag}>{html.escape(block[1])}</{tag}>")
        elif kind == "p":
            body.append(f"<p>{html.escape(block[1])}</p>")
        elif kind == "table":
            head = "".join(f"<th>{html.escape(h)}</th>" for h in block[1])
            rows = "".join(
                "<tr>" + "".join(f"<td>{_html_cell(c)}</td>" for c in row) + "</tr>"
                for row in block[2]
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif kind == "notes":
            items = "".join(f"<li>{html.escape(text)}</li>" for text in block[1])
            body.append(f"<p class='notes-title'>Notes:</p><ol class='notes'>{items}</ol>")
    return "\n".join(body)


def to_html(blocks: Sequence[Block], title: str = "") -> str:
    """Blocks as a standalone HTML page (what the Snakemake report shows inline)."""
    style = (
        "body{font-family:sans-serif;font-size:13px}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}th{background:#f0f0f0}"
    )
    return (
        f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body>\n" + html_blocks(blocks) + "\n</body></html>\n"
    )


def write_table(
    table: pd.DataFrame,
    blocks: Sequence[Block],
    csv: str | Path,
    markdown: str | Path,
    html_path: str | Path,
) -> None:
    """Write the numbers as CSV and the formatted document as Markdown and HTML, atomically."""
    with atomic_path(csv) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(markdown) as tmp:
        tmp.write_text(to_markdown(blocks))
    title = next((b[1] for b in blocks if b[0] == "h1"), "")
    with atomic_path(html_path) as tmp:
        tmp.write_text(to_html(blocks, title))
