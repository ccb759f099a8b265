"""Checking SpaMI's settings before training: what the workflow runs at parse time."""

from __future__ import annotations

import inspect

import pytest

from spami.errors import ConfigError
from spami.methods.spami_method import integrate
from spami.presets import INTEGRATE_KEYS, check_settings


def test_check_settings_knows_every_keyword_of_integrate():
    keywords = {
        name
        for name, param in inspect.signature(integrate).parameters.items()
        if param.kind is inspect.Parameter.KEYWORD_ONLY
    }
    assert keywords - {"seed", "threads", "device"} == set(INTEGRATE_KEYS)
    check_settings(
        {
            "preset": "robust",
            "epochs": 10,
            "weights": [None, None, None, None, 0],
            "exclude_modalities": ["rna"],
            "n_comps": 20,
            "tile_spots": 500,
        }
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"epoch": 300}, r"Unknown SpaMI setting\(s\) \['epoch'\]"),
        ({"preset": "simulate"}, "Unknown SpaMI preset 'simulate'"),
        ({"fusion": "sum"}, "fusion must be one of"),
        ({"weights": [None, 1, 1]}, "null entries but not the preset's length 5"),
    ],
)
def test_check_settings_names_what_is_wrong(settings, message):
    with pytest.raises(ConfigError, match=message):
        check_settings(settings)
