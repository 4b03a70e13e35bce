"""``facefit generate``: a folder of photos to a labelled dataset on disk, resumably, at scale.

Layout of the output folder ``DIR``:

- ``images/<relative path>/<stem>_<k>.png`` — sample ``k`` of each photo, with beside it
  ``<stem>_<k>.pts`` (68 landmarks, 300-W format), ``<stem>_<k>.depth.npy`` (float32 depth in
  pixels, NaN off the face) and ``<stem>_<k>.mask.png`` (face mask);
- ``labels.jsonl`` — one JSON line per finished sample (ids, source, seed, all parameters in
  facefit's units and, for Basel-model fits, the paper's 185-number layout);
- ``errors.jsonl`` — one JSON line per photo that could not be used, with the reason.

Every file is written atomically (temporary file, then rename) and a sample's label line is
appended only after its files exist, so ``labels.jsonl`` is the record of what is done: a
killed run, started again, skips those samples and redoes the rest, and because each sample's
random draws depend only on (seed, photo, index) the redone samples are the ones the first run
would have made. Photos listed in ``errors.jsonl`` are not retried unless asked.

Work is one task per photo (fit once, render its missing samples): in this process, on a local
process pool (``workers``), or on a Dask distributed cluster (``scheduler``; the output folder
must then be on storage every worker can write).
"""

from __future__ import annotations

import io
import json
import os
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..backends.host import np
from ..errors import FacefitError

