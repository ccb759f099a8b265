"""SpaMI behind the common method interface, and the one-call Python API.

    integrate(mdata, *, seed, threads, device, preset='robust', **settings) -> IntegrationResult

Settings are any field of :class:`fastspami.model.presets.SpaMIConfig` (k, lr, epochs, weights,
fusion, hidden_dim, latent_dim, dropout, early_stopping, patience, min_delta, tile_spots,
halo_hops, input_scaling, reconstruction_scaling, preprocess) plus:

- ``modalities``: names or indices of the modalities to use (one -> single-modality SpaMI:
  one encoder and decoder, no attention, no cosine loss; the paper's Fig 3F/4F/6F);
- ``exclude_modalities``: names or indices to leave out (``[rna]`` = "the other modality
  only", whatever the scenario calls it);
- ``shuffle_coordinates``: train on spatially shuffled coordinates (a negative control);
- ``kinds``: modality types when the names do not tell (``{'foo': 'rna'}``);
- preprocessing: ``n_comps``, ``n_top_genes``, ``min_cells``, ``min_cells_adt``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from fastspami.data.contract import spatial_coordinates
from fastspami.errors import ConfigError, InputDataError
from fastspami.methods.contract import IntegrationResult
from fastspami.model.presets import DEFAULT_PRESET, PREPROCESS_KEYS, SpaMIConfig, get_preset
from fastspami.model.ranges import (
    PREPROCESS_RANGES,
    SWITCH_RANGES,
    check_modality_names,
    check_ranges,
    check_run_options,
)
from fastspami.model.train import fit_spami, resolve_device
from fastspami.pp.graph import shuffle_coordinates as shuffled
from fastspami.pp.preprocess import ModalityFeatures, preprocess_mudata, resolve_kinds

# Modules integrate() imports on first use (fastspami._kernels.fused compiles its kernels with Numba,
# tiled training needs fastspami.model.tiling): a workflow batch imports them once, before it forks a
# process per run (fastspami.benchmark.jobs.preload_methods), instead of once per run (0.6 s).
# Not scanpy (1.1 s): only data with more genes than n_top_genes need it.
LAZY_IMPORTS = ("numba", "fastspami.model.tiling")


def preload() -> None:
    """Warm up in a workflow batch's process, before it forks a process per run: import
    scanpy and load the compiled kernels with a two-epoch fit on 60 random spots (one
    thread, so no thread pool is started before the fork). Every run then starts from the
    same state, whatever its place in the batch, and its cost is its own."""
    import scanpy  # noqa: F401 (preprocessing imports it on first use)

    rng = np.random.default_rng(0)
    features = [rng.normal(size=(60, 8)).astype(np.float32) for _ in range(2)]
    config = get_preset("simulated").with_overrides(epochs=2)
    fit_spami(features, rng.uniform(size=(60, 2)), config, seed=0, threads=1, progress=False)


def select_modalities(names: list[str], wanted: Any) -> list[str]:
    """Resolve ``wanted`` (None, a name, an index, or a list of them) to modality names."""
    if wanted is None:
        return list(names)
    items = wanted if isinstance(wanted, list | tuple) else [wanted]
    check_modality_names("modalities", items)
    chosen = []
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool):
            if not 0 <= item < len(names):
                raise ConfigError(f"Modality index {item} out of range for modalities {names}.")
            chosen.append(names[item])
        elif item in names:
            chosen.append(item)
        else:
            raise ConfigError(f"Unknown modality {item!r}; this dataset has {names}.")
    return chosen


def integrate(
    mdata: Any,
    *,
    seed: int = 0,
    threads: int = 1,
    device: str = "cpu",
    preset: str = DEFAULT_PRESET,
    modalities: Any = None,
    exclude_modalities: Any = None,
    shuffle_coordinates: bool = False,
    kinds: dict[str, str] | None = None,
    progress: bool = True,
    **settings: Any,
) -> IntegrationResult:
    """Preprocess ``mdata``, train SpaMI and return its embeddings, attention and reconstructions.

    Every setting is checked before any work (fastspami.model.ranges): a value out of its
    range, an unknown device or CUDA that torch cannot use raises ConfigError.
    """
    check_run_options(seed=seed, threads=threads, device=device)
    check_ranges({"shuffle_coordinates": shuffle_coordinates, "progress": progress}, SWITCH_RANGES)
    check_modality_names("exclude_modalities", exclude_modalities)
    prep = {key: settings.pop(key) for key in PREPROCESS_KEYS if key in settings}
    check_ranges(prep, PREPROCESS_RANGES)
    used = select_modalities(list(mdata.mod), modalities)
    if exclude_modalities is not None:
        dropped = set(select_modalities(list(mdata.mod), exclude_modalities))
        used = [name for name in used if name not in dropped]
    if not used:
        raise ConfigError("No modality left to integrate after 'modalities'/'exclude_modalities'.")
    kind_of = resolve_kinds(mdata, kinds)
    used_kinds = [kind_of[name] for name in used]
    config: SpaMIConfig = get_preset(preset, kinds=used_kinds).with_overrides(**settings)
    config.loss_weights(len(used))  # a count that does not fit, or no loss left: now, not later
    resolve_device(device)  # 'cuda' where torch has none: now, not after preprocessing
    prep = {**config.preprocess, **prep}

    started = time.perf_counter()
    features = preprocess_mudata(mdata, kinds=kind_of, seed=seed, **prep)
    features = {name: features[name] for name in used}
    _refuse_constant(features)
    coords = spatial_coordinates(mdata)
    if shuffle_coordinates:
        coords = shuffled(coords, seed)
    preprocess_s = time.perf_counter() - started

    trained = fit_spami(
        [f.X for f in features.values()],
        coords,
        config,
        seed=seed,
        device=device,
        threads=threads,
        progress=progress,
    )
    result = IntegrationResult(
        method="spami",
        embedding=trained.embedding,
        modality_embeddings=dict(zip(used, trained.modality_embeddings, strict=True)),
        attention=trained.attention,
        attention_modalities=used if trained.attention is not None else [],
        reconstructions=dict(zip(used, trained.reconstructions, strict=True)),
        gene_space=_gene_space(features, trained.reconstructions),
        uns={
            "preset": preset,
            "config": _jsonable(config),
            "modalities": used,
            "shuffle_coordinates": bool(shuffle_coordinates),
            "seed": int(seed),
            "epochs_run": int(trained.epochs_run),
            # what ran: 'float32' where bf16 was asked for but the hardware lacks it
            "precision": trained.precision,
            "preprocess_seconds": float(preprocess_s),
            "loss_history": {
                k: np.asarray(v, dtype=np.float32) for k, v in trained.history.items()
            },
        },
    )
    result.check(mdata.n_obs)
    return result


def _refuse_constant(features: dict[str, ModalityFeatures]) -> None:
    """An InputDataError for a modality whose preprocessed spots are all alike (spots that
    differ only in depth: normalization makes them one profile): attention would weight
    a constant input. float32 arithmetic leaves differences of ~1e-6 of the values there."""
    for name, feat in features.items():
        x = np.asarray(feat.X, dtype=np.float64)
        spread = float(np.max(x.max(axis=0) - x.min(axis=0))) if x.size else 0.0
        if spread <= 1e-5 * max(1.0, float(np.abs(x).max(initial=0.0))):
            raise InputDataError(
                f"modality {name!r} has no signal after preprocessing: every spot has the "
                "same profile (its spots differ at most in depth, which normalization "
                "removes). Leave it out (modalities=[...] in Python, --modalities on the "
                "command line) or check its counts."
            )


def _gene_space(
    features: dict[str, ModalityFeatures], reconstructions: list[np.ndarray]
) -> dict[str, tuple[np.ndarray, list[str]]]:
    """RNA reconstructions mapped back to log-normalized HVG space via the fitted PCA."""
    out = {}
    for (name, feat), rec in zip(features.items(), reconstructions, strict=True):
        if feat.pca is not None:
            out[name] = (feat.pca.inverse_transform(rec).astype(np.float32), feat.feature_names)
    return out


def _jsonable(config: SpaMIConfig) -> dict[str, Any]:
    out = {}
    for key in config.__dataclass_fields__:
        value = getattr(config, key)
        out[key] = list(value) if isinstance(value, tuple) else value
    return out
