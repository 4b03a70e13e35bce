"""Weights of the energy terms, and why they have the values they have.

facefit's images are in [0, 1] (the paper's are in [0, 255]) and its landmark residuals are
divided by the diagonal of the given landmarks' bounding box (so a face of any pixel size weighs
the same). The defaults were re-derived for those units so that, as in Guo et al., a
landmark error of a few percent of the face size costs about as much as a photometric RMSE of
0.1, and the prior keeps coefficients within a few standard deviations without flattening the
face (checked on the synthetic recovery tests and the sample photos).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["FitWeights"]


@dataclass(frozen=True)
class FitWeights:
    """Weights of the energy ``E = E_landmarks + E_photometric + E_prior``.

    Attributes
    ----------
    landmarks : w_lan in ``(w_lan / L) * sum_l |(p_l - l_l) / d|^2`` (d: landmark box diagonal).
    photometric : w_con in ``(w_con / N_vis) * sum_v |albedo_v * shading_v - I(p_v)|^2``.
    identity, expression, albedo : prior weights on ``||z||^2`` of each coefficient block.
    contour : w_cnt in ``(w_cnt / J) * sum_j (n_j . (p_j - t_j) / d)^2``, the jaw silhouette
        against the face's skin outline in the photo (:mod:`facefit.fit.terms.contour`).
    """

    landmarks: float = 20.0
    photometric: float = 1.0
    identity: float = 2e-4
    expression: float = 2e-4
    albedo: float = 2e-4
    contour: float = 5.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
