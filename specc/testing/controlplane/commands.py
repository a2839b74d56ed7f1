"""Running the installer's external commands, and quoting their output when they fail.

Takes argv lists; returns nothing or raises `ControlPlaneError` with the output's tail. `Runner` is the
seam the installer's steps go through, so that their order can be tested as pure logic with a runner
that only records. Must not print anything but progress lines on stderr.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from specc.testing.controlplane.errors import ControlPlaneError

LOG_TAIL_LINES = 40


class Runner(Protocol):
    """Runs one command to completion; raises ControlPlaneError naming `what` when it fails."""

    def __call__(self, cmd: Sequence[str], what: str, *, cwd: Path | None = None,
                 env: dict[str, str] | None = None, log: Path | None = None) -> None: ...


def progress(message: str) -> None:
    print(f"[specc controlplane] {message}", file=sys.stderr, flush=True)


def tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-lines:])


# klog fatal lines ("F1121 18:16:14...") and Go crashes: a crash's cause sits above a stack trace far
# longer than any tail, so such lines are quoted on their own.
_FATAL_LINE = re.compile(r"^(F\d{4} |panic: |fatal error: )")


def file_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    fatal = [line for line in text.splitlines() if _FATAL_LINE.match(line)][:5]
    quoted = "".join(f"{line}\n" for line in fatal)
    return f"{quoted}...\n{tail(text, lines)}" if quoted else tail(text, lines)


def run_checked(cmd: Sequence[str], what: str, *, cwd: Path | None = None,
                env: dict[str, str] | None = None, log: Path | None = None) -> None:
    """Run a command with its output captured (to `log` if given); raise with the output's tail."""
    if log is None:
        result = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                                text=True, check=False)
        output = result.stdout + result.stderr
        returncode = result.returncode
    else:
        with log.open("w") as out:
            returncode = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                        stderr=subprocess.STDOUT, check=False).returncode
        output = log.read_text(errors="replace")
    if returncode != 0:
        raise ControlPlaneError(f"{what} failed (exit {returncode}):\n{tail(output)}")
