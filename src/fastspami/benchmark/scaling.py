"""Scaling benchmark of SpaMI: graph, preprocessing, epoch and full-training time, peak memory.

Each size runs in a fresh subprocess so that its peak RSS is its own. For every N the
harness also times the dense matrix products one epoch cannot avoid (every GCN layer's
``H W`` forward and its backward GEMMs, at the model's shapes, on the same threads), once
with ``torch.mm`` and once with the model's own kernels (:mod:`fastspami._kernels.dense`), and reports
epoch time / the faster of the two (``epoch_over_gemm``): how much the sparse propagation,
the losses and the optimizer cost on top of the unavoidable arithmetic. The critic's and
the attention's products, also dense and unavoidable, are timed apart and added in
``gemm_all_s`` and ``epoch_over_gemm_all`` (:func:`epoch_products`).

    spami bench --sizes 1000 10000 100000 --out results/bench

``--reference`` also times the authors' SpaMI package (PyPI ``SpaMI`` 1.0.0) at the same sizes,
right after ours, on the same features and threads, and writes their times, peak memory and
the ratios (``speedup``, ``memory_ratio``) into the same rows (:mod:`fastspami.benchmark.bench_reference`;
up to ``--reference-max-n`` spots: their matrices are dense N x N):

    spami bench --sizes 1296 4096 9216 --reference --full-epochs 0

``--compare-tiled`` instead trains tiled and full-batch on the same data and writes how well
their Leiden clusterings agree (ARI) to tiled_vs_full.csv:

    spami bench --compare-tiled --sizes 100000 --tile-spots 25000 --full-epochs 100
"""

from __future__ import annotations

import json
import math
import platform
import subprocess
import sys
import time
from pathlib import Path
from statistics import median
from typing import TYPE_CHECKING, Any

import numpy as np

from fastspami.benchmark.bench_reference import (
    REFERENCE_COLUMNS,
    REFERENCE_MAX_N,
    measure_reference_training,
    skipped,
    with_ratios,
)
from fastspami.benchmark.usage import peak_rss_mb

if TYPE_CHECKING:
    import mudata
    import pandas as pd
    import torch

    from fastspami.model.presets import SpaMIConfig

SCALING_COLUMNS = [
    "n_spots",
    "threads",
    "device",
    "precision",
    "precision_requested",
    "simulate_s",
    "preprocess_s",
    "graph_s",
    "epoch_s",
    "gemm_s",
    "gemm_torch_mm_s",
    "epoch_over_gemm",
    "gemm_all_s",
    "epoch_over_gemm_all",
    "full_epochs",
    "full_training_s",
    "peak_rss_mb",
    "peak_gpu_mb",
    "prepare_peak_rss_mb",
    "tile_spots",
    "malloc_mmap_threshold",
    "feature_dims",
    "cpu",
    "kernels",
    *REFERENCE_COLUMNS,  # --reference: the authors' package beside ours (bench_reference)
]


def epoch_products(
    n: int, dims: list[int], config: SpaMIConfig, which: str = "gcn"
) -> list[tuple[int, int, int, bool]]:
    """The dense products ``x @ w`` of one epoch as (rows, in, out, input needs a gradient).

    ``which='gcn'``: the GCN layers of the encoders (clean and, with the contrastive loss,
    corrupted) and decoders, the floor the ratio ``epoch_over_gemm`` has used since the
    harness was written. ``which='other'``: the other layers' products: the critic's
    ``h W`` (both embeddings of each modality with a contrastive loss) and, with attention
    fusion, the attention's ``(M N, L) x (L, L)`` projection (its scores ``h . u`` are
    element-wise sums, fused with the softmax: :mod:`fastspami._kernels.attention`).
    """
    h, latent = config.hidden_dim, config.latent_dim
    w_csl = config.loss_weights(len(dims))[0]
    if which == "gcn":
        fused = latent * len(dims) if config.fusion == "concat" else latent
        passes = 2 if any(w != 0 for w in w_csl) else 1
        products = []
        for d in dims:
            products += [(n, d, h, False), (n, h, latent, True)] * passes  # encoder
            products += [(n, fused, h, True), (n, h, d, True)]  # decoder
        return products
    if which != "other":
        raise ValueError(f"which must be 'gcn' or 'other', got {which!r}")
    products = [(n, latent, latent, True)] * (2 * sum(w != 0 for w in w_csl))  # the critic
    if config.fusion == "attention" and len(dims) > 1:
        # the scores h . u are element-wise (fastspami._kernels.attention), not a product
        products += [(n * len(dims), latent, latent, True)]
    return products


