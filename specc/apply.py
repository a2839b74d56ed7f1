"""Applying a plan to a cluster: ordered, concurrent within a stage, locked, waited for, pruned.

Takes a `Plan`, the `ClusterRead` it was made from, the target and the registry, with the lock held
by the caller; returns an `ApplyResult`, reporting progress through a callback (it never prints).

Order (a failure stops before the next stage, so the cluster is always left in a state the next run
converges from):
1. the namespace (only with `create_namespace`), then the ApplySet parent widened to the union of
   the kinds used before and now, so objects of an interrupted run can always be found and pruned;
2. creates, updates and replaces, stage by stage (service accounts, config, services, workloads,
   custom resources, autoscalers, ingress), concurrently within a stage; a replace deletes the old
   object (by uid), waits until it is gone, then creates;
3. readiness, model by model (skipped with `wait=False`, except for backend migrations, whose old
   objects are deleted only once the new ones are ready, so the model is never unserved);
4. deletes, in reverse stage order, by uid, with foreground propagation;
5. the parent narrowed to the kinds in use (deleted, with everything else, by `destroy`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from specc import __version__, applyset
from specc.backend_api import Readiness
from specc.cluster import Cluster, Resource
from specc.diagnostics import ApplyError, ClusterError, Diagnostic
from specc.lock import Lock
from specc.objects import CUSTOM_STAGE, STAGES, Manifest, ObjectKey, stage_of
from specc.plan import Action, Change, Plan
from specc.readiness import IMMEDIATE, core_readiness, pod_problems, selector
from specc.registry import Registry
from specc.targets import NAMESPACE, PARENT, ClusterRead, ClusterTarget

PODS = Resource("", "v1", "Pod", "pods", True)


@dataclass(frozen=True)
class ApplyOptions:
    force_conflicts: bool = False
    wait: bool = True
    timeout: float = 600.0
    poll_interval: float = 2.0
    concurrency: int = 8
    create_namespace: bool = False
    delete_timeout: float = 120.0


@dataclass(frozen=True)
class Event:
    """A progress report: `kind` is applied, deleted, waiting, ready, failed or info."""

    kind: str
    model: str
    key: ObjectKey | None
    message: str


@dataclass
class ApplyResult:
    applied: list[ObjectKey] = field(default_factory=list)
    deleted: list[ObjectKey] = field(default_factory=list)
    ready: list[ObjectKey] = field(default_factory=list)
    writes: int = 0


Progress = Callable[[Event], None]


def apply_plan(plan: Plan, read: ClusterRead, target: ClusterTarget, registry: Registry,
               options: ApplyOptions, progress: Progress, lock: Lock | None = None,
               *, destroy: bool = False) -> ApplyResult:
    cluster = target.cluster
    result = ApplyResult()
    writes_before = cluster.stats.writes
    _CANCELLED.clear()  # a run in the same process starts uninterrupted

    def check_lock() -> None:
        if lock is not None:
            lock.ensure_held()

    if not read.namespace_exists:
        if not options.create_namespace:
            raise ApplyError([Diagnostic("A706", f"namespace {plan.namespace} does not exist",
                                         hint="create it, or pass --create-namespace")])
        check_lock()
        cluster.apply(NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": plan.namespace}})
        progress(Event("info", "", None, f"created namespace {plan.namespace}"))

    changing = [c for c in plan.changes if c.action in (Action.CREATE, Action.UPDATE, Action.REPLACE)]
    deleting = [c for c in plan.changes if c.action is Action.DELETE]
    widened = set(plan.desired_group_kinds) | set(read.state.parent_group_kinds)
    if (changing or deleting or read.parent is None) and (not destroy or read.parent is not None):
        _write_parent(cluster, plan, read.parent, widened, check_lock)

    _run_stages(range(len(STAGES)), changing, lambda c: _upsert(cluster, plan, read, c, options), options,
                progress, check_lock, result.applied, result, "applying")

    must_wait = {m.model for m in plan.migrations}
    waiting = [c for c in changing if (options.wait or c.model in must_wait) and c.key.kind not in IMMEDIATE]
    if waiting:
        result.ready = _wait(cluster, read, registry, waiting, options, progress)

    _run_stages(reversed(range(len(STAGES))), deleting, lambda c: _delete(cluster, read, c), options,
                progress, check_lock, result.deleted, result, "pruning")

    check_lock()
    if destroy:
        if read.parent is not None:
            cluster.delete(PARENT, plan.namespace, applyset.parent_name(plan.spec_name),
                           uid=read.parent["metadata"].get("uid"), propagation="Background")
    elif widened != set(plan.desired_group_kinds):
        _write_parent(cluster, plan, None, set(plan.desired_group_kinds), check_lock)
    result.writes = cluster.stats.writes - writes_before
    return result


def _run_stages(stages: Iterable[int], changes: Sequence[Change], work: Callable[[Change], Any],
                options: ApplyOptions, progress: Progress, check_lock: Callable[[], None],
                done: list[ObjectKey], result: ApplyResult, doing: str) -> None:
    """Run `work` on the changes stage by stage, concurrently within a stage; stop after a stage
    with failures (the next run converges from there)."""
    failures: list[Diagnostic] = []
    for stage in stages:
        batch = [c for c in changes if stage_of(c.key.kind) == stage]
        if not batch:
            continue
        check_lock()
        for change, outcome in zip(batch, _run(options.concurrency, batch, work), strict=True):
            if isinstance(outcome, Diagnostic):
                failures.append(outcome)
                progress(Event("failed", change.model, change.key, outcome.message))
            else:
                done.append(change.key)
                progress(Event("applied" if doing == "applying" else "deleted", change.model, change.key,
                               _verb(change)))
        if failures:
            raise ApplyError(_stopped(failures, result, doing))


def _write_parent(cluster: Cluster, plan: Plan, current: Manifest | None, group_kinds: set[str],
                  check_lock: Callable[[], None]) -> None:
    wanted = applyset.parent_manifest(plan.spec_name, plan.namespace, group_kinds, __version__)
    if current is not None:
        meta = current.get("metadata") or {}
        have_labels = meta.get("labels") or {}
        have_annotations = meta.get("annotations") or {}
        want_meta: Any = wanted["metadata"]
        if all(have_labels.get(k) == v for k, v in want_meta["labels"].items()) and \
                all(have_annotations.get(k) == v for k, v in want_meta["annotations"].items()):
            return  # already right: an unchanged apply writes nothing
    check_lock()
    cluster.apply(PARENT, wanted, force=True)  # the parent is specc's own object


def _resource(read: ClusterRead, key: ObjectKey) -> Resource:
    return read.resources[key.group_kind]


def _upsert(cluster: Cluster, plan: Plan, read: ClusterRead, change: Change, options: ApplyOptions) -> Any:
    body = plan.desired[change.key]
    resource = _resource(read, change.key)
    if change.action is Action.REPLACE:
        cluster.delete(resource, change.key.namespace, change.key.name, uid=change.live_uid)
        deadline = time.monotonic() + options.delete_timeout
        while cluster.get(resource, change.key.namespace, change.key.name) is not None:
            if time.monotonic() >= deadline:
                raise ApplyError.single("A707", f"{change.key} was not gone {options.delete_timeout:.0f}s after "
                                        "deleting it for replacement (finalizers?)")
            if _CANCELLED.wait(0.5):  # Ctrl-C in the main thread: stop waiting at once
                raise ApplyError.single("A708", f"interrupted while waiting for {change.key} to be deleted")
    return cluster.apply(resource, body, force=options.force_conflicts)


def _delete(cluster: Cluster, read: ClusterRead, change: Change) -> Any:
    return cluster.delete(_resource(read, change.key), change.key.namespace, change.key.name, uid=change.live_uid)


def _run(concurrency: int, batch: Sequence[Change], work: Callable[[Change], Any]) -> list[Any]:
    def guarded(change: Change) -> Any:
        try:
            return work(change)
        except (ClusterError, ApplyError) as error:
            return error.diagnostics[0]

    pool = ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(batch))))
    try:
        return list(pool.map(guarded, batch))
    except BaseException:
        # Ctrl-C (or any failure) in the main thread: workers waiting in a loop see the event and stop,
        # queued work is dropped, so the interpreter's exit does not wait for every delete to finish.
        _CANCELLED.set()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=False)


# Set once when the main thread is interrupted: the process is about to exit 130.
_CANCELLED = threading.Event()


def _wait(cluster: Cluster, read: ClusterRead, registry: Registry, changes: Sequence[Change],
          options: ApplyOptions, progress: Progress) -> list[ObjectKey]:
    deadline = time.monotonic() + options.timeout
    pending = {c.key: c for c in changes}
    ready: list[ObjectKey] = []
    last: dict[ObjectKey, str] = {}
    while pending:
        keys = sorted(pending)
        objects = _run(options.concurrency, [pending[k] for k in keys],
                       lambda c: cluster.get(_resource(read, c.key), c.key.namespace, c.key.name))
        for key, obj in zip(keys, objects, strict=True):
            change = pending[key]
            verdict = _readiness(registry, change, obj)
            if verdict.ready:
                ready.append(key)
                del pending[key]
                progress(Event("ready", change.model, key, verdict.message or "ready"))
            elif verdict.failed:
                raise ApplyError([Diagnostic("A708", f"model {change.model}: {key} failed: {verdict.message}")])
            elif last.get(key) != verdict.message:
                last[key] = verdict.message
                progress(Event("waiting", change.model, key, verdict.message))
        if not pending:
            break
        if time.monotonic() >= deadline:
            raise ApplyError([
                Diagnostic("A709", f"model {pending[k].model}: {k} not ready after {options.timeout:.0f}s: "
                           f"{_why(cluster, k, objects[keys.index(k)], last.get(k))}",
                           hint="the objects are applied; re-run apply to wait again, or use --no-wait")
                for k in sorted(pending)])
        time.sleep(options.poll_interval)
    return ready


def _why(cluster: Cluster, key: ObjectKey, obj: Any, message: str | None) -> str:
    """The last readiness message, and for a workload what its pods say (the first unready one)."""
    text = message or "no status yet"
    if key.kind not in ("Deployment", "StatefulSet") or not isinstance(obj, dict):
        return text
    labels = selector(obj)
    if labels is None:
        return text
    try:
        problem = pod_problems(cluster.list(PODS, key.namespace, label_selector=labels))
    except ClusterError:
        return text  # the explanation is a courtesy: the timeout is reported either way
    return f"{text}; {problem}" if problem else text


def _readiness(registry: Registry, change: Change, obj: Any) -> Readiness:
    if isinstance(obj, Diagnostic):
        return Readiness(False, obj.message)
    if obj is None:
        return Readiness(False, "not found (deleted by someone else?)")
    core = core_readiness(obj)
    if core is not None:
        return core
    backend = registry.backends.get(change.backend)
    if backend is None or stage_of(change.key.kind) != CUSTOM_STAGE:
        return Readiness(True)
    return backend.readiness(obj)


def _verb(change: Change) -> str:
    return {Action.CREATE: "created", Action.UPDATE: "updated", Action.REPLACE: "replaced",
            Action.DELETE: "deleted"}.get(change.action, change.action.value)


def _stopped(failures: list[Diagnostic], result: ApplyResult, doing: str) -> list[Diagnostic]:
    done = f"{len(result.applied)} object(s) applied and {len(result.deleted)} deleted before stopping"
    return [*failures, Diagnostic("A705", f"apply stopped while {doing}: {done}",
                                  hint="fix the cause and run apply again: it continues from here")]
