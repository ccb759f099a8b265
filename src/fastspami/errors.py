"""Exceptions raised by spami, each carrying a message that names the problem and the fix."""


class SpamiError(Exception):
    """Base class for every error spami raises on purpose."""


class InputDataError(SpamiError, ValueError):
    """The input data violate the data contract (see README, 'The data contract')."""


class ConfigError(SpamiError, ValueError):
    """A configuration value is unknown or out of range."""


class MethodUnavailableError(SpamiError, RuntimeError):
    """A method's dependency (an R package, a Python package) is missing."""


class TrainingDivergedError(SpamiError, FloatingPointError):
    """Training produced a non-finite loss."""


class ClusteringFailedError(SpamiError, RuntimeError):
    """A clustering algorithm could not fit the embedding (e.g. Mclust returned NULL)."""


class ChecksumError(SpamiError, ValueError):
    """A downloaded file does not match its published checksum."""


class MethodNotApplicableError(ConfigError):
    """A method cannot take this input (e.g. SpatialGlue with three modalities)."""


class OutputPathError(SpamiError, OSError):
    """An output cannot be written there: a folder, a read-only place, a full disk, a name
    too long, or the input itself."""
