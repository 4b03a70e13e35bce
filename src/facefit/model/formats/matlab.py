"""MATLAB ``.mat`` models: the Basel Face Model 2009 (with the 3DDFA trim and Guo et al.'s
expression basis, the paper's exact setup) and face3d's ``BFM.mat``.

Conventions of these files (all checked by the tests with small files in the same layout):
- Per-vertex vectors are vertex-interleaved ``[x1, y1, z1, x2, ...]``; bases are (3N, K).
- ``shapeEV`` / ``texEV`` / ``expEV`` are standard deviations of the components.
- Coordinates are micrometres (converted to millimetres); colours are 0..255 (to [0, 1]).
- Index arrays (``tl``, ``tri``, ``trimIndex``, ``keypoints``, ``kpt_ind``) are 1-based.
- Guo et al.'s ``Exp_Pca.bin``: int32 K, float32 mean (3N, unused: the BFM mean is the mean),
  float32 basis stored PC-major (K x 3N), in the trimmed (53215-vertex) mesh; ``std_exp.txt``
  holds the K standard deviations.
- Model space is y up with +z toward the viewer; triangle winding is made counter-clockwise seen
  from the front (checked from the summed face normal).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ModelError
from ..contours import jaw_candidates
from ..morphable_model import MorphableModel
from ._mesh import facing_front

__all__ = ["load_mat"]

MICROMETRES_TO_MM = 1e-3


def _loadmat(path: Any, what: str) -> dict[str, Any]:
    from scipy.io import loadmat

    try:
        return loadmat(str(path))
    except NotImplementedError:
        raise ModelError(f"{what} {str(path)!r}: MATLAB v7.3 (HDF5) files are not supported; "
                         "re-save it with -v7") from None
    except Exception as exc:  # scipy raises many kinds (IndexError, ValueError...) on garbage
        raise ModelError(f"{what} {str(path)!r}: cannot be read as a MATLAB file "
                         f"({type(exc).__name__}: {str(exc)[:120]})") from None


def _field(data: Any, name: str, label: str) -> Any:
    try:
        value = data[name]
    except (KeyError, ValueError, IndexError):
        raise ModelError(f"model file {label!r}: missing field {name!r}") from None
    return np.asarray(value)


def _per_vertex(vector: Any, label: str, name: str) -> Any:
    flat = np.asarray(vector, dtype=np.float64).reshape(-1)
    if flat.size % 3:
        raise ModelError(f"model file {label!r}: {name} has {flat.size} entries, not 3 per vertex")
    return flat.reshape(-1, 3)


def _basis(matrix: Any, n_vertices: int, label: str, name: str, keep: int | None) -> Any:
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != 3 * n_vertices:
        raise ModelError(f"model file {label!r}: {name} must be (3N, K) = ({3 * n_vertices}, K), "
                         f"got {matrix.shape}")
    if keep is not None:
        matrix = matrix[:, :keep]
    return matrix.reshape(n_vertices, 3, matrix.shape[1])


def _std(values: Any, count: int, label: str, name: str) -> Any:
    std = np.asarray(values, dtype=np.float64).reshape(-1)[:count]
    if std.size != count:
        raise ModelError(f"model file {label!r}: {name} has {std.size} entries for {count} "
                         "components")
    return std


def _triangles(values: Any, n_vertices: int, label: str, name: str) -> Any:
    tris = np.asarray(values)
    if tris.ndim != 2 or 3 not in tris.shape:
        raise ModelError(f"model file {label!r}: {name} must be (T, 3) or (3, T), got "
                         f"{tris.shape}")
    if tris.shape[1] != 3:
        tris = tris.T
    tris = tris.astype(np.int64) - 1
    if tris.min() < 0 or tris.max() >= n_vertices:
        raise ModelError(f"model file {label!r}: {name} indices must lie in 1..{n_vertices}")
    return tris


def _landmarks(values: Any, n_vertices: int, label: str) -> Any:
    marks = np.asarray(values).reshape(-1).astype(np.int64) - 1
    if marks.size != 68:
        raise ModelError(f"{label!r}: expected 68 landmark vertex indices, found {marks.size}")
    if marks.min() < 0 or marks.max() >= n_vertices:
        raise ModelError(f"{label!r}: landmark indices must lie in 1..{n_vertices}")
    return marks


def read_exp_pca(path: Any, n_vertices: int) -> Any:
    """Guo et al.'s ``Exp_Pca.bin`` as a (N, 3, K) basis."""
    label = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ModelError(f"expression file {label!r}: cannot be read ({exc.strerror})") from None
    if len(raw) < 4:
        raise ModelError(f"expression file {label!r}: truncated (no component count)")
    count = int(np.frombuffer(raw[:4], dtype=np.int32)[0])
    expected = 4 + 4 * 3 * n_vertices * (1 + count)
    if count <= 0 or len(raw) != expected:
        raise ModelError(f"expression file {label!r}: {len(raw)} bytes, but {count} components "
                         f"of {n_vertices} vertices need {expected}")
    body = np.frombuffer(raw[4:], dtype=np.float32)
    basis = body[3 * n_vertices:].reshape(count, 3 * n_vertices).astype(np.float64)  # PC-major
    return basis.T.reshape(n_vertices, 3, count)


