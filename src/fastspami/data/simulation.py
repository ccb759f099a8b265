"""Simulated spatial multi-omics data: the NSF generator as SpatialGlue and SpaMI used it.

SpaMI's paper generated its simulations "based on the methodology" of NSF (Townes &
Engelhardt, Nat Methods 2023), as SpatialGlue (Long et al., Nat Methods 2024) did before it
and published its parameters (Supplementary Table S3); docs/simulation_study.md ("The
simulator and the design of the study") sums up the protocol and its sources. Tags below:
[V] a source states it, [I] inferred from a source, [?] no source states it: this module's
choice, with its grounds.

Per modality m with J_m features, on N = grid_size^2 spots, the expected counts are

    Lambda_m = bkg_mean_m + F W_m^T + U_m V_m^T                                 (N x J_m)

- F (N x 4): binary, disjoint spatial factors. A 6 x 6 pattern of cells (``PATTERNS``; cell
  index = 6 * row + column), each cell scaled up to 6 x 6 spots on the 36 x 36 grid
  [V NSF ``gen_spatial_factors``]. Ground truth = 1*f1 + 2*f2 + 3*f3 + 4*f4, 0 = the
  background [V SpaMI Tutorial 4]. ``pattern="spami"`` (default) is the pattern of SpaMI's
  tutorial, read off its ground-truth figure [V shapes, I orientation]; ``"ggblocks"`` is
  NSF's, which SpatialGlue used [V NSF ``ggblocks``].
- U_m (N x 3): non-spatial factors, Bernoulli(nzprob_nsp_m) per spot and factor [V NSF
  ``gen_nonspatial_factors``], drawn for each modality on its own [I: SpatialGlue gives
  each modality its own nzprob_nsp].
- W_m (J x 4), V_m (J x 3): every feature is "mixed": one spatial factor chosen at random
  with loading spatial_fraction * expr_mean = 0.55 * 20 = 11, and one non-spatial factor
  chosen at random with loading (1 - spatial_fraction) * expr_mean = 9 [V NSF
  ``gen_loadings`` defaults Jmix = all, mix_frac_spat 0.55, expr_mean 20; I that both papers
  kept them].
- Counts: protein NB(mean Lambda, shape nb_shape = 10) [V NB SpatialGlue, V shape NSF];
  RNA the same NB, then each entry zero with probability zero_inflation_rna = 0.5 (ZINB)
  [V pi SpatialGlue, I per entry]; ATAC Poisson(Lambda), then each entry zero with
  probability zero_inflation_atac (ZIP) [V distribution SpaMI paper; ? pi].
- Noise: N(noise_mean, noise_sd^2) added, then rounded and clipped at 0 [V SpatialGlue:
  mean 2, sd 0.5, on both modalities; V SpaMI sweeps the sd; I rounding and clipping, as
  count preprocessing needs non-negative integers]. ``noise_on="auto"`` adds it to every
  RNA and protein entry (so even noise_sd 0 adds 2 to every entry and makes them dense) and
  to the detected ATAC entries only [I]: ATAC is binarized before LSI, and noise of mean 2
  on its zeros would open every peak and erase the signal; on the detected entries it
  closes a peak where count + noise rounds to 0 or below (extra dropout). ``"all"`` and
  ``"detected"`` put it on every entry or the detected ones of every modality; "detected"
  keeps the matrices sparse (the scaling benchmark's 10^6 spots).

Per-modality defaults (``MODALITY_DEFAULTS``; each is a parameter of :func:`simulate`):

    modality  features     bkg_mean        nzprob_nsp       zero inflation
    RNA       1,000 [V SG] 0.2 [V SG Sim1] 0.2 [V SG, NSF]  0.5 [V SG]
    protein   100 [V SG]   0.4 [V SG Sim1] 0.25 [V SG]      none (NB) [V SG]
    ATAC      2,000 [?]    0.2 [?]         0.2 [?]          0.5 [?]

ATAC, which no source parametrizes (chosen before any result was looked at): 2,000 peaks,
twice the genes, as peaks outnumber genes in every real RNA + ATAC dataset of the benchmark
(and the project's earlier default); bkg_mean and nzprob_nsp at NSF's defaults, the values
RNA has; pi 0.5, the only zero-inflation value either source gives. At noise 0 a peak of a
spot's own factor is then open in ~50 % of spots and a background peak in ~9 % (~50 % where
its non-spatial factor is on), so ATAC is about as informative as RNA.

SpatialGlue's Simulation1-5 raise bkg_mean in steps of 0.1 (RNA 0.2-0.6, protein 0.4-0.8)
at noise N(2, 0.5^2) [V Table S3]; SpaMI sweeps noise_sd [V], its levels [?] (set in the
config from a pilot: docs/simulation_pilot.md).

This project's own scenarios, built from the same generator: ``rna_adt_atac`` (all three
modalities, each with every factor; SpatialGlue's "Simulation 6 (triplet omics)" has no
published parameters) and ``complementary_*``: each modality's features choose their
spatial factor among a subset only (``factors_<modality>``; default RNA f1, f2 and the other
modality f3, f4), so each modality alone sees two domains and merges the other two with the
background, and only both together resolve all five. obs 'partition_a' and 'partition_b'
are the domains as RNA and as the other modality see them (0 where they see background).

Layout [V keys of NSF's ``sim2anndata``, SpaMI Tutorial 4]: one AnnData per modality, raw
counts (CSR float32) in .X and layers['counts'], obsm['spatial'] (x = column, y = -row, both
on linspace(-2, 2, grid_size) [V NSF ``make_grid`` + ``rescale_spatial_coords``]),
obsm['nsfac'] (U_m), varm['spload'] (W_m), varm['nsload'] (V_m), var 'spatial_factor' and
'nonspatial_factor' (1-based); the RNA modality also carries obsm['spfac'] (F, N x 4). Spots
are in row-major order, not shuffled (NSF shuffles for its train/validation split,
irrelevant to spatial methods) [?]. Grid sizes that are not multiples of 6 (ours: the quick
study's 20 x 20, the scaling benchmark) map pattern cells proportionally (cell row =
floor(6 * row / grid_size)).

Seeds: each random part (a modality's non-spatial factors, loadings, counts and noise)
draws from its own stream, ``np.random.default_rng([seed, modality, part])``, so another
``seed`` gives another draw of everything, and noise levels simulated with different seeds
are independent draws (the workflow derives one seed per dataset: ``fastspami.data.draws``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fastspami.data.count_sampling import sample_counts
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

# Cells of the 6 x 6 pattern (index 6 * row + column, row 0 at the top) of factors f1-f4.
PATTERNS: dict[str, tuple[tuple[int, ...], ...]] = {
    # SpaMI Tutorial 4's ground truth [V shapes, I orientation]: 252 / 180 / 180 / 252 spots
    "spami": (
        (1, 2, 6, 7, 8, 12, 13),
        (3, 4, 10, 11, 17),
        (19, 24, 25, 26, 31),  # a plus
        (21, 22, 23, 28, 33, 34, 35),  # an I-beam
    ),
    # NSF's ggblocks (sim.py), SpatialGlue's: plus, ring, staircase, T; 180 / 288 / 216 / 180
    "ggblocks": (
        (1, 6, 7, 8, 13),
        (3, 4, 5, 9, 11, 15, 16, 17),
        (18, 24, 25, 30, 31, 32),
        (21, 22, 23, 28, 34),
    ),
}
PATTERN_SIDE = 6
N_SPATIAL = 4

GRID_SIZE = 36  # [V NSF nside; SpatialGlue's 1,296 spots]
COORDINATE_HALF_WIDTH = 2.0  # [V NSF: coordinates on [-2, 2]]
EXPR_MEAN = 20.0  # [V NSF gen_loadings]
SPATIAL_FRACTION = 0.55  # [V NSF mix_frac_spat]
NB_SHAPE = 10.0  # [V NSF sim nb_shape]
N_NONSPATIAL = 3  # [V NSF Lns]
MAX_NONSPATIAL = 10  # groups of spots grow as 2**K; 10 keeps the rate tables small
NOISE_MEAN = 2.0  # [V SpatialGlue Table S3]
NOISE_SD = 0.5  # [V SpatialGlue Table S3; SpaMI sweeps it]
NOISE_TARGETS = ("auto", "all", "detected")
# Complementary scenarios (ours): the spatial factors each modality's features load.
COMPLEMENTARY_FACTORS = {"rna": (1, 2), "other": (3, 4)}

# Parts of one modality's random streams: default_rng([seed, modality stream, part]).
_NONSPATIAL, _LOADINGS, _COUNTS, _NOISE = range(4)


@dataclass(frozen=True)
class ModalityDefaults:
    """One modality's distribution and default parameters (see the module docstring)."""

    key: str
    prefix: str  # feature names: prefix_0000
    distribution: str  # "nb" or "poisson"
    n_features: int
    bkg_mean: float
    nzprob_nsp: float
    zero_inflation: float  # 0 for a modality without zero inflation (protein)
    stream: int  # its random streams


