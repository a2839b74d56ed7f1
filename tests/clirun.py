"""The CLI run in-process, as the tests that need its exit code and both streams call it."""

from __future__ import annotations

import pytest

from specc.cli import main


def specc(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run `specc ARGS` in this process: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err
