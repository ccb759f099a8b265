"""Fixtures shared by several test modules."""

from __future__ import annotations

import pytest
import torch

import fastspami._kernels.fused
from fastspami._kernels.dense import uses_onednn, weight_gradients_on_onednn


def _forget_kernel_choices() -> None:
    uses_onednn.cache_clear()
    weight_gradients_on_onednn.cache_clear()


@pytest.fixture
def dense_kernel(monkeypatch):
    """``dense_kernel('torch' | 'onednn')`` sets ``SPAMI_DENSE`` for the test: fastspami._kernels.dense's
    cached kernel choices are made afresh under it, and forgotten after the test so that
    they do not reach other tests."""

    def choose(kernel: str) -> None:
        monkeypatch.setenv("SPAMI_DENSE", kernel)
        _forget_kernel_choices()

    yield choose
    _forget_kernel_choices()


@pytest.fixture
def row_block_splits(monkeypatch):
    """The fused kernels split rows from 1 row up, on 2 threads, for this test; yields the
    row counts of the calls that did split (a test asserts it is not empty, or its
    two-thread case checked nothing)."""
    calls: list[int] = []
    split = fastspami._kernels.fused.run_in_row_blocks

    def counting(block, n_rows, threads):
        calls.append(n_rows)
        return split(block, n_rows, threads)

    monkeypatch.setattr(fastspami._kernels.fused, "MIN_ROWS_TO_SPLIT", 1)
    monkeypatch.setattr(fastspami._kernels.fused, "run_in_row_blocks", counting)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield calls
    torch.set_num_threads(before)
