"""Lowering: a validated `ServingSpec` becomes the `ServingIR` that backends compile.

Takes the spec and each model's already-validated backend options; returns immutable `ModelIR`s with
`defaults` merged, the backend chosen, and for each field the spec path it came from (so a complaint
about a value inherited from `defaults` points at `defaults`). Pure; must not validate meaning
(that is `rules`) or know any backend's objects.

Merge rules: a model's scalar fields replace the defaults; `replicas` and `resources` merge key by key;
`env` merges by variable name; `secretEnv` merges by variable name (the model's entry wins); `options`
merges per backend, key by key; `inferenceLog` merges key by key (`enabled: false` turns it off).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from specc.diagnostics import Path
from specc.ir import (
    AutoscalingIR,
    CanaryIR,
    InferenceLogIR,
    IngressIR,
    ModelIR,
    ProvenanceIR,
    RegistryRefIR,
    ResourcesIR,
    SecretEnvIR,
    ServingIR,
    StorageRef,
)
from specc.quantity import canonical_quantity
from specc.spec import (
    DEFAULT_BACKEND,
    PROVENANCE_FIELDS,
    Defaults,
    InferenceLog,
    Model,
    Provenance,
    RegistryRef,
    ServingSpec,
)

AZURE_BLOB_SUFFIX = ".blob.core.windows.net"


def storage_ref(uri: str) -> StorageRef:
    """Classify a storage URI by scheme; Azure Blob `https://<account>.blob.core.windows.net/...` is
    its own scheme, `azure`, because the engines fetch it differently from plain HTTPS."""
    parts = urlsplit(uri)
    scheme = parts.scheme
    if scheme == "https" and (parts.hostname or "").endswith(AZURE_BLOB_SUFFIX):
        scheme = "azure"
    return StorageRef(uri=uri, scheme=scheme)


def registry_ref(ref: RegistryRef | None, path: Path) -> RegistryRefIR | None:
    if ref is None:
        return None
    return RegistryRefIR(ref.provider, ref.model, ref.alias, ref.version, ref.tracking_uri, path)


def model_backend(spec: ServingSpec, model: Model) -> str:
    return model.backend or spec.backend or DEFAULT_BACKEND


def merged_options(spec: ServingSpec, model: Model, backend: str) -> dict[str, Any]:
    """The raw `options.<backend>` of a model, merged over the defaults' (model keys win)."""
    base = dict(((spec.defaults.options if spec.defaults else None) or {}).get(backend, {}))
    base.update((model.options or {}).get(backend, {}))
    return base


def lower_model(spec: ServingSpec, model: Model, index: int, options: Any) -> ModelIR:
    defaults = spec.defaults or Defaults()
    path: Path = ("models", index)

    def pick(field: str) -> Any:
        own = getattr(model, field)
        return own if own is not None else getattr(defaults, field)

    replicas_min = _first(model.replicas and model.replicas.min, defaults.replicas and defaults.replicas.min)
    replicas_max = _first(model.replicas and model.replicas.max, defaults.replicas and defaults.replicas.max)
    min_replicas = 1 if replicas_min is None else replicas_min
    max_replicas = max(min_replicas, 1) if replicas_max is None else replicas_max

    res_model, res_default = model.resources, defaults.resources
    cpu = _first(res_model and res_model.cpu, res_default and res_default.cpu)
    memory = _first(res_model and res_model.memory, res_default and res_default.memory)
    # Canonical spelling (0.5 -> 500m), as the API server stores it: an unchanged object then
    # compares equal to its live copy without a server round trip.
    resources = ResourcesIR(
        cpu=canonical_quantity(cpu) if cpu is not None else None,
        memory=canonical_quantity(memory) if memory is not None else None,
        gpu=_first(res_model and res_model.gpu, res_default and res_default.gpu) or 0,
    )
    env = {**(defaults.env or {}), **(model.env or {})}
    secrets = {s.name: s for s in (defaults.secret_env or [])}
    secrets.update({s.name: s for s in (model.secret_env or [])})
    autoscaling = pick("autoscaling")
    monitoring = pick("monitoring")
    canary = model.canary
    return ModelIR(
        name=model.name,
        spec_name=spec.metadata.name,
        namespace=spec.metadata.namespace,
        backend=model_backend(spec, model),
        format=model.format,
        storage=storage_ref(model.storage_uri) if model.storage_uri else None,
        image=model.image,
        port=model.port,
        engine=model.engine,
        protocol=pick("protocol"),
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        autoscaling=AutoscalingIR(autoscaling.metric, autoscaling.target) if autoscaling else None,
        resources=resources,
        env=tuple(sorted(env.items())),
        secret_env=tuple(SecretEnvIR(s.name, s.secret, s.key) for _, s in sorted(secrets.items())),
        service_account=pick("service_account"),
        canary=CanaryIR(
            traffic=canary.traffic,
            storage=storage_ref(canary.storage_uri) if canary.storage_uri else None,
            image=canary.image,
            registry=registry_ref(canary.registry, (*path, "canary", "registry")),
            provenance=provenance_ir(canary.provenance),
        ) if canary else None,
        ingress=IngressIR(model.ingress.host, model.ingress.path) if model.ingress else None,
        metrics=bool(monitoring and monitoring.metrics),
        provenance=provenance_ir(model.provenance),
        options=options,
        path=path,
        registry=registry_ref(model.registry, (*path, "registry")),
        inference_log=inference_log(defaults.inference_log, model.inference_log),
    )


