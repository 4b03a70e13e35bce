"""The ``facefit`` command line: a thin shell over the library.

Every error a user can cause ends as exit status 2 and one line on stderr naming the input.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import platform
import sys
from collections.abc import Sequence

from . import __version__
from .backends import available_backends, get_backend
from .errors import FacefitError

__all__ = ["main"]

_EPILOG = """examples:
  facefit info                     what this machine can run
  FACEFIT_BACKEND=torch facefit info
"""


def _library_version(name: str) -> str:
    distribution = {"array-api-strict": "array_api_strict"}.get(name, name)
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _devices(name: str) -> list[str]:
    if name in ("numpy", "array-api-strict"):
        return ["cpu"]
    if name == "torch":
        torch = importlib.import_module("torch")
        gpus = [f"cuda:{i} ({torch.cuda.get_device_name(i)})"
                for i in range(torch.cuda.device_count())]
        return ["cpu", *gpus]
    cupy = importlib.import_module("cupy")
    return [f"cuda:{i}" for i in range(cupy.cuda.runtime.getDeviceCount())]


def _default_model_line() -> str:
    try:
        model_module = importlib.import_module("facefit.model")
    except ImportError:
        return "not installed"
    try:
        model = model_module.load_model()
    except FacefitError as exc:
        return f"unavailable ({exc})"
    return (f"{model.name}: {model.n_vertices} vertices, {model.triangles.shape[0]} triangles, "
            f"{model.n_identity} identity / {model.n_expression} expression / "
            f"{model.n_albedo} albedo components")


def _info(_: argparse.Namespace) -> int:
    active = get_backend()  # raises BackendError for a bad FACEFIT_BACKEND/DEVICE/DTYPE
    print(f"facefit {__version__} (Python {platform.python_version()}, {platform.machine()})")
    print(f"active backend: {active.name}, device {active.device}, {active.dtype_name}")
    print("backends available here:")
    for name in available_backends():
        print(f"  {name:<17} {_library_version(name):<12} devices: {', '.join(_devices(name))}")
    print(f"default model: {_default_model_line()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``facefit`` command."""
    parser = argparse.ArgumentParser(
        prog="facefit",
        description="Fit a 3D morphable face model to photos by inverse rendering.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"facefit {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    info = commands.add_parser("info", help="version, backends and devices here, default model")
    info.set_defaults(handler=_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 some work failed, 2 bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.handler(args))
    except FacefitError as exc:
        print(f"facefit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("facefit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
