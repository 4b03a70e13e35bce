"""Rendering: rasterize (discrete) -> interpolate -> shade -> composite (smooth)."""

from ..forward import FaceState, linear_combination
from .face import RenderResult, pose_faces, render, render_batch
from .interpolate import interpolate
from .landmarks import landmark_vertices, marching_table
from .rasterize import Rasterization, rasterize
from .visibility import visible_vertices

__all__ = [
    "FaceState",
    "Rasterization",
    "RenderResult",
    "interpolate",
    "landmark_vertices",
    "linear_combination",
    "marching_table",
    "pose_faces",
    "rasterize",
    "render",
    "render_batch",
    "visible_vertices",
]