MODALITY_DEFAULTS = {
    "rna": ModalityDefaults("rna", "gene", "nb", 1000, 0.2, 0.2, 0.5, 1),
    "adt": ModalityDefaults("adt", "protein", "nb", 100, 0.4, 0.25, 0.0, 2),
    "atac": ModalityDefaults("atac", "peak", "poisson", 2000, 0.2, 0.2, 0.5, 3),
}
ZERO_INFLATED = ("rna", "atac")  # protein is plain NB [V SpatialGlue]

SCENARIO_MODALITIES = {
    "rna_adt": ("rna", "adt"),
    "rna_atac": ("rna", "atac"),
    "rna_adt_atac": ("rna", "adt", "atac"),
    "complementary_rna_adt": ("rna", "adt"),
    "complementary_rna_atac": ("rna", "atac"),
}


# ---------------------------------------------------------------- grid and factors


def grid_coordinates(grid_size: int) -> np.ndarray:
    """NSF's coordinates of a grid_size x grid_size grid, row-major: (N, 2).

    x = column and y = -row, both on linspace(-2, 2, grid_size) (NSF's ``make_grid`` then
    ``rescale_spatial_coords``, which leaves a square grid on [-2, 2]); spot i sits at row
    i // grid_size, column i % grid_size; row 0 is the top (y = 2).
    """
    axis = np.linspace(-COORDINATE_HALF_WIDTH, COORDINATE_HALF_WIDTH, grid_size)
    rows, cols = np.divmod(np.arange(grid_size * grid_size), grid_size)
    return np.column_stack([axis[cols], -axis[rows]])


