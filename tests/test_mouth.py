"""The mouth interior of generated samples (issue 17): the stored ICT geometry and its drawing."""

from __future__ import annotations

from dataclasses import replace
from importlib.resources import files

import numpy as np
import pytest

import facefit as ff
from facefit.backends import to_numpy
from facefit.generate import Synthesizer
from facefit.generate.head import head_params
from facefit.generate.host import fill_holes
from facefit.generate.mouth import CAST, MouthInterior, _opening
from facefit.generate.mouth_model import MOUTH_FILE, PARTS, mouth_model
from facefit.params import FaceParams
from facefit.render import pose_faces, rasterize

from .conftest import assert_close


@pytest.fixture(scope="module")
def model():
    return ff.load_model()


@pytest.fixture(scope="module")
def mouth(model):
    geometry = mouth_model(model)
    assert geometry is not None
    return geometry


def _weights(model, **weights: float) -> np.ndarray:
    """Expression coefficients (std units) of ARKit blendshape weights (``_L``/``_R`` both)."""
    names = list(model.metadata["expression_names"])
    expression = np.zeros(model.n_expression)
    for name, weight in weights.items():
        for side in [name] if name in names else [f"{name}_L", f"{name}_R"]:
            expression[names.index(side)] = weight
    return expression / np.asarray(model.expression_std)


def _params(model, expression, pitch: float = 0.0, yaw: float = 0.0) -> FaceParams:
    rng = np.random.default_rng(1)
    return FaceParams(identity=rng.standard_normal(model.n_identity) * 0.5,
                      expression=expression, rotation=np.radians([pitch, yaw, 0.0]),
                      scale=1.6, translation=np.array([128.0, 150.0])).for_model(model)


def test_the_stored_mouth_is_the_ict_models_own_shapes(model, shared_data):
    stored = np.load(str(files("facefit") / "data" / MOUTH_FILE))
    source = np.load(shared_data / "ict-face-model" / "head_shapes.npz")
    ids = stored["source_vertex"]
    origin = np.asarray(model.metadata["origin_mm_in_source"])
    np.testing.assert_allclose(stored["mean"], source["neutral"][ids] * 10.0 - origin, atol=1e-3)
    neutral = source["neutral"][ids]
    for name in ("identity", "expression"):
        expected = np.transpose((source[name][:, ids] - neutral) * 10.0, (1, 2, 0))
        # Rounded to 0.01 mm, then float16 (2^-11 relative; offsets reach 36 mm).
        np.testing.assert_allclose(stored[name].astype(np.float64), expected,
                                   atol=0.005 + 36.0 * 2.0**-11)
    part = stored["part"]
    regions = {"socket": (11248, 13294), "gums": (14062, 17039), "tongue": (14062, 17039),
               "upper teeth": (17039, 21451), "lower teeth": (17039, 21451)}
    for label, name in enumerate(PARTS):
        low, high = regions[name]
        inside = ids[part == label]
        rim = inside < 6706  # the lips' inner rim, copied from the face, is labelled socket
        assert inside.size > 100, name
        assert np.all((inside[~rim] >= low) & (inside[~rim] < high)), name
        assert name == "socket" or not rim.any()
    assert stored["triangles"].max() < ids.size
    assert (files("facefit") / "data" / MOUTH_FILE).stat().st_size < 2e6  # type: ignore[attr-defined]


def test_only_the_default_model_has_a_mouth_interior(surrey_model):
    assert mouth_model(surrey_model) is None


def test_the_rim_is_where_the_face_is_and_jaw_open_drops_the_lower_teeth(model, mouth, backend):
    closed = _params(model, _weights(model))
    opened = _params(model, _weights(model, jawOpen=1.0))
    face = to_numpy(pose_faces(model, [opened], backend).points[0, ...])
    posed = {}
    for name, params in (("closed", closed), ("opened", opened)):
        state = pose_faces(mouth.model, [head_params(params)], backend)
        posed[name] = to_numpy(state.points[0, ...])
    # Same coefficients, same pose, same units and origin: the copied rim sits on the face.
    rim = mouth.rim_ids
    np.testing.assert_allclose(posed["opened"][rim], face[mouth.source_vertex[rim]], atol=0.1)
    drop = posed["opened"][:, 1] - posed["closed"][:, 1]  # image y grows downward
    lower, upper = mouth.part == PARTS.index("lower teeth"), mouth.part == PARTS.index(
        "upper teeth")
    # jawOpen at weight 1 lowers the lower front teeth by about 3 cm (x 1.6 px/mm).
    assert drop[lower].mean() > 20 * 1.6
    assert np.abs(drop[upper]).max() < 0.5
    assert drop[mouth.part == PARTS.index("tongue")].mean() > 10 * 1.6


