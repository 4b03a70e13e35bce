"""The model's face region (facefit.model.regions): what a 300-W annotator would outline."""

from __future__ import annotations

import numpy as np
import pytest

import facefit as ff
from facefit.backends import to_numpy
from facefit.bench import fidelity as fd
from facefit.model.regions import FACE, FOREHEAD, UNDER_CHIN, face_region, region_labels
from facefit.render import pose_faces, rasterize


@pytest.fixture(scope="module")
def model():
    return ff.load_model()


@pytest.fixture(scope="module")
def labels(model):
    return region_labels(model.mean_shape, model.triangles, model.landmark_indices)


def test_face_holds_the_landmarks_and_stops_at_brows_and_jaw(model, labels):
    v, marks = model.mean_shape, model.landmark_indices
    assert (labels[marks] == FACE).all()
    face = v[labels == FACE]
    eyes = 0.5 * (v[marks[36:42]].mean(0) + v[marks[42:48]].mean(0))
    eye_nose = np.linalg.norm((eyes - v[marks[30]])[:2])
    # No face vertex more than the forehead reach (plus a mesh edge or two) above the brows,
    # nor below the chin point.
    assert face[:, 1].max() < v[marks[17:27], 1].max() + 0.5 * eye_nose + 6.0
    assert face[:, 1].min() > v[marks[8], 1] - 3.0
    # What is cut away is real: the ICT narrow face runs about 3 cm above the brows and under
    # the chin.
    assert (labels == FOREHEAD).sum() > 100 and (labels == UNDER_CHIN).sum() > 100
    assert v[labels == FOREHEAD, 1].min() > v[marks[17:27], 1].min()


def test_a_model_without_jaw_points_keeps_its_whole_mesh(model):
    marks = model.landmark_indices.copy()
    marks[:17] = -1
    assert (region_labels(model.mean_shape, model.triangles, marks) == FACE).all()


def test_rendered_region_lies_inside_its_own_annotation_outline(model):
    """The two definitions agree: a face rendered with random identity, expression and a
    turned head covers only the outline of its own rendered landmarks (dilated by 5% of the
    eye distance), and most of it."""
    rng = np.random.default_rng(3)
    size = (300, 300)
    with ff.use_backend("numpy") as backend:
        region = face_region(model, backend)
        for yaw in (0.0, 0.5):
            params = ff.FaceParams.framing(model, size).for_model(model)
            params.identity = rng.normal(size=model.n_identity) * 0.7
            params.expression = np.abs(rng.normal(size=model.n_expression)) * 0.2
            params.rotation = np.array([0.1, yaw, 0.05])
            landmarks = to_numpy(ff.render(model, params, size).landmarks)
            state = pose_faces(model, [params], backend)
            raster = rasterize(state.points[0], state.depth[0], region["triangles"], size)
            mask = to_numpy(raster.mask())
            polygon = fd.face_outline(landmarks)
            allowed = fd.inside_convex(polygon, size, fd.SPILL_MARGIN * fd.eye_distance(landmarks))
            assert fd.spill(mask, allowed) < 0.01
            assert fd.coverage(mask, fd.inside_convex(polygon, size)) > 0.85


def test_a_mesh_that_is_not_face_like_stays_whole():
    """The synthetic test dome's 'brows' and 'jaw' are grid points: the cut would lose
    landmark vertices, so the whole mesh is kept."""
    from .synthetic import make_model

    dome = make_model(n=15)
    assert (region_labels(dome.mean_shape, dome.triangles, dome.landmark_indices) == FACE).all()