def pattern_labels(pattern: str) -> np.ndarray:
    """The 6 x 6 cell labels of a pattern: (6, 6) ints, 0 = background, k = factor f_k."""
    labels = np.zeros(PATTERN_SIDE * PATTERN_SIDE, dtype=np.int64)
    for factor, cells in enumerate(PATTERNS[pattern], start=1):
        labels[list(cells)] = factor
    return labels.reshape(PATTERN_SIDE, PATTERN_SIDE)


def upscale_pattern(cells: np.ndarray, grid_size: int) -> np.ndarray:
    """A square (p, p) cell array on the grid: (grid_size, grid_size).

    Grid row r reads cell row floor(r * p / grid_size) (likewise columns): a multiple of p
    repeats each cell exactly (NSF's np.kron), other sizes map rows proportionally.
    """
    index = (np.arange(grid_size) * cells.shape[0]) // grid_size
    return cells[np.ix_(index, index)]


def domain_labels(pattern: str, grid_size: int) -> np.ndarray:
    """Ground-truth domain of each spot, row-major: (N,) ints 0..4 (0 = background)."""
    return upscale_pattern(pattern_labels(pattern), grid_size).ravel()


def spatial_factors(labels: np.ndarray) -> np.ndarray:
    """Binary spatial factors F from domain labels: (N, 4) float32, f_k = [label == k]."""
    return (labels[:, None] == np.arange(1, N_SPATIAL + 1)[None, :]).astype(np.float32)


def nonspatial_factors(
    rng: np.random.Generator, n_spots: int, n_factors: int, nzprob: float
) -> np.ndarray:
    """Binary non-spatial factors U, Bernoulli(nzprob) per spot and factor: (N, K) float32."""
    return (rng.random((n_spots, n_factors)) < nzprob).astype(np.float32)


def feature_loadings(
    rng: np.random.Generator,
    n_features: int,
    factors: tuple[int, ...],
    *,
    n_nonspatial: int,
    expr_mean: float,
    spatial_fraction: float,
) -> tuple[np.ndarray, np.ndarray]:
    """NSF's mixed features: W (J, 4) and V (J, K), one non-zero entry in each row of both.

    Each feature loads one spatial factor drawn uniformly from ``factors`` (1-based) with
    spatial_fraction * expr_mean, and one of the K non-spatial factors drawn uniformly with
    (1 - spatial_fraction) * expr_mean (no non-spatial loading when K = 0).
    """
    rows = np.arange(n_features)
    spatial = np.zeros((n_features, N_SPATIAL))
    home = rng.choice(np.asarray(factors) - 1, size=n_features)
    spatial[rows, home] = spatial_fraction * expr_mean
    nonspatial = np.zeros((n_features, n_nonspatial))
    if n_nonspatial:
        nonspatial[rows, rng.integers(n_nonspatial, size=n_features)] = (
            1.0 - spatial_fraction
        ) * expr_mean
    return spatial, nonspatial


