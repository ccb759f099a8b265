"""Tiled training and inference for very large slices (10^5 - 10^6 spots).

The slice is cut into spatial tiles of about ``tile_spots`` spots (balanced by coordinate
quantiles). Each tile is padded with every spot within ``halo_hops`` hops of the graph;
the tile's operators are sub-blocks of the *global* normalized matrices, so for a halo of
at least (encoder layers + decoder layers) hops the interior spots' embeddings and
reconstructions are exactly those of the full graph. Training steps once per tile, with the
loss on interior spots only, in a freshly shuffled tile order each epoch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
import torch

from fastspami.model.module import SpaMIModule, forward_outputs

if TYPE_CHECKING:
    from fastspami.model.operators import GraphOperators


@dataclass
class Tile:
    """One tile: ``nodes`` (global indices, sorted; interior + halo), ``interior`` (positions
    of the interior spots within ``nodes``) and the restricted graph operators."""

    nodes: np.ndarray
    interior: np.ndarray
    ops: object
    nodes_tensor: torch.Tensor
    interior_tensor: torch.Tensor


def spatial_tiles(coords: np.ndarray, tile_spots: int) -> list[np.ndarray]:
    """Partition spots into about N / tile_spots rectangular tiles; returns index arrays.

    Columns are cut at x quantiles, then each column at its own y quantiles, so tiles hold
    similar numbers of spots on any layout.
    """
    n = len(coords)
    n_tiles = max(1, math.ceil(n / max(1, tile_spots)))
    n_cols = max(1, round(math.sqrt(n_tiles)))
    n_rows = max(1, math.ceil(n_tiles / n_cols))
    order_x = np.argsort(coords[:, 0], kind="stable")
    tiles = []
    for column in np.array_split(order_x, n_cols):
        order_y = column[np.argsort(coords[column, 1], kind="stable")]
        tiles.extend(np.sort(part) for part in np.array_split(order_y, n_rows) if len(part))
    return tiles


def expand_by_hops(adjacency: sp.csr_matrix, nodes: np.ndarray, hops: int) -> np.ndarray:
    """Sorted indices of ``nodes`` and every spot within ``hops`` hops of them."""
    mask = np.zeros(adjacency.shape[0], dtype=bool)
    mask[nodes] = True
    frontier = mask.copy()
    for _ in range(hops):
        reached = adjacency.T @ frontier.astype(np.float32) > 0
        frontier = reached & ~mask
        if not frontier.any():
            break
        mask |= frontier
    return np.flatnonzero(mask)


def build_tiles(
    coords: np.ndarray,
    ops: GraphOperators,
    tile_spots: int,
    halo_hops: int,
    device: torch.device,
) -> list[Tile]:
    """Tiles with halos and their restricted operators (``ops``: global GraphOperators)."""
    adjacency = ops.matrices[2]
    tiles = []
    for interior_global in spatial_tiles(coords, tile_spots):
        nodes = expand_by_hops(adjacency, interior_global, halo_hops)
        interior = np.searchsorted(nodes, interior_global)
        tiles.append(
            Tile(
                nodes=nodes,
                interior=interior,
                ops=ops.restrict(nodes, device),
                nodes_tensor=torch.as_tensor(nodes, device=device),
                interior_tensor=torch.as_tensor(interior, device=device),
            )
        )
    return tiles


@torch.no_grad()
def tiled_outputs(module: SpaMIModule, xs: list[torch.Tensor], tiles: list[Tile]) -> dict:
    """Eval-mode outputs for every spot, computed tile by tile (interiors only)."""

    n = xs[0].shape[0]
    out: dict = {}
    for tile in tiles:
        part = forward_outputs(module, [x[tile.nodes_tensor] for x in xs], tile.ops)
        rows = tile.nodes[tile.interior]
        for key, value in part.items():
            if value is None:
                out[key] = None
                continue
            values = value if isinstance(value, list) else [value]
            target = out.setdefault(
                key, [np.empty((n, v.shape[1]), dtype=np.float32) for v in values]
            )
            for buffer, v in zip(target, values, strict=True):
                buffer[rows] = v[tile.interior_tensor].cpu().numpy()
    for key in ("embedding", "attention"):
        if out.get(key) is not None:
            out[key] = out[key][0]
    return out
