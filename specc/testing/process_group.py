"""Stopping a test-support process together with everything it started.

Takes a `subprocess.Popen` started with `start_new_session=True` (so it leads its own process group:
MLServer's inference workers, the MLflow server's gunicorn workers). `stop_group` asks the group to
stop (SIGTERM), waits a bounded time, then kills it (SIGKILL); it never waits unboundedly and never
signals a group it did not start. Must not print.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from typing import Any


def stop_group(process: subprocess.Popen[Any], *, grace: float = 5.0, terminate: bool = True) -> None:
    """Stop `process` and its group: SIGTERM (unless `terminate` is false: the caller already asked
    it to stop another way), `grace` seconds, then SIGKILL for whatever is left, workers included."""
    if terminate:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)
    # Workers share the group and may outlive their leader: none may be left behind.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
