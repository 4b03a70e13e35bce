"""What ``facefit bench`` times: pipeline stages, baselines, and scaling.

Each function returns rows (dicts) with a ``section`` key; seconds are wall time. This is a
benchmark harness, so it reaches into NumPy, SciPy and torch directly (lazily imported), as
the files under ``tools/`` do; the library proper keeps that to ``facefit.backends``.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..backends import backend_of, get_backend, use_backend
from .timing import measure

__all__ = ["baseline_rows", "busy_cores", "frozen_lm", "scaling_rows", "stage_rows", "user_rows"]

Row = dict[str, Any]


def _safe(row: Row, fn: Callable[[], dict[str, float]]) -> Row:
    try:
        row.update(fn())
    except Exception as exc:  # an unsupported combination is a row, not a crash
        row["unsupported"] = f"{type(exc).__name__}: {exc}"[:200]
    return row


def stage_rows(image: Any, points: Any, backend_name: str, dtype: str, jacobians: list[str],
               repeats: int) -> list[Row]:
    """Model evaluation, rasterize, shade, residuals, each Jacobian, the normal-equation solve
    and the whole fit, on one backend and dtype."""
    from ..backends import cholesky_solve
    from ..fit import FitProblem, fit
    from ..model import load_model
    from ..params import FaceParams
    from ..render import pose_faces, rasterize

    rows: list[Row] = []
    model = load_model()
    size = image.shape[:2]
    with use_backend(backend_name, dtype=dtype) as backend:
        xp = backend.xp
        params = FaceParams.framing(model, size)
        params.rotation = np.array([0.1, 0.3, 0.0])
        arrays = model.arrays(backend)
        state = pose_faces(model, [params], backend)
        problem = FitProblem(image, points, model)
        x = backend.asarray(problem.x0)

        def base(stage: str) -> Row:
            return {"section": "stages", "stage": stage, "backend": backend_name,
                    "dtype": dtype}

        rows.append(_safe(base("model evaluation"), lambda: measure(
            lambda: (model.shape(params.identity, params.expression), model.albedo()),
            repeats=repeats)))
        rows.append(_safe(base("rasterize"), lambda: measure(
            lambda: rasterize(state.points, state.depth, arrays.triangles, size),
            repeats=repeats)))
        rows.append(_safe(base("shade"), lambda: measure(
            lambda: pose_faces(model, [params], backend), repeats=repeats)))
        # Alternate between two points: the photometric term reuses its last forward pass
        # for an equal point, and each figure here should include one.
        points_cycle = itertools.cycle([x, x + 1e-7])
        rows.append(_safe(base("residuals"), lambda: measure(
            lambda: problem.residual_vector(next(points_cycle)), repeats=repeats)))
        for strategy in jacobians:
            count = repeats if strategy == "analytic" else max(1, repeats // 3)

            def jacobian(s: str = strategy, n: int = count) -> dict[str, float]:
                return measure(lambda: problem.jacobian_matrix(next(points_cycle), s),
                               repeats=n)

            rows.append(_safe(base(f"jacobian {strategy}"), jacobian))
        jac = problem.jacobian_matrix(x)
        normal = xp.matrix_transpose(jac) @ jac
        damped = normal + 1e-3 * xp.eye(normal.shape[0], dtype=normal.dtype,
                                        device=normal.device)
        rhs = xp.matrix_transpose(jac) @ problem.residual_vector(x)
        with backend.blas_threads(1):
            rows.append(_safe(base("normal-equation solve"), lambda: measure(
                lambda: cholesky_solve(damped, rhs), repeats=repeats)))
        timings: list[float] = []
        energy: list[float] = []

        def whole() -> dict[str, float]:
            fit(image, points, model)  # warm-up
            for _ in range(max(1, repeats // 2)):
                result = fit(image, points, model)
                timings.append(result.seconds)
                energy.append(result.energy)
            return {"min_s": min(timings), "median_s": float(np.median(timings)),
                    "energy": energy[-1]}

        rows.append(_safe(base("fit"), whole))
    return rows


def frozen_lm(problem: Any, x0: Any, on_photo: Callable[[float], None] | None = None) -> Any:
    """facefit's LM on ``problem`` as ``fit``'s photometric stage runs it, with the discrete
    state kept frozen: coarse to fine (:func:`facefit.fit.smoothing_schedule`), the blurred
    rounds stopped as in ``fit`` (10 iterations, or a step gaining under 0.1%), then on the
    photo itself to convergence (100 iterations, or a step gaining under 1e-6: stopping at
    1e-9 took twice the time for the same energy to 6 digits). ``on_photo(energy)`` is
    called at each evaluation of the photo's own energy. Returns the last round's report,
    with ``iterations`` counting every round."""
    from ..fit import SolverOptions, levenberg_marquardt, smoothing_schedule

    backend = backend_of(x0)  # where the problem's arrays are, whatever is active now
    xp = backend.xp
    everything = backend.asarray(list(range(problem.layout.size)))
    term = problem.photometric_term
    schedule = smoothing_schedule(3) if term is not None else [0.0]
    coarse = SolverOptions(max_iterations=10, relative_decrease=1e-3)
    final = SolverOptions(max_iterations=100, relative_decrease=1e-6)

    def residuals(v: Any) -> Any:
        r = problem.residual_vector(v)
        if on_photo is not None and (term is None or term.smoothing == 0):
            on_photo(float(xp.sum(r * r)))
        return r

    x, damping, iterations = x0, None, 0
    with backend.blas_threads(1):
        for sigma in schedule:
            if term is not None:
                term.smooth(sigma, x)
            report = levenberg_marquardt(residuals, problem.jacobian_matrix, x, everything,
                                         coarse if sigma else final, damping=damping,
                                         gram_threads=1)
            x, iterations = report.x, iterations + report.iterations
            damping = report.history[-1]["lambda"] if report.history else None
    report.iterations = iterations
    return report


def _frozen_problem(image: Any, points: Any) -> tuple[Any, Row]:
    """facefit's LM on the full problem with the discrete state frozen at ``x0``: the
    like-for-like reference the baselines are compared with. The row's ``curve`` is
    ``[seconds, energy]`` at each evaluation of the photo's own energy, to time when the LM
    reached another method's energy."""
    from ..fit import FitProblem

    with use_backend("numpy") as backend:
        problem = FitProblem(image, points)
        x0 = backend.asarray(problem.x0)
        frozen_lm(problem, x0)  # warm-up
        curve: list[list[float]] = []
        start = time.perf_counter()
        report = frozen_lm(problem, x0, lambda energy: curve.append(
            [time.perf_counter() - start, energy]))
        seconds = time.perf_counter() - start
        if problem.photometric_term is not None:
            problem.photometric_term.smooth(0.0)
    return problem, {"section": "baselines", "method": "facefit LM (frozen problem)",
                     "seconds": seconds, "energy": report.energy,
                     "iterations": report.iterations, "curve": curve}


