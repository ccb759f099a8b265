"""Tools on a MuData, scanpy style: ``integrate`` its modalities with SpaMI, ``cluster``
an embedding into domains. Each writes into the MuData (``copy=False``) or returns a new
one (``copy=True``) and records its parameters in ``uns``."""

from fastspami._utils.lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {"cluster": "_cluster", "integrate": "_integrate"})
