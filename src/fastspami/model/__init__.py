"""SpaMI's model: presets (the paper's settings), the network (``module``), its sparse
graph operators, its losses, the training loop and tiled training for large sections.

Layers inside: presets <- operators <- module <- losses <- tiling <- train."""

from fastspami._utils.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "PRESETS": "presets",
        "SpaMIConfig": "presets",
        "TrainedSpaMI": "train",
        "fit_spami": "train",
        "get_preset": "presets",
    },
)