FLOOR_MEMORY_BYTES = 4 * 2**30  # the floor's matrices are allocated in groups of this size


def product_bytes(rows: int, a: int, b: int, input_grad: bool) -> int:
    """Bytes of float32 matrices :func:`time_gemms` allocates for one product: input,
    weight, incoming gradient, output, input gradient (where needed), weight gradient."""
    return 4 * (rows * a + 2 * a * b + 2 * rows * b + (rows * a if input_grad else 0))


def groups_within(products: list[tuple], budget: int) -> list[list[tuple]]:
    """``products`` in order, split into consecutive groups whose matrices take at most
    ``budget`` bytes (a product larger than that alone forms its own group)."""
    groups: list[list[tuple]] = []
    size = 0
    for product in products:
        nbytes = product_bytes(*product)
        if not groups or size + nbytes > budget:
            groups.append([])
            size = 0
        groups[-1].append(product)
        size += nbytes
    return groups


def time_gemms(
    n: int,
    dims: list[int],
    config: SpaMIConfig,
    threads: int,
    repeats: int = 5,
    kernel: str = "model",
    which: str = "gcn",
    device: str = "cpu",
    dtype: str = "float32",
) -> float:
    """Median seconds of dense products of one epoch at N spots and the given input widths.

    Each product's forward ``H W`` and its weight gradient ``Hᵀ G``, and the input gradient
    ``G Wᵀ`` where the input needs one (not the encoders' first layer, whose input is the
    features); ``which`` chooses the products (:func:`epoch_products`). ``kernel``: 'model'
    times the kernels the model uses (:func:`fastspami._kernels.dense.mm`: oneDNN on non-Intel CPUs, see
    :func:`fastspami._kernels.dense.uses_onednn`), 'torch' times ``torch.mm`` (MKL on the CPU) into
    preallocated outputs. On CUDA both are torch's (cuBLAS), timed to completion. The
    products run in order, each group of them that fits in :data:`FLOOR_MEMORY_BYTES`
    ``repeats`` times after one warm-up; the groups' medians are summed. ``dtype``
    'bfloat16' times the products in bfloat16 (``torch.mm``: oneDNN on the CPU, cuBLAS on
    CUDA, whichever ``kernel``), as mixed precision runs the GCN layers'.
    """
    import torch

    from fastspami._kernels.memory import reuse_freed_memory

    torch.set_num_threads(threads)
    run = {"torch": _torch_mm, "model": _model_mm}[kernel]
    dev = torch.device(device)
    products = epoch_products(n, dims, config, which)
    # at 10^6 spots all the products' matrices would take 30 GB: timed in groups that fit
    # (below FLOOR_MEMORY_BYTES, up to 10^5 spots, all at once), their medians summed
    total = 0.0
    with reuse_freed_memory():
        for group in groups_within(products, FLOOR_MEMORY_BYTES):
            mats = _product_matrices(group, dev, getattr(torch, dtype))
            times = []
            for _ in range(repeats + 1):
                start = time.perf_counter()
                run(mats)
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                times.append(time.perf_counter() - start)
            del mats
            total += median(times[1:])
    return total


