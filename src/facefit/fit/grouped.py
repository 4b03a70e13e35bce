"""A Jacobian whose rows fall into groups that share some parameters and own the others.

:class:`GroupedJacobian` holds each row group's Jacobian over the parameters it can depend on
only (:class:`facefit.fit.columns.ColumnGroups`: ``shared`` ones, the same for every group,
then the group's ``own``, disjoint between groups; the rest are zero in every row) and sums the
normal equations group by group: ``J^T J`` of each group's rows over its own ``W`` columns,
the shared block summed over the groups, zero blocks between different groups' own columns.
The sums are those of the dense product in another order (the same to rounding).

The photometric term's colour channels are such groups: written densely, the other channels'
light and albedo were 22% of each row of the default model (58 of 266 columns) and 39% of
the work of ``J^T J``, the largest product of a fit. The landmarks are one group over the
shape and pose (107 of 266 columns zero).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..backends import array_namespace, gram
from ..errors import FitError
from .columns import ColumnGroups

Array = Any

__all__ = ["GroupedJacobian"]


@dataclass(frozen=True, eq=False)
class GroupedJacobian:
    """The Jacobian of ``N * G`` residual rows ordered ``(item, group)``, each row over its
    group's :class:`ColumnGroups` columns only.

    Attributes
    ----------
    blocks : (N, G, W) array: row ``i * G + g`` of the Jacobian is ``blocks[i, g, :]`` at
        the parameters ``shared`` then ``own[g]``, and zero at every other parameter.
    columns : the :class:`ColumnGroups`.
    """

    blocks: Array
    columns: ColumnGroups

    @property
    def rows(self) -> int:
        """N * G, the residual rows."""
        return int(self.blocks.shape[0] * self.blocks.shape[1])

    def dense(self) -> Array:
        """(N * G, n) the plain Jacobian (the same values; zeros where a group's rows do not
        depend on a parameter)."""
        xp = array_namespace(self.blocks)
        count, groups, _ = self.blocks.shape
        zero = xp.zeros((count, 1), dtype=self.blocks.dtype, device=self.blocks.device)
        rows = [xp.take(xp.concat([self.blocks[:, g, :], zero], axis=1),
                        self.columns.expand[g, :], axis=1) for g in range(groups)]
        return xp.reshape(xp.stack(rows, axis=1), (count * groups, -1))

    def normal_equations(self, r: Array, threads: int | None = None) -> tuple[Array, Array]:
        """``(J^T J, J^T r)``, (n, n) and (n,), for the residuals ``r`` (N * G,) of these
        rows, group by group (``threads``: host BLAS threads of the products, see
        :func:`facefit.backends.gram`)."""
        xp = array_namespace(self.blocks, r)
        count, groups, width = self.blocks.shape
        if r.shape[0] != count * groups:
            raise FitError(f"grouped normal equations: r has {r.shape[0]} rows, the Jacobian "
                           f"{count * groups}")
        shared = int(self.columns.shared.size)
        own = width - shared
        per_item = xp.reshape(r, (count, groups))
        products = [gram(self.blocks[:, g, :], threads) for g in range(groups)]
        steps = [xp.matrix_transpose(self.blocks[:, g, :]) @ per_item[:, g]
                 for g in range(groups)]
        common = products[0][:shared, :shared]
        for product in products[1:]:
            common = common + product[:shared, :shared]
        # Assembled in the order shared, own[0], own[1], ...: different groups' own columns
        # never meet in a row, so the blocks between them are zero.
        zero = xp.zeros((own, own), dtype=common.dtype, device=common.device)
        band = [xp.concat([common, *[p[:shared, shared:] for p in products]], axis=1)]
        for g, product in enumerate(products):
            band.append(xp.concat([product[shared:, :shared],
                                   *[product[shared:, shared:] if h == g else zero
                                     for h in range(groups)]], axis=1))
        normal = xp.concat(band, axis=0)
        gradient_common = steps[0][:shared]
        for step in steps[1:]:
            gradient_common = gradient_common + step[:shared]
        gradient = xp.concat([gradient_common, *[step[shared:] for step in steps]])
        size = self.columns.order.shape[0]
        absent = size - normal.shape[0]
        if absent:  # parameters no row depends on: zero rows and columns at the end
            normal = xp.concat([
                xp.concat([normal, xp.zeros((normal.shape[0], absent), dtype=normal.dtype,
                                            device=normal.device)], axis=1),
                xp.zeros((absent, size), dtype=normal.dtype, device=normal.device)], axis=0)
            gradient = xp.concat([gradient, xp.zeros((absent,), dtype=gradient.dtype,
                                                     device=gradient.device)])
        order = self.columns.order
        return xp.take(xp.take(normal, order, axis=0), order, axis=1), xp.take(gradient, order)
