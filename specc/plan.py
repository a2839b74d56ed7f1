"""Plans: what an apply would do to bring the live objects to the desired set, Terraform style.

Takes a `DesiredSet` and a `LiveState` (the live members of the spec's ApplySet and, for objects that
differ, the server's dry-run preview of them); returns a `Plan`. Pure: reading the live state is the
target's job (`specc.targets`), and this module must not talk to a cluster, read files or print.

Per object the action is create (+), update (~), delete (-), replace (-/+) or no-op, with a field
diff restricted to the fields specc manages: server defaults, other managers' fields, status and
metadata bookkeeping never show. A model whose objects move to another backend is one migration:
its new objects are created and its old ones deleted only once the new ones are ready.

The JSON form (`Plan.to_json`) is a versioned, documented format for bots (see README, "Plan JSON").
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from specc import __version__
from specc.diagnostics import Diagnostic, Path, PlanError, Severity
from specc.fielddiff import (
    ABSENT,
    FieldChange,
    PathStep,
    covers,
    field_changes,
    has_path,
    removed_fields,
    union_shape,
)
from specc.objects import (
    BACKEND_ANNOTATION,
    INFERENCE_LOG_ANNOTATION,
    MODEL_LABEL,
    PROVENANCE_PREFIX,
    DesiredSet,
    Manifest,
    ObjectKey,
    stage_of,
)
from specc.resolution import Resolution

PLAN_FORMAT_VERSION = "1"
FIELD_MANAGER = "specc"
CANARY_TRAFFIC = "specc.dev/canary-traffic"
CANARY_EFFECTIVE = "specc.dev/canary-effective-traffic"

# Fields the API server will not change in place, for core kinds (backends declare their own).
CORE_REPLACE_PATHS: dict[str, tuple[Path, ...]] = {
    "Deployment": (("spec", "selector"),),
    "StatefulSet": (("spec", "selector"), ("spec", "serviceName"), ("spec", "volumeClaimTemplates")),
    "Job": (("spec", "selector"), ("spec", "template")),
    "Service": (("spec", "clusterIP"),),
}


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    REPLACE = "replace"
    NOOP = "no-op"

    @property
    def symbol(self) -> str:
        return {"create": "+", "update": "~", "delete": "-", "replace": "-/+", "no-op": " "}[self.value]

    @property
    def actions(self) -> list[str]:
        """Terraform's JSON spelling: a replace is ["delete", "create"]."""
        return ["delete", "create"] if self is Action.REPLACE else [self.value]


@dataclass(frozen=True)
class Preview:
    """The server's answer to a dry-run apply of one desired object."""

    result: Manifest | None = None
    immutable: str | None = None  # the server refused the change in place (422 "field is immutable")
    conflict: str | None = None  # another field manager owns fields we set (409)


@dataclass(frozen=True)
class LiveState:
    """What the target holds: the spec's live objects, and previews of the ones that differ."""

    objects: Mapping[ObjectKey, Manifest]
    previews: Mapping[ObjectKey, Preview] = field(default_factory=dict)
    parent_group_kinds: frozenset[str] = frozenset()
    server_side: bool = True  # False for directory targets: files hold exactly what was written
    differing: frozenset[ObjectKey] | None = None  # `needs_preview` already computed by the reader


@dataclass(frozen=True)
class Change:
    key: ObjectKey
    model: str
    backend: str
    action: Action
    api_version: str
    fields: tuple[FieldChange, ...] = ()
    reason: str | None = None
    notes: tuple[str, ...] = ()
    live_resource_version: str | None = None
    live_uid: str | None = None
    previous_backend: str | None = None

    @property
    def address(self) -> str:
        return f"{self.key.group_kind}/{self.key.namespace}/{self.key.name}"


@dataclass(frozen=True)
class Migration:
    model: str
    from_backend: str
    to_backend: str


