"""SpatialGlue (Long et al., Nat Methods 2024) run through its published package.

The run follows the package's tutorials (SpatialGlue_tutorials, docs/source):

- RNA (omics 1): drop genes seen in < 10 spots; 3000 highly variable genes (``seurat_v3`` on
  counts); normalize_total 1e4; log1p; scale; PCA with ``n_adt - 1`` components when paired
  with ADT (tutorials 1-3) or 50 when paired with ATAC (tutorial 4).
- ADT (omics 2): the package's ``clr_normalize_each_cell``; scale; PCA with ``n_adt - 1``
  components. For ``Stereo-CITE-seq`` (tutorial 2): proteins seen in < 50 spots are dropped and
  neither modality is scaled.
- ATAC (omics 2): the package's ``lsi`` with 51 components on all peaks (the first is dropped).
- ``construct_neighbor_graph(..., datatype)``; ``Train_SpatialGlue(data, datatype, device)``;
  ``.train()``; the embedding is its output ``'SpatialGlue'``.

Deviation from the tutorials: they drop spots with few genes (``filter_cells``); here every spot
is kept, so the embedding has one row per input spot.

``datatype`` picks the package's own presets (spatial neighbours, epochs, loss weights):

=================================  ===========  ======  ===================
datatype                           spatial k    epochs  weights
=================================  ===========  ======  ===================
``SPOTS`` (default for RNA+ADT)    3            600     1, 5, 1, 1
``10x`` (Visium RNA+protein)       3            200     1, 5, 1, 10
``Stereo-CITE-seq``                6            1500    1, 10, 1, 10
``Spatial-epigenome-transcriptome``  6          1600    1, 5, 1, 1
(default for RNA+ATAC)
=================================  ===========  ======  ===================

``SPOTS`` is the package's own default and matches SpaMI's simulated data (k = 3); the
datasets registry should name the tutorial's datatype for each real dataset (human lymph node:
``10x``; mouse thymus: ``Stereo-CITE-seq``; mouse brains / MISAR-seq:
``Spatial-epigenome-transcriptome``). The package overwrites epochs and weights by datatype;
``epochs`` given here is set after construction, and ``epoch_fraction`` trains that share of
the datatype's epochs (shorter runs that keep each datatype's proportion: the quick benchmark
gives every method 30 % of its own default). What was used is recorded in ``uns``.

SpatialGlue 1.1.5 integrates exactly two modalities; other inputs raise
:class:`MethodNotApplicableError`.
"""

from __future__ import annotations

import warnings
from typing import Any

import anndata as ad
import numpy as np
import scipy.sparse as sp

from fastspami._utils.threads import torch_threads
from fastspami.data.contract import counts_matrix, spatial_coordinates
from fastspami.errors import ConfigError, InputDataError, MethodNotApplicableError
from fastspami.methods.contract import IntegrationResult
from fastspami.methods.spatialglue_compat import (
    SpatialGlueModules,
    applied_patches,
    load_spatialglue,
    quiet_training,
)
from fastspami.pp.preprocess import resolve_kinds

METHOD = "spatialglue"

ADT_DATATYPES = ("SPOTS", "10x", "Stereo-CITE-seq")
ATAC_DATATYPES = ("Spatial-epigenome-transcriptome",)
DEFAULT_DATATYPE = {"adt": "SPOTS", "atac": "Spatial-epigenome-transcriptome"}

RNA_MIN_SPOTS = 10
N_TOP_GENES = 3000
RNA_COMPS_WITH_ATAC = 50
LSI_COMPONENTS = 51
STEREO_CITE_ADT_MIN_SPOTS = 50


def preload() -> None:
    """Import SpatialGlue (and apply its shim) in a workflow batch's process, before it
    forks a process per run."""
    load_spatialglue()


