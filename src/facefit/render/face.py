"""Render faces of a morphable model: ``ff.render`` and its batched form.

A composition of primitives, in nvdiffrast's manner: :func:`facefit.forward.evaluate` (shape,
pose, normals, SH shading of each vertex), :func:`rasterize` (discrete: which triangle covers
each pixel), :func:`interpolate` (smooth: vertex attributes per pixel), composite over the
background. The generator reuses the same primitives with its own shader.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..backends import Backend, get_backend, to_numpy
from ..errors import FacefitError
from ..forward import Coefficients, FaceState, Pose, evaluate
from ..params import FaceParams
from .interpolate import interpolate_image
from .landmarks import landmark_points, marching_table
from .rasterize import Rasterization, rasterize

Array = Any

__all__ = ["RenderResult", "pose_faces", "render", "render_batch"]


def pose_faces(model: Any, params: Sequence[FaceParams], backend: Backend | None = None
               ) -> FaceState:
    """:func:`facefit.forward.evaluate` of B :class:`FaceParams` (each filled in for
    ``model``) on ``backend`` (default: the active one): every quantity has a leading B axis."""
    backend = backend or get_backend()
    return evaluate(model.arrays(backend), Coefficients.of_params(params, model, backend),
                    Pose.of_params(params, backend))


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


def _region_triangles(model: Any, region: str, backend: Backend) -> Array:
    if region == "all":
        return model.arrays(backend).triangles
    if region == "face":
        from ..model.regions import face_region

        return face_region(model, backend)["triangles"]
    raise FacefitError(f"region must be 'all' or 'face', got {region!r}")


def render_batch(model: Any, params: Sequence[FaceParams], size: tuple[int, int],
                 background: Any = None, *, backend: Backend | None = None,
                 albedo_detail: Any = None, region: str = "all") -> RenderResult:
    """Render B faces of ``model`` at once; every array of the result has a leading B axis.

    Parameters
    ----------
    model : a :class:`facefit.MorphableModel`.
    params : B :class:`FaceParams`.
    size : (H, W) of the images.
    background : None (black), an (H, W, 3) / (H, W) image, or (B, H, W, 3) images in [0, 1].
    backend : where to compute and create the result (default: the active backend; the
        parameters are host values, so they do not choose one).
    albedo_detail : optional (V, 3) or (B, V, 3) per-vertex colour added to the model's
        albedo at ``params.albedo`` (:attr:`facefit.FitResult.albedo_detail`, or the
        ``NAME.albedo_detail.npy`` that ``facefit fit`` writes).
    region : ``"all"`` (default) renders the whole mesh; ``"face"`` only the model's face
        region (:mod:`facefit.model.regions`: what a 300-W annotator outlines), as fits are
        compared with photos and scored.
    """
    backend = backend or get_backend()
    xp = backend.xp
    size = (int(size[0]), int(size[1]))
    if not params:
        raise FacefitError("render_batch needs at least one FaceParams")
    state = pose_faces(model, params, backend)
    arrays = model.arrays(backend)
    triangles = _region_triangles(model, region, backend)
    raster = rasterize(state.points, state.depth, triangles, size)
    colours = state.colours if albedo_detail is None else \
        (state.albedo + backend.asarray(albedo_detail)) * state.shading
    colours = xp.clip(colours, 0.0, 1.0)
    image = interpolate_image(colours, triangles, raster,
                              _background(background, size, len(params), backend))
    assert state.pose is not None
    landmarks = landmark_points(state.points, arrays.landmark_indices,
                                marching_table(arrays, state.pose.rotation))
    return RenderResult(image=image, mask=raster.mask(), depth=raster.depth_image(),
                        landmarks=landmarks, points=state.points, raster=raster)


def render(model: Any, params: FaceParams, size: tuple[int, int] = (512, 512),
           background: Any = None, *, backend: Backend | None = None,
           albedo_detail: Any = None, region: str = "all") -> RenderResult:
    """Render one face of ``model`` with ``params`` into an image of ``size`` (H, W).

    Parameters
    ----------
    model : a :class:`facefit.MorphableModel`.
    params : the face's :class:`FaceParams` (missing coefficients are zeros).
    size : (H, W).
    background : None (black) or an (H, W, 3) / (H, W) image in [0, 1].
    backend : where to compute (default: the active backend).
    albedo_detail : optional (V, 3) per-vertex colour added to the model's albedo.
    region : ``"all"`` (default) or ``"face"`` (see :func:`render_batch`).

    Returns
    -------
    RenderResult
        ``image`` (H, W, 3), ``mask`` (H, W), ``depth`` (H, W), ``landmarks`` (68, 2), arrays of
        the active backend.
    """
    batch = render_batch(model, [params], size, background, backend=backend,
                         albedo_detail=albedo_detail, region=region)
    raster = batch.raster
    single = Rasterization(raster.size, 1, raster.pixels, raster.triangles, raster.barycentrics,
                           raster.depth, batched_input=False)
    return RenderResult(image=batch.image[0, ...], mask=batch.mask[0, ...],
                        depth=batch.depth[0, ...], landmarks=batch.landmarks[0, ...],
                        points=batch.points[0, ...], raster=single)
