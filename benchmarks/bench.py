"""``facefit bench`` from a checkout: ``python benchmarks/bench.py [options]`` (same options)."""

from __future__ import annotations

import sys

from facefit.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