def provenance_ir(provenance: Provenance | None) -> ProvenanceIR | None:
    if provenance is None:
        return None
    return ProvenanceIR(provenance.registry, provenance.uri, provenance.version, provenance.run_id)


def inference_log(inherited: InferenceLog | None, own: InferenceLog | None) -> InferenceLogIR | None:
    """A model's inference log: its own keys over those of `defaults`; None when neither asks for
    one or the merged `enabled` is false."""
    if inherited is None and own is None:
        return None

    def key(name: str) -> Any:
        for block in (own, inherited):
            value = getattr(block, name) if block is not None else None
            if value is not None:
                return value
        return None

    if key("enabled") is False:
        return None
    fields = key("provenance")
    return InferenceLogIR(
        url=key("url"), mode=key("mode") or "all", percent=key("percent") or 100,
        provenance=PROVENANCE_FIELDS if fields is None else tuple(f for f in PROVENANCE_FIELDS if f in fields),
    )


def lower(spec: ServingSpec, options: Mapping[int, Any]) -> ServingIR:
    """Lower every model; `options[i]` is model i's validated backend options."""
    return ServingIR(
        name=spec.metadata.name,
        namespace=spec.metadata.namespace,
        models=tuple(lower_model(spec, m, i, options[i]) for i, m in enumerate(spec.models)),
    )


def origin(spec: ServingSpec, model_index: int, relative: Path) -> Path:
    """The spec path a model's field came from: the model's own key, else `defaults`, else the model."""
    model = spec.models[model_index]
    head = relative[0] if relative else None
    own: Path = ("models", model_index, *relative)
    if not isinstance(head, str):
        return own
    field = _FIELD_BY_KEY.get(head)
    if field == "inference_log" and len(relative) > 1 and isinstance(relative[1], str):
        # Merged key by key: each key comes from the block that sets it.
        key = relative[1]
        for base, block in ((("models", model_index), model.inference_log), (("defaults",), spec.defaults
                                                                            and spec.defaults.inference_log)):
            if block is not None and key in block.model_fields_set:
                return (*base, *relative)
    if field is None or getattr(model, field, None) is not None:
        return own
    if spec.defaults is not None and getattr(spec.defaults, field, None) is not None:
        return ("defaults", *relative)
    return ("models", model_index)


_FIELD_BY_KEY = {
    "protocol": "protocol", "replicas": "replicas", "autoscaling": "autoscaling", "resources": "resources",
    "env": "env", "secretEnv": "secret_env", "serviceAccount": "service_account",
    "monitoring": "monitoring", "options": "options", "inferenceLog": "inference_log",
}


def _first(*values: Any) -> Any:
    for value in values:
        if value is not None:
            return value
    return None
