"""User-facing errors.

Everything ``core`` raises for bad input or an impossible request is an
``InkwellError``: its message is written for the person using the app (it names
the file and the reason), so the CLI and the GUI can show it as-is instead of a
traceback.
"""

from __future__ import annotations


class InkwellError(Exception):
    """An error whose message is meant for the user."""


class NetworkRefused(InkwellError, PermissionError):
    """A connection to a non-local address was attempted and refused by the guard."""


class JobCancelled(InkwellError):
    """A long job stopped because the user asked it to."""

    def __init__(self, message: str = "cancelled") -> None:
        super().__init__(message)


class BadModelFile(InkwellError):
    """A file given as a model is not a usable GGUF model."""


class DataDirBusy(InkwellError):
    """Another Inkwell process is already changing the same data directory."""
