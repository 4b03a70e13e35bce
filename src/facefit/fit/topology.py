"""One-ring topology of the photometric samples: host precompute for their normals.

A sample's unnormalised normal is a sum over its incident triangles, so it depends on its
one-ring only. The photometric term evaluates the shape on the samples and their rings (a
:class:`facefit.forward.VertexSet` with :class:`SampleRings`) instead of on the whole mesh, and
its analytic Jacobian needs which ring slot each triangle corner is. Built once per model and
sample set and kept with the model's arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..backends import Backend, array_namespace
from ..forward import VertexSet, derived, shape_basis

Array = Any

__all__ = ["SampleRings", "kept_rows", "sample_subset", "sample_vertex_set"]


@dataclass(frozen=True, eq=False)
class SampleRings:
    """Incident triangles and one-rings of N sample vertices, in local ids of the U vertices read.

    Attributes
    ----------
    ring_size : R, the largest ring (the sample itself first).
    face_corners : (N, D, 3) local ids of the corners of each sample's incident triangles.
    face_valid : (N, D) 1.0 for a real incident triangle, 0.0 for padding.
    ring_local : (N, R) local ids of each sample's ring vertices (padding: 0, zero weight).
    ring_edges : (N, R, R) the signed edge counts ``A`` with ``w_r = sum_q A[r, q] S_q``
        over the ring positions ``S_q``: ``w_r`` sums ``S_(k+2) - S_(k+1)`` over the incident
        triangles where ring vertex ``r`` is corner ``k``, and the unnormalised normal moves
        as ``d m = sum_r w_r x d S_r``.
    """

    ring_size: int
    face_corners: Array
    face_valid: Array
    ring_local: Array
    ring_edges: Array


def sample_vertex_set(arrays: Any, samples: Array, backend: Backend) -> VertexSet:
    """The :class:`VertexSet` of the photometric samples ``samples`` (N,) with their one-rings,
    built once per model, backend and sample set."""
    key = ("photometric rings", tuple(int(v) for v in backend.to_numpy(samples)))
    return derived(arrays, key, lambda: _ring_topology(arrays, samples, backend))


def kept_rows(kept: Any, width: int) -> tuple[Any, Any]:
    """Host bookkeeping of a term that keeps only some samples' rows (``width`` rows each).

    Parameters
    ----------
    kept : (N,) host bool, the samples kept.
    width : residual rows per sample.

    Returns
    -------
    seen : (N',) int64 indices of the kept samples.
    rows : (N * width,) int64, for each full row its row among the N' * width kept ones, or
        ``N' * width`` (one past them, a zero row) for a sample left out.
    """
    kept = np.asarray(kept, dtype=bool)
    seen = np.flatnonzero(kept).astype(np.int64)
    position = np.full(kept.shape, seen.size, dtype=np.int64)
    position[seen] = np.arange(seen.size)
    rows = width * position[:, None] + np.arange(width)[None, :]
    rows[~kept] = width * seen.size
    return seen, rows.reshape(-1)


def sample_subset(vertex_set: VertexSet, rows: Array, backend: Backend) -> VertexSet:
    """The samples ``rows`` (N',) of a :func:`sample_vertex_set` (indices into its N samples)
    as a vertex set of their own: it reads only the vertices of those samples' one-rings (a
    copy of their mean and basis rows, in the order the rings name them) and outputs the N'
    samples with their rings, in the order of ``rows``.

    The photometric term evaluates and differentiates only the samples the photo sees (see
    :meth:`facefit.fit.terms.PhotometricTerm.reduced_jacobian`), each by the same per-sample
    arithmetic as in the whole set. Their rings are about 60% of the U vertices the whole set
    reads (2832 of 4604 on the astronaut), and every evaluation's shape product streams the
    basis rows it reads (17 MB for U, which does not stay in cache between evaluations): the
    copy, made once per freeze, costs about one evaluation's product and saves most of it in
    each of the 30-50 evaluations that follow. Positions are the same up to rounding (the
    product runs over other rows).
    """
    xp = array_namespace(rows)
    rings = vertex_set.rings
    assert rings is not None and vertex_set.output is not None
    ring_local = backend.to_numpy(xp.take(rings.ring_local, rows, axis=0))
    output = backend.to_numpy(xp.take(vertex_set.output, rows, axis=0))
    corners = backend.to_numpy(xp.take(rings.face_corners, rows, axis=0))
    # The rows read, in the order the samples' rings first name them: the Jacobian's
    # gathered product then reads the basis rows nearly in the order they lie in memory, a
    # stream the CPU prefetches, instead of jumping about the basis. The rings' padding slots
    # (local id 0, zero weight) keep pointing at a row that is read. A sample is its ring's
    # first slot, and its triangles' corners are its ring.
    ids, first = np.unique(ring_local.reshape(-1), return_index=True)
    used = ids[np.argsort(first, kind="stable")]
    renumber = np.zeros(vertex_set.mean_shape.shape[0], dtype=np.int64)
    renumber[used] = np.arange(used.size)
    used_ids = backend.asarray(used)
    subset = SampleRings(
        ring_size=rings.ring_size,
        face_corners=backend.asarray(renumber[corners]),
        face_valid=xp.take(rings.face_valid, rows, axis=0),
        ring_local=backend.asarray(renumber[ring_local]),
        ring_edges=xp.take(rings.ring_edges, rows, axis=0))
    return replace(vertex_set, mean_shape=xp.take(vertex_set.mean_shape, used_ids, axis=0),
                   shape_basis=xp.take(vertex_set.shape_basis, used_ids, axis=0),
                   albedo_mean=xp.take(vertex_set.albedo_mean, rows, axis=0),
                   albedo_basis=xp.take(vertex_set.albedo_basis, rows, axis=0),
                   output=backend.asarray(renumber[output]), rings=subset)


def _ring_topology(arrays: Any, samples: Array, backend: Backend) -> VertexSet:
    """Constant topology for the photometric term's analytic normal derivative (host work).

    A sample's unnormalised normal ``m_v = sum_f (S_f1 - S_f0) x (S_f2 - S_f0)`` over its
    incident triangles is linear in the positions of its 1-ring, with coefficient
    ``d m_f / d S_ck = [S_c(k+2) - S_c(k+1)]_x`` (a skew matrix) for corner ``k``. Per sample
    this records its incident triangles (padded to ``D``), its ring vertices (itself first,
    then in order of first appearance among the triangles' corners, padded to ``R``) and which
    ring slot each triangle corner is. The forward pass evaluates the shape only on the U
    vertices the term reads (samples and rings; about 3/4 of the ICT mesh, an eighth of a
    BFM-size one), from the mean and basis rows gathered here.

    Returns
    -------
    VertexSet
        Reading the U vertices, with the N samples as output and their :class:`SampleRings`.
    """
    triangles = backend.to_numpy(arrays.triangles)
    samples = backend.to_numpy(samples)
    count = samples.size
    order = np.argsort(triangles.reshape(-1), kind="stable")
    corner_vertex = triangles.reshape(-1)[order]
    starts: Any = np.searchsorted(corner_vertex, samples, side="left")
    incident: Any = np.searchsorted(corner_vertex, samples, side="right") - starts
    degree = int(max(1, incident.max()))
    offsets = np.arange(degree)
    face_valid = offsets[None, :] < incident[:, None]  # (N, D)
    positions = np.minimum(starts[:, None] + offsets[None, :], order.size - 1)
    faces = np.where(face_valid, order[positions] // 3, 0)  # incident triangles, ascending
    corner_ids = triangles[faces]  # (N, D, 3)
    # Ring slots, vectorised: the sample itself, then each new corner in (triangle, corner)
    # order. A stable sort of each row groups equal vertices with their first occurrence first.
    sentinel = triangles.max() + 1
    sequence = np.concatenate([samples[:, None], np.where(
        np.repeat(face_valid, 3, axis=1), corner_ids.reshape(count, -1), sentinel)], axis=1)
    rows = np.arange(count)[:, None]
    by_value = np.argsort(sequence, axis=1, kind="stable")
    sorted_values = sequence[rows, by_value]
    head = np.ones(sorted_values.shape, dtype=bool)
    head[:, 1:] = sorted_values[:, 1:] != sorted_values[:, :-1]
    first = np.zeros(sequence.shape, dtype=bool)
    first[rows, by_value] = head & (sorted_values != sentinel)
    first_slot = np.cumsum(first, axis=1) - 1  # slot of each first occurrence
    head_position = np.maximum.accumulate(
        np.where(head, np.arange(sequence.shape[1])[None, :], 0), axis=1)
    slot = np.zeros(sequence.shape, dtype=np.int64)
    slot[rows, by_value] = first_slot[rows, by_value[rows, head_position]]
    sizes = first.sum(axis=1)
    ring_size = int(max(1, sizes.max()))
    rings = np.zeros((count, ring_size), dtype=np.int64)
    hit_rows, hit_columns = np.nonzero(first)
    rings[hit_rows, first_slot[hit_rows, hit_columns]] = sequence[hit_rows, hit_columns]
    slots = slot[:, 1:].reshape(count, degree, 3)
    edges = np.zeros((count, ring_size, ring_size))
    i_idx, d_idx = np.nonzero(face_valid)
    for k in range(3):
        corner = slots[i_idx, d_idx, k]
        np.add.at(edges, (i_idx, corner, slots[i_idx, d_idx, (k + 2) % 3]), 1.0)
        np.add.at(edges, (i_idx, corner, slots[i_idx, d_idx, (k + 1) % 3]), -1.0)
    # The vertices the term reads (samples and their one-rings), and local ids into them.
    used, local = np.unique(np.concatenate([samples, corner_ids.reshape(-1)]),
                            return_inverse=True)
    in_ring = np.arange(ring_size)[None, :] < sizes[:, None]
    ring_local = np.where(in_ring, np.searchsorted(used, rings), 0)  # padding: zero weights
    used_ids = backend.asarray(used)
    xp = backend.xp
    topology = SampleRings(
        ring_size=ring_size,
        face_corners=backend.asarray(local[count:].reshape(corner_ids.shape)),
        face_valid=backend.asarray(face_valid.astype(np.float64)),
        ring_local=backend.asarray(ring_local),
        ring_edges=backend.asarray(edges))
    sample_ids = backend.asarray(samples)
    return VertexSet(
        mean_shape=xp.take(arrays.mean_shape, used_ids, axis=0),  # (U, 3)
        shape_basis=xp.take(shape_basis(arrays), used_ids, axis=0),  # (U, 3, K)
        albedo_mean=xp.take(arrays.albedo_mean, sample_ids, axis=0),  # (N, 3)
        albedo_basis=xp.take(arrays.albedo, sample_ids, axis=0),  # (N, 3, K_alb)
        output=backend.asarray(local[:count]), rings=topology)
