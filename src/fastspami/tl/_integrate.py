"""``tl.integrate``: SpaMI on a MuData, scanpy style (results written into the MuData)."""

from __future__ import annotations

from typing import Any

from fastspami.data.contract import prepare_mudata
from fastspami.errors import ConfigError
from fastspami.methods.contract import store_result
from fastspami.methods.spami_method import integrate as run_spami
from fastspami.model.presets import DEFAULT_PRESET, PRESETS, get_preset


def integrate(
    mdata: Any,
    *,
    preset: str = DEFAULT_PRESET,
    key_added: str = "X_spami",
    copy: bool = False,
    seed: int = 0,
    threads: int = 1,
    device: str = "cpu",
    modalities: Any = None,
    kinds: dict[str, str] | None = None,
    progress: bool = True,
    **settings: Any,
) -> Any | None:
    """Integrate the modalities of ``mdata`` with SpaMI.

    ``mdata`` is checked against the data contract first, exactly as ``spami integrate``
    checks a file (same spots in the same order in every modality, coordinates, counts).
    ``preset`` is ``robust`` (the default, for your own data) or one of the paper's settings
    (``simulated``, ``misar``, ``brain_p22``, ``thymus``, ``paper_default``) to reproduce it; ``settings`` override any of its fields (``epochs``, ``lr``,
    ``k``, ``weights``, ``fusion``, ``tile_spots``, ...; see :class:`SpaMIConfig`).

    Writes, with ``base`` = ``key_added`` without its ``X_`` prefix:

    - ``obsm[key_added]``: the integrated embedding (n_spots, 64);
    - ``obsm[f"{key_added}_{modality}"]``: each modality's embedding;
    - ``obsm[f"{base}_attention"]``: per-spot modality weights, a DataFrame whose columns
      are the modality names (rows sum to 1; absent with one modality or no attention);
    - ``mod[modality].obsm[f"{base}_reconstruction"]``: each decoder's output;
    - ``uns[base]``: ``params`` (the call's settings), ``version`` (of fastspami), the
      resolved ``config``, the loss history and ``epochs_run``.

    Returns the new MuData with ``copy=True``, else None (``mdata`` is changed in place).
    """
    if preset not in PRESETS:
        raise ConfigError(f"preset {preset!r} is not one of {sorted(PRESETS)}.")
    if not key_added or not isinstance(key_added, str):
        raise ConfigError(
            f"key_added must be a non-empty string such as 'X_spami'; got {key_added!r}."
        )
    target = mdata.copy() if copy else mdata
    prepare_mudata(target, k=settings.get("k") or get_preset(preset).k, kinds=kinds)
    result = run_spami(
        target,
        seed=seed,
        threads=threads,
        device=device,
        preset=preset,
        modalities=modalities,
        kinds=kinds,
        progress=progress,
        **settings,
    )
    params = {
        "preset": preset,
        "seed": seed,
        "threads": threads,
        "device": device,
        "modalities": modalities,
        **settings,
    }
    store_result(result, target, key_added=key_added, params=params)
    return target if copy else None
