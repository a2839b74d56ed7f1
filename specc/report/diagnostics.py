"""Diagnostics as text (with the offending source line and a caret, like ruff and rustc), as GitHub
Actions annotations, or as JSON.

Takes diagnostics and, for the excerpts, a `SourceLines` lookup (the CLI passes
`specc.source.source_line`: the lines of the specs parsed in this process); returns a string. Must not
print and must not read files.

The text form of one diagnostic:

    examples/x/serving.yaml:9:17: models[0].storageUri: credentials must not be ... [R304]
       |
     9 |     storageUri: s3://<redacted>@models/fraud/3
       |                 ^^^^^^^^^^^^^^^^^^^^^^^^
       = hint: put them in a Secret and reference it from secretEnv or a service account

The first line is the one-line form every tool can parse (`FILE:LINE:COL: ... [CODE]`). Excerpts never
show a secret: the user:password part of a URI, the value of a key whose name says it is a secret
(`AWS_SECRET_ACCESS_KEY: ...`) and a value shaped like a credential are replaced by `<redacted>`,
by the rules of `specc.credentials`, and so is any of them that a message repeats. Characters a
terminal would not show as themselves (control characters, which a hostile file could use to rewrite
the terminal, tabs, invisible spaces) are written as escapes, and the caret is placed by display
width, so it stays under its token on any line.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Sequence

from specc.credentials import REDACTED, sensitive_name, sensitive_value
from specc.diagnostics import Diagnostic, Severity, format_path, printable, sorted_diagnostics

DIAGNOSTICS_FORMAT_VERSION = 1

SourceLines = Callable[[str, int], "str | None"]

MASK = REDACTED  # what specc.credentials writes in messages, so an excerpt reads like them
# `scheme://user:password@host`: the credentials part (R304 refuses it; the excerpt must not show it).
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<secret>[^/@\s'\"]+)@")
# `NAME: value`, masked where NAME says it holds a secret or the value looks like one (the rules of
# specc.credentials, as for env values in plans).
_PAIR = re.compile(r"""(?P<key>[A-Za-z0-9_.-]+)["']?\s*:[ \t]+"""
                   r"""(?P<value>"(?:[^"\\]|\\.)*"?|'[^']*'?|[^\s,{}\[\]#][^,}\]#]*)""")
# Keys of the spec's own vocabulary whose names contain such a word but hold names, not secrets
# (`secretEnv: [{name: X, secret: s3-creds, key: access-key}]`).
_NOT_SECRET_KEYS = frozenset({"secret", "secretEnv", "key", "name"})
# Where a plain token ends on a YAML line: a comment, a mapping colon, a flow separator.
_TOKEN_END = re.compile(r"\s+#|:(?=\s|$)|[,\]}]")
_MAX_EXCERPT = 160  # display columns of a line shown; longer lines are cut around the caret


def secret_ranges(line: str) -> list[tuple[int, int]]:
    """Character ranges of `line` that must not be shown: URI credentials and secret-named values."""
    ranges = [m.span("secret") for m in _USERINFO.finditer(line)]
    for match in _PAIR.finditer(line):
        key, value = match.group("key"), match.group("value")
        # A value whose only credential is a URI's userinfo keeps the rest visible (masked above).
        shaped = sensitive_value(value) and sensitive_value(_USERINFO.sub(r"\g<scheme>", value))
        if (key not in _NOT_SECRET_KEYS and sensitive_name(key)) or shaped:
            ranges.append(match.span("value"))
    merged: list[tuple[int, int]] = []
    for start, stop in sorted(ranges):
        end = len(line[:stop].rstrip()) if stop > start else stop
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        elif end > start:
            merged.append((start, end))
    return merged


def mask_secrets(text: str, values: Sequence[str] = ()) -> str:
    """A message or hint with URI credentials masked, and every one of `values` (the
    secrets of the source line the diagnostic points at, which a message may quote: "got a number
    (8080)")."""
    # Messages were redacted when they were made (specc.diagnostics); this catches what they quote
    # from the line (`got a number (8080)`), which only the line's own key says is secret.
    masked = _USERINFO.sub(lambda m: m.group("scheme") + MASK + "@", text)
    for value in values:
        masked = re.sub(rf"(?<![\w]){re.escape(value)}(?![\w])", MASK, masked)
    return masked


