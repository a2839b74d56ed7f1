"""The README shows only what works: every `serving.yaml` it prints validates cleanly, and every
command it lists in the command table exists."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
SPECS = [block for block in re.findall(r"```yaml\n(.*?)```", README, re.S) if "kind: ServingSpec" in block]


def test_the_readme_shows_a_spec() -> None:
    assert SPECS


@pytest.mark.parametrize("index", range(len(SPECS)))
def test_every_spec_in_the_readme_validates_without_warnings(index: int, tmp_path: Path) -> None:
    spec = tmp_path / "serving.yaml"
    spec.write_text(SPECS[index], encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "specc", "validate", str(spec)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "warning" not in (done.stdout + done.stderr).lower(), done.stdout + done.stderr


def test_every_command_in_the_command_table_exists() -> None:
    from specc.cli import cli

    listed = set(re.findall(r"^\| `specc ([a-z-]+)", README, re.M))
    assert listed
    assert listed <= set(cli.commands), sorted(listed - set(cli.commands))
