"""What ``ff.fit`` accepts: bad input raises a FacefitError naming it, never a garbage fit."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import facefit as ff
from facefit.errors import FitWarning
from facefit.fit.frame import WORKING_FACE, ImageFrame, choose_frame

from .conftest import assert_close, floats


@pytest.fixture(scope="module")
def photo(shipped_sample):
    image, points = shipped_sample
    return ff.read_image(image), ff.read_landmarks(points)


def test_identical_points_are_refused(backend, photo):
    image, points = photo
    with pytest.raises(ff.LandmarkError, match="coincide"):
        ff.fit(image, np.tile(points[30], (68, 1)))


def test_collinear_points_are_refused(backend, photo):
    image, _ = photo
    line = np.stack([np.linspace(100, 400, 68), np.linspace(100, 300, 68)], axis=1)
    with pytest.raises(ff.LandmarkError, match="one line"):
        ff.fit(image, line)


def test_a_real_face_in_profile_is_not_called_a_line(photo):
    from facefit.fit.inputs import check_fittable_landmarks

    _, points = photo
    squeezed = points.copy()
    squeezed[:, 0] = points[:, 0].mean() + 0.15 * (points[:, 0] - points[:, 0].mean())
    check_fittable_landmarks(squeezed, None, "squeezed")  # a face seen nearly side-on


@pytest.mark.parametrize("kind, message", [
    ("0..255 floats", "must lie in"),
    ("infinite pixel", "infinite"),
    ("complex", "dtype complex"),
    ("one channel pair", "expected shape"),
])
def test_bad_image_arrays_are_refused(photo, kind, message):
    image, points = photo
    bad = {"0..255 floats": image * 255, "complex": image.astype(complex),
           "one channel pair": image[..., None, :2]}.get(kind)
    if kind == "infinite pixel":
        bad = image.copy()
        bad[5, 5, 0] = np.inf
    with pytest.raises(ff.ImageError, match=message):
        ff.fit(bad, points)


def test_uint8_photo_is_scaled_like_the_file(photo):
    image, points = photo
    as_bytes = np.rint(image * 255).astype(np.uint8)
    from_bytes = ff.fit(as_bytes, points, max_iterations=1)
    from_floats = ff.fit(as_bytes / 255.0, points, max_iterations=1)
    assert from_bytes.energy == pytest.approx(from_floats.energy, rel=1e-12)
    assert from_bytes.energy < 0.2  # 0..255 read as floats gave energies in the thousands


@pytest.mark.parametrize("points", [
    np.full((68, 2), "100.0"), np.full((68, 2), 100 + 1j), np.zeros((67, 2))])
def test_non_numeric_or_misshapen_points_are_refused(photo, points):
    image, _ = photo
    with pytest.raises(ff.LandmarkError, match="landmark array"):
        ff.fit(image, points)


@pytest.mark.parametrize("value", [-1, 0, 2.5, True, "3"])
def test_iteration_cap_must_be_a_positive_integer(photo, value):
    image, points = photo
    with pytest.raises(ff.FitError, match="max_iterations"):
        ff.fit(image, points, max_iterations=value)


def test_model_may_be_a_path(photo, tmp_path):
    image, points = photo
    model = ff.load_model()
    path = tmp_path / "model.npz"
    model.save(path)
    result = ff.fit(image, points, str(path), photometric=False, max_iterations=2)
    assert result.problem.model.n_vertices == model.n_vertices
    with pytest.raises(ff.ModelError, match=r"missing\.npz"):
        ff.fit(image, points, tmp_path / "missing.npz")
    with pytest.raises(ff.ModelError, match="a directory"):
        ff.fit(image, points, tmp_path)
    with pytest.raises(ff.ModelError, match="MorphableModel or a model file path"):
        ff.fit(image, points, 42)


def test_jacobian_error_lists_every_strategy_of_the_backend(backend, photo):
    image, points = photo
    with pytest.raises(ff.FitError) as error:
        ff.fit(image, points, jacobian="secant")
    listed = str(error.value).split("valid choices here: ")[1].split(", ")
    assert listed == ["analytic", *backend.jacobian_strategies]


def test_landmark_file_is_named_without_the_0_based_hint(photo, tmp_path):
    image, points = photo
    path = tmp_path / "elsewhere.pts"
    ff.write_landmarks(path, points + 2000)
    with pytest.raises(ff.LandmarkError) as error:
        ff.fit(image, path)
    assert "elsewhere.pts" in str(error.value) and "0-based" not in str(error.value)
    with pytest.raises(ff.LandmarkError, match="0-based"):
        ff.fit(image, points + 2000)  # an array may well be 1-based or in other units


# -- landmarks that do not belong to the photo --------------------------------------------

def test_a_plausible_fit_has_no_warning(photo):
    image, points = photo
    with warnings.catch_warnings():
        warnings.simplefilter("error", FitWarning)
        result = ff.fit(image, points)
    assert result.warnings == []


@pytest.mark.parametrize("kind, words", [("flat", "flat"), ("noise", "explains only")])
def test_landmarks_on_no_face_are_warned_about(photo, kind, words):
    image, points = photo
    rng = np.random.default_rng(0)
    fake = np.full_like(image, 0.5) if kind == "flat" else rng.random(image.shape)
    with pytest.warns(FitWarning, match=words):
        result = ff.fit(fake, points)
    assert len(result.warnings) == 1 and "are the landmarks for this photo?" in result.warnings[0]


# -- the working frame of large photos ----------------------------------------------------

@given(st.lists(st.tuples(floats(-50, 3000), floats(-50, 3000)), min_size=1, max_size=8),
       floats(1.0, 9.0), st.integers(0, 500), st.integers(0, 500))
def test_frame_maps_points_both_ways(points, step, x0, y0):
    frame = ImageFrame(box=(float(x0), float(y0), x0 + 100 * step, y0 + 80 * step),
                       size=(80, 100), step=step)
    points = np.array(points)
    assert_close(frame.to_photo(frame.to_working(points)), points, scale=3000.0)


@pytest.mark.parametrize("dtype", ["uint8", "float64"])
def test_frame_crop_puts_each_working_pixel_where_to_photo_says(dtype):
    # A linear ramp: a box average of it is its value at the box centre, so each working
    # pixel must hold the ramp's value at frame.to_photo(its centre).
    height, width = 300, 400
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    ramp = np.stack([xs / width, ys / height, 0.5 + 0 * xs], axis=2)
    pixels = ramp if dtype == "float64" else np.rint(ramp * 255).astype(np.uint8)
    frame = ImageFrame(box=(40.0, 30.0, 40 + 90 * 3.0, 30 + 70 * 3.0), size=(70, 90), step=3.0)
    working = frame.crop(pixels)
    q = np.stack(np.meshgrid(np.arange(90.0), np.arange(70.0)), axis=2).reshape(-1, 2)
    centres = frame.to_photo(q)
    expected = np.stack([centres[:, 0] / width, centres[:, 1] / height], axis=1)
    tolerance = 1e-6 if dtype == "float64" else 1.5 / 255
    np.testing.assert_allclose(working[..., :2].reshape(-1, 2), expected, atol=tolerance)


def test_frame_params_render_the_same_face_in_the_photo(backend):
    model = ff.load_model()
    working_params = ff.FaceParams.framing(model, size=(200, 240))
    working_params.rotation = [0.1, 0.3, -0.05]
    frame = ImageFrame(box=(500.0, 300.0, 500 + 240 * 2.5, 300 + 200 * 2.5), size=(200, 240),
                       step=2.5)
    photo_params = frame.params_to_photo(working_params)
    in_working = ff.render(model, working_params, size=(200, 240)).landmarks
    in_photo = ff.render(model, photo_params, size=(1200, 1200)).landmarks
    assert_close(frame.to_photo(ff.backends.to_numpy(in_working)),
                 ff.backends.to_numpy(in_photo), dtype=backend.dtype_name, scale=1200.0)


def test_small_photos_are_fitted_as_they_are(photo):
    image, points = photo
    assert choose_frame(image.shape, points) is None
    frame = choose_frame((6000, 8000), points * 10)
    assert frame is not None and frame.step > 1
    face = (points * 10).max(axis=0) - (points * 10).min(axis=0)
    assert max(face) / frame.step <= WORKING_FACE + 1e-9


def test_a_large_photo_is_fitted_in_a_working_frame_and_mapped_back(photo):
    from PIL import Image

    image, points = photo
    factor = 4.5  # 2304 x 2304 pixels: over the working-frame threshold
    size = int(512 * factor)
    big = np.asarray(Image.fromarray(np.rint(image * 255).astype(np.uint8)).resize(
        (size, size), Image.Resampling.BICUBIC))
    big_points = (points + 0.5) * factor - 0.5
    result = ff.fit(big, big_points)
    assert result.frame is not None and result.photo.shape == big.shape
    eyes = np.linalg.norm(big_points[36] - big_points[45])
    error = np.nanmean(np.linalg.norm(result.landmarks - big_points, axis=1)) / eyes
    assert error < 0.06
    small = ff.fit(image, points)
    # the same face: the photo-frame pose is the small photo's, scaled up
    assert abs(result.params.scale / (small.params.scale * factor) - 1) < 0.05
    assert_close(np.asarray(result.params.translation),
                 (np.asarray(small.params.translation) + 0.5) * factor - 0.5,
                 rtol=0.02, scale=size)
    vertices, _, _ = result.mesh()
    assert vertices[:, :2].max() < size and vertices[:, :2].min() > 0
    # An outline given in the photo's pixels reaches the contour term in the working frame.
    outline = np.array([[0.3, 0.2], [0.7, 0.2], [0.8, 0.9], [0.2, 0.9]]) * size
    outlined = ff.fit(big, big_points, contour=outline, rounds=1, max_iterations=2,
                      detail=False)
    assert_close(ff.backends.to_numpy(outlined.problem.contour_term.outline)[:-1],
                 outlined.frame.to_working(outline), scale=size)
    # A point weighted 0 is a missing one, for the crop as for the rest of the fit.
    centre = np.nanmean(big_points, axis=0)
    elsewhere = big_points.copy()
    elsewhere[:17] = np.clip(centre + 1.6 * (big_points[:17] - centre), 0, size - 1)
    missing = big_points.copy()
    missing[:17] = np.nan
    quick = {"rounds": 1, "max_iterations": 2, "detail": False}
    held_out = ff.fit(big, elsewhere, landmark_weights=np.r_[np.zeros(17), np.ones(51)],
                      **quick)
    without = ff.fit(big, missing, **quick)
    assert held_out.frame == without.frame != result.frame
    assert np.array_equal(held_out.x, without.x)
