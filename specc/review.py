"""Reviewing a spec change without a cluster: what it does to the models and to the objects.

Takes two validated specs (their models and what they compile to); returns a `SpecDiff`:

- per model: added, removed, renamed, changed or unchanged; the changed fields of its effective
  settings (defaults merged) in the spec's own vocabulary, secret-looking env values masked as in
  plans; the backend it moves from and to; how its canary traffic moves;
- per Kubernetes object: a `Plan` of the new spec's objects against the old spec's, which play the
  part of the live state (as for a directory target), so the vocabulary, masking and replace rules
  are exactly those of `specc plan`;
- the warnings a reviewer must not miss (W801-W807, W810 inference logging turned off, see `_warnings`;
  W808 the namespace moves; W809 a migration to a backend that reads the artifact in another layout,
  `layout_warning`, which `specc plan` reports too, as it does W810; W811 a changed model's objects
  depend on a registry and are not compared).

A model is "renamed" when a removed and an added model have the same settings, or failing that the
same format and artifact (storageUri or image) and no other candidate on either side; its fields
are then the differences besides the name. Output order is fixed (models by name, warnings by
model, then code), so reports made from it are deterministic. Pure; must not read files, talk to a
cluster or print.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from specc import applyset
from specc.credentials import sensitive_name
from specc.diagnostics import Diagnostic, Path, Severity
from specc.fielddiff import ABSENT, FieldChange, field_changes
from specc.ir import ModelIR, ProvenanceIR, RegistryRefIR
from specc.objects import DesiredSet, ObjectKey
from specc.plan import LOGGING_OFF_HINT, Action, Change, LiveState, Plan, make_plan

REVIEW_FORMAT_VERSION = "1"
# A canary that reaches 100% (or is promoted) from below this share has skipped the usual steps.
CANARY_BIG_STEP = 50
# `env.NAME`, `env["NAME.WITH.DOTS"]`: a literal env value in the spec's vocabulary.
_ENV_PATH = re.compile(r'^env(?:\.(?P<plain>[A-Za-z0-9_-]+)|\["(?P<quoted>.+)"\])$')


@dataclass(frozen=True)
class CanaryMove:
    """Canary traffic in percent before and after (None: no canary). `promoted`: the canary was
    removed and its artifact is now the stable one."""

    before: int | None
    after: int | None
    promoted: bool = False


@dataclass(frozen=True)
class ModelDiff:
    name: str
    status: str  # added | removed | renamed | changed | unchanged
    backend_before: str | None
    backend_after: str | None
    fields: tuple[FieldChange, ...] = ()  # all settings as added (removed) for an added (removed) model
    renamed_from: str | None = None
    canary: CanaryMove | None = None

    @property
    def migration(self) -> bool:
        return bool(self.backend_before and self.backend_after and self.backend_before != self.backend_after)

    @property
    def object_models(self) -> tuple[str, ...]:
        """The model names its objects carry in the plan: a renamed model's old objects too."""
        return (self.name, self.renamed_from) if self.renamed_from else (self.name,)


@dataclass(frozen=True)
class SpecDiff:
    old_name: str
    new_name: str
    models: tuple[ModelDiff, ...]
    plan: Plan
    warnings: tuple[Diagnostic, ...]
    spec_fields: tuple[FieldChange, ...] = ()  # metadata.name / metadata.namespace of the spec

    def masked(self) -> SpecDiff:
        """Every value hidden (`--mask-all`): settings, spec fields and object fields."""
        return dataclasses.replace(
            self, plan=self.plan.masked(), spec_fields=tuple(f.masked() for f in self.spec_fields),
            models=tuple(dataclasses.replace(m, fields=tuple(f.masked() for f in m.fields)) for m in self.models))

    @property
    def has_changes(self) -> bool:
        return (self.plan.has_changes or bool(self.spec_fields)
                or any(m.status != "unchanged" for m in self.models))

    def changes_of(self, diff: ModelDiff) -> list[Change]:
        """The plan's object changes (no-ops left out) that belong to one model."""
        by_model = self.plan.by_model()
        return [c for name in diff.object_models for c in by_model.get(name, [])
                if c.action is not Action.NOOP]


