"""Render faces of a morphable model: ``ff.render`` and its batched form.

Pipeline (nvdiffrast's split): evaluate the model (shape, albedo), pose it with the
weak-perspective camera, shade vertices with SH light in camera space, rasterize (discrete),
interpolate the vertex colours (smooth), composite over the background.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..backends import Backend, array_namespace, get_backend, promote, to_numpy
from ..camera import project, rotate
from ..errors import FacefitError
from ..geometry import rotation_matrix, vertex_normals
from ..lighting import sh_shading
from ..model.morphable_model import basis_product
from ..params import FaceParams
from .interpolate import interpolate_image
from .landmarks import landmark_vertices
from .rasterize import Rasterization, rasterize

Array = Any

__all__ = ["FaceState", "RenderResult", "linear_combination", "pose_faces", "render",
           "render_batch"]


def linear_combination(mean: Array, basis: Array, coefficients: Array) -> Array:
    """``mean + basis @ coefficients`` for a batch of coefficient vectors.

    Parameters
    ----------
    mean : (V, 3) array.
    basis : (V, 3, K) array (already scaled by the std, so coefficients are N(0, 1)).
    coefficients : (..., K) array, real or complex.

    Returns
    -------
    (..., V, 3) array.
    """
    xp = array_namespace(mean, basis, coefficients)
    mean, offsets = promote(mean, basis_product(basis, coefficients), xp=xp)
    return mean + offsets


@dataclass(frozen=True)
class FaceState:
    """B posed, shaded faces on one backend.

    Attributes
    ----------
    vertices : (B, V, 3) model-space shape.
    rotated : (B, V, 3) camera-space shape before projection.
    points : (B, V, 2) image coordinates.
    depth : (B, V) depth, larger nearer the camera.
    normals : (B, V, 3) unit camera-space normals.
    albedo : (B, V, 3) linear (unclipped) albedo.
    colours : (B, V, 3) ``albedo * shading``.
    """

    vertices: Array
    rotated: Array
    points: Array
    depth: Array
    normals: Array
    albedo: Array
    colours: Array


def pose_faces(model: Any, params: Sequence[FaceParams], backend: Backend | None = None
               ) -> FaceState:
    """Evaluate, pose and shade ``params`` (each filled in for ``model``) on ``backend``."""
    backend = backend or get_backend()
    xp = backend.xp
    arrays = model.arrays(backend)
    filled = [p.for_model(model) for p in params]

    def stack(name: str) -> Array:
        return backend.asarray(to_numpy([getattr(p, name) for p in filled]))

    vertices = linear_combination(arrays.mean_shape, arrays.identity, stack("identity"))
    vertices = vertices + linear_combination(
        xp.zeros_like(arrays.mean_shape), arrays.expression, stack("expression"))
    rotation = rotation_matrix(stack("rotation"))  # (B, 3, 3)
    rotated = rotate(vertices, rotation)
    points, depth = project(rotated, stack("scale"), stack("translation"))
    normals = vertex_normals(rotated, arrays.triangles)
    albedo = linear_combination(arrays.albedo_mean, arrays.albedo, stack("albedo"))
    colours = albedo * sh_shading(normals, stack("light"))
    return FaceState(vertices, rotated, points, depth, normals, albedo, colours)


@dataclass(frozen=True)
class RenderResult:
    """A rendered face (or a batch of B of them, with a leading axis), on the active backend.

    Attributes
    ----------
    image : (H, W, 3) colours in [0, 1], composited over the background.
    mask : (H, W) bool, pixels covered by the face.
    depth : (H, W) depth of the face surface (larger nearer the camera; NaN off the face).
    landmarks : (68, 2) image positions of the iBUG landmarks (jaw by landmark marching; NaN
        where the model has no vertex for a landmark).
    points : (V, 2) projected vertices.
    raster : the :class:`Rasterization` behind the images.
    """

    image: Array
    mask: Array
    depth: Array
    landmarks: Array
    points: Array
    raster: Rasterization

    def to_numpy(self) -> dict[str, Any]:
        """The arrays as NumPy (host) arrays, by name."""
        return {name: to_numpy(getattr(self, name))
                for name in ("image", "mask", "depth", "landmarks", "points")}


def _landmark_points(points: Array, vertex_ids: Array) -> Array:
    xp = array_namespace(points, vertex_ids)
    safe = xp.where(vertex_ids >= 0, vertex_ids, xp.zeros_like(vertex_ids))
    picked = xp.stack([xp.take(points[b, ...], safe[b, ...], axis=0)
                       for b in range(points.shape[0])])
    missing = (vertex_ids < 0)[..., None]
    return xp.where(missing, xp.full_like(picked, math.nan), picked)


def _background(background: Any, size: tuple[int, int], batch: int, backend: Backend) -> Any:
    if background is None:
        return 0.0
    back = backend.asarray(background)
    height, width = size
    if back.ndim == 2:
        back = backend.xp.stack([back] * 3, axis=-1)
    if tuple(back.shape[-3:]) != (height, width, 3) or back.ndim not in (3, 4):
        raise FacefitError(f"background must be (H, W, 3) = ({height}, {width}, 3) or "
                           f"(B, H, W, 3), got {tuple(back.shape)}")
    if back.ndim == 4 and back.shape[0] != batch:
        raise FacefitError(f"background batch {back.shape[0]} does not match {batch} faces")
    return back


def render_batch(model: Any, params: Sequence[FaceParams], size: tuple[int, int],
                 background: Any = None) -> RenderResult:
    """Render B faces of ``model`` at once; every array of the result has a leading B axis.

    Parameters
    ----------
    model : a :class:`facefit.MorphableModel`.
    params : B :class:`FaceParams`.
    size : (H, W) of the images.
    background : None (black), an (H, W, 3) / (H, W) image, or (B, H, W, 3) images in [0, 1].
    """
    backend = get_backend()
    xp = backend.xp
    size = (int(size[0]), int(size[1]))
    if not params:
        raise FacefitError("render_batch needs at least one FaceParams")
    state = pose_faces(model, params, backend)
    arrays = model.arrays(backend)
    raster = rasterize(state.points, state.depth, arrays.triangles, size)
    colours = xp.clip(state.colours, 0.0, 1.0)
    image = interpolate_image(colours, arrays.triangles, raster,
                              _background(background, size, len(params), backend))
    vertex_ids = landmark_vertices(state.points, arrays.landmark_indices, arrays.jaw_candidates)
    return RenderResult(
        image=image, mask=raster.mask(), depth=raster.depth_image(),
        landmarks=_landmark_points(state.points, vertex_ids), points=state.points, raster=raster)


def render(model: Any, params: FaceParams, size: tuple[int, int] = (512, 512),
           background: Any = None) -> RenderResult:
    """Render one face of ``model`` with ``params`` into an image of ``size`` (H, W).

    Parameters
    ----------
    model : a :class:`facefit.MorphableModel`.
    params : the face's :class:`FaceParams` (missing coefficients are zeros).
    size : (H, W).
    background : None (black) or an (H, W, 3) / (H, W) image in [0, 1].

    Returns
    -------
    RenderResult
        ``image`` (H, W, 3), ``mask`` (H, W), ``depth`` (H, W), ``landmarks`` (68, 2), arrays of
        the active backend.
    """
    batch = render_batch(model, [params], size, background)
    raster = batch.raster
    single = Rasterization(raster.size, 1, raster.pixels, raster.triangles, raster.barycentrics,
                           raster.depth, batched_input=False)
    return RenderResult(image=batch.image[0, ...], mask=batch.mask[0, ...],
                        depth=batch.depth[0, ...], landmarks=batch.landmarks[0, ...],
                        points=batch.points[0, ...], raster=single)