@dataclass(frozen=True)
class Plan:
    spec_name: str
    namespace: str
    applyset_id: str
    target: str
    changes: tuple[Change, ...]
    migrations: tuple[Migration, ...] = ()
    desired: Mapping[ObjectKey, Manifest] = field(default_factory=dict, repr=False)
    desired_group_kinds: frozenset[str] = frozenset()
    warnings: tuple[Diagnostic, ...] = ()
    spec_file: str | None = None
    spec_sha256: str | None = None
    cluster_uid: str | None = None  # the target cluster's kube-system UID, when it could be read
    resolutions: tuple[Resolution, ...] = ()  # registry references, as resolved for this plan

    @property
    def summary(self) -> dict[str, int]:
        counts = {a.value: 0 for a in Action}
        for change in self.changes:
            counts[change.action.value] += 1
        return counts

    @property
    def has_changes(self) -> bool:
        return any(c.action is not Action.NOOP for c in self.changes)

    def by_model(self) -> dict[str, list[Change]]:
        models: dict[str, list[Change]] = {}
        for change in self.changes:
            models.setdefault(change.model, []).append(change)
        return dict(sorted(models.items()))

    def migration_for(self, model: str) -> Migration | None:
        return next((m for m in self.migrations if m.model == model), None)

    def masked(self) -> Plan:
        """The plan with every field value hidden, for output posted publicly (`--mask-all`); the
        objects to apply are kept."""
        return replace(self, changes=tuple(replace(c, fields=tuple(f.masked() for f in c.fields))
                                           for c in self.changes),
                       resolutions=tuple(r.masked() for r in self.resolutions))

    def to_json(self, *, include_desired: bool = False) -> dict[str, Any]:
        """The plan as data (format `PLAN_FORMAT_VERSION`); secrets masked unless writing the
        saved-plan file, which also carries the desired objects (`include_desired`)."""
        def value(v: Any) -> Any:
            return None if v is ABSENT else v

        changes = []
        for change in self.changes:
            entry: dict[str, Any] = {
                "address": change.address,
                "actions": change.action.actions,
                "action": change.action.value,
                "model": change.model,
                "backend": change.backend,
                "apiVersion": change.api_version,
                "kind": change.key.kind,
                "group": change.key.group,
                "namespace": change.key.namespace,
                "name": change.key.name,
                "reason": change.reason,
                "notes": list(change.notes),
                "liveResourceVersion": change.live_resource_version,
                "liveUid": change.live_uid,
                "fields": [],
            }
            for f in change.fields:
                shown_before, shown_after = (f.before, f.after) if include_desired else f.shown()
                entry["fields"].append({
                    "path": f.path, "change": f.kind, "sensitive": f.sensitive,
                    "before": value(shown_before), "after": value(shown_after),
                    "beforeAbsent": f.before is ABSENT, "afterAbsent": f.after is ABSENT,
                })
            if change.previous_backend:
                entry["previousBackend"] = change.previous_backend
            if include_desired and change.key in self.desired:
                entry["desired"] = self.desired[change.key]
            changes.append(entry)
        document: dict[str, Any] = {
            "formatVersion": PLAN_FORMAT_VERSION,
            "specc": __version__,
            "spec": {"name": self.spec_name, "namespace": self.namespace, "file": self.spec_file,
                     "sha256": self.spec_sha256},
            "target": self.target,
            "applyset": {"id": self.applyset_id, "groupKinds": sorted(self.desired_group_kinds)},
            "summary": self.summary,
            "hasChanges": self.has_changes,
            "migrations": [{"model": m.model, "from": m.from_backend, "to": m.to_backend} for m in self.migrations],
            "warnings": [d.to_dict() for d in self.warnings],
            "changes": changes,
        }
        if self.cluster_uid is not None:  # a saved plan applies only to this cluster (specc.guard)
            document["cluster"] = {"uid": self.cluster_uid}
        if self.resolutions:  # only for specs with registry references: other plans keep their shape
            document["registry"] = [r.to_json() for r in self.resolutions]
        return document

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Plan:
        """Read a saved plan (`specc plan -o plan.json`); refuses other format versions."""
        version = str(data.get("formatVersion", ""))
        if version != PLAN_FORMAT_VERSION:
            raise PlanError.single("P601", f"saved plan has format version {version!r}; this specc reads "
                                   f"version {PLAN_FORMAT_VERSION}", hint="re-run specc plan")
        changes: list[Change] = []
        desired: dict[ObjectKey, Manifest] = {}
        try:
            for entry in data["changes"]:
                key = ObjectKey(entry["group"], entry["kind"], entry["namespace"], entry["name"])
                fields = tuple(
                    FieldChange(f["path"], ABSENT if f["beforeAbsent"] else f["before"],
                                ABSENT if f["afterAbsent"] else f["after"], f["sensitive"])
                    for f in entry["fields"])
                changes.append(Change(
                    key, entry["model"], entry["backend"], Action(entry["action"]), entry["apiVersion"],
                    fields, entry.get("reason"), tuple(entry.get("notes") or ()),
                    entry.get("liveResourceVersion"), entry.get("liveUid"), entry.get("previousBackend")))
                if "desired" in entry:
                    desired[key] = entry["desired"]
            spec = data["spec"]
            return cls(
                spec_name=spec["name"], namespace=spec["namespace"], applyset_id=data["applyset"]["id"],
                target=data["target"], changes=tuple(changes),
                migrations=tuple(Migration(m["model"], m["from"], m["to"]) for m in data.get("migrations", [])),
                desired=desired, desired_group_kinds=frozenset(data["applyset"]["groupKinds"]),
                spec_file=spec.get("file"), spec_sha256=spec.get("sha256"),
                cluster_uid=_cluster_uid(data.get("cluster")),
                resolutions=tuple(Resolution.from_json(r) for r in data.get("registry") or ()),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PlanError.single("P602", f"saved plan is malformed: {type(exc).__name__}: {exc}") from None


def _cluster_uid(cluster: Any) -> str | None:
    if cluster is None:
        return None
    uid = cluster["uid"]  # a "cluster" without a string uid is malformed, not unpinned
    if not isinstance(uid, str):
        raise TypeError("cluster.uid must be a string")
    return uid


def saved_plan_data(raw: bytes) -> dict[str, Any] | None:
    """The data of a saved plan (`specc plan -o`) if `raw` is one, else None: JSON whose top level
    has `formatVersion` and `changes`, whatever the file is called."""
    if raw.lstrip()[:1] != b"{":
        return None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) and "formatVersion" in data and "changes" in data else None


