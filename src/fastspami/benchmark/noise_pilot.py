"""The pilot that fixes the noise levels of SpaMI's noise sweep, from single modalities only.

SpaMI's paper sweeps the sd of the Gaussian noise without saying at which levels. With NSF's
amplitudes (loadings 11 and 9) noise of sd 0-1 barely touches the counts, so the levels are
measured here, before any integration result is looked at, on single modalities only: each
modality preprocessed as every method gets it (``fastspami.pp.preprocess``: RNA PCA, protein CLR,
ATAC LSI), its first ``n_pcs`` principal components, then Leiden (resolution searched to the
number of domains) and k-means, scored by ARI against the ground truth. No integration
method runs. Pilot draws have seeds of their own (``draw_seed('pilot/<scenario>', ...)``),
which no table of the study uses.

The rule that picks the levels (:func:`choose_levels`), fixed before the pilot ran: the
"best single modality" at a level is the highest mean ARI (over draws) of any modality and
clustering, taken in the weaker of the paper's two scenarios (the lower of the two); the
sweep starts at sd 0.5 (SpatialGlue's noise and SpaMI's tutorial's data), ends at the
smallest candidate where that score is at most ``chance`` (near chance), and fills in the
candidates whose score is closest to evenly spaced targets in between.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from fastspami.data.draws import draw_seed

PAPER_SCENARIOS = ("rna_adt", "rna_atac")
CANDIDATE_LEVELS = (
    0.0,
    0.5,
    1.0,
    2.0,
    4.0,
    8.0,
    12.0,
    16.0,
    20.0,
    24.0,
    28.0,
    32.0,
    40.0,
    48.0,
    64.0,
)
FIRST_LEVEL = 0.5
CHANCE_ARI = 0.1
ALGORITHMS = ("leiden", "kmeans")


def single_modality_scores(
    mdata: Any, *, seed: int = 0, n_pcs: int = 20, algorithms: Sequence[str] = ALGORITHMS
) -> list[dict[str, Any]]:
    """ARI of each modality alone: one row per (modality, clustering) with 'ari'.

    Each modality is preprocessed as for the methods, reduced to its first ``n_pcs``
    principal components and clustered into as many clusters as ground-truth domains.
    """
    from sklearn.metrics import adjusted_rand_score

    from fastspami.clustering.algorithms import cluster_embedding, leading_pcs
    from fastspami.pp.preprocess import preprocess_mudata

    truth = mdata.obs["ground_truth"].astype(str).to_numpy()
    n_domains = len(np.unique(truth))
    rows = []
    for modality, features in preprocess_mudata(mdata, seed=seed).items():
        pcs = leading_pcs(np.asarray(features.X), n_pcs, seed)
        found = cluster_embedding(pcs, n_domains, tuple(algorithms), seed=seed)
        for algorithm, result in found.items():
            ari = adjusted_rand_score(truth, result.labels)
            rows.append({"modality": modality, "clustering": algorithm, "ari": float(ari)})
    return rows


def run_pilot(
    levels: Sequence[float] = CANDIDATE_LEVELS,
    *,
    scenarios: Sequence[str] = PAPER_SCENARIOS,
    draws: int = 3,
    simulation: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Simulate each scenario at each noise sd ``draws`` times and score single modalities.

    simulation: further keyword arguments of ``fastspami.data.simulation.simulate`` (pattern, grid...).
    Returns one row per (scenario, noise, draw, modality, clustering): data_seed and ari.
    """
    from fastspami.data.simulation import simulate

    rows = []
    for scenario in scenarios:
        for level in levels:
            for draw in range(draws):
                seed = draw_seed(f"pilot/{scenario}", level, draw)
                mdata = simulate(scenario, noise_sd=float(level), seed=seed, **(simulation or {}))
                for row in single_modality_scores(mdata, seed=draw):
                    rows.append(
                        {"scenario": scenario, "noise": float(level), "draw": draw}
                        | {"data_seed": seed, **row}
                    )
    return pd.DataFrame(rows)


def pilot_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd of ARI over draws: rows (scenario, modality, clustering), per noise level."""
    return (
        table.groupby(["scenario", "modality", "clustering", "noise"])["ari"]
        .agg(["mean", "std"])
        .reset_index()
    )


def best_single_modality(table: pd.DataFrame) -> pd.Series:
    """Per noise level, the best single modality's mean ARI in the weaker paper scenario."""
    summary = pilot_summary(table)
    best = summary.groupby(["scenario", "noise"])["mean"].max().unstack("scenario")
    return best.min(axis=1)


def choose_levels(
    best: pd.Series, n_levels: int = 6, first: float = FIRST_LEVEL, chance: float = CHANCE_ARI
) -> list[float]:
    """The sweep's noise levels from the best single modality's ARI per candidate level.

    From ``first`` to the smallest level >= first whose score is <= ``chance``; between
    them the candidates closest to ``n_levels - 2`` evenly spaced scores. Returns the
    levels sorted; fewer than n_levels only where the candidates run out.
    """
    best = best.sort_index()
    above = best[best.index >= first]
    at_chance = above[above <= chance]
    last = float(at_chance.index[0]) if len(at_chance) else float(above.index[-1])
    inner = above[(above.index > first) & (above.index < last)]
    targets = np.linspace(above[first], above[last], n_levels)[1:-1]
    chosen = {first, last}
    for target in targets:
        left = inner.drop(index=[c for c in chosen if c in inner.index])
        if left.empty:
            break
        chosen.add(float((left - target).abs().idxmin()))
    return sorted(chosen)


def pilot_markdown(table: pd.DataFrame, levels: Sequence[float]) -> str:
    """The pilot as Markdown: mean ± sd ARI per modality and clustering, the best single
    modality per level, and the levels chosen."""
    summary = pilot_summary(table)
    noises = sorted(summary["noise"].unique())
    header = "| scenario | modality | clustering | " + " | ".join(f"{n:g}" for n in noises) + " |"
    lines = [header, "|" + ":--|" * (3 + len(noises))]
    for (scenario, modality, clustering), rows in summary.groupby(
        ["scenario", "modality", "clustering"]
    ):
        by_noise = rows.set_index("noise")
        cells = [
            f"{by_noise.at[n, 'mean']:.2f} ± {by_noise.at[n, 'std']:.2f}"
            if n in by_noise.index
            else ""
            for n in noises
        ]
        lines.append(f"| {scenario} | {modality} | {clustering} | " + " | ".join(cells) + " |")
    best = best_single_modality(table)
    lines += [
        "",
        "| noise sd | " + " | ".join(f"{n:g}" for n in best.index) + " |",
        "|:--|" + ":--|" * len(best),
        "| best single modality (weaker scenario) | "
        + " | ".join(f"{v:.2f}" for v in best.to_numpy())
        + " |",
        "",
        "Levels chosen: " + ", ".join(f"{level:g}" for level in levels) + ".",
    ]
    return "\n".join(lines) + "\n"
