"""CuPy on NVIDIA GPUs: its fast paths (``cupyx`` scatter kernels, cuSOLVER).

CuPy is imported inside the functions: this module is read whenever a backend is named, also
on machines without CuPy or a GPU.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..errors import BackendError
from ._generic import _fill_value
from ._library import ArrayLibrary, CompatLibrary, FastPaths


def cholesky_solve(matrix: Any, rhs: Any, xp: Any) -> Any:
    import cupy

    lower = cupy.linalg.cholesky(matrix)
    inner = cupy.linalg.solve(lower, rhs[..., None])
    return cupy.linalg.solve(cupy.swapaxes(lower, -1, -2), inner)[..., 0]


def scatter_min(index: Any, values: Any, size: int, xp: Any) -> Any:
    import cupy
    import cupyx

    out = cupy.full((size,), _fill_value(values.dtype, xp), dtype=values.dtype)
    cupyx.scatter_min(out, index, values)
    return out


def scatter_add(index: Any, values: Any, size: int, xp: Any) -> Any:
    import cupy
    import cupyx

    out = cupy.zeros((size, *values.shape[1:]), dtype=values.dtype)
    if values.dtype.kind == "c":  # cupyx.scatter_add has no complex kernel: split the parts
        real = cupy.zeros(out.shape, dtype=values.real.dtype)
        imag = cupy.zeros(out.shape, dtype=values.real.dtype)
        cupyx.scatter_add(real, index, values.real)
        cupyx.scatter_add(imag, index, values.imag)
        return real + 1j * imag
    cupyx.scatter_add(out, index, values)
    return out


class CuPyLibrary(CompatLibrary):
    """CuPy, through array-api-compat's wrapper; usable only where it sees a GPU."""

    name: ClassVar[str] = "cupy"
    module: ClassVar[str] = "cupy"
    compat: ClassVar[str] = "cupy"
    install_hint: ClassVar[str] = "pip install 'facefit[cupy]' on a machine with an NVIDIA GPU"
    fast_paths: ClassVar[FastPaths] = FastPaths(
        cholesky_solve=cholesky_solve, scatter_min=scatter_min, scatter_add=scatter_add)

    def is_available(self) -> bool:
        if not super().is_available():
            return False
        try:
            import cupy

            return bool(cupy.is_available())
        except Exception:  # a broken CUDA install must not break `facefit info`
            return False

    def load(self) -> Any:
        import cupy

        if not cupy.is_available():
            raise BackendError("backend 'cupy' needs an NVIDIA GPU, and CuPy sees none here")
        return super().load()

    def to_numpy(self, x: Any) -> Any:
        return x.get()

    def devices(self) -> list[str]:
        import cupy

        return [f"cuda:{i}" for i in range(cupy.cuda.runtime.getDeviceCount())]

    def device(self, key: str | None) -> Any:
        import cupy

        if not cupy.is_available():
            raise BackendError("backend 'cupy' needs an NVIDIA GPU, and CuPy sees none here")
        text = "cuda:0" if key is None else str(key)
        index = "0" if text == "cuda" else text.removeprefix("cuda:")
        try:
            return cupy.cuda.Device(int(index))
        except (ValueError, cupy.cuda.runtime.CUDARuntimeError) as exc:
            raise BackendError(f"invalid cupy device {key!r}: {exc}") from None

    def device_key(self, device: Any) -> str:
        return f"cuda:{int(device.id)}"


LIBRARY: ArrayLibrary = CuPyLibrary()
