"""The plan and apply workflows: compose compile, target reads, `make_plan` and `apply_plan`.

Takes a parsed spec (or a saved plan) and where to act; returns plans and apply results. This is the
layer the CLI calls; it owns the order of operations (connect, ask the server its version, compile for
it, lock, read, plan, apply, release) but neither prints nor decides anything the stages decide.
Plans get the review's W809 warning for backend migrations whose new backend reads the model's
artifact in another layout (the backends' `artifact_layout`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from specc import applyset, guard
from specc.apply import ApplyOptions, ApplyResult, Progress, apply_plan
from specc.cluster import Cluster, RetryPolicy
from specc.diagnostics import ApplyError, ClusterError, Diagnostic, PlanError
from specc.lock import Lock, LockInfo, force_unlock
from specc.objects import DesiredObject, DesiredSet, sort_objects
from specc.pipeline import Compiled, compile_document
from specc.plan import Action, Plan, logging_off_warnings, make_plan
from specc.registry import Registry, load_registry
from specc.review import layout_warning
from specc.source import SourceDocument
from specc.targets import NAMESPACE, ClusterRead, ClusterTarget, DirectoryTarget

if TYPE_CHECKING:
    from specc.resolve import ResolveOptions


@dataclass(frozen=True)
class Connection:
    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    request_timeout: float = 30.0

    def connect(self) -> Cluster:
        # --request-timeout bounds each API call, retries included: a server that accepts and never
        # answers fails the call after that long, not after every retry has timed out too.
        timeout = self.request_timeout
        policy = RetryPolicy(connect_timeout=min(5.0, timeout), read_timeout=timeout, deadline=timeout)
        return Cluster.connect(kubeconfig=self.kubeconfig, context=self.context, policy=policy)


@dataclass
class ClusterPlan:
    plan: Plan
    read: ClusterRead
    target: ClusterTarget
    compiled: Compiled | None


def _empty(desired: DesiredSet) -> DesiredSet:
    return DesiredSet(desired.spec_name, desired.namespace, ())


def _layout_warnings(plan: Plan, compiled: Compiled, registry: Registry) -> Plan:
    """The plan with a W809 warning for every migration whose new backend reads the model's
    storageUri in a layout the old backend's artifact need not have."""
    models = {m.name: m for m in compiled.validated.ir.models}
    found = [w for m in plan.migrations if m.model in models
             for w in [layout_warning(models[m.model], m.from_backend, m.to_backend, registry.artifact_layout)]
             if w is not None]
    return dataclasses.replace(plan, warnings=(*plan.warnings, *found)) if found else plan


def _replace_paths(compiled: Compiled, registry: Registry) -> dict:  # type: ignore[type-arg]
    return {o.key: registry.backends[o.backend].replace_paths(o.body) for o in compiled.desired
            if o.backend in registry.backends}


def plan_cluster(document: SourceDocument, cluster: Cluster, *, namespace: str | None = None,
                 registry: Registry | None = None, force_conflicts: bool = False,
                 destroy: bool = False, preview: bool = True, preview_creates: bool = True,
                 compiled: Compiled | None = None, writing: bool = False,
                 resolve: ResolveOptions | None = None) -> ClusterPlan:
    """Plan against a cluster: compile for the server's version, check the spec's cluster pin, read
    the set's live objects, diff. Without `preview`, changed objects are not dry-run: the plan knows
    what changes, not how the server would store it; `preview_creates=False` skips only the dry-run
    of new objects (apply writes them right after). `compiled` reuses an earlier compilation of the
    same document. `writing`: a pin that cannot be checked is refused, not a warning."""
    registry = registry or load_registry()
    if compiled is None:
        version = cluster.version()
        compiled = compile_document(document, kube_version=version, namespace=namespace, registry=registry,
                                    resolve=resolve)
    cluster_uid, pin_warnings = guard.check_pin(cluster, _pin(compiled), writing=writing)
    desired = _empty(compiled.desired) if destroy else compiled.desired
    target = ClusterTarget(cluster, compiled.desired.namespace)
    read = target.read(desired, registry, force_conflicts=force_conflicts, preview=preview,
                       preview_creates=preview_creates)
    plan = make_plan(
        desired, read.state, applyset_id=applyset.spec_applyset_id(desired.spec_name, desired.namespace),
        target=target.description, replace_paths=_replace_paths(compiled, registry), allow_empty=destroy,
        warnings=[*compiled.warnings, *pin_warnings, *read.warnings,
                  *logging_off_warnings(desired, read.state.objects)],
        spec_file=document.name, spec_data=document.data, details=preview,
        resolutions=() if destroy else compiled.resolutions,
    )
    plan = dataclasses.replace(plan, cluster_uid=cluster_uid)
    return ClusterPlan(_layout_warnings(plan, compiled, registry), read, target, compiled)


