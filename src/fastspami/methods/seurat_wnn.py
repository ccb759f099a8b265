"""Seurat weighted nearest neighbours (WNN), run in R's Seurat through rpy2.

Follows Seurat's WNN vignettes, one assay per modality:

- RNA: LogNormalize, FindVariableFeatures (vst), ScaleData, RunPCA (reduction ``pca``):
  30 PCs beside proteins (the CITE-seq vignette's ``1:30``), 50 beside chromatin
  accessibility (the multiome vignette's ``1:50``). The multiome vignette normalizes RNA
  with SCTransform; here RNA is log-normalized in every pairing, so that the RNA side of
  Seurat WNN differs between pairings only in its number of PCs.
- ADT: every protein a variable feature, CLR per spot (``margin = 2``), ScaleData,
  RunPCA (reduction ``apca``).
- ATAC: Signac is not packaged for Debian, so LSI is computed in R here with the same
  formulas as Signac's defaults (RunTFIDF method 1: ``log1p(x / spot total * n_spots /
  peak total * 1e4)``; RunSVD: ``irlba`` SVD, spot embeddings standardized per
  component) and registered with ``CreateDimReducObject`` (reduction ``lsi``); the
  first component (sequencing depth) is left out of the neighbour search, as in the
  vignette (``dims = 2:n``).

``FindMultiModalNeighbors`` then builds the weighted graphs for 2 or 3 modalities.

Output:
- ``connectivities``: Seurat's ``wsnn`` graph (the weighted shared-nearest-neighbour
  graph Seurat clusters on), spots x spots CSR in the input order. Clustering should
  run Leiden on this graph, as Seurat's ``FindClusters(graph.name = "wsnn")`` does.
- ``embedding``: a spectral embedding of the symmetrized ``wsnn`` graph (eigenvectors of
  its normalized Laplacian, the trivial one dropped; ``n_spectral`` dims), for plots and
  for users who want coordinates. Chosen over the WNN UMAP because it is deterministic
  and keeps the graph's cluster structure without UMAP's distortions.
  ``uns['embedding']`` records this. The benchmark clusters the graph itself
  (:func:`fastspami.clustering.algorithms.cluster_embedding` with ``connectivities``): Leiden on it, and
  k-means and mclust on its spectral embedding with as many eigenvectors as clusters
  (spectral clustering). k-means on these 20 dims found one large cluster and a few
  tiny ones (ARI near 0 where Leiden on the graph reached 0.5-0.9).
- ``attention``: the per-spot modality weights of FindMultiModalNeighbors (the
  ``<ASSAY>.weight`` metadata columns), rows summing to 1.
- ``uns``: Seurat's and SeuratObject's versions, the dims used per modality, k.nn.

Counts cross into R in memory as a sparse ``dgCMatrix`` (features x spots); Seurat
forbids underscores in feature names, so they are replaced by dashes (and made unique)
before crossing. R's console output goes to this module's logger, never to stdout.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from fastspami.clustering.algorithms import spectral_features
from fastspami.errors import InputDataError
from fastspami.methods.contract import IntegrationResult

log = logging.getLogger(__name__)

METHOD_NAME = "seurat_wnn"
ASSAY_BY_KIND = {"rna": "RNA", "adt": "ADT", "atac": "ATAC"}
REDUCTION_BY_KIND = {"rna": "pca", "adt": "apca", "atac": "lsi"}

# One R function does the whole Seurat run; Python only moves arrays in and out.
_R_WNN_PIPELINE = r"""
function(counts, kinds, n_dims, n_hvg, k_nn, seed) {
  suppressPackageStartupMessages(library(Seurat))
  set.seed(seed)
  assays <- names(counts)
  obj <- CreateSeuratObject(counts = counts[[1]], assay = assays[1])
  for (assay in assays[-1]) {
    obj[[assay]] <- CreateAssayObject(counts = counts[[assay]])
  }
  reductions <- character(0)
  dims <- list()
  for (assay in assays) {
    kind <- kinds[[assay]]
    n <- n_dims[[assay]]
    DefaultAssay(obj) <- assay
    if (kind == "rna") {
      obj <- NormalizeData(obj, normalization.method = "LogNormalize", verbose = FALSE)
      obj <- FindVariableFeatures(obj, selection.method = "vst", nfeatures = n_hvg,
                                  verbose = FALSE)
      obj <- ScaleData(obj, verbose = FALSE)
      obj <- RunPCA(obj, npcs = n, reduction.name = "pca", reduction.key = "PC_",
                    seed.use = seed, verbose = FALSE)
      reductions <- c(reductions, "pca")
      dims[[length(dims) + 1]] <- seq_len(n)
    } else if (kind == "adt") {
      VariableFeatures(obj) <- rownames(obj[[assay]])
      obj <- NormalizeData(obj, normalization.method = "CLR", margin = 2, verbose = FALSE)
      obj <- ScaleData(obj, verbose = FALSE)
      obj <- RunPCA(obj, npcs = n, reduction.name = "apca", reduction.key = "APC_",
                    seed.use = seed, verbose = FALSE)
      reductions <- c(reductions, "apca")
      dims[[length(dims) + 1]] <- seq_len(n)
    } else if (kind == "atac") {
      peaks <- GetAssayData(obj, assay = assay, slot = "counts")
      tf <- peaks %*% Matrix::Diagonal(x = 1 / pmax(Matrix::colSums(peaks), 1))
      idf <- ncol(peaks) / pmax(Matrix::rowSums(peaks), 1)
      tfidf <- Matrix::Diagonal(x = idf) %*% tf
      tfidf@x <- log1p(tfidf@x * 1e4)
      svd <- irlba::irlba(Matrix::t(tfidf), nv = n)
      embeddings <- scale(svd$u)
      embeddings[!is.finite(embeddings)] <- 0
      dimnames(embeddings) <- list(colnames(peaks), paste0("LSI_", seq_len(n)))
      obj[["lsi"]] <- CreateDimReducObject(embeddings = embeddings, key = "LSI_",
                                           assay = assay)
      reductions <- c(reductions, "lsi")
      dims[[length(dims) + 1]] <- 2:n
    } else {
      stop(paste("unknown modality kind", kind))
    }
  }
  obj <- FindMultiModalNeighbors(obj, reduction.list = as.list(reductions),
                                 dims.list = dims, k.nn = k_nn, verbose = FALSE)
  graph <- as(obj[["wsnn"]], "dgCMatrix")
  weight_columns <- paste0(assays, ".weight")
  list(
    i = graph@i, p = graph@p, x = graph@x, dim = dim(graph),
    graph_cells = colnames(graph), cells = colnames(obj),
    weights = as.matrix(obj@meta.data[, weight_columns, drop = FALSE]),
    seurat_version = as.character(packageVersion("Seurat")),
    seuratobject_version = as.character(packageVersion("SeuratObject"))
  )
}
"""

_R_CALL_PIPELINE = r"""
function(env) with(env, pipeline(counts, kinds, n_dims, n_hvg, k_nn, seed))
"""

_R_SPARSE_MATRIX = r"""
function(i, p, x, n_features, n_spots, features, spots) {
  Matrix::sparseMatrix(i = as.vector(i), p = as.vector(p), x = as.vector(x),
                       dims = c(n_features, n_spots), index1 = FALSE,
                       dimnames = list(features, spots))
}
"""


@dataclass
class ModalityCounts:
    """Raw counts of one modality as Seurat will see them.

    counts: (n_spots, n_features) sparse counts; feature_names: n_features names;
    kind: 'rna' | 'adt' | 'atac'.
    """

    name: str
    kind: str
    counts: sp.spmatrix
    feature_names: list[str]


@dataclass
class WnnOutput:
    """What the R side returns, in the input spot order.

    wsnn: (n_spots, n_spots) CSR graph; weights: (n_spots, n_modalities), rows sum to 1.
    """

    wsnn: sp.csr_matrix
    weights: np.ndarray
    seurat_version: str
    seuratobject_version: str


def seurat_feature_names(names: list[str]) -> list[str]:
    """Feature names Seurat accepts unchanged: '_' becomes '-', empties get a name, all unique.

    Seurat silently rewrites underscores (and warns); doing it here keeps our names and
    Seurat's in step. Duplicates get '.1', '.2', ... like R's make.unique.
    """
    seen: dict[str, int] = {}
    out: list[str] = []
    for i, raw in enumerate(names):
        name = str(raw).replace("_", "-").replace("|", "-") or f"feature-{i}"
        base = name
        while name in seen:
            seen[base] += 1
            name = f"{base}.{seen[base]}"
        seen.setdefault(name, 0)
        out.append(name)
    return out


def preload() -> None:
    """Start R and load Seurat in a workflow batch's process, before it forks a process per
    run, so that no run pays it (:func:`fastspami.benchmark.jobs.preload_methods`)."""
    require_seurat()


def require_seurat() -> None:
    """Raise MethodUnavailableError naming what to install unless rpy2, R and Seurat work."""
    from fastspami._utils.rbridge import r_objects, require_r_package

    r_objects()  # a missing rpy2 or R raises here, before anything imports rpy2 below
    with r_console_to_logger():  # loading Seurat prints notes (reticulate, SeuratObject)
        require_r_package("Seurat", debian="r-cran-seurat", conda="r-seurat")


@contextlib.contextmanager
def r_console_to_logger(logger: logging.Logger = log) -> Iterator[None]:
    """Route R's console output (print, message, warning) to ``logger`` while inside."""
    from rpy2.rinterface_lib import callbacks

    saved = (callbacks.consolewrite_print, callbacks.consolewrite_warnerror)

    def _info(text: str) -> None:
        if text.strip():
            logger.info("R: %s", text.rstrip())

    def _warning(text: str) -> None:
        if text.strip():
            logger.warning("R: %s", text.rstrip())

    callbacks.consolewrite_print = _info
    callbacks.consolewrite_warnerror = _warning
    try:
        yield
    finally:
        callbacks.consolewrite_print, callbacks.consolewrite_warnerror = saved


