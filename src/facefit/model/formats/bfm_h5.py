"""Basel Face Model 2017 / 2019 (statismo ``.h5``).

Layout: ``shape|color|expression/model/{mean, pcaBasis, pcaVariance}`` with vertex-interleaved
(3N,) means and (3N, K) bases whose columns are orthonormal (statismo), so the std of component
k is ``sqrt(pcaVariance[k])``; ``shape/representer/cells`` is (3, T), 0-based. Coordinates are
millimetres, colours in [0, 1]; the expression mean is an offset added to the shape mean. The
file has no iBUG landmarks: pass ``landmarks=`` a text file of 68 0-based vertex indices (-1
for none), or landmark-based fitting has nothing to fit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ModelError
from ..albedo import build_albedo
from ..contours import jaw_candidates
from ..morphable_model import MorphableModel
from ._mesh import facing_front

__all__ = ["load_bfm_h5"]


def _dataset(handle: Any, key: str, label: str) -> Any:
    if key not in handle:
        raise ModelError(f"model file {label!r}: missing dataset {key!r}")
    return np.asarray(handle[key][()], dtype=np.float64)


def _block(handle: Any, group: str, n_vertices: int | None, label: str
           ) -> tuple[Any, Any, Any]:
    mean = _dataset(handle, f"{group}/model/mean", label).reshape(-1)
    basis = _dataset(handle, f"{group}/model/pcaBasis", label)
    variance = _dataset(handle, f"{group}/model/pcaVariance", label).reshape(-1)
    n = mean.size // 3 if n_vertices is None else n_vertices
    if mean.size != 3 * n or basis.ndim != 2 or basis.shape[0] != 3 * n:
        raise ModelError(f"model file {label!r}: {group} mean/pcaBasis shapes {mean.shape}, "
                         f"{basis.shape} do not fit {n} vertices")
    if variance.size != basis.shape[1] or (variance < 0).any():
        raise ModelError(f"model file {label!r}: {group}/model/pcaVariance must hold "
                         f"{basis.shape[1]} non-negative values")
    return mean.reshape(n, 3), basis.reshape(n, 3, -1), np.sqrt(variance)


def load_bfm_h5(path: Any, *, landmarks: Any = None, **unknown: Any) -> MorphableModel:
    """Load a Basel Face Model 2017/2019 ``.h5`` file (``landmarks=`` a 68-index text file)."""
    label = str(path)
    if unknown:
        raise ModelError(f"model file {label!r}: unknown companion file(s) "
                         f"{', '.join(sorted(unknown))}; expected landmarks")
    try:
        import h5py
    except ImportError:
        raise ModelError(f"model file {label!r}: reading .h5 models needs h5py "
                         "(pip install h5py)") from None
    try:
        handle = h5py.File(str(path), "r")
    except OSError as exc:
        raise ModelError(f"model file {label!r}: cannot be read as HDF5 ({exc})") from None
    with handle:
        mean, identity, identity_std = _block(handle, "shape", None, label)
        n = mean.shape[0]
        cells = _dataset(handle, "shape/representer/cells", label).astype(np.int64)
        triangles = cells.T if cells.shape[0] == 3 and cells.ndim == 2 else cells
        if triangles.ndim != 2 or triangles.shape[1] != 3 or triangles.min() < 0 or (
                triangles.max() >= n):
            raise ModelError(f"model file {label!r}: shape/representer/cells must be (3, T) "
                             f"0-based indices below {n}")
        if "expression" in handle:
            offset, expression, expression_std = _block(handle, "expression", n, label)
            mean = mean + offset
        else:
            expression, expression_std = np.zeros((n, 3, 0)), np.zeros(0)
        if "color" in handle and "color/model/pcaBasis" in handle:
            albedo_mean, albedo, albedo_std = _block(handle, "color", n, label)
        else:
            albedo_mean, albedo, albedo_std = build_albedo(triangles, n)
    marks = np.full(68, -1, dtype=np.int64)
    if landmarks is not None:
        try:
            marks = np.loadtxt(str(landmarks), dtype=np.int64).reshape(-1)
        except (OSError, ValueError) as exc:
            raise ModelError(f"landmark file {str(landmarks)!r}: cannot be read ({exc})") from None
        if marks.size != 68:
            raise ModelError(f"landmark file {str(landmarks)!r}: expected 68 vertex indices, "
                             f"found {marks.size}")
    triangles = facing_front(mean, triangles)
    return MorphableModel(
        name=Path(label).name, mean_shape=mean, identity_basis=identity,
        identity_std=identity_std, expression_basis=expression, expression_std=expression_std,
        albedo_mean=albedo_mean, albedo_basis=albedo, albedo_std=albedo_std,
        triangles=triangles, landmark_indices=marks, jaw_candidates=jaw_candidates(mean, marks),
        metadata={"source": "Basel Face Model 2017/2019 (.h5)", "file": label})
