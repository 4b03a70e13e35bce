"""The eye openings of the face mesh, capped so a sample shows the photo's eyes (issue 17).

The ICT face mesh has a hole in each eye between the lids (its eyeballs are separate meshes).
Through the hole a sample used to show the warped photo behind the face, whose triangulation is
not the face's: turned by a few degrees, an eye showed a flat patch of skin or a dark smear. Here
each hole is closed by a fan of triangles from its rim to one centre vertex (the mean of its
rim), posed like any other vertex and textured from the photo only (an eye is never in the
albedo), so the photo's eye is mapped into the new eye by the same per-vertex texture lookup as
the lids around it.
"""

from __future__ import annotations

from typing import Any

from ..backends import Backend, array_namespace, scatter_add
from .host import eye_caps

Array = Any

__all__ = ["EyeCaps"]


class EyeCaps:
    """The face mesh with its eye holes closed: one centre vertex per eye after the model's.

    Parameters
    ----------
    model : a :class:`facefit.MorphableModel`.
    triangles : (T, 3) the model's triangles on ``backend``.
    backend : where the arrays live.

    Attributes
    ----------
    triangles : (T + C, 3) the model's triangles and the caps' fans (C = total rim length),
        wound as the model's.
    on_rim : (V,) bool, the model's vertices around an eye hole (inside the face, not on its
        outline, once the holes are capped).
    """

    def __init__(self, model: Any, triangles: Array, backend: Backend):
        xp = backend.xp
        n_vertices = int(model.n_vertices)
        # Each cap has its own copies of its rim's vertices (same positions, so no crack), so
        # that what the cap shows (the photo, always) does not spill onto the lids.
        rims, fans = eye_caps(model)
        self._rims = [xp.asarray(rim, device=triangles.device) for rim in rims]
        self.triangles = triangles if fans is None else xp.concat(
            [triangles, xp.asarray(fans, dtype=triangles.dtype, device=triangles.device)],
            axis=0)
        rim_count = xp.zeros((n_vertices,), dtype=backend.dtype, device=triangles.device)
        for rim in self._rims:
            rim_count = rim_count + scatter_add(
                rim, xp.ones(rim.shape, dtype=backend.dtype, device=triangles.device), n_vertices)
        self.on_rim = rim_count > 0
        total = n_vertices + sum(int(rim.shape[0]) + 1 for rim in rims)
        #: (V + E, 1) 1 on the caps' vertices (E of them), 0 on the model's.
        self.is_cap = xp.astype(xp.arange(total, device=triangles.device) >= n_vertices,
                                backend.dtype)[:, None]

    def extend(self, values: Array) -> Array:
        """(V, C) per-vertex ``values`` followed by each cap's: its rim's, then its centre's
        (the mean of its rim's)."""
        if not self._rims:
            return values
        xp = array_namespace(values)
        parts = [values]
        for rim in self._rims:
            border = xp.take(values, rim, axis=0)
            parts += [border, xp.mean(border, axis=0, keepdims=True)]
        return xp.concat(parts, axis=0)