def spot_groups(labels: np.ndarray, nonspatial: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spots sharing every factor value: (group per spot (N,), factor values (G, 4 + K)).

    F is a function of the domain label, so a group is a (label, U row) pair; rates are
    computed once per group rather than per spot.
    """
    n_ns = nonspatial.shape[1]
    bits = (nonspatial > 0).astype(np.int64) @ (np.int64(1) << np.arange(n_ns, dtype=np.int64))
    codes = labels.astype(np.int64) * (np.int64(1) << n_ns) + bits
    unique, group = np.unique(codes, return_inverse=True)
    group_labels, group_bits = np.divmod(unique, np.int64(1) << n_ns)
    values = np.hstack(
        [
            spatial_factors(group_labels).astype(np.float64),
            ((group_bits[:, None] >> np.arange(n_ns)[None, :]) & 1).astype(np.float64),
        ]
    )
    return group.ravel(), values


# ---------------------------------------------------------------- parameters


def _modality_factors(scenario: str, key: str, given: Any) -> tuple[int, ...]:
    """The spatial factors a modality's features load: given, else the scenario's."""
    if given is not None:
        return tuple(int(f) for f in given)
    if scenario.startswith("complementary"):
        return COMPLEMENTARY_FACTORS["rna" if key == "rna" else "other"]
    return tuple(range(1, N_SPATIAL + 1))


def _check_parameters(params: dict[str, Any]) -> None:
    if params["scenario"] not in SCENARIOS:
        raise ConfigError(
            f"Unknown simulation scenario {params['scenario']!r}; use one of {', '.join(SCENARIOS)}."
        )
    if params["pattern"] not in PATTERNS:
        raise ConfigError(
            f"Unknown factor pattern {params['pattern']!r}; use one of {', '.join(PATTERNS)} "
            "('spami': SpaMI's tutorial, 'ggblocks': NSF's and SpatialGlue's)."
        )
    if params["grid_size"] < PATTERN_SIDE:
        raise ConfigError(
            f"grid_size={params['grid_size']} is too small: the 6 x 6 pattern needs at least "
            f"{PATTERN_SIDE} spots per side; use grid_size >= {PATTERN_SIDE} (36 is the papers')."
        )
    for key in MODALITY_DEFAULTS:
        if params[f"n_{key}"] < 1:
            raise ConfigError(
                f"n_{key}={params[f'n_{key}']} must be a positive number of features."
            )
        nzprob = params[f"nzprob_nsp_{key}"]
        if not 0.0 <= nzprob <= 1.0:
            raise ConfigError(f"nzprob_nsp_{key}={nzprob} must be a probability in [0, 1].")
        if key in ZERO_INFLATED and not 0.0 <= params[f"zero_inflation_{key}"] < 1.0:
            raise ConfigError(
                f"zero_inflation_{key}={params[f'zero_inflation_{key}']} must be a probability "
                "in [0, 1) (SpatialGlue's pi is 0.5)."
            )
        if not params[f"bkg_mean_{key}"] >= 0:
            raise ConfigError(f"bkg_mean_{key}={params[f'bkg_mean_{key}']} must be >= 0.")
        factors = params[f"factors_{key}"]
        if not factors or len(set(factors)) != len(factors) or not set(factors) <= {1, 2, 3, 4}:
            raise ConfigError(
                f"factors_{key}={list(factors)} must name distinct spatial factors among 1-4."
            )
    if not 0 <= params["n_nonspatial"] <= MAX_NONSPATIAL:
        raise ConfigError(f"n_nonspatial={params['n_nonspatial']} must lie in 0..{MAX_NONSPATIAL}.")
    if not 0.0 <= params["spatial_fraction"] <= 1.0:
        raise ConfigError(
            f"spatial_fraction={params['spatial_fraction']} must lie in [0, 1] (NSF's 0.55)."
        )
    if not params["nb_shape"] > 0:
        raise ConfigError(f"nb_shape={params['nb_shape']} must be > 0 (NSF's is 10).")
    for name in ("expr_mean", "noise_sd"):
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


def _noise_target(noise_on: str, key: str) -> str:
    """'auto': every RNA and protein entry, the detected ATAC entries (module docstring)."""
    if noise_on != "auto":
        return noise_on
    return "detected" if key == "atac" else "all"


# ---------------------------------------------------------------- assembly


@dataclass
class _Layout:
    """What every modality shares: domains, spatial factors, coordinates, spot names."""

    labels: np.ndarray  # (N,) ints 0..4
    factors: np.ndarray  # (N, 4) F
    coords: np.ndarray  # (N, 2)
    obs: pd.DataFrame


def _simulate_modality(key: str, params: dict[str, Any], layout: _Layout) -> Any:
    """One modality's AnnData: counts (N x J CSR), its U, loadings and feature factors."""
    import anndata

    spec = MODALITY_DEFAULTS[key]
    seed = params["seed"]

    def stream(part: int) -> np.random.Generator:
        return np.random.default_rng([seed, spec.stream, part])

    n_spots, n_features = layout.labels.size, params[f"n_{key}"]
    nonspatial = nonspatial_factors(
        stream(_NONSPATIAL), n_spots, params["n_nonspatial"], params[f"nzprob_nsp_{key}"]
    )
    spatial_w, nonspatial_w = feature_loadings(
        stream(_LOADINGS),
        n_features,
        params[f"factors_{key}"],
        n_nonspatial=params["n_nonspatial"],
        expr_mean=params["expr_mean"],
        spatial_fraction=params["spatial_fraction"],
    )
    group, values = spot_groups(layout.labels, nonspatial)
    rates = params[f"bkg_mean_{key}"] + values @ np.hstack([spatial_w, nonspatial_w]).T  # (G, J)
    counts = sample_counts(
        stream(_COUNTS),
        stream(_NOISE),
        rates,
        group,
        distribution=spec.distribution,
        dispersion=params["nb_shape"],
        zero_inflation=params.get(f"zero_inflation_{key}", 0.0),
        noise_mean=params["noise_mean"],
        noise_sd=params["noise_sd"],
        noise_on=_noise_target(params["noise_on"], key),
    )
    width = max(len(str(n_features - 1)), 3 if key == "adt" else 4)
    var = pd.DataFrame(
        {
            "spatial_factor": spatial_w.argmax(axis=1) + 1,
            "nonspatial_factor": (nonspatial_w.argmax(axis=1) + 1 if params["n_nonspatial"] else 0),
        },
        index=[f"{spec.prefix}_{j:0{width}d}" for j in range(n_features)],
    )
    adata = anndata.AnnData(X=counts, obs=layout.obs.copy(), var=var)
    adata.layers["counts"] = counts.copy()
    adata.obsm["spatial"] = layout.coords.copy()
    adata.obsm["nsfac"] = nonspatial
    adata.varm["spload"] = spatial_w.astype(np.float32)
    adata.varm["nsload"] = nonspatial_w.astype(np.float32)
    if key == "rna":
        adata.obsm["spfac"] = layout.factors.copy()
    return adata


def _categorical(labels: np.ndarray, n_classes: int) -> pd.Categorical:
    return pd.Categorical(labels.astype(str), categories=[str(v) for v in range(n_classes)])


def _seen_by(labels: np.ndarray, factors: tuple[int, ...]) -> np.ndarray:
    """The domains a modality loading only ``factors`` can tell apart: (N,), 0 elsewhere."""
    return np.where(np.isin(labels, factors), labels, 0)


def simulate(
    scenario: str = "rna_adt",
    *,
    pattern: str = "spami",
    grid_size: int = GRID_SIZE,
    noise_mean: float = NOISE_MEAN,
    noise_sd: float = NOISE_SD,
    noise_on: str = "auto",
    seed: int = 0,
    expr_mean: float = EXPR_MEAN,
    spatial_fraction: float = SPATIAL_FRACTION,
    nb_shape: float = NB_SHAPE,
    n_nonspatial: int = N_NONSPATIAL,
    n_rna: int = MODALITY_DEFAULTS["rna"].n_features,
    n_adt: int = MODALITY_DEFAULTS["adt"].n_features,
    n_atac: int = MODALITY_DEFAULTS["atac"].n_features,
    bkg_mean_rna: float = MODALITY_DEFAULTS["rna"].bkg_mean,
    bkg_mean_adt: float = MODALITY_DEFAULTS["adt"].bkg_mean,
    bkg_mean_atac: float = MODALITY_DEFAULTS["atac"].bkg_mean,
    nzprob_nsp_rna: float = MODALITY_DEFAULTS["rna"].nzprob_nsp,
    nzprob_nsp_adt: float = MODALITY_DEFAULTS["adt"].nzprob_nsp,
    nzprob_nsp_atac: float = MODALITY_DEFAULTS["atac"].nzprob_nsp,
    zero_inflation_rna: float = MODALITY_DEFAULTS["rna"].zero_inflation,
    zero_inflation_atac: float = MODALITY_DEFAULTS["atac"].zero_inflation,
    factors_rna: list[int] | None = None,
    factors_adt: list[int] | None = None,
    factors_atac: list[int] | None = None,
    name: str | None = None,
    **unknown: Any,
) -> mudata.MuData:
    """Simulate one spatial multi-omics dataset; the model is in the module docstring.

    Returns a MuData with the scenario's modalities among 'rna' (n_rna genes, ZINB), 'adt'
    (n_adt proteins, NB) and 'atac' (n_atac peaks, ZIP) on grid_size**2 spots. Every
    modality has the same obs_names ('spot_00000', ...) and obs['ground_truth']
    (categorical '0'-'4'); the MuData has obs['ground_truth'] (plus 'partition_a' and
    'partition_b' in complementary scenarios), obsm['spatial'] (N, 2) and uns['dataset']
    (the parameters). factors_<modality>: the spatial factors (1-4) its features load
    (default: all; complementary scenarios RNA 1, 2 and the other modality 3, 4). name:
    the dataset name (default from scenario, noise_sd and seed). Raises ConfigError for a
    parameter out of range or unknown, before any work.
    """
    if unknown:
        raise ConfigError(
            f"simulate() has no parameter(s) {', '.join(sorted(unknown))}; see "
            "help(fastspami.data.simulation.simulate) for the ones it takes."
        )
    given_factors = {"rna": factors_rna, "adt": factors_adt, "atac": factors_atac}
    params = dict(
        scenario=scenario, pattern=pattern, grid_size=int(grid_size),
        noise_mean=float(noise_mean), noise_sd=float(noise_sd), noise_on=str(noise_on),
        seed=int(seed), expr_mean=float(expr_mean), spatial_fraction=float(spatial_fraction),
        nb_shape=float(nb_shape), n_nonspatial=int(n_nonspatial),
        n_rna=int(n_rna), n_adt=int(n_adt), n_atac=int(n_atac),
        bkg_mean_rna=float(bkg_mean_rna), bkg_mean_adt=float(bkg_mean_adt),
        bkg_mean_atac=float(bkg_mean_atac), nzprob_nsp_rna=float(nzprob_nsp_rna),
        nzprob_nsp_adt=float(nzprob_nsp_adt), nzprob_nsp_atac=float(nzprob_nsp_atac),
        zero_inflation_rna=float(zero_inflation_rna),
        zero_inflation_atac=float(zero_inflation_atac),
    )  # fmt: skip
    for key, given in given_factors.items():
        params[f"factors_{key}"] = _modality_factors(str(scenario), key, given)
    _check_parameters(params)
    import mudata

    modalities = SCENARIO_MODALITIES[scenario]
    labels = domain_labels(pattern, params["grid_size"])
    n_spots = labels.size
    width = max(5, len(str(n_spots - 1)))
    obs = pd.DataFrame(index=[f"spot_{i:0{width}d}" for i in range(n_spots)])
    obs["ground_truth"] = _categorical(labels, N_SPATIAL + 1)
    if scenario.startswith("complementary"):
        rna, other = params["factors_rna"], params[f"factors_{modalities[1]}"]
        obs["partition_a"] = _categorical(_seen_by(labels, rna), N_SPATIAL + 1)
        obs["partition_b"] = _categorical(_seen_by(labels, other), N_SPATIAL + 1)
    layout = _Layout(labels, spatial_factors(labels), grid_coordinates(params["grid_size"]), obs)

    adatas = {key: _simulate_modality(key, params, layout) for key in modalities}
    with mudata.set_options(pull_on_update=False):  # keep modality columns out of mdata.obs
        mdata = mudata.MuData(adatas)
    for column in obs.columns:
        mdata.obs[column] = obs[column]
    mdata.obsm["spatial"] = layout.coords
    stored = {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()}
    mdata.uns["dataset"] = {
        "name": name or f"simulated_{scenario}_noise{params['noise_sd']:g}_seed{params['seed']}",
        "technology": "simulated",
        "source": "fastspami.data.simulation",
        "n_spots": n_spots,
        "n_domains": int(np.unique(labels).size),
        **stored,
    }
    return mdata
