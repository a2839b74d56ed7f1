"""Seldon Core 2: a model becomes a Model (mlops.seldon.io/v1alpha1), a canary a second Model plus an
Experiment that splits the traffic between them.

Takes a model and the backend's options; `problems` yields what Seldon Core 2 cannot express and
`compile` returns the objects. Pure.

A Model is not a workload: Seldon's scheduler loads it onto a shared Server (the shipped Servers are
`mlserver` and `triton`) whose capabilities cover every entry of `requirements`, with `memory` free
per replica. So a Model carries the artifacts, the capability tags of its format (and of its engine
when one is named), its memory, and its replica range (Seldon scales Models between min and max on
inference lag, not on a metric of the spec). Environment, CPU, GPUs and the service account belong
to the Server and cannot be set per Model. Everything is served over the Open Inference Protocol
(v2), through the `seldon-mesh` gateway.

Canary: Models `<name>` and `<name>-canary`, sized like two tracks, and Experiment `<name>` whose
`default` is `<name>` (requests for that model are split) with candidate weights `100 - traffic`
and `traffic`.
"""

from __future__ import annotations

from collections.abc import Iterator

from specc.backend_api import (
    CANARY_TRACK,
    LAYOUT_MODEL_FILES,
    LAYOUT_TRITON_MODEL,
    TRACK_LABEL,
    Manifest,
    ModelIR,
    Path,
    Problem,
    Readiness,
    Severity,
    StorageRef,
    artifact_locations,
    condition,
)
from specc.backend_api.workload import track_replicas
from specc_seldon.common import FETCHED_SCHEMES, SeldonOptions

GROUP, VERSION = "mlops.seldon.io", "v1alpha1"
MODEL_KIND, EXPERIMENT_KIND = "Model", "Experiment"
CANARY_SUFFIX = "-canary"

# Capability tags each shipped Server advertises (SELDON_SERVER_CAPABILITIES in k8s/yaml/components.yaml).
SERVER_CAPABILITIES = {
    "mlserver": frozenset({"mlserver", "alibi-detect", "alibi-explain", "huggingface", "lightgbm", "mlflow",
                           "python", "sklearn", "spark-mlib", "xgboost"}),
    "triton": frozenset({"triton", "dali", "fil", "onnx", "openvino", "python", "pytorch", "tensorflow",
                         "tensorrt"}),
}
# The capability a Model of each format requires (the tags of docs-gb/models/inference-artifacts.md).
REQUIREMENT = {
    "sklearn": "sklearn", "xgboost": "xgboost", "lightgbm": "lightgbm", "mlflow": "mlflow",
    "huggingface": "huggingface", "onnx": "onnx", "tensorflow": "tensorflow", "pytorch": "pytorch",
    "tensorrt": "tensorrt", "triton": "triton",
}
FORMATS = frozenset(REQUIREMENT)
FAILED_STATES = ("ScheduleFailed", "ModelFailed")


def requirements(model: ModelIR) -> list[str]:
    tags = {REQUIREMENT[model.format]}
    if model.engine is not None:
        tags.add(model.engine)
    return sorted(tags)


def problems(model: ModelIR, options: SeldonOptions) -> Iterator[Problem]:
    if model.format not in FORMATS:
        yield Problem(("format",), f"Seldon Core 2 has no Server capability for format '{model.format}'")
        return
    if model.engine is not None:
        capabilities = SERVER_CAPABILITIES.get(model.engine)
        if capabilities is None:
            yield Problem(("engine",), f"Seldon Core 2 ships no '{model.engine}' Server",
                          "use engine mlserver or triton, or remove 'engine'")
        elif REQUIREMENT[model.format] not in capabilities:
            yield Problem(("engine",), f"Seldon Core 2's {model.engine} Server cannot load format "
                          f"'{model.format}'", "remove 'engine' to let the scheduler choose a Server")
    if "run_as_user" in options.model_fields_set:
        yield Problem(("options", "seldon", "runAsUser"), "runAsUser applies to version v1: Seldon Core 2 "
                      "Models run inside Servers, whose pods the Server defines")
    if model.protocol == "v1":
        yield Problem(("protocol",), "Seldon Core 2 serves every model over the Open Inference Protocol (v2)",
                      "use protocol v2, or remove 'protocol'")
    for storage, path in artifact_locations(model):
        yield from _storage(storage, path)
    if model.autoscaling is not None:
        yield Problem(("autoscaling",), "Seldon Core 2 scales Models on inference lag between replicas.min "
                      "and replicas.max; a scale metric cannot be set", "remove 'autoscaling'")
    shared = "Seldon Core 2 runs Models inside shared Servers"
    if model.env:
        yield Problem(("env",), f"{shared}; environment variables belong to the Server",
                      "set them on the Server, or use version v1")
    if model.secret_env:
        yield Problem(("secretEnv",), f"{shared}; environment variables belong to the Server",
                      "download credentials go in options.seldon.storageSecret")
    if model.service_account:
        yield Problem(("serviceAccount",), f"{shared}, under the Server's service account; this one is not "
                      "used", severity=Severity.WARNING)
    for field_name, value in (("cpu", model.resources.cpu), ("gpu", model.resources.gpu)):
        if value:
            yield Problem(("resources", field_name), f"Seldon Core 2 schedules Models by memory only; "
                          f"{field_name} is a property of the Server", severity=Severity.WARNING)
    log = model.inference_log
    if log is not None:
        # Model.spec.logger (mlops.seldon.io_models CRD) has only `percent`: payloads go to Seldon's
        # Kafka pipeline, not to a URL, and request and response are logged together.
        if log.url is not None:
            yield Problem(("inferenceLog", "url"), "Seldon Core 2 logs payloads through its Kafka pipeline; "
                          "a Model's logger takes no URL", "remove url (consume the model's Kafka topics)")
        if log.mode != "all":
            yield Problem(("inferenceLog", "mode"), "Seldon Core 2's Model logger has only percent: it cannot "
                          f"log {log.mode}s alone", "remove mode")
        if log.provenance and model.provenance is not None:
            yield Problem(("inferenceLog", "provenance"), "Seldon Core 2's Model logger has only percent: "
                          "the provenance is not attached to logged payloads", severity=Severity.WARNING)
    if model.ingress is not None:
        yield Problem(("ingress",), f"Seldon Core 2 serves every model through the seldon-mesh gateway "
                      f"(header Seldon-Model: {model.name}); the host '{model.ingress.host}' and path are "
                      "not used", severity=Severity.WARNING)