def _to_dgcmatrix(robjects: Any, modality: ModalityCounts, spots: list[str]) -> Any:
    """(n_spots, n_features) sparse counts -> R dgCMatrix (n_features, n_spots)."""
    from rpy2.robjects import numpy2ri
    from rpy2.robjects.conversion import localconverter

    # CSR rows of (spots x features) are exactly CSC columns of (features x spots).
    csr = sp.csr_matrix(modality.counts, dtype=np.float64)
    csr.sum_duplicates()
    csr.sort_indices()
    n_spots, n_features = csr.shape
    build = robjects.r(_R_SPARSE_MATRIX)
    with localconverter(robjects.default_converter + numpy2ri.converter):
        return build(
            csr.indices.astype(np.int32),
            csr.indptr.astype(np.int32),
            csr.data,
            n_features,
            n_spots,
            robjects.StrVector(seurat_feature_names(modality.feature_names)),
            robjects.StrVector(spots),
        )


def _dims_for(modality: ModalityCounts, n_spots: int, requested: int, n_hvg: int) -> int:
    """Number of PCA/LSI components Seurat can compute for this modality."""
    n_features = modality.counts.shape[1]
    if modality.kind == "rna":
        n_features = min(n_features, n_hvg)
    limit = min(n_features, n_spots) - 1
    n = min(requested, limit)
    minimum = 3 if modality.kind == "atac" else 2
    if n < minimum:
        raise InputDataError(
            f"Modality {modality.name!r} has {n_features} features and {n_spots} spots: too "
            f"few for a {minimum}-component reduction in Seurat WNN. Use more features or spots."
        )
    return n