def integrate(
    mdata: Any,
    *,
    seed: int = 0,
    threads: int = 1,
    device: str = "cpu",
    datatype: str | None = None,
    epochs: int | None = None,
    epoch_fraction: float | None = None,
    kinds: dict[str, str] | None = None,
    quiet: bool = True,
) -> IntegrationResult:
    """Integrate an RNA + ADT or RNA + ATAC MuData with SpatialGlue.

    mdata: MuData with two modalities, raw counts, ``obsm['spatial']`` (N x 2).
    datatype: one of ``ADT_DATATYPES`` / ``ATAC_DATATYPES``; None picks ``DEFAULT_DATATYPE``.
    epochs: None keeps the package's epochs for ``datatype``.
    epoch_fraction: train this share (0 < f <= 1) of the datatype's epochs instead (at least
    one); not together with ``epochs``.
    kinds: ``{modality name: 'rna'|'adt'|'atac'}``; else ``uns['modality_kinds']``,
    else the modality names decide (``fastspami.pp.preprocess.resolve_kinds``).
    Returns the (N x 64) L2-normalized embedding, the per-modality embeddings and the per-spot
    modality attention (N x 2, columns RNA then the other modality).
    """
    rna_name, other_name, other_kind = _pick_modalities(mdata, kinds)
    datatype = _check_datatype(datatype, other_kind)
    _check_epochs(epochs, epoch_fraction)
    modules = load_spatialglue()
    import torch

    with torch_threads(threads):
        modules.preprocess.fix_seed(seed)
        coords = np.asarray(spatial_coordinates(mdata), dtype=np.float64)
        rna = _anndata_of(mdata, rna_name, coords)
        other = _anndata_of(mdata, other_name, coords)
        if other_kind == "adt":
            rna, other = _prepare_rna_adt(modules, rna, other, datatype)
        else:
            rna, other = _prepare_rna_atac(modules, rna, other, seed)
        data = modules.preprocess.construct_neighbor_graph(rna, other, datatype=datatype)

        # Again: scanpy's preprocessing starts numba's OpenMP pool, which resets the thread
        # count of the OpenMP runtime torch shares (measured: 2 threads during training when
        # 1 was asked for, and a spinning worker that slowed a parallel job 5-7x).
        torch.set_num_threads(max(1, int(threads)))
        training_threads = torch.get_num_threads()
        modules.preprocess.fix_seed(seed)
        with quiet_training(modules.trainer, quiet):
            model = modules.trainer.Train_SpatialGlue(
                data, datatype=datatype, device=_torch_device(device), random_seed=seed
            )
            if epochs is not None:
                model.epochs = int(epochs)
            elif epoch_fraction is not None:
                model.epochs = max(1, round(float(epoch_fraction) * model.epochs))
            output = model.train()

    uns = {
        "package": "spatialglue",
        "package_version": modules.version,
        "compat_patches": applied_patches(modules.preprocess),
        "torch_version": str(torch.__version__),
        "datatype": datatype,
        "epochs": int(model.epochs),
        "weight_factors": [float(w) for w in model.weight_factors],
        "learning_rate": float(model.learning_rate),
        "spatial_neighbors": int(len(rna.uns["adj_spatial"]) // rna.n_obs),
        "feature_dims": {
            rna_name: int(rna.obsm["feat"].shape[1]),
            other_name: int(other.obsm["feat"].shape[1]),
        },
        "modalities": [rna_name, other_name],
        "seed": int(seed),
        "device": str(device),
        "torch_threads": int(training_threads),
        "graph_attention_mean": {
            rna_name: _mean_pair(output["alpha_omics1"]),
            other_name: _mean_pair(output["alpha_omics2"]),
        },
        "graph_attention_columns": ["spatial_graph", "feature_graph"],
    }
    return IntegrationResult(
        method=METHOD,
        embedding=np.asarray(output["SpatialGlue"], dtype=np.float32),
        modality_embeddings={
            rna_name: np.asarray(output["emb_latent_omics1"], dtype=np.float32),
            other_name: np.asarray(output["emb_latent_omics2"], dtype=np.float32),
        },
        attention=np.asarray(output["alpha"], dtype=np.float32),
        attention_modalities=[rna_name, other_name],
        uns=uns,
    )


def _pick_modalities(mdata: Any, explicit: dict[str, str] | None) -> tuple[str, str, str]:
    """(RNA modality name, other modality name, other kind); raise if SpatialGlue cannot run."""
    names = list(mdata.mod)
    kinds = resolve_kinds(mdata, explicit)
    if len(names) != 2:
        raise MethodNotApplicableError(
            f"SpatialGlue integrates exactly two modalities; this dataset has {len(names)} "
            f"({', '.join(f'{n}={k}' for n, k in kinds.items())}). Mark SpatialGlue as not "
            "applicable here, or pass a two-modality MuData, e.g. "
            "MuData({'rna': mdata['rna'], 'adt': mdata['adt']})."
        )
    rna = [n for n in names if kinds[n] == "rna"]
    other = [n for n in names if kinds[n] != "rna"]
    if len(rna) != 1 or len(other) != 1:
        raise MethodNotApplicableError(
            f"SpatialGlue's tutorials pair RNA with ADT or ATAC; got kinds {kinds}. "
            "Mark SpatialGlue as not applicable, or correct the modality kinds."
        )
    return rna[0], other[0], kinds[other[0]]


def _check_epochs(epochs: int | None, epoch_fraction: float | None) -> None:
    if epochs is not None and epoch_fraction is not None:
        raise ConfigError(
            "spatialglue: give epochs or epoch_fraction, not both "
            f"(got epochs={epochs}, epoch_fraction={epoch_fraction})."
        )
    if epochs is not None and int(epochs) < 1:
        raise ConfigError(f"spatialglue: epochs must be >= 1, got {epochs}.")
    if epoch_fraction is not None and not 0 < float(epoch_fraction) <= 1:
        raise ConfigError(
            f"spatialglue: epoch_fraction must be in (0, 1], got {epoch_fraction} "
            "(a share of the datatype's epochs: 0.3 trains 180 of SPOTS' 600)."
        )


def _check_datatype(datatype: str | None, other_kind: str) -> str:
    allowed = ADT_DATATYPES if other_kind == "adt" else ATAC_DATATYPES
    if datatype is None:
        return DEFAULT_DATATYPE[other_kind]
    if datatype not in allowed:
        raise ConfigError(
            f"spatialglue: datatype {datatype!r} does not fit RNA + {other_kind.upper()}; "
            f"use one of {list(allowed)} (SpatialGlue silently ignores unknown datatypes)."
        )
    return datatype


def _anndata_of(mdata: Any, name: str, coords: np.ndarray) -> ad.AnnData:
    """A fresh AnnData with raw counts as a ``csr_matrix`` (what SpatialGlue was written for)."""
    source = mdata.mod[name]
    counts = counts_matrix(source)
    counts = (
        sp.csr_matrix(counts, dtype=np.float32)
        if sp.issparse(counts)
        else np.asarray(counts, dtype=np.float32)
    )
    adata = ad.AnnData(X=counts, obs=source.obs[[]].copy(), var=source.var[[]].copy())
    adata.var_names_make_unique()
    adata.obsm["spatial"] = coords
    return adata


def _prepare_rna_adt(
    modules: SpatialGlueModules, rna: ad.AnnData, adt: ad.AnnData, datatype: str
) -> tuple[ad.AnnData, ad.AnnData]:
    import scanpy as sc

    scale = datatype != "Stereo-CITE-seq"
    if datatype == "Stereo-CITE-seq":
        sc.pp.filter_genes(adt, min_cells=STEREO_CITE_ADT_MIN_SPOTS)
    n_comps = adt.n_vars - 1
    if n_comps < 2:
        raise InputDataError(
            f"spatialglue: the ADT modality has {adt.n_vars} usable proteins; its tutorial PCA "
            "needs at least 3 (n_comps = n_proteins - 1)."
        )
    rna_high = _log_normalized_hvgs(rna, scale=scale)
    rna.obsm["feat"] = _pca(modules, rna_high, n_comps)
    adt = modules.preprocess.clr_normalize_each_cell(adt)
    if scale:
        sc.pp.scale(adt)
    adt.obsm["feat"] = _pca(modules, adt, n_comps)
    return rna, adt


def _prepare_rna_atac(
    modules: SpatialGlueModules, rna: ad.AnnData, atac: ad.AnnData, seed: int
) -> tuple[ad.AnnData, ad.AnnData]:
    import scanpy as sc

    rna_high = _log_normalized_hvgs(rna, scale=True)
    rna.obsm["feat"] = _pca(modules, rna_high, RNA_COMPS_WITH_ATAC)
    sc.pp.filter_genes(atac, min_cells=1)  # an all-zero peak has an infinite IDF
    if not sp.issparse(atac.X):
        atac.X = sp.csr_matrix(atac.X)
    empty = np.flatnonzero(np.asarray(atac.X.sum(axis=1)).ravel() == 0)
    if empty.size:
        raise InputDataError(
            f"spatialglue: {empty.size} spot(s) have no ATAC counts (e.g. "
            f"{atac.obs_names[empty[0]]!r}); TF-IDF is undefined there. Remove them first."
        )
    n_components = min(LSI_COMPONENTS, min(atac.shape) - 1)
    modules.preprocess.lsi(
        atac, use_highly_variable=False, n_components=n_components, random_state=seed
    )
    atac.obsm["feat"] = np.asarray(atac.obsm["X_lsi"], dtype=np.float64).copy()
    return rna, atac


def _log_normalized_hvgs(rna: ad.AnnData, *, scale: bool) -> ad.AnnData:
    """The tutorials' RNA steps; returns the HVG subset (``rna`` keeps all kept genes)."""
    import scanpy as sc

    sc.pp.filter_genes(rna, min_cells=RNA_MIN_SPOTS)
    n_top = min(N_TOP_GENES, rna.n_vars)
    sc.pp.highly_variable_genes(rna, flavor="seurat_v3", n_top_genes=n_top)
    sc.pp.normalize_total(rna, target_sum=1e4)
    sc.pp.log1p(rna)
    if scale:
        rna.X = rna.X.toarray() if sp.issparse(rna.X) else rna.X  # scaling densifies anyway
        sc.pp.scale(rna)
    return rna[:, rna.var["highly_variable"].to_numpy()].copy()


def _pca(modules: SpatialGlueModules, adata: ad.AnnData, n_comps: int) -> np.ndarray:
    """The package's ``pca`` on dense data, with ``n_comps`` clipped to what the data allow."""
    if sp.issparse(adata.X):
        adata.X = adata.X.toarray()
    n_comps = min(n_comps, min(adata.shape) - 1)
    with warnings.catch_warnings():
        # it imports the deprecated scipy.sparse.csc / .csr namespaces (removed in SciPy 2.0)
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=r".*scipy\.sparse")
        return np.asarray(modules.preprocess.pca(adata, n_comps=n_comps))


def _mean_pair(alpha: np.ndarray) -> list[float]:
    return [float(v) for v in np.asarray(alpha, dtype=np.float64).mean(axis=0)]


def _torch_device(device: str) -> Any:
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"spatialglue: device {device!r} requested but torch sees no CUDA GPU; use 'cpu'."
        )
    return torch.device(device)
