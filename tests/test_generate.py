"""Data generation: samples, labels, reproducibility, and the resumable dataset runner."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from importlib.resources import files
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.ndimage import binary_dilation

import facefit as ff
from facefit.backends import to_numpy
from facefit.bench.fidelity import inside_convex
from facefit.errors import FacefitError
from facefit.generate import PoseRanges, Synthesizer, generate, iter_samples
from facefit.generate.background import warp_background
from facefit.generate.dataset import _read_jsonl, generate_dataset, paper_layout
from facefit.generate.profiling import BINS
from facefit.generate.synthesis import (
    OCCLUSION_SHADE,
    RELIGHT,
    STRETCH_TEXTURE,
    _fold_shade,
    _within_white,
)
from facefit.generate.variations import draw_expression, draw_rotation, sample_rng
from facefit.render import pose_faces
from facefit.sampling import bilinear_sample

from .conftest import assert_close, floats

# The sample photo shipped inside the package: generation is a core path, tested without
# ../shared.
ASTRONAUT = Path(str(files("facefit") / "data" / "samples" / "astronaut.png"))


@pytest.fixture(scope="module")
def fitted():
    model = ff.load_model()
    photo = ff.read_image(ASTRONAUT)
    points = ff.read_landmarks(ASTRONAUT.with_suffix(".pts"))
    with ff.use_backend("numpy"):
        result = ff.fit(photo, points, model)
        samples = list(iter_samples(photo, points, 3, model, seed=7, fit_result=result))
        synth = Synthesizer(model, result.params, photo, albedo_detail=result.albedo_detail)
    return SimpleNamespace(model=model, photo=photo, points=points, result=result,
                           samples=samples, synth=synth)


def _nme(a, b):
    inter_ocular = np.linalg.norm(b[36] - b[45])
    return float(np.nanmean(np.linalg.norm(a - b, axis=1)) / inter_ocular)


def test_samples_differ_from_the_photo_inside_the_face_but_not_by_much(fitted):
    photo = fitted.photo
    # The samples render the whole mesh (the face region and the rest); so does this reference.
    fitted_mask = to_numpy(fitted.result.render(region="all").mask)
    for sample in fitted.samples:
        assert sample.image.shape == photo.shape and np.isfinite(sample.image).all()
        face = sample.mask
        assert face.sum() > 0.5 * fitted_mask.sum()
        change = np.abs(sample.image - photo)[face].mean()
        assert change > 0.02, "the face was not re-rendered"
        # ...but it is the same person under the same light: mean face colour stays close.
        np.testing.assert_allclose(sample.image[face].mean(axis=0),
                                   photo[fitted_mask].mean(axis=0), atol=0.08)
        # The background is kept: the whole head and the hair around it turn (issue 17), but
        # beyond the head warp's fixed outer ring (its bounding box) nothing moves.
        fixed = fitted.synth.head_warp.anchors[-BINS:, 0:2]
        (x0, y0), (x1, y1) = np.floor(fixed.min(axis=0)), np.ceil(fixed.max(axis=0))
        far = np.ones(face.shape, bool)
        far[int(y0):int(y1) + 1, int(x0):int(x1) + 1] = False
        assert far.sum() > 10000
        np.testing.assert_allclose(sample.image[far], photo[far], atol=1e-6)


def test_no_old_face_shows_beside_a_turned_face(fitted):
    """Where the fitted face was and the new one is not, the photo's face is warped away: those
    pixels must not keep the old face's colours."""
    synth = Synthesizer(fitted.model, fitted.result.params, fitted.photo)
    params = synth.pose(np.zeros(fitted.model.n_expression), np.radians([0.0, 45.0, 0.0]))
    sample = synth(params)
    old = to_numpy(fitted.result.render(region="all").mask)  # the whole mesh, as generated
    uncovered = old & ~sample.mask
    assert uncovered.sum() > 200, "a 45 degree turn should uncover part of the old face"
    unchanged = np.all(np.abs(sample.image - fitted.photo) < 1e-3, axis=-1)
    assert unchanged[uncovered].mean() < 0.05


def test_labels_agree_with_the_rendered_geometry(fitted):
    for sample in fitted.samples:
        rendered = ff.render(fitted.model, sample.params, fitted.photo.shape[:2])
        np.testing.assert_array_equal(to_numpy(rendered.mask), sample.mask)
        assert_close(sample.landmarks, to_numpy(rendered.landmarks), dtype="float64", scale=512)
        assert_close(np.nan_to_num(sample.depth), np.nan_to_num(to_numpy(rendered.depth)),
                     dtype="float64", scale=512)
        # Brows and nose lie on the face (the far brow's outer end of a turned head on its
        # silhouette, so within a pixel or two); eye and lip landmarks on the rims of the mesh's
        # eye and mouth openings, so within a few pixels of it.
        on_face = binary_dilation(sample.mask, iterations=2)
        near = binary_dilation(sample.mask, iterations=3)
        for ids, where in ((slice(17, 36), on_face), (slice(36, 68), near)):
            inner = sample.landmarks[ids]
            rows = np.clip(np.round(inner[:, 1]).astype(int), 0, sample.mask.shape[0] - 1)
            cols = np.clip(np.round(inner[:, 0]).astype(int), 0, sample.mask.shape[1] - 1)
            assert where[rows, cols].all()
        assert np.isnan(sample.depth[~sample.mask]).all()
        assert np.isfinite(sample.depth[sample.mask]).all()