def model_settings(model: ModelIR) -> dict[str, Any]:
    """A model's effective settings (defaults merged), in the spec's own vocabulary."""
    canary = model.canary
    log = model.inference_log
    # Backend options as written (after merging defaults): a backend's own defaults are not the
    # spec's business, and keying them by backend keeps the spec's path (`options.kserve.x`).
    options = model.options.model_dump(by_alias=True, exclude_unset=True, mode="json") \
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
        "registry": _registry(model.registry),
        "canary": {"traffic": canary.traffic, "storageUri": canary.storage.uri if canary.storage else None,
                   "image": canary.image, "registry": _registry(canary.registry),
                   "provenance": _provenance(canary.provenance)} if canary else None,
        "ingress": dataclasses.asdict(model.ingress) if model.ingress else None,
        "monitoring": {"metrics": model.metrics},
        "provenance": _provenance(model.provenance),
        "inferenceLog": {"url": log.url, "mode": log.mode, "percent": log.percent,
                         "provenance": ", ".join(log.provenance) or "(none)"} if log else None,
        "options": {model.backend: options} if options else None,
    }
    cleaned: dict[str, Any] = _drop_none(data)
    return cleaned


def _registry(ref: RegistryRefIR | None) -> dict[str, Any] | None:
    """A registry reference as written: `specc diff` is offline, so it shows the reference that
    changes (alias champion -> challenger), not what the registry resolves it to."""
    if ref is None:
        return None
    return {"provider": ref.provider, "model": ref.model, "alias": ref.alias, "version": ref.version,
            "trackingUri": ref.tracking_uri}


def _provenance(provenance: ProvenanceIR | None) -> dict[str, Any] | None:
    if provenance is None:
        return None
    return {"registry": provenance.registry, "uri": provenance.uri, "version": provenance.version,
            "runId": provenance.run_id}


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        cleaned = {k: _drop_none(v) for k, v in value.items() if v is not None}
        return {k: v for k, v in cleaned.items() if v != {}}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def settings_changes(before: Any, after: Any) -> tuple[FieldChange, ...]:
    """Field changes between two models' settings (ABSENT for none); secret-looking env values are
    marked sensitive, as the same values are in the objects' `env[name=X].value`."""
    def secret(change: FieldChange) -> bool:
        match = _ENV_PATH.match(change.path)
        name = match and (match.group("plain") or match.group("quoted"))
        return bool(name and sensitive_name(name))

    return tuple(dataclasses.replace(c, sensitive=True) if secret(c) else c
                 for c in field_changes(before, after))


def _source(model: ModelIR) -> tuple[str, str | None, str | None, str | None]:
    return (model.format, model.storage.uri if model.storage else None, model.image,
            model.registry.selector if model.registry else None)


def _renames(old: Mapping[str, ModelIR], new: Mapping[str, ModelIR]) -> dict[str, str]:
    """New name -> old name, for removed models that reappear under another name."""
    removed = sorted(set(old) - set(new))
    added = sorted(set(new) - set(old))
    renamed: dict[str, str] = {}
    # Identical settings first: the plainest rename, unambiguous in sorted order.
    for name in added:
        settings = model_settings(new[name])
        gone = next((g for g in removed
                     if g not in renamed.values() and model_settings(old[g]) == settings), None)
        if gone is not None:
            renamed[name] = gone
    # Then a rename that also changes something: the same artifact, when nothing else could match.
    left_removed = [g for g in removed if g not in renamed.values()]
    left_added = [a for a in added if a not in renamed]
    for name in left_added:
        candidates = [g for g in left_removed if _source(old[g]) == _source(new[name])]
        rivals = [a for a in left_added if _source(new[a]) == _source(new[name])]
        if len(candidates) == 1 and len(rivals) == 1:
            renamed[name] = candidates[0]
    return renamed