def _product_matrices(products: list[tuple], device, dtype) -> list[tuple]:
    """Random operands and preallocated outputs of each product: the floor is the
    arithmetic, not the allocator's page faults."""
    import torch

    def new(*shape: int, fill=torch.randn) -> torch.Tensor:
        return fill(*shape, device=device, dtype=dtype)

    return [
        (new(rows, a), new(a, b), new(rows, b))
        + (new(rows, b, fill=torch.empty), new(rows, a, fill=torch.empty) if input_grad else None)
        + (new(a, b, fill=torch.empty),)
        for rows, a, b, input_grad in products
    ]


def _torch_mm(mats: list[tuple]) -> None:
    import torch

    for x, w, g, y, grad_x, grad_w in mats:
        torch.mm(x, w, out=y)  # forward
        if grad_x is not None:
            torch.mm(g, w.T, out=grad_x)  # gradient with respect to the input
        torch.mm(x.T, g, out=grad_w)  # gradient with respect to the weight


def _model_mm(mats: list[tuple]) -> None:
    """The model's kernels, which allocate their outputs (freed memory is reused)."""
    from fastspami._kernels.dense import mm

    for x, w, g, _, grad_x, _ in mats:
        mm(x, w)
        if grad_x is not None:
            mm(g, w.T)
        mm(x.T, g)


def kernels_in_use(device: str | torch.device) -> str:
    """Which kernels an epoch ran on (they differ between CPUs: see :mod:`fastspami._kernels.dense`)."""
    from fastspami._kernels.dense import uses_onednn, weight_gradients_on_onednn
    from fastspami._kernels.fused import fused_available

    if device.type != "cpu":
        return "torch"
    dense = "onednn" if uses_onednn() else "torch.mm"
    if uses_onednn() and not weight_gradients_on_onednn():
        dense += " (weight gradients torch.mm)"
    losses = "fused" if fused_available() else "torch"
    return f"products {dense}, losses {losses}"


def bench_grid_size(n_spots: int) -> int:
    """Side of the square grid of about n_spots spots that the benchmark trains on."""
    return max(6, round(math.sqrt(n_spots)))


def simulate_bench_data(n_spots: int, seed: int = 0) -> mudata.MuData:
    """The benchmark's dataset: the 'rna_adt' block simulation on a grid of about n_spots spots."""
    from fastspami.data.simulation import simulate

    # noise only on detected entries keeps RNA sparse: 1e6 spots fit in a few GB
    return simulate("rna_adt", grid_size=bench_grid_size(n_spots), seed=seed, noise_on="detected")