def test_fitting_a_sample_recovers_its_landmarks(fitted):
    """Over the three samples (yaw -40, -14 and 33 degrees): a refit of each sample from its own
    image and labels places the landmarks within 5% of the eyes' distance."""
    for sample in fitted.samples:
        with ff.use_backend("numpy"):
            refit = ff.fit(sample.image, sample.landmarks, fitted.model)
        assert _nme(to_numpy(refit.landmarks), sample.landmarks) < 0.05


@pytest.mark.xfail(reason="a refit does not recover a sample's expression better than chance: "
                          "over 12 astronaut samples (seed 7) the refit's expression error is "
                          "2.07-2.15 over issue 17's and 18's changes (2.10 with the stretched "
                          "texture's fallback, better than chance in 4 of 12) against 1.94 for "
                          "drawn presets and 1.37 for a neutral face; the 3-sample average "
                          "passes or fails by luck")
def test_fitting_a_sample_recovers_its_expression(fitted):
    """The refit's expression is closer to the sample's than drawn presets are, on average over
    the three samples.

    Why it fails: on plain model renders of the same six sample parameters the same refit's
    error is 1.17 (presets 1.92, neutral 1.40); on the samples it lands between the truth and
    the photo's own expression (2.11 from the truth, 2.93 from the photo's, which is 3.86 from
    the truth). The photo's texture carries its expression's shading (a smile's folds and
    cheeks), which the gentle relighting does not remove, and the refit follows it."""
    errors, chances = [], []
    for sample in fitted.samples:
        with ff.use_backend("numpy"):
            refit = ff.fit(sample.image, sample.landmarks, fitted.model)
        truth = sample.params.expression
        errors.append(np.linalg.norm(refit.params.expression - truth))
        rng = np.random.default_rng(0)
        chances.append(np.mean([np.linalg.norm(draw_expression(fitted.model, rng) - truth)
                                for _ in range(200)]))
    error, chance = np.mean(errors), np.mean(chances)
    assert error < chance, f"expression error {error:.3f} not better than chance {chance:.3f}"


def test_same_seed_same_bytes_and_samples_are_independent(fitted):
    model, photo = fitted.model, fitted.photo
    kwargs = dict(model=model, seed=7, fit_result=fitted.result)
    again = list(iter_samples(photo, fitted.points, 3, **kwargs))
    for first, second in zip(fitted.samples, again, strict=True):
        assert first.image.tobytes() == second.image.tobytes()
        assert first.params == second.params
    # Sample 2 alone is sample 2 of the full run: draws depend on (seed, index) only.
    (alone,) = iter_samples(photo, fitted.points, model=model, seed=7, indices=[2],
                            fit_result=fitted.result)
    assert alone.image.tobytes() == fitted.samples[2].image.tobytes()
    other = next(iter_samples(photo, fitted.points, 1, model, seed=8, fit_result=fitted.result))
    assert other.params != fitted.samples[0].params


def test_generate_fits_and_returns_samples():
    photo = ff.read_image(ASTRONAUT)
    points = ff.read_landmarks(ASTRONAUT.with_suffix(".pts"))
    samples = generate(photo, points, n=1, seed=3, max_iterations=3,
                       poses=PoseRanges(yaw=(10, 10), pitch=(0, 0), roll=(0, 0)))
    assert len(samples) == 1
    np.testing.assert_allclose(np.degrees(samples[0].params.rotation), [0, 10, 0], atol=1e-9)
    assert samples[0].index == 0 and samples[0].seed == 3


def test_samples_are_rendered_on_one_blas_thread(fitted, monkeypatch):
    """A sample's products are too small to gain from more BLAS threads, which only spent CPU
    time (half again per sample on 2 cores): it renders on one, as a fit does, and the pool is
    given back afterwards."""
    seen = []
    render = Synthesizer._render

    def spy(self, *args, **kwargs):
        seen.append(self.backend.blas_thread_count())
        return render(self, *args, **kwargs)

    monkeypatch.setattr(Synthesizer, "_render", spy)
    with ff.use_backend("numpy") as backend:
        before = backend.blas_thread_count()
        synth = Synthesizer(fitted.model, fitted.result.params, fitted.photo)
        synth(synth.pose(np.zeros(fitted.model.n_expression), np.radians([0.0, 10.0, 0.0])))
        assert seen == [1] and backend.blas_thread_count() == before


