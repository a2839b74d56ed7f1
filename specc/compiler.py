"""The compiler: a `ValidatedSpec` becomes the `DesiredSet` of Kubernetes objects.

Takes the validated spec, the backend registry and a `Target`; for each model (but those whose
registry reference is not resolved) calls its backend's `compile`, then runs the shared finishing
pass once over everything, and returns a sorted `DesiredSet`. Raises `CompileError` (positioned at
the models involved) when two models would produce the same object. Pure: must not read files, talk
to a cluster or print.

The finishing pass, the same for every backend:
- namespace on every object;
- ownership labels (`app.kubernetes.io/{name,instance,managed-by,part-of}`, `specc.dev/{spec,model}`,
  and the ApplySet `applyset.kubernetes.io/part-of`) on every object and the model's labels on its pods;
- provenance annotations (`provenance.specc.dev/*`) on every object and on its pods, those of the
  track each serves (`Backend.track`, `PodSite.track`): a canary's are its own `canary.provenance`,
  or none, never the stable model's;
- `specc.dev/inference-log` (the sink, or "backend default") on every object of a model whose
  predictions are logged, so a plan can tell when logging is turned off;
- the Pod Security Standard "restricted" settings on every pod and container the backend's
  `pod_sites` hook finds (values a backend set itself are kept);
- API versions the target cluster serves (autoscaling/v2 before 1.23, policy/v1 before 1.21);
- deterministic order.
"""

from __future__ import annotations

from typing import Any

from specc import applyset
from specc.backend_api import Backend, Target
from specc.backend_api import provenance_annotations as track_provenance_annotations
from specc.diagnostics import CompileError, Diagnostic
from specc.ir import ModelIR
from specc.objects import (
    BACKEND_ANNOTATION,
    INFERENCE_LOG_ANNOTATION,
    INSTANCE_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    MODEL_LABEL,
    NAME_LABEL,
    PART_OF_LABEL,
    SPEC_LABEL,
    DesiredObject,
    DesiredSet,
    Manifest,
    ObjectKey,
    sort_objects,
)
from specc.registry import Registry
from specc.validate import ValidatedSpec

# (apiVersion, kind) -> (first Kubernetes minor version that serves it, the version to use before).
_API_FALLBACKS: dict[tuple[str, str], tuple[tuple[int, int], str]] = {
    ("autoscaling/v2", "HorizontalPodAutoscaler"): ((1, 23), "autoscaling/v2beta2"),
    ("policy/v1", "PodDisruptionBudget"): ((1, 21), "policy/v1beta1"),
}


def compile_spec(validated: ValidatedSpec, registry: Registry, target: Target | None = None) -> DesiredSet:
    target = target or Target()
    ir = validated.ir
    set_id = applyset.spec_applyset_id(ir.name, ir.namespace)
    objects: list[DesiredObject] = []
    owners: dict[ObjectKey, ModelIR] = {}
    problems: list[Diagnostic] = []
    for model in ir.models:
        if model.unresolved:
            continue  # its artifacts come from a registry nobody asked (validate, diff): nothing to compile
        backend = registry.get(model.backend)
        for raw in backend.compile(model, target):
            obj = finish(model, backend, raw, target, set_id)
            key = ObjectKey.of(obj)
            if key in owners:
                other = owners[key]
                problems.append(Diagnostic(
                    "B404", f"model '{model.name}' and model '{other.name}' would both create {key}",
                    path=model.path, span=validated.document.span(model.path),
                    hint="rename one of them: derived names (such as '<model>-canary') must not collide"))
                continue
            owners[key] = model
            objects.append(DesiredObject(key, model.name, model.backend, obj))
    if problems:
        raise CompileError(problems)
    return DesiredSet(ir.name, ir.namespace, sort_objects(objects))


def ownership_labels(model: ModelIR, set_id: str) -> dict[str, str]:
    return {
        NAME_LABEL: model.name,
        INSTANCE_LABEL: f"{model.spec_name}-{model.name}",
        PART_OF_LABEL: model.spec_name,
        MANAGED_BY_LABEL: MANAGED_BY,
        SPEC_LABEL: model.spec_name,
        MODEL_LABEL: model.name,
        applyset.PART_OF_LABEL: set_id,
    }


def provenance_annotations(model: ModelIR, track: str | None = None) -> dict[str, str]:
    """The provenance annotations of what `track` serves (a canary's are its own, or none)."""
    return track_provenance_annotations(model.track_provenance(track))


def finish(model: ModelIR, backend: Backend, raw: Manifest, target: Target, set_id: str) -> Manifest:
    """The shared finishing pass for one object of `model` (returns a new dict)."""
    obj = _copy(raw)
    fallback = _API_FALLBACKS.get((obj.get("apiVersion", ""), obj.get("kind", "")))
    if fallback is not None and not target.at_least(*fallback[0]):
        obj["apiVersion"] = fallback[1]
    meta = obj.setdefault("metadata", {})
    meta["namespace"] = model.namespace
    labels = ownership_labels(model, set_id)
    meta["labels"] = {**(meta.get("labels") or {}), **labels}
    annotations = {**(meta.get("annotations") or {}), **provenance_annotations(model, backend.track(obj)),
                   BACKEND_ANNOTATION: model.backend}
    if model.inference_log is not None:
        annotations[INFERENCE_LOG_ANNOTATION] = model.inference_log.url or "backend default"
    meta["annotations"] = annotations
    pod_labels = {k: v for k, v in labels.items() if k != applyset.PART_OF_LABEL}
    for site in backend.pod_sites(obj):
        if site.labels is not None:
            site.labels.update({k: v for k, v in pod_labels.items() if k not in site.labels})
        if site.annotations is not None:
            site.annotations.update(provenance_annotations(model, site.track))
        if site.pod_spec is not None:
            _restricted_pod(site.pod_spec)
        for container in site.containers:
            _restricted_container(container)
    return _drop_empty_maps(obj)


def _copy(node: Any) -> Any:
    """A deep copy of JSON-like data (several times faster than copy.deepcopy): the finishing pass
    writes into it, and a backend may share sub-dicts between objects."""
    if isinstance(node, dict):
        return {k: _copy(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_copy(v) for v in node]
    return node


def _restricted_pod(pod_spec: dict[str, Any]) -> None:
    context = pod_spec.setdefault("securityContext", {})
    context.setdefault("runAsNonRoot", True)
    context.setdefault("seccompProfile", {"type": "RuntimeDefault"})


def _restricted_container(container: dict[str, Any]) -> None:
    context = container.setdefault("securityContext", {})
    context.setdefault("allowPrivilegeEscalation", False)
    context.setdefault("runAsNonRoot", True)
    capabilities = context.setdefault("capabilities", {})
    drop = capabilities.setdefault("drop", [])
    if "ALL" not in drop:
        drop.insert(0, "ALL")
    context.setdefault("seccompProfile", {"type": "RuntimeDefault"})


def _drop_empty_maps(obj: Manifest) -> Manifest:
    """Empty `labels`/`annotations` maps left by `pod_sites` are noise in a diff; remove them."""
    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, child in node.items():
                value = walk(child)
                if key in ("labels", "annotations") and value == {}:
                    continue
                out[key] = value
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    result: Manifest = walk(obj)
    return result
