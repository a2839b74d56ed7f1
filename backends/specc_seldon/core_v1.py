"""Seldon Core v1: a model becomes one SeldonDeployment (machinelearning.seldon.io/v1).

Takes a model and the backend's options; `problems` yields what Seldon Core v1 cannot serve and
`compile` returns the SeldonDeployment. Pure.

Layout: predictor `stable` (and `canary`, with `traffic` summing to 100), each a one-node graph that
runs a prepackaged server on the model's `modelUri`. The node is named after the model, so requests
go to `/v2/models/<model>/infer`; the operator matches containers to nodes by name, so the
`componentSpecs` container entry has that name and carries only resources and env (the operator
fills in the server's image, ports and probes). Replicas are fixed, or an HPA (`hpaSpec.metricsv2`,
autoscaling/v2 metrics) when they may vary.

Servers (operator v1.18, `predictor_servers`): SKLEARN_SERVER, XGBOOST_SERVER and MLFLOW_SERVER
run MLServer for protocol v2; TENSORFLOW_SERVER runs TF Serving for Seldon's `tensorflow` protocol
(the TF Serving REST API, which is what specc calls v1); TRITON_SERVER runs Triton for v2. Seldon's
own `seldon` protocol is neither v1 nor v2 and is not offered. LightGBM has no prepackaged server in
Seldon Core v1 and is refused (Seldon Core 2 and KServe serve it through MLServer).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from specc.backend_api import (
    LAYOUT_MODEL_FILES,
    LAYOUT_TF_VERSIONS,
    LAYOUT_TRITON_REPOSITORY,
    Manifest,
    ModelIR,
    Path,
    Problem,
    Readiness,
    Severity,
    StorageRef,
    artifact_locations,
    container_env,
    container_resources,
    hpa_problems,
)
from specc.backend_api.workload import track_replicas
from specc_seldon.common import FETCHED_SCHEMES, SeldonOptions

GROUP, VERSION, KIND = "machinelearning.seldon.io", "v1", "SeldonDeployment"
# The operator puts its default user (DEFAULT_USER_ID, Helm defaultUserID 8888) on a pod only when the
# componentSpec's securityContext is nil (seldon-core operator/controllers/security.go and
# seldondeployment_controller.go @v1.18.2); specc's restricted settings make it non-nil, and
# `runAsNonRoot` then needs a numeric user, or kubelet refuses images whose USER is root or a name
# ("container has runAsNonRoot and image will run as root"): tensorflow/serving has no USER, Triton's
# image creates uid 1000 (triton-server) without switching to it, MLServer's images run as 1000.
MODEL_UID = 1000
STABLE, CANARY = "stable", "canary"
SELDON_PROTOCOL = {"v2": "v2", "v1": "tensorflow"}


@dataclass(frozen=True)
class Prepack:
    """A prepackaged server: its implementation name, the specc protocols it speaks (the first is
    the default), and what the container entry must override."""

    implementation: str
    protocols: tuple[str, ...]


# Seldon Core v1 has no LightGBM server; LightGBM models go to Seldon Core 2 (MLServer) or KServe.
MLSERVER_PREPACKS = {
    "sklearn": Prepack("SKLEARN_SERVER", ("v2",)),
    "xgboost": Prepack("XGBOOST_SERVER", ("v2",)),
    "mlflow": Prepack("MLFLOW_SERVER", ("v2",)),
}
TRITON = Prepack("TRITON_SERVER", ("v2",))
TFSERVING = Prepack("TENSORFLOW_SERVER", ("v1",))
TRITON_FORMATS = frozenset({"onnx", "tensorflow", "pytorch", "tensorrt", "triton"})
DEFAULT_ENGINE = {
    "sklearn": "mlserver", "xgboost": "mlserver", "mlflow": "mlserver",
    "tensorflow": "tfserving", "onnx": "triton", "tensorrt": "triton", "triton": "triton",
}
FORMATS = frozenset({*MLSERVER_PREPACKS, *TRITON_FORMATS})


def prepack(model: ModelIR) -> Prepack | None:
    """The server for `model` (its engine, else the format's default), or None when there is none."""
    engine = model.engine or DEFAULT_ENGINE.get(model.format)
    if engine == "mlserver":
        return MLSERVER_PREPACKS.get(model.format)
    if engine == "triton":
        return TRITON if model.format in TRITON_FORMATS else None
    if engine == "tfserving":
        return TFSERVING if model.format == "tensorflow" else None
    return None


def artifact_layout(model: ModelIR) -> frozenset[str] | None:
    """What the prepackaged server reads in /mnt/models: MLServer the model's files, TF Serving
    numbered SavedModel versions, Triton a model repository."""
    pack = prepack(model)
    if pack is None:
        return None
    if pack is TRITON:
        return LAYOUT_TRITON_REPOSITORY
    return LAYOUT_TF_VERSIONS if pack is TFSERVING else LAYOUT_MODEL_FILES


def protocol(model: ModelIR, pack: Prepack) -> str:
    return model.protocol or pack.protocols[0]


def problems(model: ModelIR, options: SeldonOptions) -> Iterator[Problem]:
    pack = prepack(model)
    if model.format not in FORMATS:
        yield Problem(("format",), f"Seldon Core v1 has no prepackaged server for format '{model.format}'",
                      "set options.seldon.version to v2, or use backend kserve")
        return
    if pack is None:
        if model.engine is None:  # pytorch: only Triton, and only for TorchScript in a model repository
            yield Problem(("format",), f"Seldon Core v1 serves format '{model.format}' only through "
                          "TRITON_SERVER (a Triton model repository)", "set engine: triton")
        else:
            yield Problem(("engine",), f"Seldon Core v1 has no prepackaged server for engine "
                          f"'{model.engine}' and format '{model.format}'",
                          f"remove 'engine' (default: {DEFAULT_ENGINE[model.format]})"
                          if model.format in DEFAULT_ENGINE else "use engine triton")
        return
    if model.protocol is not None and model.protocol not in pack.protocols:
        yield Problem(("protocol",), f"{pack.implementation} speaks only protocol {pack.protocols[0]}",
                      "use engine triton for v2" if pack is TFSERVING
                      else f"use protocol {pack.protocols[0]}")
    for storage, path in artifact_locations(model):
        yield from _storage(storage, path)
    yield from hpa_problems(model, "Seldon Core v1 scales with a HorizontalPodAutoscaler")
    if model.secret_env and options.storage_secret is None:
        yield Problem(("secretEnv",), "secretEnv reaches the model server, not Seldon's storage initializer, "
                      "which reads download credentials only from the Secret named by envSecretRefName",
                      "name that Secret (rclone configuration) in options.seldon.storageSecret",
                      severity=Severity.WARNING)
    log = model.inference_log
    if log is not None:
        # PredictiveUnit.Logger (operator/apis/machinelearning.seldon.io/v1/seldondeployment_types.go,
        # v1.18.2): url and mode (all, request, response), nothing else.
        if log.percent != 100:
            yield Problem(("inferenceLog", "percent"), "Seldon Core v1's logger (graph logger: url, mode) "
                          "logs every request; it cannot sample", "remove percent, or use version v2")
        if log.provenance and model.provenance is not None:
            yield Problem(("inferenceLog", "provenance"), "Seldon Core v1's logger has only url and mode: "
                          "the provenance is not attached to logged events", severity=Severity.WARNING)
    if model.ingress is not None:
        yield Problem(("ingress",), f"Seldon Core v1 exposes the model through its Istio or Ambassador "
                      f"gateway at /seldon/{model.namespace}/{model.name}/; the host "
                      f"'{model.ingress.host}' and path are not used", severity=Severity.WARNING)


def _storage(storage: StorageRef, path: Path) -> Iterator[Problem]:
    if storage.scheme in (*FETCHED_SCHEMES, "pvc"):
        return
    yield Problem(path, f"Seldon Core v1's storage initializer cannot fetch {storage.scheme}:// artifacts",
                  "use s3://, gs:// (rclone remotes) or pvc://")


def compile_model(model: ModelIR, options: SeldonOptions) -> list[Manifest]:
    pack = prepack(model)
    assert pack is not None  # problems() refused models without a server
    if model.canary is None:
        predictors = [_predictor(model, options, pack, name=STABLE, storage=model.storage,
                                 low=model.min_replicas, high=model.max_replicas, traffic=None)]
    else:
        (stable_low, stable_high), (canary_low, canary_high) = track_replicas(model)
        predictors = [
            _predictor(model, options, pack, name=STABLE, storage=model.storage, low=stable_low,
                       high=stable_high, traffic=100 - model.canary.traffic),
            _predictor(model, options, pack, name=CANARY, storage=model.canary.storage, low=canary_low,
                       high=canary_high, traffic=model.canary.traffic),
        ]
    spec: Manifest = {"protocol": SELDON_PROTOCOL[protocol(model, pack)], "predictors": predictors}
    return [{"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "metadata": {"name": model.name},
             "spec": spec}]


def _predictor(model: ModelIR, options: SeldonOptions, pack: Prepack, *, name: str,
               storage: StorageRef | None, low: int, high: int, traffic: int | None) -> Manifest:
    graph: Manifest = {"name": model.name, "type": "MODEL", "implementation": pack.implementation}
    if storage is not None:
        graph["modelUri"] = storage.uri
    if options.storage_secret is not None:
        graph["envSecretRefName"] = options.storage_secret
    if model.inference_log is not None:
        # Without a url the executor logs to http://default-broker.<namespace> (executor/logger).
        logger: Manifest = {"mode": model.inference_log.mode}
        if model.inference_log.url is not None:
            logger["url"] = model.inference_log.url
        graph["logger"] = logger
    if model.service_account:
        # The operator puts it on the pod and on the storage initializer (IRSA, workload identity).
        graph["serviceAccountName"] = model.service_account
    container: Manifest = {"name": model.name}  # must equal the graph node's name
    resources = container_resources(model.resources)
    if resources:
        container["resources"] = resources
    env = container_env(model)
    if env:
        container["env"] = env
    user = options.run_as_user or MODEL_UID
    pod: Manifest = {"containers": [container],
                     "securityContext": {"runAsUser": user, "runAsGroup": user, "fsGroup": user}}
    if model.resources.gpu:
        pod["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    component: Manifest = {"spec": pod}
    if high > low:
        metric = model.autoscaling.metric if model.autoscaling else "cpu"
        target = model.autoscaling.target if model.autoscaling else 80
        component["hpaSpec"] = {"minReplicas": low, "maxReplicas": high, "metricsv2": [{
            "type": "Resource",
            "resource": {"name": metric, "target": {"type": "Utilization", "averageUtilization": target}},
        }]}
    else:
        component["replicas"] = low
    predictor: Manifest = {"name": name, "graph": graph, "componentSpecs": [component]}
    if traffic is not None:
        predictor["traffic"] = traffic
    return predictor


def readiness(obj: Manifest) -> Readiness:
    """`status.state`: Available is ready, Failed is failed (with the operator's description)."""
    status = obj.get("status") or {}
    generation = (obj.get("metadata") or {}).get("generation")
    observed = status.get("observedGeneration")
    if generation is not None and observed is not None and observed < generation:
        return Readiness(False, f"waiting for the operator to observe generation {generation}")
    state = status.get("state")
    description = status.get("description") or ""
    if state == "Available":
        return Readiness(True, description)
    if state == "Failed":
        return Readiness(False, description or "state Failed", failed=True)
    return Readiness(False, f"state {state}" + (f": {description}" if description else "") if state
                     else "no state yet")
