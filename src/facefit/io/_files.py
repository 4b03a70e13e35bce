"""File-system helpers shared by the readers and writers: existence checks and atomic writes."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from ..errors import FacefitError, OutputError

__all__ = ["TEMPORARY_NAME", "atomic_write_bytes", "display_name", "os_reason", "readable_file",
           "writable_folder"]

PathLike = str | os.PathLike[str]

#: The names :func:`atomic_write_bytes` gives its temporary files: ``.NAME.<12 hex>.tmp``. A
#: killed writer leaves one behind; a resumed run may remove what matches (and nothing else).
TEMPORARY_NAME = re.compile(r"^\..+\.[0-9a-f]{12}\.tmp$")


def display_name(path: PathLike) -> str:
    """``path`` as the user wrote it, for error messages."""
    return os.fspath(path)


def os_reason(exc: BaseException) -> str:
    """A short reason for an :class:`OSError` (its ``strerror``) or any other exception."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc).strip()
    return text or type(exc).__name__


def readable_file(path: PathLike, what: str, error: type[FacefitError]) -> Path:
    """``path`` as a :class:`Path` after checking that it names an existing regular file.

    Parameters
    ----------
    path : the file to read.
    what : the noun naming the kind of input in messages ("image", "landmarks", "mesh").
    error : the :class:`FacefitError` subclass to raise.

    Raises
    ------
    error
        "<what> '<path>': no such file" or "...: is a directory".
    """
    p = Path(path)
    if p.is_dir():
        raise error(f"{what} '{display_name(path)}': is a directory, not a file")
    if not p.is_file():
        raise error(f"{what} '{display_name(path)}': no such file")
    return p


def read_file_bytes(path: PathLike, what: str, error: type[FacefitError]) -> bytes:
    """The bytes of the file ``path``, checked as :func:`readable_file` does; an OS error while
    reading is ``error`` too ("<what> '<path>': cannot be read (<reason>)")."""
    file = readable_file(path, what, error)
    try:
        return file.read_bytes()
    except OSError as exc:
        raise error(f"{what} '{display_name(path)}': cannot be read ({os_reason(exc)})") \
            from exc


def checked_suffix(path: PathLike, allowed: tuple[str, ...], what: str,
                   error: type[FacefitError]) -> str:
    """The lower-case suffix of ``path`` if it is one of ``allowed``; else ``error`` naming
    the path and the suffixes allowed."""
    suffix = Path(path).suffix.lower()
    if suffix not in allowed:
        raise error(f"{what} '{display_name(path)}': unknown suffix {Path(path).suffix!r}; "
                    f"use {', '.join(allowed)}")
    return suffix


def writable_folder(path: PathLike) -> Path:
    """The output folder ``path``, created if missing, once checked to be a writable folder.

    Callers check it before any work starts: an unusable output folder is bad input for every
    photo, not a failure of each.

    Raises
    ------
    OutputError
        ``path`` is a file, cannot be created (a read-only file system, a file on the way) or
        cannot be written.
    """
    folder = Path(path)
    name = display_name(path)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"output folder '{name}': is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"output folder '{name}': cannot be created ({os_reason(exc)})") \
            from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"output folder '{name}': cannot be written (permission denied or a "
                          "read-only file system)")
    return folder


def atomic_write_bytes(path: PathLike, data: bytes, what: str, error: type[FacefitError]) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file in the same folder, then replace.

    Readers never see a partly written file; an existing file is replaced in one step. The
    temporary file is created with the usual permissions (mode 0o666 less the umask).

    Raises
    ------
    error
        "<what> '<path>': cannot be written (<reason>)" on any operating-system error.
    """
    target = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    tmp: Path | None = None
    try:
        for _ in range(100):
            candidate = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
            try:
                fd = os.open(candidate, flags, 0o666)
            except FileExistsError:
                continue
            tmp = candidate
            break
        else:  # pragma: no cover - 100 collisions of 48-bit random names
            raise FileExistsError(17, "cannot create a temporary file")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        raise error(
            f"{what} '{display_name(path)}': cannot be written ({os_reason(exc)})"
        ) from exc
    finally:
        if tmp is not None:
            try:
                tmp.unlink()
            except OSError:
                pass