def _read_std(path: Any, count: int) -> Any:
    try:
        values = np.loadtxt(str(path), dtype=np.float64).reshape(-1)
    except (OSError, ValueError) as exc:
        raise ModelError(f"expression std file {str(path)!r}: cannot be read ({exc})") from None
    if values.size != count:
        raise ModelError(f"expression std file {str(path)!r}: {values.size} values for "
                         f"{count} expression components")
    return values


def _bfm2009(data: dict[str, Any], label: str, trim: Any, expression: Any,
             expression_std: Any, landmarks: Any, n_identity: int | None, n_albedo: int | None
             ) -> MorphableModel:
    mean = _per_vertex(_field(data, "shapeMU", label), label, "shapeMU")
    full = mean.shape[0]
    identity = _basis(_field(data, "shapePC", label), full, label, "shapePC", n_identity)
    identity_std = _std(_field(data, "shapeEV", label), identity.shape[2], label, "shapeEV")
    tex = _per_vertex(_field(data, "texMU", label), label, "texMU") / 255.0
    albedo = _basis(_field(data, "texPC", label), full, label, "texPC", n_albedo) / 255.0
    albedo_std = _std(_field(data, "texEV", label), albedo.shape[2], label, "texEV")
    triangles = _triangles(_field(data, "tl", label), full, label, "tl")
    marks = np.full(68, -1, dtype=np.int64)
    if trim is not None:
        info = _loadmat(trim, "trim file")
        keep = _field(info, "trimIndex", str(trim)).reshape(-1).astype(np.int64) - 1
        if keep.min() < 0 or keep.max() >= full:
            raise ModelError(f"trim file {str(trim)!r}: trimIndex must lie in 1..{full}")
        mean, tex = mean[keep], tex[keep]
        identity, albedo = identity[keep], albedo[keep]
        triangles = _triangles(_field(info, "tri", str(trim)), keep.size, str(trim), "tri")
        if "keypoints" in info:
            marks = _landmarks(info["keypoints"], keep.size, f"trim file {trim!s}")
    n_vertices = mean.shape[0]
    if landmarks is not None:
        marks = _landmarks(np.loadtxt(str(landmarks)), n_vertices, f"landmark file {landmarks}")
    if expression is not None:
        exp_basis = read_exp_pca(expression, n_vertices)
        if expression_std is None:
            raise ModelError(f"expression file {str(expression)!r} needs expression_std= "
                             "(std_exp.txt)")
        exp_std = _read_std(expression_std, exp_basis.shape[2])
    else:
        exp_basis, exp_std = np.zeros((n_vertices, 3, 0)), np.zeros(0)
    mean_mm = mean * MICROMETRES_TO_MM
    return MorphableModel(
        name=Path(label).name, mean_shape=mean_mm, identity_basis=identity * MICROMETRES_TO_MM,
        identity_std=identity_std, expression_basis=exp_basis * MICROMETRES_TO_MM,
        expression_std=exp_std, albedo_mean=tex, albedo_basis=albedo, albedo_std=albedo_std,
        triangles=facing_front(mean_mm, triangles), landmark_indices=marks,
        jaw_candidates=jaw_candidates(mean_mm, marks),
        metadata={"source": "Basel Face Model 2009" + (" + 3DDFA trim" if trim else "")
                  + (" + Guo et al. expression" if expression else ""), "file": label})


