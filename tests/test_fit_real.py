"""Fits with the embedded default model: synthetic recovery and the real sample photos."""

from __future__ import annotations

import numpy as np
import pytest

import facefit as ff


@pytest.fixture(scope="module")
def model():
    return ff.load_model()


def _nme(fitted, given):
    """Mean landmark error over the given points, over the outer-eye-corner distance (300-W)."""
    ok = ~np.isnan(given).any(axis=1) & ~np.isnan(fitted).any(axis=1)
    error = np.linalg.norm(fitted[ok] - given[ok], axis=1).mean()
    return error / np.linalg.norm(given[36] - given[45])


def _face_rmse(result, image, landmarks, detail=False):
    """Photometric RMSE of the fitted render inside the face (render mask within the landmarks);
    the model's albedo alone unless ``detail``."""
    out = result.render(detail=detail).to_numpy()
    pts = landmarks[~np.isnan(landmarks).any(axis=1)]
    rows, cols = np.mgrid[: image.shape[0], : image.shape[1]]
    low, high = pts.min(axis=0), pts.max(axis=0)
    box = (cols >= low[0]) & (cols <= high[0]) & (rows >= low[1]) & (rows <= high[1])
    face = out["mask"] & box
    return float(np.sqrt(np.mean((out["image"][face] - image[face]) ** 2)))


def _truth(model, seed=0, size=(256, 256)):
    rng = np.random.default_rng(seed)
    params = ff.FaceParams.framing(model, size).for_model(model)
    params.identity = rng.normal(size=model.n_identity) * 0.7
    params.expression = np.abs(rng.normal(size=model.n_expression)) * 0.2
    params.albedo = rng.normal(size=model.n_albedo) * 0.7
    params.rotation = np.array([0.05, 0.3, -0.05])
    params.light = params.light * 0.8
    params.light[1:4] += np.array([[0.1] * 3, [0.2] * 3, [0.05] * 3])
    background = np.full((*size, 3), 0.3)
    return params, ff.render(model, params, size, background=background).to_numpy()


def _assert_recovers(model, seed=0):
    """Render known parameters, fit from that image and its landmarks, compare with the truth."""
    _, truth = _truth(model, seed)
    result = ff.fit(truth["image"], truth["landmarks"], model)
    out = result.render().to_numpy()
    both = truth["mask"] & out["mask"]
    rmse = float(np.sqrt(np.mean((out["image"][both] - truth["image"][both]) ** 2)))
    assert rmse < 0.03
    assert _nme(result.landmarks, truth["landmarks"]) < 0.02
    eye_corners = np.linalg.norm(truth["landmarks"][36] - truth["landmarks"][45])
    depth_error = np.abs(out["depth"][both] - truth["depth"][both])
    assert np.median(depth_error) < 0.05 * eye_corners


def test_synthetic_recovery(model):
    _assert_recovers(model)


def test_synthetic_recovery_with_the_surrey_model(surrey_model):
    """A shape-only model (built albedo, 6 blendshapes, 50 mapped points) fits photometrically."""
    _assert_recovers(surrey_model)


@pytest.mark.parametrize("name", [
    "samples/astronaut.png",
    pytest.param("samples/grace_hopper.jpg", marks=pytest.mark.xfail(
        strict=True, reason="photometric RMSE 0.127 > 0.10, the floor of the shipped model: "
        "with the fitted geometry and shading, the unregularised least-squares albedo over all "
        "face vertices renders at 0.128 (glasses, wrinkles, eye detail are outside its 80 "
        "albedo components), while per-vertex image colours on the same mesh reach 0.052")),
    "300w/image_0010.png",
])
def test_real_photos(model, request, name):
    # The shipped sample is always here; the others need ../shared.
    path = request.getfixturevalue("shipped_sample")[0] if name == "samples/astronaut.png" \
        else request.getfixturevalue("shared_data") / name
    image = ff.read_image(path)
    landmarks = ff.read_landmarks(path.with_suffix(".pts"))
    result = _fitted(model, path)
    assert _nme(result.landmarks, landmarks) < 0.06
    assert _face_rmse(result, image, landmarks) < 0.10
    energies = [h["energy"] for h in result.history]
    assert np.isfinite(energies).all()


_FITS: dict = {}


def _fitted(model, path):
    """One fit per photo for this module's tests."""
    if path not in _FITS:
        _FITS[path] = ff.fit(ff.read_image(path), ff.read_landmarks(path.with_suffix(".pts")),
                             model)
    return _FITS[path]


@pytest.mark.parametrize("name", ["samples/grace_hopper.jpg", "300w/image_0010.png"])
def test_albedo_detail_shows_what_the_model_albedo_cannot(model, shared_data, name):
    """The per-vertex detail (glasses, wrinkles, lips) brings the render within 0.07 of the
    photo where the model's 80 smooth albedo components stop at 0.07-0.13."""
    path = shared_data / name
    image = ff.read_image(path)
    landmarks = ff.read_landmarks(path.with_suffix(".pts"))
    result = _fitted(model, path)
    assert result.albedo_detail.shape == (model.n_vertices, 3)
    plain = _face_rmse(result, image, landmarks)
    detailed = _face_rmse(result, image, landmarks, detail=True)
    assert detailed < 0.07 and detailed < 0.75 * plain, (plain, detailed)


def test_jaw_landmarks_removed_still_places_the_jaw(model, shipped_sample):
    path = shipped_sample[0]
    image = ff.read_image(path)
    landmarks = ff.read_landmarks(path.with_suffix(".pts"))
    without_jaw = landmarks.copy()
    without_jaw[:17] = np.nan
    result = ff.fit(image, without_jaw, model)
    jaw_error = np.linalg.norm(result.landmarks[:17] - landmarks[:17], axis=1).mean()
    assert jaw_error / np.linalg.norm(landmarks[36] - landmarks[45]) < 0.15


def test_a_mirrored_face_fits_as_the_mirror_of_the_fit(model, shared_data):
    """Landmark-only fits of image_0010's points (turned 27 degrees) and of the same points
    mirrored left-right, with all 68 points and with the jaw held out: the mirrored fit's
    landmarks are the fit's, mirrored. The model is symmetric but its identity space is not
    quite, so the two fits end 3e-4 eye distances apart; a term or a jaw rule that treats the
    face's two sides differently moves them by hundredths."""
    from facefit.render.landmarks import IBUG_MIRROR

    mirror = list(IBUG_MIRROR)
    given = ff.read_landmarks(shared_data / "300w" / "image_0010.pts")
    mirrored = given[mirror] * np.array([-1.0, 1.0]) + np.array([1000.0, 0.0])
    held_out = np.ones(68)
    held_out[:17] = 0.0
    for weights in (None, held_out):
        fitted = ff.fit(None, given, model, landmark_weights=weights).landmarks
        again = ff.fit(None, mirrored, model, landmark_weights=weights).landmarks
        back = (again - np.array([1000.0, 0.0])) * np.array([-1.0, 1.0])
        gap = np.linalg.norm(back[mirror] - fitted, axis=1).max()
        assert gap < 1e-3 * np.linalg.norm(given[36] - given[45]), gap
