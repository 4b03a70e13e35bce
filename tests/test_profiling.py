"""Head-region profiling (issue 17): the head model, the image-mesh warp and the mouth cavity."""

from __future__ import annotations

import numpy as np
import pytest

import facefit as ff
from facefit.backends import to_numpy
from facefit.errors import FacefitError
from facefit.generate.head import head_model, head_params, head_positions, head_state
from facefit.generate.head_skin import RELIEF, HeadSkin
from facefit.generate.host import grain
from facefit.generate.mouth import draw_cavity, inner_lip_loop
from facefit.generate.profiling import BINS, HeadWarp, StandIn, rigid_map
from facefit.generate.quality import fill_holes
from facefit.params import FaceParams
from facefit.render import pose_faces

from .conftest import assert_close


@pytest.fixture(scope="module")
def model():
    return ff.load_model()


@pytest.fixture(scope="module")
def head(model):
    geometry = head_model(model)
    assert geometry is not None
    return geometry


def _params(model, yaw: float = 0.0, expression=None) -> FaceParams:
    rng = np.random.default_rng(0)
    return FaceParams(identity=rng.standard_normal(model.n_identity) * 0.5,
                      expression=np.zeros(model.n_expression) if expression is None
                      else expression,
                      rotation=np.radians([0.0, yaw, 0.0]), scale=0.9,
                      translation=np.array([128.0, 128.0])).for_model(model)


def test_the_head_starts_with_the_face_model_vertices(model, head):
    params = _params(model, 20.0, np.full(model.n_expression, 0.3))
    with ff.use_backend("numpy"):
        face = pose_faces(model, [params]).points[0]
        whole = pose_faces(head.model, [head_params(params)]).points[0]
    np.testing.assert_array_equal(whole[:model.n_vertices], face)
    assert whole.shape[0] == 11248
    # The head reaches past the face: above the brows to the hairline, and to the ears.
    assert np.ptp(whole[:, 0]) > 1.3 * np.ptp(face[:, 0])
    assert head.follow.min() == 0.0 and head.follow[:model.n_vertices].min() == 1.0
    assert head.rigid[:model.n_vertices].max() == 0.0 and head.rigid.sum() > 500


def test_the_neck_twists_gradually(model, head):
    """The neck's turn fades over nearly half its height: a steep fade (over 15%) cut a turned
    neck off the collar along a straight line."""
    height = head.model.mean_shape[:, 1]
    chin = height[model.landmark_indices[8]]
    neck = (np.arange(height.shape[0]) >= model.n_vertices) & (height < chin)
    turning = neck & (head.follow > 0.0) & (head.follow < 1.0)
    span = np.ptp(height[turning]) / (chin - height.min())
    assert span > 0.4
    order = np.argsort(height[neck])
    assert np.all(np.diff(head.follow[neck][order]) >= 0)  # more turn the higher up


def test_other_models_have_no_head(surrey_model):
    assert head_model(surrey_model) is None


def test_a_mesh_without_a_hole_between_the_lips_has_no_mouth_rim(model, surrey_model):
    closed = ff.MorphableModel(**{**{f: getattr(model, f) for f in (
        "name", "mean_shape", "identity_basis", "identity_std", "expression_basis",
        "expression_std", "albedo_mean", "albedo_basis", "albedo_std", "landmark_indices",
        "jaw_candidates")}, "triangles": _fill_loop(model)})
    assert inner_lip_loop(closed) is None
    loop = inner_lip_loop(surrey_model)
    assert loop is None or loop.size < 100


def _fill_loop(model):
    loop = inner_lip_loop(model)
    fan = [[loop[0], loop[k], loop[k + 1]] for k in range(1, loop.size - 1)]
    return np.concatenate([model.triangles, np.asarray(fan)])


def test_rigid_map_recovers_an_affine_map():
    rng = np.random.default_rng(1)
    source = rng.normal(size=(50, 3))
    truth = np.vstack([rng.normal(size=(3, 3)), rng.normal(size=(1, 3))])
    target = np.hstack([source, np.ones((50, 1))]) @ truth
    np.testing.assert_allclose(rigid_map(source, target, np.ones(50)), truth, atol=1e-6)


