"""Reviewing a spec change without a cluster: what it does to the models and to the objects.

Takes two validated specs (and what they compile to); returns a `SpecDiff`: per model (added,
removed, renamed, changed fields of its effective settings, backend moved, canary moved) and per
Kubernetes object (a `Plan` of the new objects against the old ones, with the same vocabulary and
masking as `specc plan`), plus the warnings a reviewer cares about. Pure; must not read files,
talk to a cluster or print.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from specc import applyset
from specc.diagnostics import Diagnostic, Severity
from specc.fielddiff import ABSENT, FieldChange, field_changes
from specc.ir import ModelIR
from specc.objects import DesiredSet
from specc.plan import Action, LiveState, Plan, make_plan

REVIEW_FORMAT_VERSION = "1"


@dataclass(frozen=True)
class ModelDiff:
    name: str
    status: str  # added | removed | renamed | changed | unchanged
    backend_before: str | None
    backend_after: str | None
    fields: tuple[FieldChange, ...] = ()
    renamed_from: str | None = None

    @property
    def migration(self) -> bool:
        return bool(self.backend_before and self.backend_after and self.backend_before != self.backend_after)


@dataclass(frozen=True)
class SpecDiff:
    old_name: str
    new_name: str
    models: tuple[ModelDiff, ...]
    plan: Plan
    warnings: tuple[Diagnostic, ...]

    @property
    def has_changes(self) -> bool:
        return self.plan.has_changes or any(m.status != "unchanged" for m in self.models)


def model_settings(model: ModelIR) -> dict[str, Any]:
    """A model's effective settings (defaults merged), in the spec's own vocabulary."""
    canary = model.canary
    options = model.options.model_dump(by_alias=True, exclude_defaults=True) \
        if hasattr(model.options, "model_dump") else model.options
    data: dict[str, Any] = {
        "backend": model.backend,
        "format": model.format,
        "storageUri": model.storage.uri if model.storage else None,
        "image": model.image,
        "port": model.port,
        "engine": model.engine,
        "protocol": model.protocol,
        "replicas": {"min": model.min_replicas, "max": model.max_replicas},
        "autoscaling": dataclasses.asdict(model.autoscaling) if model.autoscaling else None,
        "resources": {"cpu": model.resources.cpu, "memory": model.resources.memory,
                      "gpu": model.resources.gpu or None},
        "env": dict(model.env) or None,
        "secretEnv": {s.name: {"secret": s.secret, "key": s.key} for s in model.secret_env} or None,
        "serviceAccount": model.service_account,
        "canary": {"traffic": canary.traffic, "storageUri": canary.storage.uri if canary.storage else None,
                   "image": canary.image} if canary else None,
        "ingress": dataclasses.asdict(model.ingress) if model.ingress else None,
        "monitoring": {"metrics": model.metrics},
        "provenance": {"registry": model.provenance.registry, "uri": model.provenance.uri,
                       "version": model.provenance.version, "runId": model.provenance.run_id}
        if model.provenance else None,
        "options": options or None,
    }
    return _drop_none(data)


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None and v != {}}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def diff_specs(old_name: str, old_models: tuple[ModelIR, ...], old_desired: DesiredSet,
               new_name: str, new_models: tuple[ModelIR, ...], new_desired: DesiredSet,
               replace_paths: Mapping[Any, Any] | None = None) -> SpecDiff:
    old = {m.name: m for m in old_models}
    new = {m.name: m for m in new_models}
    diffs: list[ModelDiff] = []
    removed = sorted(set(old) - set(new))
    added = sorted(set(new) - set(old))
    renamed: dict[str, str] = {}
    for name in added:
        for gone in removed:
            if gone not in renamed.values() and model_settings(old[gone]) == model_settings(new[name]):
                renamed[name] = gone
                break
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name), new.get(name)
        if after is not None and name in renamed:
            diffs.append(ModelDiff(name, "renamed", old[renamed[name]].backend, after.backend,
                                   renamed_from=renamed[name]))
        elif before is not None and after is None:
            if name not in renamed.values():
                diffs.append(ModelDiff(name, "removed", before.backend, None))
        elif before is None and after is not None:
            diffs.append(ModelDiff(name, "added", None, after.backend,
                                   tuple(field_changes(ABSENT, model_settings(after)))))
        elif before is not None and after is not None:
            fields = tuple(field_changes(model_settings(before), model_settings(after)))
            diffs.append(ModelDiff(name, "changed" if fields else "unchanged", before.backend, after.backend,
                                   fields))
    # The old spec's objects play the part of the live state: a directory-target style plan.
    state = LiveState({o.key: o.body for o in old_desired}, server_side=False)
    plan = make_plan(new_desired, state, applyset_id=applyset.spec_applyset_id(new_desired.spec_name,
                                                                                 new_desired.namespace),
                     target=f"{old_name} -> {new_name}", replace_paths=replace_paths, allow_empty=True)
    warnings = _warnings(diffs, old, new, plan)
    return SpecDiff(old_name, new_name, tuple(diffs), plan, tuple(warnings))


def _warnings(diffs: list[ModelDiff], old: Mapping[str, ModelIR], new: Mapping[str, ModelIR],
              plan: Plan) -> list[Diagnostic]:
    out: list[Diagnostic] = []

    def warn(code: str, message: str) -> None:
        out.append(Diagnostic(code, message, severity=Severity.WARNING))

    for diff in diffs:
        if diff.status == "removed":
            warn("W801", f"model {diff.name} is deleted: its traffic is lost")
        if diff.status == "renamed":
            warn("W802", f"model {diff.renamed_from} is renamed to {diff.name}: its objects are deleted and "
                 "recreated under the new name, and clients must follow the new name")
        if diff.migration:
            warn("W803", f"model {diff.name} moves from backend {diff.backend_before} to {diff.backend_after}")
        before, after = old.get(diff.name), new.get(diff.name)
        if before is None or after is None:
            continue
        old_traffic = before.canary.traffic if before.canary else None
        new_traffic = after.canary.traffic if after.canary else None
        if new_traffic == 100 and (old_traffic is None or old_traffic < 50):
            warn("W804", f"model {diff.name}: canary traffic jumps to 100% from "
                 f"{'no canary' if old_traffic is None else f'{old_traffic}%'} in one step")
        if after.min_replicas == 0 and before.min_replicas > 0:
            warn("W805", f"model {diff.name}: replicas.min drops to 0 (cold starts, or no capacity at all)")
        if before.provenance is not None and after.provenance is None:
            warn("W806", f"model {diff.name}: provenance is removed: predictions can no longer be traced to "
                 "the registry")
    for change in plan.changes:
        if change.action is Action.REPLACE:
            warn("W807", f"{change.key} (model {change.model}) must be replaced: {change.reason}")
    return out
