"""Sparse graph operators: the constant (N, N) matrices of one training run, applied to
dense (N, d) tensors on the CPU (SciPy CSR kernels) or CUDA (torch sparse CSR)."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from fastspami._kernels.csr import RowBlockedCSR
from fastspami._kernels.propagate import PropagateBias, fused_propagation_available
from fastspami.pp.graph import gcn_normalize, local_context_operator, spatial_knn_graph, symmetrize


class _TorchSparseMatmul(torch.autograd.Function):
    """y = A x with A a constant torch sparse matrix; the backward pass uses Aᵀ."""

    @staticmethod
    def forward(ctx, matrix, matrix_t, x):  # noqa: D102
        ctx.matrix_t = matrix_t
        return torch.sparse.mm(matrix, x)

    @staticmethod
    def backward(ctx, grad):  # noqa: D102
        return None, None, torch.sparse.mm(ctx.matrix_t, grad)


class _ScipySparseMatmul(torch.autograd.Function):
    """y = A x on the CPU through SciPy's CSR kernel (several times faster than torch's
    CPU sparse kernels at these shapes), row blocks on torch's threads; the backward pass
    uses Aᵀ."""

    @staticmethod
    def forward(ctx, x, matrix, matrix_t):  # noqa: D102
        ctx.matrix_t = matrix_t
        threads = torch.get_num_threads()
        return torch.from_numpy(matrix.matmul(x.detach().contiguous().numpy(), threads))

    @staticmethod
    def backward(ctx, grad):  # noqa: D102
        threads = torch.get_num_threads()
        product = ctx.matrix_t.matmul(grad.contiguous().numpy(), threads)
        return torch.from_numpy(product), None, None


def sparse_backend(device: torch.device) -> str:
    """Which kernel runs the sparse products on ``device``: 'scipy' on the CPU, 'torch'
    (a torch sparse CSR tensor) on CUDA, or anywhere with ``SPAMI_SPARSE=torch`` in the
    environment (CUDA's path, run on the CPU: how the tests check it without a GPU)."""
    if device.type == "cpu" and os.environ.get("SPAMI_SPARSE", "").lower() != "torch":
        return "scipy"
    return "torch"


class SparseOperator:
    """A constant sparse (N, N) matrix usable as ``op(x)`` on dense (N, d) tensors.

    On the CPU the product runs in SciPy (CSR, float32); on CUDA it is a torch sparse CSR
    tensor (:func:`sparse_backend`). The transpose is kept for the backward pass (shared
    when the matrix is symmetric). Memory is O(nnz): nothing N x N is stored.
    """

    def __init__(
        self, matrix: sp.spmatrix, device: torch.device | str = "cpu", symmetric: bool = False
    ):
        csr = sp.csr_matrix(matrix, dtype=np.float32)
        csr.sort_indices()
        csr_t = csr if symmetric else csr.T.tocsr()
        self.shape = csr.shape
        self.nnz = csr.nnz
        self.device = torch.device(device)
        self.backend = sparse_backend(self.device)
        if self.backend == "scipy":
            self.matrix = RowBlockedCSR(csr)
            self.matrix_t = self.matrix if symmetric else RowBlockedCSR(csr_t)
        else:
            self.matrix = _to_torch_csr(csr, self.device)
            self.matrix_t = self.matrix if symmetric else _to_torch_csr(csr_t, self.device)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.backend == "scipy":
            return _ScipySparseMatmul.apply(x, self.matrix, self.matrix_t)
        return _TorchSparseMatmul.apply(self.matrix, self.matrix_t, x)

    def add_bias(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """``op(x) + bias`` for a bias (d,): on the CPU in one pass forward and one backward
        (:class:`fastspami._kernels.propagate.PropagateBias`: the bias's gradient summed
        in the backward product's pass), else the product, then the bias in place."""
        if (
            self.backend == "scipy"
            and x.dtype == torch.float32
            and bias.dtype == torch.float32
            and fused_propagation_available()
        ):
            return PropagateBias.apply(x, bias, self.matrix.matrix, self.matrix_t.matrix)
        return self(x).add_(bias)


def _to_torch_csr(csr: sp.csr_matrix, device: torch.device) -> torch.Tensor:
    with warnings.catch_warnings():  # torch's "sparse CSR support is in beta", every time
        warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            torch.from_numpy(csr.indptr.astype(np.int64)),
            torch.from_numpy(csr.indices.astype(np.int64)),
            torch.from_numpy(csr.data.astype(np.float32)),
            size=csr.shape,
            device=device,
            check_invariants=False,
        )


@dataclass
class GraphOperators:
    """The two sparse operators one training run needs, built once.

    gcn: D^-1/2 (A + I) D^-1/2 of the symmetrized kNN graph; context: row-normalized
    (A_knn + I). ``matrices`` keeps the SciPy forms so tiles can take sub-blocks.
    """

    gcn: SparseOperator
    context: SparseOperator
    matrices: tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]

    @classmethod
    def from_coordinates(cls, coords: np.ndarray, k: int, device: torch.device) -> GraphOperators:
        """Build the kNN graph of (N, 2) coordinates and both operators."""
        knn = spatial_knn_graph(coords, k)
        adjacency = symmetrize(knn)
        return cls.from_matrices(
            gcn_normalize(adjacency), local_context_operator(knn), adjacency, device
        )

    @classmethod
    def from_matrices(
        cls,
        gcn: sp.csr_matrix,
        context: sp.csr_matrix,
        adjacency: sp.csr_matrix,
        device: torch.device,
    ) -> GraphOperators:
        """Wrap precomputed SciPy matrices."""
        return cls(
            gcn=SparseOperator(gcn, device, symmetric=True),
            context=SparseOperator(context, device),
            matrices=(gcn, context, adjacency),
        )

    def restrict(self, nodes: np.ndarray, device: torch.device) -> GraphOperators:
        """The operators' (nodes, nodes) sub-blocks, keeping the global normalization."""
        gcn, context, adjacency = (m[nodes][:, nodes].tocsr() for m in self.matrices)
        return GraphOperators.from_matrices(gcn, context, adjacency, device)