def _warp(head, photo, params, backend):
    source = head_positions(head, params, backend)
    return HeadWarp(backend.asarray(photo), source, head.model.arrays(backend).triangles,
                    backend.asarray(head.follow), backend.asarray(head.rigid))


def test_the_warp_is_the_identity_when_nothing_moves(model, head, backend):
    photo = np.random.default_rng(2).uniform(size=(256, 256, 3))
    params = _params(model)
    warp = _warp(head, photo, params, backend)
    image, moved = warp(head_positions(head, params, backend))
    moved = to_numpy(moved)
    assert moved.sum() > 0.3 * moved.size
    assert_close(image, photo, dtype=backend.dtype_name, scale=1.0, atol_scale=1e3)


@pytest.mark.parametrize("yaw", [-45.0, 45.0])
def test_a_turned_head_covers_every_pixel_once_and_keeps_the_far_background(model, head, yaw,
                                                                           backend):
    """Culling flipped triangles opens no holes: every pixel inside the fixed ring is drawn by
    an unflipped triangle (anchors clipped to the image border stand still, or the border's
    pixels would be left behind); outside it the photo is untouched."""
    rng = np.random.default_rng(3)
    photo = rng.uniform(size=(256, 256, 3))
    params = _params(model)
    warp = _warp(head, photo, params, backend)
    turned = FaceParams(**{**params.__dict__, "rotation": np.radians([0.0, yaw, 0.0])})
    image, moved = warp(head_positions(head, turned, backend))
    image, moved = to_numpy(image), to_numpy(moved)
    fixed = to_numpy(warp.anchors)[-BINS:, 0:2]
    from matplotlib.path import Path

    ys, xs = np.mgrid[:256, :256]
    inside = Path(fixed).contains_points(np.stack([xs.ravel(), ys.ravel()], 1)).reshape(256, 256)
    assert moved[inside].all()
    assert_close(image[~moved], photo[~moved], dtype=backend.dtype_name, scale=1.0)
    assert np.abs(image - photo)[moved].mean() > 0.05  # the head did move


def _skin(head, backend, face_albedo):
    n_face = head.n_face
    return HeadSkin(head.model.arrays(backend).triangles, backend.asarray(face_albedo),
                    backend.asarray(np.ones(n_face)), backend.asarray(head.skin))


def test_head_skin_spreads_the_faces_colour_to_the_ears(model, head, backend):
    """The ears and sides take the colour of the face beside them: with the face's left half
    red and its right half blue, the left ear is red and the right ear blue; everywhere the
    colour is a mix of the face's (the back of the head, which no ring reaches from the face,
    takes the face's mean)."""
    x = model.mean_shape[:, 0]
    red, blue = np.array([0.8, 0.2, 0.2]), np.array([0.2, 0.2, 0.8])
    face_albedo = np.where((x < 0)[:, None], red, blue)
    skin = _skin(head, backend, face_albedo)
    albedo = to_numpy(skin.albedo)
    mean = head.model.mean_shape
    ears = (np.abs(mean[:, 0]) > 75) & (np.arange(mean.shape[0]) >= head.n_face)
    left, right = albedo[ears & (mean[:, 0] < 0)], albedo[ears & (mean[:, 0] > 0)]
    assert left[:, 0].mean() > 0.6 and left[:, 2].mean() < 0.4
    assert right[:, 2].mean() > 0.6 and right[:, 0].mean() < 0.4
    tol = 1e-4 if backend.dtype_name == "float32" else 1e-9
    assert np.all(albedo >= 0.2 - tol) and np.all(albedo <= 0.8 + tol)
    assert np.all(np.abs(albedo[:, 1] - 0.2) < tol)


