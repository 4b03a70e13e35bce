"""Benchmark: one 512x512 render of the default model per backend (issue 4's figure).

Run: ``python benchmarks/render.py [--size 512] [--backends numpy,torch] [--model PATH]``.
The target is <= 15 ms per render on 2 cores; face3d's single-threaded C++ rasterizer does a
53k-vertex BFM at 256x256 in about 2 ms.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import facefit as ff
from _timing import machine, measure
from facefit.model import load_model
from facefit.params import FaceParams
from facefit.render import pose_faces, rasterize, render


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--backends", default="numpy,torch")
    parser.add_argument("--model", default=None)
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    model = load_model(args.model) if args.model else load_model()
    size = (args.size, args.size)
    params = FaceParams.framing(model, size)
    params.rotation = [0.1, 0.3, 0.0]
    rows = []
    for name in args.backends.split(","):
        with ff.use_backend(name) as backend:
            state = pose_faces(model, [params], backend)
            triangles = model.arrays(backend).triangles
            whole = measure(lambda: render(model, params, size))
            raster = measure(lambda: rasterize(state.points, state.depth, triangles, size))  # noqa: B023
            rows.append({"backend": name, "dtype": backend.dtype_name, "size": args.size,
                         "render_ms": 1e3 * whole["median_s"],
                         "render_min_ms": 1e3 * whole["min_s"],
                         "rasterize_ms": 1e3 * raster["median_s"]})
    print(f"model: {model.name} ({model.n_vertices} vertices, {model.triangles.shape[0]} "
          f"triangles), {args.size}x{args.size}")
    print(f"{'backend':<10} {'render median':>14} {'render min':>11} {'rasterize':>10}")
    for row in rows:
        print(f"{row['backend']:<10} {row['render_ms']:>11.1f} ms {row['render_min_ms']:>8.1f} ms"
              f" {row['rasterize_ms']:>7.1f} ms")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
