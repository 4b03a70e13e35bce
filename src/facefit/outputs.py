"""What ``facefit fit`` writes for one photo: parameters, mesh, render, overlay, landmarks."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from .backends import to_numpy
from .errors import FacefitError
from .io import save_mesh, write_image, write_landmarks
from .io._files import atomic_write_bytes

__all__ = ["draw_overlay", "write_fit_outputs"]

_GIVEN = (0, 200, 255)
_FITTED = (255, 60, 60)
_OUTLINE = (255, 220, 0)


def draw_overlay(image: Any, given: Any, fitted: Any, mask: Any) -> Any:
    """The photo with the given landmarks (cyan), fitted ones (red) and the face outline (yellow).

    Parameters
    ----------
    image : (H, W, 3) float in [0, 1], or uint8.
    given, fitted : (68, 2) landmark positions (NaN skipped).
    mask : (H, W) bool face mask of the fitted render.

    Returns
    -------
    (H, W, 3) uint8 array.
    """
    photo = to_numpy(image)
    photo = photo.copy() if photo.dtype == np.uint8 else _to_uint8(photo)
    mask = to_numpy(mask).astype(bool)
    edge = mask & ~(np.roll(mask, 1, 0) & np.roll(mask, -1, 0) & np.roll(mask, 1, 1)
                    & np.roll(mask, -1, 1))
    photo[edge] = _OUTLINE
    canvas = Image.fromarray(photo)
    draw = ImageDraw.Draw(canvas)
    radius = max(1.5, min(photo.shape[:2]) / 300)
    for points, colour in ((given, _GIVEN), (fitted, _FITTED)):
        for x, y in to_numpy(points):
            if np.isfinite(x) and np.isfinite(y):
                draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=colour)
    return np.asarray(canvas)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    atomic_write_bytes(path, json.dumps(data, indent=2).encode(), "parameters", FacefitError)


def write_fit_outputs(result: Any, out_dir: Path, name: str, *, source: str = "",
                      model_name: str = "") -> dict[str, Path]:
    """Write ``NAME.params.json``, ``.obj``, ``.render.png``, ``.overlay.png``, ``.pts`` and,
    when the fit has one, ``.albedo_detail.npy`` ((V, 3) float32, named in the JSON).

    Parameters
    ----------
    result : the :class:`facefit.FitResult`.
    out_dir : folder (created if missing).
    name : file stem.
    source : the photo's path, recorded in the JSON.
    model_name : the model used, recorded in the JSON.

    Returns
    -------
    The written paths, by kind.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    backend = result.problem.backend  # the backend the fit ran on, not whichever is active
    paths = {kind: out_dir / f"{name}.{kind}" for kind in
             ("params.json", "obj", "render.png", "overlay.png", "pts")}
    vertices, triangles, colours = result.mesh()
    save_mesh(paths["obj"], vertices, triangles, colours)
    render_image, overlay = _pictures(result)
    # Fast PNG compression (level 1, run-length strategy): Pillow's default, 6, took about 3x
    # as long per 512x512 image (about 0.1 s each on the reference machine) for files about
    # as large.
    write_image(paths["render.png"], render_image, compress_level=1, run_length=True)
    del render_image
    write_image(paths["overlay.png"], overlay, compress_level=1, run_length=True)
    del overlay
    write_landmarks(paths["pts"], result.landmarks)
    if result.albedo_detail is not None:
        paths["albedo_detail.npy"] = out_dir / f"{name}.albedo_detail.npy"
        buffer = io.BytesIO()
        np.save(buffer, result.albedo_detail.astype(np.float32))
        atomic_write_bytes(paths["albedo_detail.npy"], buffer.getvalue(), "albedo detail",
                           FacefitError)
    stages: dict[str, float] = {}
    for entry in result.history:
        stage = entry["stage"].split("/")[0]
        stages[stage] = stages.get(stage, 0.0) + entry["seconds"]
    _write_json(paths["params.json"], {
        "source": source, "model": model_name or result.problem.model.name,
        "params": result.params.to_dict(), "energy": result.energy,
        "backend": {"name": backend.name, "device": str(backend.device),
                    "dtype": backend.dtype_name},
        "timings": {"total_seconds": result.seconds, "stage_seconds": stages},
        "history": result.history,
        "albedo_detail": paths["albedo_detail.npy"].name if "albedo_detail.npy" in paths
        else None,
        "working_frame": None if result.frame is None else {
            "box": list(result.frame.box), "step": result.frame.step,
            "size": list(result.frame.size)},
    })
    return paths


def _pictures(result: Any) -> tuple[Any, Any]:
    """The render ((H, W, 3) float in [0, 1] or uint8) and the overlay ((H, W, 3) uint8) of
    ``result``, at the photo's size.

    A fit in a working frame is rendered there and scaled up into the photo's face region, so
    that memory stays flat however large the photo is.
    """
    frame = result.frame
    if frame is None:
        rendered = result.render()
        image = result.problem.image
        if image is None:
            image = np.zeros((*to_numpy(rendered.mask).shape, 3))
        overlay = draw_overlay(image, result.problem.targets, result.landmarks, rendered.mask)
        return to_numpy(rendered.image), overlay
    from .render import render

    problem = result.problem
    working = render(problem.model, problem.layout.unpack(result.x), frame.size, problem.image,
                     backend=problem.backend, albedo_detail=result.albedo_detail)
    photo = result.photo if result.photo.dtype == np.uint8 else _to_uint8(result.photo)
    height, width = photo.shape[:2]
    x0, y0 = int(frame.box[0]), int(frame.box[1])
    x1, y1 = min(width, math.floor(frame.box[2])), min(height, math.floor(frame.box[3]))
    source_box = (0.0, 0.0, (x1 - x0) / frame.step, (y1 - y0) / frame.step)
    face = np.asarray(Image.fromarray(_to_uint8(to_numpy(working.image))).resize(
        (x1 - x0, y1 - y0), Image.Resampling.BILINEAR, box=source_box))
    mask = np.asarray(Image.fromarray(to_numpy(working.mask).astype(np.uint8) * 255).resize(
        (x1 - x0, y1 - y0), Image.Resampling.NEAREST, box=source_box)) > 127
    region = photo[y0:y1, x0:x1]
    rendered_photo = photo.copy()
    rendered_photo[y0:y1, x0:x1][mask] = face[mask]
    corner = np.array([x0, y0], dtype=np.float64)
    given = frame.to_photo(problem.targets) - corner
    overlay = photo.copy()
    overlay[y0:y1, x0:x1] = draw_overlay(region, given, result.landmarks - corner, mask)
    return rendered_photo, overlay


def _to_uint8(image: Any) -> Any:
    return (np.clip(image, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
