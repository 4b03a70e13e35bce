"""Which array library, device and dtype facefit computes with: :class:`Backend`.

Compute code takes its backend from its input arrays (:func:`backend_of`); the *active*
backend (:func:`get_backend`) only chooses where new arrays are created. It is read from
``FACEFIT_BACKEND`` / ``FACEFIT_DEVICE`` / ``FACEFIT_DTYPE`` on first use, and changed with
:func:`use_backend` (a context manager) or :func:`set_backend`. It is held in a
:class:`contextvars.ContextVar`, so threads and asyncio tasks each see their own.
:class:`BackendSpec` names a backend in a picklable way, for worker processes.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import array_api_compat

from ..errors import BackendError
from ._convert import array_namespace, to_numpy
from ._library import ArrayLibrary
from ._table import LIBRARIES, array_library, library_of_namespace

Array = Any

__all__ = [
    "BACKEND_NAMES",
    "DTYPE_NAMES",
    "Backend",
    "BackendSpec",
    "available_backends",
    "backend_of",
    "get_backend",
    "set_backend",
    "use_backend",
]

#: Public backend names; "array-api-strict" exists to exercise the standard-only code paths.
BACKEND_NAMES = tuple(entry.name for entry in LIBRARIES)
DTYPE_NAMES = ("float64", "float32")


@dataclass(frozen=True)
class Backend:
    """An array library, a device on it and a floating dtype: everything facefit computes with.

    Attributes
    ----------
    name : "numpy", "torch", "cupy" or "array-api-strict".
    xp : the array-API namespace (array-api-compat's wrapper for numpy, torch and cupy).
    device : the device arrays are created on (``"cpu"`` for numpy).
    dtype : the real floating dtype (float64 or float32) of ``xp``.
    complex_dtype : the matching complex dtype, used by the complex-step Jacobian.
    jacobian_strategies : the automatic Jacobian strategies this backend offers, preferred first.
    """

    name: str
    xp: Any = field(repr=False)
    device: Any
    dtype: Any
    complex_dtype: Any = field(repr=False)
    jacobian_strategies: tuple[str, ...] = ("complex-step",)

    @property
    def library(self) -> ArrayLibrary:
        """The :class:`~facefit.backends.ArrayLibrary` this backend computes with."""
        return array_library(self.name)

    @property
    def dtype_name(self) -> str:
        """``"float64"`` or ``"float32"``."""
        return "float64" if self.dtype == self.xp.float64 else "float32"

    @property
    def spec(self) -> BackendSpec:
        """This backend as a picklable :class:`BackendSpec` (``spec.resolve()`` gives it back)."""
        return BackendSpec(self.name, self.library.device_key(self.device), self.dtype_name)

    @property
    def automatic_jacobian(self) -> str:
        """The strategy used for residual terms that have no analytic Jacobian."""
        return self.jacobian_strategies[0]

    def asarray(self, x: Any, dtype: Any = None) -> Array:
        """``x`` (any array, nested sequence or scalar) as an array of this backend and device.

        Floating input becomes :attr:`dtype` (complex input :attr:`complex_dtype`) unless ``dtype``
        is given; integer and boolean input keep their kind.
        """
        xp = self.xp
        if not self.owns(x):
            # Through NumPy, so that Python floats stay float64 (torch would make them float32).
            x = to_numpy(x)
        arr = xp.asarray(x, device=self.device)
        if dtype is None:
            if xp.isdtype(arr.dtype, "real floating"):
                dtype = self.dtype
            elif xp.isdtype(arr.dtype, "complex floating"):
                dtype = self.complex_dtype
        if dtype is not None and arr.dtype != dtype:
            arr = xp.astype(arr, dtype)
        return arr

    def owns(self, x: Any) -> bool:
        """Whether ``x`` is already an array of this backend's library."""
        return self.library.owns_array(x)

    def blas_threads(self, count: int | None) -> contextlib.AbstractContextManager[Any]:
        """A context that caps the host compute threads at ``count``: the BLAS pools (NumPy)
        or torch's CPU intra-op threads. A no-op on other backends, as is ``count=None``.
        """
        return self.library.thread_limit(count)

    def blas_thread_count(self) -> int | None:
        """Threads the host BLAS pool (NumPy) or torch's CPU intra-op pool runs now; None on
        other backends."""
        return self.library.thread_count()

    def to_numpy(self, x: Array) -> Any:
        """``x`` as a NumPy array on the host (a copy only where one is needed)."""
        return to_numpy(x)

    def jacobian(
        self,
        fun: Callable[[Array], Array],
        x: Array,
        strategy: str | None = None,
        *,
        batched: bool = False,
    ) -> Array:
        """Automatic Jacobian of ``fun`` at ``x``: complex step or (torch) forward-mode autograd.

        Parameters
        ----------
        fun : maps an (n,) array to an (m,) array (complex-safe for ``"complex-step"``).
        x : (n,) array of this backend.
        strategy : one of :attr:`jacobian_strategies` (a user's choice is checked by
            :func:`facefit.fit.inputs.check_jacobian`); None picks :attr:`automatic_jacobian`.
        batched : for complex step, ``fun`` also accepts (b, n) and returns (b, m).

        Returns
        -------
        (m, n) array.
        """
        return self.library.jacobian(strategy or self.automatic_jacobian, fun, x, self.xp,
                                     batched=batched)


@dataclass(frozen=True)
class BackendSpec:
    """A backend by name, device and dtype: what a worker process needs to use the same one.

    Unlike :class:`Backend` (which holds the library's namespace) it pickles, and it compares
    and hashes by its three fields. ``resolve()`` gives the :class:`Backend`.

    Attributes
    ----------
    name : a library's name or alias (see :data:`BACKEND_NAMES`).
    device : the library's device text (``"cpu"``, ``"cuda:1"``); None for its default.
    dtype : ``"float64"`` or ``"float32"``.
    """

    name: str
    device: str | None = None
    dtype: str = "float64"

    def resolve(self) -> Backend:
        """The :class:`Backend` this names (the same object for equal specs).

        Raises
        ------
        BackendError
            If the library, device or dtype is unknown or unusable here.
        """
        return _make_backend(self.name, self.device, self.dtype)


@functools.cache
def _create(name: str, device_key: str, dtype_name: str) -> Backend:
    entry = array_library(name)
    if dtype_name not in entry.dtypes:
        raise BackendError(f"dtype {dtype_name!r} is not available on the {name} backend; "
                           f"valid choices: {', '.join(entry.dtypes)}")
    xp = entry.namespace()
    dtype = getattr(xp, dtype_name)
    complex_dtype = xp.complex128 if dtype_name == "float64" else xp.complex64
    return Backend(entry.name, xp, entry.device(device_key), dtype, complex_dtype,
                   entry.jacobian_strategies)


def _make_backend(name: str, device: Any = None, dtype: Any = None) -> Backend:
    entry = array_library(name)
    dtype_name = _normalize_dtype(dtype)
    try:
        entry.namespace()  # an uninstalled library is named before its devices are asked about
    except BackendError as exc:
        raise BackendError(f"{exc}; usable here: {', '.join(available_backends()) or 'none'}"
                           ) from exc.__cause__
    key = entry.device_key(entry.device(None if device is None else str(device)))
    return _create(entry.name, key, dtype_name)


def _normalize_dtype(dtype: Any) -> str:
    if dtype is None:
        return "float64"
    text = str(dtype).strip().lower().rsplit(".", 1)[-1]
    text = {"double": "float64", "float": "float32", "single": "float32", "f8": "float64",
            "f4": "float32"}.get(text, text)
    if text not in DTYPE_NAMES:
        raise BackendError(f"unknown dtype {dtype!r}; valid choices: {', '.join(DTYPE_NAMES)}")
    return text


def _from_environment() -> Backend:
    name = os.environ.get("FACEFIT_BACKEND", "").strip() or "numpy"
    device = os.environ.get("FACEFIT_DEVICE", "").strip() or None
    dtype = os.environ.get("FACEFIT_DTYPE", "").strip() or None
    try:
        return _make_backend(name, device, dtype)
    except BackendError as exc:
        raise BackendError(f"environment (FACEFIT_BACKEND={name!r}): {exc}") from None


_current: contextvars.ContextVar[Backend | None] = contextvars.ContextVar(
    "facefit_backend", default=None
)


def get_backend() -> Backend:
    """The active :class:`Backend`: where new arrays are created (from the environment until
    :func:`use_backend` or :func:`set_backend` chooses another).

    Raises
    ------
    BackendError
        If the environment names an unknown or unusable backend, device or dtype.
    """
    backend = _current.get()
    if backend is None:
        backend = _from_environment()
        _current.set(backend)
    return backend


def _select(name: str | Backend | BackendSpec, device: Any, dtype: Any) -> Backend:
    if isinstance(name, Backend):
        name = name.spec
    if isinstance(name, BackendSpec):
        return _make_backend(name.name, device if device is not None else name.device,
                             dtype if dtype is not None else name.dtype)
    return _make_backend(name, device, dtype)


def use_backend(name: str | Backend | BackendSpec, device: Any = None, dtype: Any = None
                ) -> contextlib.AbstractContextManager[Backend]:
    """A context manager making a backend the active one, and restoring the previous one.

    The backend is resolved (and a bad one refused) when this is called; it is active only
    inside the ``with`` block. To change it for the rest of the program, :func:`set_backend`.

    Parameters
    ----------
    name : "numpy", "torch", "cupy" (or "array-api-strict", for testing), a :class:`Backend`
        or a :class:`BackendSpec`.
    device : e.g. "cpu", "cuda:0"; None is the library's default (cpu; the current GPU for
        cupy), or the given backend's own.
    dtype : "float64" (default) or "float32"; a library dtype object is accepted too.

    Raises
    ------
    BackendError
        For an unknown or unusable library, device or dtype.

    Examples
    --------
    >>> import facefit as ff
    >>> with ff.use_backend("numpy", dtype="float32") as backend:
    ...     backend.dtype_name
    'float32'
    """
    return _Activation(_select(name, device, dtype))


class _Activation:
    """What :func:`use_backend` returns: activates its backend for a ``with`` block only.

    ``ff.use_backend("torch")`` as a plain call once set the backend for good (the API's first
    form); now it would change nothing, silently, so a call never used in a ``with`` warns
    when it is dropped and names :func:`set_backend`.
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._tokens: list[contextvars.Token[Backend | None]] = []
        self._entered = False

    def __enter__(self) -> Backend:
        self._entered = True
        self._tokens.append(_current.set(self.backend))
        return self.backend

    def __exit__(self, *exc_info: object) -> None:
        _current.reset(self._tokens.pop())

    def __del__(self) -> None:
        if not self._entered:
            warnings.warn(
                f"use_backend({self.backend.name!r}) outside a 'with' block changes nothing; "
                f"to change the backend from now on, call facefit.set_backend"
                f"({self.backend.name!r})", RuntimeWarning, stacklevel=2)


def set_backend(name: str | Backend | BackendSpec, device: Any = None, dtype: Any = None
                ) -> Backend:
    """Make a backend the active one from now on (in this thread or task); returns it.

    Parameters and errors as :func:`use_backend`.
    """
    backend = _select(name, device, dtype)
    _current.set(backend)
    return backend


def backend_of(*arrays: Any) -> Backend:
    """The :class:`Backend` (library, device, floating dtype) that ``arrays`` live on.

    Compute code takes its backend from here rather than from :func:`get_backend`: it then
    works on whatever its caller passes. ``None`` and Python scalars are ignored.

    Parameters
    ----------
    *arrays : arrays of one library, on one device.

    Returns
    -------
    Backend
        Its dtype is the result type of the floating arrays (float32 for float32 or complex64
        alone); with no floating array, the active backend's dtype.

    Raises
    ------
    BackendError
        For no array, arrays of several libraries or devices, or of a library facefit has no
        module for.
    """
    found = [x for x in arrays if x is not None and not isinstance(x, bool | int | float | complex)]
    if not found:
        raise BackendError("backend_of: no arrays given")
    try:
        xp = array_namespace(*found)
    except TypeError as exc:
        raise BackendError(f"backend_of: {exc}") from None
    entry = library_of_namespace(xp)
    if entry is None:
        raise BackendError(f"backend_of: arrays of {getattr(xp, '__name__', xp)!r}, which no "
                           f"facefit backend computes with; valid: {', '.join(BACKEND_NAMES)}")
    keys = {entry.device_key(array_api_compat.device(x)) for x in found}
    if len(keys) > 1:
        raise BackendError(f"backend_of: arrays on several devices: {', '.join(sorted(keys))}")
    floating = [x.dtype for x in found
                if xp.isdtype(x.dtype, ("real floating", "complex floating"))]
    if floating:
        common = xp.result_type(*floating)
        dtype_name = "float64" if common in (xp.float64, xp.complex128) else "float32"
    else:
        dtype_name = get_backend().dtype_name
    return _create(entry.name, keys.pop(), dtype_name)


def available_backends() -> list[str]:
    """Names of the backends usable on this machine (cupy only with a working GPU)."""
    return [entry.name for entry in LIBRARIES if entry.is_available()]
