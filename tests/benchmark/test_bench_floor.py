"""The benchmark's GEMM floor counts the dense products a training epoch computes."""

from collections import Counter

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from fastspami._kernels.adam import Adam
from fastspami._kernels.dense import uses_onednn
from fastspami.benchmark.scaling import epoch_products
from fastspami.model.operators import GraphOperators
from fastspami.model.presets import get_preset
from fastspami.model.train import build_module, seed_everything, train_epoch

N_SPOTS, DIMS = 50, [12, 7]
PRODUCT_OPS = {"mm", "addmm", "bmm", "_linear_pointwise", "mv", "matmul"}


def _normalized(m: int, k: int, n: int) -> tuple[int, int, int]:
    """(m, k) x (k, n) and its transpose (n, k) x (k, m) are one product."""
    return (k, min(m, n), max(m, n))


class _RecordProducts(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.shapes = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if name in PRODUCT_OPS:
            if name == "_linear_pointwise":  # p @ qᵀ, q of shape (out, in)
                (m, k), n = args[0].shape, args[1].shape[0]
            else:
                a, b = (args[1], args[2]) if name == "addmm" else (args[0], args[1])
                (m, k), n = a.shape, b.shape[1]
            self.shapes[_normalized(m, k, n)] += 1
        return func(*args, **(kwargs or {}))


def _expected(config) -> Counter:
    shapes = Counter()
    for which in ("gcn", "other"):
        for rows, a, b, input_grad in epoch_products(N_SPOTS, DIMS, config, which):
            shapes[_normalized(rows, a, b)] += 1  # forward
            shapes[_normalized(a, rows, b)] += 1  # weight gradient
            if input_grad:
                shapes[_normalized(rows, b, a)] += 1
    return shapes


@pytest.mark.parametrize(
    "overrides",
    [{}, {"fusion": "concat"}, {"weights": [0.0, 0.0, None, None, None]}, {"precision": "bf16"}],
    ids=["attention", "concat", "no-contrastive", "bf16"],
)
def test_floor_products_are_the_epochs_products(overrides, monkeypatch):
    """Every dense product of one epoch (forward and backward), no more and no fewer, is in
    the floor: the GCN layers' and the critic's and attention's (in bf16 too, whose GCN
    products run in bfloat16; forced here where the CPU only emulates it)."""
    import fastspami._kernels.precision as precision

    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    rng = np.random.default_rng(0)
    config = get_preset("simulated").with_overrides(hidden_dim=32, latent_dim=16, **overrides)
    coords = np.stack(np.meshgrid(np.arange(10), np.arange(5)), -1).reshape(-1, 2).astype(float)
    xs = [torch.from_numpy(rng.normal(size=(N_SPOTS, d)).astype(np.float32)) for d in DIMS]
    seed_everything(0)
    module = build_module(DIMS, config)
    assert module.precision == config.precision
    ops = GraphOperators.from_coordinates(coords, config.k, torch.device("cpu"))
    optimizer = Adam(module.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(0)
    perm = torch.randperm(N_SPOTS, generator=generator)
    weights = config.loss_weights(len(xs))
    uses_onednn()  # its one-time probe multiplies two small matrices: not the epoch's
    with _RecordProducts() as recorder:
        train_epoch(module, optimizer, xs, perm, ops, None, weights, generator)
    assert recorder.shapes == _expected(config)


def test_epoch_products_rejects_an_unknown_set():
    with pytest.raises(ValueError, match="'gcn' or 'other'"):
        epoch_products(10, DIMS, get_preset("simulated"), "all")


def test_bench_command_writes_the_scaling_table_and_plot(tmp_path):
    """``spami bench``: one row per size with both floors, and the log-log plot."""
    import pandas as pd

    from fastspami.benchmark.scaling import SCALING_COLUMNS
    from fastspami.cli import main

    argv = ["bench", "--sizes", "300", "600", "--epochs-timed", "1", "--full-epochs", "0"]
    assert main([*argv, "--threads", "1", "--out", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "scaling.csv")
    assert list(table.columns) == SCALING_COLUMNS and len(table) == 2
    assert table["n_spots"].is_monotonic_increasing
    # the critic's and attention's products come on top of the GCN layers'
    assert (table["gemm_all_s"] > table["gemm_s"]).all()
    assert (table["epoch_over_gemm_all"] < table["epoch_over_gemm"]).all()
    assert (tmp_path / "scaling.png").stat().st_size > 0


SINGLE_CELL_STACK = ("scanpy", "anndata", "mudata", "squidpy", "leidenalg", "igraph")


def test_bench_on_random_features_runs_without_the_single_cell_stack(tmp_path):
    """``--feature-dims`` needs numpy, torch and SpaMI alone, as on a stock PyTorch GPU node."""
    import os
    import subprocess
    import sys

    import pandas as pd

    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        f"import sys\nfor name in {SINGLE_CELL_STACK!r}:\n    sys.modules[name] = None\n"
    )
    path = os.pathsep.join(p for p in (str(blocker), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    blocked = subprocess.run([sys.executable, "-c", "import scanpy"], env=env, capture_output=True)
    assert blocked.returncode != 0  # the blocker works, so the run below proves something
    argv = ["bench", "--sizes", "300", "--feature-dims", "20", "10", "--epochs-timed", "1"]
    argv += ["--full-epochs", "0", "--threads", "1", "--out", str(tmp_path / "bench")]
    run = subprocess.run(
        [sys.executable, "-m", "fastspami.cli", *argv], env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    table = pd.read_csv(tmp_path / "bench" / "scaling.csv")
    assert table["feature_dims"].tolist() == ["20+10"]
    assert table["preprocess_s"].isna().all() and (table["epoch_s"] > 0).all()


def test_floor_products_are_grouped_to_fit_in_memory():
    """At 10^6 spots all the floor's matrices would take 30 GB: they are timed in groups
    that fit, every product once and in order; up to 10^5 spots in one group."""
    from fastspami.benchmark.scaling import FLOOR_MEMORY_BYTES, groups_within, product_bytes

    config = get_preset("simulated")
    for n, expected_groups in ((99_856, 1), (1_000_000, 12)):
        products = epoch_products(n, [50, 100], config)
        groups = groups_within(products, FLOOR_MEMORY_BYTES)
        assert [p for group in groups for p in group] == products
        assert len(groups) == expected_groups
        for group in groups:
            assert len(group) == 1 or sum(product_bytes(*p) for p in group) <= FLOOR_MEMORY_BYTES
    assert product_bytes(10, 3, 4, False) == 4 * (30 + 24 + 80)


def test_floor_timed_in_small_groups(monkeypatch):
    """A floor timed product by product is still the sum of positive times."""
    import fastspami.benchmark.scaling as bench

    config = get_preset("simulated")
    monkeypatch.setattr(bench, "FLOOR_MEMORY_BYTES", 1)  # one product per group
    for kernel in ("torch", "model"):
        seconds = bench.time_gemms(200, DIMS, config, threads=1, repeats=1, kernel=kernel)
        assert 0 < seconds < 10


def test_bench_trains_each_precision_on_the_same_data(tmp_path):
    """``--precision float32 bf16``: one row per size and precision, saying what was asked
    for and what ran (bf16 where this CPU has it, else float32), on the same data."""
    import pandas as pd
    import torch

    from fastspami._kernels.precision import bf16_supported
    from fastspami.cli import main

    argv = ["bench", "--sizes", "300", "--precision", "float32", "bf16", "--epochs-timed", "1"]
    assert main([*argv, "--full-epochs", "0", "--threads", "1", "--out", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "scaling.csv")
    ran = "bf16" if bf16_supported(torch.device("cpu")) else "float32"
    assert table["precision_requested"].tolist() == ["float32", "bf16"]
    assert table["precision"].tolist() == ["float32", ran]
    assert table["n_spots"].nunique() == 1 and table["preprocess_s"].nunique() == 1
    assert (table["epoch_s"] > 0).all() and (table["gemm_s"] > 0).all()


def test_bench_floor_in_bfloat16_times_the_same_products():
    """The bf16 floor multiplies the same shapes in bfloat16 (positive, finite seconds)."""
    import fastspami.benchmark.scaling as bench

    config = get_preset("simulated")
    seconds = bench.time_gemms(200, DIMS, config, threads=1, repeats=1, kernel="torch",
                               dtype="bfloat16")  # fmt: skip
    assert 0 < seconds < 10
