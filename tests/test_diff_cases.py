"""`specc diff OLD NEW` on the case folders of tests/cases/diff, through the real command.

A case is a folder with `old.yaml`, `new.yaml` and `case.yaml`, which says what a reviewer must be
told: `changes` (the --detailed-exitcode answer), the status of every model, the warning codes in
order, fragments the text output must contain, and strings that must appear in no output (`absent`,
for secrets). Beside these the outputs are compared with the golden files `expected.txt`,
`expected.md` and `expected.json` in the folder (regenerate with `pytest --update-golden`). A case
whose `case.yaml` has `error` instead must fail with that FILE:LINE:COL and code.

The command runs inside the case folder, so the outputs name `old.yaml` and `new.yaml` wherever the
repository is checked out.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from specc.cli import main

from .conftest import CASES

DIFF_CASES = sorted(p for p in (CASES / "diff").iterdir() if p.is_dir())
GOOD = [p for p in DIFF_CASES if "error" not in yaml.safe_load((p / "case.yaml").read_text(encoding="utf-8"))]
BAD = [p for p in DIFF_CASES if p not in GOOD]
FORMATS = {"text": "expected.txt", "markdown": "expected.md", "json": "expected.json"}


def case_spec(case: Path) -> dict[str, Any]:
    data = yaml.safe_load((case / "case.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict) and data.get("about"), f"{case.name}/case.yaml needs an 'about' line"
    return data


def run_diff(case: Path, *args: str, capsys: pytest.CaptureFixture[str],
             monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    monkeypatch.chdir(case)
    with pytest.raises(SystemExit) as exited:
        main(["diff", "old.yaml", "new.yaml", "--no-color", *args])
    captured = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 1), captured.out, captured.err


def test_the_required_cases_exist() -> None:
    names = {p.name for p in DIFF_CASES}
    required = {"backend-migration", "canary-step", "canary-to-100", "rename", "reorder-only", "model-removed",
                "min-to-zero", "provenance-removed", "replace", "defaults-change", "secret-env", "unchanged",
                "invalid-new"}
    assert required <= names, f"missing diff cases: {sorted(required - names)}"
    for case in DIFF_CASES:
        assert (case / "old.yaml").is_file() and (case / "new.yaml").is_file(), case.name


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", GOOD, ids=lambda p: p.name)
def test_output_matches_golden(case: Path, fmt: str, golden, capsys: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
                               monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run_diff(case, "--format", fmt, capsys=capsys, monkeypatch=monkeypatch)
    assert code == 0, f"{case.name}: exit {code} without --detailed-exitcode:\n{err}"
    golden(case / FORMATS[fmt], out)


@pytest.mark.parametrize("case", GOOD, ids=lambda p: p.name)
def test_detailed_exitcode(case: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    expected = 2 if case_spec(case)["changes"] else 0
    for fmt in FORMATS:
        code, _, err = run_diff(case, "--format", fmt, "--detailed-exitcode", capsys=capsys,
                                monkeypatch=monkeypatch)
        assert code == expected, f"{case.name} ({fmt}): exit {code}, expected {expected}\n{err}"


@pytest.mark.parametrize("case", GOOD, ids=lambda p: p.name)
def test_models_and_warnings(case: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    spec = case_spec(case)
    _, out, _ = run_diff(case, "--format", "json", capsys=capsys, monkeypatch=monkeypatch)
    document = json.loads(out)
    assert document["formatVersion"] == "1" and document["kind"] == "SpecDiff"
    assert document["hasChanges"] is spec["changes"]
    assert {m["name"]: m["status"] for m in document["models"]} == spec["models"]
    assert [w["code"] for w in document["warnings"]] == spec["warnings"]
    assert all(w["severity"] == "warning" for w in document["warnings"])


@pytest.mark.parametrize("case", GOOD, ids=lambda p: p.name)
def test_text_tells_the_reviewer(case: Path, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    spec = case_spec(case)
    _, out, _ = run_diff(case, capsys=capsys, monkeypatch=monkeypatch)
    for fragment in spec.get("text", []):
        assert fragment in out, f"{case.name}: the text output lacks {fragment!r}:\n{out}"
    for warning in spec["warnings"]:
        assert f"[{warning}]" in out


@pytest.mark.parametrize("case", [c for c in GOOD if case_spec(c).get("absent")], ids=lambda p: p.name)
def test_secrets_are_absent_from_every_format(case: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = case_spec(case)["absent"]
    for secret in secrets:  # the case must really contain what it checks
        assert secret in (case / "old.yaml").read_text() + (case / "new.yaml").read_text()
    for fmt in FORMATS:
        _, out, err = run_diff(case, "--format", fmt, capsys=capsys, monkeypatch=monkeypatch)
        assert "(sensitive value)" in out, f"{case.name} ({fmt}) does not show the masked change"
        for secret in secrets:
            assert secret not in out + err, f"{case.name} ({fmt}) shows the secret {secret!r}"


@pytest.mark.parametrize("case", GOOD, ids=lambda p: p.name)
def test_output_is_byte_stable(case: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for fmt in FORMATS:
        first = run_diff(case, "--format", fmt, capsys=capsys, monkeypatch=monkeypatch)
        second = run_diff(case, "--format", fmt, capsys=capsys, monkeypatch=monkeypatch)
        assert first == second, f"{case.name} ({fmt}) differs between two runs"


@pytest.mark.parametrize("case", GOOD, ids=lambda p: p.name)
def test_swapping_old_and_new_inverts_the_models(case: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    spec = case_spec(case)
    monkeypatch.chdir(case)
    with pytest.raises(SystemExit):
        main(["diff", "new.yaml", "old.yaml", "--format", "json"])
    document = json.loads(capsys.readouterr().out)
    inverse = {"added": "removed", "removed": "added", "changed": "changed", "unchanged": "unchanged"}
    statuses = {m["name"]: m["status"] for m in document["models"]}
    for name, status in spec["models"].items():
        if status == "renamed":
            continue  # reported under the other name when reversed
        assert statuses[name] == inverse[status], f"{case.name}: {name} is {statuses[name]} when reversed"


@pytest.mark.parametrize("case", BAD, ids=lambda p: p.name)
def test_invalid_spec_fails_with_its_position(case: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    error = case_spec(case)["error"]
    for fmt in FORMATS:
        for extra in ((), ("--detailed-exitcode",)):
            code, out, err = run_diff(case, "--format", fmt, *extra, capsys=capsys, monkeypatch=monkeypatch)
            assert code == 1, f"{case.name}: exit {code}"
            assert out == "", f"{case.name}: a failed diff must print no report:\n{out}"
            position = f"{error['file']}:{error['line']}:{error['col']}: "
            line = next((x for x in err.splitlines() if x.startswith(position)), None)
            assert line is not None, f"{case.name}: no diagnostic at {position}:\n{err}"
            assert line.endswith(f"[{error['code']}]"), line
            assert "Traceback" not in err


def test_invalid_old_spec_fails_too(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    bad = CASES / "diff" / "invalid-new"
    (tmp_path / "old.yaml").write_text((bad / "new.yaml").read_text())
    (tmp_path / "new.yaml").write_text((bad / "old.yaml").read_text())
    code, out, err = run_diff(tmp_path, capsys=capsys, monkeypatch=monkeypatch)
    assert code == 1 and out == ""
    assert re.search(r"^old\.yaml:17:21: .*\[R301\]$", err, re.MULTILINE), err


def test_missing_file_and_bad_usage_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "old.yaml").write_text((CASES / "diff" / "unchanged" / "old.yaml").read_text())
    for args in (["diff", "old.yaml", "missing.yaml"], ["diff", "old.yaml"],
                 ["diff", "old.yaml", "old.yaml", "--base", "main"]):
        with pytest.raises(SystemExit) as exited:
            main(args)
        captured = capsys.readouterr()
        assert exited.value.code == 1, args
        assert captured.out == "" and captured.err.strip(), args
        assert "Traceback" not in captured.err


def test_diff_needs_no_cluster_client() -> None:
    # Reviewing a pull request must work on a runner without cluster access, and start fast.
    probe = ("import sys\nfrom specc.cli import main\n"
             "try:\n    main(['diff', 'old.yaml', 'new.yaml', '--format', 'markdown'])\nexcept SystemExit as e:\n"
             "    code = e.code\n"
             "loaded = sorted(m for m in sys.modules if m == 'kubernetes' or m.startswith('kubernetes.'))\n"
             "sys.stderr.write('LOADED=' + ','.join(loaded) + '\\n')\nsys.exit(code)\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=CASES / "diff" / "canary-step", capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "LOADED=\n" in done.stderr
