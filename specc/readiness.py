"""Readiness of live core objects: is a Deployment rolled out? Custom kinds ask their backend.

Takes a live object (with status); returns a `Readiness`. Pure. The rules are `kubectl rollout
status`'s: the controller has observed the latest generation, every replica runs the new template and
is available, and no old replica is left; a `Progressing` condition with reason
`ProgressDeadlineExceeded` is a failure. A `ReplicaFailure` condition (the ReplicaSet could not create
pods, e.g. refused by Pod Security admission; kubernetes/kubernetes pkg/controller/deployment/sync.go
@ v1.36.2 copies it from the ReplicaSet) is quoted in the waiting message. `pod_problems` explains a
rollout that does not finish from the pods the Deployment selects: the first container that is
waiting (ImagePullBackOff, CrashLoopBackOff, ...) or running but not ready.
"""

from __future__ import annotations

from specc.backend_api import Readiness
from specc.objects import Manifest

# Kinds that are ready as soon as the server has stored them.
IMMEDIATE = frozenset({"Service", "ConfigMap", "Secret", "ServiceAccount", "HorizontalPodAutoscaler",
                       "PodDisruptionBudget", "Ingress", "Namespace"})


def core_readiness(obj: Manifest) -> Readiness | None:
    """Readiness for core kinds; None for kinds this module does not know (custom resources)."""
    kind = obj.get("kind")
    if kind in IMMEDIATE:
        return Readiness(True)
    if kind in ("Deployment", "StatefulSet"):
        return _rollout(obj)
    return None


def _rollout(obj: Manifest) -> Readiness:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    generation = meta.get("generation")
    if generation is not None and (status.get("observedGeneration") or 0) < generation:
        return Readiness(False, "waiting for the rollout to start")
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            return Readiness(False, f"rollout failed: {condition.get('message', 'progress deadline exceeded')}",
                             failed=True)
    failure = next((c for c in status.get("conditions") or []
                    if c.get("type") == "ReplicaFailure" and c.get("status") == "True"), None)
    if failure is not None:
        return Readiness(False, f"pods cannot be created: {failure.get('reason', 'ReplicaFailure')}: "
                                f"{failure.get('message', '')}".rstrip(": "))
    wanted = spec.get("replicas", 1)
    updated = status.get("updatedReplicas") or 0
    total = status.get("replicas") or 0
    available = status.get("availableReplicas") or 0
    if updated < wanted:
        return Readiness(False, f"{updated} of {wanted} replicas updated")
    if total > updated:
        return Readiness(False, f"{total - updated} old replicas still terminating")
    if available < updated:
        return Readiness(False, f"{available} of {updated} updated replicas available")
    return Readiness(True, f"{available} of {wanted} replicas available")


def selector(obj: Manifest) -> str | None:
    """The label selector (`k=v,...`) of a workload's pods; None when it has no matchLabels."""
    labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items())) or None


def pod_problems(pods: list[Manifest]) -> str | None:
    """Why the first unready pod (by name) is not ready, from its container statuses; None if none is."""
    for pod in sorted(pods, key=lambda p: str((p.get("metadata") or {}).get("name"))):
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            continue
        status = pod.get("status") or {}
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []):
            continue
        name = meta.get("name")
        statuses = [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]
        for container in statuses:
            state = container.get("state") or {}
            waiting = state.get("waiting")
            if waiting and waiting.get("reason") not in (None, "PodInitializing", "ContainerCreating"):
                text = f"pod {name}: container {container.get('name')} {waiting['reason']}"
                detail = waiting.get("message")
                last = (container.get("lastState") or {}).get("terminated") or {}
                if last.get("exitCode") is not None:
                    exited = f"last exit code {last['exitCode']}"
                    detail = f"{detail}; {exited}" if detail else exited
                return f"{text} ({detail})" if detail else text
            terminated = state.get("terminated")
            if terminated and terminated.get("exitCode") not in (None, 0):
                return (f"pod {name}: container {container.get('name')} terminated with exit code "
                        f"{terminated['exitCode']} ({terminated.get('reason', 'Error')})")
        for container in status.get("containerStatuses") or []:
            if (container.get("state") or {}).get("running") and not container.get("ready"):
                return f"pod {name}: container {container.get('name')} is running but not ready (readiness probe)"
        scheduled = next((c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), None)
        if scheduled is not None and scheduled.get("status") == "False":
            return f"pod {name}: not scheduled: {scheduled.get('message') or scheduled.get('reason')}"
        if not (pod.get("spec") or {}).get("nodeName"):
            return f"pod {name}: Pending, not scheduled to any node yet"
    return None