def _line_secrets(diagnostic: Diagnostic, source: SourceLines | None) -> tuple[str | None, list[str]]:
    """The source line of `diagnostic` (None if unknown) and the secret values written on it."""
    span = diagnostic.span
    line = source(span.file, span.line) if source is not None and span is not None else None
    if line is None:
        return None, []
    values = {line[a:b].strip("\"'") for a, b in secret_ranges(line)}
    return line, sorted((v for v in values if v), key=len, reverse=True)


def _shown(char: str) -> str:
    if char == " " or char.isprintable():
        return char
    return char.encode("unicode_escape").decode("ascii")


def _width(text: str) -> int:
    width = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def _token_length(line: str, start: int) -> int:
    """How many characters the token at `start` spans: a quoted scalar to its closing quote, else a
    plain scalar or key to where YAML would end it. At least 1."""
    rest = line[start:]
    if not rest:
        return 1
    if rest[0] in "\"'":
        quote, index = rest[0], 1
        while index < len(rest):
            if rest[index] == "\\" and quote == '"':
                index += 2
                continue
            if rest[index] == quote:
                if quote == "'" and rest[index + 1:index + 2] == "'":
                    index += 2
                    continue
                return index + 1
            index += 1
        return max(1, len(rest.rstrip()))
    if rest[0] in "[{" or rest[0].isspace() or not rest[0].isprintable():
        return 1  # a flow collection, or the one offending character (a tab, a control character)
    end = _TOKEN_END.search(rest)
    token = rest[:end.start()] if end else rest
    return max(1, len(token.rstrip()))


