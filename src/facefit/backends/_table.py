"""The table of array libraries facefit can compute with, and lookups in it.

A new library (JAX, say) is one module implementing :class:`~._library.ArrayLibrary` and one
row here; nothing else names libraries.
"""

from __future__ import annotations

import functools
from typing import Any

from ..errors import BackendError
from . import _cupy, _numpy, _strict, _torch
from ._library import ArrayLibrary

__all__ = ["LIBRARIES", "array_library", "library_of_array", "library_of_namespace"]

#: Every library, in the order ``facefit info`` lists them; NumPy first, the default.
LIBRARIES: tuple[ArrayLibrary, ...] = (
    _numpy.LIBRARY,
    _torch.LIBRARY,
    _cupy.LIBRARY,
    _strict.LIBRARY,
)

_BY_NAME = {spelling: entry for entry in LIBRARIES for spelling in (entry.name, *entry.aliases)}


def array_library(name: str) -> ArrayLibrary:
    """The library called ``name`` (or one of its aliases, any case).

    Raises
    ------
    BackendError
        For a name no library has; the message lists the valid ones.
    """
    found = _BY_NAME.get(str(name).strip().lower())
    if found is None:
        users = ", ".join(entry.name for entry in LIBRARIES if not entry.testing_only)
        tests = ", ".join(entry.name for entry in LIBRARIES if entry.testing_only)
        raise BackendError(f"unknown backend {name!r}; valid choices: {users}"
                           + (f" (and {tests} for testing)" if tests else ""))
    return found


@functools.cache
def library_of_namespace(xp: Any) -> ArrayLibrary | None:
    """The library whose namespace ``xp`` is; None for a namespace of none of them."""
    return next((entry for entry in LIBRARIES if entry.owns_namespace(xp)), None)


def library_of_array(x: Any) -> ArrayLibrary | None:
    """The library ``x`` is an array of; None for anything else (lists, scalars, ...)."""
    return next((entry for entry in LIBRARIES if entry.owns_array(x)), None)
