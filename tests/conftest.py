"""Fixtures shared by several test modules."""

from __future__ import annotations

import pytest

from spami.dense import uses_onednn, weight_gradients_on_onednn


def _forget_kernel_choices() -> None:
    uses_onednn.cache_clear()
    weight_gradients_on_onednn.cache_clear()


@pytest.fixture
def dense_kernel(monkeypatch):
    """``dense_kernel('torch' | 'onednn')`` sets ``SPAMI_DENSE`` for the test: spami.dense's
    cached kernel choices are made afresh under it, and forgotten after the test so that
    they do not reach other tests."""

    def choose(kernel: str) -> None:
        monkeypatch.setenv("SPAMI_DENSE", kernel)
        _forget_kernel_choices()

    yield choose
    _forget_kernel_choices()