def excerpt(line: str, col: int) -> tuple[str, str]:
    """(the line as shown, the caret line under it) for 1-based column `col` of `line`."""
    start = min(max(col - 1, 0), len(line))
    end = start + _token_length(line, start)
    masks = {r[0]: r[1] for r in secret_ranges(line)}
    # Display segments, each with the range of original characters it stands for.
    segments: list[tuple[int, int, str]] = []
    index = 0
    while index < len(line):
        if index in masks:
            segments.append((index, masks[index], MASK))
            index = masks[index]
        else:
            segments.append((index, index + 1, _shown(line[index])))
            index += 1
    caret_from = caret_to = column = 0
    found = False
    for first, last, shown in segments:
        if not found and last > start:
            caret_from, found = column, True
        column += _width(shown)
        if first < end:
            caret_to = column
    if not found:
        caret_from = caret_to = column
    text = "".join(s for _, _, s in segments).rstrip()
    caret_to = max(caret_to, caret_from + 1)
    if _width(text) > _MAX_EXCERPT:  # keep the caret in view on a very long line
        cut = max(0, caret_from - _MAX_EXCERPT // 2)
        shift = cut - (1 if cut else 0)  # the ellipsis takes one column
        text, caret_from, caret_to = _cut(text, cut), caret_from - shift, caret_to - shift
    return text, " " * caret_from + "^" * min(caret_to - caret_from, _MAX_EXCERPT)


def _cut(text: str, columns: int) -> str:
    """`text` without its first `columns` display columns, marked with an ellipsis, and shortened."""
    width, index = 0, 0
    while index < len(text) and width < columns:
        width += _width(text[index])
        index += 1
    rest, out, used = text[index:], [], 0
    for char in rest:
        used += _width(char)
        if used > _MAX_EXCERPT:
            out.append("…")
            break
        out.append(char)
    return "…" + "".join(out) if columns else "".join(out)


def headline(diagnostic: Diagnostic, file: str | None = None, secrets: Sequence[str] = ()) -> str:
    """`FILE:LINE:COL: path: [warning: ]message [CODE]`, on one line, secrets masked."""
    where = str(diagnostic.span) if diagnostic.span else (file or "")
    parts = [p for p in (where, format_path(diagnostic.path) if diagnostic.path else "") if p]
    label = "" if diagnostic.severity is Severity.ERROR else f"{diagnostic.severity}: "
    body = f"{label}{diagnostic.message} [{diagnostic.code}]"
    return printable(mask_secrets(": ".join([*parts, body]), secrets))


def diagnostic_text(diagnostic: Diagnostic, source: SourceLines | None = None, *, colour: bool = False) -> str:
    """One diagnostic: its headline, the source line with a caret (when the line is known), the hint."""
    text, secrets = _line_secrets(diagnostic, source)
    head = headline(diagnostic, secrets=secrets)
    lines = [_style(head, "red" if diagnostic.severity is Severity.ERROR else "yellow", colour, bold=True)]
    span = diagnostic.span
    hint = printable(mask_secrets(diagnostic.hint, secrets)) if diagnostic.hint else None
    if span is not None and text is not None:
        number = str(span.line)
        gutter = " " * (len(number) + 1)
        shown, caret = excerpt(text, span.col)
        lines += [f"{gutter} |", f" {number} | {shown}".rstrip(),
                  f"{gutter} | " + _style(caret, "red" if diagnostic.severity is Severity.ERROR else "yellow",
                                          colour)]
        if hint:
            lines.append(f"{gutter} = hint: {hint}")
    elif hint:
        lines.append(f"   = hint: {hint}")
    return "\n".join(lines) + "\n"


def diagnostics_text(diagnostics: Sequence[Diagnostic], source: SourceLines | None = None, *,
                     colour: bool = False) -> str:
    """Every diagnostic in position order; without `source`, headlines and hints only."""
    return "".join(diagnostic_text(d, source, colour=colour) for d in sorted_diagnostics(diagnostics))


def _style(text: str, fg: str, colour: bool, *, bold: bool = False) -> str:
    if not colour:
        return text
    codes = {"red": "31", "yellow": "33"}[fg]
    return f"\x1b[{'1;' if bold else ''}{codes}m{text}\x1b[0m"


# -- GitHub Actions ------------------------------------------------------------------------------------
# Workflow commands, escaped exactly as actions/toolkit packages/core/src/command.ts does it:
# escapeData (the message) turns % CR LF into %25 %0D %0A; escapeProperty (file=, title=, ...) also
# turns : and , into %3A and %2C.

def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotation(diagnostic: Diagnostic, file: str | None = None, source: SourceLines | None = None) -> str:
    """`::error file=F,line=L,col=C,title=CODE::path: message` (+ the hint on the next line)."""
    command = "error" if diagnostic.severity is Severity.ERROR else "warning"
    span = diagnostic.span
    properties: list[tuple[str, str]] = []
    where = span.file if span is not None else file
    if where:
        properties.append(("file", where))
    if span is not None:
        properties += [("line", str(span.line)), ("col", str(span.col))]
    properties.append(("title", diagnostic.code))
    message = diagnostic.message
    if diagnostic.path:
        message = f"{format_path(diagnostic.path)}: {message}"
    # Masked, control characters written as escapes, then escaped for the runner: nothing in a
    # hostile spec can end the command early or start another one.
    _, secrets = _line_secrets(diagnostic, source)
    props = ",".join(f"{k}={_escape_property(printable(mask_secrets(v, secrets)))}" for k, v in properties)
    parts = [message] + ([f"hint: {diagnostic.hint}"] if diagnostic.hint else [])
    body = _escape_data("\n".join(printable(mask_secrets(part, secrets)) for part in parts))
    return f"::{command} {props}::{body}\n"


def diagnostics_github(results: Sequence[tuple[str, Sequence[Diagnostic]]], source: SourceLines | None = None) -> str:
    """`specc validate --format github`: one annotation per diagnostic of every file."""
    return "".join(github_annotation(d, name, source) for name, diagnostics in results
                   for d in sorted_diagnostics(diagnostics))


def validation_json(results: Sequence[tuple[str, Sequence[Diagnostic]]]) -> str:
    """`specc validate --format json`: one entry per file, `valid` and its diagnostics."""
    files = []
    for name, diagnostics in results:
        ordered = sorted_diagnostics(diagnostics)
        files.append({
            "file": name,
            "valid": not any(d.severity is Severity.ERROR for d in ordered),
            "diagnostics": [d.to_dict() for d in ordered],
        })
    document = {"formatVersion": DIAGNOSTICS_FORMAT_VERSION,
                "valid": all(f["valid"] for f in files), "files": files}
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
