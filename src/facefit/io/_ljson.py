"""menpo's ``.ljson`` landmark format: JSON with (y, x) points, 0-based, null for missing."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from ._malformed import Malformed

__all__ = ["format_ljson", "parse_ljson"]


def parse_ljson(text: str, n_points: int | None = None) -> np.ndarray:
    """Parse the text of an ``.ljson`` file (menpo layouts version 1, 2 and 3).

    Version 2 (and files without a version): ``{"landmarks": {"points": [[y, x], ...]}}``.
    Version 1: ``{"groups": [{"landmarks": [{"point": [y, x]}, ...]}, ...]}``, groups joined.
    Version 3: ``{"groups": {name: {"landmarks": {"points": [...]}}}}``: the first group with
    ``n_points`` points, or the first group.

    Returns
    -------
    (n, 2) float64 array of 0-based (x, y) pixel coordinates, NaN where a point or a
    coordinate is null.

    Raises
    ------
    Malformed
        Invalid JSON, an unknown layout, or points that are not pairs of numbers.
    """
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Malformed(f"is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(document, dict):
        raise Malformed("is not a JSON object with landmarks")
    return _yx_to_xy(_point_list(document, n_points))


def format_ljson(points: np.ndarray) -> str:
    """The ``.ljson`` text (menpo version 2 layout) for 0-based (n, 2) (x, y) ``points``."""
    yx = [
        [None if math.isnan(y) else float(y), None if math.isnan(x) else float(x)]
        for x, y in points.tolist()
    ]
    document = {"version": 2, "labels": [], "landmarks": {"points": yx, "connectivity": []}}
    return json.dumps(document, indent=1) + "\n"


def _point_list(document: dict[str, Any], n_points: int | None) -> list[Any]:
    """The raw list of (y, x) entries from any supported layout."""
    landmarks = document.get("landmarks")
    if isinstance(landmarks, dict) and "points" in landmarks:
        return _as_list(landmarks["points"], "landmarks.points")
    groups = document.get("groups")
    if isinstance(groups, list):  # version 1
        entries: list[Any] = []
        for group in groups:
            members = group.get("landmarks") if isinstance(group, dict) else None
            for member in _as_list(members, "groups[].landmarks"):
                entries.append(member.get("point") if isinstance(member, dict) else member)
        return entries
    if isinstance(groups, dict) and groups:  # version 3
        candidates = []
        for name, group in groups.items():
            inner = group.get("landmarks") if isinstance(group, dict) else None
            if not isinstance(inner, dict) or "points" not in inner:
                raise Malformed(f"group {name!r} has no landmarks.points list")
            candidates.append(_as_list(inner["points"], f"groups.{name}.landmarks.points"))
        matching = [c for c in candidates if n_points is None or len(c) == n_points]
        return (matching or candidates)[0]
    raise Malformed("has no landmarks.points list (not a menpo .ljson layout)")


def _as_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise Malformed(f"has no list at {where}")
    return value


def _yx_to_xy(entries: list[Any]) -> np.ndarray:
    """Convert [[y, x] | null | [null, null], ...] to an (n, 2) (x, y) float array."""
    points = np.full((len(entries), 2), np.nan)
    for i, entry in enumerate(entries):
        if entry is None:
            continue
        if not isinstance(entry, list) or len(entry) != 2:
            raise Malformed(f"point {i} is not a [y, x] pair: {json.dumps(entry)[:40]}")
        for j, value in enumerate(entry):
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise Malformed(f"point {i} has a malformed number {json.dumps(value)[:20]}")
            points[i, 1 - j] = float(value)
    return points
