"""The allowed values of SpaMI's settings and of a run's seed, threads and device.

One table, checked before any work: by :class:`fastspami.model.presets.SpaMIConfig` (so by
``integrate(...)`` and the workflow's parse of every variant), and by the command line's
argument types. A value outside its range raises :class:`~fastspami.errors.ConfigError` naming
the setting, the value and the range, e.g. ``epochs must be an integer >= 1, got 0.``

Standard library only: the workflow imports it at parse time, where torch may be absent.
"""

from __future__ import annotations

import math
import numbers
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fastspami.errors import ConfigError

# sklearn and NumPy's legacy RNG take seeds in [0, 2**32 - 1]; torch takes more, but one seed
# seeds all three (fastspami.model.train.seed_everything).
MAX_SEED = 2**32 - 1
DEVICE_PATTERN = re.compile(r"^(cpu|cuda(:[0-9]+)?)$")


@dataclass(frozen=True)
class Range:
    """What a setting may hold: an integer, a finite number or a bool, within bounds.

    ``low``/``high`` are inclusive unless ``low_open``/``high_open``; ``optional`` lets None
    through (the setting's "off", e.g. ``tile_spots``).
    """

    kind: str  # "integer", "number" or "bool"
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    optional: bool = False

    def describe(self) -> str:
        """The allowed values in words: 'an integer >= 1', 'a number in [0, 1)', 'true or false'."""
        if self.kind == "bool":
            return "true or false"
        noun = "an integer" if self.kind == "integer" else "a finite number"
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            text = f"{noun} in {left}{_num(self.low)}, {_num(self.high)}{right}"
        elif self.low is not None:
            text = f"{noun} {'>' if self.low_open else '>='} {_num(self.low)}"
        elif self.high is not None:
            text = f"{noun} {'<' if self.high_open else '<='} {_num(self.high)}"
        else:
            text = noun
        return text + (" (or null for none)" if self.optional else "")

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` is of the kind and within the bounds."""
        if value is None:
            return self.optional
        if self.kind == "bool":
            return (
                isinstance(value, bool) or getattr(getattr(value, "dtype", None), "kind", "") == "b"
            )
        if isinstance(value, bool):  # True is an Integral: never a count or a rate
            return False
        if self.kind == "integer" and not isinstance(value, numbers.Integral):
            return False
        if not isinstance(value, numbers.Real) or not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def check(self, name: str, value: Any) -> None:
        """Raise ConfigError unless ``value`` is allowed for setting ``name``."""
        if not self.accepts(value):
            raise ConfigError(f"{name} must be {self.describe()}, got {_shown(value)}.")


def _num(bound: float) -> str:
    return f"{bound:g}" if isinstance(bound, float) else str(bound)


def _shown(value: Any) -> str:
    """The value as the message shows it; text that reads as a number says why it failed."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return repr(value)
        return (
            f"{value!r}, text rather than a number (YAML reads 1e-3 as text: write 1.0e-3 or 0.001)"
        )
    return repr(value)


POSITIVE_INT = Range("integer", low=1)
COUNT = Range("integer", low=0)

# SpaMIConfig's fields (weights, fusion, scalings and preprocess have checks of their own).
CONFIG_RANGES: dict[str, Range] = {
    "k": POSITIVE_INT,
    "lr": Range("number", low=0, low_open=True),
    "epochs": POSITIVE_INT,
    "hidden_dim": POSITIVE_INT,
    "latent_dim": POSITIVE_INT,
    "dropout": Range("number", low=0, high=1, high_open=True),
    "early_stopping": Range("bool"),
    "patience": POSITIVE_INT,
    "min_delta": Range("number", low=0),
    "tile_spots": Range("integer", low=1, optional=True),
    "halo_hops": COUNT,
}
# Preprocessing settings (fastspami.pp.preprocess), given flat to integrate() or under 'preprocess'.
PREPROCESS_RANGES: dict[str, Range] = {
    "n_comps": POSITIVE_INT,
    "n_top_genes": POSITIVE_INT,
    "min_cells": COUNT,
    "min_cells_adt": COUNT,
}
# integrate()'s switches.
SWITCH_RANGES: dict[str, Range] = {
    "shuffle_coordinates": Range("bool"),
    "progress": Range("bool"),
}
# Every run's seed and threads (integrate(), the command line).
RUN_RANGES: dict[str, Range] = {
    "seed": Range("integer", low=0, high=MAX_SEED),
    "threads": POSITIVE_INT,
}


def check_ranges(settings: Mapping[str, Any], ranges: Mapping[str, Range]) -> None:
    """Check each setting of ``settings`` that ``ranges`` knows; the others are left alone."""
    for name, value in settings.items():
        if name in ranges:
            ranges[name].check(name, value)


def check_weights(weights: Any, *, allow_null: bool = False) -> None:
    """Loss weights: a list of finite numbers >= 0, 5 of them or 2M + 1 (M >= 1), not all 0.

    ``allow_null``: None entries keep the preset's weight (an override such as
    ``[null, null, null, null, 0]``); they are not counted as zero.
    """
    if isinstance(weights, str) or not isinstance(weights, Iterable):
        raise ConfigError(
            f"weights must be a list of 5 (w1..w5) or 2M + 1 numbers >= 0, got {weights!r}."
        )
    values = list(weights)
    given = [w for w in values if not (allow_null and w is None)]
    bad = [w for w in given if not Range("number", low=0).accepts(w)]
    if bad:
        raise ConfigError(
            f"weights must be finite numbers >= 0 (a weight of 0 switches its loss off), "
            f"got {values!r}."
        )
    if len(values) < 3 or len(values) % 2 == 0:
        raise ConfigError(
            f"weights must have 5 entries (w1..w5) or 2M + 1 for M modalities (contrastive "
            f"per modality, reconstruction per modality, cosine), got {len(values)}: {values!r}."
        )
    if len(given) == len(values) and not any(w > 0 for w in given):
        raise ConfigError(
            f"weights are all 0 ({values!r}): no loss would be trained. Give at least one "
            "weight > 0."
        )


def check_device(device: Any) -> None:
    """A torch device name SpaMI can use: 'cpu', 'cuda' or 'cuda:N'."""
    if not isinstance(device, str) or not DEVICE_PATTERN.match(device):
        raise ConfigError(
            f"device must be 'cpu', 'cuda' or 'cuda:N' (N = 0, 1, ...), got {device!r}."
        )


def check_run_options(*, seed: Any, threads: Any, device: Any) -> None:
    """The seed, threads and device every method is given."""
    check_ranges({"seed": seed, "threads": threads}, RUN_RANGES)
    check_device(device)


def check_modality_names(name: str, value: Any) -> None:
    """``modalities`` / ``exclude_modalities``: each modality named once."""
    if value is None or isinstance(value, str | int):
        return
    if not isinstance(value, Iterable) or not all(isinstance(v, str | int) for v in value):
        raise ConfigError(f"{name} must be a list of modality names, got {value!r}.")
    repeated = [item for item, count in Counter(value).items() if count > 1]
    if repeated:
        raise ConfigError(
            f"{name} names {repeated} more than once ({list(value)!r}); name each modality once."
        )
