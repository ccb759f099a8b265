"""Mixed precision (``precision: bf16``): detection, fallback, the products' numbers, and
training that finds the float32 model's domains."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from fastspami._kernels import precision as precision_kernels
from fastspami._kernels.dense import matmul, matmul_bias_relu, relu_matmul
from fastspami.clustering.algorithms import leiden_n_clusters
from fastspami.data.simulation import simulate
from fastspami.errors import ConfigError
from fastspami.methods.spami_method import integrate
from fastspami.model.presets import SpaMIConfig, get_preset
from fastspami.model.train import fit_spami


@pytest.fixture
def cpu_flags(monkeypatch):
    """``cpu_flags('...')`` makes /proc/cpuinfo's flags (and Arm Features) read as given."""

    def set_flags(flags: str, features: str = "") -> None:
        fields = {"flags": flags, "Features": features}
        monkeypatch.setattr(precision_kernels, "cpu_info", lambda field: fields.get(field, ""))
        precision_kernels.cpu_has_native_bf16.cache_clear()

    yield set_flags
    precision_kernels.cpu_has_native_bf16.cache_clear()


@pytest.fixture
def bf16_cpu(cpu_flags):
    """A CPU that multiplies bfloat16 natively, whatever this one is (torch's bfloat16
    kernels run everywhere; where the CPU lacks it they emulate it, only slower)."""
    cpu_flags("fpu avx2 avx512f avx512_bf16")
    if not precision_kernels.cpu_has_native_bf16():
        pytest.skip("this torch build's oneDNN runs no bfloat16")


@pytest.mark.parametrize(
    ("flags", "features", "native"),
    [
        ("fpu avx2 avx512f avx512_bf16", "", True),  # AMD Zen 4/5, Intel Cooper Lake
        ("fpu avx2 avx512f amx_bf16 amx_tile", "", True),  # Intel Sapphire Rapids
        ("", "fp asimd bf16 i8mm", True),  # Arm Neoverse V1/N2
        ("fpu avx2 avx512f avx512bw", "", False),  # AVX-512 without BF16 (Zen 3 has none)
        ("fpu avx2", "", False),
    ],
)
def test_native_bf16_is_read_from_the_cpu_flags(cpu_flags, flags, features, native):
    cpu_flags(flags, features)
    if native and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        pytest.skip("this torch build's oneDNN runs no bfloat16")
    assert precision_kernels.bf16_supported(torch.device("cpu")) is native


def test_bf16_falls_back_to_float32_with_a_message(cpu_flags, caplog):
    """Without native bfloat16 the run says so, trains in float32 (the float32 model, bit
    for bit) and records the precision that ran."""
    cpu_flags("fpu avx2 avx512f")
    mdata = simulate("rna_adt", grid_size=8, n_rna=60, n_adt=20, seed=0)
    with caplog.at_level(logging.WARNING):
        fallback = integrate(mdata, seed=0, epochs=5, precision="bf16", progress=False)
    assert "precision 'bf16' was asked for" in caplog.text
    assert "AVX512-BF16" in caplog.text and "float32" in caplog.text
    assert fallback.uns["precision"] == "float32"
    assert fallback.uns["config"]["precision"] == "bf16"  # what was asked for
    plain = integrate(mdata, seed=0, epochs=5, progress=False)
    assert plain.uns["precision"] == "float32"
    np.testing.assert_array_equal(fallback.embedding, plain.embedding)


def test_precision_is_a_validated_setting():
    assert get_preset("simulated").precision == "float32"  # the paper's numbers by default
    assert get_preset("simulated").with_overrides(precision="bf16").precision == "bf16"
    with pytest.raises(ConfigError, match=r"precision must be one of \['float32', 'bf16'\]"):
        SpaMIConfig(precision="fp16")


def _products(fn, leaves, upstream):
    for leaf in leaves:
        leaf.grad = None
    out = fn(*leaves)
    (out.float() * upstream).sum().backward()
    return out, [leaf.grad for leaf in leaves]