def is_saved_plan(raw: bytes) -> bool:
    """Did specc write this file as a saved plan? (`plan -o` replaces nothing else.)"""
    return saved_plan_data(raw) is not None


def spec_digest(data: Any) -> str:
    """sha256 of the spec's data as canonical JSON (sorted keys): the same for the same spec however
    it is formatted, commented or ordered."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def needs_preview(desired: DesiredSet, live: Mapping[ObjectKey, Manifest]) -> list[ObjectKey]:
    """The desired objects that are not already live as wanted: only these cost a dry-run."""
    keys = []
    for obj in desired:
        current = live.get(obj.key)
        if current is None or not _unchanged(obj.body, current):
            keys.append(obj.key)
    return keys


def _unchanged(desired: Manifest, live: Manifest) -> bool:
    return covers(_comparable(desired), live) and not removed_fields(desired, live, FIELD_MANAGER)


def _comparable(body: Manifest) -> Manifest:
    # apiVersion may differ (the server answers in the version we listed with); kind, name and
    # namespace are the object's key, shown in the heading. Compare the rest.
    out = {k: v for k, v in body.items() if k not in ("apiVersion", "kind")}
    meta = out.get("metadata")
    if isinstance(meta, dict):
        out["metadata"] = {k: v for k, v in meta.items() if k not in ("name", "namespace")}
    return out


def make_plan(desired: DesiredSet, state: LiveState, *, applyset_id: str, target: str,
              replace_paths: Mapping[ObjectKey, Sequence[Path]] | None = None,
              allow_empty: bool = False, warnings: Iterable[Diagnostic] = (),
              spec_file: str | None = None, spec_data: Any = None, details: bool = True,
              resolutions: Sequence[Resolution] = ()) -> Plan:
    """Compare desired and live; every live member of the set that is not desired is deleted.
    Without `details` the actions are decided but field diffs of creates and unpreviewed updates
    are left out (a quick look that only asks "is there anything to do?")."""
    if not desired.objects and not allow_empty:
        raise PlanError.single(
            "P603", "the desired set is empty: applying it would delete every object of this spec",
            hint="use `specc destroy` to delete everything on purpose")
    replace_paths = replace_paths or {}
    changes: list[Change] = []
    desired_backends = {o.model: o.backend for o in desired}
    for obj in desired:
        live = state.objects.get(obj.key)
        if live is not None and _terminating(live):
            # Still being deleted (finalizers, foreground deletion): applying to it would be lost
            # with it. Apply waits until it is gone, then creates it again.
            meta = live.get("metadata") or {}
            changes.append(Change(obj.key, obj.model, obj.backend, Action.REPLACE, str(obj.body.get("apiVersion")),
                                  tuple(field_changes(ABSENT, _comparable(obj.body), kind=obj.key.kind)),
                                  "the live object is being deleted; it is created again once it is gone",
                                  live_resource_version=meta.get("resourceVersion"), live_uid=meta.get("uid")))
            continue
        changes.append(_desired_change(obj.key, obj.model, obj.backend, obj.body, live,
                                       state.previews.get(obj.key), state.server_side,
                                       replace_paths.get(obj.key, ()), details, state.differing))
    desired_keys = {o.key for o in desired}
    migrations: dict[str, Migration] = {}
    for key, live in sorted(state.objects.items()):
        if key in desired_keys or _terminating(live):
            continue  # desired, or already on its way out
        meta = live.get("metadata") or {}
        model = (meta.get("labels") or {}).get(MODEL_LABEL, "")
        backend = (meta.get("annotations") or {}).get(BACKEND_ANNOTATION, "")
        previous = None
        if model in desired_backends and backend and backend != desired_backends[model]:
            migrations[model] = Migration(model, backend, desired_backends[model])
            previous = backend
        changes.append(Change(key, model, backend, Action.DELETE, str(live.get("apiVersion", "")),
                              reason="no longer in the spec" if model not in desired_backends
                              else ("replaced by the new backend's objects" if previous else "no longer desired"),
                              live_resource_version=meta.get("resourceVersion"), live_uid=meta.get("uid"),
                              previous_backend=previous))
    for model, migration in migrations.items():
        changes = [
            Change(c.key, c.model, c.backend, c.action, c.api_version, c.fields, c.reason,
                   (*c.notes, f"migrates from backend {migration.from_backend}"), c.live_resource_version,
                   c.live_uid, migration.from_backend)
            if c.model == model and c.action in (Action.CREATE, Action.UPDATE, Action.REPLACE) else c
            for c in changes
        ]
    ordered = sorted(changes, key=lambda c: (c.model, stage_of(c.key.kind), c.key.kind, c.key.name))
    return Plan(
        spec_name=desired.spec_name, namespace=desired.namespace, applyset_id=applyset_id, target=target,
        changes=tuple(ordered), migrations=tuple(sorted(migrations.values(), key=lambda m: m.model)),
        desired={o.key: o.body for o in desired},
        desired_group_kinds=frozenset(o.key.group_kind for o in desired),
        warnings=tuple(warnings), spec_file=spec_file,
        spec_sha256=spec_digest(spec_data) if spec_data is not None else None,
        resolutions=tuple(served_before(r, state.objects) for r in resolutions),
    )


def served_before(resolution: Resolution, live: Mapping[ObjectKey, Manifest]) -> Resolution:
    """`resolution` with the version and run id the model's live objects carry (their provenance
    annotations), so a plan can say that an alias moved: `fraud: champion 3 -> 4, run 9f1c2a -> 77b0e1`.
    A canary's objects carry the model's provenance, so only the model's own reference is compared."""
    if resolution.role != "model":
        return resolution
    for _, obj in sorted(live.items()):
        meta = obj.get("metadata") or {}
        if (meta.get("labels") or {}).get(MODEL_LABEL) != resolution.model or meta.get("deletionTimestamp"):
            continue
        annotations = meta.get("annotations") or {}
        version = annotations.get(PROVENANCE_PREFIX + "version")
        if version is None:
            continue
        return dataclasses.replace(resolution, previous_version=str(version),
                                   previous_run_id=annotations.get(PROVENANCE_PREFIX + "run-id"))
    return resolution


