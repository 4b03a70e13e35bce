"""Which array library facefit computes with: selection, environment variables, conversions.

The active backend is read from ``FACEFIT_BACKEND`` / ``FACEFIT_DEVICE`` / ``FACEFIT_DTYPE`` on
first use and can be changed with :func:`use_backend`, as a plain setter or as a context manager.
It is held in a :class:`contextvars.ContextVar`, so threads and asyncio tasks each see their own.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from ..errors import BackendError, FitError
from . import _generic

Array = Any

__all__ = [
    "BACKEND_NAMES",
    "DTYPE_NAMES",
    "Backend",
    "available_backends",
    "get_backend",
    "use_backend",
]

#: Public backend names; "array-api-strict" exists to exercise the standard-only code paths.
BACKEND_NAMES = ("numpy", "torch", "cupy", "array-api-strict")
DTYPE_NAMES = ("float64", "float32")
_ALIASES = {"np": "numpy", "pytorch": "torch", "array_api_strict": "array-api-strict",
            "strict": "array-api-strict"}
_INSTALL_HINTS = {
    "torch": "pip install 'facefit[torch]'",
    "cupy": "pip install 'facefit[cupy]' on a machine with an NVIDIA GPU",
    "array-api-strict": "pip install array-api-strict",
}


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
    def dtype_name(self) -> str:
        """``"float64"`` or ``"float32"``."""
        return "float64" if self.dtype == self.xp.float64 else "float32"

    @property
    def automatic_jacobian(self) -> str:
        """The strategy used for residual terms that have no analytic Jacobian."""
        return self.jacobian_strategies[0]

    def asarray(self, x: Any, dtype: Any = None) -> Array:
        """``x`` (any array, nested sequence or scalar) as an array of this backend and device.

        Floating input becomes :attr:`dtype` (complex input :attr:`complex_dtype`) unless ``dtype``
        is given; integer and boolean input keep their kind.
        """
        from ._convert import to_numpy

        xp = self.xp
        if not _is_native(x, xp):
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
        """Whether ``x`` is already an array of this backend's namespace."""
        return _is_native(x, self.xp)

    def blas_threads(self, count: int | None) -> contextlib.AbstractContextManager[Any]:
        """A context that caps the host BLAS thread pools at ``count`` (NumPy backend only).

        Fitting multiplies matrices of a few hundred columns; on small machines the BLAS
        threads' wake-ups cost more than they save (measured on 2 cores: 2.4 s with two
        threads, 1.2 s with one). Other backends manage their own threads: a no-op there, as
        is ``count=None``.
        """
        if count is None or self.name != "numpy":
            return contextlib.nullcontext()
        from threadpoolctl import threadpool_limits

        return threadpool_limits(limits=count, user_api="blas")

    def blas_thread_count(self) -> int | None:
        """Threads the host BLAS pool runs now (NumPy backend); None on other backends."""
        if self.name != "numpy":
            return None
        from ._numpy import blas_pools

        counts = [pool["num_threads"] for pool in blas_pools().info()
                  if pool["user_api"] == "blas"]
        return max(counts) if counts else None

    def to_numpy(self, x: Array) -> Any:
        """``x`` as a NumPy array on the host (a copy only where one is needed)."""
        from ._convert import to_numpy

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
        strategy : one of :attr:`jacobian_strategies`; None picks :attr:`automatic_jacobian`.
        batched : for complex step, ``fun`` also accepts (b, n) and returns (b, m).

        Returns
        -------
        (m, n) array.
        """
        strategy = strategy or self.automatic_jacobian
        if strategy == "complex-step":
            return _generic.complex_step_jacobian(fun, x, self.xp, batched=batched)
        if strategy == "autograd" and "autograd" in self.jacobian_strategies:
            from . import _torch

            return _torch.autograd_jacobian(fun, x)
        raise FitError(
            f"Jacobian strategy {strategy!r} is not available on the {self.name} backend; "
            f"valid choices: {', '.join(self.jacobian_strategies)}"
        )


def _is_array(x: Any) -> bool:
    return hasattr(x, "__array_namespace__") or hasattr(x, "__array__") or hasattr(x, "__dlpack__")


def _is_native(x: Any, xp: Any) -> bool:
    if not _is_array(x):
        return False
    from array_api_compat import array_namespace

    try:
        return array_namespace(x) is xp
    except TypeError:
        return False


def _normalize_name(name: str) -> str:
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in BACKEND_NAMES:
        raise BackendError(
            f"unknown backend {name!r}; valid choices: {', '.join(BACKEND_NAMES[:3])}"
            " (and array-api-strict for testing)"
        )
    return key


def _import_library(name: str) -> Any:
    module = {"numpy": "numpy", "torch": "torch", "cupy": "cupy",
              "array-api-strict": "array_api_strict"}[name]
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise BackendError(
            f"backend {name!r} is not installed here ({_INSTALL_HINTS.get(name, '')}); "
            f"installed: {', '.join(available_backends()) or 'none'}"
        ) from exc


#: NumPy submodules that NumPy itself loads only on first use, and facefit never uses.
_UNUSED_NUMPY_SUBMODULES = ("numpy.f2py", "numpy.testing", "numpy.ma")


def _defer_unused_numpy_submodules() -> None:
    """Make NumPy's unused lazily loaded submodules load on first attribute access instead.

    array-api-compat's NumPy namespace copies NumPy's namespace with ``hasattr(numpy, name)``
    for every name in ``dir(numpy)``, which imports every submodule NumPy loads lazily:
    numpy.f2py (hundreds of regular expressions), numpy.testing (unittest) and numpy.ma took
    0.3 s of a cold ``facefit fit``. Registered as :class:`importlib.util.LazyLoader` modules
    (and as NumPy's attributes, as an import would), they are the same modules to anyone who
    uses them, executed at first use.
    """
    import sys

    numpy = sys.modules.get("numpy")
    if numpy is None:
        return
    for full in _UNUSED_NUMPY_SUBMODULES:
        short = full.rsplit(".", 1)[1]
        if full in sys.modules or short in vars(numpy):
            continue
        spec = importlib.util.find_spec(full)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            continue
        spec.loader = importlib.util.LazyLoader(spec.loader)
        module = importlib.util.module_from_spec(spec)
        sys.modules[full] = module
        spec.loader.exec_module(module)
        setattr(numpy, short, module)


def _namespace(name: str) -> Any:
    _import_library(name)
    if name == "numpy":
        _defer_unused_numpy_submodules()
    if name == "array-api-strict":
        import array_api_strict

        return array_api_strict
    return importlib.import_module(f"array_api_compat.{name}")


def _resolve_device(name: str, device: Any) -> Any:
    if name == "numpy":
        if device not in (None, "cpu"):
            raise BackendError(
                f"device {device!r} is not available on the numpy backend; use 'cpu'")
        return "cpu"
    if name == "torch":
        import torch

        try:
            dev = torch.device(device if device is not None else "cpu")
        except (RuntimeError, TypeError) as exc:
            raise BackendError(f"invalid torch device {device!r}: {exc}") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise BackendError(f"device {device!r} requested but PyTorch sees no CUDA GPU here")
        if dev.type == "cuda" and dev.index is None:
            dev = torch.device("cuda", torch.cuda.current_device())
        return dev
    if name == "cupy":
        import cupy

        if not cupy.is_available():
            raise BackendError("backend 'cupy' needs an NVIDIA GPU, and CuPy sees none here")
        text = "cuda:0" if device is None else str(device)
        index = text.split(":", 1)[1] if text.startswith("cuda") and ":" in text else text
        if text == "cuda":
            index = "0"
        try:
            return cupy.cuda.Device(int(index))
        except (ValueError, cupy.cuda.runtime.CUDARuntimeError) as exc:
            raise BackendError(f"invalid cupy device {device!r}: {exc}") from None
    # array-api-strict
    import array_api_strict

    if device is None:
        return array_api_strict.asarray(0.0).device
    try:
        return array_api_strict.Device(str(device))
    except (ValueError, TypeError) as exc:
        raise BackendError(f"invalid array-api-strict device {device!r}: {exc}") from None


@functools.cache
def _create(name: str, device_key: str | None, dtype_name: str) -> Backend:
    xp = _namespace(name)
    device = _resolve_device(name, device_key)
    dtype = getattr(xp, dtype_name)
    complex_dtype = xp.complex128 if dtype_name == "float64" else xp.complex64
    strategies = ("autograd", "complex-step") if name == "torch" else ("complex-step",)
    return Backend(name, xp, device, dtype, complex_dtype, strategies)


def _make_backend(name: str, device: Any = None, dtype: Any = None) -> Backend:
    key = _normalize_name(name)
    dtype_name = _normalize_dtype(dtype)
    return _create(key, None if device is None else str(device), dtype_name)


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
    """The active :class:`Backend` (from the environment until :func:`use_backend` is called).

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


class use_backend:
    """Select the active backend; also a context manager that restores the previous one.

    Parameters
    ----------
    name : "numpy", "torch", "cupy" (or "array-api-strict", for testing), or a :class:`Backend`.
    device : e.g. "cpu", "cuda:0"; None is the library's default (cpu; the current GPU for cupy).
    dtype : "float64" (default) or "float32"; a library dtype object is accepted too.

    Examples
    --------
    >>> import facefit as ff
    >>> with ff.use_backend("numpy", dtype="float32") as backend:
    ...     backend.dtype_name
    'float32'
    """

    def __init__(self, name: str | Backend, device: Any = None, dtype: Any = None) -> None:
        if isinstance(name, Backend):
            backend = name if device is None and dtype is None else _make_backend(
                name.name, device if device is not None else _device_key(name),
                dtype if dtype is not None else name.dtype_name)
        else:
            backend = _make_backend(name, device, dtype)
        self.backend = backend
        self._token = _current.set(backend)

    def __enter__(self) -> Backend:
        return self.backend

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        _current.reset(self._token)

    def __repr__(self) -> str:
        return f"use_backend({self.backend!r})"


def _device_key(backend: Backend) -> str | None:
    return None if backend.name in ("numpy", "array-api-strict") else str(backend.device)


def available_backends() -> list[str]:
    """Names of the backends usable on this machine (cupy only with a working GPU)."""
    names = []
    for name in BACKEND_NAMES:
        module = {"array-api-strict": "array_api_strict"}.get(name, name)
        if importlib.util.find_spec(module) is None:
            continue
        if name == "cupy":
            try:
                import cupy

                if not cupy.is_available():
                    continue
            except Exception:  # a broken CUDA install must not break `facefit info`
                continue
        names.append(name)
    return names
