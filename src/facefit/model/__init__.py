"""Morphable face models: the model class, the embedded default and loaders for real formats."""

from __future__ import annotations

import functools
from importlib.resources import as_file, files
from typing import Any

from ..errors import ModelError
from .albedo import build_albedo
from .contours import jaw_candidates, jaw_underside, respace_jaw
from .morphable_model import ModelArrays, MorphableModel

__all__ = ["DEFAULT_MODEL_FILE", "ModelArrays", "MorphableModel", "build_albedo",
           "jaw_candidates", "jaw_underside", "load_model", "respace_jaw"]

#: The embedded default: the ICT Face Model Light's narrow face area (MIT licence).
DEFAULT_MODEL_FILE = "ict_face_model.npz"


@functools.lru_cache(maxsize=1)
def _default_model() -> MorphableModel:
    from .formats import load_npz

    resource = files("facefit") / "data" / DEFAULT_MODEL_FILE
    if not resource.is_file():
        raise ModelError(f"the embedded default model {DEFAULT_MODEL_FILE!r} is missing from "
                         "this installation (build it with tools/convert_ict.py)")
    with as_file(resource) as path:
        return load_npz(path)


def load_model(path: Any = None, **companions: Any) -> MorphableModel:
    """Load a morphable model.

    Parameters
    ----------
    path : None for the embedded default (ICT Face Model, no network), or a model file:
        facefit ``.npz``; Basel Face Model 2009 ``01_MorphableModel.mat`` (companions ``trim=``
        3DDFA ``model_info.mat``, ``expression=`` ``Exp_Pca.bin``, ``expression_std=``
        ``std_exp.txt``); face3d ``BFM.mat``; Basel 2017/2019 ``.h5`` (``landmarks=``);
        Surrey Face Model ``.bin`` (``blendshapes=``, ``landmarks=``, ``contours=``).
    **companions : companion files of the format, by name.

    Returns
    -------
    MorphableModel
        The default model is loaded once per process and shared.
    """
    if path is None:
        if companions:
            raise ModelError("the embedded default model takes no companion files")
        return _default_model()
    from .formats import read_model

    return read_model(path, **companions)
