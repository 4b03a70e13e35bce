"""PyTorch: its fast paths (the C kernels on CPU tensors) and forward-mode autograd Jacobians.

Importing PyTorch takes about a second, and this module is read whenever a backend is named:
torch is imported inside the functions (it is loaded by the time any of them runs).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from ..errors import BackendError
from . import _numpy
from ._generic import _fill_value
from ._library import ArrayLibrary, CompatLibrary, FastPaths


def cholesky_solve(matrix: Any, rhs: Any, xp: Any) -> Any:
    import torch

    lower, info = torch.linalg.cholesky_ex(matrix)
    solution = torch.cholesky_solve(rhs[..., None], lower)[..., 0]
    failed = (info != 0)[..., None]
    return torch.where(failed, torch.full_like(solution, float("nan")), solution)


def scatter_min(index: Any, values: Any, size: int, xp: Any) -> Any:
    import torch

    out = torch.full((size,), _fill_value(values.dtype, xp), dtype=values.dtype,
                     device=values.device)
    return out.scatter_reduce(0, index, values, reduce="amin", include_self=True)


def scatter_add(index: Any, values: Any, size: int, xp: Any) -> Any:
    import torch

    out = torch.zeros((size, *values.shape[1:]), dtype=values.dtype, device=values.device)
    return out.index_add(0, index, values)


def carries_derivatives(x: Any) -> bool:
    """Whether a tensor takes part in autograd, forward-mode AD or a functorch transform."""
    from torch._C._functorch import is_functorch_wrapped_tensor
    from torch.autograd import forward_ad

    return (x.requires_grad or is_functorch_wrapped_tensor(x)
            or forward_ad.unpack_dual(x).tangent is not None)


_CHUNK_ELEMENTS = 2**19  # multiply-and-sum temporaries of 4 MB (float64): cached, no mmap


def matmul_transposed(coefficients: Any, matrix: Any) -> Any | None:
    """``coefficients @ matrix.T`` as chunked multiply-and-sum for one CPU weight vector.

    MKL's ``dgemv`` in the torch 2.x CPU wheels streams an (N, K) row-major matrix from memory
    at a third of the speed of OpenBLAS: 2.1 ms against 0.7 ms for the ICT identity basis
    (20118 x 100) out of cache, 29 ms against 11 ms for a BFM-size one (177558 x 199), on 2
    cores. Multiplying and summing blocks of rows reads it at about twice MKL's speed (0.6 ms,
    16 ms) and keeps autograd. Batches of weight vectors (and other devices) keep ``@``: None.
    """
    import torch

    if matrix.device.type != "cpu" or math.prod(coefficients.shape[:-1]) != 1:
        return None
    rows = max(1, _CHUNK_ELEMENTS // max(1, matrix.shape[1]))
    weights = coefficients[..., None, :]
    return torch.cat([(matrix[start:start + rows] * weights).sum(-1)
                      for start in range(0, matrix.shape[0], rows)], dim=-1)


def batched_matmul(a: Any, b: Any) -> Any | None:
    """The C batched product on plain CPU tensors (zero-copy through NumPy); None for tensors
    on other devices or carrying derivatives, which keep ``@``."""
    import torch

    if (a.device.type != "cpu" or b.device.type != "cpu" or a.is_complex() or b.is_complex()
            or carries_derivatives(a) or carries_derivatives(b)):
        return None
    found = _numpy.batched_matmul(a.contiguous().numpy(), b.contiguous().numpy())
    return None if found is None else torch.from_numpy(found)


def gathered_matmul(a: Any, index: Any, b: Any) -> Any | None:
    """The C gathered product on plain CPU tensors (zero-copy through NumPy); None for tensors
    on other devices or carrying derivatives, which take the gathered copy and ``@``."""
    import torch

    if (a.device.type != "cpu" or b.device.type != "cpu" or index.device.type != "cpu"
            or a.is_complex() or b.is_complex()
            or carries_derivatives(a) or carries_derivatives(b)):
        return None
    found = _numpy.gathered_matmul(a.contiguous().numpy(), index.contiguous().numpy(),
                                   b.contiguous().numpy())
    return None if found is None else torch.from_numpy(found)


def zbuffer(points: Any, depth: Any, triangles: Any, batch: int, cull_back: bool, height: int,
            width: int, xp: Any) -> tuple[Any, ...] | None:
    """The C rasterizer on CPU tensors (zero-copy through NumPy); None on other devices."""
    import torch

    if points.device.type != "cpu":
        return None
    found = _numpy.zbuffer(points.detach().contiguous().numpy(),
                           depth.detach().contiguous().numpy(),
                           triangles.contiguous().numpy(), batch, cull_back, height, width, None)
    return None if found is None else tuple(torch.from_numpy(a) for a in found)


def interpolate_into(attributes: Any, triangles: Any, pixels: Any, pixel_triangles: Any,
                     barycentrics: Any, plane: int, image: Any, xp: Any) -> Any | None:
    """The C interpolation on CPU tensors outside autograd; None otherwise."""

    tensors = (attributes, triangles, pixels, pixel_triangles, barycentrics, image)
    if any(t.device.type != "cpu" or t.requires_grad for t in tensors):
        return None
    if not image.is_contiguous():
        return None
    host = [t.detach().contiguous().numpy() for t in tensors[:5]]
    done = _numpy.interpolate_into(host[0], host[1], host[2], host[3], host[4], plane,
                                   image.numpy(), None)
    return None if done is None else image


def autograd_jacobian(
    fun: Callable[[Any], Any], x: Any, *, chunk_size: int | None = 32
) -> Any:
    """Jacobian of ``fun`` at ``x`` by forward-mode autograd (``jvp`` under ``vmap``).

    Parameters
    ----------
    fun : maps an (n,) tensor to an (m,) tensor; must be vmap-compatible.
    x : (n,) floating tensor.
    chunk_size : tangents pushed per vectorized call (bounds memory); None pushes all at once.

    Returns
    -------
    (m, n) tensor.
    """
    import torch

    tangents = torch.eye(x.shape[0], dtype=x.dtype, device=x.device)

    def column(tangent: Any) -> Any:
        return torch.func.jvp(fun, (x,), (tangent,))[1]

    return torch.func.vmap(column, chunk_size=chunk_size)(tangents).T


@contextlib.contextmanager
def _intra_op_threads(count: int) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    if before != count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if before != count:
            torch.set_num_threads(before)


class TorchLibrary(CompatLibrary):
    """PyTorch on CPU or CUDA, through array-api-compat's wrapper; forward-mode autograd."""

    name: ClassVar[str] = "torch"
    aliases: ClassVar[tuple[str, ...]] = ("pytorch",)
    module: ClassVar[str] = "torch"
    compat: ClassVar[str] = "torch"
    install_hint: ClassVar[str] = "pip install 'facefit[torch]'"
    jacobian_strategies: ClassVar[tuple[str, ...]] = ("autograd", "complex-step")
    fast_paths: ClassVar[FastPaths] = FastPaths(
        cholesky_solve=cholesky_solve, scatter_min=scatter_min, scatter_add=scatter_add,
        matmul_transposed=matmul_transposed, batched_matmul=batched_matmul,
        gathered_matmul=gathered_matmul, zbuffer=zbuffer, interpolate_into=interpolate_into,
        carries_derivatives=carries_derivatives)

    def to_numpy(self, x: Any) -> Any:
        return x.detach().cpu().numpy()

    def thread_limit(self, count: int | None) -> contextlib.AbstractContextManager[Any]:
        """torch's CPU intra-op threads capped at ``count``. Its OpenMP workers wait for work
        by spinning, as OpenBLAS' do: on cores busy with other work each parallel region waits
        for a descheduled worker (see ``facefit.fit``'s ``blas_threads``)."""
        if count is None:
            return contextlib.nullcontext()
        return _intra_op_threads(count)

    def thread_count(self) -> int | None:
        import torch

        return int(torch.get_num_threads())

    def devices(self) -> list[str]:
        import torch

        return ["cpu", *(f"cuda:{i} ({torch.cuda.get_device_name(i)})"
                         for i in range(torch.cuda.device_count()))]

    def device(self, key: str | None) -> Any:
        import torch

        try:
            device = torch.device(key if key is not None else "cpu")
        except (RuntimeError, TypeError) as exc:
            raise BackendError(f"invalid torch device {key!r}: {exc}") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise BackendError(f"device {key!r} requested but PyTorch sees no CUDA GPU here")
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        return device

    def device_key(self, device: Any) -> str:
        return str(device)

    def jacobian(self, strategy: str, fun: Callable[[Any], Any], x: Any, xp: Any, *,
                 batched: bool = False) -> Any:
        if strategy == "autograd":
            return autograd_jacobian(fun, x)
        return super().jacobian(strategy, fun, x, xp, batched=batched)


LIBRARY: ArrayLibrary = TorchLibrary()
