"""``ff.fit``: runs a schedule of stages (:mod:`.stages`) over a :class:`FitProblem`.

Stages (DESIGN.md): (1) pose from landmarks — closed-form affine start, then LM on the pose;
(2) landmarks + identity/expression with their prior; (3) everything with the photometric term.
Before each outer round the jaw landmarks are re-marched and visibility re-decided at the current
point, then LM runs with that discrete state frozen.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..backends import get_backend, to_numpy
from ..errors import FitError
from ..forward import Coefficients, Pose, evaluate
from ..params import FaceParams
from .detail import albedo_detail
from .diagnostics import check_plausible
from .frame import ImageFrame, choose_frame
from .inputs import (
    as_landmarks,
    as_photo,
    as_point_weights,
    check_fittable_landmarks,
    check_jacobian,
    contour_outline,
    weighted_points,
)
from .options import FitOptions
from .problem import FitProblem
from .solver import IterationRecord, levenberg_marquardt
from .stages import Stage
from .weights import FitWeights

Array = Any

__all__ = ["FitResult", "fit"]


@dataclass
class FitResult:
    """A fitted face.

    Attributes
    ----------
    params : the fitted :class:`FaceParams`.
    x : (n,) host vector, the same as :class:`FitProblem`'s parameter vector.
    energy : sum of squared residuals of the problem at ``x`` (state frozen at ``x``).
    history : per-iteration dicts (stage, iteration, energy, step, lambda, accepted, seconds).
    landmarks : (68, 2) fitted landmark positions in the image (jaw by landmark marching).
    problem : the :class:`FitProblem` that was solved. For a photo of more than 4 megapixels
        it is posed on a crop around the face at a working resolution (see ``frame``): ``x``
        and ``energy`` are the problem's, while ``params``, ``landmarks``, ``render()`` and
        ``mesh()`` are in the photo's pixels.
    seconds : wall time of the fit.
    warnings : doubts about the result, also issued as :class:`facefit.FitWarning` (e.g.
        landmarks that seem not to belong to the photo); empty for a plausible fit.
    frame : the :class:`~facefit.fit.frame.ImageFrame` the problem is posed in, or None when
        the photo was fitted as it is.
    photo : the photo as read, (H, W, 3) uint8 or float in [0, 1]; None without one.
    albedo_detail : (V, 3) host array, the per-vertex colour beyond the model's albedo space
        (:mod:`facefit.fit.detail`): the fitted face's albedo is the model's albedo at
        ``params.albedo`` plus this. None without a photo or with ``fit(detail=False)``.
    """

    params: FaceParams
    x: Any
    energy: float
    history: list[IterationRecord]
    landmarks: Any
    problem: FitProblem = field(repr=False)
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    frame: ImageFrame | None = None
    photo: Any = field(default=None, repr=False)
    albedo_detail: Any = field(default=None, repr=False)

    def albedo(self, detail: bool = True) -> Any:
        """(V, 3) host albedo of the fitted face, unclipped: the model's at ``params.albedo``
        plus, with ``detail``, :attr:`albedo_detail`."""
        model = self.problem.model
        albedo = to_numpy(evaluate(model.arrays(self.problem.backend), Coefficients(
            albedo=self.problem.backend.asarray(self.params.for_model(model).albedo))).albedo)
        if detail and self.albedo_detail is not None:
            albedo = albedo + self.albedo_detail
        return albedo

    def render(self, background: Any = "photo", detail: bool = True,
               region: str = "face") -> Any:
        """:class:`facefit.render.RenderResult` of the fitted face over the input photo;
        ``detail=False`` renders the model's albedo alone (without :attr:`albedo_detail`).

        ``region="face"`` (default) renders the model's face region, the part compared with
        the photo (:mod:`facefit.model.regions`); ``"all"`` the whole mesh.
        """
        from ..io import read_image
        from ..render import render

        problem = self.problem
        if self.photo is not None:
            size = self.photo.shape[:2]
            photo = problem.image if self.frame is None else read_image(self.photo)
            back = photo if isinstance(background, str) and background == "photo" \
                else background
        else:
            pts = self.landmarks[~(self.landmarks != self.landmarks).any(axis=1)]
            size = (int(pts[:, 1].max() * 1.2) + 1, int(pts[:, 0].max() * 1.2) + 1)
            back = None if isinstance(background, str) else background
        return render(problem.model, self.params, size, back, backend=problem.backend,
                      albedo_detail=self.albedo_detail if detail else None, region=region)

    def mesh(self) -> tuple[Any, Any, Any]:
        """Fitted mesh in image space: vertices (V, 3) as (x, y, depth) pixels, triangles
        (T, 3), per-vertex colours (V, 3) in [0, 1] (fitted albedo with its detail, times
        shading)."""
        backend = self.problem.backend
        model = self.problem.model
        coefficients = Coefficients.of_params([self.params], model, backend)
        state = evaluate(model.arrays(backend), coefficients,
                         Pose.of_params([self.params], backend))
        xp = backend.xp
        vertices = xp.concat([state.points[0, ...], state.depth[0, ...][:, None]], axis=1)
        colours = xp.clip(backend.asarray(self.albedo()) * state.shading[0, ...], 0.0, 1.0)
        return to_numpy(vertices), to_numpy(self.problem.arrays.triangles), to_numpy(colours)


def fit(image: Any, landmarks: Any = None, model: Any = None, jacobian: str = "analytic",
        photometric: bool = True, max_iterations: int | None = None, progress: bool = False,
        *, weights: FitWeights | None = None, rounds: int = 3,
        blas_threads: int | None = None, landmark_weights: Any = None,
        detector: str = "mediapipe", terms: Sequence[Any] = (),
        stages: Sequence[Stage] | None = None, detail: bool = True,
        options: FitOptions | None = None, robust: Any = None,
        contour: Any = None) -> FitResult:
    """Fit the morphable model to a photo and its 68 landmarks.

    Parameters
    ----------
    image : (H, W, 3) array in [0, 1] (uint8 is scaled by 1/255) or an image path; None fits
        landmarks alone.
    landmarks : (68, 2) 0-based pixel positions (NaN = missing), a landmark file path (with a
        detector's outline beside it, if any: see ``contour``), a
        :class:`facefit.detect.DetectedFace`, or None (default) to detect the largest face in
        ``image`` (extra ``facefit[detect]``).
    model : a :class:`facefit.MorphableModel` or a model file path; None loads the embedded
        default.
    jacobian : ``"analytic"`` (default), ``"complex-step"`` or ``"autograd"`` (torch).
    photometric : False fits pose, identity and expression to the landmarks alone.
    max_iterations : cap on LM iterations per round, a positive integer (default: 10 per
        round).
    progress : print one line per stage to stderr.
    weights : energy weights (:class:`FitWeights`).
    rounds : outer rounds of the landmark and photometric stages (discrete state re-decided
        before each).
    blas_threads : host BLAS threads for the normal matrix ``J^T J``, the fit's one large
        product, on the NumPy backend. None (default) is one thread, as for every other
        product: OpenBLAS' worker threads wait for work by spinning, so on a machine whose
        cores are busy with other work (parallel fits, ``--workers``, Dask) each product
        waits for a descheduled worker, and a fit took 4-5x as long as on one thread (the
        normal matrix alone 9x). On an idle machine two threads save about 1.5 ms per
        iteration (3 %); pass the core count to take that when the cores are yours alone.
        Results are the same bits for any setting. On the torch backend a fit runs torch's CPU
        ops on one intra-op thread, for the same reason (busy cores: 31 s against 5.3 s).
    landmark_weights : optional (68,) relative weight of each landmark; by default the
        detector's :attr:`~facefit.detect.DetectedFace.point_weights` for detected points,
        else all ones. A point weighted 0 counts as missing (NaN): the fit does not depend on
        where it lies (it is still checked as input, like every point given, and where fewer
        than 4 points are weighted, all place the starting pose).
    detector : the detector used when ``landmarks`` is None (``"mediapipe"`` or ``"dlib"``).
    terms : extra residual terms (:mod:`facefit.fit.terms`; a term or a function
        ``problem -> term``), minimised with the others in the last stage of the default
        schedule, or in the stages of ``stages`` that name them (``terms=None`` there names
        every term).
    stages : the schedule, a list of :class:`facefit.fit.Stage`; None (default) is
        :func:`facefit.fit.default_stages` (``rounds`` and ``max_iterations`` apply to it).
    detail : after the fit, solve the per-vertex albedo detail beyond the model's albedo
        space (:mod:`facefit.fit.detail`, ``FitResult.albedo_detail``; about 0.1 s).
    robust : None (default: least squares), ``"geman-mcclure"``, ``"cauchy"`` or a
        :class:`~facefit.fit.robust.RobustOptions`: robust photometric fitting by IRLS, the
        samples' weights recomputed before each photometric round and held within it, so that
        occluders (glasses, a hand, hair) do not drag albedo and light. Behind a dark bar over
        the eyes of a synthetic face it recovers the face's colours where least squares does
        not (tests/test_fit_robust.py); on the shared photos it lowers the landmark error a
        little and raises the plain RMSE inside the face outline, which it no longer weighs
        pixel by pixel (benchmarks/README.md).
    contour : with a photo, fit the model's jaw silhouette to the face's outline
        (:mod:`facefit.fit.terms.contour`) from the shape stage on, for jaw points missing or
        given a weight below 1. None (default): where the landmarks come from a detector that
        outlines the face (MediaPipe: :attr:`facefit.detect.DetectedFace.outline`, or the
        ``NAME.outline.pts`` that ``facefit detect`` writes beside a landmark file ``NAME.pts``,
        :func:`facefit.detect.source.read_outline`), that outline, in place of the detector's
        jaw points (their weights 0 unless ``landmark_weights`` is given); otherwise no contour
        term. True: that outline, else the photo's skin edges (where it stops looking like the
        cheeks' skin). A (P, 2) array: this outline, in the photo's pixels. False: the jaw
        follows its landmarks and the prior alone (the file's own jaw points, say, corrected
        by hand beside a detector's outline).
    options : all of the above as one :class:`FitOptions`; when given, the keyword
        arguments are ignored.

    Returns
    -------
    FitResult
    """
    from ..detect.source import resolve_landmarks

    if options is None:
        options = FitOptions(
            jacobian=jacobian, photometric=photometric, max_iterations=max_iterations,
            progress=progress, weights=weights or FitWeights(), rounds=rounds,
            blas_threads=blas_threads, landmark_weights=landmark_weights, detector=detector,
            terms=tuple(terms), stages=None if stages is None else tuple(stages),
            detail=detail, robust=robust, contour=contour)
    backend = get_backend()
    check_jacobian(options.jacobian, backend)
    photo_name = _photo_name(image)  # before detection may have read a path into an array
    image, landmarks, point_weights, detected_outline = resolve_landmarks(
        image, landmarks, options.landmark_weights, options.detector)
    fits_photo = image is not None and options.photometric
    contour, point_weights = _contour_source(options, detected_outline, point_weights,
                                             fits_photo)
    with backend.blas_threads(1):
        return _fit(image, landmarks, model, options, point_weights, photo_name, contour)


def _contour_source(options: FitOptions, detected_outline: Any, point_weights: Any,
                    fits_photo: bool) -> tuple[Any, Any]:
    """What the contour term fits the jaw to, and the landmark weights that go with it.

    A detector's outline (a :class:`DetectedFace`'s, or the one saved beside a landmark file)
    is used, where a photo is fitted, unless ``contour`` is False or an outline of its own;
    it then stands in for the detector's jaw points (their weights 0, unless the caller set
    the weights). The outline is what the detector sees of the jaw: MediaPipe's jaw points are
    placed on it by a plane rule (:func:`facefit.detect.jaw.outline_jaw`), and fitted to the
    outline the model places its own jaw points on it as it does on any face (landmark
    marching, :func:`facefit.render.landmarks.jaw_spacing`), which follows a turned jaw better.
    Without a photo there is no contour term, and the jaw points keep their weights.
    """
    contour = options.contour
    if contour is False or (contour is not None and contour is not True) or not fits_photo:
        return contour, point_weights
    if detected_outline is None:
        return bool(contour), point_weights
    if options.landmark_weights is None:
        point_weights = to_numpy([1.0] * 68 if point_weights is None
                                 else point_weights).astype("float64").copy()
        point_weights[:17] = 0.0
    return detected_outline, point_weights


def _fit(image: Any, landmarks: Any, model: Any, options: FitOptions, landmark_weights: Any,
         photo_name: str, contour: Any = None) -> FitResult:
    start = time.perf_counter()
    backend = get_backend()
    photo = as_photo(image) if options.photometric else None
    points, name = as_landmarks(landmarks)
    check_fittable_landmarks(points, None if photo is None else photo.shape, name)
    # The crop, like the rest of the fit, reads only the points it weighs.
    frame = None if photo is None else choose_frame(
        photo.shape, weighted_points(points, as_point_weights(landmark_weights)))
    outline = contour_outline(contour)
    if frame is not None:
        working_image, working_points = frame.crop(photo), frame.to_working(points)
        if outline is not None:
            outline = frame.to_working(outline)
    else:
        working_image, working_points = photo, points
    problem = FitProblem(working_image, working_points, model, weights=options.weights,
                         max_samples=options.max_samples, backend=backend,
                         landmark_weights=landmark_weights, terms=options.terms,
                         robust=options.robust,
                         contour=outline if outline is not None else bool(contour))
    history: list[IterationRecord] = []
    x = backend.asarray(problem.x0)
    gram_threads = 1 if options.blas_threads is None else options.blas_threads
    for stage in options.schedule(has_photo=problem.photometric_term is not None):
        x = _run_stage(problem, stage, x, options, gram_threads, history)
    problem.freeze(x)
    if problem.photometric_term is not None:
        problem.photometric_term.smooth(0.0)
    energy = problem.energy(x)
    host_x = to_numpy(x).astype("float64")
    params = problem.layout.unpack(host_x)
    fitted = to_numpy(problem.landmark_term.fitted_points(x)).astype("float64")
    if frame is not None:
        params, fitted = frame.params_to_photo(params), frame.to_photo(fitted)
    doubts = check_plausible(problem, x, photo_name)
    detail = None
    if options.detail and problem.image is not None:
        detail = to_numpy(albedo_detail(problem, x)).astype("float64")
    return FitResult(params=params, x=host_x, energy=energy, history=history,
                     landmarks=fitted, problem=problem, seconds=time.perf_counter() - start,
                     warnings=doubts, frame=frame, photo=photo, albedo_detail=detail)


def _stage_terms(problem: FitProblem, stage: Stage) -> list[Any]:
    if stage.terms is None:
        return list(problem.terms)
    # The terms that need a photo (or are turned off) are optional: skipped when absent.
    missing = [name for name in stage.terms if problem.term(name) is None
               and name not in ("photometric", "contour")]
    if missing:
        raise FitError(f"stage {stage.name!r} names terms the problem does not have: "
                       f"{', '.join(missing)}")
    return [problem.term(name) for name in stage.terms if problem.term(name) is not None]


def _free_indices(problem: FitProblem, stage: Stage) -> Any:
    layout = problem.layout
    spans = {"identity": layout.identity, "expression": layout.expression,
             "albedo": layout.albedo, "light": layout.light, "rotation": layout.rotation,
             "scale": slice(layout.scale, layout.scale + 1),
             "translation": layout.translation}
    ids = sorted({i for block in stage.free for i in range(spans[block].start,
                                                           spans[block].stop)})
    return problem.backend.asarray(to_numpy(ids).astype("int64"))


def _run_stage(problem: FitProblem, stage: Stage, x: Any, options: FitOptions,
               gram_threads: int, history: list[IterationRecord]) -> Any:
    """``stage.rounds`` rounds of LM on the stage's terms and free blocks, from ``x``."""
    terms = _stage_terms(problem, stage)
    active = _free_indices(problem, stage)
    photometric = problem.photometric_term
    damping = None
    for round_index in range(stage.rounds):
        problem.freeze(x, terms)
        blur = stage.blur(round_index)
        if photometric is not None and photometric in terms:
            photometric.smooth(blur, x)
            photometric.reweight(x)  # IRLS weights for this round (robust fits only)
        report = levenberg_marquardt(
            lambda v: problem.residual_vector(v, terms, reduced=True),
            lambda v: problem.jacobian_matrix(v, options.jacobian, terms, reduced=True),
            x, active, stage.options(round_index), stage=f"{stage.name}/{round_index}",
            damping=damping, gram_threads=gram_threads,
            normal_equations=lambda v, r, columns: problem.normal_equations(
                v, r, options.jacobian, terms, reduced=True, threads=gram_threads,
                columns=columns))
        history.extend(report.history)
        x, damping = report.x, report.history[-1]["lambda"] if report.history else None
        if options.progress:
            print(f"facefit: {stage.name} round {round_index}: energy {report.energy:.6g} "
                  f"({report.reason})", file=sys.stderr)
        if report.iterations <= 1 and round_index > 0 and blur == 0:
            break  # converged on the photo itself: another round would change nothing
    return x


def _photo_name(image: Any) -> str:
    if isinstance(image, str) or hasattr(image, "__fspath__"):
        return f"image '{os.fspath(image)}'"
    return "the photo"
