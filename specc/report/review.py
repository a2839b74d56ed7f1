"""Spec diffs (`specc diff`) as text, JSON or Markdown for a pull-request comment.

Takes a `SpecDiff`; returns a string. Warnings a reviewer must see come first, then the models (what
changes for the served models, in the spec's vocabulary), then the Kubernetes objects in
`specc plan`'s vocabulary. Secret values are masked in every format (`FieldChange.shown`). Output is
deterministic, with no time or version in it, so re-running on the same commit gives the same
comment. Must not print.

Markdown (a pull-request comment) starts with the `<!-- specc-diff -->` marker that lets a CI job
find and update its own comment, then a table with one row per model that changes, then the
warnings, then one collapsible `<details>` section per model with the spec changes and
the object changes in ```diff blocks. It is written for GitHub's renderer: blank lines around the
HTML tags (GitHub parses Markdown inside `<details>` only after a blank line), values from the spec
inside code blocks, names in `<code>` elements, and all other text HTML- and Markdown-escaped. It
is at most `MAX_COMMENT_CHARS` characters long (GitHub refuses longer comments): past that the
object field lists, then the per-model sections, then table rows are left out, saying so; the
warnings always stay.

JSON, format version `REVIEW_FORMAT_VERSION` (a new version is a breaking change):

    formatVersion  "1"
    kind           "SpecDiff"
    old, new       the names of the two specs as given (a file, or REV:FILE for --base)
    hasChanges     bool: what --detailed-exitcode reports
    specFields     [field]: changes of the spec's metadata.name / metadata.namespace
    warnings       [diagnostic]: {code, severity, message, hint, path, pointer, file, line, col}
    models         [{name, status (added|removed|renamed|changed|unchanged), renamedFrom,
                     backendBefore, backendAfter, migration (bool),
                     canary: null | {before, after (percent, null: no canary), promoted (bool)},
                     fields: [field], objects: {create, update, replace, delete}}], sorted by name
    summary        {create, update, replace, delete, no-op}: object counts, as in the plan JSON
    migrations     [{model, from, to}]
    changes        the object changes, each exactly as in the plan JSON (`specc plan --format json`)

A field is {path, change (add|remove|change), sensitive, before, after, beforeAbsent, afterAbsent}
as in the plan JSON: a sensitive value is "(sensitive value)", an absent one null.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

import click

from specc.diagnostics import printable
from specc.fielddiff import ABSENT, FieldChange
from specc.plan import Action, Change
from specc.report.plan import diff_block_lines, field_lines, plan_text, summary_line
from specc.review import REVIEW_FORMAT_VERSION, CanaryMove, ModelDiff, SpecDiff

MARKER = "<!-- specc-diff -->"  # lets a CI job find and update its own comment
MAX_COMMENT_CHARS = 60_000  # GitHub refuses comments over 65,536 characters; keep a margin
_SYMBOLS = {"added": "+", "removed": "-", "renamed": "~", "changed": "~"}
_COLOURS = {"added": "green", "removed": "red", "renamed": "yellow", "changed": "yellow"}
_ACTIONS = ("create", "update", "replace", "delete")


# -- shared wording ----------------------------------------------------------------------------------

def _canary_event(move: CanaryMove, arrow: str) -> str:
    if move.before is None:
        return f"canary added at {move.after}%"
    if move.after is None:
        if move.promoted:
            return f"canary promoted from {move.before}% to all of the traffic"
        return f"canary removed: its {move.before}% of the traffic goes back to the stable version"
    return f"canary traffic {move.before}% {arrow} {move.after}%"


def model_events(diff: ModelDiff, *, objects_change: bool = False, arrow: str = "->") -> list[str]:
    """What happens to a model, most important first: ["changed", "canary traffic 10% -> 50%"]."""
    if diff.status == "renamed":
        events = [f"renamed from {diff.renamed_from}"]
    elif diff.status == "unchanged":
        events = ["spec unchanged, objects change" if objects_change else "unchanged"]
    else:
        events = [diff.status]
    if diff.migration:
        events.append(f"moves from backend {diff.backend_before} to {diff.backend_after}")
    if diff.canary is not None:
        events.append(_canary_event(diff.canary, arrow))
    logging = _logging_event(diff)
    if logging:
        events.append(logging)
    return events


def _logging_event(diff: ModelDiff) -> str | None:
    """Inference logging switched on or off for a model that stays (an added or removed model's
    settings all appear or disappear anyway)."""
    if diff.status not in ("changed", "renamed"):
        return None
    kinds = {f.kind for f in diff.fields if f.path.startswith("inferenceLog.")}
    if kinds == {"remove"}:
        return "inference logging turned off"
    if kinds == {"add"}:
        return "inference logging turned on"
    return None


def _backend(diff: ModelDiff, arrow: str) -> str:
    if diff.migration:
        return f"{diff.backend_before} {arrow} {diff.backend_after}"
    return str(diff.backend_after or diff.backend_before)


def model_brief(diff: ModelDiff) -> str:
    """One line about an added or removed model: its format, artifact, replicas and canary."""
    values = {f.path: (f.shown()[1] if diff.status == "added" else f.shown()[0]) for f in diff.fields}
    parts = [f"{values.get('format')} from {values.get('storageUri', values.get('image'))}"]
    if "replicas.min" in values:
        parts.append(f"replicas {values['replicas.min']}-{values.get('replicas.max')}")
    if "canary.traffic" in values:
        parts.append(f"canary at {values['canary.traffic']}%")
    return ", ".join(parts)


def _counts(changes: Iterable[Change]) -> dict[str, int]:
    counts = dict.fromkeys(_ACTIONS, 0)
    for change in changes:
        if change.action is not Action.NOOP:
            counts[change.action.value] += 1
    return counts


def _models_line(review: SpecDiff) -> str:
    counts: dict[str, int] = {}
    for diff in review.models:
        counts[diff.status] = counts.get(diff.status, 0) + 1
    order = ("added", "changed", "renamed", "removed", "unchanged")
    return ", ".join(f"{counts[s]} {s}" for s in order if counts.get(s))


def _other_changes(review: SpecDiff) -> list[Change]:
    """Object changes that belong to no model of either spec (none in practice; never hidden)."""
    covered = {name for diff in review.models for name in diff.object_models}
    return [c for c in review.plan.changes if c.model not in covered and c.action is not Action.NOOP]


# -- text ----------------------------------------------------------------------------------------------

def review_text(review: SpecDiff, *, colour: bool = False) -> str:
    def style(text: str, fg: str | None) -> str:
        return click.style(text, fg=fg) if colour and fg else text

    lines = [printable(f"Comparing {review.old_name} with {review.new_name}"), ""]
    if not review.has_changes:
        lines.append("No changes. Both specs compile to the same objects.")
        return "\n".join(lines) + "\n"
    if review.warnings:
        lines.append("Warnings:")
        for w in review.warnings:
            text = w.message + (f"; {w.hint}" if w.hint else "")
            lines.append(style(printable(f"  {text} [{w.code}]"), "yellow"))
        lines.append("")
    if review.spec_fields:
        lines.append("Spec:")
        lines.extend(f"  {field_lines(f)}" for f in review.spec_fields)
        lines.append("")
    lines.append(f"Models: {_models_line(review)}.")
    for diff in review.models:
        objects_change = bool(review.changes_of(diff))
        if diff.status == "unchanged" and not objects_change:
            continue
        where = "" if diff.migration else f" (backend {_backend(diff, '->')})"
        events = ", ".join(model_events(diff, objects_change=objects_change))
        symbol = "~" if diff.status == "unchanged" else _SYMBOLS[diff.status]  # its objects change
        head = f"  {symbol} {diff.name}{where}: {events}"
        lines.append(style(printable(head), _COLOURS.get(diff.status)))
        if diff.status in ("added", "removed"):
            lines.append(printable(f"        {model_brief(diff)}"))
        else:
            lines.extend(f"        {field_lines(f)}" for f in diff.fields)
    lines.append("")
    if review.plan.has_changes:
        lines.append(plan_text(review.plan, colour=colour, heading="Objects:").rstrip("\n"))
    else:
        lines.append("Objects: no changes. Both specs compile to the same objects.")
    return "\n".join(lines) + "\n"


# -- JSON ----------------------------------------------------------------------------------------------

def _field_json(change: FieldChange) -> dict[str, Any]:
    before, after = change.shown()
    return {"path": change.path, "change": change.kind, "sensitive": change.sensitive,
            "before": None if before is ABSENT else before, "after": None if after is ABSENT else after,
            "beforeAbsent": before is ABSENT, "afterAbsent": after is ABSENT}


def review_json(review: SpecDiff) -> str:
    plan = review.plan.to_json()
    document = {
        "formatVersion": REVIEW_FORMAT_VERSION,
        "kind": "SpecDiff",
        "old": review.old_name,
        "new": review.new_name,
        "hasChanges": review.has_changes,
        "specFields": [_field_json(f) for f in review.spec_fields],
        "warnings": [w.to_dict() for w in review.warnings],
        "models": [{
            "name": m.name, "status": m.status, "renamedFrom": m.renamed_from,
            "backendBefore": m.backend_before, "backendAfter": m.backend_after, "migration": m.migration,
            "canary": None if m.canary is None else {"before": m.canary.before, "after": m.canary.after,
                                                     "promoted": m.canary.promoted},
            "fields": [_field_json(f) for f in m.fields],
            "objects": _counts(review.changes_of(m)),
        } for m in review.models],
        "summary": plan["summary"],
        "migrations": plan["migrations"],
        "changes": plan["changes"],
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


# -- Markdown ------------------------------------------------------------------------------------------

def _html(text: str) -> str:
    return html.escape(text, quote=False)  # element text only: quotes need no escaping there


def _md_text(text: str) -> str:
    """Plain text as inline Markdown: HTML-escaped, Markdown's punctuation backslash-escaped, and `|`
    as an entity (a table splits its cells at every `|`, escaped or not in some renderers)."""
    return re.sub(r"([\\`*_\[\]~])", r"\\\1", _html(text)).replace("|", "&#124;")


def _md_code(text: str) -> str:
    # Not a `code span`: renderers disagree on `|` inside one in a table; inside <code> the text
    # is parsed as Markdown, hence escaped.
    return f"<code>{_md_text(text)}</code>"


def _code_block(lines: Sequence[str]) -> list[str]:
    # No value can close the fence early: a fence must start its line, and every line here starts
    # with a diff marker, with values JSON-quoted on that one line.
    return ["```diff", *lines, "```"]


def _spec_line(change: FieldChange) -> str:
    # GitHub colours ```diff lines by their first character: + green, - red, ! orange.
    line = field_lines(change)
    return f"! {line}" if change.kind == "change" else line


def _details(summary_html: str, body: Sequence[str]) -> list[str]:
    # An HTML block ends at a blank line, after which GitHub parses Markdown again: hence the blank
    # line after <summary> and before </details>, and `body` ending with one.
    ending = [] if body and body[-1] == "" else [""]
    return ["<details>", f"<summary>{summary_html}</summary>", "", *body, *ending, "</details>", ""]


def _model_section(review: SpecDiff, diff: ModelDiff, show_fields: bool) -> list[str]:
    changes = review.changes_of(diff)
    events = ", ".join(model_events(diff, objects_change=bool(changes), arrow="→"))
    summary = f"<code>{_html(diff.name)}</code>: {_html(events)}"
    body: list[str] = []
    if diff.fields:
        heading = "Spec (effective settings, defaults merged):" if diff.status != "removed" else \
            "Spec (the settings it had):"
        body += [heading, "", *_code_block([_spec_line(f) for f in diff.fields]), ""]
    if changes:
        backends = _backend(diff, "→")
        body += [f"Objects ({_html(backends)}):", "",
                 *_code_block(diff_block_lines(changes, show_fields=show_fields)), ""]
    return _details(summary, body)


def _table(review: SpecDiff, rows: Sequence[ModelDiff]) -> list[str]:
    lines = ["| model | change | backend | create | update | replace | delete |",
             "|---|---|---|---:|---:|---:|---:|"]
    for diff in rows:
        changes = review.changes_of(diff)
        counts = _counts(changes)
        events = ", ".join(model_events(diff, objects_change=bool(changes), arrow="→"))
        lines.append(f"| {_md_code(diff.name)} | {_md_text(events)} | {_md_text(_backend(diff, '→'))} | "
                     + " | ".join(str(counts[a]) for a in _ACTIONS) + " |")
    return lines


def review_markdown(review: SpecDiff, *, max_chars: int = MAX_COMMENT_CHARS) -> str:
    """The comment; at most `max_chars` characters, leaving detail out (and saying so) if need be."""
    def render(sections: bool, show_fields: bool, max_rows: int | None = None) -> str:
        lines = _markdown_lines(review, sections=sections, show_fields=show_fields, max_rows=max_rows)
        return "\n".join(lines).rstrip("\n") + "\n"

    for sections, show_fields in ((True, True), (True, False), (False, False)):
        text = render(sections, show_fields)
        if len(text) <= max_chars:
            return text
    # Thousands of models: as many table rows as fit (found by bisection), the warnings kept.
    low, high = 0, len(review.models)
    while low < high:
        middle = (low + high + 1) // 2
        if len(render(False, False, middle)) <= max_chars:
            low = middle
        else:
            high = middle - 1
    text = render(False, False, low)
    if len(text) > max_chars:  # not even the warnings fit: the limit wins
        note = "\n\n_The comment is cut here to fit GitHub's size limit; run `specc diff` for the rest._\n"
        text = text[: max(0, max_chars - len(note))].rsplit("\n", 1)[0] + note
    return text


def _markdown_lines(review: SpecDiff, *, sections: bool, show_fields: bool,
                    max_rows: int | None = None) -> list[str]:
    lines = [MARKER, "### specc diff", "",
             f"{_md_code(review.old_name)} → {_md_code(review.new_name)}", ""]
    if not review.has_changes:
        lines.append("**No changes.** Both specs compile to the same Kubernetes objects.")
        return lines
    rows = [d for d in review.models if d.status != "unchanged" or review.changes_of(d)]
    unchanged = len(review.models) - len(rows)
    tail = f" {unchanged} other model{'s' if unchanged != 1 else ''} unchanged." if unchanged else ""
    if rows:
        shown = rows if max_rows is None else rows[:max_rows]
        lines.extend(_table(review, shown))
        if len(shown) < len(rows):
            lines.append(f"| … and {len(rows) - len(shown)} more models: run `specc diff` for them | | | | | | |")
        lines.append("")
    lines.extend([f"**{summary_line(review.plan)}**{tail}", ""])
    if review.warnings:
        lines.append("> [!WARNING]")
        for w in review.warnings:
            hint = f"; {_md_text(w.hint)}" if w.hint else ""
            lines.append(f"> - **{w.code}** {_md_text(w.message)}{hint}")
        lines.append("")
    if review.spec_fields:
        spec_lines = [_spec_line(f) for f in review.spec_fields]
        lines.extend(["Spec metadata:", "", *_code_block(spec_lines), ""])
    if not sections:
        lines.append("_The per-model details are left out to fit GitHub's size limit; run `specc diff` "
                     "for them._")
        return lines
    if not show_fields:
        lines.extend(["_Object field changes are left out to fit GitHub's size limit; run `specc diff` "
                      "for them._", ""])
    for diff in rows:
        lines.extend(_model_section(review, diff, show_fields))
    other = _other_changes(review)
    if other:
        block = _code_block(diff_block_lines(other, show_fields=show_fields))
        lines.extend(_details("other objects", ["Objects:", "", *block, ""]))
    return lines