def _teeth_like(image: np.ndarray) -> np.ndarray:
    """Off-white pixels: bright, nearly grey, a little warm (not lips, skin or the cavity)."""
    return (image.min(axis=-1) > 0.5) & (image[..., 0] - image[..., 2] < 0.2) \
        & (image[..., 0] >= image[..., 2])


def _draw(model, params, backend, photo_level=(0.55, 0.35, 0.35)):
    """The mouth interior drawn over a flat image, with the face's render; the flat "photo" was
    fitted with the mouth closed (so nothing of the interior takes the photo's colour)."""
    photo = backend.asarray(np.broadcast_to(np.asarray(photo_level), (300, 256, 3)).copy())
    interior = MouthInterior(model, replace(params, expression=_weights(model)), photo, backend)
    state = pose_faces(model, [params], backend)
    points, depth = state.points[0, ...], state.depth[0, ...]
    face = rasterize(points, depth, model.arrays(backend).triangles, (300, 256))
    image = backend.asarray(np.full((300, 256, 3), 0.3))
    out = to_numpy(interior(image, face, points, depth, params))
    return out, to_numpy(face.mask()), to_numpy(_opening(face.mask(), points, depth,
                                                         interior.loop))


def test_an_opened_mouth_shows_teeth_inside_it_and_nowhere_else(model, backend):
    # jawOpen 1 with the upper lip raised a little: with jawOpen alone the ICT model's upper
    # lip hangs in front of the upper teeth and the lower lip in front of the lower ones.
    params = _params(model, _weights(model, jawOpen=1.0, mouthUpperUp=0.5))
    out, face, opening = _draw(model, params, backend)
    drawn = np.any(out != 0.3, axis=-1)
    teeth = _teeth_like(out)
    assert teeth.sum() > 60
    assert opening.sum() > 500
    # Everything drawn lies inside the face's outline (its holes filled): the mouth's opening.
    assert not (drawn & ~fill_holes(face)).any()
    assert not (teeth & ~fill_holes(face)).any()
    # Deep in the mouth is darker than at the front: the cavity is no flat colour.
    assert out[opening].mean(axis=-1).min() < 0.5 * out[teeth].mean()


def test_a_greyscale_photos_mouth_is_grey(model, backend):
    """In a black-and-white photo the interior is drawn grey (pink gums and yellowish teeth
    were a painted-on mouth on einstein); a colour photo's keeps its colour."""
    params = _params(model, _weights(model, jawOpen=1.0, mouthUpperUp=0.5))
    grey, _, opening = _draw(model, params, backend, photo_level=(0.45, 0.45, 0.45))
    colour, _, _ = _draw(model, params, backend)
    spread = np.ptp(grey[opening], axis=-1)
    assert opening.sum() > 500 and spread.max() < 1e-4
    assert np.ptp(colour[opening], axis=-1).mean() > 0.03


def test_the_teeth_take_the_lights_colour_cast(model, backend):
    """Under a warm fitted light the teeth are warmer than under a white one (neutral teeth in
    a warm photo read as blue-grey), by at most the CAST bounds."""
    params = _params(model, _weights(model, jawOpen=1.0, mouthUpperUp=0.5))
    white, _, _ = _draw(model, params, backend)
    teeth = _teeth_like(white)
    assert teeth.sum() > 60
    light = np.array(params.light, dtype=float)
    light[0] = light[0] * np.array([1.2, 1.0, 0.8])
    warm, _, _ = _draw(model, replace(params, light=light), backend)
    ratio = warm[teeth] / white[teeth]
    assert np.median(ratio[:, 0] / ratio[:, 2]) > 1.1  # half the light's 1.5
    assert np.median(ratio[:, 0] / ratio[:, 2]) < (CAST[1] / CAST[0]) * 1.01


def test_a_greyscale_photos_teeth_take_no_cast(model, backend):
    """A greyscale photo's fitted light is coloured only to undo the albedo's colour: its teeth
    take no cast from it, even under a strongly coloured light."""
    params = _params(model, _weights(model, jawOpen=1.0))
    light = np.array(params.light, dtype=float)
    light[0] = light[0] * np.array([0.7, 1.0, 1.3])
    grey = backend.asarray(np.full((300, 256, 3), 0.45))
    interior = MouthInterior(model, replace(params, light=light), grey, backend)
    assert_close(interior.cast, np.ones(3), dtype=backend.dtype_name)
    colour = MouthInterior(model, replace(params, light=light),
                           backend.asarray(np.broadcast_to([0.55, 0.35, 0.35], (300, 256, 3))
                                           .copy()), backend)
    assert float(np.ptp(to_numpy(colour.cast))) > 0.05


