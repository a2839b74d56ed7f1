"""Plans as text (Terraform's vocabulary and symbols), JSON (the versioned plan format) or Markdown
(a pull-request comment). Also used for `specc diff`, which reports object changes the same way.

Takes a `Plan`; returns a string. Secret values are masked in every format (`FieldChange.shown`).
Output is deterministic: models, objects and fields are sorted. Must not print.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Sequence
from typing import Any

import click

from specc.diagnostics import printable
from specc.fielddiff import ABSENT, FieldChange
from specc.plan import Action, Change, Plan
from specc.resolution import Resolution

_COLOURS = {Action.CREATE: "green", Action.UPDATE: "yellow", Action.DELETE: "red", Action.REPLACE: "magenta"}
_PHRASES = {
    Action.CREATE: "will be created",
    Action.UPDATE: "will be updated in place",
    Action.DELETE: "will be deleted",
    Action.REPLACE: "must be replaced",
    Action.NOOP: "is unchanged",
}


def value_text(value: Any) -> str:
    if value is ABSENT:
        return "(absent)"
    if isinstance(value, str):
        return value if value == "(sensitive value)" else json.dumps(value)
    return json.dumps(value, sort_keys=True, separators=(", ", ": "))


def summary_line(plan: Plan) -> str:
    counts = plan.summary
    parts = [f"{counts['create']} to create", f"{counts['update']} to update"]
    if counts["replace"]:
        parts.append(f"{counts['replace']} to replace")
    parts.append(f"{counts['delete']} to delete")
    return "Plan: " + ", ".join(parts) + "."


def field_lines(change: FieldChange) -> str:
    return printable(_field_line(change))


def _field_line(change: FieldChange) -> str:
    before, after = change.shown()
    if change.kind == "add":
        return f"+ {change.path} = {value_text(after)}"
    if change.kind == "remove":
        return f"- {change.path} = {value_text(before)}"
    if change.sensitive:
        return f"~ {change.path}: {value_text(before)} (changed)"
    return f"~ {change.path}: {value_text(before)} -> {value_text(after)}"


def _style(text: str, action: Action, colour: bool) -> str:
    return click.style(text, fg=_COLOURS.get(action)) if colour and action in _COLOURS else text


def moved_line(resolution: Resolution) -> str:
    """`fraud: champion 3 → 4, run 9f1c2a → 77b0e1`: what an alias move changes for a model."""
    label = resolution.alias if resolution.alias is not None else "version"
    line = f"{resolution.model}: {label} {resolution.previous_version} → {resolution.version}"
    if resolution.previous_run_id != resolution.run_id:
        line += f", run {resolution.previous_run_id or '(none)'} → {resolution.run_id or '(none)'}"
    return line


def registry_lines(plan: Plan) -> list[str]:
    """Which artifacts each registry reference resolved to, where they came from, and what moved."""
    if not plan.resolutions:
        return []
    lines = ["Registry references, resolved for this plan (a saved plan pins them):"]
    for r in plan.resolutions:
        what = r.model if r.role == "model" else f"{r.model} (canary)"
        run = f", run {r.run_id}" if r.run_id else ""
        lines.append(f"  {what}: {r.provider} {r.reference} is version {r.version}{run} ({r.registry_uri})")
        lines.append(f"      serves {r.storage_uri}")
        for step in r.mapped:
            lines.append(f"      because {step}")
    moved = [moved_line(r) for r in plan.resolutions if r.moved]
    if moved:
        lines.append("")
        lines.append("The registry moved since the live objects were applied:")
        lines.extend(f"  {line}" for line in moved)
    return ["", *lines]


def plan_text(plan: Plan, *, colour: bool = False, show_fields: bool = True,
              heading: str | None = None) -> str:
    lines: list[str] = []
    # Every line is escaped before it is coloured: names, notes and live values come from the spec or
    # the cluster, and must not move the cursor, recolour or reverse the text of a terminal.
    if not plan.has_changes:
        lines.append(printable(heading or f"Target: {plan.target}"))
        lines.extend(registry_lines(plan))
        lines.append("")
        lines.append("No changes. The live objects match the spec.")
        lines.extend(_warnings(plan))
        return "\n".join(lines) + "\n"
    lines.append(printable(heading or f"Target: {plan.target}"))
    lines.extend(registry_lines(plan))
    lines.append("")
    lines.append("specc will perform the following actions (+ create, ~ update in place, - delete, "
                 "-/+ replace):")
    for model, changes in plan.by_model().items():
        visible = [c for c in changes if c.action is not Action.NOOP]
        if not visible:
            continue
        lines.append("")
        lines.append(printable(f"  # model {model}" + _model_suffix(plan, model, changes)))
        for change in visible:
            lines.extend(_change_lines(change, colour, show_fields))
    lines.append("")
    lines.append(summary_line(plan))
    lines.extend(_warnings(plan))
    return "\n".join(lines) + "\n"


def _model_suffix(plan: Plan, model: str, changes: Sequence[Change]) -> str:
    migration = plan.migration_for(model)
    if migration is not None:
        return (f" moves from backend {migration.from_backend} to {migration.to_backend}: the new objects "
                "are created and must be ready before the old ones are deleted")
    backends = sorted({c.backend for c in changes if c.backend})
    return f" (backend {', '.join(backends)})" if backends else ""


def _change_lines(change: Change, colour: bool, show_fields: bool) -> list[str]:
    symbol = change.action.symbol
    head = f"  {symbol:>3} {change.key} {_PHRASES[change.action]}"
    if change.reason and change.action in (Action.REPLACE, Action.UPDATE, Action.DELETE):
        head += f" ({change.reason})"
    out = [_style(printable(head), change.action, colour)]
    for note in change.notes:
        out.append(printable(f"        ! {note}"))
    if show_fields and change.action is not Action.DELETE:
        for field in change.fields:
            out.append(_style("        " + field_lines(field), change.action, colour))
    return out


def _warnings(plan: Plan) -> list[str]:
    if not plan.warnings:
        return []
    return ["", *(printable(f"Warning: {w.message}" + (f" ({w.hint})" if w.hint else "")) for w in plan.warnings)]


def plan_json(plan: Plan) -> str:
    return json.dumps(plan.to_json(), indent=2, sort_keys=True) + "\n"


def model_table(rows: Iterable[tuple[str, str, dict[str, int]]]) -> list[str]:
    """A Markdown table; the first cell of each row is Markdown already (e.g. "`fraud` (added)")."""
    lines = ["| model | backend | create | update | replace | delete |", "|---|---|---:|---:|---:|---:|"]
    for model, backend, counts in rows:
        lines.append(f"| {model} | {backend} | {counts.get('create', 0)} | {counts.get('update', 0)} | "
                     f"{counts.get('replace', 0)} | {counts.get('delete', 0)} |")
    return lines


def _code(text: str) -> str:
    """A value from the spec or the registry inside a Markdown table or list: an HTML code element,
    escaped, so a `|`, a backtick or a tag in it cannot break the table or inject markup."""
    return f"<code>{html.escape(printable(text), quote=False).replace('|', '&#124;')}</code>"


def registry_markdown(plan: Plan) -> list[str]:
    if not plan.resolutions:
        return []
    lines = ["| model | reference | version | run | serves |", "|---|---|---|---|---|"]
    for r in plan.resolutions:
        what = _code(r.model) + (" (canary)" if r.role == "canary" else "")
        moved = f" (was {_code(r.previous_version or '')})" if r.moved else ""
        lines.append(f"| {what} | {_code(f'{r.provider} {r.reference}')} | {_code(r.version)}{moved} | "
                     f"{_code(r.run_id or '')} | {_code(r.storage_uri)} |")
    moved_lines = [moved_line(r) for r in plan.resolutions if r.moved]
    if moved_lines:
        lines.extend(["", "The registry moved since the live objects were applied:", ""])
        lines.extend(f"- {_code(line)}" for line in moved_lines)
    return [*lines, ""]


def plan_markdown(plan: Plan, *, title: str = "specc plan") -> str:
    lines = [f"### {title}", "", f"Target: `{plan.target}`", ""]
    lines.extend(registry_markdown(plan))
    if not plan.has_changes:
        lines.append("**No changes.** The live objects match the spec.")
        return "\n".join(lines) + "\n"
    rows = []
    for model, changes in plan.by_model().items():
        counts: dict[str, int] = {}
        for change in changes:
            counts[change.action.value] = counts.get(change.action.value, 0) + 1
        migration = plan.migration_for(model)
        backend = (f"{migration.from_backend} → {migration.to_backend}" if migration
                   else ", ".join(sorted({c.backend for c in changes if c.backend})))
        rows.append((f"`{model}`", backend, counts))
    lines.extend(model_table(rows))
    lines.extend(["", f"**{summary_line(plan)}**", ""])
    for model, changes in plan.by_model().items():
        visible = [c for c in changes if c.action is not Action.NOOP]
        if not visible:
            continue
        lines.extend(markdown_details(f"model <code>{model}</code>", visible))
    lines.extend(_warnings(plan))
    return "\n".join(lines).rstrip("\n") + "\n"


def markdown_details(summary_html: str, changes: Sequence[Change], preface: Sequence[str] = ()) -> list[str]:
    lines = ["<details>", f"<summary>{summary_html}</summary>", ""]
    lines.extend(preface)
    lines.append("```diff")
    lines.extend(diff_block_lines(changes))
    lines.extend(["```", "", "</details>", ""])
    return lines


def diff_block_lines(changes: Sequence[Change], *, show_fields: bool = True) -> list[str]:
    """The object changes as the lines of a ```diff block (without the fences)."""
    lines = []
    for change in changes:
        head = f"{_diff_marker(change.action)} {change.key} {_PHRASES[change.action]}"
        if change.reason and change.action is not Action.CREATE:
            head += f" ({change.reason})"
        lines.append(printable(head))
        for note in change.notes:
            lines.append(printable(f"! {note}"))
        if show_fields and change.action is not Action.DELETE:
            for field in change.fields:
                lines.append(f"{_diff_marker(change.action)}   {field_lines(field)}")
    return lines


def _diff_marker(action: Action) -> str:
    # GitHub colours ```diff lines by their first character: + green, - red, ! orange.
    return {Action.CREATE: "+", Action.DELETE: "-", Action.UPDATE: "!", Action.REPLACE: "!"}.get(action, " ")
