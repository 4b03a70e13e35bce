"""facefit's own model file: a compressed ``.npz`` holding every field of a model.

Bases may be stored quantised (``NAME_q`` int16 plus a per-component scale ``NAME_scale``) to
keep files small: the error is at most half a quantisation step, 1/65534 of each component's
largest magnitude.

This module is the file format alone (a model's fields to bytes and back): it does not know
the model class, so that :class:`~facefit.model.MorphableModel` can save itself here without an
import cycle. :func:`facefit.model.formats.load_npz` builds the model from :func:`read_npz`.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ModelError

__all__ = ["read_npz", "save_npz"]

FORMAT = "facefit-model"
_BASES = ("identity_basis", "expression_basis", "albedo_basis")
_ARRAYS = ("mean_shape", "identity_std", "expression_std", "albedo_mean", "albedo_std",
           "triangles", "landmark_indices", "jaw_candidates")


def _quantise(basis: Any) -> tuple[Any, Any]:
    peak = np.abs(basis).max(axis=(0, 1))
    scale = np.where(peak > 0, peak / 32767.0, 1.0)
    return np.round(basis / scale).astype(np.int16), scale


def save_npz(model: Any, path: Any, *, quantise: bool = False,
             mean_dtype: str = "float64", compress: bool = True) -> None:
    """Write ``model`` (a :class:`~facefit.model.MorphableModel`) to ``path`` (atomically).
    ``quantise`` stores the bases as int16; ``compress=False`` stores the arrays uncompressed
    (the embedded default: loading it then takes no inflating, about half its load time,
    for a file about 50% larger)."""
    path = Path(path)
    data: dict[str, Any] = {"format": np.array(FORMAT), "version": np.array(1),
                            "name": np.array(model.name), "units": np.array(model.units),
                            "metadata": np.array(json.dumps(model.metadata))}
    for name in _ARRAYS:
        value = getattr(model, name)
        data[name] = value.astype(mean_dtype) if value.dtype.kind == "f" else value.astype(
            np.int32)
    if getattr(model, "outline_indices", None) is not None:
        data["outline_indices"] = np.asarray(model.outline_indices).astype(np.int32)
    for name in _BASES:
        basis = getattr(model, name)
        if quantise:
            data[f"{name}_q"], data[f"{name}_scale"] = _quantise(basis)
        else:
            data[name] = basis
    handle, temporary = tempfile.mkstemp(dir=path.parent or ".", suffix=".npz")
    os.close(handle)
    try:
        (np.savez_compressed if compress else np.savez)(temporary, **data)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def read_npz(path: Any) -> dict[str, Any]:
    """The fields of a model written by :func:`save_npz`: the keyword arguments of
    :class:`~facefit.model.MorphableModel`."""
    label = str(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            files = set(archive.files)
            if "format" not in files or str(archive["format"]) != FORMAT:
                raise ModelError(f"model file {label!r}: not a facefit model (.npz without "
                                 f"'format': {FORMAT!r})")
            missing = [n for n in _ARRAYS if n not in files] + [
                n for n in _BASES if n not in files and f"{n}_q" not in files]
            if missing:
                raise ModelError(f"model file {label!r}: missing arrays {', '.join(missing)}")
            fields = {name: archive[name] for name in _ARRAYS}
            if "outline_indices" in files:  # optional (files before it have none)
                fields["outline_indices"] = archive["outline_indices"]
            for name in _BASES:
                if name in files:
                    fields[name] = archive[name].astype(np.float64)
                else:
                    fields[name] = archive[f"{name}_q"].astype(np.float64) * archive[
                        f"{name}_scale"].astype(np.float64)
            metadata = json.loads(str(archive["metadata"])) if "metadata" in files else {}
            return {"name": str(archive["name"]), "units": str(archive["units"]),
                    "metadata": metadata, **fields}
    except ModelError:
        raise
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise ModelError(f"model file {label!r}: cannot be read as .npz ({exc})") from None