def _terminating(live: Manifest) -> bool:
    return bool((live.get("metadata") or {}).get("deletionTimestamp"))


def _desired_change(key: ObjectKey, model: str, backend: str, body: Manifest, live: Manifest | None,
                    preview: Preview | None, server_side: bool, backend_replace: Sequence[Path],
                    details: bool = True, differing: frozenset[ObjectKey] | None = None) -> Change:
    notes = _notes(body)
    api_version = str(body.get("apiVersion", ""))
    if live is None:
        stored = preview.result if preview and preview.result is not None else body
        fields = field_changes(ABSENT, _comparable_shape(stored, body), kind=key.kind) if details else []
        return Change(key, model, backend, Action.CREATE, api_version, tuple(fields), notes=notes)
    meta = live.get("metadata") or {}
    rv, uid = meta.get("resourceVersion"), meta.get("uid")
    live_backend = (meta.get("annotations") or {}).get(BACKEND_ANNOTATION)
    previous = live_backend if live_backend and live_backend != backend else None
    if server_side and (key not in differing if differing is not None else _unchanged(body, live)):
        return Change(key, model, backend, Action.NOOP, api_version, live_resource_version=rv, live_uid=uid)
    if not server_side:
        fields = field_changes(_comparable(live), _comparable(body), kind=key.kind)
        action = Action.UPDATE if fields else Action.NOOP
        replace = _replace_reason(key, body, live, backend_replace)
        if replace and action is Action.UPDATE:
            return Change(key, model, backend, Action.REPLACE, api_version, tuple(fields), replace, notes, rv, uid,
                          previous)
        return Change(key, model, backend, action, api_version, tuple(fields), None, notes, rv, uid, previous)
    replace = _replace_reason(key, body, live, backend_replace)
    if preview is not None and preview.immutable:
        replace = replace or preview.immutable
    if replace:
        fields = field_changes(live, body, kind=key.kind, shape=body)
        return Change(key, model, backend, Action.REPLACE, api_version, tuple(fields), replace, notes, rv, uid,
                      previous)
    if preview is None or preview.result is None:
        # No server answer (a conflict, or no preview asked): what we would send against what is live.
        fields = field_changes(live, body, kind=key.kind, shape=body) if details else []
        reason = f"conflict: {preview.conflict}" if preview and preview.conflict else None
        return Change(key, model, backend, Action.UPDATE, api_version, tuple(fields), reason, notes, rv, uid,
                      previous)
    removed = removed_fields(body, live, FIELD_MANAGER)
    shape = union_shape(body, _extract(live, removed)) if removed else body
    fields = field_changes(live, preview.result, kind=key.kind, shape=_strip_bookkeeping(shape))
    action = Action.UPDATE if fields else Action.NOOP
    return Change(key, model, backend, action, api_version, tuple(fields), None, notes if fields else (), rv, uid,
                  previous)