def test_the_synthesizer_agrees_across_backends(backend64, fitted):
    """The same sample on numpy, torch and array-api-strict (float64)."""
    reference = fitted.samples[1]
    with ff.use_backend(backend64):
        synth = Synthesizer(fitted.model, fitted.result.params, fitted.photo,
                            albedo_detail=fitted.result.albedo_detail)
        sample = synth(reference.params, index=1, seed=7)
    np.testing.assert_array_equal(sample.mask, reference.mask)
    assert_close(sample.image, reference.image, dtype="float64", scale=1.0, atol_scale=1e4)
    assert_close(sample.landmarks, reference.landmarks, dtype="float64", scale=512)


def test_the_synthesizer_computes_where_it_is_told_not_where_the_global_points(backend64,
                                                                             fitted):
    """``Synthesizer(backend=...)`` with another backend active: every array it makes is on
    its own backend (it raised TypeError on array-api-strict while numpy was active)."""
    reference = fitted.samples[1]
    with ff.use_backend("numpy"):
        synth = Synthesizer(fitted.model, fitted.result.params, fitted.photo, backend=backend64,
                            albedo_detail=fitted.result.albedo_detail)
        sample = synth(reference.params, index=1, seed=7)
    np.testing.assert_array_equal(sample.mask, reference.mask)
    assert_close(sample.image, reference.image, dtype="float64", scale=1.0, atol_scale=1e4)


def test_warp_background_is_the_identity_when_nothing_moves(backend):
    rng = np.random.default_rng(0)
    photo = rng.uniform(size=(40, 48, 3))
    outline = rng.uniform(8, 32, size=(12, 2))
    same = warp_background(backend.asarray(photo), backend.asarray(outline),
                           backend.asarray(outline))
    assert_close(to_numpy(same), photo, dtype=backend.dtype_name, scale=1.0, atol_scale=1e3)


def test_warp_background_carries_colours_with_the_outline(backend):
    """Moving the outline right by 3 pixels moves the picture under it by 3 pixels."""
    x = np.arange(48, dtype=np.float64)
    photo = np.broadcast_to((x / 47)[None, :, None], (40, 48, 3)).copy()  # a horizontal ramp
    angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    outline = np.stack([24 + 8 * np.cos(angles), 20 + 8 * np.sin(angles)], axis=1)
    moved = to_numpy(warp_background(backend.asarray(photo), backend.asarray(outline),
                                     backend.asarray(outline + np.array([3.0, 0.0]))))
    assert_close(moved[20, 27, 0], photo[20, 24, 0], dtype=backend.dtype_name, scale=1.0,
                 atol_scale=1e3)  # the centre of the outline moved with it
    np.testing.assert_allclose(moved[0], photo[0], atol=1e-5)  # the border stays


@settings(max_examples=20)
@given(seed=st.integers(0, 2**32 - 1), index=st.integers(0, 10**6))
def test_draws_are_in_range_and_blendshapes_non_negative(seed, index):
    model = ff.load_model()
    rng = sample_rng(seed, index)
    expression = draw_expression(model, rng)
    weights = expression * model.expression_std
    assert expression.shape == (model.n_expression,)
    assert np.all(weights >= 0) and weights.max() <= 1
    names = model.metadata["expression_names"]
    # A preset (or the neutral face): both sides of a pair move together.
    for k, name in enumerate(names):
        if name.endswith("_L"):
            right = weights[names.index(name[:-2] + "_R")]
            assert (weights[k] > 0) == (right > 0)
            assert abs(weights[k] - right) <= 0.15 * max(weights[k], right) + 1e-12
    ranges = PoseRanges(yaw=(-30, 20), pitch=(-5, 5), roll=(0, 3))
    pitch, yaw, roll = np.degrees(draw_rotation(ranges, rng))
    assert -30 <= yaw <= 20 and -5 <= pitch <= 5 and 0 <= roll <= 3
    bank = np.arange(2 * model.n_expression, dtype=float).reshape(2, -1)
    drawn = draw_expression(model, rng, bank)
    assert any(np.array_equal(drawn, row) for row in bank)


def test_every_expression_preset_names_the_shipped_model_blendshapes():
    from facefit.generate.variations import EXPRESSION_PRESETS

    names = set(ff.load_model().metadata["expression_names"])
    for preset in EXPRESSION_PRESETS.values():
        for shape in preset:
            assert shape in names or {f"{shape}_L", f"{shape}_R"} <= names, shape
    drawn = [draw_expression(ff.load_model(), sample_rng(1, k)) for k in range(60)]
    assert sum(not np.any(d) for d in drawn) in range(3, 20)  # about one in six is neutral


