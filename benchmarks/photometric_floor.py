"""How low can the photometric error of a fit go with this model? Floors for the real photos.

Run: ``python benchmarks/photometric_floor.py [PHOTO ...]`` (default: the shared sample and
300-W photos).

For each photo it fits the default model and reports the face RMSE (render mask within the
landmarks' box, as ``tests/test_fit_real.py`` scores it) of

- the fit itself, with the model's albedo alone;
- the fit with its per-vertex albedo detail (``facefit.fit.detail``, what ``result.render()``
  shows);
- the same geometry and shading with the albedo coefficients re-solved by unregularised linear
  least squares against the image colours at every visible face vertex: the lowest error the
  model's albedo space can reach with that shading;
- the same mesh with every vertex coloured by the image at its projection: the lowest error any
  per-vertex colouring of this mesh can reach.

The albedo floor is approximate: it minimises over vertices rather than pixels and keeps the
fit's shading, so a fit that also adjusts the light can end a little below it (300-W
image_0010 does). Where the fit sits at that floor (Grace Hopper), a better solver cannot lower
the error much; only a richer model (more albedo components, detail maps) can.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import facefit as ff
from facefit.backends import get_backend, to_numpy
from facefit.bench import fidelity as fd
from facefit.render import pose_faces, rasterize
from facefit.render.interpolate import interpolate_image
from facefit.sampling import bilinear_sample

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
PHOTOS = [SHARED / "samples" / "astronaut.png", SHARED / "samples" / "grace_hopper.jpg",
          SHARED / "300w" / "image_0010.png"]


def face_mask(rendered_mask: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The render's mask within the box of the given landmarks (the tests' face region)."""
    points = landmarks[~np.isnan(landmarks).any(axis=1)]
    rows, cols = np.mgrid[: rendered_mask.shape[0], : rendered_mask.shape[1]]
    low, high = points.min(axis=0), points.max(axis=0)
    box = (cols >= low[0]) & (cols <= high[0]) & (rows >= low[1]) & (rows <= high[1])
    return rendered_mask & box


def rmse(image: np.ndarray, photo: np.ndarray, face: np.ndarray) -> float:
    return float(np.sqrt(np.mean((image[face] - photo[face]) ** 2)))


def floors(path: Path) -> dict[str, float]:
    photo = ff.read_image(path)
    landmarks = ff.read_landmarks(fd.landmarks_beside(path))
    with ff.use_backend("numpy"):
        result = ff.fit(photo, landmarks)
        backend = get_backend()
        rendered = result.render(detail=False).to_numpy()
        detailed = result.render().to_numpy()
        face = face_mask(rendered["mask"], landmarks)
        vertices, triangles, _ = result.mesh()
        raster = rasterize(vertices[:, :2], vertices[:, 2], triangles, photo.shape[:2])
        model = result.problem.model
        arrays = model.arrays(backend)
        state = pose_faces(model, [result.params], backend)
        colours = to_numpy(state.colours[0])  # albedo * shading, (V, 3)
        mean, basis = to_numpy(arrays.albedo_mean), to_numpy(arrays.albedo)  # (V,3), (V,3,K)
        shading = colours / np.maximum(mean + basis @ result.params.albedo, 1e-6)
        observed = to_numpy(bilinear_sample(photo, vertices[:, :2]))  # (V, 3)
        pixel = np.clip(np.round(vertices[:, :2]).astype(int), 0,
                        np.array(photo.shape[1::-1]) - 1)
        on_face = face[pixel[:, 1], pixel[:, 0]]
        design = (basis * shading[..., None])[on_face].reshape(-1, basis.shape[2])
        target = (observed - mean * shading)[on_face].reshape(-1)
        albedo = np.linalg.lstsq(design, target, rcond=None)[0]
        best = (mean + basis @ albedo) * shading
        albedo_floor = to_numpy(interpolate_image(best, triangles, raster, background=photo))
        vertex_floor = to_numpy(interpolate_image(observed, triangles, raster,
                                                  background=photo))
    return {"fit": rmse(rendered["image"], photo, face),
            "fit + detail": rmse(detailed["image"], photo, face),
            "albedo floor": rmse(albedo_floor, photo, face),
            "per-vertex floor": rmse(vertex_floor, photo, face)}


def main(argv: list[str]) -> int:
    photos = [Path(p) for p in argv] or PHOTOS
    print(f"{'photo':<22} {'fit':>7} {'fit + detail':>13} {'albedo floor':>13} "
          f"{'per-vertex floor':>17}")
    for path in photos:
        row = floors(path)
        print(f"{path.name:<22} {row['fit']:>7.4f} {row['fit + detail']:>13.4f} "
              f"{row['albedo floor']:>13.4f} {row['per-vertex floor']:>17.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
