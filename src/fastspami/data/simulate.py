"""Simulated spatial multi-omics data with known spatial domains.

The recipe behind the paper's simulations (SpatialGlue's supplement, built on the
generator of nonnegative spatial factorization, NSF: Townes & Engelhardt, Nat Methods
2023). Per modality, the expected counts of N spots x J features are

    Lambda = b + F (e s W)^T + U (e c V)^T

- F (N x L): binary spatial factors; four block shapes on a 6 x 6 pattern upscaled to
  the grid (``BLOCK_PATTERN``: five domains with the background), or, for the
  complementary scenarios, two partitions of other shapes (bands, an ellipse).
- U (N x K): binary non-spatial factors, Bernoulli(``nonspatial_p`` = 0.2, NSF's value),
  K = ``n_nonspatial`` = 3. They describe the spot's cells, so every modality shares U
  (each through its own loadings V). Neighbours draw U independently, so spatial
  smoothing averages them out while non-spatial methods mistake them for domains.
- b (J,): per-feature baseline, ``background`` (0.2, NSF's) times a Gamma(2, 1/2) draw.
- W (J x L), V (J x K): loadings of mean 1 (Gamma(2, 1/2) where non-zero). Each feature
  is spatial (40 %), non-spatial (40 %) or mixed (20 %), after NSF's mix of spatial,
  non-spatial and mixed features; a spatial feature loads one home factor plus each other
  spatial factor with probability 0.1, a non-spatial one one home non-spatial factor, a
  mixed one both. (Fractions and the 0.1 are this module's choices.)
- e = ``expression`` (3), s = ``signal`` (1; weakens the domains only), c =
  ``nonspatial_scale`` (0.5): the two calibrated values, see below.

Counts: RNA zero-inflated negative binomial (``zero_inflation`` 0.5, NB size
``dispersion`` 10, NSF's shape), protein negative binomial, ATAC zero-inflated Poisson;
then Gaussian noise N(``noise_mean`` 2, ``noise_sd``^2), rounded and clipped at zero.
``noise_on="auto"`` adds the noise to every RNA and protein entry (the recipe) but only
to the non-zero ATAC entries: ATAC is binarized before LSI, and a mean-2 noise on its
zeros would make every peak open and leave ATAC no signal at all. What the noise does:

- RNA and protein: every entry becomes round(count + N(noise_mean, sd^2)), clipped at 0.
  So even noise_sd 0 is not the raw counts: every entry gets +2 (zeros become 2 and the
  matrices dense), an offset that stays in the data and shrinks the ratios between
  counts. With sd > 0 every entry also gets independent Gaussian scatter.
- ATAC: a detected peak stays open unless count + noise rounds to 0 or below, and a
  closed peak never opens, so for the binarized data the noise is extra dropout
  (measured on ``rna_atac``, 20 x 20 grid, seed 0: of the 119,976 open (spot, peak)
  entries at sd 0, none lost at sd 0.5, 0.3 % at sd 1, 6.7 % at sd 2, 20 % at sd 4).
  At sd 0 the open entries are exactly the zero-inflated Poisson's non-zero draws
  (their counts + 2).

``noise_on="detected"`` adds the noise to the detected entries of every modality (zeros
stay zeros), which keeps every modality sparse (for 10^6 spots).

Calibration (measured with single-modality PCA + Leiden, never with an integration
method). With NSF's expression 20 and the non-spatial factors as strong as the spatial
ones, noise_sd up to 5 changes nothing (counts of ~20 swamp it) and the non-spatial
factors dominate every non-spatial clustering (ARI 0.1-0.4 at every noise level), so the
noise sweep would be flat. ``expression`` 3 makes the noise levels of a sweep (0.5-5)
matter, and ``nonspatial_scale`` 0.5 makes the non-spatial factors the weaker source of
variation (half the loadings). Measured (``rna_adt``, 36 x 36 grid, seed 0, Leiden at 5
clusters) the ARI is not monotone in the noise: RNA 0.50 / 0.58 / 0.99 / 0.85 / 0.29,
protein 0.55 / 0.76 / 0.99 / 0.93 / 0.33 at noise_sd 0 / 0.5 / 1 / 2 / 4. At low noise
the spots form tight clumps, one per combination of domain and U (5 x 8): a spot's 15
nearest neighbours in RNA's PCA share both with it 81 % of the time at noise_sd 0. Held
to 5 clusters, a clustering then splits the large background by U and merges small
domains. Noise blurs the weaker U clumps first (52 % at noise_sd 1, while 89 % of the
neighbours still share the domain), leaving the domains as the main structure near
noise_sd 1; more noise blurs the domains too. With ``nonspatial_scale=0`` every curve
falls with noise (RNA 1.00 / 1.00 / 0.99 / 0.92 / 0.29; concatenated PCA + k-means 1.00
up to noise_sd 1).

Scaling: rates take one value per (feature, group of spots sharing all factor values),
so nothing N x N and nothing transcendental per entry is computed; spots are sampled in
chunks straight into CSR matrices. Each part draws from its own random stream, so the
RNA of ``rna_adt`` and ``rna_atac`` is the same for one seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from fastspami.errors import ConfigError

if TYPE_CHECKING:  # imported at call time: mudata is only needed to build the result
    import mudata

SCENARIOS = (
    "rna_adt",
    "rna_atac",
    "rna_adt_atac",
    "complementary_rna_adt",
    "complementary_rna_atac",
)

# Rows are y (grid rows), columns x. 0 = background; 1: a 2 x 2 square (4 cells),
# 2: a plus (5 cells), 3: an L (6 cells), 4: a three-cell corner (3 cells); 18 cells of
# background. Five domains of different sizes, in the spirit of NSF's "ggblocks".
BLOCK_PATTERN = np.array(
    [
        [1, 1, 0, 0, 2, 0],
        [1, 1, 0, 2, 2, 2],
        [0, 0, 0, 0, 2, 0],
        [3, 0, 0, 0, 0, 0],
        [3, 0, 0, 0, 4, 4],
        [3, 3, 3, 3, 0, 4],
    ],
    dtype=np.int64,
)

MIN_GRID_SIZE = BLOCK_PATTERN.shape[0]
MAX_NONSPATIAL = 10  # groups of spots grow as 2**K; 10 keeps the rate tables small
EXPRESSION = 3.0  # mean loading; NSF used 20 (see the calibration note above)
NONSPATIAL_SCALE = 0.5
ROLE_PROBABILITIES = (0.4, 0.4, 0.2)  # spatial, non-spatial, mixed
EXTRA_FACTOR_PROBABILITY = 0.1
CHUNK_SPOTS = 2048  # fixed, so the draws do not depend on the machine
BAND_COUNT = 3  # partition A of the complementary scenarios
ROLE_NAMES = ("spatial", "nonspatial", "mixed")


@dataclass(frozen=True)
class _Modality:
    key: str
    prefix: str
    distribution: str  # "nb" or "poisson"
    zero_inflated: bool
    stream: int


_MODALITIES = {
    "rna": _Modality("rna", "gene", "nb", True, 1),
    "adt": _Modality("adt", "protein", "nb", False, 2),
    "atac": _Modality("atac", "peak", "poisson", True, 3),
}

_SCENARIO_MODALITIES = {
    "rna_adt": ("rna", "adt"),
    "rna_atac": ("rna", "atac"),
    "rna_adt_atac": ("rna", "adt", "atac"),
    "complementary_rna_adt": ("rna", "adt"),
    "complementary_rna_atac": ("rna", "atac"),
}


@dataclass
class _Design:
    """The spatial layout: factors (N x L, binary), which modality sees which factor."""

    factors: np.ndarray
    labels: np.ndarray  # (N,) int domain per spot
    main_factors: dict[str, np.ndarray]  # modality -> (L,) bool: factors it shows in full
    obs: dict[str, np.ndarray]  # extra per-spot columns (partitions)


# ---------------------------------------------------------------- the grid and its factors


def grid_coordinates(grid_size: int) -> np.ndarray:
    """Spot coordinates on a grid_size x grid_size grid, row-major: (N, 2), x = column, y = row."""
    rows, cols = np.divmod(np.arange(grid_size * grid_size), grid_size)
    return np.column_stack([cols, rows]).astype(np.float64)


def upscale_pattern(pattern: np.ndarray, grid_size: int) -> np.ndarray:
    """Nearest-neighbour upscaling of a square pattern (p x p) to (grid_size, grid_size).

    Grid row r reads pattern row floor(r * p / grid_size) (likewise columns), so a multiple
    of p repeats each cell exactly and other sizes map coordinates proportionally.
    """
    pattern = np.asarray(pattern)
    if pattern.ndim != 2 or pattern.shape[0] != pattern.shape[1]:
        raise ConfigError(f"The pattern must be a square 2-D array; got shape {pattern.shape}.")
    index = (np.arange(grid_size) * pattern.shape[0]) // grid_size
    return pattern[np.ix_(index, index)]


def spatial_factors(pattern: np.ndarray, grid_size: int) -> np.ndarray:
    """Binary spatial factors from a labelled pattern: (N, max label), one column per label >= 1.

    Spots are in row-major order (spot i sits at row i // grid_size, column i % grid_size).
    """
    labels = upscale_pattern(pattern, grid_size).ravel()
    return (labels[:, None] == np.arange(1, int(labels.max()) + 1)[None, :]).astype(np.float32)


def block_domains(grid_size: int) -> np.ndarray:
    """Domain per spot of the block scenarios: (N,) ints 0..4 (0 = background)."""
    return upscale_pattern(BLOCK_PATTERN, grid_size).ravel().astype(np.int64)


def _unit_coordinates(grid_size: int) -> tuple[np.ndarray, np.ndarray]:
    xy = (grid_coordinates(grid_size) + 0.5) / grid_size
    return xy[:, 0], xy[:, 1]


def band_partition(grid_size: int, n_bands: int = BAND_COUNT) -> np.ndarray:
    """Horizontal bands with sinusoidal borders: (N,) ints 0..n_bands-1, counted from the top.

    Border k sits at y = k / n_bands + 0.06 sin(2 pi (1.5 x + k / 4)) in unit coordinates;
    the amplitude is small enough that borders never cross.
    """
    x, y = _unit_coordinates(grid_size)
    label = np.zeros(x.shape, dtype=np.int64)
    for k in range(1, n_bands):
        border = k / n_bands + 0.06 * np.sin(2 * np.pi * (1.5 * x + k / 4))
        label += y > border
    return label


def ellipse_partition(grid_size: int) -> np.ndarray:
    """An inner ellipse (1) inside an outer region (0): (N,) ints; about 30 % of spots inside."""
    x, y = _unit_coordinates(grid_size)
    inside = ((x - 0.5) / 0.34) ** 2 + ((y - 0.52) / 0.28) ** 2 < 1.0
    return inside.astype(np.int64)


def _one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Indicator columns of classes 1..n_classes-1 (class 0 has no factor): (N, n_classes-1)."""
    return (labels[:, None] == np.arange(1, n_classes)[None, :]).astype(np.float32)


def _block_design(grid_size: int, modalities: tuple[str, ...]) -> _Design:
    factors = spatial_factors(BLOCK_PATTERN, grid_size)
    main = {key: np.ones(factors.shape[1], dtype=bool) for key in modalities}
    return _Design(factors, block_domains(grid_size), main, {})


def _complementary_design(grid_size: int, modalities: tuple[str, ...]) -> _Design:
    """Partition A (bands) shows mainly in RNA, partition B (ellipse) in the other modality.

    Domain = A * 2 + B, so 3 x 2 = 6 domains. The other partition leaks in (see simulate).
    """
    part_a, part_b = band_partition(grid_size), ellipse_partition(grid_size)
    n_b = 2
    factors = np.hstack([_one_hot(part_a, BAND_COUNT), _one_hot(part_b, n_b)])
    is_a = np.arange(factors.shape[1]) < BAND_COUNT - 1
    main = {key: (is_a if key == "rna" else ~is_a) for key in modalities}
    obs = {"partition_a": part_a, "partition_b": part_b}
    return _Design(factors, part_a * n_b + part_b, main, obs)


def nonspatial_factors(
    rng: np.random.Generator, n_spots: int, n_factors: int, p: float
) -> np.ndarray:
    """Binary non-spatial factors, independent Bernoulli(p) per spot: (N, n_factors)."""
    return (rng.random((n_spots, n_factors)) < p).astype(np.float32)


# ---------------------------------------------------------------- loadings and rates


def feature_loadings(
    rng: np.random.Generator, n_features: int, main_factors: np.ndarray, n_nonspatial: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Loadings W (J x L) on spatial and V (J x K) on non-spatial factors, and roles (J,).

    A feature's home spatial factor is one of ``main_factors`` (L,) bool; it also loads
    each spatial factor with probability EXTRA_FACTOR_PROBABILITY. Roles index
    ``ROLE_NAMES``. Magnitudes are Gamma(2, 1/2), mean 1 (the caller scales them). The
    draws do not depend on n_nonspatial being zero (non-spatial features then load nothing).
    """
    n_spatial = main_factors.size
    roles = rng.choice(3, size=n_features, p=ROLE_PROBABILITIES)
    home = rng.choice(np.flatnonzero(main_factors), size=n_features)
    extra = rng.random((n_features, n_spatial)) < EXTRA_FACTOR_PROBABILITY
    on_spatial = extra | (home[:, None] == np.arange(n_spatial)[None, :])
    on_spatial &= (roles != 1)[:, None]
    spatial = np.where(on_spatial, rng.gamma(2.0, 0.5, (n_features, n_spatial)), 0.0)
    home_ns = rng.integers(max(n_nonspatial, 1), size=n_features)
    on_ns = (home_ns[:, None] == np.arange(n_nonspatial)[None, :]) & (roles != 0)[:, None]
    nonspatial = np.where(on_ns, rng.gamma(2.0, 0.5, (n_features, n_nonspatial)), 0.0)
    return spatial, nonspatial, roles


def _spot_groups(factors: np.ndarray, nonspatial: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Groups of spots with identical factor values: (group per spot (N,), binary rows (G, L+K))."""
    bits = np.hstack([factors, nonspatial]) > 0
    codes = bits.astype(np.int64) @ (np.int64(1) << np.arange(bits.shape[1], dtype=np.int64))
    unique, group = np.unique(codes, return_inverse=True)
    rows = ((unique[:, None] >> np.arange(bits.shape[1])[None, :]) & 1).astype(np.float64)
    return group.ravel(), rows


def _zero_probability(rate: np.ndarray, distribution: str, dispersion: float) -> np.ndarray:
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
        p0 = _zero_probability(rate, distribution, dispersion)
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
    p0 = _zero_probability(rates, distribution, dispersion)
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


# ---------------------------------------------------------------- parameters


NOISE_TARGETS = ("auto", "all", "detected")


def _noise_target(noise_on: str, spec: _Modality) -> str:
    """'auto': every entry of RNA and ADT (the recipe); the detected entries of ATAC, which
    LSI binarizes, so that noise on its zeros would leave it no signal at all."""
    if noise_on != "auto":
        return noise_on
    return "detected" if spec.key == "atac" else "all"


def _check_parameters(params: dict[str, Any]) -> None:
    if params["scenario"] not in SCENARIOS:
        raise ConfigError(
            f"Unknown simulation scenario {params['scenario']!r}; use one of {', '.join(SCENARIOS)}."
        )
    if params["grid_size"] < MIN_GRID_SIZE:
        raise ConfigError(
            f"grid_size={params['grid_size']} is too small: the 6 x 6 pattern needs at least "
            f"{MIN_GRID_SIZE} spots per side; use grid_size >= {MIN_GRID_SIZE} (36 is the paper's)."
        )
    for name in ("n_rna", "n_adt", "n_atac"):
        if params[name] < 1:
            raise ConfigError(f"{name}={params[name]} must be a positive number of features.")
    if not 0 <= params["n_nonspatial"] <= MAX_NONSPATIAL:
        raise ConfigError(f"n_nonspatial={params['n_nonspatial']} must lie in 0..{MAX_NONSPATIAL}.")
    ranges = {
        "zero_inflation": (0.0, 1.0, "a probability in [0, 1)"),
        "nonspatial_p": (0.0, 1.0 + 1e-12, "a probability in [0, 1]"),
        "leak": (0.0, 1.0 + 1e-12, "a fraction in [0, 1]"),
    }
    for name, (low, high, what) in ranges.items():
        if not low <= params[name] < high:
            raise ConfigError(f"{name}={params[name]} must be {what}.")
    for name in ("dispersion",):
        if not params[name] > 0:
            raise ConfigError(f"{name}={params[name]} must be > 0 (the NB size; 10 is NSF's).")
    for name in ("background", "noise_sd", "signal", "expression", "nonspatial_scale"):
        if not params[name] >= 0:
            raise ConfigError(f"{name}={params[name]} must be >= 0.")
    if params["noise_on"] not in NOISE_TARGETS:
        raise ConfigError(
            f"noise_on={params['noise_on']!r} is unknown; use one of {', '.join(NOISE_TARGETS)}."
        )
    if not np.isfinite(params["noise_mean"]):
        raise ConfigError(f"noise_mean={params['noise_mean']} must be a finite number.")
    if params["seed"] < 0:
        raise ConfigError(f"seed={params['seed']} must be a non-negative integer.")


# ---------------------------------------------------------------- assembly


def _simulate_modality(
    spec: _Modality,
    params: dict[str, Any],
    design: _Design,
    group: np.ndarray,
    group_rows: np.ndarray,
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Counts (N x J CSR) and feature roles (J,) of one modality.

    ``group`` (N,) and ``group_rows`` (G x (L + K), the factor values of each group) come
    from ``_spot_groups``; the rates are computed once per group.
    """
    n_features = params[f"n_{spec.key}"]
    rng = np.random.default_rng([params["seed"], spec.stream])
    main = design.main_factors[spec.key]
    spatial_w, nonspatial_w, roles = feature_loadings(rng, n_features, main, params["n_nonspatial"])
    baseline = params["background"] * rng.gamma(2.0, 0.5, n_features)
    factor_scale = np.where(main, 1.0, params["leak"])  # the other partition leaks in
    spatial_w = spatial_w * (params["expression"] * params["signal"] * factor_scale)[None, :]
    nonspatial_w = nonspatial_w * (params["expression"] * params["nonspatial_scale"])
    loadings = np.hstack([spatial_w, nonspatial_w])  # (J, L + K)
    rates = baseline[None, :] + group_rows @ loadings.T  # (G, J)
    counts = sample_counts(
        np.random.default_rng([params["seed"], 10 + spec.stream]),
        np.random.default_rng([params["seed"], 20 + spec.stream]),
        rates,
        group,
        distribution=spec.distribution,
        dispersion=params["dispersion"],
        zero_inflation=params["zero_inflation"] if spec.zero_inflated else 0.0,
        noise_mean=params["noise_mean"],
        noise_sd=params["noise_sd"],
        noise_on=_noise_target(params["noise_on"], spec),
    )
    return counts, roles


def _modality_anndata(
    counts: sp.csr_matrix, obs: pd.DataFrame, coords: np.ndarray, prefix: str, roles: np.ndarray
) -> Any:
    """One modality's AnnData: counts in .X and layers['counts'] (separate copies)."""
    import anndata

    width = max(len(str(counts.shape[1] - 1)), 3 if prefix == "protein" else 4)
    var = pd.DataFrame(
        {"role": pd.Categorical(np.asarray(ROLE_NAMES)[roles], categories=ROLE_NAMES)},
        index=[f"{prefix}_{j:0{width}d}" for j in range(counts.shape[1])],
    )
    adata = anndata.AnnData(X=counts, obs=obs.copy(), var=var)
    adata.layers["counts"] = counts.copy()
    adata.obsm["spatial"] = coords.copy()
    return adata


def _labels_to_categorical(labels: np.ndarray) -> pd.Categorical:
    categories = [str(v) for v in range(int(labels.max()) + 1)]
    return pd.Categorical(labels.astype(str), categories=categories)


def simulate(
    scenario: str = "rna_adt",
    *,
    grid_size: int = 36,
    n_rna: int = 1000,
    n_adt: int = 100,
    n_atac: int = 2000,
    noise_mean: float = 2.0,
    noise_sd: float = 0.5,
    seed: int = 0,
    dispersion: float = 10.0,
    zero_inflation: float = 0.5,
    background: float = 0.2,
    n_nonspatial: int = 3,
    nonspatial_p: float = 0.2,
    signal: float = 1.0,
    leak: float = 0.1,
    expression: float = EXPRESSION,
    nonspatial_scale: float = NONSPATIAL_SCALE,
    noise_on: str = "auto",
    name: str | None = None,
    **unknown: Any,
) -> mudata.MuData:
    """Simulate one spatial multi-omics dataset; see the module docstring for the model.

    Returns a MuData with modalities 'rna' (n_rna genes, ZINB), 'adt' (n_adt proteins, NB)
    and/or 'atac' (n_atac peaks, ZIP) as the scenario has them, on grid_size**2 spots.
    Every modality has the same obs_names ('spot_00000', ...), raw counts in .X and
    layers['counts'] (CSR float32), obsm['spatial'] (x = column, y = row) and
    obs['ground_truth']; the MuData has obs['ground_truth'] (categorical '0'..), obsm
    'spatial', 'spatial_factors' (N x L) and 'nonspatial_factors' (N x K), and
    uns['dataset'] with the parameters. Complementary scenarios add obs 'partition_a'
    (3 sinusoidal bands: RNA's home factors) and 'partition_b' (inside an ellipse: the
    other modality's); their ground truth is partition_a * 2 + partition_b (6 domains).
    Each modality also shows the other partition, at ``leak`` (0.1) times the loading, in
    the ~10 % of features that load it as an extra factor.

    grid_size >= 6 (any size; not a multiple of 6 maps coordinates proportionally);
    noise_on: 'auto' | 'all' | 'detected' (see the module docstring); name: the dataset
    name (default from scenario, noise_sd and seed). Raises ConfigError for a parameter
    out of range or unknown.
    """
    if unknown:
        raise ConfigError(
            f"simulate() has no parameter(s) {', '.join(sorted(unknown))}; see "
            "help(fastspami.data.simulate.simulate) for the ones it takes."
        )
    params = dict(
        scenario=scenario, grid_size=int(grid_size), n_rna=int(n_rna), n_adt=int(n_adt),
        n_atac=int(n_atac), noise_mean=float(noise_mean), noise_sd=float(noise_sd),
        seed=int(seed), dispersion=float(dispersion), zero_inflation=float(zero_inflation),
        background=float(background), n_nonspatial=int(n_nonspatial),
        nonspatial_p=float(nonspatial_p), signal=float(signal), leak=float(leak),
        expression=float(expression), nonspatial_scale=float(nonspatial_scale),
        noise_on=str(noise_on),
    )  # fmt: skip
    _check_parameters(params)
    import mudata

    modalities = _SCENARIO_MODALITIES[scenario]
    if scenario.startswith("complementary"):
        design = _complementary_design(params["grid_size"], modalities)
    else:
        design = _block_design(params["grid_size"], modalities)
    n_spots = design.labels.size
    nonspatial = nonspatial_factors(
        np.random.default_rng([params["seed"], 0]),
        n_spots,
        params["n_nonspatial"],
        params["nonspatial_p"],
    )
    group, group_rows = _spot_groups(design.factors, nonspatial)

    width = max(5, len(str(n_spots - 1)))
    obs = pd.DataFrame(index=[f"spot_{i:0{width}d}" for i in range(n_spots)])
    obs["ground_truth"] = _labels_to_categorical(design.labels)
    for column, values in design.obs.items():
        obs[column] = _labels_to_categorical(values)
    coords = grid_coordinates(params["grid_size"])

    adatas = {}
    for key in modalities:
        counts, roles = _simulate_modality(_MODALITIES[key], params, design, group, group_rows)
        adatas[key] = _modality_anndata(counts, obs, coords, _MODALITIES[key].prefix, roles)

    with mudata.set_options(pull_on_update=False):  # keep modality columns out of mdata.obs
        mdata = mudata.MuData(adatas)
    for column in obs.columns:
        mdata.obs[column] = obs[column]
    mdata.obsm["spatial"] = coords
    mdata.obsm["spatial_factors"] = design.factors
    mdata.obsm["nonspatial_factors"] = nonspatial
    mdata.uns["dataset"] = {
        "name": name or f"simulated_{scenario}_noise{params['noise_sd']:g}_seed{params['seed']}",
        "technology": "simulated",
        "source": "fastspami.data.simulate",
        "n_spots": n_spots,
        "n_domains": int(design.labels.max()) + 1,
        **params,
    }
    return mdata
