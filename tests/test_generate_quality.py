"""The outline edge ratio (issue 17): what it measures, and a loose bound on real samples."""

from __future__ import annotations

import statistics
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

import facefit as ff
from facefit.backends import to_numpy
from facefit.errors import FacefitError
from facefit.generate import Synthesizer
from facefit.generate.quality import outline_bands, outline_edge_ratio, soften_outline
from facefit.generate.variations import draw_expression, sample_rng
from facefit.sampling import gaussian_blur

ASTRONAUT = Path(str(files("facefit") / "data" / "samples" / "astronaut.png"))


def _disk(size: int = 96, radius: float = 25.0) -> np.ndarray:
    y, x = np.mgrid[:size, :size]
    return (x - size / 2) ** 2 + (y - size / 2) ** 2 < radius**2


def test_bands_are_the_ring_and_the_two_to_six_pixel_bands():
    mask = np.zeros((40, 40), bool)
    mask[10:30, 10:30] = True
    ring, bands = outline_bands(mask)
    # Along row 20: ring at x = 9 (outside) and 10 (inside); bands at distances 2..6 on either
    # side of each edge: x = 4..8 and 11..15, then 24..28 and 31..35.
    assert list(np.flatnonzero(ring[20])) == [9, 10, 29, 30]
    assert list(np.flatnonzero(bands[20])) == [*range(4, 9), *range(11, 16),
                                               *range(24, 29), *range(31, 36)]
    assert not (ring & bands).any()


def test_a_pasted_disk_scores_high_and_a_seamless_one_near_one(backend64):
    # A photo-like texture (smooth noise) and the same with a brighter, flatter disk pasted in.
    rng = np.random.default_rng(0)
    texture = gaussian_filter(rng.uniform(0.0, 1.0, (96, 96, 3)), (2.0, 2.0, 0.0))
    mask = _disk()
    pasted = np.where(mask[..., None], texture * 0.5 + 0.35, texture)
    as_array = backend64.asarray
    assert outline_edge_ratio(as_array(texture), as_array(mask)) == pytest.approx(1.0, abs=0.1)
    assert outline_edge_ratio(as_array(pasted), as_array(mask)) > 1.5


def test_soften_outline_blurs_only_the_band_along_the_mask(backend):
    """Within 2 px of the boundary the pixels are the whole image's blur (the box it blurs is
    big enough), elsewhere untouched; a pasted disk's seam drops toward the texture's own."""
    rng = np.random.default_rng(1)
    texture = gaussian_filter(rng.uniform(0.0, 1.0, (96, 80, 3)), (2.0, 2.0, 0.0))
    mask = _disk(96, 25.0)[:, 8:88]
    pasted = np.where(mask[..., None], texture * 0.5 + 0.35, texture)
    image, as_mask = backend.asarray(pasted), backend.xp.asarray(mask)
    softened = soften_outline(image, as_mask, sigma=1.0, width=2)
    assert softened.shape == image.shape and softened.dtype == image.dtype
    near = np.zeros_like(mask)
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            near |= np.roll(np.roll(mask, dy, 0), dx, 1) != mask
    out, whole = to_numpy(softened), to_numpy(gaussian_blur(image, 1.0))
    tolerance = 1e-5 if backend.dtype == "float32" else 1e-12
    np.testing.assert_allclose(out[near], whole[near], atol=tolerance)
    np.testing.assert_array_equal(out[~near], pasted.astype(out.dtype)[~near])
    assert outline_edge_ratio(out, mask) < 0.8 * outline_edge_ratio(pasted, mask)
    empty = np.zeros_like(mask)
    np.testing.assert_array_equal(to_numpy(soften_outline(image, backend.xp.asarray(empty))),
                                  to_numpy(image))


def test_bad_shapes_raise_and_an_empty_mask_gives_nan():
    with pytest.raises(FacefitError, match="mask"):
        outline_edge_ratio(np.zeros((10, 10, 3)), np.zeros((9, 10), bool))
    assert np.isnan(outline_edge_ratio(np.zeros((10, 10, 3)), np.zeros((10, 10), bool)))


@pytest.mark.parametrize("yaw", [-45.0, 0.0, 30.0])
def test_samples_outline_is_not_much_harder_than_the_photos(yaw):
    """Loose bound (the benchmark holds the target, benchmarks/realism.py): a generated face's
    outline edge ratio is at most 1.25 times the real photo's with the fitted mask (the code
    before issue 17 gave 1.4-1.9 times on this photo; with the outline antialiased 0.7-1.0)."""
    model = ff.load_model()
    photo = ff.read_image(ASTRONAUT)
    with ff.use_backend("numpy"):
        result = ff.fit(photo, ff.read_landmarks(ASTRONAUT.with_suffix(".pts")), model)
        real = outline_edge_ratio(photo, to_numpy(result.render().mask))
        synth = Synthesizer(model, result.params, photo)
        ratios = []
        for index in range(3):
            expression = draw_expression(model, sample_rng(3, index))
            sample = synth(synth.pose(expression, np.radians([5.0 * index, yaw, 0.0])))
            ratios.append(outline_edge_ratio(sample.image, sample.mask))
    assert 1.0 < real < 3.0
    assert statistics.median(ratios) < 1.25 * real, (ratios, real)
