"""The noise pilot (docs/simulation_pilot.md): single-modality ARI against the noise sd.

    PYTHONPATH=src python workflow/scripts/noise_pilot.py --out results/pilot --draws 3

Writes pilot.csv (one row per scenario, noise, draw, modality and clustering) and pilot.md
(the tables and the levels chosen by ``fastspami.benchmark.noise_pilot.choose_levels``) to --out, and
prints pilot.md. Single modalities only: no integration method runs. Not part of the
Snakemake workflow: it ran once, before the study, to fix config/simulation.yaml's levels.
"""

from __future__ import annotations

import argparse
import logging
import warnings
from pathlib import Path

from fastspami.benchmark.noise_pilot import (
    CANDIDATE_LEVELS,
    PAPER_SCENARIOS,
    best_single_modality,
    choose_levels,
    pilot_markdown,
    run_pilot,
)


def main() -> None:
    """Parse the arguments, run the pilot, write and print its tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="folder for pilot.csv and pilot.md")
    parser.add_argument("--draws", type=int, default=3, help="data draws per level")
    parser.add_argument("--levels", type=float, nargs="+", default=list(CANDIDATE_LEVELS))
    parser.add_argument("--scenarios", nargs="+", default=list(PAPER_SCENARIOS))
    parser.add_argument("--n-levels", type=int, default=6, help="levels of the sweep")
    parser.add_argument("--grid-size", type=int, default=36)
    parser.add_argument("--pattern", default="spami")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore", category=FutureWarning)

    simulation = {"grid_size": args.grid_size, "pattern": args.pattern}
    table = run_pilot(
        args.levels, scenarios=args.scenarios, draws=args.draws, simulation=simulation
    )
    levels = choose_levels(best_single_modality(table), n_levels=args.n_levels)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "pilot.csv", index=False)
    text = pilot_markdown(table, levels)
    (out / "pilot.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
