"""Spec diffs (`specc diff`) as text, JSON or Markdown for a pull-request comment.

Takes a `SpecDiff`; returns a string. Models first (what changes for the served models), then the
Kubernetes objects in `specc plan`'s vocabulary; warnings a reviewer must see are on top. Secret
values are masked as in plans. Deterministic, so re-running on the same commit gives the same
comment. Must not print.
"""

from __future__ import annotations

import json
from typing import Any

from specc.fielddiff import ABSENT
from specc.plan import Action
from specc.report.plan import field_lines, markdown_details, model_table, plan_text, summary_line
from specc.review import REVIEW_FORMAT_VERSION, ModelDiff, SpecDiff

MARKER = "<!-- specc-diff -->"  # lets a CI job find and update its own comment


def _model_heading(diff: ModelDiff) -> str:
    if diff.status == "renamed":
        return f"model {diff.name}: renamed from {diff.renamed_from}"
    if diff.migration:
        return f"model {diff.name}: moves from backend {diff.backend_before} to {diff.backend_after}"
    backend = diff.backend_after or diff.backend_before
    return f"model {diff.name}: {diff.status} (backend {backend})"


def review_text(review: SpecDiff, *, colour: bool = False) -> str:
    lines = [f"Comparing {review.old_name} with {review.new_name}", ""]
    if not review.has_changes:
        lines.append("No changes. Both specs compile to the same objects.")
        return "\n".join(lines) + "\n"
    for warning in review.warnings:
        lines.append(f"Warning: {warning.message}")
    if review.warnings:
        lines.append("")
    lines.append("Models:")
    for diff in review.models:
        if diff.status == "unchanged":
            continue
        lines.append(f"  # {_model_heading(diff)}")
        if diff.status in ("changed",):
            lines.extend(f"      {field_lines(f)}" for f in diff.fields)
    lines.append("")
    lines.append(plan_text(review.plan, colour=colour, heading="Objects:").rstrip("\n"))
    return "\n".join(lines) + "\n"


def review_json(review: SpecDiff) -> str:
    plan = review.plan.to_json()

    def value(v: Any) -> Any:
        return None if v is ABSENT else v

    document = {
        "formatVersion": REVIEW_FORMAT_VERSION,
        "kind": "SpecDiff",
        "old": review.old_name,
        "new": review.new_name,
        "hasChanges": review.has_changes,
        "warnings": [w.to_dict() for w in review.warnings],
        "models": [{
            "name": m.name, "status": m.status, "renamedFrom": m.renamed_from,
            "backendBefore": m.backend_before, "backendAfter": m.backend_after, "migration": m.migration,
            "fields": [{"path": f.path, "change": f.kind, "sensitive": f.sensitive,
                        "before": value(f.shown()[0]), "after": value(f.shown()[1])} for f in m.fields],
        } for m in review.models],
        "summary": plan["summary"],
        "changes": plan["changes"],
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def review_markdown(review: SpecDiff) -> str:
    lines = [MARKER, "### specc diff", "", f"`{review.old_name}` → `{review.new_name}`", ""]
    if not review.has_changes:
        lines.append("**No changes.** Both specs compile to the same Kubernetes objects.")
        return "\n".join(lines) + "\n"
    rows = []
    by_model = review.plan.by_model()
    for diff in review.models:
        counts: dict[str, int] = {}
        for change in by_model.get(diff.name, []):
            counts[change.action.value] = counts.get(change.action.value, 0) + 1
        if diff.status == "renamed" and diff.renamed_from:
            for change in by_model.get(diff.renamed_from, []):
                counts[change.action.value] = counts.get(change.action.value, 0) + 1
        backend = (f"{diff.backend_before} → {diff.backend_after}" if diff.migration
                   else str(diff.backend_after or diff.backend_before))
        label = diff.status if diff.status != "renamed" else f"renamed from `{diff.renamed_from}`"
        rows.append((f"`{diff.name}` ({label})", backend, counts))
    lines.extend(model_table(rows))
    lines.extend(["", f"**{summary_line(review.plan)}**", ""])
    if review.warnings:
        lines.extend(f"> :warning: {w.message}" for w in review.warnings)
        lines.append("")
    for diff in review.models:
        changes = [c for c in by_model.get(diff.name, []) if c.action is not Action.NOOP]
        if diff.status == "renamed" and diff.renamed_from:
            changes += [c for c in by_model.get(diff.renamed_from, []) if c.action is not Action.NOOP]
        if diff.status == "unchanged" and not changes:
            continue
        preface = []
        if diff.fields and diff.status == "changed":
            preface = ["Spec:", "", "```diff", *(f"! {field_lines(f)}" for f in diff.fields), "```", "",
                       "Objects:", ""]
        lines.extend(markdown_details(f"{_model_heading(diff).replace(diff.name, f'<code>{diff.name}</code>', 1)}",
                                      changes, preface))
    return "\n".join(lines).rstrip("\n") + "\n"