def _scipy(problem: Any, which: str) -> Row:
    """The original code's approach: ``least_squares(problem.residuals, problem.x0,
    jac="2-point")`` (NumPy, BLAS threads left as they are)."""
    from scipy.optimize import least_squares

    with use_backend("numpy"):
        start = time.perf_counter()
        solution = least_squares(problem.residuals, problem.x0, jac="2-point", method="trf")
        seconds = time.perf_counter() - start
    return {"section": "baselines", "method": f"scipy least_squares 2-point ({which})",
            "seconds": seconds, "energy": float(2 * solution.cost),
            "iterations": int(solution.nfev)}


def _full_fit(image: Any, points: Any, repeats: int) -> tuple[Any, Row]:
    """``ff.fit`` on NumPy (best of ``repeats`` after a warm-up), and its result: the target's
    "full fit", whose energy is that of its own problem (state frozen at its end point)."""
    from ..fit import fit

    with use_backend("numpy"):
        fit(image, points)  # warm-up
        results = [fit(image, points) for _ in range(max(1, repeats))]
    best = min(results, key=lambda r: r.seconds)
    return best, {"section": "baselines", "method": "facefit fit", "seconds": best.seconds,
                  "energy": best.energy, "iterations": len(best.history)}


def _adam(image: Any, points: Any, target: float, steps: int, learning_rate: float) -> Row:
    """Adam over the same residuals (torch autograd), as most public fitting code does.

    ``seconds_to_facefit_energy``: when it first reached ``target`` (facefit's final energy);
    ``seconds_to_final_energy``: when it first reached its own final energy."""
    from ..fit import FitProblem

    torch = importlib.import_module("torch")
    with use_backend("torch", dtype="float64"):
        problem = FitProblem(image, points)
        # Warm-up (torch's first backward and optimizer step initialise lazily, which took
        # seconds), so that Adam's clock starts as LM's does, after a warm-up.
        warm = torch.tensor(np.asarray(problem.x0), dtype=torch.float64, requires_grad=True)
        warm_optimizer = torch.optim.Adam([warm], lr=learning_rate)
        for _ in range(2):
            warm_optimizer.zero_grad()
            residuals = problem.residual_vector(warm)
            torch.sum(residuals * residuals).backward()
            warm_optimizer.step()
        x = torch.tensor(np.asarray(problem.x0), dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.Adam([x], lr=learning_rate)
        reached = None
        energy = float("inf")
        curve = []
        start = time.perf_counter()
        for _ in range(steps):
            optimizer.zero_grad()
            residuals = problem.residual_vector(x)
            loss = torch.sum(residuals * residuals)
            energy = float(loss.detach())
            curve.append((time.perf_counter() - start, energy))
            if reached is None and energy <= target:
                reached = curve[-1][0]
            loss.backward()
            optimizer.step()
        seconds = time.perf_counter() - start
    final = next(t for t, e in curve if e <= energy)
    return {"section": "baselines", "method": "torch Adam", "seconds": seconds,
            "energy": energy, "iterations": steps, "learning_rate": learning_rate,
            "seconds_to_facefit_energy": reached, "seconds_to_final_energy": final,
            # torch's CPU threads collapse as OpenBLAS' do when the cores are busy (an Adam
            # step took 0.40 s on 2 threads against 0.018 s on one, beside 2 busy processes on
            # 2 cores): read this row only with a quiet load average.
            "torch_threads": torch.get_num_threads(),
            "load_average": [round(v, 2) for v in os.getloadavg()]}


def _surrey(data: Path, repeats: int) -> list[Row]:
    from ..fit import fit
    from ..io import read_image, read_landmarks
    from ..model import load_model

    sfm, photo = data / "sfm", data / "300w" / "image_0010.png"
    if not (sfm / "sfm_shape_3448.bin").is_file() or not photo.is_file():
        return []
    points = read_landmarks(photo.with_suffix(".pts"))
    model = load_model(sfm / "sfm_shape_3448.bin",
                       blendshapes=sfm / "expression_blendshapes_3448.bin",
                       landmarks=sfm / "ibug_to_sfm.txt")
    mapped = model.landmark_indices >= 0
    with use_backend("numpy"):
        fit(None, points, model)
        times = []
        for _ in range(repeats):
            result = fit(None, points, model)
            times.append(result.seconds)
    error = float(np.linalg.norm(result.landmarks[mapped] - points[mapped], axis=1).mean())
    rows = [{"section": "baselines", "method": "facefit landmark-only (Surrey)",
             "seconds": min(times), "error_px": error}]
    try:
        eos = importlib.import_module("eos")
    except ImportError:
        return rows
    size = read_image(photo).shape[:2]
    shape = eos.morphablemodel.load_model(str(sfm / "sfm_shape_3448.bin"))
    blendshapes = eos.morphablemodel.load_blendshapes(str(sfm / "expression_blendshapes_3448.bin"))
    full = eos.morphablemodel.MorphableModel(
        shape.get_shape_model(), blendshapes, color_model=eos.morphablemodel.PcaModel(),
        vertex_definitions=None, texture_coordinates=shape.get_texture_coordinates())
    mapper = eos.core.LandmarkMapper(str(sfm / "ibug_to_sfm.txt"))
    topology = eos.morphablemodel.load_edge_topology(str(sfm / "sfm_3448_edge_topology.json"))
    contour = eos.fitting.ContourLandmarks.load(str(sfm / "ibug_to_sfm.txt"))
    model_contour = eos.fitting.ModelContour.load(str(sfm / "sfm_model_contours.json"))
    marks = [eos.core.Landmark(str(i + 1), [float(x), float(y)]) for i, (x, y) in
             enumerate(points)]
    height, width = size
    eos_times = []
    for _ in range(repeats):
        start = time.perf_counter()
        mesh, pose, _, _ = eos.fitting.fit_shape_and_pose(full, marks, mapper, width, height,
                                                          topology, contour, model_contour)
        eos_times.append(time.perf_counter() - start)
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    clip = (np.asarray(pose.get_projection()) @ np.asarray(pose.get_modelview())
            @ np.c_[vertices, np.ones(len(vertices))].T).T
    projected = np.stack([(clip[:, 0] + 1) / 2 * width, (1 - clip[:, 1]) / 2 * height], axis=1)
    eos_error = float(np.linalg.norm(projected[model.landmark_indices[mapped]]
                                     - points[mapped], axis=1).mean())
    rows.append({"section": "baselines", "method": "eos fit_shape_and_pose (Surrey)",
                 "seconds": min(eos_times), "error_px": eos_error})
    return rows


def baseline_rows(image: Any, points: Any, data: Path | None, *, adam_steps: int = 1500,
                  adam_lr: float = 0.01, scipy: bool = True, repeats: int = 3) -> list[Row]:
    """facefit against scipy's finite differences, torch Adam and (with the shared data) eos.

    scipy's ``least_squares(problem.residuals, problem.x0, jac="2-point")`` runs twice: on the
    full fit's own problem (the discrete state frozen where the fit ended), against the full
    fit; and on the problem frozen at ``x0``, against facefit's LM on that same problem with
    every parameter free (a solver-to-solver comparison, which Adam also gets).
    """
    result, full = _full_fit(image, points, repeats)
    problem, reference = _frozen_problem(image, points)
    rows = [full, reference]
    if scipy:
        rows.append(_scipy(result.problem, "fit's problem"))
        rows.append(_scipy(problem, "frozen problem"))
    try:
        importlib.import_module("torch")
        adam = _adam(image, points, reference["energy"], adam_steps, adam_lr)
        # When facefit's LM first reached Adam's final energy (None: never).
        adam["facefit_seconds_to_adam_energy"] = next(
            (t for t, e in reference["curve"] if e <= adam["energy"]), None)
        rows.append(adam)
    except ImportError:
        rows.append({"section": "baselines", "method": "torch Adam",
                     "unsupported": "torch is not installed"})
    if data is not None:
        rows.extend(_surrey(data, repeats))
    return rows


def _resized(image: Any, points: Any, side: int) -> tuple[Any, Any]:
    from PIL import Image

    height, width = image.shape[:2]
    factor = side / max(height, width)
    pixels = Image.fromarray(np.round(image * 255).astype(np.uint8))
    resized = pixels.resize((round(width * factor), round(height * factor)),
                            Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.float64) / 255, (points + 0.5) * factor - 0.5


def scaling_rows(image: Any, points: Any, backends: list[str], data: Path | None,
                 sizes: tuple[int, ...] = (256, 512, 768, 1024),
                 batches: tuple[int, ...] = (1, 4, 16), bfm_size: bool = True) -> list[Row]:
    """Fit time against image size and model size, render time against model and batch size.

    The models are the default (ICT), the Surrey model (with the shared data; its albedo is
    the loader's built one) and, with ``bfm_size``, a synthetic model of BFM 2009's size
    (:func:`facefit.bench.bfm_size.bfm_size_model`, 59k vertices); each fit is one full fit
    of ``image`` after the model's upload.
    """
    from ..fit import fit
    from ..model import load_model
    from ..params import FaceParams
    from ..render import render, render_batch
    from .bfm_size import bfm_size_model

    models = [("ICT (default)", load_model())]
    if data is not None and (data / "sfm" / "sfm_shape_3448.bin").is_file():
        sfm = data / "sfm"
        models.append(("Surrey", load_model(
            sfm / "sfm_shape_3448.bin", blendshapes=sfm / "expression_blendshapes_3448.bin",
            landmarks=sfm / "ibug_to_sfm.txt")))
    if bfm_size:
        models.append(("BFM-size synthetic", bfm_size_model()))
    rows: list[Row] = []
    for name in backends:
        with use_backend(name):
            for side in sizes:
                photo, marks = _resized(image, points, side)
                fit(photo, marks)
                result = fit(photo, marks)
                rows.append({"section": "scaling", "kind": "fit vs image size",
                             "backend": name, "size": side, "seconds": result.seconds})
            for label, model in models:
                framed = FaceParams.framing(model, (512, 512))
                timing = measure(lambda m=model, p=framed: render(m, p, (512, 512)), repeats=5)  # type: ignore[misc]
                rows.append({"section": "scaling", "kind": "render vs model", "backend": name,
                             "model": label, "vertices": model.n_vertices,
                             "seconds": timing["min_s"]})
                model.arrays()  # upload outside the timing
                result = fit(image, points, model)
                rows.append({"section": "scaling", "kind": "fit vs model", "backend": name,
                             "model": label, "vertices": model.n_vertices,
                             "seconds": result.seconds, "energy": result.energy})
            model = models[0][1]
            for batch in batches:
                batch_params = [FaceParams.framing(model, (256, 256))] * batch
                timing = measure(lambda p=batch_params, m=model: render_batch(m, p, (256, 256)),  # type: ignore[misc]
                                 repeats=3)
                rows.append({"section": "scaling", "kind": "render vs batch (256x256)",
                             "backend": name, "batch": batch, "seconds": timing["min_s"],
                             "per_image_s": timing["min_s"] / batch})
    get_backend()
    return rows


#: What a busy process runs: small matrix products on one BLAS thread, until its deadline.
_SPIN = """
import sys, time
import numpy as np
end = time.monotonic() + float(sys.argv[1])
a = np.random.default_rng(0).random((160, 160))
while time.monotonic() < end:
    a = np.tanh(a @ a * 0.01)
"""


@contextlib.contextmanager
def busy_cores(count: int, seconds: float = 300.0) -> Iterator[None]:
    """``count`` busy processes (one BLAS thread each) while the block runs; each stops by
    itself after ``seconds`` and is stopped at the block's end in any case."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    spinners = [subprocess.Popen([sys.executable, "-c", _SPIN, str(seconds)], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for _ in range(count)]
    try:
        time.sleep(1.0)  # let them start and take their cores
        yield
    finally:
        for spinner in spinners:
            spinner.terminate()
        for spinner in spinners:
            try:
                spinner.wait(timeout=10)
            except subprocess.TimeoutExpired:
                spinner.kill()
                spinner.wait()


def _spread(times: list[float]) -> dict[str, Any]:
    return {"min_s": min(times), "median_s": statistics.median(times), "max_s": max(times),
            "times_s": times, "repeats": len(times),
            "load_average": [round(v, 2) for v in os.getloadavg()]}


def _cold_cli(image_path: str, landmarks_path: str, repeats: int) -> list[Row]:
    """``facefit fit`` as a user runs it: a fresh process each time (interpreter start, imports,
    model load, the fit, writing the outputs), timed from outside, after one untimed run; the
    second row holds the fit times it records in its params.json
    (``timings.total_seconds``)."""
    walls, fits = [], []
    # As installed: pip compiles the package to bytecode, so the processes may write and read
    # .pyc files even where this one was started with PYTHONDONTWRITEBYTECODE (compiling
    # facefit's sources took 0.13-0.16 s of every such run); one untimed run first writes them.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory() as folder:
        for k in range(-1, repeats):
            out = Path(folder) / f"run{k}"
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "facefit", "fit", image_path,
                                   "--landmarks", landmarks_path, "--out", str(out), "-q"],
                                  capture_output=True, text=True, timeout=600, env=env)
            if k >= 0:
                walls.append(time.perf_counter() - start)
            if done.returncode != 0:
                raise RuntimeError(f"facefit fit failed: {done.stderr.strip()[-300:]}")
            params = json.loads(next(out.glob("*.params.json")).read_text())
            if k >= 0:
                fits.append(float(params["timings"]["total_seconds"]))
    return [{"section": "users", "kind": "cold CLI fit: process wall time", **_spread(walls)},
            {"section": "users", "kind": "cold CLI fit: fit time in its params.json",
             **_spread(fits)}]


def user_rows(image: Any, points: Any, image_path: str, landmarks_path: str, *,
              repeats: int = 5, busy: bool = True) -> list[Row]:
    """Speed as users meet it, on NumPy: a cold ``facefit fit`` process; the warm in-process
    fit (after a warm-up); and, with ``busy``, the fit with the default BLAS policy and with
    ``blas_threads=1`` while one busy process per core runs beside it (``2 * repeats``
    back-to-back pairs in alternating order, so both see the same load; the default row keeps
    the median of the pairs' ratios), against the same fits on the quiet machine just
    before."""
    from ..fit import fit
    from ..model import load_model

    rows = _cold_cli(image_path, landmarks_path, repeats)
    model = load_model()
    with use_backend("numpy"):
        fit(image, points, model)  # warm-up: imports, model upload, cached topology
        quiet: dict[int | None, list[float]] = {None: [], 1: []}
        for _ in range(repeats):
            for threads in (None, 1):
                quiet[threads].append(fit(image, points, model, blas_threads=threads).seconds)
        for threads, label in ((None, "default policy"), (1, "blas_threads=1")):
            rows.append({"section": "users", "kind": f"warm fit ({label})",
                         **_spread(quiet[threads])})
        if busy:
            # Back-to-back pairs, twice as many as the quiet fits, the order swapped in every
            # other pair (ABBA): beside the busy processes one fit takes 0.6-1.5x another on
            # the same code, and the policy (the default is one thread, the same code path as
            # blas_threads=1) is judged on the median of the pairs' ratios, which a load
            # drifting over the run does not move as it moves a ratio of two medians.
            loaded: dict[int | None, list[float]] = {None: [], 1: []}
            ratios = []
            with busy_cores(os.cpu_count() or 1):
                for k in range(2 * repeats):
                    pair = {}
                    for threads in ((None, 1) if k % 2 == 0 else (1, None)):
                        pair[threads] = fit(image, points, model, blas_threads=threads).seconds
                        loaded[threads].append(pair[threads])
                    ratios.append(pair[None] / pair[1])
            for threads, label in ((None, "default policy"), (1, "blas_threads=1")):
                extra = {"pair_ratio_median": statistics.median(ratios),
                         "pair_ratios": ratios} if threads is None else {}
                rows.append({"section": "users",
                             "kind": f"busy fit ({label}, one busy process per core)",
                             **_spread(loaded[threads]), **extra})
    return rows
