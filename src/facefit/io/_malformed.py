"""The internal exception the file-format parsers raise; public functions add the file name."""

from __future__ import annotations

__all__ = ["Malformed", "is_number"]


class Malformed(ValueError):
    """A problem with a file's contents, described without the file's name."""


def is_number(token: str) -> bool:
    """Whether ``float(token)`` succeeds."""
    try:
        float(token)
    except ValueError:
        return False
    return True
