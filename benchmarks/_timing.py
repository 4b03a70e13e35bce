"""Shared helpers for the benchmark scripts: timing (warm-up, repeats, min and median),
resident memory, and the machine the figures were measured on."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def measure(fn: Callable[[], Any], *, repeats: int = 20, warmup: int = 3) -> dict[str, float]:
    """Time ``fn`` after ``warmup`` calls: min and median seconds over ``repeats`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {"min_s": min(times), "median_s": statistics.median(times), "repeats": repeats}


def resident_mib() -> float:
    """Resident set size of this process in MiB (Linux /proc; 0 elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import numpy

    info: dict[str, Any] = {"python": platform.python_version(), "machine": platform.machine(),
                            "processor": platform.processor() or platform.machine(),
                            "cores": os.cpu_count(), "numpy": numpy.__version__}
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    return info