def test_reveal_limits_the_turn_toward_the_side_the_photo_hardly_saw():
    ranges = PoseRanges()  # yaw +-40, reveal 45
    assert ranges.yaw_for(None) == (-40.0, 40.0)
    assert ranges.yaw_for(0.0) == (-40.0, 40.0)  # a frontal photo turns 40 either way
    # Turned 27 degrees one way: free to turn further, at most 45 - 1.5 * 27 < 15 -> 15 back.
    assert ranges.yaw_for(-27.0) == (-40.0, -12.0)
    assert ranges.yaw_for(27.0) == (12.0, 40.0)
    # A profile photo beyond the range: the one yaw the limit allows, not a turn to frontal.
    assert ranges.yaw_for(60.0) == (45.0, 45.0)
    assert PoseRanges(reveal=None).yaw_for(-27.0) == (-40.0, 40.0)
    rng = np.random.default_rng(0)
    yaws = [np.degrees(draw_rotation(ranges, rng, -27.0)[1]) for _ in range(200)]
    assert -40.0 <= min(yaws) and max(yaws) <= -12.0 and max(yaws) > -15.0
    # The draw consumes the generator as without a photo's yaw: sample k stays sample k.
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    draw_rotation(ranges, a, -27.0)
    draw_rotation(ranges, b)
    assert a.uniform() == b.uniform()


def test_generate_cli_reveal_option():
    from facefit.cli import _reveal

    assert _reveal("none") is None and _reveal("30") == 30.0
    for bad in ("-5", "nan", "wide"):
        with pytest.raises(argparse.ArgumentTypeError):
            _reveal(bad)


def test_bad_generation_arguments_raise():
    model = ff.load_model()
    with pytest.raises(FacefitError, match="yaw"):
        PoseRanges(yaw=(10, -10))
    with pytest.raises(FacefitError, match="reveal"):
        PoseRanges(reveal=-1.0)
    with pytest.raises(FacefitError, match="bank"):
        draw_expression(model, np.random.default_rng(0), np.zeros((3, 5)))


def test_paper_layout_for_basel_fits():
    k_id, k_exp = 120, 79
    model = SimpleNamespace(metadata={"source": "Basel Face Model 2009 + 3DDFA trim"},
                            n_identity=k_id, n_expression=k_exp,
                            identity_std=np.full(k_id, 2.0), expression_std=np.full(k_exp, 3.0))
    params = ff.FaceParams(identity=np.arange(k_id, dtype=float), expression=np.ones(k_exp),
                           rotation=[0.1, 0.2, 0.3], scale=2000.0, translation=[5.0, 6.0])
    layout = paper_layout(model, params)
    assert len(layout) == 185
    np.testing.assert_allclose(layout[:100], 2.0 * np.arange(100))
    np.testing.assert_allclose(layout[100:179], 3.0)
    np.testing.assert_allclose(layout[179:], [0.1, 0.2, 0.3, 5.0, 6.0, 2.0])
    assert paper_layout(ff.load_model(), params) is None  # ICT: not the paper's model


def test_a_torn_label_line_is_cut_off(tmp_path):
    path = tmp_path / "labels.jsonl"
    path.write_text('{"id": "a_000"}\n{"id": "a_0')
    assert [r["id"] for r in _read_jsonl(path)] == ["a_000"]
    assert path.read_text() == '{"id": "a_000"}\n'


def _photo_folder(tmp_path, count=2):
    """A 300-W-style folder: the sample photo (under two names, in nested folders)."""
    folder = tmp_path / "photos"
    for k in range(count):
        target = folder / f"set{k}" / f"face{k}.png"
        target.parent.mkdir(parents=True)
        target.write_bytes(ASTRONAUT.read_bytes())
        target.with_suffix(".pts").write_bytes(ASTRONAUT.with_suffix(".pts").read_bytes())
    # no .pts: left out with --detector none (tests/test_detect.py covers detecting it)
    (folder / "set0" / "no_landmarks.png").write_bytes(ASTRONAUT.read_bytes())
    return folder


def _cli(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "facefit", "generate", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


@pytest.mark.slow
def test_cli_resumes_after_being_killed(tmp_path):
    folder = _photo_folder(tmp_path)
    out = tmp_path / "out"
    args = [str(folder), "--out", str(out), "--per-image", "3", "--max-iterations", "3", "-q",
            "--detector", "none"]
    process = _cli(*args)
    labels = out / "labels.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if labels.exists() and labels.read_text().count("\n") >= 2:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the run finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = {r["id"]: r for r in _read_jsonl(labels)}
    assert 2 <= len(before) < 6
    stamps = {i: os.stat(out / r["image"]).st_mtime_ns for i, r in before.items()}
    finished = _cli(*args)
    _stdout, stderr = finished.communicate(timeout=300)
    assert finished.returncode == 0, stderr
    records = _read_jsonl(labels)
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)) == 6, ids
    assert sorted(ids) == sorted(f"set{k}/face{k}_{i:03d}" for k in range(2) for i in range(3))
    for ident, record in before.items():  # finished samples were not redone
        assert os.stat(out / record["image"]).st_mtime_ns == stamps[ident]
    for record in records:
        for key in ("image", "landmarks", "depth", "mask"):
            assert (out / record[key]).is_file()
        assert ff.read_landmarks(out / record["landmarks"]).shape == (68, 2)
        assert np.load(out / record["depth"]).shape == (512, 512)
        assert ff.FaceParams.from_dict(record["params"]).expression.shape == (53,)
    # the two photos draw different variations under one seed
    assert records[0]["params"]["rotation"] != records[-1]["params"]["rotation"]
    assert not list(out.rglob("*.tmp")), "no temporary files left behind"


