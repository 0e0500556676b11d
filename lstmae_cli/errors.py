"""The tool's own error types and exit codes."""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    ANOMALIES_FOUND = 3
    INTERRUPTED = 130


class LstmaeError(Exception):
    """An error the user can fix; the CLI prints it as one line and exits 1."""


class InputError(LstmaeError):
    """Bad data: unreadable file, missing or non-numeric column, too few rows."""


class BundleError(LstmaeError):
    """A model file that is not a valid lstmae bundle."""


class UsageError(LstmaeError):
    """Options that contradict each other or are out of range (exit 2)."""


class ArgumentError(UsageError):
    """A usage error the CLI shows with the command's usage line (an argument in the wrong
    place: a data file given as MODEL)."""


class LstmaeWarning(UserWarning):
    """Something the user should know that does not stop the run (one line on stderr)."""


def listed(names, most: int = 3) -> str:
    """The first `most` of `names` for a message, joined, with ", ..." when there are more."""
    names = list(names)
    return ", ".join(map(str, names[:most])) + (", ..." if len(names) > most else "")
