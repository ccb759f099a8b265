"""Where a training epoch's time goes: ``torch.profiler`` over a few epochs of ``spami bench``'s
data, its top entries by self time (the numbers behind docs/performance.md).

    python -m fastspami.benchmark.profiling --n-spots 99856 --threads 2 --epochs 3

The data are the benchmark's (:func:`fastspami.benchmark.scaling.simulate_bench_data`,
preprocessed), or random features of ``--feature-dims`` widths; ``--data`` caches them in an
.npz so that profiles of two code versions train on the same arrays. Time spent in SciPy's
sparse kernels and in Numba's fused kernels shows as the self time of the autograd
functions that call them (``_ScipySparseMatmul``, ``_FusedDGI``, ...).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def load_or_prepare(
    n_spots: int, data: str | Path | None = None, feature_dims: list[int] | None = None
) -> tuple[np.ndarray, list[np.ndarray]]:
    """(coords, preprocessed feature matrices) of the benchmark at ``n_spots``, read from
    ``data`` (.npz) when it exists, else prepared (and written there when given)."""
    from fastspami.benchmark.scaling import prepare_bench_data

    path = Path(data) if data else None
    if path is not None and path.exists():
        with np.load(path) as arrays:
            return arrays["coords"], [arrays[f"x{i}"] for i in range(len(arrays.files) - 1)]
    coords, matrices = prepare_bench_data(n_spots, feature_dims=feature_dims)
    if path is not None:
        np.savez(path, coords=coords, **{f"x{i}": x for i, x in enumerate(matrices)})
    return coords, matrices


def profile_epochs(
    coords: np.ndarray,
    matrices: list[np.ndarray],
    *,
    threads: int = 2,
    epochs: int = 3,
    precision: str = "float32",
    seed: int = 0,
    rows: int = 25,
) -> tuple[str, list[float]]:
    """Train one warm-up epoch, then ``epochs`` epochs under ``torch.profiler``; returns the
    profile's table (top ``rows`` by self CPU time) and the profiled epochs' seconds."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from fastspami._kernels.adam import Adam
    from fastspami._kernels.memory import reuse_freed_memory
    from fastspami.model.operators import GraphOperators
    from fastspami.model.presets import get_preset
    from fastspami.model.train import build_module, seed_everything, train_epoch

    torch.set_num_threads(threads)
    config = get_preset("simulated").with_overrides(precision=precision)
    device = torch.device("cpu")
    ops = GraphOperators.from_coordinates(coords, config.k, device)
    xs = [torch.as_tensor(x) for x in matrices]
    seed_everything(seed)
    module = build_module([x.shape[1] for x in xs], config, device)
    optimizer = Adam(module.parameters(), lr=config.lr)
    weights = config.loss_weights(len(xs))
    generator = torch.Generator().manual_seed(seed)
    seconds = []

    def epoch() -> None:
        perm = torch.randperm(len(coords), generator=generator)
        start = time.perf_counter()
        train_epoch(module, optimizer, xs, perm, ops, None, weights, generator)
        seconds.append(time.perf_counter() - start)

    with reuse_freed_memory():
        epoch()  # warm-up: kernels compiled, heap grown
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(epochs):
                epoch()
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)
    return table, seconds[1:]


def main(argv: list[str] | None = None) -> None:
    """Print the profile of ``--epochs`` training epochs at ``--n-spots``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-spots", type=int, default=99_856)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--precision", default="float32", choices=["float32", "bf16"])
    parser.add_argument("--feature-dims", type=int, nargs="+")
    parser.add_argument("--data", help=".npz cache of the prepared data (read or written)")
    parser.add_argument("--rows", type=int, default=25)
    args = parser.parse_args(argv)
    coords, matrices = load_or_prepare(args.n_spots, args.data, args.feature_dims)
    table, seconds = profile_epochs(
        coords,
        matrices,
        threads=args.threads,
        epochs=args.epochs,
        precision=args.precision,
        rows=args.rows,
    )
    print(table)
    print("profiled epochs (s):", " ".join(f"{s:.3f}" for s in seconds))


if __name__ == "__main__":
    main()