@pytest.mark.slow
def test_bad_photos_are_recorded_and_the_run_goes_on(tmp_path):
    folder = _photo_folder(tmp_path, count=1)
    broken = folder / "set0" / "broken.png"
    broken.write_bytes(b"not a png")
    broken.with_suffix(".pts").write_bytes(ASTRONAUT.with_suffix(".pts").read_bytes())
    out = tmp_path / "out"
    process = _cli(str(folder), "--out", str(out), "--per-image", "1", "--max-iterations", "2",
                   "--detector", "none")
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 1, stderr
    errors = _read_jsonl(out / "errors.jsonl")
    assert len(errors) == 1 and "broken.png" in errors[0]["error"]
    assert len(_read_jsonl(out / "labels.jsonl")) == 1
    bad = _cli(str(tmp_path / "missing"), "--out", str(out))
    _, stderr = bad.communicate(timeout=60)
    assert bad.returncode == 2 and len(stderr.strip().splitlines()) == 1 and "missing" in stderr


@pytest.mark.slow
def test_dask_cluster_runs_the_same_tasks(tmp_path):
    distributed = pytest.importorskip("distributed")
    folder = _photo_folder(tmp_path)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        counts = generate_dataset(folder, tmp_path / "dask", 1, seed=1,
                                  scheduler=cluster.scheduler_address, max_iterations=2,
                                  detector="none")
    assert counts == {"samples": 2, "already": 0, "broken": 0, "errors": 0, "skipped": 0}
    local = generate_dataset(folder, tmp_path / "local", 1, seed=1, max_iterations=2,
                             detector="none")
    assert local["samples"] == 2
    for name in ("set0/face0_000.png", "set1/face1_000.png"):
        assert (tmp_path / "dask" / "images" / name).read_bytes() == \
            (tmp_path / "local" / "images" / name).read_bytes()


def test_eye_caps_fill_each_eye_hole_with_the_mean_of_its_rim(backend):
    from facefit.generate.eyes import EyeCaps
    from facefit.generate.host import eye_caps

    model = ff.load_model()
    rims, fans = eye_caps(model)
    assert len(rims) == 2 and fans.shape == (sum(r.shape[0] for r in rims), 3)
    triangles = backend.xp.asarray(model.triangles)
    caps = EyeCaps(model, triangles, backend)
    mean = backend.asarray(model.mean_shape)
    extended = to_numpy(caps.extend(mean))
    host = np.asarray(model.mean_shape)
    first = model.n_vertices
    for rim in rims:
        copies = extended[first:first + rim.shape[0]]
        assert_close(copies, host[rim], dtype=backend.dtype_name)
        assert_close(extended[first + rim.shape[0]], host[rim].mean(axis=0),
                     dtype=backend.dtype_name)
        first += rim.shape[0] + 1
    assert extended.shape[0] == first == to_numpy(caps.is_cap).shape[0]
    assert to_numpy(caps.is_cap)[:, 0].sum() == first - model.n_vertices
    on_rim = np.zeros(model.n_vertices, bool)
    on_rim[np.concatenate(rims)] = True
    np.testing.assert_array_equal(to_numpy(caps.on_rim), on_rim)


def test_samples_show_the_photos_eyes_where_the_mesh_has_holes(shared_data):
    """image_0010 (fitted yaw -27) turned to -40: each eye of the sample (at its labelled
    centre) has the colour of the photo's eye, not of the skin around it (before the eyes were
    capped, the warped photo showed through the near eye's hole as a flat patch of skin); the
    labels' mask leaves the eye holes open, as ff.render's does."""
    path = shared_data / "300w" / "image_0010.png"
    photo, points = ff.read_image(path), ff.read_landmarks(path.with_suffix(".pts"))
    model = ff.load_model()
    with ff.use_backend("numpy"):
        result = ff.fit(photo, points, model)
        synth = Synthesizer(model, result.params, photo)
        rotation = np.radians([8.6, -40.0, 4.5])
        sample = synth(synth.pose(result.params.expression, rotation))

    def window_mean(image, where):
        x, y = np.round(where.mean(axis=0)).astype(int)
        return image[y - 2:y + 3, x - 2:x + 3].mean(axis=(0, 1))

    def eye_mean(image, eye):
        # The mean inside the eye's six points, not a 5x5 window at their centre: a refit
        # that moves the labels by 2-3 px (issue 18's jaw marching turned this fit 1.5
        # degrees) moved that window from the iris onto the white of the eye.
        return image[inside_convex(np.asarray(eye, dtype=np.float64), image.shape[:2])].mean(
            axis=0)

    skin = window_mean(photo, points[[1, 15, 29]])
    for eye in (slice(36, 42), slice(42, 48)):
        photo_eye = eye_mean(photo, points[eye])
        sample_eye = eye_mean(sample.image, sample.landmarks[eye])
        assert np.abs(sample_eye - photo_eye).max() < 0.5 * np.abs(skin - photo_eye).max()
        x, y = np.round(sample.landmarks[eye].mean(axis=0)).astype(int)
        assert not sample.mask[y, x]


