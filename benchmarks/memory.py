"""Peak memory of ``facefit fit`` as users run it: a whole process per photo, photos up to 8000 px.

Each photo is the shipped sample scaled up (so the face grows with the photo, the hard case:
a larger face would need a larger working image without the working frame), written as PNG
with its scaled landmarks; then ``facefit fit PHOTO --out DIR`` runs in a fresh process and its
peak resident memory (``ru_maxrss`` of the child) and wall time are read.

    python benchmarks/memory.py                 # 512, 2048, 4096 and 8000 pixels a side
    python benchmarks/memory.py --sizes 8000 --json memory.json

Target (issue 20): an 8000 x 8000 photo under 1.5 GB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from importlib.resources import files
from pathlib import Path

from PIL import Image

import facefit as ff
from _timing import machine


def scaled_sample(folder: Path, side: int) -> Path:
    """The shipped sample photo scaled to ``side`` pixels, with its landmarks scaled too."""
    samples = files("facefit") / "data" / "samples"
    with Image.open(samples / "astronaut.png") as sample:
        factor = side / sample.width
        big = sample.convert("RGB").resize((side, side), Image.Resampling.BICUBIC)
    photo = folder / f"photo_{side}.png"
    big.save(photo, compress_level=1)
    points = ff.read_landmarks(samples / "astronaut.pts")
    ff.write_landmarks(photo.with_suffix(".pts"), (points + 0.5) * factor - 0.5)
    return photo


def peak_of_fit(photo: Path, out: Path) -> dict[str, float]:
    """Run ``facefit fit`` on ``photo`` in a child process: its peak memory and wall time.

    ``ru_maxrss`` of RUSAGE_CHILDREN is the largest child a process has waited for, so each
    measurement runs in a fresh ``python -c`` wrapper that has waited for this one child only.
    """
    probe = ("import resource, subprocess, sys, time;"
             "t = time.perf_counter();"
             "done = subprocess.run([sys.executable, '-m', 'facefit', 'fit', sys.argv[1],"
             " '--out', sys.argv[2], '-q']);"
             "print(done.returncode, time.perf_counter() - t,"
             " resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    done = subprocess.run([sys.executable, "-c", probe, str(photo), str(out)],
                          capture_output=True, text=True, check=True)
    status, seconds, peak_kb = done.stdout.split()
    if status != "0":
        raise SystemExit(f"facefit fit {photo} failed: {done.stderr}")
    return {"seconds": float(seconds), "peak_mb": int(peak_kb) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="512,2048,4096,8000")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for side in (int(s) for s in args.sizes.split(",")):
            photo = scaled_sample(folder, side)
            row = {"side": side, **peak_of_fit(photo, folder / "out")}
            data = json.loads((folder / "out" / f"{photo.stem}.params.json").read_text())
            row["working_frame"] = data.get("working_frame")
            rows.append(row)
            frame = row["working_frame"]
            print(f"{side:>5} x {side:<5} peak {row['peak_mb']:7.0f} MB   "
                  f"{row['seconds']:6.1f} s   "
                  + ("fitted as it is" if frame is None else
                     f"working frame {frame['size'][1]}x{frame['size'][0]}, "
                     f"step {frame['step']:.2f}"))
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() \
        else []
    print(f"load average while measuring: {' '.join(load)}")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"machine": machine(), "rows": rows, "date": time.strftime("%Y-%m-%d"),
             "load": load}, indent=2))


if __name__ == "__main__":
    main()
