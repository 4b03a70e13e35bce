"""Shared test harness: every numerical test runs on each backend importable here x each dtype.

Use the ``backend`` fixture (an active :class:`facefit.Backend`); convert inputs drawn in NumPy
with ``backend.asarray`` and results back with ``facefit.backends.to_numpy``; compare with
:func:`assert_close`, whose tolerance follows the dtype and the scale of the expected values.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import facefit as ff
from facefit.backends import array_library, available_backends, to_numpy

settings.register_profile(
    "ci", max_examples=25, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "dev", max_examples=60, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
BACKENDS = available_backends()  # cupy appears only where it sees a GPU
DTYPES = ["float64", "float32"]
RTOL = {"float64": 1e-10, "float32": 2e-5}


def _params() -> list:
    return [pytest.param((b, d), id=f"{b}-{d}", marks=[pytest.mark.gpu] if b == "cupy" else [])
            for b in BACKENDS for d in DTYPES if d in array_library(b).dtypes]


@pytest.fixture(params=_params())
def backend(request):
    """An active backend, for each (backend, dtype) pair available here."""
    name, dtype = request.param
    with ff.use_backend(name, dtype=dtype) as active:
        yield active


@pytest.fixture(params=[pytest.param(b, id=b) for b in BACKENDS])
def backend64(request):
    """An active float64 backend, for each backend available here (exactness tests)."""
    with ff.use_backend(request.param, dtype="float64") as active:
        yield active


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` beside the project; tests that need it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def shipped_sample(tmp_path_factory) -> tuple[Path, Path]:
    """``(image, landmarks)`` paths of the sample photo shipped inside the wheel.

    Core product paths are tested on this, so the suite covers them without ``../shared``.
    """
    from importlib.resources import files

    folder = tmp_path_factory.mktemp("shipped")
    samples = files("facefit") / "data" / "samples"
    image, points = folder / "astronaut.png", folder / "astronaut.pts"
    image.write_bytes((samples / "astronaut.png").read_bytes())
    points.write_bytes((samples / "astronaut.pts").read_bytes())
    return image, points


@pytest.fixture
def surrey_model(shared_data: Path):
    """The real Surrey Face Model with its 6 blendshapes and iBUG mapping (built albedo)."""
    import facefit as ff

    d = shared_data / "sfm"
    return ff.load_model(d / "sfm_shape_3448.bin",
                         blendshapes=d / "expression_blendshapes_3448.bin",
                         landmarks=d / "ibug_to_sfm.txt")


def floats(low: float, high: float) -> st.SearchStrategy[float]:
    """Finite floats in [low, high] that float32 represents exactly (no subnormals).

    Drawing these keeps float64 and float32 runs on the same inputs, so one reference serves both.
    """
    low32, high32 = np.float32(low), np.float32(high)
    if low32 < low:
        low32 = np.nextafter(low32, np.float32(np.inf))
    if high32 > high:
        high32 = np.nextafter(high32, np.float32(-np.inf))
    return st.floats(float(low32), float(high32), width=32, allow_subnormal=False)


def assert_close(actual, expected, *, dtype: str = "float64", rtol: float | None = None,
                 atol_scale: float = 1.0, scale: float | None = None, err_msg: str = "") -> None:
    """Compare arrays with a tolerance scaled to the magnitude of the quantities involved.

    ``|actual - expected| <= rtol * (|expected| + atol_scale * scale)``, elementwise, where
    ``rtol`` defaults to the dtype's (1e-10 float64, 2e-5 float32) and ``scale`` to
    ``max|expected|``; pass the inputs' magnitude as ``scale`` when outputs can be much smaller
    than the inputs they were computed from (rounding is relative to the inputs).
    """
    actual = np.asarray(to_numpy(actual), dtype=np.complex128 if np.iscomplexobj(
        to_numpy(actual)) else np.float64)
    expected = np.asarray(to_numpy(expected))
    tol = RTOL[dtype] if rtol is None else rtol
    if scale is None:
        scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    atol = tol * atol_scale * max(scale, 1e-300)
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=atol, err_msg=err_msg)


def assert_strategies_agree(term, x, backend, what: str):
    """Assert ``term``'s analytic Jacobian at ``x`` equals every automatic strategy of
    ``backend`` (complex step, autograd where available) to 1e-8 of its largest entry; returns
    the analytic Jacobian as NumPy."""
    analytic = to_numpy(term.jacobian(x))
    for strategy in backend.jacobian_strategies:
        automatic = backend.jacobian(term.residuals, x, strategy)
        assert_close(analytic, automatic, rtol=1e-8, scale=float(np.abs(analytic).max()),
                     err_msg=f"{what} vs {strategy}")
    return analytic
