"""Data in and out: the data contract (one MuData per dataset), simulated data, the
registry of real datasets, their download and conversion."""

from fastspami._utils.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "MODALITY_KINDS": "contract",
        "build_mudata": "contract",
        "read_mudata": "contract",
        "simulate": "simulation",
        "validate_mudata": "contract",
        "write_mudata": "contract",
    },
)
