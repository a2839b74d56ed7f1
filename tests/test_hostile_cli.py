"""Hostile command lines (tests/cases/cli, format in its README) run as a user runs them: a separate
process in a fresh directory, with a timeout that turns a hang into a failure. Every case must end
with its exit code and message, no traceback or internal error, none of the planted secrets in any
output, and the files it names untouched. Also: no invalid spec case's message repeats a planted secret.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import CASES, ROOT

CLI_CASES = CASES / "cli"
HANG_GUARD = 20  # seconds: only a guard against a hang, never a speed assertion
PLANTED = "s3cr3t"  # every secret planted in tests/cases/cli/serving.yaml and the invalid cases


def run_specc(cwd: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "SPECC_DEBUG", "SPECC_MASK_ALL")}
    env.update(HOME=str(cwd), PYTHONIOENCODING="utf-8", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "specc", *args], cwd=cwd, capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=HANG_GUARD, env=env, check=False)
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode("utf-8", "replace"),
                                       done.stderr.decode("utf-8", "replace"))


def prepare(directory: Path, setup: dict[str, Any]) -> None:
    shutil.copy(CLI_CASES / "serving.yaml", directory / "serving.yaml")
    for name in setup.get("dirs", []):
        (directory / name).mkdir(parents=True, exist_ok=True)
    for name, text in (setup.get("files") or {}).items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(text, encoding="utf-8")
    for name in setup.get("fifos", []):
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(directory / name)
    for link, target in (setup.get("symlinks") or {}).items():
        (directory / link).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, directory / link)


def snapshot(directory: Path, names: list[str]) -> dict[str, tuple[bytes, int]]:
    return {n: ((directory / n).read_bytes(), stat.S_IMODE((directory / n).stat().st_mode)) for n in names}


def cli_cases() -> list[Any]:
    params = []
    for path in sorted(CLI_CASES.glob("*.yaml")):
        if path.name == "serving.yaml":
            continue
        case = yaml.safe_load(path.read_text(encoding="utf-8"))
        variants = case.get("variants") or [case["args"]]
        for i, args in enumerate(variants):
            params.append(pytest.param(case, [str(a) for a in args], id=f"{path.stem}-{i}"))
    return params


@pytest.mark.parametrize(("case", "args"), cli_cases())
def test_hostile_command_line(case: dict[str, Any], args: list[str], tmp_path: Path) -> None:
    prepare(tmp_path, case.get("setup") or {})
    before = snapshot(tmp_path, case.get("unchanged", []))
    result = run_specc(tmp_path, args)
    output = result.stdout + result.stderr
    assert result.returncode == case["exit"], output
    assert "Traceback" not in output and "internal error" not in output, output
    assert PLANTED not in output, output
    for fragment in case.get("stderr", []):
        assert fragment in result.stderr, result.stderr
    for fragment in case.get("stdout", []):
        assert fragment in result.stdout, result.stdout
    assert snapshot(tmp_path, case.get("unchanged", [])) == before
    for name in case.get("absent", []):
        assert not (tmp_path / name).exists(), name


def planted_cases() -> list[Path]:
    return sorted(p for p in (CASES / "invalid").glob("*/serving.yaml") if PLANTED in p.read_text("utf-8"))


def test_the_secret_cases_are_there() -> None:
    assert len(planted_cases()) >= 10


@pytest.mark.parametrize("spec", planted_cases(), ids=lambda p: p.parent.name)
def test_no_message_repeats_a_refused_secret(spec: Path) -> None:
    from specc.diagnostics import SpeccError
    from specc.pipeline import compile_file
    from specc.report.diagnostics import diagnostics_text, validation_json

    with pytest.raises(SpeccError) as error:
        compile_file(str(spec))
    text = diagnostics_text(error.value.diagnostics)
    document = validation_json([(str(spec), list(error.value.diagnostics))])
    assert PLANTED not in text and PLANTED not in document
    assert json.loads(document)["valid"] is False
