"""Model file formats, detected from the file's suffix and content."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...errors import ModelError
from ..morphable_model import MorphableModel

__all__ = ["load_npz", "read_model"]


def load_npz(path: Any) -> MorphableModel:
    """Read a model written by :meth:`MorphableModel.save` (facefit's own ``.npz``)."""
    from .npz import read_npz

    return MorphableModel(**read_npz(path))


def read_model(path: Any, **companions: Any) -> MorphableModel:
    """Read a model file of any supported format; ``companions`` name its companion files."""
    path = Path(path)
    if path.is_dir():
        raise ModelError(f"model file {str(path)!r}: is a directory, not a model file")
    if not path.is_file():
        raise ModelError(f"model file {str(path)!r}: not found")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        if companions:
            raise ModelError(f"model file {str(path)!r}: a facefit .npz takes no companion "
                             f"files (got {', '.join(sorted(companions))})")
        return load_npz(path)
    if suffix == ".mat":
        from .matlab import load_mat

        return load_mat(path, **companions)
    if suffix in (".h5", ".hdf5"):
        from .bfm_h5 import load_bfm_h5

        return load_bfm_h5(path, **companions)
    if suffix == ".bin":
        from .sfm import load_sfm

        return load_sfm(path, **companions)
    raise ModelError(f"model file {str(path)!r}: unknown format {suffix or '(no suffix)'!r}; "
                     "expected .npz (facefit), .mat (Basel 2009 or face3d), .h5 (Basel "
                     "2017/2019) or .bin (Surrey, eos cereal)")