def test_the_fallback_colour_takes_the_photos_local_tone(fitted):
    """Where the photo did not see the face, the fitted albedo stands in; one gain for the whole
    face made it as bright on a shadowed side as on a lit one. With the photo's left half
    darkened to 60%, the stand-in colour there is darker than on the right."""
    photo = np.array(fitted.photo, copy=True)
    x_mid = float(fitted.points[27:31, 0].mean())
    photo[:, : int(x_mid) - 10] *= 0.6
    with ff.use_backend("numpy"):
        synth = Synthesizer(fitted.model, fitted.result.params, photo,
                            albedo_detail=fitted.result.albedo_detail)
    x = to_numpy(synth.source_points)[:, 0]
    albedo = to_numpy(synth.albedo).mean(axis=1)
    left, right = albedo[x < x_mid - 30].mean(), albedo[x > x_mid + 30].mean()
    assert left < 0.8 * right, (left, right)


@pytest.mark.parametrize("yaw", [-45.0, 45.0])
def test_the_fallback_is_relit_like_the_photos_texture(fitted, yaw):
    """The albedo stands in under the photo's shading around each vertex: where the photo saw
    the face it matches the photo (median within 5%), and in a new pose it is relit within the
    photo texture's bounds. Under the new pose's shading in full, the side turning away (grazing
    in the new pose) fell to 0.67-0.82x of that, a darker band beside the photo's texture."""
    synth, model = fitted.synth, fitted.model
    weight = to_numpy(synth.photo_weight)[:, 0]
    observed = bilinear_sample(fitted.photo, to_numpy(synth.source_points))
    near = to_numpy(synth.albedo * synth.near_shading)
    seen = weight > 0.95
    assert abs(np.median(near[seen].mean(axis=1) / observed[seen].mean(axis=1)) - 1) < 0.05
    with ff.use_backend("numpy"):
        state = pose_faces(model, [synth.pose(np.zeros(model.n_expression),
                                              np.radians([0.0, yaw, 0.0]))])
        fallback = to_numpy(synth.fallback(state.shading[0]))
        full = to_numpy(synth.albedo * state.shading[0])
    low, high = RELIGHT[1]
    unrelit = to_numpy(synth.fallback_albedo * synth.near_shading)
    ratio = fallback.mean(axis=1) / unrelit.mean(axis=1)
    assert ratio.min() > low - 1e-9 and ratio.max() < high + 1e-9
    facing = to_numpy(state.normals[0])[:, 2]
    grazing = (facing > 0) & (facing < 0.3) & (weight < 0.5)
    assert grazing.sum() > 100
    assert np.median(full[grazing].mean(axis=1) / near[grazing].mean(axis=1)) < 0.85


def test_where_the_photo_saw_the_face_the_fallback_is_its_own_colour(fitted):
    """A vertex the photo saw, whose texture a new pose would stretch, falls back to its own
    photo colour (relit), not to the albedo spread from around it: at the photo's own shading
    the fallback of fully seen vertices is the photo's colour there, folds included (their
    photo colour holds their occlusion already). Drawn from the spread albedo, a nostril's dark
    rim became a ring of pale specks."""
    synth = fitted.synth
    weight = to_numpy(synth.photo_weight)[:, 0]
    observed = bilinear_sample(fitted.photo, to_numpy(synth.source_points))
    fallback = to_numpy(synth.fallback(synth.near_shading))
    near = to_numpy(synth.near_shading)
    plain = (weight > 1 - 1e-12) & ((observed / near).max(axis=1) < 1)
    assert plain.sum() > 1000 and (to_numpy(synth.fold_shade)[plain] < 0.9).sum() > 20
    assert_close(fallback[plain], observed[plain], scale=1.0)


def test_folds_the_photo_did_not_see_are_drawn_dark(fitted):
    """Turned up 15 degrees, a face shows its nostrils' insides, which the photo did not see:
    the fallback there is darkened by how little sky they see (ambient occlusion), below 0.6x
    the seen skin around the nose. Lit like open skin (the albedo alone), they were pale holes
    at 0.75x."""
    from facefit.generate.occlusion import model_occlusion

    synth, model, points = fitted.synth, fitted.model, fitted.points
    with ff.use_backend("numpy"):
        state = pose_faces(model, [synth.pose(np.zeros(model.n_expression),
                                              np.radians([-15.0, 0.0, 0.0]))])
        fallback = to_numpy(synth.fallback(state.shading[0])).mean(axis=1)
    weight = to_numpy(synth.photo_weight)[:, 0]
    occlusion = model_occlusion(model)
    nose = (np.linalg.norm(to_numpy(synth.source_points) - points[31:36].mean(axis=0), axis=1)
            < 0.3 * np.linalg.norm(points[36] - points[45]))
    fold = nose & (weight == 0) & (occlusion < 0.3)
    skin = nose & (weight > 0.95) & (occlusion > 0.8)
    assert fold.sum() > 20 and skin.sum() > 50
    assert np.median(fallback[fold]) < 0.6 * np.median(fallback[skin])