def _canary_move(before: ModelIR, after: ModelIR) -> CanaryMove | None:
    old_traffic = before.canary.traffic if before.canary else None
    new_traffic = after.canary.traffic if after.canary else None
    if old_traffic == new_traffic:
        return None
    promoted = bool(before.canary and not after.canary
                    and (before.canary.storage.uri if before.canary.storage else None,
                         before.canary.image) == (after.storage.uri if after.storage else None, after.image))
    return CanaryMove(old_traffic, new_traffic, promoted)


LayoutOf = Callable[[ModelIR, str], "frozenset[str] | None"]


def layout_warning(model: ModelIR, from_backend: str, to_backend: str, layout_of: LayoutOf) -> Diagnostic | None:
    """W809: a model migrates to a backend that reads its storageUri in a layout the old backend's
    artifact need not have (KServe's TorchServe needs config/config.properties besides model-store/;
    Seldon Core 2's Triton reads one model's folder where the others read a model repository).
    `layout_of(model, backend)` is what that backend's serving container reads (None: unknown)."""
    before, after = layout_of(model, from_backend), layout_of(model, to_backend)
    if model.storage is None or before is None or after is None or after <= before:
        return None
    missing = ", ".join(sorted(after - before))
    return Diagnostic(
        "W809", f"model {model.name}: backend {to_backend} reads {model.storage.uri} as "
        f"{' + '.join(sorted(after))}, backend {from_backend} as {' + '.join(sorted(before))}: an artifact "
        f"laid out for {from_backend} lacks {missing}, and the new objects would never become ready",
        severity=Severity.WARNING,
        hint=f"add {missing} to the artifact (or point storageUri at one laid out for {to_backend}) before "
        "migrating")


def diff_specs(old_name: str, old_models: tuple[ModelIR, ...], old_desired: DesiredSet,
               new_name: str, new_models: tuple[ModelIR, ...], new_desired: DesiredSet,
               replace_paths: Mapping[ObjectKey, Sequence[Path]] | None = None,
               layout_of: LayoutOf | None = None) -> SpecDiff:
    """Compare two compiled specs; `replace_paths` are the backends' fields that force a replace;
    `layout_of` tells the artifact layouts backends read (for migration warnings)."""
    old = {m.name: m for m in old_models}
    new = {m.name: m for m in new_models}
    renamed = _renames(old, new)
    pairs: list[tuple[ModelDiff, ModelIR | None, ModelIR | None]] = []
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name), new.get(name)
        if name in renamed.values():
            continue  # reported under its new name
        if after is not None and name in renamed:
            before = old[renamed[name]]
            fields = settings_changes(model_settings(before), model_settings(after))
            diff = ModelDiff(name, "renamed", before.backend, after.backend, fields, renamed[name],
                             _canary_move(before, after))
        elif before is not None and after is None:
            diff = ModelDiff(name, "removed", before.backend, None,
                             settings_changes(model_settings(before), ABSENT))
        elif before is None and after is not None:
            diff = ModelDiff(name, "added", None, after.backend,
                             settings_changes(ABSENT, model_settings(after)))
        else:
            assert before is not None and after is not None
            fields = settings_changes(model_settings(before), model_settings(after))
            diff = ModelDiff(name, "changed" if fields else "unchanged", before.backend, after.backend,
                             fields, canary=_canary_move(before, after))
        pairs.append((diff, before, after))
    # The old spec's objects play the part of the live state: a directory-target style plan. A model
    # whose artifacts come from a registry has no objects offline (they are resolved when planning):
    # its old objects are left out too, rather than shown as deleted.
    unresolved = {m.name for m in (*old_models, *new_models) if m.unresolved}
    unresolved |= {old_name_ for new_name_, old_name_ in renamed.items() if new_name_ in unresolved}
    state = LiveState({o.key: o.body for o in old_desired if o.model not in unresolved}, server_side=False)
    plan = make_plan(new_desired, state, applyset_id=applyset.spec_applyset_id(new_desired.spec_name,
                                                                                 new_desired.namespace),
                     target=f"{old_name} -> {new_name}", replace_paths=replace_paths, allow_empty=True)
    spec_fields = tuple(field_changes(
        {"metadata": {"name": old_desired.spec_name, "namespace": old_desired.namespace}},
        {"metadata": {"name": new_desired.spec_name, "namespace": new_desired.namespace}}))
    warnings = _warnings(pairs, plan, layout_of)
    for name in sorted(d.name for d, _, after in pairs if after is not None and after.unresolved
                       and d.status != "unchanged"):
        warnings.append(Diagnostic(
            "W811", f"model {name} takes its artifacts from a model registry: its objects are resolved when "
            "planning, so this review shows its spec changes only", severity=Severity.WARNING,
            hint="run specc plan to see the version the registry resolves to now"))
    if old_desired.namespace != new_desired.namespace:
        warnings.insert(0, Diagnostic(
            "W808", f"every object moves from namespace {old_desired.namespace} to {new_desired.namespace}: "
            "it is created in the new one and deleted from the old one", severity=Severity.WARNING,
            hint="clients must follow the new namespace"))
    return SpecDiff(old_name, new_name, tuple(d for d, _, _ in pairs), plan, tuple(warnings), spec_fields)


