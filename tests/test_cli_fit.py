"""``facefit demo`` and ``facefit fit`` driven as a user drives them (subprocesses)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import facefit as ff

from .test_cli import run_cli

OUTPUTS = ("params.json", "obj", "render.png", "overlay.png", "pts", "albedo_detail.npy")


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    result = run_cli("demo", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert str(out.resolve()) in result.stdout  # the user is told where the files are
    return out


def test_demo_writes_every_output(demo_dir):
    for kind in OUTPUTS:
        assert (demo_dir / f"astronaut.{kind}").stat().st_size > 0


def test_written_mesh_reloads_with_model_counts(demo_dir):
    vertices, triangles, colours = ff.load_mesh(demo_dir / "astronaut.obj")
    model = ff.load_model()
    assert vertices.shape == (model.n_vertices, 3)
    assert triangles.shape == (model.triangles.shape[0], 3)
    assert colours is not None and colours.shape == (model.n_vertices, 3)


def test_params_json_reloads_and_re_renders_the_same_image(demo_dir):
    data = json.loads((demo_dir / "astronaut.params.json").read_text())
    assert {"params", "energy", "backend", "timings", "history", "model"} <= set(data)
    params = ff.FaceParams.from_dict(data["params"])
    photo = ff.read_image(demo_dir / "astronaut.render.png")
    model = ff.load_model()
    from importlib.resources import files

    original = ff.read_image(files("facefit") / "data" / "samples" / "astronaut.png")
    detail = np.load(demo_dir / data["albedo_detail"])
    # The fit's render shows the model's face region, the part compared with the photo.
    again = ff.render(model, params, photo.shape[:2], background=original,
                      albedo_detail=detail, region="face").to_numpy()
    # the PNG holds 8-bit values: equal to within one grey level
    assert np.abs(again["image"] - photo).max() <= 1 / 255 + 1e-9


def test_fit_on_the_real_300w_sample_with_torch(shared_data, tmp_path):
    image = shared_data / "300w" / "image_0010.png"
    result = run_cli("fit", str(image), "--out", str(tmp_path), "--backend", "torch", "-q")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    data = json.loads((tmp_path / "image_0010.params.json").read_text())
    assert data["backend"]["name"] == "torch"
    fitted = ff.read_landmarks(tmp_path / "image_0010.pts")
    given = ff.read_landmarks(shared_data / "300w" / "image_0010.pts")
    error = np.nanmean(np.linalg.norm(fitted - given, axis=1))
    assert error / np.linalg.norm(given[36] - given[45]) < 0.1


def _one_error_line(result, *words):
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


def test_missing_image_is_exit_2_one_line(tmp_path):
    result = run_cli("fit", str(tmp_path / "nope.png"), "--out", str(tmp_path))
    assert result.returncode == 2
    _one_error_line(result, "nope.png")


def test_unreadable_image(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (tmp_path / "broken.pts").write_text("version: 1\nn_points: 68\n{\n" + "1 1\n" * 68 + "}\n")
    result = run_cli("fit", str(bad), "--out", str(tmp_path))
    assert result.returncode == 2
    _one_error_line(result, "broken.png")


@pytest.fixture
def sample_copy(tmp_path, shipped_sample):
    image = tmp_path / "face.png"
    shutil.copy(shipped_sample[0], image)
    return image


def test_missing_landmark_file(sample_copy, tmp_path):
    result = run_cli("fit", str(sample_copy), "--out", str(tmp_path / "out"),
                     "--detector", "none")
    assert result.returncode == 2
    _one_error_line(result, "face.pts")


def test_wrong_number_of_landmarks(sample_copy, tmp_path):
    sample_copy.with_suffix(".pts").write_text(
        "version: 1\nn_points: 67\n{\n" + "100 100\n" * 67 + "}\n")
    result = run_cli("fit", str(sample_copy), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    _one_error_line(result, "face.pts", "67")


def test_landmarks_far_outside_the_image(sample_copy, tmp_path, shipped_sample):
    points = ff.read_landmarks(shipped_sample[1]) + 5000
    ff.write_landmarks(sample_copy.with_suffix(".pts"), points)
    result = run_cli("fit", str(sample_copy), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    _one_error_line(result, "outside the image")


@pytest.mark.parametrize(("option", "value", "word"), [
    ("--backend", "bogus", "bogus"),
    ("--jacobian", "secant", "secant"),
    ("--dtype", "float16", "float16"),
])
def test_bad_options(sample_copy, tmp_path, shipped_sample, option, value, word):
    shutil.copy(shipped_sample[1], sample_copy.with_suffix(".pts"))
    result = run_cli("fit", str(sample_copy), "--out", str(tmp_path / "out"), option, value)
    assert result.returncode == 2
    _one_error_line(result, word)


def test_model_file_of_the_wrong_format(sample_copy, tmp_path, shipped_sample):
    shutil.copy(shipped_sample[1], sample_copy.with_suffix(".pts"))
    bogus = tmp_path / "model.mat"
    bogus.write_bytes(b"this is not a MATLAB file")
    result = run_cli("fit", str(sample_copy), "--model", str(bogus), "--out", str(tmp_path / "o"))
    assert result.returncode == 2
    _one_error_line(result, "model.mat")


def test_other_images_still_processed_and_exit_1(sample_copy, tmp_path, shipped_sample):
    shutil.copy(shipped_sample[1], sample_copy.with_suffix(".pts"))
    missing = tmp_path / "missing.png"
    out = tmp_path / "out"
    result = run_cli("fit", str(missing), str(sample_copy), "--out", str(out), "-q")
    assert result.returncode == 1
    _one_error_line(result, "missing.png")
    assert (out / "face.params.json").exists()


def test_out_that_is_a_file_fails_once_before_any_fit(sample_copy, tmp_path, shipped_sample):
    shutil.copy(shipped_sample[1], sample_copy.with_suffix(".pts"))
    taken = tmp_path / "taken"
    taken.write_text("not a folder")
    result = run_cli("fit", str(sample_copy), str(sample_copy), "--out", str(taken))
    assert result.returncode == 2
    _one_error_line(result, "taken", "is a file")
    assert taken.read_text() == "not a folder"


def test_out_on_a_read_only_file_system(sample_copy, tmp_path, shipped_sample, monkeypatch,
                                        capsys):
    import errno
    from pathlib import Path

    from facefit.cli import main

    shutil.copy(shipped_sample[1], sample_copy.with_suffix(".pts"))

    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "mkdir", read_only)
    assert main(["fit", str(sample_copy), "--out", str(tmp_path / "ro" / "out")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "Read-only file system" in lines[0] and "ro/out" in lines[0]


@pytest.mark.parametrize("value", ["-1", "0", "two"])
def test_iteration_cap_option_must_be_positive(sample_copy, tmp_path, value):
    result = run_cli("fit", str(sample_copy), "--out", str(tmp_path), "--max-iterations", value)
    assert result.returncode == 2
    _one_error_line(result, "--max-iterations", value)


def test_out_of_memory_on_one_photo_is_one_line_and_the_rest_go_on(
        sample_copy, tmp_path, shipped_sample, monkeypatch, capsys):
    import importlib

    from facefit.cli import main

    fit_module = importlib.import_module("facefit.fit")  # the package, not ff.fit the function

    huge = tmp_path / "huge.png"
    shutil.copy(sample_copy, huge)
    for image in (sample_copy, huge):
        shutil.copy(shipped_sample[1], image.with_suffix(".pts"))
    real_fit = fit_module.fit

    def fit(image, *args, **kwargs):
        if "huge" in str(image):
            raise MemoryError("Unable to allocate 8.4 GiB")
        return real_fit(image, *args, **kwargs)

    monkeypatch.setattr(fit_module, "fit", fit)
    out = tmp_path / "out"
    assert main(["fit", str(huge), str(sample_copy), "--out", str(out), "-q"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "huge.png" in lines[0] and "out of memory" in lines[0]
    assert (out / "face.params.json").exists()


def test_landmarks_on_a_blank_photo_give_a_warning_line(tmp_path, shipped_sample):
    blank = tmp_path / "wall.png"
    ff.write_image(blank, np.full((512, 512, 3), 0.5))
    shutil.copy(shipped_sample[1], blank.with_suffix(".pts"))
    result = run_cli("fit", str(blank), "--out", str(tmp_path / "out"), "-q")
    assert result.returncode == 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("facefit: warning: image ")
    assert "wall.png" in lines[0] and "are the landmarks for this photo?" in lines[0]


def test_out_of_image_landmark_file_is_named(sample_copy, tmp_path, shipped_sample):
    ff.write_landmarks(sample_copy.with_suffix(".pts"), ff.read_landmarks(shipped_sample[1]) + 900)
    result = run_cli("fit", str(sample_copy), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    _one_error_line(result, "face.pts", "outside the image")
    assert "0-based" not in result.stderr and "'array'" not in result.stderr


def test_model_that_is_a_directory(sample_copy, tmp_path, shipped_sample):
    shutil.copy(shipped_sample[1], sample_copy.with_suffix(".pts"))
    result = run_cli("fit", str(sample_copy), "--model", str(tmp_path), "--out",
                     str(tmp_path / "o"))
    assert result.returncode == 2
    _one_error_line(result, "is a directory")


def test_jacobian_message_lists_what_this_backend_offers(sample_copy, tmp_path, shipped_sample):
    shutil.copy(shipped_sample[1], sample_copy.with_suffix(".pts"))
    result = run_cli("fit", str(sample_copy), "--out", str(tmp_path), "--jacobian", "autograd")
    assert result.returncode == 2
    _one_error_line(result, "not available on the numpy backend",
                    "valid choices here: analytic, complex-step")
