"""Diagnostics: what every stage reports when something is wrong, and the errors that carry them.

Takes nothing and does no I/O. A stage collects `Diagnostic`s while it works and, when any of them is
an error, raises a single `SpeccError` holding all of them. The CLI is the one place that catches
`SpeccError`, prints its diagnostics and exits with `exit_code` (the way click's exceptions know theirs).

Codes are stage-coded, as in sqlfluff: the letter says which stage found the problem.

    L  load       (reading and parsing the file)
    S  schema     (the structure of the document)
    R  rules      (meaning: cross-field rules beyond the schema)
    G  registry   (resolving registry references: plan, apply, render)
    B  backend    (a backend cannot express what the spec asks for)
    K  cluster    (the API server refused or failed)
    P  plan       (a saved plan, a plan that cannot be made)
    A  apply      (ordering, readiness, the lock, pruning)
    F  files      (a file specc must not read, overwrite or write through: `specc.files`)
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from specc.credentials import redact

PathPart = str | int
Path = tuple[PathPart, ...]


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Span:
    """A position in a source file, 1-based line and column as editors show them."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


def printable(text: str) -> str:
    """`text` with every character that is not printable (other than the space) written as an escape."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def format_path(path: Path) -> str:
    """`("models", 0, "resources")` -> `models[0].resources`; the document root is `<root>`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "<root>"


def json_pointer(path: Path) -> str:
    """`("models", 0, "resources")` -> `/models/0/resources` (RFC 6901)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


@dataclass(frozen=True)
class Diagnostic:
    """One problem: a stage code, a one-line message, where it is, and an optional hint."""

    code: str
    message: str
    path: Path = ()
    span: Span | None = None
    severity: Severity = Severity.ERROR
    hint: str | None = None

    def __post_init__(self) -> None:
        # Every message passes here: one that quotes user input never repeats a credential in it.
        object.__setattr__(self, "message", redact(self.message))
        if self.hint is not None:
            object.__setattr__(self, "hint", redact(self.hint))

    def sort_key(self) -> tuple[str, int, int, str, str]:
        if self.span is None:
            return ("", 0, 0, format_path(self.path), self.message)
        return (self.span.file, self.span.line, self.span.col, format_path(self.path), self.message)

    def render(self, file: str | None = None) -> str:
        """`FILE:LINE:COL: path: message; hint [CODE]` — the one text form used everywhere. Characters
        that a terminal would not show as themselves (control characters, which a hostile spec could
        use to rewrite the terminal, and invisible spaces) are shown as escapes, on one line."""
        where = str(self.span) if self.span else (file or "")
        parts = [p for p in (where, format_path(self.path) if self.path else "") if p]
        prefix = ": ".join(parts)
        text = f"{self.message}" + (f"; {self.hint}" if self.hint else "")
        label = "" if self.severity is Severity.ERROR else f"{self.severity}: "
        line = f"{prefix}: {label}{text} [{self.code}]" if prefix else f"{label}{text} [{self.code}]"
        return printable(line)

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "severity": str(self.severity),
            "message": self.message,
            "hint": self.hint,
            "path": format_path(self.path) if self.path else "",
            "pointer": json_pointer(self.path),
            "file": self.span.file if self.span else None,
            "line": self.span.line if self.span else None,
            "col": self.span.col if self.span else None,
        }


def sorted_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Sorted by position, duplicates removed: the order every reporter prints."""
    unique = {(d.code, d.message, d.path, d.span, d.severity, d.hint): d for d in diagnostics}
    return sorted(unique.values(), key=Diagnostic.sort_key)


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A hint naming the closest choice, or None when nothing is close enough to help.

    Close means: the same word in another case; else at most one edit for short words (two up to
    eight letters, three beyond), counting a swap of neighbours as one edit, which catches `s4` for
    `s3` and `kserv` for `kserve`; else difflib's similarity, which catches dropped or added parts
    (`storage` for `storageUri`)."""
    options = sorted(set(choices))
    if not options or word in options:
        return None
    lowered = {o.lower(): o for o in options}
    if word.lower() in lowered:
        return f"did you mean '{lowered[word.lower()]}'?"
    budget = 1 if len(word) <= 4 else 2 if len(word) <= 8 else 3
    scored = sorted((_edit_distance(word.lower(), o.lower()), -difflib.SequenceMatcher(None, word, o).ratio(),
                     o) for o in options)
    distance, ratio, best = scored[0]
    tied = len(scored) > 1 and scored[1][:2] == (distance, ratio)  # `v3` for v1/v2: no honest guess
    if distance <= budget and distance < max(len(word), len(best)) and not tied:
        return f"did you mean '{best}'?"
    matches = difflib.get_close_matches(word, options, n=1, cutoff=0.75)
    return f"did you mean '{matches[0]}'?" if matches else None


def _edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions, adjacent swaps."""
    if abs(len(a) - len(b)) > 3:
        return abs(len(a) - len(b))
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[len(b)]


class SpeccError(Exception):
    """Base of every error specc raises on purpose. Knows its exit code, like click's exceptions."""

    exit_code = 1

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = tuple(sorted_diagnostics(diagnostics))
        super().__init__("\n".join(d.render() for d in self.diagnostics))

    @classmethod
    def single(
        cls, code: str, message: str, *, span: Span | None = None, path: Path = (), hint: str | None = None
    ) -> SpeccError:
        return cls([Diagnostic(code, message, path=path, span=span, hint=hint)])


class InvalidSpec(SpeccError):  # noqa: N818 - named for what it means to a caller, like click's Abort
    """The spec could not be read, parsed or validated (exit 1)."""


class CompileError(SpeccError):
    """A backend is unknown, failed to load, or cannot express the spec (exit 1)."""


class ClusterError(SpeccError):
    """The API server refused or failed a request after retries (exit 1)."""


class PlanError(SpeccError):
    """A saved plan is stale or unreadable, or a plan cannot be made (exit 1)."""


class ApplyError(SpeccError):
    """An apply stopped part-way: the cluster is left convergent, the next run finishes it (exit 1)."""


class LockHeld(SpeccError):  # noqa: N818 - a refusal, not a failure: the name says what happened
    """Another run holds the lock, or the wrong lock id was given (exit 3, refused before any write)."""

    exit_code = 3


class WrongCluster(SpeccError):  # noqa: N818 - a refusal, like LockHeld
    """The target cluster is not certainly the intended one: several kubeconfig contexts and no
    --context, or a `metadata.cluster.uid` pin (or a saved plan's cluster) that does not match or
    cannot be read (exit 3, refused before any write)."""

    exit_code = 3


@dataclass
class DiagnosticCollector:
    """Collects diagnostics during one stage and raises them together at the end."""

    diagnostics: list[Diagnostic] = field(default_factory=list)

    def add(self, diagnostic: Diagnostic) -> None:
        self.diagnostics.append(diagnostic)

    def extend(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics.extend(diagnostics)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.WARNING]

    def raise_if_errors(self, error: type[SpeccError] = InvalidSpec) -> None:
        if self.errors:
            raise error(self.diagnostics)
