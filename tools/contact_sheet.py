"""Write a contact sheet of generated samples (face crops) for the README: ``docs/samples.png``.

Usage: ``python tools/contact_sheet.py [IMAGE] [OUTPUT]`` (default: the sample photo shipped in
the package and ``docs/samples.png``).

The photo is fitted once; the sheet's first column is the photo itself, then one row per
expression (neutral, then two drawn from the model's prior with fixed seeds) and one column per
yaw (-45, -25, 0, 25, 45 degrees; pitch and roll 0). Every tile is the same crop around the
fitted face (its landmarks' box grown by 90%, raised to take in the hair), so head and hair
motion can be compared.
"""

from __future__ import annotations

import sys
from importlib.resources import files
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import facefit as ff  # noqa: E402
from facefit.generate import Synthesizer  # noqa: E402
from facefit.generate.variations import draw_expression, sample_rng  # noqa: E402

YAWS = (-45.0, -25.0, 0.0, 25.0, 45.0)
TILE = 200


def main(argv: list[str]) -> int:
    image = Path(argv[1]) if len(argv) > 1 else Path(str(files("facefit") / "data" / "samples" /
                                                          "astronaut.png"))
    output = Path(argv[2]) if len(argv) > 2 else ROOT / "docs" / "samples.png"
    model = ff.load_model()
    photo = ff.read_image(image)
    points = ff.read_landmarks(image.with_suffix(".pts"))
    result = ff.fit(photo, points, model)
    synth = Synthesizer(model, result.params, photo, albedo_detail=result.albedo_detail)
    low, high = np.nanmin(points, axis=0), np.nanmax(points, axis=0)
    half = 0.95 * float(np.max(high - low))
    centre = (low + high) / 2 - np.asarray([0.0, 0.25 * half])  # the landmarks stop at the brows
    x0, y0 = (int(max(v, 0)) for v in centre - half)
    x1 = int(min(centre[0] + half, photo.shape[1]))
    y1 = int(min(centre[1] + half, photo.shape[0]))

    def tile(pixels: np.ndarray) -> np.ndarray:
        crop = (np.clip(pixels[y0:y1, x0:x1], 0, 1) * 255 + 0.5).astype(np.uint8)
        return np.asarray(Image.fromarray(crop).resize((TILE, TILE), Image.LANCZOS))

    expressions = [np.zeros(model.n_expression),
                   draw_expression(model, sample_rng(11, 0)),
                   draw_expression(model, sample_rng(11, 3))]
    rows = []
    for row, expression in enumerate(expressions):
        first = tile(photo) if row == 0 else np.full((TILE, TILE, 3), 255, np.uint8)
        tiles = [first]
        for yaw in YAWS:
            sample = synth(synth.pose(expression, np.radians([0.0, yaw, 0.0])))
            tiles.append(tile(sample.image))
        rows.append(np.concatenate([np.pad(t, ((2, 2), (2, 2), (0, 0)), constant_values=255)
                                    for t in tiles], axis=1))
    output.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, axis=0)).save(output, optimize=True)
    print(f"wrote {output}: photo, then yaw {', '.join(f'{y:g}' for y in YAWS)} degrees; "
          f"{len(expressions)} expressions")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
