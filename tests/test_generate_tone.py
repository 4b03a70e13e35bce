"""A black-and-white or toned photo's samples keep its colours (facefit.generate.tone)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given

import facefit as ff
from facefit.backends import to_numpy
from facefit.generate import Synthesizer
from facefit.generate.tone import MONOCHROME_TOLERANCE, ToneCurve

from .conftest import assert_close, floats

ASTRONAUT = Path(str(files("facefit") / "data" / "samples" / "astronaut.png"))


def _toned(grey: np.ndarray, tint: tuple[float, float, float]) -> np.ndarray:
    """``grey`` (H, W) printed in ``tint`` (colour over brightness), stored in 8 bits."""
    ratio = np.asarray(tint) * 3 / sum(tint)
    return np.round(np.clip(grey[..., None] * ratio, 0.0, 1.0) * 255) / 255


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return np.asarray(ff.read_image(ASTRONAUT), dtype=np.float64)


def test_a_colour_photo_has_no_curve(astronaut, backend):
    assert ToneCurve.of_photo(backend.asarray(astronaut)) is None


@given(red=floats(0.8, 1.25), blue=floats(0.7, 1.2))
def test_a_toned_photo_keeps_its_pixels_and_tints_colours_like_them(astronaut, backend, red,
                                                                     blue):
    """Grey, sepia or cyan: the photo's own pixels are on its curve (within its 8 bits and its
    clipped highlights), and a coloured pixel moves to the photo's colour at its brightness."""
    photo = _toned(astronaut.mean(axis=2), (red, 1.0, blue))
    curve = ToneCurve.of_photo(backend.asarray(photo))
    assert curve is not None
    mapped = to_numpy(curve(backend.asarray(photo)))
    assert np.mean(np.abs(mapped - photo).max(axis=2) > MONOCHROME_TOLERANCE) < 0.005
    pink = np.array([[0.75, 0.45, 0.45]])  # skin from a model's albedo, brightness 0.55
    got = to_numpy(curve(backend.asarray(pink)))[0]
    near = np.abs(photo.mean(axis=2) - 0.55) < 0.01
    expected = photo[near].mean(axis=0)
    # The curve is binned (1/64 of brightness) and the photo's pixels near 0.55 spread over
    # a hundredth of it: a hundredth is as close as the two can agree.
    np.testing.assert_allclose(got, expected, atol=0.01)
    assert abs(got.mean() - 0.55) < 0.01


def test_a_grey_photo_maps_any_colour_to_its_grey(astronaut, backend):
    photo = np.repeat(astronaut.mean(axis=2, keepdims=True), 3, axis=2)
    curve = ToneCurve.of_photo(backend.asarray(photo))
    assert curve is not None
    colours = np.random.default_rng(0).uniform(0, 1, (500, 3))
    got = to_numpy(curve(backend.asarray(colours)))
    assert_close(got, np.repeat(colours.mean(axis=1, keepdims=True), 3, axis=1),
                 dtype=backend.dtype_name, scale=1.0)


def test_a_grey_photo_with_a_little_colour_is_still_in_colour(astronaut):
    """A grey photo with one coloured object (1% of it) is a colour photo: nothing is moved."""
    photo = np.repeat(astronaut.mean(axis=2, keepdims=True), 3, axis=2)
    photo[:52, :52] = [0.8, 0.2, 0.2]
    assert ToneCurve.of_photo(photo) is None


def test_samples_of_a_grey_photo_are_grey():
    """Revealed cheeks and the side of the head are drawn from the model's coloured albedo; on
    a black-and-white photo they were tinted patches. Every pixel of every sample is grey."""
    model = ff.load_model()
    photo = np.repeat(np.asarray(ff.read_image(ASTRONAUT)).mean(axis=2, keepdims=True), 3,
                      axis=2)
    points = ff.read_landmarks(ASTRONAUT.with_suffix(".pts"))
    with ff.use_backend("numpy"):
        result = ff.fit(photo, points, model)
        synth = Synthesizer(model, result.params, photo, albedo_detail=result.albedo_detail)
        for yaw in (-40.0, 40.0):
            sample = synth(synth.pose(np.zeros(model.n_expression), np.radians([0.0, yaw, 0.0])))
            spread = sample.image.max(axis=2) - sample.image.min(axis=2)
            assert spread.max() < 1e-9, yaw
            # and the curve changed nothing but the colour: brightness is the renderer's
            synth.tone_curve = None
            plain = synth(synth.pose(np.zeros(model.n_expression),
                                     np.radians([0.0, yaw, 0.0])))
            synth.tone_curve = ToneCurve.of_photo(synth.photo)
            assert (plain.image.max(axis=2) - plain.image.min(axis=2)).max() > 0.02, yaw
            assert_close(sample.image.mean(axis=2), plain.image.mean(axis=2), scale=1.0)


def test_within_maps_the_box_around_what_changed_and_nothing_else(astronaut, backend):
    photo = np.repeat(astronaut.mean(axis=2, keepdims=True), 3, axis=2)
    curve = ToneCurve.of_photo(backend.asarray(photo))
    assert curve is not None
    image = np.array(astronaut)  # colour everywhere: what the curve touches turns grey
    changed = np.zeros(image.shape[:2], bool)
    changed[100:120, 200:260] = True
    got = to_numpy(curve.within(backend.asarray(image), backend.asarray(changed), margin=3))
    inside = np.zeros(image.shape[:2], bool)
    inside[97:123, 197:263] = True
    assert np.all(got[inside].max(axis=1) - got[inside].min(axis=1) < 1e-5)
    assert_close(got[~inside], image[~inside], dtype=backend.dtype_name)
    nothing = to_numpy(curve.within(backend.asarray(image), backend.asarray(changed & False)))
    assert_close(nothing, image, dtype=backend.dtype_name)
