"""Integration methods behind one interface (see :mod:`fastspami.methods.contract`):

    integrate(mdata, *, seed, threads, device, **params) -> IntegrationResult

Each method is one module here; a method's baseline package is imported only when it runs.
"""

from fastspami._utils.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "IntegrationResult": "contract",
        "load_method": "contract",
        "store_result": "contract",
    },
)
