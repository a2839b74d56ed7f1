"""Files specc writes, and the files it reads that are not specs: the one module that writes files.

Takes paths and text; writes, removes and reads regular files, and decides what specc may touch:

- `read_regular(path, limit)`: the bytes of a regular file, opened without following a symlink in
  its last component and without blocking (a FIFO, a device or a socket is refused, never opened
  for reading; a FIFO's writer is never waited for);
- `write_file(path, text, owned=..., mode=..., within=...)`: written to a temporary file in the same
  directory and renamed over the target, so a reader never sees half a file and an interrupted run
  leaves the old one. It never follows a symlink (the target, or a parent outside `within`), never
  replaces anything but a regular file, and never replaces a file that `owned(existing bytes)` says
  specc did not write;
- `remove_file(path, owned)`: the same ownership rule for deletes;
- `make_directory(path)`: a directory to write into, or a clear error.

Every refusal is a `SpeccError` (`FileRefused`, exit 1) whose message names the path and the reason.
Must not print, and must not decide what to write (callers do).
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

from specc.diagnostics import Diagnostic, SpeccError

Ownership = Callable[[bytes], bool]
# Files are read to decide ownership or to load a saved plan: bounded, as everything read is.
MAX_READ = 64 * 1024 * 1024


class FileRefused(SpeccError):  # noqa: N818 - a refusal, named like LockHeld
    """specc refused to read, write or remove a file (exit 1)."""


def refused(code: str, path: Path | str, message: str, hint: str | None = None) -> FileRefused:
    return FileRefused([Diagnostic(code, f"{path}: {message}", hint=hint)])


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "not a regular file"


def read_regular(path: Path | str, limit: int = MAX_READ, *, code: str = "F801", follow: bool = False) -> bytes:
    """The bytes of a regular file (at most `limit` + 1 of them, so a caller can tell it is too big).
    A FIFO, a device or a directory is refused without blocking; so is a symlink as the last
    component unless `follow` (reading a file the user named through a link is harmless)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise refused(code, path, "is a symbolic link; specc does not follow it here",
                          hint="give the file it points to") from None
        raise refused(code, path, f"cannot read it: {_reason(exc)}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise refused(code, path, f"is {kind_of(info.st_mode)}, not a regular file")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise refused(code, path, f"cannot read it: {_reason(exc)}") from None
    finally:
        os.close(fd)


def make_directory(path: Path, *, code: str = "F802") -> None:
    """Create `path` (and its parents) as a directory, or say why it cannot be one."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise refused(code, path, f"cannot use it as a directory: {_reason(exc)}") from None
    if info is not None:
        if stat.S_ISLNK(info.st_mode) and path.is_dir():
            return  # a symlinked output directory the user named: its files are still checked one by one
        if not stat.S_ISDIR(info.st_mode):
            raise refused(code, path, f"is {kind_of(info.st_mode)}, not a directory")
        return
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise refused(code, path, f"cannot create the directory: {_reason(exc)}") from None


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve(strict=False).relative_to(root.resolve(strict=False))
    except (ValueError, OSError, RuntimeError):
        return False
    return True


def _check_target(path: Path, owned: Ownership | None, within: Path | None, code: str,
                  hint: str | None) -> bool:
    """Whether `path` exists; raises when specc must not replace it."""
    if within is not None and not _inside(path.parent, within):
        raise refused(code, path, f"is outside {within} (through a symbolic link); specc writes only inside it")
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise refused(code, path, f"cannot write it: {_reason(exc)}") from None
    if stat.S_ISLNK(info.st_mode):
        raise refused(code, path, "is a symbolic link; specc never writes through one",
                      hint="remove the link, or write somewhere else")
    if not stat.S_ISREG(info.st_mode):
        raise refused(code, path, f"is {kind_of(info.st_mode)}; specc replaces only regular files it wrote")
    if owned is not None and not owned(read_regular(path, code=code)):
        raise refused(code, path, "exists and was not written by specc; it is left as it is", hint=hint)
    return True


def check_replaceable(path: Path, owned: Ownership | None, *, code: str = "F803", hint: str | None = None) -> None:
    """Raise now if `write_file(path, ..., owned=owned)` would refuse `path` (before any other work)."""
    if path.parent != path and not path.parent.is_dir():
        raise refused(code, path, f"cannot write it: {path.parent} is not a directory")
    _check_target(path, owned, None, code, hint)


def write_file(path: Path, text: str, *, owned: Ownership | None = None, mode: int = 0o644,
               within: Path | None = None, code: str = "F803", hint: str | None = None) -> None:
    """Write `text` to `path` atomically (temp file + rename) with permissions `mode`. An existing
    file is replaced only if it is a regular file (not a symlink) and `owned` accepts its bytes."""
    existed = _check_target(path, owned, within, code, hint)
    try:
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise refused(code, path, f"cannot write it: {_reason(exc)}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), mode)
            out.write(text)
        if existed:
            _check_target(path, owned, within, code, hint)  # nothing replaced it with a link meanwhile
        os.replace(temp, path)
    except BaseException as exc:
        Path(temp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise refused(code, path, f"cannot write it: {_reason(exc)}") from None
        raise


def remove_file(path: Path, owned: Ownership, *, code: str = "F804") -> bool:
    """Remove `path` if it is a regular file that `owned` accepts; False when it is already gone."""
    if not _check_target(path, owned, None, code, None):
        return False
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise refused(code, path, f"cannot remove it: {_reason(exc)}") from None
    return True
