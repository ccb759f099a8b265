"""Does mixed precision find the same domains? bf16 against float32 on simulated data.

For every scenario, data seed and training seed, SpaMI trains twice on the same simulated
slice, in float32 and with ``precision='bf16'``, and each embedding is clustered by Leiden
into the number of ground-truth domains (:func:`fastspami.clustering.leiden_n_clusters`,
clustering seed 0 for both, so only the embedding differs). The table has one row per run
(the ARI against ``obs['ground_truth']``, seconds, the precision that ran); the summary
gives, per scenario and over all, the mean change of ARI (bf16 - float32), the mean and
largest absolute change, and the ARI between the two runs' labels. Issue #33's goal: the
ARI moves by at most 0.01 on average and by no more than 0.05 in any single run.

    python -m fastspami.benchmark.precision --out results/bench/precision_parity.csv

The settings are the paper's ``simulated`` preset (1,000 epochs) on the simulation study's
36 x 36 grid, scenarios ``rna_adt`` and ``rna_atac`` at the simulator's defaults; these
were fixed before any run. Where this CPU lacks native bfloat16 the bf16 runs fall back to
float32 (``precision_run`` says so) and the comparison shows nothing.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

PARITY_COLUMNS = [
    "scenario",
    "data_seed",
    "train_seed",
    "precision",
    "precision_run",
    "epochs",
    "n_spots",
    "n_domains",
    "ari",
    "train_s",
]


def parity_runs(
    scenarios: list[str],
    data_seeds: list[int],
    train_seeds: list[int],
    *,
    epochs: int = 1000,
    grid_size: int = 36,
    threads: int = 1,
    preset: str = "simulated",
) -> pd.DataFrame:
    """One row per (scenario, data seed, training seed, precision): see the module docstring."""
    import numpy as np
    import pandas as pd
    from sklearn.metrics import adjusted_rand_score

    from fastspami.clustering.algorithms import leiden_n_clusters
    from fastspami.data.simulation import simulate
    from fastspami.methods.spami_method import integrate

    rows = []
    for scenario in scenarios:
        for data_seed in data_seeds:
            mdata = simulate(scenario, grid_size=grid_size, seed=data_seed)
            truth = np.asarray(mdata.obs["ground_truth"]).astype(str)
            n_domains = len(set(truth))
            for train_seed in train_seeds:
                for precision in ("float32", "bf16"):
                    start = time.perf_counter()
                    result = integrate(mdata, seed=train_seed, threads=threads, preset=preset,
                                       epochs=epochs, precision=precision, progress=False)  # fmt: skip
                    seconds = time.perf_counter() - start
                    labels = leiden_n_clusters(result.embedding, n_domains, seed=0).labels
                    rows.append({
                        "scenario": scenario,
                        "data_seed": data_seed,
                        "train_seed": train_seed,
                        "precision": precision,
                        "precision_run": result.uns["precision"],
                        "epochs": epochs,
                        "n_spots": mdata.n_obs,
                        "n_domains": n_domains,
                        "ari": float(adjusted_rand_score(truth, labels)),
                        "train_s": seconds,
                        "labels": labels,
                    })  # fmt: skip
                    print(
                        f"{scenario} data {data_seed} seed {train_seed} {precision}: "
                        f"ARI {rows[-1]['ari']:.4f} ({seconds:.0f} s)",
                        flush=True,
                    )
    return pd.DataFrame(rows)


def parity_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Per scenario and over all: runs compared, mean ARI of each precision, mean change
    (bf16 - float32), mean and largest absolute change, the smallest ARI between the two
    runs' labels."""
    import pandas as pd
    from sklearn.metrics import adjusted_rand_score

    keys = ["scenario", "data_seed", "train_seed"]
    pairs = runs.pivot_table(index=keys, columns="precision", values="ari").reset_index()
    agreement = []
    for _, group in runs.groupby(keys, sort=False):
        by = dict(zip(group["precision"], group["labels"], strict=True))
        agreement.append(float(adjusted_rand_score(by["float32"], by["bf16"])))
    pairs["ari_between"] = agreement
    pairs["change"] = pairs["bf16"] - pairs["float32"]

    def summarize(part: pd.DataFrame, name: str) -> dict:
        return {
            "scenario": name,
            "runs": len(part),
            "ari_float32": part["float32"].mean(),
            "ari_bf16": part["bf16"].mean(),
            "mean_change": part["change"].mean(),
            "mean_abs_change": part["change"].abs().mean(),
            "max_abs_change": part["change"].abs().max(),
            "min_ari_between": part["ari_between"].min(),
        }

    rows = [summarize(part, name) for name, part in pairs.groupby("scenario", sort=False)]
    rows.append(summarize(pairs, "all"))
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    """Run the comparison; write the runs' table and print (and write) the summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="results/bench/precision_parity.csv")
    parser.add_argument("--scenarios", nargs="+", default=["rna_adt", "rna_atac"])
    parser.add_argument("--data-seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--train-seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--grid-size", type=int, default=36)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    runs = parity_runs(
        args.scenarios,
        args.data_seeds,
        args.train_seeds,
        epochs=args.epochs,
        grid_size=args.grid_size,
        threads=args.threads,
    )
    summary = parity_summary(runs)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    runs.drop(columns="labels")[PARITY_COLUMNS].to_csv(out, index=False)
    summary.to_csv(out.with_name(out.stem + "_summary.csv"), index=False)
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"wrote {out} and {out.with_name(out.stem + '_summary.csv')}")


if __name__ == "__main__":
    main()