def measure_size(
    n_spots: int,
    *,
    threads: int = 2,
    device: str = "cpu",
    epochs_timed: int = 5,
    full_epochs: int = 0,
    tile_spots: int | None = None,
    seed: int = 0,
    malloc_mmap_threshold: int | None = None,
    feature_dims: list[int] | None = None,
    precisions: list[str] | None = None,
    reference: bool = False,
    reference_max_n: int = REFERENCE_MAX_N,
) -> list[dict[str, Any]]:
    """All timings for one dataset size: one row per precision in ``precisions`` (default
    float32 alone), each trained on the same data, one after the other.

    With ``feature_dims`` the model trains on Gaussian random features of those widths on
    the grid (no simulation or preprocessing: their times are NaN), e.g. the authors'
    shapes (50- and 30-dimensional features). With ``reference`` the authors' package
    trains next, once, in a fresh process of its own, on the same features and threads
    (:func:`fastspami.benchmark.bench_reference.measure_reference_training`; up to
    ``reference_max_n`` spots and what fits in memory, else ``reference_status`` says why
    not); every row gets its columns and the ratios to that row's epoch and memory.

    Simulation and preprocessing run here (``prepare_peak_rss_mb`` is this process's peak:
    call it in a fresh process); the graph, the epochs, the GEMMs and full training run in a
    fresh process of their own (:func:`measure_training`) that imports only torch and
    SpaMI's model, so its ``peak_rss_mb`` is SpaMI's, not scanpy's. With
    ``malloc_mmap_threshold`` (bytes) that process runs with glibc's
    ``MALLOC_MMAP_THRESHOLD_`` set, which returns freed tensors to the OS.
    """
    import os
    import tempfile

    from fastspami.model.presets import SpaMIConfig

    precisions = precisions or ["float32"]
    for precision in precisions:
        SpaMIConfig(precision=precision)  # an unknown precision stops before any work

    timings: dict[str, float] = {}
    coords, matrices = prepare_bench_data(n_spots, seed, feature_dims, timings)
    simulate_s, preprocess_s = timings["simulate_s"], timings["preprocess_s"]
    env = None
    if malloc_mmap_threshold:
        env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(int(malloc_mmap_threshold))}
    with tempfile.TemporaryDirectory(prefix="spami-bench-") as folder:
        data = Path(folder) / "data.npz"
        np.savez(data, coords=coords, **{f"x{i}": x for i, x in enumerate(matrices)})
        dims = "+".join(str(x.shape[1]) for x in matrices)
        del matrices
        trainings = []
        for precision in precisions:
            args = {
                "data": str(data),
                "threads": threads,
                "device": device,
                "epochs_timed": epochs_timed,
                "full_epochs": full_epochs,
                "tile_spots": tile_spots,
                "seed": seed,
                "precision": precision,
            }
            trainings.append(_run_in_subprocess("measure_training", args, env=env, quiet=True))
        theirs: dict[str, Any] = {}
        if reference and device != "cpu":
            theirs = {"reference_status": "skipped: the reference is timed on the CPU only"}
        elif reference:
            args = {"data": str(data), "threads": threads, "epochs_timed": epochs_timed}
            theirs = skipped(len(coords), reference_max_n) or _run_in_subprocess(
                "measure_reference_training", {**args, "seed": seed}, quiet=True
            )
    prepare_peak = peak_rss_mb()
    return [
        with_ratios(
            {
                "n_spots": len(coords),
                "threads": threads,
                "device": device,
                "simulate_s": simulate_s,
                "preprocess_s": preprocess_s,
                **training,
                "prepare_peak_rss_mb": prepare_peak,
                "tile_spots": tile_spots or 0,
                "malloc_mmap_threshold": malloc_mmap_threshold or 0,
                "feature_dims": dims,
                **theirs,
            }
        )
        for training in trainings
    ]


