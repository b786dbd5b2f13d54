"""Exception types. Every error a user can cause derives from :class:`AlogError`; the CLI turns these
into one-line messages and a non-zero exit, never a traceback."""

import errno as _errno


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


class OutputError(AlogError):
    """An output cannot be written: the disk is full, a quota or the file-size limit is reached, or the
    place is read-only or forbidden. `errno` keeps the cause for callers that name another place."""

    def __init__(self, message: str, errno: int | None = None):
        super().__init__(message)
        self.errno = errno


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived (the CLI turns both into this, so ``finally`` blocks and ``with`` exits
    remove partial files). A KeyboardInterrupt, so ``except Exception`` never swallows it."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


# What a failed write means for the user, by errno; `{where}` is the output file or folder.
_OUTPUT_ERRNOS = {
    _errno.ENOSPC: "no space left on the device holding {where}",
    _errno.EDQUOT: "disk quota exceeded on the device holding {where}",
    _errno.EFBIG: "file too large for the device holding {where} or for this process's file-size limit (ulimit -f)",
    _errno.EROFS: "{where} is on a read-only file system",
    _errno.EACCES: "permission denied writing to {where}",
    _errno.EPERM: "operation not permitted writing to {where}",
}


def output_error(exc: BaseException, where: object = None) -> OutputError | None:
    """`exc` (an OSError raised while writing under `where`, or an OutputError naming another place)
    as an OutputError naming `where` (else the file the OSError names); None for any other error."""
    code = exc.errno if isinstance(exc, (OSError, OutputError)) else None
    if code not in _OUTPUT_ERRNOS:
        return None
    if where is None:
        where = getattr(exc, "filename", None) or "an output file"
    return OutputError(_OUTPUT_ERRNOS[code].format(where=where), code)
