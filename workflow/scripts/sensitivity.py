"""SpaMI's sensitivity sweep on simulated data (docs/robust_preset.md), as a command.

    python workflow/scripts/sensitivity.py --out results/robust/sweep.csv \
        --datasets comp_adt_noise16 rna_adt --variants faithful no_cosine robust --seeds 0 1

Writes one row per (dataset, method, variant, seed) to --out (resumable: finished runs are
skipped) and prints the mean ARI over seeds. Not part of the Snakemake workflow; it is
how the robust preset was chosen.
"""

from __future__ import annotations

import argparse
import logging

from fastspami.benchmark.diagnosis import BASELINES, mean_over_seeds, sensitivity_sweep


def dataset_grid(grid_size: int) -> dict[str, dict]:
    """Named simulations: complementary scenarios at two noise levels, paper-style ones."""
    out = {}
    for scenario, short in (("complementary_rna_adt", "adt"), ("complementary_rna_atac", "atac")):
        for noise in (0.5, 16.0):
            out[f"comp_{short}_noise{noise:g}"] = {
                "scenario": scenario,
                "grid_size": grid_size,
                "noise_sd": noise,
            }
    for scenario in ("rna_adt", "rna_atac"):
        out[scenario] = {"scenario": scenario, "grid_size": grid_size, "noise_sd": 0.5}
    return out


VARIANTS: dict[str, dict] = {
    "faithful": {},
    "k6": {"k": 6},
    "epochs300": {"epochs": 300},
    "lr1e-2": {"lr": 1e-2},
    "lr1e-4": {"lr": 1e-4},
    "latent16": {"latent_dim": 16},
    "block_scaling": {"input_scaling": "block"},
    "standardize": {"input_scaling": "standardize"},
    "recon_variance": {"reconstruction_scaling": "variance"},
    "no_cosine": {"weights": [1, 1, 10, 10, 0]},
    "cosine1": {"weights": [1, 1, 10, 10, 1]},
    "no_contrastive": {"weights": [0, 0, 10, 10, 5]},
    "recon1": {"weights": [1, 1, 1, 1, 5]},
    "recon2_x5": {"weights": [1, 1, 10, 50, 5]},
    "concat": {"fusion": "concat"},
    "robust": {"preset": "robust"},
}


def main() -> None:
    """Parse the arguments, run the sweep, print the summary."""
    grids = dataset_grid(24)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="CSV to append to")
    parser.add_argument("--datasets", nargs="+", default=list(grids), choices=list(grids))
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--extra", nargs="*", default=[], help="NAME=JSON settings variants")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--grid-size", type=int, default=24)
    parser.add_argument("--baselines", nargs="*", default=list(BASELINES))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    import json

    grids = dataset_grid(args.grid_size)
    variants = {name: VARIANTS[name] for name in args.variants}
    for item in args.extra:
        name, _, text = item.partition("=")
        variants[name] = json.loads(text)
    table = sensitivity_sweep(
        {name: grids[name] for name in args.datasets},
        variants,
        args.seeds,
        args.out,
        baselines=args.baselines,
        threads=args.threads,
    )
    print(mean_over_seeds(table).T.to_string())


if __name__ == "__main__":
    main()