def default_rna_dims(kinds: list[str], rna_dims: int | None = None) -> int:
    """RNA PCs for the neighbour search: ``rna_dims`` when given, else the vignettes':
    50 beside chromatin accessibility (multiome), 30 otherwise (CITE-seq)."""
    if rna_dims is not None:
        return int(rna_dims)
    return 50 if "atac" in kinds else 30


def run_seurat_wnn(
    modalities: list[ModalityCounts],
    *,
    seed: int = 0,
    rna_dims: int | None = None,
    adt_dims: int = 18,
    atac_dims: int = 50,
    n_hvg: int = 2000,
    k_nn: int = 20,
) -> WnnOutput:
    """Run Seurat's WNN on raw counts of 2 or 3 modalities measured on the same spots.

    Each modality's counts are (n_spots, n_features) with the same spot order. Returns
    the ``wsnn`` graph and per-spot modality weights, in the input order.
    """
    require_seurat()
    from fastspami._utils.rbridge import r_objects

    robjects = r_objects()
    if len(modalities) < 2:
        raise InputDataError(
            f"Seurat WNN needs at least 2 modalities, got {[m.name for m in modalities]}."
        )
    kinds = [m.kind for m in modalities]
    if len(set(kinds)) != len(kinds):
        raise InputDataError(
            f"Seurat WNN here takes one modality per kind (rna, adt, atac); got kinds {kinds}. "
            "Drop or merge the duplicated modality."
        )
    n_spots = modalities[0].counts.shape[0]
    if any(m.counts.shape[0] != n_spots for m in modalities):
        raise InputDataError("All modalities must have the same spots in the same order.")
    requested = {"rna": default_rna_dims(kinds, rna_dims), "adt": adt_dims, "atac": atac_dims}
    spots = [f"spot-{i}" for i in range(n_spots)]
    with r_console_to_logger():
        counts = robjects.ListVector(
            {ASSAY_BY_KIND[m.kind]: _to_dgcmatrix(robjects, m, spots) for m in modalities}
        )
        kinds_r = robjects.ListVector({ASSAY_BY_KIND[m.kind]: m.kind for m in modalities})
        dims_r = robjects.ListVector(
            {
                ASSAY_BY_KIND[m.kind]: _dims_for(m, n_spots, requested[m.kind], n_hvg)
                for m in modalities
            }
        )
        # Arguments travel in an environment and are passed by name: an R call with large
        # objects inlined is deparsed by every warning and by Seurat's command log (slow).
        arguments = robjects.r["new.env"]()
        arguments["counts"] = counts
        arguments["kinds"] = kinds_r
        arguments["n_dims"] = dims_r
        arguments["n_hvg"] = int(n_hvg)
        arguments["k_nn"] = int(min(k_nn, n_spots - 1))
        arguments["seed"] = int(seed)
        arguments["pipeline"] = robjects.r(_R_WNN_PIPELINE)
        result = robjects.r(_R_CALL_PIPELINE)(arguments)
    return _read_wnn_output(result, spots)


