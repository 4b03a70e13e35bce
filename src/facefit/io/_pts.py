"""The iBUG / 300-W ``.pts`` landmark format: 1-based ``x y`` lines between braces."""

from __future__ import annotations

import re

import numpy as np

from ._malformed import Malformed, is_number

__all__ = ["format_pts", "parse_pts"]

_HEADER = re.compile(r"^([A-Za-z_][\w ]*?)\s*:\s*(.*)$")


def parse_pts(text: str) -> tuple[np.ndarray, int | None]:
    """Parse the text of a ``.pts`` file.

    Tolerates a missing ``version`` line, CRLF line ends, blank lines and a file of bare
    ``x y`` lines without header or braces; ``nan`` coordinates mark missing points.

    Parameters
    ----------
    text : the file's contents.

    Returns
    -------
    points : (n, 2) float64 array of 0-based (x, y) pixel coordinates (1 subtracted), NaN
        where missing.
    declared : the ``n_points`` header's value, or None; the caller compares it with n.

    Raises
    ------
    Malformed
        Empty file, malformed header or number, or a missing brace.
    """
    lines = [(number, line.strip()) for number, line in enumerate(text.splitlines(), 1)]
    lines = [(number, line) for number, line in lines if line]
    if not lines:
        raise Malformed("is empty")
    open_at = next((i for i, (_, line) in enumerate(lines) if line == "{"), None)
    if open_at is None:
        header, body = [], lines
        if any(_HEADER.match(line) for _, line in lines):
            raise Malformed("has no opening '{' before the points")
    else:
        header = lines[:open_at]
        close_at = next(
            (i for i, (_, line) in enumerate(lines) if i > open_at and line == "}"), None
        )
        if close_at is None:
            raise Malformed("has no closing '}' after the points")
        if close_at != len(lines) - 1:
            number, line = lines[close_at + 1]
            raise Malformed(f"has unexpected text after '}}' on line {number}: {line[:40]!r}")
        body = lines[open_at + 1 : close_at]
    declared = _declared_count(header)
    points = np.array([_parse_point(number, line) for number, line in body], dtype=np.float64)
    points = points.reshape(-1, 2)
    return points - 1.0, declared


def format_pts(points: np.ndarray) -> str:
    """The ``.pts`` text for 0-based (n, 2) ``points``: version 1 header, 1-based, 6 decimals.

    NaN points are written as ``nan nan``.
    """
    rows = np.char.mod("%.6f", points + 1.0)
    body = "".join(f"{x} {y}\n" for x, y in rows) if len(rows) else ""
    return f"version: 1\nn_points: {len(points)}\n{{\n{body}}}\n"


def _declared_count(header: list[tuple[int, str]]) -> int | None:
    """The ``n_points`` value from the header lines, or None when absent."""
    declared = None
    for number, line in header:
        match = _HEADER.match(line)
        if match is None:
            raise Malformed(f"has a malformed header line {number}: {line[:40]!r}")
        key, value = match.group(1).strip().lower(), match.group(2).strip()
        if key == "n_points":
            try:
                declared = int(value)
            except ValueError:
                raise Malformed(
                    f"has a malformed n_points value {value[:20]!r} on line {number}"
                ) from None
            if declared < 0:
                raise Malformed(f"has a negative n_points value on line {number}")
    return declared


def _parse_point(number: int, line: str) -> tuple[float, float]:
    """One ``x y`` line (whitespace or comma separated) as two floats."""
    tokens = line.replace(",", " ").split()
    if len(tokens) != 2:
        raise Malformed(f"expected two numbers 'x y' on line {number}, found {line[:40]!r}")
    try:
        x, y = float(tokens[0]), float(tokens[1])
    except ValueError:
        bad = next(t for t in tokens if not is_number(t))
        raise Malformed(f"has a malformed number {bad[:20]!r} on line {number}") from None
    return x, y