def test_head_skin_draws_albedo_times_shading_and_no_skin_on_the_skull(model, head, backend):
    colour = np.array([0.6, 0.45, 0.35])
    skin = _skin(head, backend, np.tile(colour, (head.n_face, 1)))
    params = _params(model, 60.0)
    state = head_state(head, params, backend)
    shading = backend.asarray(np.full((head.model.n_vertices, 3), 0.5))
    layer = skin(state.points[0, ...], state.depth[0, ...], shading, (256, 256))
    image, weight = to_numpy(layer.image), to_numpy(layer.weight)[..., 0]
    drawn = image.max(axis=-1) > 0
    # Evenly lit, the surface has no relief.
    assert_close(layer.relief, np.ones((256, 256, 1)), dtype=backend.dtype_name)
    assert drawn.sum() > 2000
    # Barycentric weights carry the rounding of pixel coordinates (about 256 here).
    assert_close(image[drawn], np.broadcast_to(0.5 * colour, image[drawn].shape),
                 dtype=backend.dtype_name, atol_scale=256)
    assert np.all(weight[~drawn] == 0) and weight.max() <= 1 + 1e-6
    # Turned 60 degrees, the back of the skull (under hair: no skin) shows behind the ear.
    assert (drawn & (weight < 0.5)).sum() > 50 and (weight > 0.99).sum() > 2000


def test_head_skin_relief_is_the_shading_over_its_surroundings(model, head, backend):
    """A patch of the head shaded darker than the rest shows as relief below 1 there (bounded
    by RELIEF), and 1 far from it and off the head."""
    skin = _skin(head, backend, np.full((head.n_face, 3), 0.5))
    state = head_state(head, _params(model, 60.0), backend)
    points, depth = to_numpy(state.points[0, ...]), to_numpy(state.depth[0, ...])
    n = head.model.n_vertices
    # The nearest vertex of the ear turned toward the camera and its mesh neighbours.
    mean = head.model.mean_shape
    ears = (np.abs(mean[:, 0]) > 75) & (np.arange(n) >= head.n_face) & (head.follow >= 1)
    nearest = np.flatnonzero(ears)[np.argmax(depth[ears])]
    triangles = head.model.triangles
    patch = np.zeros(n, dtype=bool)
    patch[triangles[(triangles == nearest).any(axis=1)].ravel()] = True
    assert patch.sum() > 3
    centre = points[nearest]
    shading = np.full((n, 3), 0.8)
    shading[patch] = 0.4
    layer = skin(state.points[0, ...], state.depth[0, ...], backend.asarray(shading), (256, 256))
    relief, drawn = to_numpy(layer.relief)[..., 0], to_numpy(layer.image).max(axis=-1) > 0
    x, y = np.round(points[nearest]).astype(int)
    assert relief[y, x] < 0.9
    tol = 1e-5 if backend.dtype_name == "float32" else 1e-9
    assert relief.min() >= RELIEF[0] - tol and relief.max() <= RELIEF[1] + tol
    assert np.all(relief[~drawn] == 1.0)
    far = np.linalg.norm(np.stack(np.mgrid[:256, :256][::-1], -1) - centre, axis=-1) > 60
    assert np.median(np.abs(relief[drawn & far] - 1)) < 1e-6


def test_head_skin_is_not_skin_where_the_photo_shows_something_else(model, head, backend):
    """Where the photo's colour at a vertex is the face's skin (its albedo times its shading in
    the photo), the surface stays skin; where it is far from it (background or hair where the
    model's ear lies over them), it is not."""
    colour = np.array([0.6, 0.45, 0.35])
    n = head.model.n_vertices
    shading = np.full((n, 3), 0.9)
    alike = HeadSkin(head.model.arrays(backend).triangles,
                     backend.asarray(np.tile(colour, (head.n_face, 1))),
                     backend.asarray(np.ones(head.n_face)), backend.asarray(head.skin),
                     (backend.asarray(np.tile(0.9 * colour, (n, 1))), backend.asarray(shading)))
    green = np.where((head.model.mean_shape[:, 0] > 0)[:, None], [0.1, 0.8, 0.2], 0.9 * colour)
    unlike = HeadSkin(head.model.arrays(backend).triangles,
                      backend.asarray(np.tile(colour, (head.n_face, 1))),
                      backend.asarray(np.ones(head.n_face)), backend.asarray(head.skin),
                      (backend.asarray(green), backend.asarray(shading)))
    assert_close(alike.skin[:, 0], head.skin, dtype=backend.dtype_name)
    x = head.model.mean_shape[:, 0]
    skin = to_numpy(unlike.skin)[:, 0]
    assert skin[(x > 20) & (head.skin > 0.5)].max() < 0.05
    assert_close(skin[x < -40], head.skin[x < -40], dtype=backend.dtype_name)