__all__ = ["IMAGE_SUFFIXES", "DatasetTask", "find_photos", "generate_dataset", "run_task"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


@dataclass(frozen=True)
class DatasetTask:
    """One photo's work: everything a worker process needs, picklable."""

    image: str
    landmarks: str  # "" when there is no landmark file: the fit detects them
    name: str  # relative path without suffix, '/'-separated: the sample ids' stem
    out: str
    indices: tuple[int, ...]
    seed: int
    model: tuple[str, tuple[tuple[str, str], ...]] | None = None
    backend: tuple[str, str | None, str | None] | None = None
    poses: tuple[tuple[float, float], ...] | None = None
    fit_options: dict[str, Any] = field(default_factory=dict)


def find_photos(source: str | Path, detect: bool = False) -> list[tuple[Path, Path | None, str]]:
    """Photos to use: ``(image, landmarks, name)``; a single image, or a folder searched
    recursively for images with a ``.pts`` file beside them (the 300-W layout). With
    ``detect``, images without one are used too (landmarks None: detected when fitted)."""
    root = Path(source)
    if root.is_file():
        beside = root.with_suffix(".pts")
        return [(root, None if detect and not beside.is_file() else beside, root.stem)]
    if not root.is_dir():
        raise FacefitError(f"generate input '{source}': no such file or folder")
    found = []
    for path in sorted(root.rglob("*")):
        has_pts = path.with_suffix(".pts").is_file()
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file() and (has_pts or detect):
            found.append((path, path.with_suffix(".pts") if has_pts else None,
                          path.relative_to(root).with_suffix("").as_posix()))
    if not found:
        raise FacefitError(f"generate input '{source}': no images" if detect else
                           f"generate input '{source}': no images with a .pts file beside them")
    return found


def sample_id(name: str, index: int) -> str:
    """The id of sample ``index`` of photo ``name``."""
    return f"{name}_{index:03d}"


def photo_stream(name: str) -> int:
    """A stable number per photo that keeps photos' random draws apart under one seed."""
    return zlib.crc32(name.encode("utf-8"))


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The complete lines of a JSON-lines file; a torn last line (a killed write) is cut off."""
    if not path.exists():
        return []
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        with open(path, "r+b") as handle:
            handle.truncate(end)
    records = []
    for line in data[:end].splitlines():
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:  # a line we cannot read is not a finished sample
                continue
    return records


def _append(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


@lru_cache(maxsize=4)
def _model(spec: tuple[str, tuple[tuple[str, str], ...]] | None) -> Any:
    from ..model import load_model

    if spec is None:
        return load_model()
    path, companions = spec
    return load_model(path, **dict(companions))


def paper_layout(model: Any, params: Any) -> list[float] | None:
    """Guo et al.'s 185 numbers (100 identity, 79 expression, pitch, yaw, roll, tx, ty, s) for
    Basel-model fits, else None. Identity and expression are PCA weights in the basis's own
    units (facefit's std-unit coefficients times the std); s is in pixels per unit of the
    source file (micrometres for the Basel .mat, so facefit's pixels-per-mm over 1000)."""
    source = str(getattr(model, "metadata", {}).get("source", ""))
    if "Basel" not in source or model.n_identity < 100 or model.n_expression != 79:
        return None
    identity = np.asarray(params.identity)[:100] * np.asarray(model.identity_std)[:100]
    expression = np.asarray(params.expression) * np.asarray(model.expression_std)
    pitch, yaw, roll = (float(a) for a in params.rotation)
    scale = params.scale / 1000.0
    return [*identity.tolist(), *expression.tolist(), pitch, yaw, roll,
            float(params.translation[0]), float(params.translation[1]), scale]


def _write_sample(out: Path, name: str, sample: Any, model: Any, task: DatasetTask) -> dict:
    from ..io import write_image, write_landmarks
    from ..io._files import atomic_write_bytes

    ident = sample_id(name, sample.index)
    stem = out / "images" / ident
    stem.parent.mkdir(parents=True, exist_ok=True)
    write_image(stem.with_name(stem.name + ".png"), sample.image)
    write_landmarks(stem.with_name(stem.name + ".pts"), sample.landmarks)
    write_image(stem.with_name(stem.name + ".mask.png"),
                sample.mask.astype(np.uint8) * np.uint8(255))
    buffer = io.BytesIO()
    np.save(buffer, sample.depth.astype(np.float32))
    atomic_write_bytes(stem.with_name(stem.name + ".depth.npy"), buffer.getvalue(), "depth map",
                       FacefitError)
    label: dict[str, Any] = {
        "id": ident, "source": task.image, "image": f"images/{ident}.png",
        "landmarks": f"images/{ident}.pts", "depth": f"images/{ident}.depth.npy",
        "mask": f"images/{ident}.mask.png", "index": sample.index, "seed": task.seed,
        "stream": photo_stream(name), "model": model.name, "params": sample.params.to_dict()}
    paper = paper_layout(model, sample.params)
    if paper is not None:
        label["paper_185"] = paper
    return label


def run_task(task: DatasetTask, on_label: Callable[[dict], None] | None = None
             ) -> dict[str, Any]:
    """Fit one photo and write its missing samples. Returns ``{"labels": [...]}`` or, for a
    photo that cannot be used, ``{"error": {...}}``. ``on_label`` sees each label as soon as
    its sample's files are written (the in-process runner records it right away)."""
    from ..backends import use_backend
    from ..detect.source import detect_largest
    from ..fit import fit
    from ..io import read_image, read_landmarks
    from .synthesis import iter_samples
    from .variations import PoseRanges

    labels: list[dict] = []
    context = use_backend(*task.backend) if task.backend else None
    try:
        model = _model(task.model)
        photo = read_image(task.image)
        points = read_landmarks(task.landmarks) if task.landmarks else detect_largest(
            photo, task.fit_options.get("detector", "mediapipe"), task.image)
        poses = PoseRanges(*task.poses) if task.poses else None
        out = Path(task.out)
        result = fit(photo, points, model, **task.fit_options)
        for sample in iter_samples(photo, points, model=model, seed=_seed(task.seed, task.name),
                                   poses=poses, indices=task.indices, fit_result=result):
            label = _write_sample(out, task.name, sample, model, task)
            labels.append(label)
            if on_label is not None:
                on_label(label)
    except FacefitError as exc:
        return {"labels": labels, "error": {"source": task.image, "error": str(exc)}}
    finally:
        if context is not None:
            context.__exit__(None, None, None)
    return {"labels": labels}


def _seed(seed: int, name: str) -> int:
    """The seed of one photo's samples: the run's seed and the photo's stream combined."""
    return int(np.random.SeedSequence([int(seed), photo_stream(name)]).generate_state(1)[0])


def _plan(source: str | Path, out: Path, per_image: int, seed: int, retry_errors: bool,
          **task_options: Any) -> tuple[list[DatasetTask], int, int]:
    """Tasks for the samples not yet in ``labels.jsonl``; also (done, skipped-error) counts."""
    done = {record.get("id") for record in _read_jsonl(out / "labels.jsonl")}
    failed = set() if retry_errors else {
        record.get("source") for record in _read_jsonl(out / "errors.jsonl")}
    tasks, finished, skipped = [], 0, 0
    detect = task_options.get("fit_options", {}).get("detector", "mediapipe") != "none"
    for image, landmarks, name in find_photos(source, detect):
        if str(image) in failed:
            skipped += 1
            continue
        missing = tuple(k for k in range(per_image) if sample_id(name, k) not in done)
        finished += per_image - len(missing)
        if missing:
            tasks.append(DatasetTask(str(image), str(landmarks or ""), name, str(out), missing,
                                     seed, **task_options))
    return tasks, finished, skipped


def _pool_results(tasks: list[DatasetTask], workers: int) -> Iterator[dict[str, Any]]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")  # no forked BLAS/torch thread state
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(run_task, task) for task in tasks]
        for future in as_completed(futures):
            yield future.result()


def _dask_results(tasks: list[DatasetTask], scheduler: str) -> Iterator[dict[str, Any]]:
    try:
        from distributed import Client, as_completed
    except ImportError as exc:
        raise FacefitError("--scheduler needs Dask: pip install 'facefit[distributed]'") from exc
    try:
        client = Client(scheduler, timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise FacefitError(f"--scheduler {scheduler}: cannot connect ({exc})") from exc
    try:
        futures = client.map(run_task, tasks, pure=False)
        for future in as_completed(futures):
            yield future.result()
    finally:
        client.close()


def generate_dataset(source: str | Path, out: str | Path, per_image: int = 30, *, seed: int = 0,
                     workers: int = 1, scheduler: str | None = None, model: Any = None,
                     poses: Any = None, retry_errors: bool = False,
                     progress: Callable[[int, int, str], None] | None = None,
                     **fit_options: Any) -> dict[str, int]:
    """Generate ``per_image`` samples of every photo under ``source`` into ``out`` (resumable).

    Parameters
    ----------
    source : an image (landmarks in the ``.pts`` beside it) or a folder (searched recursively).
    out : output folder (created).
    per_image : samples per photo.
    seed : the run's seed; sample k of a photo is a pure function of (photo, seed, k).
    workers : local processes (1: this process, streaming, nothing held in memory).
    scheduler : address of a Dask distributed scheduler to run the tasks on instead.
    model : None (default model) or ``(path, {companion: path})``.
    poses : a :class:`PoseRanges`.
    retry_errors : retry photos recorded in ``errors.jsonl``.
    progress : called with (done, total, label) after each sample (or photo, when parallel).
    **fit_options : for :func:`facefit.fit`.

    Returns
    -------
    dict with counts: ``samples`` written now, ``already`` done before, ``errors`` now,
    ``skipped`` photos with a recorded error.
    """
    from ..backends import get_backend

    if per_image < 1:
        raise FacefitError(f"--per-image must be at least 1, got {per_image}")
    if workers < 1:
        raise FacefitError(f"--workers must be at least 1, got {workers}")
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FacefitError(f"output folder '{out}': cannot be created ({exc})") from exc
    backend = get_backend()
    spec = None
    if model is not None:
        path, companions = model
        spec = (str(path), tuple(sorted((k, str(v)) for k, v in companions.items())))
    range_spec = None if poses is None else (tuple(poses.yaw), tuple(poses.pitch),
                                             tuple(poses.roll))
    tasks, already, skipped = _plan(
        source, out, per_image, seed, retry_errors, model=spec,
        backend=(backend.name, str(backend.device) if backend.name != "numpy" else None,
                 backend.dtype_name), poses=range_spec, fit_options=dict(fit_options))
    total = sum(len(task.indices) for task in tasks)
    counts = {"samples": 0, "already": already, "errors": 0, "skipped": skipped}
    labels_path, errors_path = out / "labels.jsonl", out / "errors.jsonl"

    def record(label: dict) -> None:
        _append(labels_path, label)
        counts["samples"] += 1
        if progress is not None:
            progress(counts["samples"], total, label["id"])

    results: Iterable[dict[str, Any]]
    if scheduler is None and workers == 1:
        results = (run_task(task, record) for task in tasks)
        streamed = True
    else:
        results = _dask_results(tasks, scheduler) if scheduler else _pool_results(tasks, workers)
        streamed = False
    for result in results:
        if not streamed:
            for label in result["labels"]:
                record(label)
        if "error" in result:
            _append(errors_path, result["error"])
            counts["errors"] += 1
    return counts
