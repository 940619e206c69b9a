"""Exceptions with messages meant for people: one line that says what went wrong and where."""


class PdfinferError(Exception):
    """Base class; the command-line entry points print these as one line and exit 1."""


class DataError(PdfinferError):
    """A data file is missing, unreadable, of the wrong format version or the wrong shape."""


class ParameterError(PdfinferError, ValueError):
    """Parameters are outside the prior box or have the wrong shape."""


class TrainingError(PdfinferError):
    """Training diverged (NaN or inf) or cannot continue."""


class ConfigError(PdfinferError, ValueError):
    """A setting has a value the code cannot use."""