def _read_wnn_output(result: Any, spots: list[str]) -> WnnOutput:
    """Convert the R list into SciPy/NumPy, reordering spots to the input order."""
    i = np.asarray(result.rx2("i"), dtype=np.int64)
    p = np.asarray(result.rx2("p"), dtype=np.int64)
    x = np.asarray(result.rx2("x"), dtype=np.float64)
    shape = tuple(int(v) for v in np.asarray(result.rx2("dim")))
    graph = sp.csc_matrix((x, i, p), shape=shape)
    position = {s: k for k, s in enumerate(spots)}
    graph_order = np.array([position[s] for s in result.rx2("graph_cells")])
    # Row/column r of the R graph is spot graph_order[r]; invert to input order.
    inverse = np.argsort(graph_order)
    wsnn = graph.tocsr()[inverse][:, inverse].tocsr()
    weights = np.asarray(result.rx2("weights"), dtype=np.float64)
    cell_order = np.array([position[s] for s in result.rx2("cells")])
    weights = weights[np.argsort(cell_order)]
    return WnnOutput(
        wsnn=wsnn,
        weights=weights,
        seurat_version=str(result.rx2("seurat_version")[0]),
        seuratobject_version=str(result.rx2("seuratobject_version")[0]),
    )


def spectral_embedding_of_graph(graph: sp.spmatrix, n_components: int, seed: int) -> np.ndarray:
    """(n, n_components) spectral embedding of a weighted graph (symmetrized first), the
    trivial eigenvector dropped: :func:`fastspami.clustering.algorithms.spectral_features` less its first
    column.

    Seurat prunes weak SNN edges, so well separated domains can fall into separate
    components; each then gets its own indicator-like eigenvector.
    """
    n_parts, _ = connected_components(graph, directed=False)
    if n_parts > 1:
        log.info("The wsnn graph has %d connected components.", n_parts)
    n_components = int(min(n_components, graph.shape[0] - 2))
    return spectral_features(graph, n_components + 1, seed)[:, 1:]


