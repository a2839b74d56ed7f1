"""The case folders, run through the real validation and through the `specc validate` command.

A case is a folder (see conftest): `valid/<case>/serving.yaml` must validate, with exactly the
positioned warnings its optional `warnings.yaml` lists; `invalid/<case>/serving.yaml` (or
`input.bin`) must fail with exactly the errors its `expected.yaml` lists, each matched by line,
column, code and a fragment of its message (and of its hint, where given). The count is compared
too, so "every problem of a file at once" is tested, and so is the absence of noise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

from specc.cli import main
from specc.diagnostics import Diagnostic, InvalidSpec, Severity
from specc.pipeline import compile_file

from .conftest import CASES, ROOT

VALID = sorted(p for p in (CASES / "valid").iterdir() if p.is_dir())
INVALID = sorted(p for p in (CASES / "invalid").iterdir() if p.is_dir())
WITH_WARNINGS = [p for p in VALID if (p / "warnings.yaml").exists()]
POSITION = re.compile(r"^(?P<file>.+?):(?P<line>[0-9]+):(?P<col>[0-9]+): ")


def spec_file(case: Path) -> Path:
    binary = case / "input.bin"
    return binary if binary.exists() else case / "serving.yaml"


def expectations(case: Path, name: str) -> list[dict[str, Any]]:
    listed = yaml.safe_load((case / name).read_text(encoding="utf-8")) or []
    assert isinstance(listed, list) and listed, f"{case.name}/{name} must list at least one diagnostic"
    for entry in listed:
        assert {"line", "col", "code", "message"} <= set(entry), f"{case.name}/{name}: incomplete {entry}"
    return listed


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def matches(diagnostic: Diagnostic, entry: dict[str, Any]) -> bool:
    return (diagnostic.span is not None
            and (diagnostic.span.line, diagnostic.span.col) == (entry["line"], entry["col"])
            and diagnostic.code == entry["code"]
            and entry["message"] in diagnostic.message
            and ("hint" not in entry or entry["hint"] in (diagnostic.hint or "")))


def assert_diagnostics(found: list[Diagnostic], listed: list[dict[str, Any]], case: str) -> None:
    shown = "\n".join(d.render() for d in found)
    for entry in listed:
        assert any(matches(d, entry) for d in found), f"{case}: nothing matches {entry}; found:\n{shown}"
    assert len(found) == len(listed), f"{case}: expected {len(listed)}, found {len(found)}:\n{shown}"


def positioned(diagnostics: Iterable[Diagnostic], severity: Severity) -> list[Diagnostic]:
    # Warnings without a position are about the installation (a plugin that failed to load), not the file.
    return [d for d in diagnostics if d.severity is severity and d.span is not None]


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(args)
    captured = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 1), captured.out, captured.err


@pytest.mark.parametrize("case", VALID, ids=lambda p: p.name)
def test_valid_case_validates(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    compiled = compile_file(relative(spec_file(case)))
    assert compiled.validated.ir.models, "a valid case compiles at least one model"


@pytest.mark.parametrize("case", WITH_WARNINGS, ids=lambda p: p.name)
def test_valid_case_warns(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    compiled = compile_file(relative(spec_file(case)))
    assert_diagnostics(positioned(compiled.warnings, Severity.WARNING), expectations(case, "warnings.yaml"),
                       case.name)


@pytest.mark.parametrize("case", [p for p in VALID if p not in WITH_WARNINGS], ids=lambda p: p.name)
def test_valid_case_has_no_warnings(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert positioned(compile_file(relative(spec_file(case))).warnings, Severity.WARNING) == []


@pytest.mark.parametrize("case", INVALID, ids=lambda p: p.name)
def test_invalid_case_reports_every_problem(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    file = relative(spec_file(case))
    with pytest.raises(InvalidSpec) as raised:
        compile_file(file)
    errors = positioned(list(raised.value.diagnostics), Severity.ERROR)
    assert all(d.span is not None and d.span.file == file for d in errors)
    assert_diagnostics(errors, expectations(case, "expected.yaml"), case.name)
    keys = [d.sort_key() for d in raised.value.diagnostics]
    assert keys == sorted(keys), "diagnostics are sorted by position"


@pytest.mark.parametrize("case", VALID + INVALID, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_cli_text_output(case: Path, capsys: pytest.CaptureFixture[str],
                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    file = relative(spec_file(case))
    code, out, err = run_cli(["validate", file], capsys)
    assert "Traceback" not in out + err
    if case.parent.name == "valid":
        assert code == 0, err
        assert out == f"{file}: valid\n"
        return
    assert code == 1
    assert out == ""
    # Warnings are printed too (unpositioned "warning: ...", positioned "FILE:L:C: path: warning: ...").
    errors = [line for line in err.splitlines() if not line.startswith("warning: ") and ": warning: " not in line]
    assert errors, "an invalid file prints its errors"
    for line in errors:
        position = POSITION.match(line)
        assert position is not None and position["file"] == file, f"not FILE:LINE:COL: {line!r}"
    assert len(errors) == len(expectations(case, "expected.yaml"))


@pytest.mark.parametrize("case", VALID + INVALID, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_cli_json_output_carries_the_same_diagnostics(case: Path, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    file = relative(spec_file(case))
    try:
        diagnostics = list(compile_file(file).warnings)
    except InvalidSpec as error:
        diagnostics = list(error.diagnostics)
    code, out, err = run_cli(["validate", "--format", "json", file], capsys)
    assert code == (0 if case.parent.name == "valid" else 1)
    assert "Traceback" not in err
    report = json.loads(out)
    assert report["valid"] is (code == 0)
    assert [f["file"] for f in report["files"]] == [file]
    assert report["files"][0]["diagnostics"] == [d.to_dict() for d in diagnostics]


def test_cli_reports_each_file_and_fails_if_any_fails(capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    good, bad = relative(spec_file(VALID[0])), relative(spec_file(INVALID[0]))
    code, out, err = run_cli(["validate", good, bad], capsys)
    assert code == 1
    assert f"{good}: valid" in out
    assert any(line.startswith(f"{bad}:") for line in err.splitlines())


def test_there_are_enough_cases() -> None:
    assert len(VALID) >= 10
    assert len(INVALID) >= 60
