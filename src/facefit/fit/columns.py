"""Which parameters groups of residual rows can depend on: host bookkeeping for
:mod:`facefit.fit.grouped`, made once per term.

The photometric term's rows come in threes, one per colour channel, and a channel's colour
does not depend on the other channels' light (9 of the 27 SH coefficients each) nor, in an
albedo model with per-channel components (facefit's albedo for shape-only models: 20 per
channel and 20 shared luminance modes), on the other channels' albedo; image points (the
landmarks) depend on neither albedo nor light.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backends import Backend
from ..errors import FitError

Array = Any

__all__ = ["ColumnGroups", "channel_columns", "geometric_columns"]


@dataclass(frozen=True, eq=False)
class ColumnGroups:
    """Which parameters each of ``G`` row groups depends on (host bookkeeping, made once).

    Attributes
    ----------
    shared : (S,) host int parameter ids that every group's rows may depend on, in the order
        of a group's first ``S`` compact columns.
    own : (G, W - S) host int parameter ids each group alone depends on, in the order of its
        last ``W - S`` compact columns; no id is in two groups or in ``shared``. The
        parameters in neither (``absent``) have zero columns in every row.
    order : (n,) backend int: for each parameter, its position in ``shared`` followed by
        ``own[0]``, ``own[1]``, ..., then the absent ones (the order the normal equations are
        assembled in).
    expand : (G, n) backend int: for each group and parameter, its compact column, or ``W``
        where the group's rows do not depend on it (a zero column appended for
        :meth:`facefit.fit.grouped.GroupedJacobian.dense`).
    """

    shared: Any
    own: Any
    order: Array
    expand: Array

    @classmethod
    def of(cls, shared: Any, own: Any, size: int, backend: Backend) -> ColumnGroups:
        """Groups over ``size`` parameters from host id lists ``shared`` (S,) and ``own``
        (G, W - S); :class:`FitError` unless together they name each parameter at most once."""
        shared = np.asarray(shared, dtype=np.int64).reshape(-1)
        own = np.asarray(own, dtype=np.int64)
        if own.ndim != 2:
            raise FitError(f"column groups: own must be (groups, columns), got {own.shape}")
        named = np.concatenate([shared, own.reshape(-1)])
        if np.unique(named).size != named.size or np.any((named < 0) | (named >= size)):
            raise FitError(f"column groups: shared and own must name parameters 0..{size - 1}"
                           " at most once each")
        absent = np.setdiff1d(np.arange(size), named)
        assembled = np.concatenate([named, absent])
        order = np.empty(size, dtype=np.int64)
        order[assembled] = np.arange(size)
        width = shared.size + own.shape[1]
        expand = np.full((own.shape[0], size), width, dtype=np.int64)
        for g in range(own.shape[0]):
            expand[g, shared] = np.arange(shared.size)
            expand[g, own[g]] = shared.size + np.arange(own.shape[1])
        return cls(shared, own, backend.asarray(order), backend.asarray(expand))

    @property
    def groups(self) -> int:
        """G, the number of row groups."""
        return int(self.own.shape[0])

    @property
    def width(self) -> int:
        """W, the compact columns of each group's rows."""
        return int(self.shared.size + self.own.shape[1])


def channel_columns(layout: Any, albedo_basis: Any,
                     backend: Backend) -> tuple[ColumnGroups, Array, Array]:
    """Which parameters each colour channel's rows depend on (host work, once per term).

    A channel's colour depends on the shape and pose, on the albedo components that are not
    zero in that channel at some sample (``albedo_basis``, (N, 3, K_alb) on the host), and on
    its own 9 of the 27 light coefficients. Albedo components that only one channel uses are
    that channel's own when every channel has as many (facefit's albedo for shape-only
    models: 20 each); the rest are shared (their zeros, if any, are written out).

    Returns
    -------
    (ColumnGroups, shared albedo components (A_s,), each channel's own (3, A_o)), the
    component lists as backend int arrays; a channel's columns are the shape, rotation,
    scale, translation, the shared albedo components, then its own, then its light.
    """
    used = np.any(np.asarray(albedo_basis) != 0, axis=0)  # (3, K_alb)
    alone = used & (used.sum(axis=0) == 1)[None, :]
    if len({int(n) for n in alone.sum(axis=1)}) > 1:
        alone[:] = False  # uneven: every component shared
    own_albedo = np.stack([np.flatnonzero(alone[c]) for c in range(3)]).astype(np.int64)
    shared_albedo = np.flatnonzero(~alone.any(axis=0)).astype(np.int64)
    pose = _pose_ids(layout)
    shared = np.concatenate([np.arange(layout.shape.start, layout.shape.stop), pose,
                             layout.albedo.start + shared_albedo])
    light = layout.light.start + 3 * np.arange(9)
    own = np.stack([np.concatenate([layout.albedo.start + own_albedo[c], light + c])
                    for c in range(3)])
    return (ColumnGroups.of(shared, own, layout.size, backend), backend.asarray(shared_albedo),
            backend.asarray(own_albedo))


def geometric_columns(layout: Any, backend: Backend) -> ColumnGroups:
    """One group over the shape, rotation, scale and translation, in that order: a term of
    image points (landmarks), whose rows do not depend on albedo or light."""
    return ColumnGroups.of(np.concatenate([np.arange(layout.shape.start, layout.shape.stop),
                                           _pose_ids(layout)]),
                           np.zeros((1, 0), dtype=np.int64), layout.size, backend)


def _pose_ids(layout: Any) -> Any:
    """The rotation, scale and translation parameter ids, in that order."""
    return np.asarray([*range(layout.rotation.start, layout.rotation.stop), layout.scale,
                       *range(layout.translation.start, layout.translation.stop)],
                      dtype=np.int64)
