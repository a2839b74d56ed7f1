"""Readiness of live core objects: is a Deployment rolled out? Custom kinds ask their backend.

Takes a live object (with status); returns a `Readiness`. Pure. The rules are `kubectl rollout
status`'s: the controller has observed the latest generation, every replica runs the new template and
is available, and no old replica is left; a `Progressing` condition with reason
`ProgressDeadlineExceeded` is a failure.
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
