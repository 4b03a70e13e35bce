"""Data generation: photo-realistic re-renderings of fitted faces with exact labels.

- :mod:`.variations` draws new expressions and poses reproducibly;
- :mod:`.background` warps the photo so its surroundings follow the re-posed face;
- :mod:`.synthesis` fits once and renders samples (:func:`generate`, :func:`iter_samples`);
- :mod:`.dataset` runs a whole folder to disk, resumably, on a process pool or a Dask cluster.
"""

from .synthesis import Sample, Synthesizer, generate, iter_samples
from .variations import PoseRanges

__all__ = ["PoseRanges", "Sample", "Synthesizer", "generate", "iter_samples"]
