"""The jaw placed on a detected face's outline by 300-W's convention (detect/jaw.py).

Host-side NumPy, like the detectors; the photo tests need MediaPipe (facefit[detect]).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import facefit as ff
from facefit.detect import detect_landmarks, mediapipe_to_ibug
from facefit.detect.jaw import outline_jaw
from facefit.model.contours import JAW_END_DROP
from facefit.render.landmarks import IBUG_MIRROR

from .test_detect import _distance_to_outline, needs_mediapipe


def _face(width=60.0, height=80.0, corners=400):
    """Inner points of a frontal face and an elliptical outline around it (pixels, y down,
    centred on the origin): eye corners 36 / 45 at (-/+30, -20), nose bridge 27 at (0, -20),
    lower lip 57 at (0, 40)."""
    angle = np.linspace(0.0, 2 * np.pi, corners, endpoint=False)
    outline = np.stack([width * np.cos(angle), height * np.sin(angle)], axis=1)
    points = np.full((68, 2), np.nan)
    points[36], points[45], points[27], points[57] = (-30, -20), (30, -20), (0, -20), (0, 40)
    return points, outline


def _jaw_nme(points, reference):
    """Mean jaw point error over the outer-eye-corner distance."""
    return float(np.linalg.norm(points[:17] - reference[:17], axis=1).mean()
                 / np.linalg.norm(reference[36] - reference[45]))


def test_jaw_on_an_ellipse_runs_from_below_the_eye_corners_round_the_chin():
    points, outline = _face()
    jaw = outline_jaw(points, outline)
    assert jaw.shape == (17, 2)
    assert _distance_to_outline(jaw, outline).max() < 1e-9  # on the outline
    # Ends: JAW_END_DROP eye distances (60 px) below the eye corners, on the outline's sides
    # (to the polygon's chords); the chin at its bottom.
    drop = -20 + JAW_END_DROP * 60
    side = 60 * np.sqrt(1 - (drop / 80) ** 2)
    np.testing.assert_allclose(jaw[0], (-side, drop), atol=0.05)
    np.testing.assert_allclose(jaw[16], (side, drop), atol=0.05)
    np.testing.assert_allclose(jaw[8], (0, 80), atol=0.05)
    # Evenly spaced along the outline: equal chords within each half, halves mirrored.
    chords = np.linalg.norm(np.diff(jaw, axis=0), axis=1)
    np.testing.assert_allclose(chords, chords.mean(), rtol=0.02)
    np.testing.assert_allclose(jaw[:8, 0], -jaw[16:8:-1, 0], atol=1e-9)
    # Either winding of the outline gives the same points.
    np.testing.assert_allclose(outline_jaw(points, outline[::-1]), jaw, atol=1e-9)


def test_chin_of_a_turned_face_lies_halfway_between_midline_and_lowest_point():
    """The midline from the nose bridge through the lower lip, slanted as on a turned face,
    leaves the outline beside its lowest point: the chin is placed halfway between, along the
    outline."""
    points, outline = _face(corners=2000)
    points[57] = (20, 40)  # the lip 20 px right of the bridge
    jaw = outline_jaw(points, outline)
    direction = (points[57] - points[27]) / np.linalg.norm(points[57] - points[27])
    # The midline's exit, solved on the ellipse: (x/60)^2 + (y/80)^2 = 1 along the ray.
    a = (direction[0] / 60) ** 2 + (direction[1] / 80) ** 2
    b = 2 * (points[57][0] * direction[0] / 60 ** 2 + points[57][1] * direction[1] / 80 ** 2)
    c = (points[57][0] / 60) ** 2 + (points[57][1] / 80) ** 2 - 1
    t = (-b + np.sqrt(b * b - 4 * a * c)) / (2 * a)
    exit_angle = np.arctan2((points[57] + t * direction)[1] / 80,
                            (points[57] + t * direction)[0] / 60)
    chin_angle = np.arctan2(jaw[8, 1] / 80, jaw[8, 0] / 60)
    # Arc length on this ellipse is nearly proportional to the angle near its bottom.
    assert abs(chin_angle - 0.5 * (exit_angle + np.pi / 2)) < 0.01, (chin_angle, exit_angle)
    assert _distance_to_outline(jaw, outline).max() < 1e-9


@settings(max_examples=40, deadline=None)
@given(angle=st.floats(-1.0, 1.0), scale=st.floats(0.2, 20.0),
       shift=st.tuples(st.floats(-500, 500), st.floats(-500, 500)),
       start=st.integers(0, 399), stretch=st.floats(0.7, 1.4))
def test_jaw_moves_with_the_face_and_mirrors_with_it(angle, scale, shift, start, stretch):
    """Turned, scaled and moved in the image, or mirrored, the face's jaw does the same,
    whichever corner the outline starts at."""
    points, outline = _face(width=60.0 * stretch)
    outline = np.roll(outline, start, axis=0)
    jaw = outline_jaw(points, outline)
    turn = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])

    def move(p):
        return p @ turn.T + np.asarray(shift)

    size = 100 * scale
    np.testing.assert_allclose(outline_jaw(move(points), move(outline)), move(jaw),
                               rtol=0, atol=1e-7 * size)
    flip = np.array([-1.0, 1.0])
    mirrored = outline_jaw(points[list(IBUG_MIRROR)] * flip, outline * flip)
    np.testing.assert_allclose(mirrored, jaw[::-1] * flip, rtol=0, atol=1e-7 * 100)


@pytest.mark.parametrize("spoil", ["eyes", "lip", "corners", "far"])
def test_no_jaw_where_the_points_or_the_outline_cannot_place_it(spoil):
    points, outline = _face()
    if spoil == "eyes":
        points[45] = points[36]
    elif spoil == "lip":
        points[57] = np.nan
    elif spoil == "corners":
        outline = outline[:2]
    else:  # an outline that is not around the face: the lines from its points miss it
        outline = outline + np.array([1000.0, 0.0])
    assert outline_jaw(points, outline) is None


@needs_mediapipe
def test_detected_jaw_lies_on_the_outline_nearer_the_annotation(shared_data):
    """On the hand-annotated 300-W photo (turned 27 degrees) MediaPipe's jaw, placed on its
    outline, is nearer the annotated jaw than the mesh vertices the table maps (0.043 against
    0.075 eye distances, and 0.016 against 0.048 on the astronaut's dlib-made points)."""
    for name, limit in (("300w/image_0010.png", 0.055), ("samples/astronaut.png", 0.03)):
        path = shared_data / name
        reference = ff.read_landmarks(path.with_suffix(".pts"))
        face = detect_landmarks(path, dense=True)[0]
        mapped = mediapipe_to_ibug(face.dense)
        np.testing.assert_array_equal(face.landmarks[17:], mapped[17:])
        size = float(np.ptp(face.outline, axis=0).max())
        assert _distance_to_outline(face.landmarks[:17], face.outline).max() < 1e-9 * size
        placed, vertices = (_jaw_nme(jaw, reference) for jaw in (face.landmarks, mapped))
        assert placed < limit and placed < vertices, (name, placed, vertices)