def test_the_fallback_agrees_on_every_backend(fitted, backend):
    """The fallback colour (albedo, the photo's spread shading, bounded relighting) built and
    relit on each backend and dtype equals NumPy's float64."""
    synth, model = fitted.synth, fitted.model
    with ff.use_backend("numpy"):
        state = pose_faces(model, [synth.pose(np.zeros(model.n_expression),
                                              np.radians([0.0, 40.0, 0.0]))])
        shading = to_numpy(state.shading[0])
    expected = to_numpy(synth.fallback(shading))
    here = Synthesizer(model, fitted.result.params, fitted.photo,
                       albedo_detail=fitted.result.albedo_detail)  # on the tested backend
    got = here.fallback(backend.asarray(shading))
    assert tuple(got.shape) == expected.shape
    assert_close(got, expected, dtype=backend.dtype_name, scale=1.0, atol_scale=10)


def test_stretched_photo_texture_gives_way_to_the_fallback(fitted, backend):
    """A vertex the new pose shows more than STRETCH_TEXTURE[0] times as face-on as the photo
    did takes less photo texture, none past [1] (the photo's few pixels of a frontal photo's
    cheek side, stretched over the turned cheek, were blocks of blurred colour); vertices the
    turn does not stretch, and folds the photo saw from behind, keep theirs."""
    synth = fitted.synth
    low, high = STRETCH_TEXTURE
    source = to_numpy(synth.source_facing)
    rng = np.random.default_rng(3)
    stretch = rng.uniform(0.5, 6.0, size=source.shape)
    normals = np.concatenate([np.zeros((source.shape[0], 2)), stretch * source], axis=1)
    here = Synthesizer(fitted.model, fitted.result.params, fitted.photo,
                       albedo_detail=fitted.result.albedo_detail)  # on the tested backend
    photo, mirror = here.texture_weights(backend.asarray(normals))
    photo, mirror = to_numpy(photo), to_numpy(mirror)
    before = to_numpy(synth.photo_weight)
    tol = 1e-5 if backend.dtype_name == "float32" else 1e-9
    kept = (stretch <= low) & (source > 0.05)
    assert_close(photo[kept], before[kept], dtype=backend.dtype_name, scale=1.0)
    assert np.all(photo[(stretch >= high) & (source > 0.05)] <= tol)
    # The mirrored side's texture is stretched by the new facing over the mirror's own.
    mirror_facing = to_numpy(synth.mirror_facing)
    gone = (normals[:, 2:3] >= high * mirror_facing) & (mirror_facing > 0.05)
    assert gone.sum() > 100 and np.all(mirror[gone] <= tol)
    middle = (stretch > low + 0.2) & (stretch < high - 0.2) & (before > 0.5) & (source > 0.05)
    assert middle.sum() > 50 and np.all(photo[middle] < before[middle])
    # Folds the photo saw from behind take their rim's colour by design (a dark nostril): a
    # pose that turns them face-on keeps it (dropped, takeo's outline ratio rose 1.19 -> 1.20).
    folds = (source == 0) & (before > 0.5)
    assert folds.sum() > 20
    face_on = backend.asarray(np.tile([0.0, 0.0, 1.0], (source.shape[0], 1)))
    kept_folds = to_numpy(here.texture_weights(face_on)[0])[folds]
    assert_close(kept_folds, before[folds], dtype=backend.dtype_name, scale=1.0)


def test_folds_inside_the_face_take_the_photos_colour(fitted):
    """The nostrils' folds face away from the camera or lie just behind the nose's rim; they
    take the photo's colour (dark), not the albedo's (a pink ring when an expression opened
    them): of the vertices within 8 mm of the nostril landmarks, fewer than a quarter have no
    photo weight (43% did when only front-facing, unhidden vertices took the photo's colour;
    the rest lie deep inside the nostrils)."""
    model, synth = fitted.model, fitted.synth
    mean = np.asarray(model.mean_shape)
    nostrils = mean[np.asarray(model.landmark_indices)[31:36]]
    near = np.min(np.linalg.norm(mean[:, None, :] - nostrils[None], axis=2), axis=1) < 8.0
    weight = to_numpy(synth.photo_weight)[:, 0]
    assert near.sum() > 20 and (weight[near] == 0).mean() < 0.25, (weight[near] == 0).mean()


