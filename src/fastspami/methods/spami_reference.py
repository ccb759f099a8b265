"""The authors' own SpaMI (PyPI ``SpaMI`` 1.0.0), run as their tutorials run it.

Beside our reimplementation (method ``spami``), this is the original: their preprocessing,
their spatial graph (``construct_adj``), their ``main.train`` and model, on the paper's
settings for the dataset. Only the plumbing is ours: MuData in, :class:`IntegrationResult`
out, the compatibility aliases of :mod:`fastspami.methods.spami_reference_compat`.

Preprocessing (``protocol``; by default the one of the preset's dataset, from the tutorials
of github.com/Gaocongqiang/SpaMI):

=============  ==========================================================================
protocol       what runs
=============  ==========================================================================
``tutorial1``  MISAR-seq (preset ``misar``): ``preprocess_rna`` (1,800 HVGs, PCA 50),
               ``preprocess_atac`` (LSI 50), ``out_dim=20`` as Tutorial 1 trains
``tutorial2``  spatial ATAC-RNA-seq P22 brain (``brain_p22``): ``preprocess_rna`` (3,000
               HVGs, PCA 50), ``preprocess_atac`` (LSI 50)
``tutorial3``  Stereo-CITE-seq thymus (``thymus``): ``preprocess_adt`` (proteins in >= 50
               spots, CLR), ``preprocess_rna`` (3,000 HVGs, PCA to as many dimensions as
               proteins kept: 21 in the tutorial)
``tutorial4``  simulated data (``simulated``): Tutorial 4's own steps: RNA genes in >= 10
               spots, normalize_total 1e4, log1p, no HVG selection, scikit-learn PCA 100;
               protein: Tutorial 4's Seurat CLR per spot, no filter. Tutorial 4 has RNA +
               protein only: simulated ATAC goes through ``preprocess_atac`` (LSI 50), the
               one ATAC preprocessing they publish (Tutorials 1-2)
``package``    a real dataset without a SpaMI tutorial: the package's functions with their
               defaults (``preprocess_rna``: 2,000 HVGs, PCA 50)
=============  ==========================================================================

Their functions read ``.h5ad`` files: each modality's counts (with ``obsm['spatial']``) are
written to a temporary folder and handed over by path. ``preprocess_rna`` keeps genes seen
in >= 3 spots where Tutorials 1-3 wrote >= 10 inline: the package's function is what its
users call, so the package's 3 is used. Every function builds the spatial graph with
``n_neighbors`` = the preset's k (3; 6 for the P22 brain) as the tutorials do.

Training: ``main.train(omics1 = RNA, omics2 = the other modality, ...)`` with the preset's
learning rate, epochs and loss weights (``presets.PRESETS``: w1..w5 map to
``omics1_factor=[w1, w3]``, ``omics2_factor=[w2, w4]``, ``cosine_factor=w5``, exactly as
their ``train`` rebuilds ``factors``), ``random_seed`` = the run's seed (their
``fix_seed``: Python, numpy and torch generators; it is also called before preprocessing,
where the tutorials call ``fix_seed(2024)``). ``epochs`` / ``epoch_fraction`` shorten
training as for the other neural methods.

Threads and device: torch's thread count is set to ``threads`` around the call (their
code sets none; scanpy's numba pool resets OpenMP's count, so it is set again right before
training). Their preprocessing's numpy / scikit-learn / POT calls use whatever BLAS threads
the process has; that is not ours to set. ``main.train`` picks ``use_device`` only where
torch sees CUDA, and silently falls back to the CPU otherwise: a CUDA device torch cannot
see is refused here instead.

Memory: their spatial graph and training keep dense N x N matrices. Per spot pair:
``construct_adj`` returns a float64 adjacency and a float64 neighbour matrix per modality
(4 x 8 B for two modalities), ``main.train`` converts each plus the identity to float32
tensors (4 x 4 B) through one float64 sum at a time (8 B): :data:`BYTES_PER_SPOT_PAIR` = 56 B,
plus :data:`BASE_BYTES` (1 GiB: the interpreter, torch, scanpy and episcanpy, activations).
Measured here (2 threads, dims 50 + 100, 3 epochs): peak RSS 1.1, 1.7 and 3.0 GB at
2,500, 4,096 and 6,400 spots, a slope of 53 B per spot pair. Above the spot count whose
estimate exceeds the job's memory (``memory_mb``; by default the cgroup limit of the
process, as a SLURM job has, else the machine's physical memory), :func:`integrate` raises
:class:`MethodNotApplicableError` before any work.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import scipy.sparse as sp

from fastspami._utils.threads import torch_threads
from fastspami.data.contract import counts_matrix, spatial_coordinates
from fastspami.errors import ConfigError, InputDataError, MethodNotApplicableError
from fastspami.methods.contract import IntegrationResult
from fastspami.methods.spami_reference_compat import (
    IMPORT_ALIASES,
    ReferenceModules,
    load_reference,
    quiet_training,
    recorded_outputs,
)
from fastspami.model.presets import PRESETS, SpaMIConfig
from fastspami.pp.preprocess import resolve_kinds

METHOD = "spami_reference"
LABEL = "SpaMI (authors' code)"

BYTES_PER_SPOT_PAIR = 56
BASE_BYTES = 2**30


@dataclass(frozen=True)
class Protocol:
    """How one of their tutorials preprocesses (see the module docstring)."""

    name: str
    source: str
    n_top_genes: int | None  # HVGs for preprocess_rna; None: Tutorial 4's steps (no HVGs)
    rna_dims: int | None  # PCA dims of RNA; None: as many as proteins kept (Tutorial 3)
    out_dim: int = 64  # train()'s out_dim (the embedding's width)


PROTOCOLS = {
    "tutorial1": Protocol("tutorial1", "Tutorial 1 (MISAR-seq mouse embryonic brain)", 1800, 50, 20),
    "tutorial2": Protocol("tutorial2", "Tutorial 2 (spatial ATAC-RNA-seq P22 mouse brain)", 3000, 50),
    "tutorial3": Protocol("tutorial3", "Tutorial 3 (Stereo-CITE-seq mouse thymus)", 3000, None),
    "tutorial4": Protocol("tutorial4", "Tutorial 4 (simulated RNA + protein)", None, 100),
    "package": Protocol("package", "the package's preprocessing defaults", 2000, 50),
}  # fmt: skip
PRESET_PROTOCOL = {
    "simulated": "tutorial4",
    "misar": "tutorial1",
    "brain_p22": "tutorial2",
    "thymus": "tutorial3",
    "paper_default": "package",  # main.py's default branch: their package's preprocessing
}
TUTORIAL4_MIN_SPOTS = 10  # Tutorial 4: sc.pp.filter_genes(adata_omics1, min_cells=10)


def dense_bytes(n_spots: int) -> int:
    """Estimated peak bytes of the authors' code on ``n_spots`` spots (module docstring)."""
    return BASE_BYTES + BYTES_PER_SPOT_PAIR * int(n_spots) ** 2


