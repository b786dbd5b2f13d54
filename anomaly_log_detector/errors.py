"""Exception types. Every error a user can cause derives from :class:`AlogError`; the CLI turns these
into one-line messages and a non-zero exit, never a traceback."""


class AlogError(Exception):
    """Base class of all errors caused by input, configuration or files."""


class InputError(AlogError):
    """A log source cannot be read (missing, unreadable, not a log)."""


class FormatError(AlogError):
    """A header format (preset or --log-format string) is invalid."""


class RulesError(AlogError):
    """A masking rules file or one of its rules is invalid."""


class StateError(AlogError):
    """A template-state file is invalid, foreign or unsafe to load."""


class DataError(AlogError):
    """A model input (parquet, vocab, sequences, labels) is missing or malformed."""


class ModelError(AlogError):
    """A detector is used before fit, or a model file is invalid."""


class BundleError(AlogError):
    """A model bundle is missing, tampered, truncated or of a foreign version."""
