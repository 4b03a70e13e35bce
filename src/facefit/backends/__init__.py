"""The backend layer: the only part of facefit's compute code that names an array library.

Compute code is written against the Python array API standard. It takes its namespace from
its input arrays (:func:`array_namespace`) and, where it needs the library, device and dtype,
its :class:`Backend` from them too (:func:`backend_of`). The *active* backend
(:func:`get_backend`; ``FACEFIT_BACKEND``, :func:`use_backend`, :func:`set_backend`) only
chooses where new arrays are created. :class:`BackendSpec` names a backend picklably, for
worker processes.

Each array library is one module implementing :class:`ArrayLibrary` (names, install hint,
namespace, devices, dtypes, Jacobian strategies, native :class:`FastPaths`, how to recognise
its arrays), listed in one table, :data:`LIBRARIES`:

====================  =================================================================
``_numpy.py``         NumPy, the default (C kernels for rasterising and small products)
``_torch.py``         PyTorch on CPU or CUDA (forward-mode autograd Jacobians)
``_cupy.py``          CuPy on NVIDIA GPUs
``_strict.py``        array-api-strict, the bare standard (tests)
``_generic.py``       the standard-only implementations every library falls back to
``_table.py``         the table, and lookups by name, namespace and array
====================  =================================================================

Adding a library (JAX, say) is one new module and one row:

1. ``backends/_jax.py``: ``class JaxLibrary(CompatLibrary)`` with ``name = "jax"``,
   ``module = "jax"``, ``compat = "jax"`` (array-api-compat then recognises its arrays and
   namespace), an install hint, and ``load`` (``jax.numpy``, which follows the standard
   itself), ``to_numpy``, ``device`` and ``device_key``; optionally ``devices``, ``dtypes``
   (JAX computes in float32 unless x64 is enabled), ``jacobian_strategies`` and ``jacobian``
   (e.g. ``"jvp"`` by ``jax.jacfwd``) and ``fast_paths`` (e.g. ``scatter_add`` by
   ``x.at[i].add``). Import ``jax`` inside the methods, not at the top. End with
   ``LIBRARY: ArrayLibrary = JaxLibrary()``.
2. ``backends/_table.py``: add ``_jax.LIBRARY`` to :data:`LIBRARIES`.

``FACEFIT_BACKEND=jax``, ``--backend jax``, ``facefit info``, ``use_backend("jax")``,
:func:`backend_of` on JAX arrays and the test suite's ``backend`` fixture then all know it.
"""

from __future__ import annotations

from ..errors import BackendError
from ._convert import (
    array_namespace,
    batched_matmul,
    cholesky_solve,
    convolve_axis,
    fast_paths,
    gathered_matmul,
    gram,
    interpolate_into,
    is_plain_value,
    matmul_transposed,
    scatter_add,
    scatter_min,
    to_numpy,
    zbuffer,
)
from ._generic import is_complex, promote, real_part
from ._library import ArrayLibrary, CompatLibrary, FastPaths
from ._registry import (
    BACKEND_NAMES,
    DTYPE_NAMES,
    Backend,
    BackendSpec,
    available_backends,
    backend_of,
    get_backend,
    set_backend,
    use_backend,
)
from ._table import LIBRARIES, array_library

__all__ = [
    "BACKEND_NAMES",
    "DTYPE_NAMES",
    "LIBRARIES",
    "ArrayLibrary",
    "Backend",
    "BackendError",
    "BackendSpec",
    "CompatLibrary",
    "FastPaths",
    "array_library",
    "array_namespace",
    "available_backends",
    "backend_of",
    "batched_matmul",
    "cholesky_solve",
    "convolve_axis",
    "fast_paths",
    "gathered_matmul",
    "get_backend",
    "gram",
    "interpolate_into",
    "is_complex",
    "is_plain_value",
    "matmul_transposed",
    "promote",
    "real_part",
    "scatter_add",
    "scatter_min",
    "set_backend",
    "to_numpy",
    "use_backend",
    "zbuffer",
]