def test_the_warp_draws_the_stand_in_only_where_it_is_stretched(model, head, backend):
    """Turned 45 degrees, the strip of a frontal photo that saw the side of the head edge-on is
    stretched; there the stand-in is drawn (in full where the stretch passes 5x), elsewhere the
    warp is unchanged, and a zero weight changes nothing."""
    rng = np.random.default_rng(4)
    photo = rng.uniform(size=(256, 256, 3))
    params = _params(model)
    warp = _warp(head, photo, params, backend)
    turned = head_positions(head, _params(model, 45.0), backend)
    plain, _ = warp(turned)
    grey = backend.asarray(np.full((256, 256, 3), 0.5))
    ones = backend.asarray(np.ones((256, 256, 1)))
    zeros = backend.asarray(np.zeros((256, 256, 1)))
    with_grey, _ = warp(turned, stand_in=(grey, ones))
    unchanged, _ = warp(turned, stand_in=(grey, zeros))
    plain, with_grey, unchanged = to_numpy(plain), to_numpy(with_grey), to_numpy(unchanged)
    assert_close(unchanged, plain, dtype=backend.dtype_name, scale=1.0)
    changed = np.abs(with_grey - plain).max(axis=-1) > 1e-6
    assert 100 < changed.sum() < 0.9 * changed.size
    tol = 1e-4 if backend.dtype_name == "float32" else 1e-9
    assert np.all(np.abs(with_grey - 0.5) <= np.abs(plain - 0.5) + tol)
    assert (np.abs(with_grey - 0.5).max(axis=-1) < tol).sum() > 20


def test_the_warp_blends_smoothly_and_applies_relief_and_grain_only_where_stretched(
        model, head, backend):
    """On a flat grey photo, a white stand-in drawn in full shows how stretched each pixel
    counts: it rises smoothly across the mesh (per triangle it jumped between neighbours), 0
    where the warp is not stretched and 1 past STRETCH[1]. A relief of 0.5
    halves the stretched photo in proportion, and grain is added in the same proportion."""
    photo = np.full((256, 256, 3), 0.5)
    params = _params(model)
    turned = head_positions(head, _params(model, 45.0), backend)
    warp = _warp(head, photo, params, backend)
    white = backend.asarray(np.ones((256, 256, 3)))
    ones = backend.asarray(np.ones((256, 256, 1)))
    zeros = backend.asarray(np.zeros((256, 256, 1)))
    drawn, moved = warp(turned, stand_in=StandIn(white, ones))
    amount = 2 * (to_numpy(drawn)[..., 0] - 0.5)
    moved = to_numpy(moved)
    tol = 1e-4 if backend.dtype_name == "float32" else 1e-9
    assert amount.min() >= -tol and amount.max() <= 1 + tol
    assert (amount > 1 - tol).sum() > 20 and (amount[moved] < tol).sum() > 1000
    # Steps remain only where one surface hides another (per triangle: 9% of the partly
    # stretched pixels' count; smoothed: 1%).
    steps = np.abs(np.diff(amount, axis=1))[moved[:, 1:] & moved[:, :-1]]
    partly = (amount > 0.01) & (amount < 0.99)
    assert (steps > 0.25).sum() < 0.03 * partly.sum()
    halved, _ = warp(turned, stand_in=StandIn(white, zeros, 0.5 * ones))
    assert_close(halved, 0.5 * (1 - 0.5 * amount)[..., None] * np.ones(3),
                 dtype=backend.dtype_name, scale=1.0, atol_scale=100)
    noisy = HeadWarp(backend.asarray(photo), head_positions(head, params, backend),
                     head.model.arrays(backend).triangles, backend.asarray(head.follow),
                     backend.asarray(head.rigid), grain=backend.asarray(np.full((256, 256, 1),
                                                                                0.1)))
    grained, _ = noisy(turned)
    assert_close(grained, (0.5 + 0.1 * amount)[..., None] * np.ones(3),
                 dtype=backend.dtype_name, scale=1.0, atol_scale=100)