@pytest.mark.parametrize("kind", ["matmul", "relu_matmul", "matmul_bias_relu"])
def test_bf16_products_keep_float32_weights_and_gradients(bf16_cpu, kind):
    """Each layer product in bfloat16 gives float32's values and gradients to bfloat16's
    rounding (a relative 2^-9 per operand: about 0.3 % over the whole array), and the
    gradients of the float32 weights, bias and inputs
    come back in float32."""
    torch.manual_seed(0)
    x = torch.randn(300, 40, requires_grad=True)
    w = (torch.randn(40, 64) / 40**0.5).requires_grad_()
    b = torch.randn(64, requires_grad=True)
    upstream = torch.randn(300, 64)
    with torch.no_grad():  # no gradient where bfloat16's rounding may flip a ReLU
        upstream[(x @ w + b).abs() < 0.05] = 0.0
        x[x.abs() < 0.02] = 0.1
    bf16 = torch.bfloat16
    mixed, reference, leaves = {
        "matmul": (lambda x, w: matmul(x, w, bf16), lambda x, w: x @ w, [x, w]),
        "relu_matmul": (
            lambda x, w: relu_matmul(x * 1.0, w, bf16),
            lambda x, w: torch.relu(x) @ w,
            [x, w],
        ),
        "matmul_bias_relu": (
            lambda x, w, b: matmul_bias_relu(x, w, b, bf16),
            lambda x, w, b: torch.relu(x @ w + b),
            [x, w, b],
        ),
    }[kind]
    out, grads = _products(mixed, leaves, upstream)
    want, want_grads = _products(reference, leaves, upstream)
    # the hidden activation stays in bfloat16 for the next product; the others are float32
    assert out.dtype == (bf16 if kind == "matmul_bias_relu" else torch.float32)
    assert [g.dtype for g in grads] == [torch.float32] * len(leaves)
    for got, expected in zip([out.float(), *grads], [want, *want_grads], strict=True):
        assert (got - expected).norm() <= 1e-2 * expected.norm()
        assert not torch.equal(got, expected)  # bfloat16 did run


def test_bf16_training_finds_the_float32_models_domains(bf16_cpu):
    """The issue's test: bf16 training on a small simulation reaches the float32 embedding's
    clustering (ARI between their Leiden labels at least 0.9), repeats itself for one seed,
    and records its precision."""
    mdata = simulate("rna_adt", grid_size=20, seed=0)
    runs = {
        precision: integrate(mdata, seed=0, epochs=150, precision=precision, progress=False)
        for precision in ("float32", "bf16")
    }
    again = integrate(mdata, seed=0, epochs=150, precision="bf16", progress=False)
    assert runs["bf16"].uns["precision"] == "bf16" and runs["float32"].uns["precision"] == "float32"
    np.testing.assert_array_equal(runs["bf16"].embedding, again.embedding)
    assert not np.array_equal(runs["bf16"].embedding, runs["float32"].embedding)
    labels = {p: leiden_n_clusters(r.embedding, 5, seed=0).labels for p, r in runs.items()}
    assert adjusted_rand_score(labels["float32"], labels["bf16"]) >= 0.9


def test_cudas_bf16_path_runs_on_the_cpu(bf16_cpu, monkeypatch, dense_kernel):
    """What a GPU runs in bf16 (torch.mm in bfloat16, torch's sparse CSR products and loss
    expressions), forced on the CPU, trains like the CPU kernels in bf16 (to bfloat16's
    rounding over ten epochs; no dropout, whose CPU masks come from another generator)."""
    rng = np.random.default_rng(0)
    coords = rng.uniform(size=(150, 2))
    features = [rng.normal(size=(150, 12)), rng.normal(size=(150, 8))]
    cfg = get_preset("simulated").with_overrides(epochs=10, dropout=0.0, precision="bf16")
    cpu = fit_spami(features, coords, cfg, seed=0, progress=False)
    monkeypatch.setenv("SPAMI_SPARSE", "torch")
    monkeypatch.setenv("SPAMI_FUSED", "0")
    dense_kernel("torch")
    portable = fit_spami(features, coords, cfg, seed=0, progress=False)
    assert cpu.precision == portable.precision == "bf16"
    np.testing.assert_allclose(portable.history["total"], cpu.history["total"], rtol=2e-2)
    scale = np.abs(cpu.embedding).max()
    assert np.abs(portable.embedding - cpu.embedding).max() <= 0.05 * scale
