"""The protocol every array library implements: :class:`ArrayLibrary`, and its fast paths.

One module per library (``_numpy``, ``_torch``, ``_cupy``, ``_strict``) defines a subclass and
an instance ``LIBRARY``; the table in :mod:`._table` lists them. Everything facefit knows of a
library is here: its names, how to install it, its namespace and devices, its dtypes, its
Jacobian strategies, its native fast paths and how to recognise its arrays.

A library module must import cheaply: the table is read whenever a backend is named, and
importing PyTorch or CuPy takes seconds. Their modules import the library inside the methods
and fast paths that need it (by then it is loaded, and the import is a dictionary lookup).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from ..errors import BackendError
from . import _generic

Array = Any

__all__ = ["ArrayLibrary", "CompatLibrary", "FastPaths"]


@dataclass(frozen=True)
class FastPaths:
    """A library's native implementations of what the array API standard lacks or does slowly.

    Each field is a function with the signature of the same-named function of
    :mod:`facefit.backends._generic` (``cholesky_solve``, ``scatter_min``, ``scatter_add``) or
    of the native hook documented at its dispatcher in :mod:`facefit.backends._convert`; None
    where the library has none (the standard-only code runs instead). A fast path may also
    return None for inputs it declines (a dtype, a device, arrays carrying derivatives).
    """

    cholesky_solve: Callable[..., Any] | None = None
    scatter_min: Callable[..., Any] | None = None
    scatter_add: Callable[..., Any] | None = None
    gram: Callable[..., Any] | None = None
    matmul_transposed: Callable[..., Any] | None = None
    batched_matmul: Callable[..., Any] | None = None
    gathered_matmul: Callable[..., Any] | None = None
    gathered_matmul_into: Callable[..., Any] | None = None
    zbuffer: Callable[..., Any] | None = None
    interpolate_into: Callable[..., Any] | None = None
    convolve_axis: Callable[..., Any] | None = None
    #: ``carries_derivatives(x) -> bool``: x takes part in autograd (values must not be cached).
    carries_derivatives: Callable[[Any], bool] | None = None


class ArrayLibrary(Protocol):
    """One array library as facefit uses it.

    Subclass it (the methods with a body are defaults), set the class attributes, implement
    :meth:`load`, :meth:`owns_namespace`, :meth:`owns_array`, :meth:`to_numpy`,
    :meth:`device` and :meth:`device_key`, and add an instance to the table in
    :mod:`facefit.backends._table`.
    """

    #: The public name (``FACEFIT_BACKEND``, ``--backend``, :func:`facefit.use_backend`).
    name: ClassVar[str]
    #: Other accepted spellings of the name (lower case).
    aliases: ClassVar[tuple[str, ...]] = ()
    #: The Python module to import, also the distribution whose version ``facefit info`` shows.
    module: ClassVar[str]
    #: What to tell a user who asks for the library where it is not installed.
    install_hint: ClassVar[str] = ""
    #: A library that exists to exercise the standard-only code paths, not for users.
    testing_only: ClassVar[bool] = False
    #: The real floating dtypes facefit may compute in, by their standard names.
    dtypes: ClassVar[tuple[str, ...]] = ("float64", "float32")
    #: Automatic Jacobian strategies offered, preferred first (see :meth:`jacobian`).
    jacobian_strategies: ClassVar[tuple[str, ...]] = ("complex-step",)
    #: Native fast paths (all None: the standard-only implementations run).
    fast_paths: ClassVar[FastPaths] = FastPaths()

    def is_available(self) -> bool:
        """Whether the library can be used here (installed; with a device where it needs one)."""
        return importlib.util.find_spec(self.module) is not None

    def import_library(self) -> Any:
        """The library's own module, imported; :class:`BackendError` naming how to install it."""
        try:
            return importlib.import_module(self.module)
        except ImportError as exc:
            raise BackendError(
                f"backend {self.name!r} is not installed here ({self.install_hint})") from exc

    def namespace(self) -> Any:
        """The array-API namespace of the library (imports it on first use)."""
        self.import_library()
        return self.load()

    def load(self) -> Any:
        """The namespace, once the library imports: array-api-compat's wrapper where it has one."""
        raise NotImplementedError

    def owns_namespace(self, xp: Any) -> bool:
        """Whether ``xp`` is this library's namespace (its own module or a wrapper of it)."""
        raise NotImplementedError

    def owns_array(self, x: Any) -> bool:
        """Whether ``x`` is an array of this library (without importing the library)."""
        raise NotImplementedError

    def to_numpy(self, x: Array) -> Any:
        """``x``, an array of this library, as a NumPy array on the host."""
        raise NotImplementedError

    def devices(self) -> list[str]:
        """The devices here, as shown by ``facefit info`` (e.g. ``cuda:0 (NVIDIA H200)``)."""
        return ["cpu"]

    def device(self, key: str | None) -> Any:
        """The library's device object for ``key`` (e.g. ``"cuda:1"``); None: its default.

        Raises :class:`BackendError` for a device that does not exist here.
        """
        raise NotImplementedError

    def device_key(self, device: Any) -> str:
        """The text that :meth:`device` turns back into ``device`` (picklable, hashable)."""
        raise NotImplementedError

    def jacobian(self, strategy: str, fun: Callable[[Array], Array], x: Array, xp: Any, *,
                 batched: bool = False) -> Array:
        """The Jacobian of ``fun`` at ``x`` by ``strategy``, one of :attr:`jacobian_strategies`.

        The default offers complex step (on any namespace); a library with more strategies
        overrides this and passes the others on to it. Which strategy a user may ask for is
        checked once, by :func:`facefit.fit.inputs.check_jacobian`.
        """
        if strategy != "complex-step" or strategy not in self.jacobian_strategies:
            raise BackendError(f"the {self.name} backend has no Jacobian strategy {strategy!r}")
        return _generic.complex_step_jacobian(fun, x, xp, batched=batched)

    def thread_limit(self, count: int | None) -> contextlib.AbstractContextManager[Any]:
        """A context capping the host BLAS threads at ``count``; a no-op where the library
        manages its own threads (the default) or ``count`` is None."""
        return contextlib.nullcontext()

    def thread_count(self) -> int | None:
        """Threads the host BLAS pool runs now; None where the library does not use it."""
        return None


class CompatLibrary(ArrayLibrary):
    """A library that array-api-compat wraps: its namespace is ``array_api_compat.<compat>``,
    and array-api-compat's ``is_<compat>_namespace`` / ``is_<compat>_array`` recognise it."""

    #: array-api-compat's name of the library (``"numpy"``, ``"torch"``, ``"cupy"``, ``"jax"``).
    compat: ClassVar[str]

    def load(self) -> Any:
        return importlib.import_module(f"array_api_compat.{self.compat}")

    def owns_namespace(self, xp: Any) -> bool:
        import array_api_compat

        return bool(getattr(array_api_compat, f"is_{self.compat}_namespace")(xp))

    def owns_array(self, x: Any) -> bool:
        import array_api_compat

        return bool(getattr(array_api_compat, f"is_{self.compat}_array")(x))