def test_the_lids_around_the_capped_eyes_take_the_photos_colour(fitted):
    """The eye holes are capped, so their rims are inside the face, not on its outline: the lids'
    margins take the photo's colour (photo weight near 1), like the caps beside them. Counted as
    outline, every rim vertex had weight 0 and showed the albedo's skin colour next to the cap's
    photo eye (a stair-stepped seam; a small face lost its lash line)."""
    synth = fitted.synth
    rim = to_numpy(synth.eye_caps.on_rim)
    assert rim.sum() > 40
    weight = to_numpy(synth.photo_weight)[:, 0]
    assert weight[rim].mean() > 0.9, weight[rim].mean()


@pytest.mark.parametrize("yaw", [-30.0, 30.0])
def test_a_revealed_cheek_does_not_fade_into_what_lay_beside_the_face(fitted, yaw):
    """Everything outside the fitted face is painted green in the photo. Turned 30 degrees, the
    revealed cheek lies where the warp holds what was beside the face (green here, background or
    the side of the head in a real photo); the render fades into the warp only where the warp
    drew the face, so no green shows 3 pixels or more inside the outline (with an 8-pixel fade
    into the warp everywhere, 30-60 pixels did: a washed-out revealed cheek)."""
    from facefit.generate.quality import _dilate, _erode

    face = to_numpy(fitted.result.render(region="all").mask)
    green = np.array(fitted.photo, copy=True)
    green[~_dilate(face, 2, np)] = [0.0, 1.0, 0.0]
    with ff.use_backend("numpy"):
        synth = Synthesizer(fitted.model, fitted.result.params, green)
        sample = synth(synth.pose(np.zeros(fitted.model.n_expression),
                                  np.radians([0.0, yaw, 0.0])))
    inside = sample.image[_erode(sample.mask, 3, np)]
    greenness = inside[:, 1] - (inside[:, 0] + inside[:, 2]) / 2
    assert (greenness > 0.1).sum() == 0, (greenness > 0.1).sum()


@given(colours=st.lists(st.tuples(floats(0.0, 3.0), floats(0.0, 3.0), floats(0.0, 3.0)),
                        min_size=1, max_size=20))
def test_bright_colours_are_brought_within_white_with_their_hue(backend, colours):
    colour = np.asarray(colours)
    got = to_numpy(_within_white(backend.asarray(colour)))
    assert got.max() <= 1.0
    brightest = colour.max(axis=1, keepdims=True)
    expected = np.where(brightest > 1.0, colour / np.maximum(brightest, 1e-300), colour)
    assert_close(got, expected, dtype=backend.dtype_name, scale=1.0)


@given(occlusion=st.lists(floats(0.0, 1.0), min_size=4, max_size=4),
       seen=st.lists(floats(0.0, 1.0), min_size=4, max_size=4))
def test_the_fold_shade_is_the_occlusion_over_the_seen_skins(backend, occlusion, seen):
    """A vertex less open to the sky than the seen skin around it is darkened in proportion
    (above the floor, smoothed over one ring); never brightened, never below the floor."""
    from facefit.geometry import ring_average

    triangles = np.array([[0, 1, 2], [0, 2, 3]])
    occ, around = np.asarray(occlusion)[:, None], np.asarray(seen)[:, None]
    floor, power = OCCLUSION_SHADE
    ratio = np.clip(occ / np.maximum(around, 1e-3), 0.0, 1.0)
    expected = ring_average(floor + (1 - floor) * ratio ** power, triangles, 1)
    got = to_numpy(_fold_shade(backend.asarray(occ), backend.asarray(around),
                               backend.asarray(triangles)))
    assert_close(got, expected, dtype=backend.dtype_name, scale=1.0)
    assert got.min() >= floor - 1e-6 and got.max() <= 1 + 1e-6


def test_the_fallback_keeps_skin_red_where_a_face_turns_up(fitted):
    """Inside the nostrils of a face turned up, the albedo brightened past white in red alone;
    clipped channel by channel it turned yellow-green, and under the nostril's dim shading it
    was drawn as green blobs (85 vertices). Around the nostrils every fallback
    colour stays about as red as green or redder (one vertex deep in a nostril, under the
    fitted light's blue extrapolated to a normal the fit never saw, is 0.01 greener)."""
    synth, model, points = fitted.synth, fitted.model, fitted.points
    with ff.use_backend("numpy"):
        state = pose_faces(model, [synth.pose(np.zeros(model.n_expression),
                                              np.radians([-15.0, 0.0, 0.0]))])
        fallback = to_numpy(synth.fallback(state.shading[0]))
    nostrils = points[31:36].mean(axis=0)
    near = (np.linalg.norm(to_numpy(synth.source_points) - nostrils, axis=1)
            < 0.2 * np.linalg.norm(points[36] - points[45]))
    assert near.sum() > 200
    assert (fallback[near, 1] > fallback[near, 0] + 0.02).sum() == 0
