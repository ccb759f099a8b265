"""Count sampling of the simulator, chunk by chunk into CSR: (zero-inflated) NB or Poisson
counts, then Gaussian noise, rounded and clipped at zero.

Expected counts come as one rate per (group of spots, feature), where a group is every spot
that shares all factor values, so nothing N x J is computed beyond the draws themselves. An
entry is non-zero with probability (1 - zero_inflation) * P(count > 0) and then takes a
zero-truncated draw: the same distribution as drawing the count and then zeroing it with
probability zero_inflation, at O(nnz) memory when the zeros stay zeros (noise only on the
detected entries), which is what lets 10^6 spots fit in a few GB.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

CHUNK_SPOTS = 2048  # fixed, so the draws do not depend on the machine
NOISE_TARGETS = ("all", "detected")


def zero_probability(rate: np.ndarray, distribution: str, dispersion: float) -> np.ndarray:
    """P(count = 0) of Poisson(rate) or NB(mean rate, shape dispersion), elementwise."""
    if distribution == "poisson":
        return np.exp(-rate)
    return (dispersion / (dispersion + rate)) ** dispersion


# ---------------------------------------------------------------- sampling


def _base_draw(
    rng: np.random.Generator, rate: np.ndarray, distribution: str, dispersion: float
) -> np.ndarray:
    if distribution == "poisson":
        return rng.poisson(rate)
    return rng.poisson(rng.standard_gamma(dispersion, rate.shape) * (rate / dispersion))


def _truncated_by_search(
    rng: np.random.Generator,
    rate: np.ndarray,
    p0: np.ndarray,
    distribution: str,
    dispersion: float,
) -> np.ndarray:
    """Zero-truncated draws by inverting the CDF, k = 1, 2, ...: cheap for small rates."""
    target = rng.random(rate.shape) * (1.0 - p0)
    if distribution == "poisson":
        ratio = rate  # pmf(k+1) / pmf(k) = rate / (k + 1)
        pmf = rate * p0
    else:
        ratio = rate / (dispersion + rate)  # pmf(k+1) / pmf(k) = ratio (k + size) / (k + 1)
        pmf = dispersion * ratio * p0
    value = np.ones(rate.shape, dtype=np.int64)
    cumulative = pmf.copy()
    active = np.flatnonzero(target > cumulative)
    for k in range(1, 100_000):
        if active.size == 0:
            break
        shape_term = 1.0 if distribution == "poisson" else k + dispersion
        pmf[active] *= ratio[active] * shape_term / (k + 1)
        cumulative[active] += pmf[active]
        value[active] += 1
        # a target lost to rounding in the far tail stops once the pmf underflows
        active = active[(target[active] > cumulative[active]) & (pmf[active] > 0)]
    return value


def _truncated_by_rejection(
    rng: np.random.Generator, rate: np.ndarray, distribution: str, dispersion: float
) -> np.ndarray:
    """Zero-truncated draws by redrawing zeros: cheap when zeros are rare (large rates)."""
    value = _base_draw(rng, rate, distribution, dispersion)
    redo = np.flatnonzero(value == 0)
    while redo.size:
        value[redo] = _base_draw(rng, rate[redo], distribution, dispersion)
        redo = redo[value[redo] == 0]
    return value


def zero_truncated(
    rng: np.random.Generator,
    rate: np.ndarray,
    distribution: str,
    dispersion: float,
    p0: np.ndarray | None = None,
) -> np.ndarray:
    """Draws of NB(mean rate, size dispersion) or Poisson(rate) conditioned on > 0: (n,) int.

    ``p0`` (n,), each draw's probability of a zero, is computed from ``rate`` when not given.
    Small rates (p0 > 0.25) invert the CDF, larger ones redraw zeros.
    """
    rate = np.asarray(rate, dtype=np.float64)
    if p0 is None:
        p0 = zero_probability(rate, distribution, dispersion)
    value = np.empty(rate.shape, dtype=np.int64)
    small = p0 > 0.25
    value[small] = _truncated_by_search(rng, rate[small], p0[small], distribution, dispersion)
    value[~small] = _truncated_by_rejection(rng, rate[~small], distribution, dispersion)
    return value


def sample_counts(
    count_rng: np.random.Generator,
    noise_rng: np.random.Generator,
    rates: np.ndarray,
    group: np.ndarray,
    *,
    distribution: str,
    dispersion: float,
    zero_inflation: float,
    noise_mean: float,
    noise_sd: float,
    noise_on: str = "detected",
) -> sp.csr_matrix:
    """Noisy (zero-inflated) NB or Poisson counts: CSR (N x J) float32 of non-negative integers.

    ``rates`` (G x J) are the expected counts of each group of spots, ``group`` (N,) the
    group of each spot. An entry is non-zero with probability (1 - zero_inflation) *
    P(count > 0) and then takes a zero-truncated count. N(noise_mean, noise_sd^2) noise is
    added to the non-zero counts only (``noise_on="detected"``: zeros stay zeros, memory
    O(nnz)) or to every entry (``"all"``: nearly dense); values are rounded and clipped at
    zero. Both modes draw the same counts for the same generator.
    """
    p0 = zero_probability(rates, distribution, dispersion)
    detect = ((1.0 - zero_inflation) * (1.0 - p0)).astype(np.float32)
    n_spots, n_features = group.size, rates.shape[1]
    if noise_on == "all":
        capacity = n_spots * n_features
    else:
        capacity = int(np.bincount(group, minlength=rates.shape[0]) @ detect.sum(axis=1) * 1.02)
    builder = _CsrBuilder(n_spots, n_features, capacity + 1024)
    for start in range(0, n_spots, CHUNK_SPOTS):
        chunk_group = group[start : start + CHUNK_SPOTS]
        uniform = count_rng.random((chunk_group.size, n_features), dtype=np.float32)
        rows, cols = np.nonzero(uniform < detect[chunk_group])
        del uniform
        entry_group = chunk_group[rows]
        counts = zero_truncated(
            count_rng, rates[entry_group, cols], distribution, dispersion, p0=p0[entry_group, cols]
        )
        if noise_on == "all":
            noisy = noise_rng.standard_normal((chunk_group.size, n_features), dtype=np.float32)
            noisy *= np.float32(noise_sd)
            noisy += np.float32(noise_mean)
            noisy[rows, cols] += counts
            np.maximum(np.rint(noisy, out=noisy), 0.0, out=noisy)
            # store the whole (nearly dense) chunk; explicit zeros are dropped at the end
            cols = np.tile(np.arange(n_features), chunk_group.size)
            builder.append(noisy.ravel(), cols, np.full(chunk_group.size, n_features))
            continue
        noisy = counts + noise_mean + noise_sd * noise_rng.standard_normal(counts.size)
        values = np.rint(noisy).astype(np.float32)
        rows, cols, values = rows[values > 0], cols[values > 0], values[values > 0]
        builder.append(values, cols, np.bincount(rows, minlength=chunk_group.size))
    matrix = builder.matrix()
    matrix.eliminate_zeros()
    return matrix


class _CsrBuilder:
    """A CSR matrix filled chunk of rows by chunk of rows into preallocated arrays."""

    def __init__(self, n_rows: int, n_cols: int, capacity: int) -> None:
        index_type = np.int32 if max(capacity, n_cols) < np.iinfo(np.int32).max else np.int64
        self.shape = (n_rows, n_cols)
        self.data = np.empty(capacity, dtype=np.float32)
        self.indices = np.empty(capacity, dtype=index_type)
        self.indptr = np.zeros(n_rows + 1, dtype=index_type)
        self.nnz = 0
        self.rows_done = 0

    def _grow(self, needed: int) -> None:
        size = max(needed, int(self.data.size * 1.5))
        self.data = np.concatenate([self.data[: self.nnz], np.empty(size - self.nnz, np.float32)])
        self.indices = np.concatenate(
            [self.indices[: self.nnz], np.empty(size - self.nnz, self.indices.dtype)]
        )
        if size >= np.iinfo(self.indptr.dtype).max:
            self.indices, self.indptr = self.indices.astype(np.int64), self.indptr.astype(np.int64)

    def append(self, values: np.ndarray, cols: np.ndarray, row_counts: np.ndarray) -> None:
        """Add the next len(row_counts) rows: values and cols (nnz,) in row-major order."""
        end = self.nnz + values.size
        if end > self.data.size:
            self._grow(end)
        self.data[self.nnz : end] = values
        self.indices[self.nnz : end] = cols
        first = self.rows_done + 1
        self.indptr[first : first + row_counts.size] = self.nnz + np.cumsum(row_counts)
        self.rows_done += row_counts.size
        self.nnz = end

    def matrix(self) -> sp.csr_matrix:
        return sp.csr_matrix(
            (self.data[: self.nnz], self.indices[: self.nnz], self.indptr), shape=self.shape
        )
