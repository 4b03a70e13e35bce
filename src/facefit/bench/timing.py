"""Warm-up, repeats, min and median; and what the figures were measured on."""

from __future__ import annotations

import importlib
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

__all__ = ["machine", "measure"]


def measure(fn: Callable[[], Any], *, repeats: int = 5, warmup: int = 1) -> dict[str, float]:
    """Seconds per call of ``fn`` after ``warmup`` calls: min and median over ``repeats``."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {"min_s": min(times), "median_s": statistics.median(times), "repeats": repeats}


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """CPU, cores, library versions and GPU (if any)."""
    info: dict[str, Any] = {"cpu": _cpu_model(), "cores": os.cpu_count(),
                            "python": platform.python_version(), "platform": platform.platform()}
    for name in ("numpy", "scipy", "torch", "cupy", "array_api_compat", "eos"):
        try:
            module = importlib.import_module(name)
            info[name] = getattr(module, "__version__", "?")
        except ImportError:
            continue
    try:
        torch = importlib.import_module("torch")
        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return info
