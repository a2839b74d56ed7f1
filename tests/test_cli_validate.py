"""`specc validate` as a user runs it: a separate process, hostile files, exit codes, imports.

Each category of hostile input (alias bomb, deep nesting in flow and block style, binary, a file
over the size cap) must end with exit 1, a `FILE:LINE:COL` diagnostic and no traceback. The timeout
is only a guard against a hang; speed is measured in `bench/validate.py`, not asserted here.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from specc.source import MAX_BYTES

from .conftest import CASES, ROOT

HANG_GUARD = 10  # seconds
INVALID = CASES / "invalid"
VALID_SPEC = CASES / "valid" / "every-field" / "serving.yaml"


def specc(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    env.pop("SPECC_DEBUG", None)  # with it, internal errors show their traceback on purpose
    done = subprocess.run([sys.executable, "-m", "specc", *args], cwd=ROOT, input=stdin, capture_output=True,
                          timeout=HANG_GUARD, env=env, check=False)
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode("utf-8"),
                                       done.stderr.decode("utf-8"))


def assert_refused(result: subprocess.CompletedProcess[str], file: str, code: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout == ""
    # One diagnostic: its headline first, then only its excerpt and hint (indented lines).
    lines = result.stderr.splitlines()
    assert all(line.startswith(" ") for line in lines[1:]), result.stderr
    assert lines[0].startswith(f"{file}:") and lines[0].endswith(f"[{code}]"), lines[0]


@pytest.mark.parametrize(("case", "code"), [
    ("load-billion-laughs", "L109"),
    ("load-deep-nesting-flow", "L108"),
    ("load-deep-nesting-block", "L108"),
    ("load-binary", "L103"),
    ("load-utf-16-without-bom", "L103"),
    ("load-tag-python-object", "L107"),
])
def test_hostile_file_is_refused_by_the_command(case: str, code: str) -> None:
    folder = INVALID / case
    file = next(p for p in (folder / "input.bin", folder / "serving.yaml") if p.exists())
    relative = str(file.relative_to(ROOT))
    assert_refused(specc("validate", relative), relative, code)


def test_file_over_the_size_cap_is_refused_before_parsing(tmp_path: Path) -> None:
    huge = tmp_path / "serving.yaml"
    line = b"# " + b"x" * 97 + b"\n"
    huge.write_bytes(b"apiVersion: specc.dev/v1alpha1\n" + line * (MAX_BYTES // len(line) + 1))
    assert huge.stat().st_size > MAX_BYTES
    result = specc("validate", str(huge))
    assert_refused(result, str(huge), "L102")
    assert f"{huge}:1:1:" in result.stderr


def test_standard_input_over_the_size_cap_is_refused() -> None:
    result = specc("validate", "-", stdin=b"a: " + b"x" * (MAX_BYTES + 10))
    assert_refused(result, "-", "L102")


def test_standard_input_is_validated() -> None:
    result = specc("validate", "-", stdin=VALID_SPEC.read_bytes())
    assert result.returncode == 0, result.stderr
    assert result.stdout == "-: valid\n"


@pytest.mark.parametrize("target", ["does-not-exist.yaml", "tests"])
def test_unreadable_path_exits_1_with_a_message(target: str) -> None:
    result = specc("validate", target)
    assert_refused(result, target, "L101")


def test_console_script_exits_0_for_a_valid_spec() -> None:
    script = Path(sys.executable).with_name("specc")
    if not script.exists():
        pytest.skip("the specc console script is not installed next to this interpreter")
    result = subprocess.run([str(script), "validate", str(VALID_SPEC.relative_to(ROOT))], cwd=ROOT,
                            capture_output=True, text=True, timeout=HANG_GUARD, check=False)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_validate_does_not_import_the_kubernetes_client() -> None:
    # The check can only fail if the client is importable here; otherwise it would pass vacuously.
    assert importlib.util.find_spec("kubernetes") is not None
    program = (
        "import sys\n"
        "from specc.cli import main\n"
        "try:\n"
        f"    main(['validate', {str(VALID_SPEC)!r}])\n"
        "except SystemExit as exit_:\n"
        "    code = exit_.code\n"
        "loaded = sorted(m for m in sys.modules if m == 'kubernetes' or m.startswith('kubernetes.'))\n"
        "print(code, loaded, file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True,
                            timeout=HANG_GUARD, check=False)
    assert result.stderr.strip().splitlines()[-1] == "0 []", result.stderr