def prepare_bench_data(
    n_spots: int,
    seed: int = 0,
    feature_dims: list[int] | None = None,
    timings: dict[str, float] | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """(coords, preprocessed feature matrices) that the benchmark trains on at ``n_spots``:
    the simulation (:func:`simulate_bench_data`) preprocessed, or with ``feature_dims``
    random features (:func:`random_bench_data`). ``timings`` receives ``simulate_s`` and
    ``preprocess_s`` (NaN for random features)."""
    timings = {} if timings is None else timings
    if feature_dims:  # needs numpy, torch and SpaMI alone: no scanpy, anndata or mudata
        timings["simulate_s"] = timings["preprocess_s"] = float("nan")
        return random_bench_data(n_spots, feature_dims, seed)
    from fastspami.pp.preprocess import preprocess_mudata

    t0 = time.perf_counter()
    mdata = simulate_bench_data(n_spots, seed)
    t1 = time.perf_counter()
    features = preprocess_mudata(mdata, seed=seed)
    timings["simulate_s"], timings["preprocess_s"] = t1 - t0, time.perf_counter() - t1
    coords = np.asarray(mdata.obsm["spatial"], dtype=float)
    return coords, [f.X for f in features.values()]


def random_bench_data(
    n_spots: int, feature_dims: list[int], seed: int = 0
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Grid coordinates of about n_spots spots and standard-normal float32 features."""
    from fastspami.data.simulation import grid_coordinates

    coords = grid_coordinates(bench_grid_size(n_spots))
    rng = np.random.default_rng(seed)
    return coords, [rng.standard_normal((len(coords), d), dtype=np.float32) for d in feature_dims]


def measure_training(
    data: str,
    *,
    threads: int = 2,
    device: str = "cpu",
    epochs_timed: int = 5,
    full_epochs: int = 0,
    tile_spots: int | None = None,
    seed: int = 0,
    precision: str = "float32",
) -> dict[str, Any]:
    """Graph, epoch, GEMM and full-training times and peak RSS on preprocessed features.

    ``data``: an .npz with ``coords`` and the modalities' matrices ``x0``, ``x1``, ...
    (written by :func:`measure_size`). Call in a fresh process for a clean peak RSS.
    ``precision`` is SpaMI's setting; where it runs in bf16 the floor of the GCN layers
    (``gemm_s``) is their products in bfloat16, the model's (the critic's and attention's
    stay float32, as in the model).
    """
    import torch

    from fastspami._kernels.adam import Adam
    from fastspami._kernels.dense import cpu_info, uses_onednn
    from fastspami._kernels.memory import reuse_freed_memory
    from fastspami.model.presets import get_preset
    from fastspami.model.train import (
        GraphOperators,
        build_module,
        fit_spami,
        seed_everything,
        train_epoch,
        training_tiles,
    )

    torch.set_num_threads(threads)
    with np.load(data) as arrays:
        coords = arrays["coords"]
        matrices = [arrays[f"x{i}"] for i in range(len(arrays.files) - 1)]
    config = get_preset("simulated").with_overrides(tile_spots=tile_spots, precision=precision)
    dev = torch.device(device)
    start = time.perf_counter()
    ops = GraphOperators.from_coordinates(coords, config.k, dev)
    graph_s = time.perf_counter() - start
    xs = [torch.as_tensor(x, device=dev) for x in matrices]
    dims = [x.shape[1] for x in xs]

    seed_everything(seed)
    module = build_module(dims, config, dev)
    precision_run = module.precision
    optimizer = Adam(module.parameters(), lr=config.lr)
    weights = config.loss_weights(len(xs))
    # with tile_spots, an epoch is one pass over the spatial tiles (as fit_spami trains)
    tiles = training_tiles(coords, ops, config, dev)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    epoch_times = []
    with reuse_freed_memory():  # as fit_spami trains
        for _ in range(epochs_timed + 1):  # the first is warm-up
            perm = torch.randperm(len(coords), generator=generator).to(dev)
            start = time.perf_counter()
            train_epoch(module, optimizer, xs, perm, ops, tiles, weights, generator)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            epoch_times.append(time.perf_counter() - start)
    epoch_s = median(epoch_times[1:])
    del module, optimizer, ops, tiles

    full_s = float("nan")
    if full_epochs:
        run_config = config.with_overrides(epochs=full_epochs)
        start = time.perf_counter()
        fit_spami(matrices, coords, run_config, seed=seed, device=device, threads=threads,
                  progress=False)  # fmt: skip
        full_s = time.perf_counter() - start
    gpu_mb = torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda" else float("nan")
    # read before the GEMM floor, whose own matrices (about 30 KB per spot) are not SpaMI's
    training_peak_mb = peak_rss_mb()
    # the floor: the faster of the model's kernels and torch.mm (timed once where the model
    # itself runs on torch.mm), for the GCN layers and for the other layers' products
    floors = {}
    for which in ("gcn", "other"):
        # mixed precision multiplies the GCN layers' matrices in bfloat16, through torch.mm
        dtype = "bfloat16" if (precision_run == "bf16" and which == "gcn") else "float32"
        torch_s = time_gemms(len(coords), dims, config, threads, kernel="torch", which=which,
                             device=device, dtype=dtype)  # fmt: skip
        model_s = torch_s
        if uses_onednn() and dev.type == "cpu" and dtype == "float32":
            model_s = time_gemms(len(coords), dims, config, threads, which=which)
        floors[which] = (min(model_s, torch_s), torch_s)
    gemm_s, gemm_torch_s = floors["gcn"]
    gemm_all_s = gemm_s + floors["other"][0]
    return {
        "precision": precision_run,
        "precision_requested": precision,
        "graph_s": graph_s,
        "epoch_s": epoch_s,
        "gemm_s": gemm_s,
        "gemm_torch_mm_s": gemm_torch_s,
        "epoch_over_gemm": epoch_s / gemm_s,
        "gemm_all_s": gemm_all_s,
        "epoch_over_gemm_all": epoch_s / gemm_all_s,
        "full_epochs": full_epochs,
        "full_training_s": full_s,
        "peak_rss_mb": training_peak_mb,
        "peak_gpu_mb": gpu_mb,
        "cpu": cpu_info("model name") or platform.processor(),
        "kernels": kernels_in_use(dev),
    }


def run_scaling(
    sizes: list[int],
    out_dir: str | Path,
    *,
    threads: int = 2,
    device: str = "cpu",
    full_epochs: int = 1000,
    full_max_n: int = 100_000,
    tile_spots: int | None = None,
    malloc_mmap_threshold: int | None = None,
    epochs_timed: int = 5,
    feature_dims: list[int] | None = None,
    precisions: list[str] | None = None,
    reference: bool = False,
    reference_max_n: int = REFERENCE_MAX_N,
) -> Path:
    """Measure every size in its own process (in each of ``precisions``, default float32,
    on the same data); write scaling.csv and scaling.png in out_dir.

    ``reference``: time the authors' package too (raises MethodUnavailableError, naming the
    install command, before any measurement where it does not import).
    """
    import pandas as pd

    from fastspami._utils.atomic import atomic_path

    if reference:
        from fastspami.methods.spami_reference_compat import load_reference

        load_reference()
    rows = []
    for n in sizes:
        args = {
            "n_spots": n,
            "threads": threads,
            "device": device,
            "full_epochs": full_epochs if n <= full_max_n else 0,
            "tile_spots": tile_spots,
            "malloc_mmap_threshold": malloc_mmap_threshold,
            "epochs_timed": epochs_timed,
            "feature_dims": feature_dims,
            "reference": reference,
            "reference_max_n": reference_max_n,
            "precisions": precisions,
        }
        rows.extend(_run_in_subprocess("measure_size", args))
    table = pd.DataFrame(rows, columns=SCALING_COLUMNS)
    out = Path(out_dir)
    with atomic_path(out / "scaling.csv") as tmp:
        table.to_csv(tmp, index=False)
    plot_scaling(table, out / "scaling.png")
    return out / "scaling.csv"


COMPARE_COLUMNS = [
    "n_spots",
    "tile_spots",
    "n_tiles",
    "epochs",
    "threads",
    "device",
    "seed",
    "n_domains",
    "full_training_s",
    "tiled_training_s",
    "full_leiden_s",
    "tiled_leiden_s",
    "full_leiden_reached",
    "tiled_leiden_reached",
    "ari_tiled_vs_full",
    "ari_full_vs_truth",
    "ari_tiled_vs_truth",
    "peak_rss_tiled_mb",
    "peak_rss_mb",
]


def compare_tiled(
    n_spots: int,
    tile_spots: int,
    epochs: int,
    seed: int = 0,
    threads: int = 2,
    device: str = "cpu",
) -> dict[str, Any]:
    """Train SpaMI tiled and full-batch on the same simulated data; how well do they agree?

    Simulates the benchmark's dataset (:func:`simulate_bench_data`), preprocesses it, trains
    the 'simulated' preset for ``epochs`` epochs with tiles of about ``tile_spots`` spots and
    then full-batch (same seed), clusters each embedding by Leiden with the resolution
    searched to give as many clusters as ground-truth domains, and returns the ARI between
    the two labellings and of each against the ground truth, with the seconds of each
    training and each clustering. ``peak_rss_tiled_mb`` is the peak RSS after the tiled run
    (simulation, preprocessing and tiled training), ``peak_rss_mb`` the process's peak
    (call in a fresh process for a clean value). Raises ConfigError when ``tile_spots``
    would give a single tile (the two runs would be the same).
    """
    import torch
    from sklearn.metrics import adjusted_rand_score

    from fastspami.clustering.algorithms import ClusteringResult, leiden_n_clusters
    from fastspami.errors import ConfigError
    from fastspami.model.presets import get_preset
    from fastspami.model.tiling import spatial_tiles
    from fastspami.model.train import fit_spami
    from fastspami.pp.preprocess import preprocess_mudata

    torch.set_num_threads(threads)
    mdata = simulate_bench_data(n_spots, seed)
    config = get_preset("simulated").with_overrides(epochs=epochs)
    features = preprocess_mudata(mdata, seed=seed, **config.preprocess)
    matrices = [f.X for f in features.values()]
    coords = np.asarray(mdata.obsm["spatial"], dtype=float)
    truth = np.asarray(mdata.obs["ground_truth"]).astype(str)
    n_domains = int(mdata.uns["dataset"]["n_domains"])
    del mdata
    n_tiles = len(spatial_tiles(coords, tile_spots))
    if n_tiles < 2:
        raise ConfigError(
            f"tile_spots={tile_spots} gives a single tile on {len(coords)} spots, so tiled "
            "and full-batch training would be the same; use a smaller --tile-spots."
        )

    def train_and_cluster(run_config: SpaMIConfig) -> tuple[ClusteringResult, float, float]:
        start = time.perf_counter()
        trained = fit_spami(matrices, coords, run_config, seed=seed, device=device,
                            threads=threads, progress=False)  # fmt: skip
        train_s = time.perf_counter() - start
        start = time.perf_counter()
        clusters = leiden_n_clusters(trained.embedding, n_domains, seed=seed)
        return clusters, train_s, time.perf_counter() - start

    tiled, tiled_s, tiled_leiden_s = train_and_cluster(config.with_overrides(tile_spots=tile_spots))
    peak_tiled = peak_rss_mb()
    full, full_s, full_leiden_s = train_and_cluster(config)
    return {
        "n_spots": len(coords),
        "tile_spots": tile_spots,
        "n_tiles": n_tiles,
        "epochs": epochs,
        "threads": threads,
        "device": device,
        "seed": seed,
        "n_domains": n_domains,
        "full_training_s": full_s,
        "tiled_training_s": tiled_s,
        "full_leiden_s": full_leiden_s,
        "tiled_leiden_s": tiled_leiden_s,
        "full_leiden_reached": full.reached,
        "tiled_leiden_reached": tiled.reached,
        "ari_tiled_vs_full": float(adjusted_rand_score(full.labels, tiled.labels)),
        "ari_full_vs_truth": float(adjusted_rand_score(truth, full.labels)),
        "ari_tiled_vs_truth": float(adjusted_rand_score(truth, tiled.labels)),
        "peak_rss_tiled_mb": peak_tiled,
        "peak_rss_mb": peak_rss_mb(),
    }


def run_compare_tiled(
    sizes: list[int],
    out_dir: str | Path,
    *,
    tile_spots: int,
    epochs: int,
    threads: int = 2,
    device: str = "cpu",
    seed: int = 0,
) -> Path:
    """:func:`compare_tiled` at every size, each in its own process; write tiled_vs_full.csv."""
    import pandas as pd

    from fastspami._utils.atomic import atomic_path
    from fastspami.errors import ConfigError

    for n in sizes:
        if max(6, round(math.sqrt(n))) ** 2 <= tile_spots:
            raise ConfigError(
                f"--tile-spots {tile_spots} gives a single tile at N={n}, so tiled and "
                "full-batch training would be the same; use a smaller --tile-spots."
            )
    rows = []
    for n in sizes:
        args = {
            "n_spots": n,
            "tile_spots": tile_spots,
            "epochs": epochs,
            "seed": seed,
            "threads": threads,
            "device": device,
        }
        rows.append(_run_in_subprocess("compare_tiled", args))
    path = Path(out_dir) / "tiled_vs_full.csv"
    with atomic_path(path) as tmp:
        pd.DataFrame(rows, columns=COMPARE_COLUMNS).to_csv(tmp, index=False)
    return path


def _run_in_subprocess(
    function: str,
    args: dict[str, Any],
    env: dict[str, str] | None = None,
    quiet: bool = False,
) -> Any:
    """Run one of this module's measurements in a fresh Python; return (and print) its row
    (or list of rows)."""
    cmd = [sys.executable, "-m", "fastspami.benchmark.scaling", json.dumps(args), function]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        where = f" at N={args['n_spots']}" if "n_spots" in args else ""
        raise RuntimeError(f"benchmark {function}{where} failed:\n{proc.stderr[-2000:]}")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    if not quiet:
        for each in row if isinstance(row, list) else [row]:
            print(json.dumps(each), flush=True)
    return row


def fitted_slope(n: np.ndarray, values: np.ndarray) -> float:
    """Slope of log(values) against log(n) by least squares (the scaling exponent)."""
    ok = np.isfinite(values) & (values > 0)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(n[ok]), np.log(values[ok]), 1)[0])


def plot_scaling(table: pd.DataFrame, path: str | Path) -> None:
    """Log-log plot of epoch/graph time and peak RSS against N, with fitted slopes; one
    line per precision for what depends on it (epoch, floors, peak RSS)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fastspami._utils.atomic import atomic_path

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(9, 3.6))
    precisions = list(dict.fromkeys(table["precision"]))
    first = table[table["precision"] == precisions[0]]
    n = first["n_spots"].to_numpy(float)
    for col in ("graph_s", "preprocess_s"):  # the same data for every precision
        v = first[col].to_numpy(float)
        ax_t.loglog(n, v, "o-", label=f"{col} (slope {fitted_slope(n, v):.2f})")
    for precision in precisions:
        rows = table[table["precision"] == precision]
        n = rows["n_spots"].to_numpy(float)
        tag = f", {precision}" if len(precisions) > 1 else ""
        for col in ("epoch_s", "gemm_s", "gemm_all_s"):
            v = rows[col].to_numpy(float)
            ax_t.loglog(n, v, "o-", label=f"{col}{tag} (slope {fitted_slope(n, v):.2f})")
        rss = rows["peak_rss_mb"].to_numpy(float)
        ax_m.loglog(n, rss, "o-", label=f"peak RSS{tag} (slope {fitted_slope(n, rss):.2f})")
    n = first["n_spots"].to_numpy(float)
    for col, axis, label in (
        ("reference_epoch_s", ax_t, "authors' code epoch_s"),
        ("reference_peak_rss_mb", ax_m, "authors' code peak RSS"),
    ):  # the authors' package, where --reference timed it
        v = first[col].to_numpy(float) if col in first else np.full(len(n), np.nan)
        if np.isfinite(v).any():
            axis.loglog(n, v, "s--", label=f"{label} (slope {fitted_slope(n, v):.2f})")
    ax_t.set_xlabel("spots")
    ax_t.set_ylabel("seconds")
    ax_t.legend(fontsize=7)
    ax_m.set_xlabel("spots")
    ax_m.set_ylabel("MB")
    ax_m.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)


MEASUREMENTS = {
    "measure_size": measure_size,
    "measure_training": measure_training,
    "compare_tiled": compare_tiled,
    "measure_reference_training": measure_reference_training,
}

if __name__ == "__main__":
    # python -m fastspami.benchmark.scaling '<json keyword arguments>' [measure_size | measure_training | ...]
    measure = MEASUREMENTS[sys.argv[2] if len(sys.argv) > 2 else "measure_size"]
    print(json.dumps(measure(**json.loads(sys.argv[1]))))
