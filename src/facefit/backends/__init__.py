"""The backend layer: the only part of facefit that names an array library.

Everything else is written against the Python array API standard and receives its namespace
from :func:`array_namespace` (of its input arrays) or from :func:`get_backend` (to create arrays).
"""

from __future__ import annotations

from ..errors import BackendError
from ._convert import (
    array_namespace,
    batched_matmul,
    cholesky_solve,
    gathered_matmul,
    gram,
    interpolate_into,
    is_plain_value,
    matmul_transposed,
    native_ops,
    scatter_add,
    scatter_min,
    to_numpy,
    zbuffer,
)
from ._generic import is_complex, promote, real_part
from ._registry import (
    BACKEND_NAMES,
    DTYPE_NAMES,
    Backend,
    available_backends,
    get_backend,
    use_backend,
)

__all__ = [
    "BACKEND_NAMES",
    "DTYPE_NAMES",
    "Backend",
    "BackendError",
    "array_namespace",
    "available_backends",
    "batched_matmul",
    "cholesky_solve",
    "gathered_matmul",
    "get_backend",
    "gram",
    "interpolate_into",
    "is_complex",
    "is_plain_value",
    "matmul_transposed",
    "native_ops",
    "promote",
    "real_part",
    "scatter_add",
    "scatter_min",
    "to_numpy",
    "use_backend",
    "zbuffer",
]
