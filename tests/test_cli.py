"""The command line, driven as a user drives it: in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys

import facefit as ff


def run_cli(*args: str, env: dict | None = None, cwd=None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("FACEFIT_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "facefit", *args], capture_output=True,
                          text=True, env=full_env, cwd=cwd, timeout=300)


def test_info_lists_version_and_backends():
    out = run_cli("info")
    assert out.returncode == 0, out.stderr
    assert f"facefit {ff.__version__}" in out.stdout
    assert "numpy" in out.stdout and "active backend: numpy" in out.stdout
    assert "default model:" in out.stdout


def test_version_flag():
    out = run_cli("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"facefit {ff.__version__}"


def test_unknown_backend_in_environment_is_one_line_and_exit_2():
    out = run_cli("info", env={"FACEFIT_BACKEND": "bogus"})
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "bogus" in lines[0] and "valid choices: numpy, torch, cupy" in lines[0]
    assert "Traceback" not in out.stderr


def test_bad_dtype_in_environment_is_one_line_and_exit_2():
    out = run_cli("info", env={"FACEFIT_DTYPE": "float16"})
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert "float16" in out.stderr


def test_no_command_prints_help_and_exits_2():
    out = run_cli()
    assert out.returncode == 2 and "usage: facefit" in out.stdout


def _basel_2009_files(folder):
    """The default model written in the Basel Face Model 2009 layout with Guo et al.'s
    expression files: a model whose loader takes a companion with an underscore in its name."""
    import numpy as np
    from scipy.io import savemat

    model = ff.load_model()
    n = model.n_vertices
    to_um = 1000.0  # the .mat holds micrometres, the model millimetres

    def interleaved(basis):
        return basis.reshape(3 * n, -1)

    savemat(folder / "01_MorphableModel.mat", {
        "shapeMU": model.mean_shape.reshape(-1, 1) * to_um,
        "shapePC": interleaved(model.identity_basis) * to_um,
        "shapeEV": model.identity_std.reshape(-1, 1),
        "texMU": model.albedo_mean.reshape(-1, 1) * 255.0,
        "texPC": interleaved(model.albedo_basis) * 255.0,
        "texEV": model.albedo_std.reshape(-1, 1),
        "tl": model.triangles + 1})
    np.savetxt(folder / "landmarks.txt", model.landmark_indices + 1, fmt="%d")
    expression = interleaved(model.expression_basis).T * to_um  # PC-major, as Exp_Pca.bin
    with open(folder / "Exp_Pca.bin", "wb") as handle:
        np.array([expression.shape[0]], np.int32).tofile(handle)
        (model.mean_shape.reshape(-1) * to_um).astype(np.float32).tofile(handle)
        expression.astype(np.float32).tofile(handle)
    np.savetxt(folder / "std_exp.txt", model.expression_std)
    return [f"--model={folder / '01_MorphableModel.mat'}",
            f"--companion=landmarks={folder / 'landmarks.txt'}",
            f"--companion=expression={folder / 'Exp_Pca.bin'}",
            f"--companion=expression-std={folder / 'std_exp.txt'}"]


def test_generate_passes_companions_spelled_with_a_dash_to_every_photo(tmp_path,
                                                                        shipped_sample):
    """``--companion expression-std=...`` is parsed once: the early model check and the
    per-photo loads read the same keywords (they used to differ, and every photo failed)."""
    import json

    image, _ = shipped_sample
    out = tmp_path / "out"
    result = run_cli("generate", str(image), "--out", str(out), "--per-image", "1", "-q",
                     "--max-iterations", "2", *_basel_2009_files(tmp_path))
    assert result.returncode == 0, result.stderr
    assert not (out / "errors.jsonl").exists() or not (out / "errors.jsonl").read_text()
    labels = [json.loads(line) for line in (out / "labels.jsonl").read_text().splitlines()]
    assert len(labels) == 1 and labels[0]["model"] == "01_MorphableModel.mat"
