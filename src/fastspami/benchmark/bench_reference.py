"""The authors' SpaMI package timed on the benchmark's data: ``spami bench --reference``.

For each size :func:`fastspami.benchmark.scaling.measure_size` prepares the data once (simulation and our
preprocessing, or random features), then trains ours in a fresh process
(:func:`fastspami.benchmark.scaling.measure_training`) and right after it theirs in another fresh process
(:func:`measure_reference_training`), on the same feature matrices, coordinates, seed and
threads. Theirs:

- ``reference_graph_s``: their ``preprocess.construct_adj`` for each modality (POT's dense
  N x N distances, a Python loop over spots; ours builds one sparse graph), as
  ``main.train`` needs it;
- ``reference_epoch_s``: the median of ``epochs_timed`` epochs of their ``main.train``
  after one warm-up, each read off the clock as their loop asks for the next epoch
  (:func:`fastspami.methods.spami_reference_compat.epoch_clock`), simulated preset's settings;
- ``reference_train_s``: that whole ``main.train`` call (its dense tensors, the epochs, the
  final forward pass);
- ``reference_peak_rss_mb``: the process's peak RSS; ``reference_import_rss_mb`` its RSS
  after importing their package (which imports scanpy and episcanpy; ours imports torch and
  the model only), so the difference is what their data and training took.

``speedup`` = reference_epoch_s / epoch_s and ``memory_ratio`` = reference_peak_rss_mb /
peak_rss_mb go into scaling.csv beside them. Sizes above ``reference_max_n`` (default
:data:`REFERENCE_MAX_N`), or whose dense matrices would not fit in this machine's memory
(:func:`fastspami.methods.spami_reference.check_fits`), are not run: ``reference_status`` says
why and the reference columns stay empty. Their full training (1,000 epochs) is not timed.
"""

from __future__ import annotations

import tempfile
import time
from statistics import median
from typing import Any

import numpy as np

from fastspami.benchmark.usage import current_rss_mb, peak_rss_mb

# 10,000 spots: 56 B per spot pair + 1 GiB = 6.2 GiB for their dense matrices, and about
# 1.5-2 s per epoch on 2 threads; the paper's largest dataset has 9,215 spots.
REFERENCE_MAX_N = 10_000
REFERENCE_COLUMNS = [
    "reference_status",
    "reference_version",
    "reference_graph_s",
    "reference_epoch_s",
    "reference_train_s",
    "reference_peak_rss_mb",
    "reference_import_rss_mb",
    "speedup",
    "memory_ratio",
]


def measure_reference_training(
    data: str, *, threads: int = 2, epochs_timed: int = 5, seed: int = 0
) -> dict[str, Any]:
    """Their graph, epoch and training times and this process's peak RSS on ``data``.

    ``data``: the .npz of :func:`fastspami.benchmark.scaling.measure_size` (``coords``, ``x0``, ``x1``).
    Call in a fresh process for a clean peak RSS.
    """
    import anndata as ad
    import torch

    from fastspami.methods.spami_reference_compat import epoch_clock, load_reference

    modules = load_reference()
    import_rss = current_rss_mb()
    with np.load(data) as arrays:
        coords = arrays["coords"]
        matrices = [arrays[f"x{i}"] for i in range(len(arrays.files) - 1)]
    if len(matrices) != 2:
        raise ValueError(f"their train() takes two modalities, the data have {len(matrices)}")
    modules.utils.fix_seed(seed)
    spots = ad.AnnData(np.zeros((len(coords), 1), dtype=np.float32))
    spots.obsm["spatial"] = np.asarray(coords, dtype=np.float64)
    start = time.perf_counter()
    inputs = []
    for features in matrices:
        adj, graph_neigh = modules.preprocess.construct_adj(spots, n_neighbors=3)
        label = modules.preprocess.add_contrastive_label(spots)
        inputs.append(
            {"feat": features, "adj": adj, "graph_neigh": graph_neigh, "label_CSL": label}
        )
    graph_s = time.perf_counter() - start
    torch.set_num_threads(threads)

    with tempfile.TemporaryDirectory(prefix="spami-bench-ref-") as folder:
        with epoch_clock(modules.main) as durations:
            start = time.perf_counter()
            modules.main.train(*inputs, folder, epochs=epochs_timed + 1, random_seed=seed)
            train_s = time.perf_counter() - start
    return {
        "reference_status": "ok",
        "reference_version": modules.version,
        "reference_graph_s": graph_s,
        "reference_epoch_s": median(durations[1:]),
        "reference_train_s": train_s,
        "reference_peak_rss_mb": peak_rss_mb(),
        "reference_import_rss_mb": import_rss,
    }


def skipped(n_spots: int, max_n: int) -> dict[str, Any] | None:
    """The reference row of a size that is not run (with the reason), or None to run it."""
    from fastspami.errors import MethodNotApplicableError
    from fastspami.methods.spami_reference import check_fits

    if n_spots > max_n:
        return {"reference_status": f"skipped: {n_spots:,} spots > the cap of {max_n:,}"}
    try:
        check_fits(n_spots)
    except MethodNotApplicableError as err:
        return {"reference_status": f"skipped: {err}"}
    return None


def with_ratios(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with ``speedup`` (their epoch / ours) and ``memory_ratio`` (their peak / ours)."""

    def ratio(theirs: str, ours: str) -> float:
        a, b = row.get(theirs, np.nan), row.get(ours, np.nan)
        return float(a) / float(b) if np.isfinite(a) and np.isfinite(b) and b > 0 else np.nan

    return {
        **row,
        "speedup": ratio("reference_epoch_s", "epoch_s"),
        "memory_ratio": ratio("reference_peak_rss_mb", "peak_rss_mb"),
    }
