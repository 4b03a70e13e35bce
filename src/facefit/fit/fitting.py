"""``ff.fit``: the stage schedule over :class:`FitProblem`, and :class:`FitResult`.

Stages (DESIGN.md): (1) pose from landmarks — closed-form affine start, then LM on the pose;
(2) landmarks + identity/expression with their prior; (3) everything with the photometric term.
Before each outer round the jaw landmarks are re-marched and visibility re-decided at the current
point, then LM runs with that discrete state frozen.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from ..backends import get_backend, to_numpy
from ..params import FaceParams
from .diagnostics import check_plausible
from .frame import ImageFrame, choose_frame
from .inputs import (
    as_landmarks,
    as_photo,
    check_fittable_landmarks,
    check_iterations,
    check_jacobian,
)
from .parameters import ParameterLayout
from .problem import FitProblem
from .solver import SolverOptions, levenberg_marquardt
from .weights import FitWeights

Array = Any

__all__ = ["PHOTOMETRIC_SMOOTHING", "FitResult", "fit", "smoothing_schedule"]


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
    """

    params: FaceParams
    x: Any
    energy: float
    history: list[dict[str, Any]]
    landmarks: Any
    problem: FitProblem = field(repr=False)
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    frame: ImageFrame | None = None
    photo: Any = field(default=None, repr=False)

    def render(self, background: Any = "photo") -> Any:
        """:class:`facefit.render.RenderResult` of the fitted face over the input photo."""
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
        return render(problem.model, self.params, size, back)

    def mesh(self) -> tuple[Any, Any, Any]:
        """Fitted mesh in image space: vertices (V, 3) as (x, y, depth) pixels, triangles
        (T, 3), per-vertex colours (V, 3) in [0, 1] (fitted albedo times shading)."""
        from ..render import pose_faces

        backend = get_backend()
        state = pose_faces(self.problem.model, [self.params], backend)
        xp = backend.xp
        vertices = xp.concat([state.points[0, ...], state.depth[0, ...][:, None]], axis=1)
        colours = xp.clip(state.colours[0, ...], 0.0, 1.0)
        return to_numpy(vertices), to_numpy(self.problem.arrays.triangles), to_numpy(colours)


def _indices(*spans: slice, backend: Any) -> Any:
    ids: list[int] = []
    for span in spans:
        ids.extend(range(span.start, span.stop))
    return backend.asarray(to_numpy(ids).astype("int64"))


def fit(image: Any, landmarks: Any = None, model: Any = None, jacobian: str = "analytic",
        photometric: bool = True, max_iterations: int | None = None, progress: bool = False,
        *, weights: FitWeights | None = None, rounds: int = 3,
        blas_threads: int | None = None, landmark_weights: Any = None,
        detector: str = "mediapipe") -> FitResult:
    """Fit the morphable model to a photo and its 68 landmarks.

    Parameters
    ----------
    image : (H, W, 3) array in [0, 1] (uint8 is scaled by 1/255) or an image path; None fits
        landmarks alone.
    landmarks : (68, 2) 0-based pixel positions (NaN = missing), a landmark file path, a
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
        Results are the same bits for any setting.
    landmark_weights : optional (68,) relative weight of each landmark; by default the
        detector's :attr:`~facefit.detect.DetectedFace.point_weights` for detected points,
        else all ones.
    detector : the detector used when ``landmarks`` is None (``"mediapipe"`` or ``"dlib"``).

    Returns
    -------
    FitResult
    """
    from ..detect.source import resolve_landmarks

    backend = get_backend()
    check_jacobian(jacobian, backend)
    max_iterations = check_iterations(max_iterations)
    photo_name = _photo_name(image)  # before detection may have read a path into an array
    image, landmarks, landmark_weights = resolve_landmarks(image, landmarks, landmark_weights,
                                                           detector)
    gram_threads = 1 if blas_threads is None else blas_threads  # see the docstring
    with backend.blas_threads(1):
        return _fit(image, landmarks, model, jacobian, photometric, max_iterations, progress,
                    weights, rounds, gram_threads, landmark_weights, photo_name)


