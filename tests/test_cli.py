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
