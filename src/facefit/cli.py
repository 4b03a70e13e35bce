"""The ``facefit`` command line: a thin shell over the library.

Every error a user can cause ends as exit status 2 and one line on stderr naming the input.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import math
import platform
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from .backends import Backend, array_library, available_backends, get_backend
from .errors import FacefitError, FitWarning

__all__ = ["main"]

_EPILOG = """examples:
  facefit info                          what this machine can run
  facefit demo --out demo               fit the shipped sample photo, write the results to demo/
  facefit fit photo.jpg                 landmarks from photo.pts, else detected; results
                                        in ./facefit-out
  facefit fit group.jpg --all-faces     every face: group.face1.*, group.face2.*, ...
  facefit detect *.jpg --out points     NAME.pts (300-W layout), NAME.outline.pts (the
                                        face's outline, which a fit of NAME.pts reads) and
                                        NAME.overlay.png
  facefit fit a.png b.png --backend torch --jacobian autograd --out results
  facefit fit face.png --model 01_MorphableModel.mat --companion trim=model_info.mat \\
      --companion expression=Exp_Pca.bin --companion expression_std=std_exp.txt
  facefit generate 300W/ --out dataset --per-image 30 --workers 2
  facefit generate 300W/ --out /shared/dataset --scheduler tcp://10.0.0.5:8786

environment: FACEFIT_BACKEND (numpy|torch|cupy), FACEFIT_DEVICE (cpu, cuda:0, ...),
FACEFIT_DTYPE (float64|float32); command-line options override them.
"""


class _VersionAction(argparse.Action):
    """``--version``, reading the installed version only when asked (see facefit.__getattr__)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        print(f"facefit {_version()}")
        parser.exit(0)


def _version() -> str:
    from ._version import __version__

    return __version__


def _library_version(name: str) -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version(array_library(name).module)
    except importlib.metadata.PackageNotFoundError:
        return "?"


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
    print(f"facefit {_version()} (Python {platform.python_version()}, {platform.machine()})")
    print(f"active backend: {active.name}, device {active.device}, {active.dtype_name}")
    print("backends available here:")
    for name in available_backends():
        devices = ", ".join(array_library(name).devices())
        print(f"  {name:<17} {_library_version(name):<12} devices: {devices}")
    print(f"default model: {_default_model_line()}")
    from .detect.info import detector_lines

    print("face detectors (photos without a landmark file):")
    for line in detector_lines():
        print(f"  {line}")
    return 0


class _Progress:
    """Progress on stderr after each finished item: on a TTY, one line redrawn in place with
    the count and ETA; elsewhere (a log file, a pipe) nothing, or with ``lines`` a plain line
    per item, so that the logs of long runs show how far they got."""

    def __init__(self, total: int, enabled: bool, *, lines: bool = False):
        self.tty = sys.stderr.isatty()
        self.total, self.done = total, 0
        self.enabled = enabled and (self.tty or lines)
        self.start = time.perf_counter()

    def step(self, label: str) -> None:
        self.done += 1
        if not self.enabled:
            return
        if not self.tty:
            print(f"facefit: [{self.done}/{self.total}] {label}", file=sys.stderr, flush=True)
            return
        elapsed = time.perf_counter() - self.start
        eta = elapsed / self.done * (self.total - self.done)
        end = "\n" if self.done == self.total else ""
        print(f"\r[{self.done}/{self.total}] {label[:40]:<40} ETA {eta:5.1f}s", end=end,
              file=sys.stderr, flush=True)


def _chosen_backend(args: argparse.Namespace) -> contextlib.AbstractContextManager[Backend]:
    """The backend that ``--backend``/``--device``/``--dtype`` choose, active inside a
    ``with`` block (the environment's where none is given); a bad one raises here."""
    from .backends import use_backend

    if args.backend or args.device or args.dtype:
        name = args.backend or get_backend().name
        return use_backend(name, device=args.device, dtype=args.dtype)
    return contextlib.nullcontext(get_backend())


def _companions(args: argparse.Namespace) -> dict[str, str]:
    """``--companion NAME=FILE`` options as the loaders' keywords (``expression-std`` is
    ``expression_std``): parsed here once, for the early check and for every worker alike."""
    if args.companion and not args.model:
        raise FacefitError("--companion needs --model")
    companions = {}
    for item in args.companion or []:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise FacefitError(f"--companion {item!r}: expected NAME=FILE")
        companions[key.replace("-", "_")] = value
    return companions


def _load_model(args: argparse.Namespace) -> Any:
    from .model import load_model

    companions = _companions(args)
    return load_model(args.model, **companions) if args.model else load_model()


def _fit_images(images: Sequence[str], landmark_files: Sequence[str | None], out: Path,
                args: argparse.Namespace) -> int:
    from .detect.source import photo_landmarks
    from .fit import fit
    from .fit.inputs import check_jacobian
    from .io._files import writable_folder
    from .outputs import write_fit_outputs

    failures = 0
    with _chosen_backend(args) as backend:
        check_jacobian(args.jacobian, backend)
        out = writable_folder(out)
        model = _load_model(args)
        progress = _Progress(len(images), not args.quiet)
        for image_path, landmark_path in zip(images, landmark_files, strict=True):
            try:
                # The photo and a landmark file go in by name: fit reads them (a large photo
                # never whole as floats) and names them in its messages.
                for stem, points in photo_landmarks(
                        image_path, landmark_path, getattr(args, "detector", "mediapipe"),
                        getattr(args, "all_faces", False), _stderr if args.verbose else None):
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", FitWarning)  # printed below, once
                        result = fit(image_path, points, model, jacobian=args.jacobian,
                                     max_iterations=args.max_iterations)
                    paths = write_fit_outputs(result, out, stem, source=image_path,
                                              model_name=model.name)
                    for doubt in result.warnings:
                        print(f"facefit: warning: {doubt}", file=sys.stderr)
                    if args.verbose:
                        print(f"{image_path}: energy {result.energy:.6g} in "
                              f"{result.seconds:.2f} s", file=sys.stderr)
                    if not args.quiet:
                        kinds = ",".join(paths)
                        print(f"{image_path} -> {paths['params.json'].parent}/"
                              f"{stem}.{{{kinds}}}")
            except FacefitError as exc:
                failures += 1
                print(f"facefit: error: {exc}", file=sys.stderr)
            except MemoryError:
                failures += 1
                print(f"facefit: error: image '{image_path}': out of memory while fitting it",
                      file=sys.stderr)
            progress.step(image_path)
    if failures == 0:
        return 0
    return 2 if failures == len(images) else 1


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def _fit(args: argparse.Namespace) -> int:
    if args.landmarks and len(args.images) > 1:
        raise FacefitError("--landmarks names one file; with several images, put NAME.pts "
                           "beside each image")
    return _fit_images(args.images, [args.landmarks] * len(args.images), Path(args.out), args)


def _demo(args: argparse.Namespace) -> int:
    from importlib.resources import as_file, files

    samples = files("facefit") / "data" / "samples"
    with as_file(samples / "astronaut.png") as image, as_file(samples / "astronaut.pts") as points:
        status = _fit_images([str(image)], [str(points)], Path(args.out), args)
    if status == 0 and not args.quiet:
        print(f"demo: open {Path(args.out).resolve()}/astronaut.overlay.png and "
              f"astronaut.render.png; astronaut.obj opens in Blender or MeshLab")
    return status


def _reveal(text: str) -> float | None:
    """``--reveal``: degrees >= 0, or 'none'."""
    if text.strip().lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected degrees or 'none', got {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected degrees >= 0 or 'none', got {text!r}")
    return value


def _angle_range(text: str) -> tuple[float, float]:
    low, sep, high = text.partition(",")
    try:
        return (float(low), float(high)) if sep else (-abs(float(low)), abs(float(low)))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH or SPREAD degrees, got {text!r}")\
            from None


def _generate(args: argparse.Namespace) -> int:
    from .generate import PoseRanges
    from .generate.dataset import generate_dataset

    with _chosen_backend(args):
        model = None
        if args.model:
            _load_model(args)  # check the model and companions here, before any work starts
            model = (args.model, _companions(args))
        elif args.companion:
            _companions(args)  # refused without --model, before any work starts
        poses = PoseRanges(yaw=args.yaw, pitch=args.pitch, roll=args.roll, reveal=args.reveal)
        bar = _Progress(0, not args.quiet, lines=True)  # a line per photo in logs

        def progress(done: int, total: int, label: str) -> None:
            bar.total = total
            bar.step(label)

        options = {} if args.max_iterations is None else {"max_iterations": args.max_iterations}
        options["detector"] = args.detector  # photos without a .pts are detected (not "none")
        counts = generate_dataset(args.input, args.out, args.per_image, seed=args.seed,
                                  workers=args.workers, scheduler=args.scheduler, model=model,
                                  poses=poses, retry_errors=args.retry_errors,
                                  progress=progress, jacobian=args.jacobian, **options)
    if not args.quiet:
        broken = f" ({counts['broken']} damaged ones made again)" if counts["broken"] else ""
        print(f"{args.out}: {counts['samples']} samples written{broken}, {counts['already']} "
              f"already done, {counts['errors']} photos failed (see errors.jsonl), "
              f"{counts['skipped']} skipped after earlier errors")
    if counts["errors"] and not counts["samples"] and not counts["already"]:
        return 2
    return 1 if counts["errors"] else 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _add_fit_options(parser: argparse.ArgumentParser, default_out: str) -> None:
    parser.add_argument("--out", default=default_out, help=f"output folder (default {default_out})")
    parser.add_argument("--model", help="model file (default: the embedded ICT face model)")
    parser.add_argument("--companion", action="append", metavar="NAME=FILE",
                        help="companion file of the model, e.g. trim=model_info.mat (repeatable)")
    parser.add_argument("--backend", help="numpy, torch or cupy (default $FACEFIT_BACKEND)")
    parser.add_argument("--device", help="e.g. cpu, cuda:0 (default $FACEFIT_DEVICE)")
    parser.add_argument("--dtype", help="float64 or float32 (default $FACEFIT_DTYPE)")
    parser.add_argument("--jacobian", default="analytic",
                        help="analytic (default), complex-step or autograd")
    parser.add_argument("--max-iterations", type=_positive_int, default=None,
                        help="LM iterations per round, at least 1 (default 10)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    parser.add_argument("-v", "--verbose", action="store_true", help="print energies and times")


class _Parser(argparse.ArgumentParser):
    """Bad options end like every other bad input: one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("facefit").strip()
        self.exit(2, f"facefit: error: {command + ': ' if command else ''}{message} "
                     f"(see {self.prog} --help)\n")


def _add_detect_options(parser: argparse.ArgumentParser, with_none: bool) -> None:
    choices = ("mediapipe", "dlib", "none") if with_none else ("mediapipe", "dlib")
    parser.add_argument("--detector", default="mediapipe", choices=choices,
                        help="face detector for photos without a landmark file: mediapipe "
                             "(default, facefit[detect]), dlib (facefit[dlib], non-commercial "
                             "weights)" + (", or none (require a .pts)" if with_none else ""))
    parser.add_argument("--all-faces", action="store_true",
                        help="every detected face (outputs NAME.face1.*, NAME.face2.*, largest "
                             "first) instead of the largest")


def _detect(args: argparse.Namespace) -> int:
    from .detect.command import detect_images

    return detect_images(args.images, Path(args.out), args.detector, args.all_faces,
                         quiet=args.quiet, verbose=args.verbose)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``facefit`` command."""
    parser = _Parser(
        prog="facefit",
        description="Fit a 3D morphable face model to photos by inverse rendering.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_VersionAction, nargs=0,
                        help="show program's version number and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    info = commands.add_parser("info", help="version, backends and devices here, default model")
    info.set_defaults(handler=_info)
    demo = commands.add_parser("demo", help="fit the shipped sample photo and write the results")
    _add_fit_options(demo, "facefit-demo")
    demo.set_defaults(handler=_demo)
    fit = commands.add_parser("fit", help="fit photos; writes params, mesh, render, overlay",
                              epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    fit.add_argument("images", nargs="+", metavar="IMAGE")
    fit.add_argument("--landmarks", help="landmark file (default: IMAGE with suffix .pts, "
                     "else detected)")
    _add_fit_options(fit, "facefit-out")
    _add_detect_options(fit, with_none=True)
    fit.set_defaults(handler=_fit)
    generate = commands.add_parser(
        "generate", help="re-render fitted photos with new expressions and poses (a dataset)",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    generate.add_argument("input", metavar="INPUT",
                          help="an image (landmarks in IMAGE.pts) or a folder of images with "
                               ".pts files beside them, searched recursively")
    _add_fit_options(generate, "facefit-generated")
    generate.add_argument("--detector", default="mediapipe",
                          choices=("mediapipe", "dlib", "none"),
                          help="for photos without a .pts: mediapipe (default), dlib, or none "
                               "(skip them)")
    generate.add_argument("--per-image", type=int, default=30, help="samples per photo (30)")
    generate.add_argument("--workers", type=int, default=1, help="local processes (1)")
    generate.add_argument("--scheduler", metavar="ADDRESS",
                          help="run on this Dask distributed scheduler instead (tcp://host:port)")
    generate.add_argument("--seed", type=int, default=0, help="random seed (0)")
    for name, default in (("yaw", "-40,40"), ("pitch", "-15,15"), ("roll", "-10,10")):
        generate.add_argument(f"--{name}", type=_angle_range, default=_angle_range(default),
                              metavar="LOW,HIGH", help=f"{name} range in degrees ({default})")
    generate.add_argument("--reveal", type=_reveal, default=45.0, metavar="DEGREES",
                          help="turn a face at most this far toward the side its photo hardly "
                               "saw (45 from a frontal photo, less from a turned one; 'none' "
                               "lifts the limit)")
    generate.add_argument("--retry-errors", action="store_true",
                          help="retry photos recorded in errors.jsonl")
    generate.set_defaults(handler=_generate)
    detect = commands.add_parser("detect", help="find faces and write their 68 landmarks "
                                 "(NAME.pts, 1-based 300-W layout), their outline "
                                 "(NAME.outline.pts) and an overlay")
    detect.add_argument("images", nargs="+", metavar="IMAGE")
    detect.add_argument("--out", default="facefit-detected",
                        help="output folder (default facefit-detected)")
    _add_detect_options(detect, with_none=False)
    detect.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    detect.add_argument("-v", "--verbose", action="store_true", help="print boxes and scores")
    detect.set_defaults(handler=_detect)
    bench = commands.add_parser("bench", help="time stages, Jacobians, whole fits and baselines",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    _bench_module().add_arguments(bench)
    bench.set_defaults(handler=lambda args: _bench_module().run(args))
    return parser


def _bench_module() -> Any:
    return importlib.import_module("facefit.bench")


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