def _face3d(data: dict[str, Any], label: str, n_identity: int | None,
            n_albedo: int | None) -> MorphableModel:
    try:
        model = data["model"][0, 0]
    except (KeyError, IndexError, TypeError, ValueError):
        raise ModelError(f"model file {label!r}: 'model' is not a MATLAB struct") from None
    mean = _per_vertex(_field(model, "shapeMU", label), label, "shapeMU") + _per_vertex(
        _field(model, "expMU", label), label, "expMU")
    n = mean.shape[0]
    identity = _basis(_field(model, "shapePC", label), n, label, "shapePC", n_identity)
    expression = _basis(_field(model, "expPC", label), n, label, "expPC", None)
    albedo = _basis(_field(model, "texPC", label), n, label, "texPC", n_albedo) / 255.0
    mean_mm = mean * MICROMETRES_TO_MM
    triangles = _triangles(_field(model, "tri", label), n, label, "tri")
    marks = _landmarks(_field(model, "kpt_ind", label), n, f"model file {label}")
    return MorphableModel(
        name=Path(label).name, mean_shape=mean_mm,
        identity_basis=identity * MICROMETRES_TO_MM,
        identity_std=_std(_field(model, "shapeEV", label), identity.shape[2], label, "shapeEV"),
        expression_basis=expression * MICROMETRES_TO_MM,
        expression_std=_std(_field(model, "expEV", label), expression.shape[2], label, "expEV"),
        albedo_mean=_per_vertex(_field(model, "texMU", label), label, "texMU") / 255.0,
        albedo_basis=albedo,
        albedo_std=_std(_field(model, "texEV", label), albedo.shape[2], label, "texEV"),
        triangles=facing_front(mean_mm, triangles), landmark_indices=marks,
        jaw_candidates=jaw_candidates(mean_mm, marks),
        metadata={"source": "face3d BFM.mat", "file": label})


def load_mat(path: Any, *, trim: Any = None, expression: Any = None, expression_std: Any = None,
             landmarks: Any = None, n_identity: int | None = 100, n_albedo: int | None = 100,
             **unknown: Any) -> MorphableModel:
    """Load a Basel Face Model 2009 ``01_MorphableModel.mat`` or face3d ``BFM.mat``.

    Parameters
    ----------
    path : the ``.mat`` file.
    trim : 3DDFA ``model_info.mat`` (``trimIndex``, ``tri``, ``keypoints``), for BFM 2009.
    expression, expression_std : Guo et al.'s ``Exp_Pca.bin`` and ``std_exp.txt`` (trimmed mesh).
    landmarks : a text file of 68 1-based vertex indices (overrides the trim's keypoints).
    n_identity, n_albedo : components kept (the paper uses 100 of BFM's 199); None keeps all.
    """
    label = str(path)
    if unknown:
        raise ModelError(f"model file {label!r}: unknown companion file(s) "
                         f"{', '.join(sorted(unknown))}; expected trim, expression, "
                         "expression_std, landmarks")
    data = _loadmat(path, "model file")
    if "model" in data:
        if trim is not None or expression is not None:
            raise ModelError(f"model file {label!r}: face3d's BFM.mat is already trimmed and "
                             "has expressions; it takes no trim/expression files")
        return _face3d(data, label, n_identity, n_albedo)
    if "shapeMU" in data:
        return _bfm2009(data, label, trim, expression, expression_std, landmarks, n_identity,
                        n_albedo)
    raise ModelError(f"model file {label!r}: neither a Basel Face Model 2009 file (shapeMU, "
                     "shapePC, ...) nor face3d's BFM.mat (struct 'model')")

