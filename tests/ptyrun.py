"""Run a command under a pseudo-terminal, as a user's terminal would, and return what it printed.

For tests of terminal-only behaviour (colour, the live progress view). The child gets the pty as
stdin, stdout and stderr; the output is read until the child exits (bounded by `timeout`).
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path


def run_in_pty(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float = 60.0,
               while_running: Callable[[], None] | None = None, columns: int = 100) -> str:
    """Run `argv` on a fresh pty; returns its output (CR LF as the terminal sends it, turned into LF).
    `while_running` is called repeatedly while the child runs (e.g. to act as a controller)."""
    master, slave = pty.openpty()
    os.set_blocking(master, False)
    import fcntl
    import struct
    import termios

    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, columns, 0, 0))
    process = subprocess.Popen(list(argv), cwd=cwd, env=dict(env), stdin=slave, stdout=slave, stderr=slave,
                               start_new_session=True)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every process holding the child's side has closed it
                    break
                if data:
                    chunks.append(data)
                    continue
            if process.poll() is not None and not ready:
                break
            if while_running is not None:
                while_running()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{argv} did not finish within {timeout}s: {b''.join(chunks)[-2000:]!r}")
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        os.close(master)
    return b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