def _comparable_shape(stored: Manifest, body: Manifest) -> Any:
    from specc.fielddiff import project

    return _strip_bookkeeping(project(stored, _comparable(body)))


def _strip_bookkeeping(obj: Any) -> Any:
    """Fields the server maintains (and that are never a change a user made) are not diffed."""
    if not isinstance(obj, dict):
        return obj
    out = {k: v for k, v in obj.items() if k not in ("status",)}
    meta = out.get("metadata")
    if isinstance(meta, dict):
        out["metadata"] = {k: v for k, v in meta.items() if k not in (
            "managedFields", "resourceVersion", "uid", "generation", "creationTimestamp", "selfLink")}
    return out


def _extract(obj: Manifest, paths: Sequence[tuple[PathStep, ...]]) -> Manifest:
    """The part of `obj` at the given fieldsV1 paths, as a sparse object (a diff shape)."""
    out: dict[str, Any] = {}
    for path in paths:
        if not has_path(obj, path):
            continue
        source: Any = obj
        target: Any = out
        for depth, (kind, value) in enumerate(path):
            last = depth == len(path) - 1
            if kind == "f":
                source = source[value]
                if last:
                    target[value] = source
                else:
                    target = target.setdefault(value, [] if isinstance(source, list) else {})
            elif kind == "k":
                source = next(i for i in source if all(i.get(k) == v for k, v in value.items()))
                existing = next((i for i in target if all(i.get(k) == v for k, v in value.items())), None)
                if existing is None:
                    existing = dict(value)
                    if "name" in source:
                        existing["name"] = source["name"]
                    target.append(existing)
                if last:
                    existing.update(source)
                target = existing
            else:  # "v" set members and "i" indexes: take the whole list
                break
    return out


