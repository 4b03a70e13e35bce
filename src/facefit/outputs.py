"""What ``facefit fit`` writes for one photo: parameters, mesh, render, overlay, landmarks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from .backends import get_backend, to_numpy
from .backends.host import np
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
    image : (H, W, 3) float in [0, 1].
    given, fitted : (68, 2) landmark positions (NaN skipped).
    mask : (H, W) bool face mask of the fitted render.

    Returns
    -------
    (H, W, 3) uint8 array.
    """
    photo = (np.clip(to_numpy(image), 0, 1) * 255 + 0.5).astype(np.uint8)
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
    """Write ``NAME.params.json``, ``.obj``, ``.render.png``, ``.overlay.png``, ``.pts``.

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
    backend = get_backend()
    paths = {kind: out_dir / f"{name}.{kind}" for kind in
             ("params.json", "obj", "render.png", "overlay.png", "pts")}
    rendered = result.render()
    vertices, triangles, colours = result.mesh()
    save_mesh(paths["obj"], vertices, triangles, colours)
    write_image(paths["render.png"], to_numpy(rendered.image))
    image = result.problem.image
    if image is None:
        image = np.zeros((*to_numpy(rendered.mask).shape, 3))
    overlay = draw_overlay(image, result.problem.targets, result.landmarks, rendered.mask)
    write_image(paths["overlay.png"], overlay)
    write_landmarks(paths["pts"], result.landmarks)
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
    })
    return paths