def max_spots(memory_bytes: float) -> int:
    """The most spots whose :func:`dense_bytes` fit in ``memory_bytes`` (0 if none do)."""
    room = float(memory_bytes) - BASE_BYTES
    return int(math.isqrt(int(room // BYTES_PER_SPOT_PAIR))) if room > 0 else 0


def job_memory_bytes() -> int:
    """The memory this process may use: its cgroup's limit where one is set (SLURM jobs,
    containers), else the machine's physical memory."""
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        with contextlib.suppress(OSError, ValueError):
            return min(physical, int(Path(path).read_text().strip()))
    return physical


def check_fits(n_spots: int, memory_mb: float | None = None) -> int:
    """Raise MethodNotApplicableError if their dense matrices cannot fit; return the bound."""
    memory = job_memory_bytes() if memory_mb is None else float(memory_mb) * 2**20
    bound = max_spots(memory)
    if n_spots > bound:
        raise MethodNotApplicableError(
            f"{LABEL} keeps dense {n_spots:,} x {n_spots:,} matrices: about "
            f"{dense_bytes(n_spots) / 2**30:.1f} GiB ({BYTES_PER_SPOT_PAIR} B per spot pair + "
            f"{BASE_BYTES / 2**30:.0f} GiB), more than the job's {memory / 2**30:.1f} GiB; it "
            f"fits at most {bound:,} spots. Give the job more memory (memory_mb) or leave the "
            "reference out on this dataset."
        )
    return bound


def train_settings(config: SpaMIConfig, protocol: Protocol) -> dict[str, Any]:
    """``main.train`` keywords for a preset: lr, epochs, loss weights, out_dim, dropout."""
    if len(config.weights) != 5:
        raise ConfigError(f"{METHOD}: their train() takes 5 loss weights, got {config.weights}.")
    w1, w2, w3, w4, w5 = config.weights
    return {
        "learning_rate": float(config.lr),
        "epochs": int(config.epochs),
        "omics1_factor": [float(w1), float(w3)],
        "omics2_factor": [float(w2), float(w4)],
        "cosine_factor": float(w5),
        "dropout_rate": float(config.dropout),
        "out_dim": int(protocol.out_dim),
    }


def preload() -> None:
    """Import the authors' package (through its shim) in a workflow batch's process, before
    it forks a process per run."""
    load_reference()


def integrate(
    mdata: Any,
    *,
    seed: int = 0,
    threads: int = 1,
    device: str = "cpu",
    preset: str = "simulated",
    protocol: str | None = None,
    epochs: int | None = None,
    epoch_fraction: float | None = None,
    kinds: dict[str, str] | None = None,
    memory_mb: float | None = None,
    quiet: bool = True,
) -> IntegrationResult:
    """Integrate an RNA + ADT or RNA + ATAC MuData with the authors' SpaMI package.

    mdata: two modalities with raw counts and ``obsm['spatial']`` (N x 2).
    preset: the paper's settings (:data:`fastspami.model.presets.PRESETS`: simulated, misar,
    brain_p22, thymus); protocol: the preprocessing (:data:`PROTOCOLS`), by default the
    preset's tutorial. epochs / epoch_fraction: train that many / that share (0 < f <= 1)
    of the preset's epochs (at least one). memory_mb: the job's memory (None: the
    process's limit, :func:`job_memory_bytes`).
    Returns the (N x out_dim) fused embedding, the two modality embeddings and the (N x 2)
    attention of their final forward pass (columns RNA, then the other modality).
    """
    config, chosen = _check_settings(preset, protocol, epochs, epoch_fraction)
    rna_name, other_name, other_kind = _pick_modalities(mdata, kinds)
    bound = check_fits(mdata.n_obs, memory_mb)
    torch_device = _check_device(device)
    modules = load_reference()
    import torch

    settings = train_settings(config, chosen)
    if epochs is not None:
        settings["epochs"] = int(epochs)
    elif epoch_fraction is not None:
        settings["epochs"] = max(1, round(float(epoch_fraction) * config.epochs))
    coords = np.asarray(spatial_coordinates(mdata), dtype=np.float64)
    with torch_threads(threads), tempfile.TemporaryDirectory(prefix="spami-ref-") as folder:
        modules.utils.fix_seed(seed)  # where the tutorials call fix_seed(2024)
        omics2, omics1 = _preprocess(
            modules, chosen, config.k, mdata, rna_name, other_name, other_kind, coords, folder
        )
        torch.set_num_threads(max(1, int(threads)))  # again: numba resets OpenMP's count
        training_threads = torch.get_num_threads()
        with quiet_training(modules.main, quiet), recorded_outputs(modules.model) as last:
            embedding = modules.main.train(
                omics1,
                omics2,
                folder,
                use_device=str(torch_device),
                random_seed=int(seed),
                **settings,
            )
    uns = {
        "package": "SpaMI",
        "package_version": modules.version,
        "compat_import_aliases": list(IMPORT_ALIASES),
        "preset": preset,
        "protocol": chosen.name,
        "protocol_source": chosen.source,
        "train": settings,
        "spatial_neighbors": int(config.k),
        "feature_dims": {
            rna_name: int(omics1["feat"].shape[1]),
            other_name: int(omics2["feat"].shape[1]),
        },
        "modalities": [rna_name, other_name],
        "seed": int(seed),
        "device": str(torch_device),
        "torch_threads": int(training_threads),
        "max_spots": int(bound),
    }
    return IntegrationResult(
        method=METHOD,
        embedding=np.asarray(embedding, dtype=np.float32),
        modality_embeddings={
            rna_name: last["omics1"].cpu().numpy().astype(np.float32),
            other_name: last["omics2"].cpu().numpy().astype(np.float32),
        },
        attention=last["attention"].cpu().numpy().astype(np.float32),
        attention_modalities=[rna_name, other_name],
        uns=uns,
    )


def _check_settings(
    preset: str, protocol: str | None, epochs: int | None, epoch_fraction: float | None
) -> tuple[SpaMIConfig, Protocol]:
    if preset not in PRESET_PROTOCOL:
        raise ConfigError(
            f"{METHOD}: preset {preset!r} is not one of the paper's; use one of "
            f"{sorted(PRESET_PROTOCOL)} (their code has no other settings)."
        )
    name = protocol or PRESET_PROTOCOL[preset]
    if name not in PROTOCOLS:
        raise ConfigError(f"{METHOD}: protocol {name!r} unknown; use one of {sorted(PROTOCOLS)}.")
    if epochs is not None and epoch_fraction is not None:
        raise ConfigError(
            f"{METHOD}: give epochs or epoch_fraction, not both "
            f"(got epochs={epochs}, epoch_fraction={epoch_fraction})."
        )
    if epochs is not None and int(epochs) < 1:
        raise ConfigError(f"{METHOD}: epochs must be >= 1, got {epochs}.")
    if epoch_fraction is not None and not 0 < float(epoch_fraction) <= 1:
        raise ConfigError(
            f"{METHOD}: epoch_fraction must be in (0, 1], got {epoch_fraction} "
            "(a share of the preset's epochs: 0.3 trains 300 of the simulated preset's 1000)."
        )
    return PRESETS[preset], PROTOCOLS[name]


def _pick_modalities(mdata: Any, explicit: dict[str, str] | None) -> tuple[str, str, str]:
    """(RNA modality, other modality, its kind); raise if their code cannot take the input."""
    names = list(mdata.mod)
    kinds = resolve_kinds(mdata, explicit)
    rna = [n for n in names if kinds[n] == "rna"]
    other = [n for n in names if kinds[n] in ("adt", "atac")]
    if len(names) != 2 or len(rna) != 1 or len(other) != 1:
        raise MethodNotApplicableError(
            f"{LABEL} integrates RNA with one protein or ATAC modality (main.train takes "
            f"exactly two); this dataset has {kinds}. Leave it out here, or pass a "
            "two-modality MuData."
        )
    return rna[0], other[0], kinds[other[0]]


def _check_device(device: str) -> Any:
    import torch

    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"{METHOD}: device {device!r} requested but torch sees no CUDA GPU (their train() "
            "would silently use the CPU); use 'cpu'."
        )
    return torch.device(device)


def _counts_anndata(mdata: Any, name: str, coords: np.ndarray, *, dense: bool) -> ad.AnnData:
    """A modality's raw counts (float32; CSR or dense) with ``obsm['spatial']``."""
    source = mdata.mod[name]
    counts = counts_matrix(source)
    if dense:
        counts = counts.toarray() if sp.issparse(counts) else np.asarray(counts)
        counts = counts.astype(np.float32)
    else:
        counts = sp.csr_matrix(counts, dtype=np.float32)
    adata = ad.AnnData(X=counts, obs=source.obs[[]].copy(), var=source.var[[]].copy())
    adata.var_names_make_unique()
    adata.obsm["spatial"] = coords.copy()
    return adata


def _written(adata: ad.AnnData, folder: str, name: str) -> str:
    path = os.path.join(folder, f"{name}.h5ad")
    adata.write_h5ad(path)
    return path


def _graph_data(modules: ReferenceModules, adata: ad.AnnData, feat: np.ndarray, k: int) -> dict:
    """The dict their train() takes, built as Tutorial 4 builds it."""
    adj, graph_neigh = modules.preprocess.construct_adj(adata, n_neighbors=k)
    return {
        "feat": feat,
        "adj": adj,
        "graph_neigh": graph_neigh,
        "label_CSL": modules.preprocess.add_contrastive_label(adata),
    }


def _preprocess(
    modules: ReferenceModules,
    protocol: Protocol,
    k: int,
    mdata: Any,
    rna_name: str,
    other_name: str,
    other_kind: str,
    coords: np.ndarray,
    folder: str,
) -> tuple[dict, dict]:
    """(other modality's data, RNA's data) as their train() takes them, in the tutorial's
    order (RNA first, but the protein first where RNA's PCA takes its width: Tutorial 3);
    the order matters where a step draws from numpy's global generator (PCA)."""
    if protocol.rna_dims is None:
        other = _preprocess_other(
            modules, protocol, k, mdata, other_name, other_kind, coords, folder
        )
        rna = _preprocess_rna(modules, protocol, k, mdata, rna_name, coords, folder, other)
        return other, rna
    rna = _preprocess_rna(modules, protocol, k, mdata, rna_name, coords, folder, None)
    other = _preprocess_other(modules, protocol, k, mdata, other_name, other_kind, coords, folder)
    return other, rna


def _preprocess_rna(
    modules: ReferenceModules,
    protocol: Protocol,
    k: int,
    mdata: Any,
    name: str,
    coords: np.ndarray,
    folder: str,
    other: dict | None,
) -> dict:
    rna = _counts_anndata(mdata, name, coords, dense=False)
    dims = protocol.rna_dims or int(other["feat"].shape[1])
    if protocol.n_top_genes is None:
        return _graph_data(modules, rna, _tutorial4_rna(rna, dims), k)
    return modules.preprocess.preprocess_rna(
        _written(rna, folder, "rna"),
        n_neighbors=k,
        highly_variable_genes=min(protocol.n_top_genes, rna.n_vars),
        reduction_dim=dims,
    )


def _preprocess_other(
    modules: ReferenceModules,
    protocol: Protocol,
    k: int,
    mdata: Any,
    name: str,
    kind: str,
    coords: np.ndarray,
    folder: str,
) -> dict:
    if kind == "atac":
        atac = _counts_anndata(mdata, name, coords, dense=False)
        _check_atac(atac)
        return modules.preprocess.preprocess_atac(_written(atac, folder, "atac"), n_neighbors=k)
    adt = _counts_anndata(mdata, name, coords, dense=True)  # their CLR cannot take sparse
    if protocol.name == "tutorial4":
        return _graph_data(modules, adt, _tutorial4_clr(adt.X), k)
    return modules.preprocess.preprocess_adt(_written(adt, folder, "adt"), n_neighbors=k)


def _tutorial4_rna(rna: ad.AnnData, n_comps: int) -> np.ndarray:
    """Tutorial 4's RNA steps: genes in >= 10 spots, normalize 1e4, log1p, PCA (no HVGs)."""
    import scanpy as sc
    import sklearn.decomposition

    sc.pp.filter_genes(rna, min_cells=TUTORIAL4_MIN_SPOTS)
    sc.pp.normalize_total(rna, target_sum=1e4)
    sc.pp.log1p(rna)
    values = rna.X.toarray() if sp.issparse(rna.X) else rna.X
    n_comps = min(n_comps, min(values.shape))
    return sklearn.decomposition.PCA(n_components=n_comps).fit_transform(values)


def _tutorial4_clr(counts: np.ndarray) -> np.ndarray:
    """Tutorial 4's Seurat CLR, per spot, as the tutorial applies it (dense input)."""

    def seurat_clr(x: np.ndarray) -> np.ndarray:
        # the tutorial's formula: the mean is over all of a spot's proteins (len(x))
        s = np.sum(np.log1p(x[x > 0]))
        return np.log1p(x / np.exp(s / len(x)))

    return np.apply_along_axis(seurat_clr, 1, np.array(counts))


def _check_atac(atac: ad.AnnData) -> None:
    empty = np.flatnonzero(np.asarray(atac.X.sum(axis=1)).ravel() == 0)
    if empty.size:
        raise InputDataError(
            f"{METHOD}: {empty.size} spot(s) have no ATAC counts (e.g. "
            f"{atac.obs_names[empty[0]]!r}); their TF-IDF divides by each spot's total. "
            "Remove them first."
        )