def _warnings(pairs: Sequence[tuple[ModelDiff, ModelIR | None, ModelIR | None]],
              plan: Plan, layout_of: LayoutOf | None = None) -> list[Diagnostic]:
    """W801 model deleted, W802 renamed, W803 backend migration, W804 canary to 100% in one step,
    W805 replicas.min to 0, W806 provenance removed, W807 an object must be replaced, W809 a
    migration to a backend that reads the artifact in another layout, W810 inference logging
    turned off."""
    found: list[tuple[str, Diagnostic]] = []

    def warn(model: str, code: str, message: str, hint: str) -> None:
        found.append((model, Diagnostic(code, message, severity=Severity.WARNING, hint=hint)))

    for diff, before, after in pairs:
        name = diff.name
        if diff.status == "removed":
            warn(name, "W801", f"model {name} is deleted: the traffic it serves is lost",
                 "make sure no client still calls it")
        if diff.status == "renamed":
            warn(name, "W802", f"model {diff.renamed_from} is renamed to {name}: its objects are deleted and "
                 "created again under the new name", "clients must follow the new name")
        if diff.migration:
            warn(name, "W803", f"model {name} moves from backend {diff.backend_before} to "
                 f"{diff.backend_after}",
                 "apply creates the new objects and deletes the old ones only once the new ones are ready")
        if before is None or after is None:
            continue
        if diff.migration and layout_of is not None:
            layout = layout_warning(after, before.backend, after.backend, layout_of)
            if layout is not None:
                found.append((name, layout))
        move = diff.canary
        if move is not None and move.after == 100 and (move.before or 0) < CANARY_BIG_STEP:
            since = "no canary" if move.before is None else f"{move.before}%"
            warn(name, "W804", f"model {name}: canary traffic jumps to 100% from {since} in one step",
                 "step it up (e.g. 10, 25, 50, 100) and watch the canary's metrics at each step")
        elif move is not None and move.promoted and (move.before or 0) < CANARY_BIG_STEP:
            warn(name, "W804", f"model {name}: the canary is promoted from {move.before}% to all of the "
                 "traffic in one step", "step it up (e.g. 10, 25, 50, 100) before promoting it")
        if after.min_replicas == 0 and before.min_replicas > 0:
            warn(name, "W805", f"model {name}: replicas.min drops to 0: requests wait for a cold start, or "
                 "fail while no pod runs", "keep replicas.min at 1 or more for latency-sensitive traffic")
        if before.provenance is not None and after.provenance is None:
            warn(name, "W806", f"model {name}: provenance is removed: its predictions can no longer be "
                 "traced to the registry", "keep provenance (registry, uri, version) on every served model")
        if before.inference_log is not None and after.inference_log is None:
            warn(name, "W810", f"model {name}: inference logging is turned off: its predictions are no "
                 "longer recorded", LOGGING_OFF_HINT)
    for change in plan.changes:
        if change.action is Action.REPLACE:
            warn(change.model, "W807", f"model {change.model}: {change.key} must be replaced: "
                 f"{change.reason}", "it is deleted and created again: the model does not serve in between")
    return [d for _, d in sorted(found, key=lambda item: (item[0], item[1].code, item[1].message))]