@pytest.mark.parametrize("weights", [{}, {"mouthPress": 0.6}], ids=["neutral", "pressed"])
def test_a_closed_mouth_draws_no_interior(model, backend, weights):
    params = _params(model, _weights(model, **weights))
    out, _, opening = _draw(model, params, backend)
    assert not _teeth_like(out).any()
    assert not (np.any(out != 0.3, axis=-1) & ~opening).any()


def test_closing_a_photos_open_mouth_smears_no_teeth_over_the_lips(model):
    """A 'photo' whose opened mouth is pure white (teeth) and the rest skin-grey; the sample
    closes the mouth: no white may show on or around the lips."""
    opened = _params(model, _weights(model, jawOpen=0.6))
    with ff.use_backend("numpy") as backend:
        state = pose_faces(model, [opened], backend)
        points, depth = state.points[0], state.depth[0]
        face = rasterize(points, depth, model.arrays(backend).triangles, (300, 256))
        interior = MouthInterior(model, opened, np.zeros((300, 256, 3)), backend)
        hole = to_numpy(_opening(face.mask(), points, depth, interior.loop))
        photo = np.full((300, 256, 3), 0.55)
        photo[hole] = 1.0
        assert hole.sum() > 300
        synth = Synthesizer(model, opened, photo)
        sample = synth(replace(opened, expression=_weights(model)))
    white = sample.image.min(axis=-1) > 0.8
    assert not white.any(), f"{white.sum()} white pixels"


def test_the_photos_own_teeth_are_carried_where_the_photo_shows_them():
    """The shipped photo smiles with its teeth showing. At its own pose and expression the
    sample's teeth are the photo's (the interior vertices the photo saw take its colours), not
    the interior's shaded grey."""
    path = files("facefit") / "data" / "samples" / "astronaut.png"
    model = ff.load_model()
    photo = ff.read_image(path)
    points = ff.read_landmarks(str(path).replace(".png", ".pts"))
    with ff.use_backend("numpy"):
        result = ff.fit(photo, points, model)
        synth = Synthesizer(model, result.params, photo)
        sample = synth(synth.pose(result.params.expression, result.params.rotation))
    x, y = np.round(points[[61, 62, 63, 65, 66, 67]].mean(axis=0)).astype(int)
    window = (slice(y - 1, y + 2), slice(x - 4, x + 5))
    # Shaded by rule they were 0.16 darker; interpolated with the unseen ones at the edges of
    # what the photo showed, they stay within 0.1.
    np.testing.assert_allclose(sample.image[window].mean(axis=(0, 1)),
                               photo[window].mean(axis=(0, 1)), atol=0.1)
    # Over all of what the photo showed (its opening less a pixel at the lips), the sample is
    # the photo. Blurred by the outline's softening along the opening, and decided per vertex
    # of the coarse interior mesh, they were 0.10 off on average there.
    shown = to_numpy(synth.mouth_interior.photo_inside)[..., 0] > 0.5
    assert shown.sum() > 100
    assert np.abs(sample.image[shown] - photo[shown]).mean() < 0.02


def test_what_the_photo_showed_of_the_interior_keeps_the_photos_colour(model, backend):
    """A flat photo fitted with the mouth open: the interior vertices it showed take its colour,
    so the same open mouth drawn again shows the photo's colour inside the opening."""
    params = _params(model, _weights(model, jawOpen=1.0, mouthUpperUp=0.5))
    level = np.array([0.2, 0.6, 0.3])  # no tooth, gum or socket colour
    photo = backend.asarray(np.broadcast_to(level, (300, 256, 3)).copy())
    interior = MouthInterior(model, params, photo, backend)
    shown = to_numpy(interior.photo_share(interior.source_points, interior.source_depth))
    assert (shown > 0.5).sum() > 20  # interior vertices the photo shows
    state = pose_faces(model, [params], backend)
    points, depth = state.points[0, ...], state.depth[0, ...]
    face = rasterize(points, depth, model.arrays(backend).triangles, (300, 256))
    out = to_numpy(interior(backend.asarray(np.full((300, 256, 3), 0.3)), face, points, depth,
                            params))
    like_photo = np.all(np.abs(out - level) < 0.02, axis=-1)
    assert like_photo.sum() > 30
    assert not (like_photo & ~fill_holes(to_numpy(face.mask()))).any()