def _pin(compiled: Compiled) -> str | None:
    pin = compiled.validated.spec.metadata.cluster
    return pin.uid if pin is not None else None


def first_look(document: SourceDocument, cluster: Cluster, *, namespace: str | None, registry: Registry,
               destroy: bool, command: str, create_namespace: bool = False,
               resolve: ResolveOptions | None = None) -> ClusterPlan:
    """The plan an apply or destroy starts from (no previews, no lock), after the wrong-cluster
    guards. When even its reads are forbidden, every permission the apply could need is asked at
    once, so the error names all of them rather than the first read that failed."""
    compiled = compile_document(document, kube_version=cluster.version(), namespace=namespace, registry=registry,
                                resolve=resolve)
    guard.check_context(cluster, pinned=_pin(compiled) is not None, command=command)
    try:
        return plan_cluster(document, cluster, namespace=namespace, registry=registry, destroy=destroy,
                            preview=False, compiled=compiled, writing=True)
    except ClusterError as error:
        if not error.diagnostics or error.diagnostics[0].code != "K503":
            raise
        kinds = {r for obj in compiled.desired for r in [cluster.resource(obj.api_version, obj.key.kind)]
                 if r is not None}
        guard.preflight(cluster, guard.worst_case_needs(compiled.desired.namespace, kinds,
                                                        create_namespace=create_namespace))
        raise


def preflight_apply(planned: ClusterPlan, *, create_namespace: bool, destroy: bool) -> None:
    """Before the lock (the first write): every permission applying the plan needs, asked at once."""
    read = planned.read
    guard.preflight(planned.target.cluster, guard.apply_needs(
        planned.plan, read.resources, parent_exists=read.parent is not None,
        namespace_exists=read.namespace_exists, create_namespace=create_namespace, destroy=destroy))


def check_saved_plan(plan: Plan, cluster: Cluster) -> None:
    """Before applying a saved plan: the context rule (a recorded cluster UID counts as a pin), the
    recorded cluster, and the permissions its changes need."""
    guard.check_context(cluster, pinned=plan.cluster_uid is not None, command="apply")
    guard.check_saved_plan_cluster(cluster, plan.cluster_uid)
    if plan.has_changes:
        resources = {c.key.group_kind: r for c in plan.changes
                     for r in [cluster.resource(c.api_version, c.key.kind)] if r is not None}
        guard.preflight(cluster, guard.apply_needs(plan, resources, parent_exists=False, namespace_exists=True,
                                                   create_namespace=False, destroy=False))


def unlock(document: SourceDocument, cluster: Cluster, *, namespace: str | None,
           lock_id: str) -> tuple[LockInfo, str, str]:
    """`force-unlock`, after the same guards as apply: returns (the removed lock, namespace, spec name)."""
    compiled = compile_document(document, namespace=namespace)
    guard.check_context(cluster, pinned=_pin(compiled) is not None, command="force-unlock")
    guard.check_pin(cluster, _pin(compiled), writing=True)
    spec_namespace, name = compiled.desired.namespace, compiled.desired.spec_name
    guard.preflight(cluster, guard.unlock_needs(spec_namespace))
    return force_unlock(cluster, spec_namespace, name, lock_id), spec_namespace, name


def plan_directory(document: SourceDocument, root: Path, *, kube_version: tuple[int, int] | None = None,
                   namespace: str | None = None, registry: Registry | None = None,
                   destroy: bool = False, resolve: ResolveOptions | None = None) -> tuple[Plan, DirectoryTarget]:
    registry = registry or load_registry()
    compiled = compile_document(document, kube_version=kube_version, namespace=namespace, registry=registry,
                                resolve=resolve)
    desired = _empty(compiled.desired) if destroy else compiled.desired
    target = DirectoryTarget(root)
    state, warnings = target.read(desired)
    plan = make_plan(
        desired, state, applyset_id=applyset.spec_applyset_id(desired.spec_name, desired.namespace),
        target=target.description, replace_paths=_replace_paths(compiled, registry), allow_empty=destroy,
        warnings=[*compiled.warnings, *warnings, *logging_off_warnings(desired, state.objects)],
        spec_file=document.name, spec_data=document.data,
        resolutions=() if destroy else compiled.resolutions,
    )
    return _layout_warnings(plan, compiled, registry), target


def apply_directory(plan: Plan, target: DirectoryTarget) -> tuple[int, int]:
    """Write created/changed objects, remove deleted ones; returns (written, removed)."""
    upserts = [(c.key, plan.desired[c.key]) for c in plan.changes
               if c.action in (Action.CREATE, Action.UPDATE, Action.REPLACE)]
    deletes = [c.key for c in plan.changes if c.action is Action.DELETE]
    target.write(upserts, deletes)
    return len(upserts), len(deletes)