def modality_counts(
    mdata: Any, modalities: list[str] | None = None, kinds: dict[str, str] | None = None
) -> list[ModalityCounts]:
    """Raw sparse counts of each modality of ``mdata`` (all of them unless named).

    Kinds come from ``kinds``, else ``mdata.uns['modality_kinds']``, else the names.
    """
    from fastspami.data.contract import counts_matrix
    from fastspami.pp.preprocess import resolve_kinds

    resolved = resolve_kinds(mdata, kinds)
    names = list(mdata.mod) if modalities is None else list(modalities)
    out = []
    for name in names:
        adata = mdata.mod[name]
        counts = counts_matrix(adata)
        out.append(
            ModalityCounts(
                name=name,
                kind=resolved[name],
                counts=sp.csr_matrix(counts),
                feature_names=[str(v) for v in adata.var_names],
            )
        )
    return out


def integrate(
    mdata: Any,
    *,
    seed: int = 0,
    threads: int = 1,
    device: str = "cpu",
    modalities: list[str] | None = None,
    kinds: dict[str, str] | None = None,
    rna_dims: int | None = None,
    adt_dims: int = 18,
    atac_dims: int = 50,
    n_hvg: int = 2000,
    k_nn: int = 20,
    n_spectral: int = 20,
) -> IntegrationResult:
    """Seurat WNN on ``mdata``'s raw counts; see the module docstring for what comes back.

    Returns an IntegrationResult with ``embedding`` (n_spots, n_spectral), the ``wsnn``
    graph as ``connectivities`` and the modality weights (n_spots, M) as ``attention``.
    ``threads`` and ``device`` are accepted for the common interface; Seurat runs
    single-threaded on the CPU here.
    """
    counts = modality_counts(mdata, modalities, kinds)
    wnn = run_seurat_wnn(
        counts,
        seed=seed,
        rna_dims=rna_dims,
        adt_dims=adt_dims,
        atac_dims=atac_dims,
        n_hvg=n_hvg,
        k_nn=k_nn,
    )
    embedding = spectral_embedding_of_graph(wnn.wsnn, n_spectral, seed)
    return IntegrationResult(
        method=METHOD_NAME,
        embedding=embedding.astype(np.float32),
        attention=wnn.weights.astype(np.float32),
        attention_modalities=[m.name for m in counts],
        connectivities=wnn.wsnn,
        uns={
            "seurat_version": wnn.seurat_version,
            "seuratobject_version": wnn.seuratobject_version,
            "embedding": f"spectral embedding of the symmetrized wsnn graph ({embedding.shape[1]} dims)",
            "connectivities": "Seurat FindMultiModalNeighbors wsnn graph",
            "atac_lsi": "computed in R (Signac-style TF-IDF + irlba SVD, first component dropped)",
            "modalities": {m.name: m.kind for m in counts},
            "params": {
                "seed": seed,
                "rna_dims": default_rna_dims([m.kind for m in counts], rna_dims),
                "adt_dims": adt_dims,
                "atac_dims": atac_dims,
                "n_hvg": n_hvg,
                "k_nn": k_nn,
                "n_spectral": n_spectral,
            },
        },
    )
