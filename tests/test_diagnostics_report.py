"""Diagnostics as a user reads them: the source line with a caret under the span and the hint beneath
(text), GitHub Actions annotations (`--format github`), and JSON unchanged.

The golden files under tests/golden/diagnostics/ are `specc validate` run on case folders, in both
formats (regenerate with `pytest --update-golden` and review). The other tests pin what a golden file
could hide: no secret and no raw control character reaches the output, the caret sits under its
token whatever the characters before it, and annotations are escaped as GitHub's toolkit escapes
them (actions/toolkit packages/core/src/command.ts @ a944251: escapeData turns % CR LF into %25 %0D
%0A; escapeProperty also : and , into %3A %2C).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from specc.diagnostics import Diagnostic, Severity, Span
from specc.report.diagnostics import diagnostic_text, excerpt, github_annotation

from .clirun import specc as run
from .conftest import CASES, GOLDEN, ROOT

INVALID = CASES / "invalid"
# Chosen for what each shows: a secret in a URI, secret-named env values, a control character,
# a tab, several errors and wide lines, an unknown key with a did-you-mean, an alias, quoting.
GOLDEN_CASES = [
    "storage-credentials-in-uri",
    "env-secret-value-unquoted",
    "load-control-character",
    "load-tab-indentation",
    "several-errors-in-one-file",
    "key-typo-model",
    "position-inside-alias",
    "type-unquoted-env-number",
    "enum-format-typo",
    "load-duplicate-key-nested",
    "load-latin-1",
]
HEADLINE = re.compile(r"^(?P<file>[^:\s]+):(?P<line>\d+):(?P<col>\d+): .* \[(?P<code>[A-Z]\d{3})\]$")


def case_file(case: str) -> str:
    folder = INVALID / case
    path = next(p for p in (folder / "input.bin", folder / "serving.yaml") if p.exists())
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("case", GOLDEN_CASES)
def test_text_and_github_output_of_a_case(case: str, capsys: pytest.CaptureFixture[str], golden,  # type: ignore[no-untyped-def]
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("NO_COLOR", raising=False)
    file = case_file(case)
    code, out, text = run(capsys, "validate", file)
    assert code == 1 and out == ""
    code, annotations, err = run(capsys, "validate", "--format", "github", file)
    assert code == 1 and err == ""
    golden(GOLDEN / "diagnostics" / f"{case}.txt", f"$ specc validate {file}\n{text}\n"
                                                   f"$ specc validate --format github {file}\n{annotations}")


def test_every_diagnostic_shows_its_line_with_a_caret_under_the_span(capsys: pytest.CaptureFixture[str],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    file = case_file("several-errors-in-one-file")
    source = (ROOT / file).read_text(encoding="utf-8").splitlines()
    _, _, err = run(capsys, "validate", file)
    lines = err.splitlines()
    headlines = [i for i, line in enumerate(lines) if HEADLINE.match(line)]
    assert len(headlines) == 6
    for index in headlines:
        match = HEADLINE.match(lines[index])
        assert match is not None
        line, col = int(match["line"]), int(match["col"])
        gutter, shown = lines[index + 2].split(" | ", 1)
        assert gutter.strip() == str(line) and shown == source[line - 1]  # ASCII lines are shown as written
        caret = lines[index + 3].split(" | ", 1)[1]
        assert caret.index("^") == col - 1, (lines[index + 2], caret)
        assert lines[index + 4].lstrip().startswith("= hint: ")


def test_no_secret_reaches_any_output(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    secrets = {"storage-credentials-in-uri": ["AKIAIOSFODNN7", "wJalrXUtnFEMI"],
               "env-secret-value-unquoted": ["918273645", "5550123"]}
    for case, values in secrets.items():
        file = case_file(case)
        assert all(v in (ROOT / file).read_text() for v in values)  # the test would otherwise prove nothing
        for fmt in ("text", "github"):
            _, out, err = run(capsys, "validate", "--format", fmt, file)
            for value in values:
                assert value not in out + err, (case, fmt, out + err)
            if fmt == "text":
                assert "<redacted>" in err  # shown masked in the excerpt, not left out


def test_control_characters_are_escaped(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    file = case_file("load-control-character")
    assert b"\x1b" in (ROOT / file).read_bytes()
    for fmt in ("text", "github"):
        _, out, err = run(capsys, "validate", "--format", fmt, file)
        assert "\x1b" not in out + err
        if fmt == "text":
            assert "\\x1b" in err  # the excerpt shows it, escaped


@pytest.mark.parametrize(("line", "col", "shown", "caret"), [
    ("    format: sklern", 13, "    format: sklern", "            ^^^^^^"),
    ('    format: "sklern"  # typo', 13, '    format: "sklern"  # typo', "            ^^^^^^^^"),
    ("  - nmae: detector", 5, "  - nmae: detector", "    ^^^^"),
    ("  {cpu: 2GB, memory: 1Gi}", 9, "  {cpu: 2GB, memory: 1Gi}", "        ^^^"),
    # Wide characters take two columns, a tab is shown as \t: the caret still lands on its token.
    ("  名前: x", 7, "  名前: x", "        ^"),
    ("a\tb: c", 3, "a\\tb: c", "   ^"),
    ("  key: \x1bred", 8, "  key: \\x1bred", "       ^^^^"),
    # C1 controls (a lone CSI starts an escape sequence on many terminals), bidi overrides (which
    # reorder what a reviewer sees) and zero-width characters are written as escapes too.
    ("  x: \x9b31mred", 6, "  x: \\x9b31mred", "     ^^^^"),
    ("  x: a\u202eb", 6, "  x: a\\u202eb", "     ^^^^^^^^"),
    ("  x: a\u200bb", 6, "  x: a\\u200bb", "     ^^^^^^^^"),
    # A secret before the span: the caret moves with the mask.
    ("  uri: s3://user:pass@bucket/x, name: Bad_Name", 39,
     "  uri: s3://<redacted>@bucket/x, name: Bad_Name", " " * 39 + "^" * 8),
    ("", 1, "", "^"),
])
def test_caret_under_the_token(line: str, col: int, shown: str, caret: str) -> None:
    assert excerpt(line, col) == (shown, caret)


def test_a_very_long_line_is_cut_around_the_caret() -> None:
    line = "x: " + "a" * 500 + " bad"
    shown, caret = excerpt(line, 505)
    assert len(shown) <= 162 and shown.startswith("…")
    assert shown[caret.index("^"):].startswith("bad")


def test_without_a_source_line_the_headline_and_hint_remain() -> None:
    diagnostic = Diagnostic("L101", "cannot read file", span=Span("gone.yaml", 1, 1), hint="check the path")
    assert diagnostic_text(diagnostic, lambda f, n: None) == \
        "gone.yaml:1:1: cannot read file [L101]\n   = hint: check the path\n"


def test_github_annotations_are_escaped_like_the_toolkit() -> None:
    hostile = Diagnostic("S201", "100% sure\r\nwith: a, comma", path=("models", 0, "name"),
                         span=Span("dir,a:b/serving.yaml", 3, 7), severity=Severity.WARNING, hint="h")
    assert github_annotation(hostile) == (
        "::warning file=dir%2Ca%3Ab/serving.yaml,line=3,col=7,title=S201::"
        "models[0].name: 100%25 sure\\r\\nwith: a, comma%0Ahint: h\n")
    # A CR LF in a hostile message cannot start a new workflow command: it is written as the text
    # \r\n; the only %0A is the one that puts the hint on its own line of the annotation.
    plain = Diagnostic("R304", "a%b", span=Span("s.yaml", 1, 2))
    assert github_annotation(plain) == "::error file=s.yaml,line=1,col=2,title=R304::a%25b\n"


def test_json_output_is_unchanged_by_the_excerpts(capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    file = case_file("key-typo-model")
    _, out, err = run(capsys, "validate", "--format", "json", file)
    document = json.loads(out)
    assert err == ""
    [diagnostic] = document["files"][0]["diagnostics"]
    assert diagnostic == {"code": "S201", "severity": "error", "message": "unknown field 'storageURI'",
                          "hint": "did you mean 'storageUri'?", "path": "models[0].storageURI",
                          "pointer": "/models/0/storageURI", "file": file, "line": 9, "col": 5}


def test_no_color_is_honoured_and_colour_only_on_a_terminal(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    file = case_file("key-typo-model")
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    env.pop("NO_COLOR", None)
    piped = subprocess.run([sys.executable, "-m", "specc", "validate", file], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=30, check=False)
    assert "\x1b[" not in piped.stderr  # not a terminal: no colour
    from .ptyrun import run_in_pty

    coloured = run_in_pty([sys.executable, "-m", "specc", "validate", file], cwd=ROOT, env=env)
    assert "\x1b[1;31m" in coloured
    plain = run_in_pty([sys.executable, "-m", "specc", "validate", file], cwd=ROOT, env={**env, "NO_COLOR": "1"})
    assert "\x1b[" not in plain and "[S201]" in plain
