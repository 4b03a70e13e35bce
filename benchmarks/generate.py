"""Benchmark: data generation throughput and memory (issue 7).

Run: ``python benchmarks/generate.py [--samples 100] [--image PATH] [--json FILE]``.

Generates ``--samples`` samples of one 512x512 photo to disk with the streaming runner
(``facefit generate``'s code path, one process), and reports the fit time, samples per second
per core (rendering and writing, after the fit), and the process's resident memory after every
sample: it should stay flat (samples are streamed to disk, nothing is held).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import machine, resident_mib
from facefit.generate.dataset import generate_dataset

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=str(SHARED / "samples" / "astronaut.png"))
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    memory: list[float] = []
    stamps: list[float] = []

    def progress(done: int, total: int, label: str) -> None:
        stamps.append(time.perf_counter())
        memory.append(resident_mib())

    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        generate_dataset(args.image, out, args.samples, progress=progress)
        total = time.perf_counter() - start
    per_sample = (stamps[-1] - stamps[0]) / max(len(stamps) - 1, 1)
    first_fit = stamps[0] - start - per_sample
    tail = memory[len(memory) // 10:]
    row = {"samples": len(stamps), "seconds": total,
           "fit_and_first_sample_s": first_fit + per_sample,
           "sample_s": per_sample, "samples_per_s_per_core": 1.0 / per_sample,
           "rss_mib_after_10pct": tail[0], "rss_mib_end": memory[-1],
           "rss_mib_max": max(memory), "rss_growth_mib": memory[-1] - tail[0]}
    print(f"{row['samples']} samples of {Path(args.image).name} in {total:.1f} s: "
          f"{per_sample * 1e3:.0f} ms per sample ({row['samples_per_s_per_core']:.1f} samples/s "
          f"on one core) after a {first_fit:.2f} s fit")
    print(f"resident memory: {tail[0]:.0f} MiB after 10% of the samples, {memory[-1]:.0f} MiB at "
          f"the end (growth {row['rss_growth_mib']:+.1f} MiB), max {row['rss_mib_max']:.0f} MiB")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "row": row}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