def _replace_reason(key: ObjectKey, body: Manifest, live: Manifest,
                    backend_paths: Sequence[Path]) -> str | None:
    for path in (*CORE_REPLACE_PATHS.get(key.kind, ()), *backend_paths):
        wanted, current = _at(body, path), _at(live, path)
        if wanted is ABSENT:
            continue
        if current is not ABSENT and not covers(wanted, current):
            return f"{'.'.join(str(p) for p in path)} cannot be changed in place"
    return None


def _at(obj: Any, path: Path) -> Any:
    for part in path:
        if isinstance(obj, dict) and part in obj:  # noqa: SIM114 - separate so mypy narrows the index
            obj = obj[part]
        elif isinstance(obj, list) and isinstance(part, int) and part < len(obj):
            obj = obj[part]
        else:
            return ABSENT
    return obj


def _notes(body: Manifest) -> tuple[str, ...]:
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    requested, effective = annotations.get(CANARY_TRAFFIC), annotations.get(CANARY_EFFECTIVE)
    if requested is not None and effective is not None and requested != effective:
        return (f"canary traffic {requested}% is {effective}% in practice: traffic follows whole pods",)
    return ()


LOGGING_OFF_HINT = "keep inferenceLog on every served model whose predictions must be traceable"


def logging_off_warnings(desired: DesiredSet, live: Mapping[ObjectKey, Manifest]) -> list[Diagnostic]:
    """W810 for each model whose live objects log its predictions (they carry
    `specc.dev/inference-log`, which the compiler stamps on every object of a logged model) while
    none of its desired objects does: applying turns its inference logging off."""
    logged_live: dict[str, str] = {}
    for obj in live.values():
        meta = obj.get("metadata") or {}
        sink = (meta.get("annotations") or {}).get(INFERENCE_LOG_ANNOTATION)
        model = (meta.get("labels") or {}).get(MODEL_LABEL)
        if isinstance(sink, str) and isinstance(model, str):
            logged_live.setdefault(model, sink)
    logged_desired = {o.model for o in desired
                      if INFERENCE_LOG_ANNOTATION in ((o.body.get("metadata") or {}).get("annotations") or {})}
    found = []
    for model, sink in sorted(logged_live.items()):
        if model in logged_desired:
            continue
        gone = "is deleted" if model not in {o.model for o in desired} else "stops logging"
        found.append(Diagnostic(
            "W810", f"model {model}: inference logging to {sink} is turned off (the model {gone}): its "
            "predictions are no longer recorded", severity=Severity.WARNING, hint=LOGGING_OFF_HINT))
    return found