def test_grain_follows_the_photos_fine_detail():
    """The grain's spread is proportional to the photo's fine detail in the box (none on a
    flat photo), fixed by its seed, one grey channel."""
    rng = np.random.default_rng(7)
    noise = rng.standard_normal((120, 100, 1)) * np.ones(3)
    box = (20, 100, 20, 80)
    weak, strong = grain(0.5 + 0.01 * noise, box), grain(0.5 + 0.03 * noise, box)
    assert weak.shape == (120, 100, 1)
    assert strong.std() == pytest.approx(3 * weak.std(), rel=1e-6)
    assert 0.001 < weak.std() < 0.01
    np.testing.assert_array_equal(grain(0.5 + 0.01 * noise, box), weak)
    assert not np.array_equal(grain(0.5 + 0.01 * noise, box, seed=1), weak)
    assert np.all(grain(np.full((50, 40, 3), 0.3), (0, 50, 0, 40)) == 0)


def test_the_warp_says_where_it_drew_the_face(model, head, backend):
    """With ``face`` marking the face model's vertices, :meth:`HeadWarp.warp` reports 1 where a
    pixel came from a triangle of face vertices and 0 elsewhere (rings, the rest of the head):
    unmoved, that is the face's own projection in the photo (its holes spanned: the warp's
    triangles join anchors across the eyes and the mouth)."""
    photo = np.random.default_rng(5).uniform(size=(256, 256, 3))
    params = _params(model)
    source = head_positions(head, params, backend)
    face = np.zeros(head.model.n_vertices)
    face[:head.n_face] = 1.0
    warp = HeadWarp(backend.asarray(photo), source, head.model.arrays(backend).triangles,
                    backend.asarray(head.follow), backend.asarray(head.rigid),
                    face=backend.asarray(face))
    warped = warp.warp(source)
    share = to_numpy(warped.face)[..., 0]
    assert set(np.unique(share)) <= {0.0, 1.0}
    with ff.use_backend(backend.name, dtype=backend.dtype_name):
        drawn = to_numpy(ff.render(model, params, (256, 256), region="all").mask)
    assert share.sum() > 0.8 * drawn.sum()
    assert not (share > 0)[~fill_holes(drawn)].any()
    assert_close(warped.image, warp(source)[0], dtype=backend.dtype_name, scale=1.0)
    assert _warp(head, photo, params, backend).warp(source).face is None


def test_the_warp_checks_its_inputs(model, head):
    photo = np.zeros((64, 64, 3))
    with pytest.raises(FacefitError, match="source"):
        HeadWarp(photo, np.zeros((10, 2)), np.zeros((1, 3), np.int64), np.ones(10))


def test_the_mouth_rim_is_the_hole_between_the_lips(model):
    loop = inner_lip_loop(model)
    mean = model.mean_shape
    lips = mean[model.landmark_indices[60:68]]
    assert 20 < loop.size < 200
    # Seen from the front its centre is the inner lips' (the rim lies a few mm behind them).
    assert np.linalg.norm(mean[loop, :2].mean(axis=0) - lips[:, :2].mean(axis=0)) < 1.0  # mm


def test_an_opened_mouth_is_a_dark_cavity_not_photo_pixels(model):
    names = model.metadata["expression_names"]
    expression = np.zeros(model.n_expression)
    expression[names.index("jawOpen")] = 1.6  # a wide-open mouth (0.8 as a weight)
    params = _params(model, 0.0, expression)
    with ff.use_backend("numpy"):
        state = pose_faces(model, [params])
        rendered = ff.render(model, params, (256, 256))
    image = np.ones((256, 256, 3))
    lip = np.array([0.6, 0.3, 0.3])
    out = to_numpy(draw_cavity(image, to_numpy(rendered.mask), state.points[0], state.depth[0],
                               inner_lip_loop(model), lip))
    drawn = np.any(out != image, axis=-1)
    assert drawn.sum() > 100, "the opening should show"
    assert not (drawn & to_numpy(rendered.mask)).any()  # never over the face
    assert out[drawn].max() <= lip.max() * 0.5 + 1e-9  # at most half the lips' colour


def test_warp_triangle_areas(backend):
    from facefit.generate.profiling import _areas

    points = backend.asarray(np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 3.0], [4.0, 3.0]]))
    triangles = backend.xp.asarray(np.array([[0, 1, 2], [1, 3, 2], [0, 2, 1]]))
    np.testing.assert_allclose(to_numpy(_areas(points, triangles)), [6.0, 6.0, 6.0])