def artifact_layout(model: ModelIR) -> frozenset[str] | None:
    """A Model's storageUri is one model's folder: the files MLServer loads, or, on the Triton
    Server, a single Triton model (config.pbtxt and version folders), which the scheduler places in
    the Server's repository under the Model's name (seldon-core samples/models/tfsimple1.yaml)."""
    if model.format not in FORMATS:
        return None
    triton = model.engine == "triton" or REQUIREMENT[model.format] not in SERVER_CAPABILITIES["mlserver"]
    return LAYOUT_TRITON_MODEL if triton else LAYOUT_MODEL_FILES


def _storage(storage: StorageRef, path: Path) -> Iterator[Problem]:
    if storage.scheme not in FETCHED_SCHEMES:
        yield Problem(path, f"Seldon Core 2 cannot fetch {storage.scheme}:// artifacts",
                      "use s3:// or gs:// (rclone remotes)")


def compile_model(model: ModelIR, options: SeldonOptions) -> list[Manifest]:
    if model.canary is None:
        return [_model(model, options, name=model.name, storage=model.storage, low=model.min_replicas,
                       high=model.max_replicas)]
    (stable_low, stable_high), (canary_low, canary_high) = track_replicas(model)
    canary_name = model.name + CANARY_SUFFIX
    experiment = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": EXPERIMENT_KIND,
        "metadata": {"name": model.name},
        "spec": {
            "default": model.name,
            "resourceType": "model",
            "candidates": [
                {"name": model.name, "weight": 100 - model.canary.traffic},
                {"name": canary_name, "weight": model.canary.traffic},
            ],
        },
    }
    return [
        _model(model, options, name=model.name, storage=model.storage, low=stable_low, high=stable_high),
        _canary(_model(model, options, name=canary_name, storage=model.canary.storage, low=canary_low,
                       high=canary_high)),
        experiment,
    ]


def _canary(obj: Manifest) -> Manifest:
    """Marks the canary's Model, so that the finishing pass gives it the canary's provenance."""
    obj["metadata"]["labels"] = {TRACK_LABEL: CANARY_TRACK}
    return obj


def _model(model: ModelIR, options: SeldonOptions, *, name: str, storage: StorageRef | None, low: int,
           high: int) -> Manifest:
    assert storage is not None  # Seldon formats are artifact formats: rules require a storageUri
    spec: Manifest = {"storageUri": storage.uri, "requirements": requirements(model)}
    if model.resources.memory:
        spec["memory"] = model.resources.memory
    if options.storage_secret is not None:
        spec["secretName"] = options.storage_secret
    if high > low:
        spec["minReplicas"] = low
        spec["maxReplicas"] = high
    else:
        spec["replicas"] = low
    if model.inference_log is not None:
        spec["logger"] = {"percent": model.inference_log.percent}
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": MODEL_KIND, "metadata": {"name": name}, "spec": spec}


def readiness(obj: Manifest) -> Readiness:
    """`Ready`; a Model the scheduler could not place or load is failed."""
    ready = condition(obj, "Ready")
    if ready.ready or obj.get("kind") != MODEL_KIND or not _observed(obj):
        return ready
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if not isinstance(cond, dict) or cond.get("type") != "ModelReady" or cond.get("status") == "True":
            continue
        # The operator writes the model's state in the message and the scheduler's detail in the reason.
        state, detail = cond.get("message") or "", cond.get("reason") or ""
        if state in FAILED_STATES or detail in FAILED_STATES:
            return Readiness(False, ": ".join(p for p in (state, detail) if p), failed=True)
    return ready


def _observed(obj: Manifest) -> bool:
    """Whether the status describes the current generation (else it may describe an old failure)."""
    generation = (obj.get("metadata") or {}).get("generation")
    observed = (obj.get("status") or {}).get("observedGeneration")
    return generation is None or observed is None or observed >= generation