def _fit(image: Any, landmarks: Any, model: Any, jacobian: str, photometric: bool,
         max_iterations: int | None, progress: bool, weights: FitWeights | None,
         rounds: int, gram_threads: int | None, landmark_weights: Any = None,
         photo_name: str = "the photo") -> FitResult:
    start = time.perf_counter()
    backend = get_backend()
    photo = as_photo(image) if photometric else None
    points, name = as_landmarks(landmarks)
    check_fittable_landmarks(points, None if photo is None else photo.shape, name)
    frame = None if photo is None else choose_frame(photo.shape, points)
    if frame is not None:
        working_image, working_points = frame.crop(photo), frame.to_working(points)
    else:
        working_image, working_points = photo, points
    problem = FitProblem(working_image, working_points, model, weights=weights,
                         backend=backend, landmark_weights=landmark_weights)
    layout: ParameterLayout = problem.layout
    per_round = max_iterations or 10
    # Photometric rounds on the blurred photo are stepping stones, stopped once a step gains
    # less than 0.1%; the last round, on the photo itself, stops below 0.01%. On the shared
    # photos this takes 21-24 photometric iterations instead of 30 (1e-6 everywhere), for a
    # final energy between 5.3% lower and 1.8% higher (benchmarks/README.md).
    options = SolverOptions(max_iterations=per_round, relative_decrease=1e-4)
    coarse_options = SolverOptions(max_iterations=per_round, relative_decrease=1e-3)
    # The landmark and prior terms are smooth and nearly quadratic once the pose is close, so
    # their stages take near-Gauss-Newton steps; the high damping floor of the defaults is for
    # the photometric term's bilinear-sampling ripples (see SolverOptions).
    geometric_options = SolverOptions(max_iterations=per_round, initial_damping=1e-3,
                                      damping_up=10.0, damping_down=0.3, min_damping=1e-12)
    history: list[dict[str, Any]] = []
    x = backend.asarray(problem.x0)
    geometric = [problem.landmark_term, problem.prior_term]

    def run(stage: str, terms: list[Any], active: Any, n_rounds: int, x: Any,
            options: SolverOptions, smoothing: list[float] | None = None,
            coarse_options: SolverOptions | None = None) -> Any:
        damping = None
        smoothing = smoothing or [0.0] * n_rounds
        for round_index in range(n_rounds):
            problem.freeze(x, terms)
            round_options = options
            photometric = problem.photometric_term
            if photometric is not None and photometric in terms:
                photometric.smooth(smoothing[round_index], x)
                if smoothing[round_index] and coarse_options is not None:
                    round_options = coarse_options
            report = levenberg_marquardt(
                lambda v: problem.residual_vector(v, terms),
                lambda v: problem.jacobian_matrix(v, jacobian, terms),
                x, active, round_options, stage=f"{stage}/{round_index}", damping=damping,
                gram_threads=gram_threads)
            history.extend(report.history)
            x, damping = report.x, report.history[-1]["lambda"] if report.history else None
            if progress:
                import sys

                print(f"facefit: {stage} round {round_index}: energy {report.energy:.6g} "
                      f"({report.reason})", file=sys.stderr)
            if report.iterations <= 1 and round_index > 0 and smoothing[round_index] == 0:
                break  # converged on the photo itself: another round would change nothing
        return x

    x = run("pose", geometric, _indices(layout.pose, backend=backend), 2, x, geometric_options)
    x = run("shape", geometric, _indices(layout.shape, layout.pose, backend=backend), rounds, x,
          geometric_options)
    if problem.photometric_term is not None:
        everything = _indices(slice(0, layout.size), backend=backend)
        x = run("photometric", problem.terms, everything, rounds, x, options,
                smoothing_schedule(rounds), coarse_options)
    problem.freeze(x)
    if problem.photometric_term is not None:
        problem.photometric_term.smooth(0.0)
    energy = problem.energy(x)
    host_x = to_numpy(x).astype("float64")
    params = layout.unpack(host_x)
    fitted = _fitted_landmarks(problem, x)
    if frame is not None:
        params, fitted = frame.params_to_photo(params), frame.to_photo(fitted)
    doubts = check_plausible(problem, x, photo_name)
    return FitResult(params=params, x=host_x, energy=energy, history=history,
                     landmarks=fitted, problem=problem, seconds=time.perf_counter() - start,
                     warnings=doubts, frame=frame, photo=photo)


#: Gaussian blur, in the photo's pixels, of the photometric rounds before the last (which is
#: always on the photo itself): coarse to fine. On the three shared photos, LM on the problem
#: frozen at the closed-form start ends 5-11% lower with it than on the photo alone, and below
#: a 1500-step Adam run (benchmarks/README.md); blurs of 3 px or 1.5 px first, or 2 px alone,
#: ended higher than 2 then 1 on at least one photo.
PHOTOMETRIC_SMOOTHING = (2.0, 1.0)


def smoothing_schedule(rounds: int) -> list[float]:
    """The photo's blur (pixels) in each of ``rounds`` photometric rounds: the first of
    :data:`PHOTOMETRIC_SMOOTHING`, as many as leave the last round on the photo itself."""
    coarse = list(PHOTOMETRIC_SMOOTHING[:max(rounds - 1, 0)])
    return coarse + [0.0] * (rounds - len(coarse))


def _photo_name(image: Any) -> str:
    if isinstance(image, str) or hasattr(image, "__fspath__"):
        return f"image '{os.fspath(image)}'"
    return "the photo"


def _fitted_landmarks(problem: FitProblem, x: Any) -> Any:
    from ..camera import project, rotate
    from ..geometry import rotation_matrix

    layout = problem.layout
    term = problem.landmark_term
    shape = term.mean + term.basis @ x[layout.shape]
    points, _ = project(rotate(shape, rotation_matrix(x[layout.rotation])), x[layout.scale],
                        x[layout.translation])
    host = to_numpy(points).astype("float64")
    host[to_numpy(term.vertex_ids) < 0] = float("nan")
    return host