def apply_cluster(planned: ClusterPlan, registry: Registry, options: ApplyOptions, progress: Progress,
                  lock: Lock | None, *, destroy: bool = False) -> ApplyResult:
    return apply_plan(planned.plan, planned.read, planned.target, registry, options, progress, lock,
                      destroy=destroy)


def desired_from_plan(plan: Plan) -> DesiredSet:
    models = {c.key: (c.model, c.backend) for c in plan.changes}
    objects = [DesiredObject(key, *models[key], body) for key, body in plan.desired.items() if key in models]
    return DesiredSet(plan.spec_name, plan.namespace, sort_objects(objects))


def registry_drift(plan: Plan, resolve: ResolveOptions | None = None) -> list[Diagnostic]:
    """Ask the registries again for every reference a saved plan pinned: a diagnostic for each that
    now resolves to another version or location (an alias moved, a version was archived or deleted),
    or that cannot be checked (the registry is down: applying would be a guess)."""
    if not plan.resolutions:
        return []
    from specc.registry_api import RegistryFault
    from specc.resolve import ResolveOptions, load_providers, lookup

    options = resolve or ResolveOptions()
    providers = load_providers()
    stale: list[Diagnostic] = []
    for pinned in plan.resolutions:
        what = f"model {pinned.model}" + (" (canary)" if pinned.role == "canary" else "")
        try:
            now, _ = lookup(pinned.ref(), providers, options)
        except RegistryFault as fault:
            stale.append(Diagnostic("P613", f"{what}: cannot check that {pinned.provider} {pinned.reference} still "
                                    f"resolves to version {pinned.version}: {fault.message}", hint=fault.hint))
            continue
        if (now.version, now.storage_uri, now.run_id) != (pinned.version, pinned.storage_uri, pinned.run_id):
            moved = f"{pinned.alias} moved" if pinned.alias is not None else "it changed"
            stale.append(Diagnostic("P613", f"{what}: {pinned.provider} {pinned.reference} now resolves to version "
                                    f"{now.version} (run {now.run_id or 'none'}), the plan pinned version "
                                    f"{pinned.version} (run {pinned.run_id or 'none'}): {moved} since the plan"))
    return stale


def reread_for_saved_plan(plan: Plan, cluster: Cluster, registry: Registry,
                          resolve: ResolveOptions | None = None) -> ClusterPlan:
    """Read the cluster again for a saved plan and refuse it if anything it read has changed since:
    the live objects, or what its registry references resolve to."""
    target = ClusterTarget(cluster, plan.namespace)
    if plan.target != target.description:
        raise PlanError.single("P609", f"the saved plan was made for {plan.target}, not {target.description}",
                               hint="apply it with the same --context, or plan again")
    desired = desired_from_plan(plan)
    read = target.read(desired, registry, preview=False)
    stale: list[Diagnostic] = []
    planned = {c.key: c for c in plan.changes}
    for change in plan.changes:
        live = read.state.objects.get(change.key)
        now = (live or {}).get("metadata", {}).get("resourceVersion") if live else None
        if change.action is Action.CREATE:
            if live is not None:
                stale.append(Diagnostic("P610", f"{change.key} was created by someone else since the plan"))
        elif now != change.live_resource_version:
            was = change.live_resource_version or "absent"
            stale.append(Diagnostic("P610", f"{change.key} changed since the plan (resourceVersion {was} -> "
                                    f"{now or 'deleted'})"))
    for key in read.state.objects:
        if key not in planned:
            stale.append(Diagnostic("P610", f"{key} joined the set since the plan"))
    stale.extend(registry_drift(plan, resolve))
    if stale:
        raise PlanError([*stale, Diagnostic("P611", "the saved plan is stale: nothing was applied",
                                            hint="run specc plan again")])
    return ClusterPlan(plan, read, target, None)


def require_namespace(cluster: Cluster, namespace: str, *, create: bool, exists: bool | None = None,
                      hint: str = "create it, or pass --create-namespace") -> bool:
    """Make sure the namespace is there before the lock is taken (the lock is a Lease in it, so a
    missing namespace would otherwise surface as a failed Lease create). Creates it with `create`,
    else refuses with A706 naming --create-namespace. `exists`: already known from a read. Returns
    whether it was created."""
    if exists is None:
        exists = ClusterTarget(cluster, namespace).namespace_exists()
    if exists:
        return False
    if not create:
        raise ApplyError([Diagnostic("A706", f"namespace {namespace} does not exist", hint=hint)])
    cluster.apply(NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    return True


def run_locked(cluster: Cluster, namespace: str, spec_name: str, lock_timeout: float,
               body: Callable[[Lock], None], operation: str = "apply") -> None:
    lock = Lock(cluster, namespace, spec_name, operation=operation)
    lock.acquire(lock_timeout)
    try:
        body(lock)
    finally:
        lock.release()
