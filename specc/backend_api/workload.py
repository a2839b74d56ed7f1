"""Core Kubernetes workload objects for a serving container: part of the backend API.

Takes a `ModelIR` and an `EngineContainer` factory (what runs in the pod, for the stable and the
canary track); returns the Deployments, Services, HorizontalPodAutoscalers, PodDisruptionBudgets and
Ingresses that serve it, plus whatever the engine needs besides (a ConfigMap, say). Backends that
run pods themselves (the raw `kubernetes` backend, BentoML's image mode) call `serve`; backends that
emit custom resources do not need this module. Pure.

Layout of one model `m` (track = stable | canary):
- Deployment `m` (and `m-canary`), selector {instance, track}; rolling updates never drop below
  the desired count (maxUnavailable 0) because a model server that is loading serves nothing;
- Service `m` on the engine's named ports;
- HorizontalPodAutoscaler per Deployment when max > min; otherwise a fixed replica count;
- PodDisruptionBudget (maxUnavailable 1) for the stable track when min >= 2;
- Ingress `m` (networking.k8s.io/v1) when the model declares one.

Inference log: a `logger` container (KServe's agent in logger mode, `LOGGER_IMAGE`) in every pod; the
Service's HTTP port targets it, and it forwards to the engine on loopback, so every HTTP prediction
that reaches the Service is logged with the track's provenance (see `logger_container`).

Canary: with an ingress (strategy `ingress`), the canary gets its own Service and a second Ingress
with ingress-nginx's canary annotations, so the weight is exact. Otherwise (strategy `replicas`) both
tracks sit behind the one Service and the traffic share is the share of pods, rounded to whole pods;
the requested and the effective percentages are recorded on the canary Deployment as annotations
`specc.dev/canary-traffic` and `specc.dev/canary-effective-traffic` so a plan can show the rounding.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from specc.backend_api import (
    TRACK_LABEL,
    Manifest,
    ModelIR,
    Path,
    Problem,
    Severity,
    StorageRef,
    container_env,
    container_resources,
    hpa_problems,
    logged_provenance,
    object_name,
    selector_labels,
)

MODEL_DIR = "/mnt/models"
MAX_NAME = 63  # Service and label names
# The BentoML release whose `bentoml containerize` images the bento facts here are read from (entrypoint,
# BENTOML_PORT, /livez /readyz /metrics, uid 1034); the engine tests run a bento with exactly this release.
BENTOML_VERSION = "1.4.38"
BENTO_PORT = 3000  # `bentoml serve`'s default HTTP port
BENTO_UID = 1034  # the `bentoml` user of images made by `bentoml containerize`
STORAGE_INITIALIZER_IMAGE = "kserve/storage-initializer:v0.15.0"
CANARY_TRAFFIC_ANNOTATION = "specc.dev/canary-traffic"
CANARY_EFFECTIVE_ANNOTATION = "specc.dev/canary-effective-traffic"
NGINX_CANARY = "nginx.ingress.kubernetes.io/canary"
NGINX_CANARY_WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"
NGINX_REWRITE_TARGET = "nginx.ingress.kubernetes.io/rewrite-target"
NGINX_USE_REGEX = "nginx.ingress.kubernetes.io/use-regex"
# What KServe's storage-initializer reads besides credentials (kserve python/kserve/kserve/storage/
# storage.py @v0.15.0, and boto3/huggingface_hub/requests, which it calls): endpoints, regions, TLS
# and addressing settings, proxies. They are configuration, not secrets, so users put them in `env`;
# the initializer must see them or an S3-compatible store (MinIO) is looked up at AWS.
STORAGE_ENV = frozenset({
    "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_CA_BUNDLE",
    "AWS_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_STS_REGIONAL_ENDPOINTS",
    "S3_ENDPOINT", "S3_VERIFY_SSL", "S3_USE_HTTPS", "S3_USER_VIRTUAL_BUCKET", "S3_USE_ACCELERATE",
    "awsAnonymousCredential", "CA_BUNDLE_CONFIGMAP_NAME", "CA_BUNDLE_VOLUME_MOUNT_POINT",
    "STORAGE_CONFIG", "STORAGE_OVERRIDE_CONFIG",
    "AZ_TENANT_ID", "AZ_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_AUTHORITY_HOST",
    "AZURE_FEDERATED_TOKEN_FILE", "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT",
    "HF_ENDPOINT", "HF_HUB_ENABLE_HF_TRANSFER", "HF_HUB_DISABLE_TELEMETRY",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
})
# Credentials that the storage-initializer's clients read from their own environment (boto3 AWS_*,
# the Azure SDK AZURE_*/AZ_*, google-auth GOOGLE_*, huggingface_hub HF_*; kserve storage.py @v0.15.0
# reads them with os.getenv). Given as secretEnv, only these are meant for the download.
STORAGE_CREDENTIAL_PREFIXES = ("AWS_", "AZURE_", "AZ_", "GOOGLE_", "GCS_", "S3_", "HF_")


def is_storage_credential(name: str) -> bool:
    """Whether an environment variable is one a storage client reads for credentials or settings."""
    return name in STORAGE_ENV or name.startswith(STORAGE_CREDENTIAL_PREFIXES)


STABLE, CANARY = "stable", "canary"
# KServe's agent in logger mode, the sidecar KServe itself injects next to a model to log its
# predictions as CloudEvents (kserve/kserve cmd/agent/main.go, pkg/webhook/admission/pod/
# agent_injector.go): it listens on --port (9081), proxies to --component-port on 127.0.0.1 and
# sends each request and/or response to --log-url. v0.20.0 is the first release whose CRD has
# `metadataAnnotations`, which the agent's --metadata-annotations flag implements.
LOGGER_IMAGE = "kserve/agent:v0.20.0"
LOGGER_PORT = 9081
LOGGER_PORT_NAME = "logger"
LOGGER_CONTAINER = "logger"


@dataclass(frozen=True)
class ContainerPort:
    name: str
    port: int


@dataclass(frozen=True)
class EngineContainer:
    """What runs in a model's pods: the serving container and what it needs around it.

    `container` is a core/v1 Container without `resources`, `env` from the spec, or volume mounts
    for the model (those are added here). `ports` are exposed by the Service in this order;
    `http_port` is the name of the one an Ingress routes to; `metrics` names the Prometheus port and
    path, if the engine has one and monitoring is on. `model_dir` is where the engine reads the
    artifacts (None for image models). `run_as_user` pins a non-root user for engine images that
    would otherwise run as root. `objects` are extra objects the pods need (e.g. a ConfigMap) and
    `volumes`/`mounts` mount them.
    """

    container: Manifest
    ports: tuple[ContainerPort, ...]
    http_port: str = "http"
    metrics: tuple[str, str] | None = None  # (port name, path)
    model_dir: str | None = MODEL_DIR
    run_as_user: int | None = None
    env: tuple[tuple[str, str], ...] = ()
    objects: tuple[Manifest, ...] = ()
    volumes: tuple[Manifest, ...] = ()
    mounts: tuple[Manifest, ...] = ()
    scratch: tuple[str, ...] = ("/tmp",)


@dataclass(frozen=True)
class WorkloadOptions:
    ingress_class: str | None = None
    storage_initializer_image: str = STORAGE_INITIALIZER_IMAGE
    canary_strategy: str = "auto"  # auto | replicas | ingress
    service_type: str = "ClusterIP"
    extra_pod_annotations: tuple[tuple[str, str], ...] = field(default=())
    logger_image: str = LOGGER_IMAGE  # the inference logger sidecar's image (a mirror of KServe's agent)


EngineFactory = Callable[[str, StorageRef | None, str | None], EngineContainer]


def split_replicas(total: int, traffic: int) -> tuple[int, int]:
    """(stable, canary) pod counts for `traffic` percent to the canary, as close as whole pods allow;
    a canary with some traffic gets at least one pod and the stable track keeps at least one."""
    if traffic <= 0:
        return total, 0
    if traffic >= 100:
        return 0, total
    canary = max(1, round(total * traffic / 100))
    stable = max(1, total - canary)
    return stable, canary


def track_replicas(model: ModelIR) -> tuple[tuple[int, int], tuple[int, int]]:
    """(min, max) replicas of the stable and of the canary track for backends whose traffic split is
    exact (a mesh or a controller routes by weight, not by pod count): replicas.min/max count both
    tracks, shared in proportion to the traffic as `split_replicas` does, and each track keeps at
    least one pod so that its share always has somewhere to go."""
    traffic = model.canary.traffic if model.canary else 0
    min_stable, min_canary = split_replicas(model.min_replicas, traffic)
    max_stable, max_canary = split_replicas(model.max_replicas, traffic)
    stable_low, canary_low = max(1, min_stable), max(1, min_canary)
    return (stable_low, max(stable_low, max_stable)), (canary_low, max(canary_low, max_canary))


def effective_traffic(stable: int, canary: int) -> int:
    pods = stable + canary
    return round(100 * canary / pods) if pods else 0


def canary_strategy(model: ModelIR, options: WorkloadOptions) -> str:
    if options.canary_strategy == "auto":
        return "ingress" if model.ingress is not None else "replicas"
    return options.canary_strategy


def serve(model: ModelIR, engine_for: EngineFactory, options: WorkloadOptions) -> list[Manifest]:
    """Every object that serves `model` with the containers `engine_for(track, storage, image)` makes."""
    objects: list[Manifest] = []
    stable_engine = engine_for(STABLE, model.storage, model.image)
    strategy = canary_strategy(model, options)
    tracks: list[tuple[str, EngineContainer, int, int]] = []
    if model.canary is None:
        tracks.append((STABLE, stable_engine, model.min_replicas, model.max_replicas))
    else:
        canary_engine = engine_for(CANARY, model.canary.storage, model.canary.image)
        min_s, min_c = split_replicas(model.min_replicas, model.canary.traffic)
        max_s, max_c = split_replicas(model.max_replicas, model.canary.traffic)
        tracks.append((STABLE, stable_engine, min_s, max(min_s, max_s)))
        tracks.append((CANARY, canary_engine, min_c, max(min_c, max_c)))

    seen_objects: set[tuple[str, str]] = set()
    for track, engine, low, high in tracks:
        name = object_name(model) if track == STABLE else object_name(model, CANARY)
        for extra in engine.objects:
            key = (extra["kind"], extra["metadata"]["name"])
            if key not in seen_objects:
                seen_objects.add(key)
                objects.append(extra)
        deployment = _deployment(model, name, track, engine, low, high, options)
        if track == CANARY and model.canary is not None:
            requested = model.canary.traffic
            effective = effective_traffic(tracks[0][2], low) if strategy == "replicas" else requested
            deployment["metadata"]["annotations"] = {
                CANARY_TRAFFIC_ANNOTATION: str(requested),
                CANARY_EFFECTIVE_ANNOTATION: str(effective),
            }
        objects.append(deployment)
        if high > low:
            objects.append(_autoscaler(model, name, low, high))
        if track == STABLE and low >= 2:
            objects.append(_disruption_budget(model, name, selector_labels(model, STABLE)))

    per_track_services = model.canary is not None and strategy == "ingress"
    objects.append(_service(model, object_name(model), stable_engine,
                            selector_labels(model, STABLE if per_track_services else None), options))
    if per_track_services:
        canary_engine = tracks[1][1]
        objects.append(_service(model, object_name(model, CANARY), canary_engine,
                                selector_labels(model, CANARY), options))
    if model.ingress is not None:
        objects.append(_ingress(model, object_name(model), object_name(model), stable_engine.http_port,
                                options, {}))
        if per_track_services and model.canary is not None:
            objects.append(_ingress(
                model, object_name(model, CANARY), object_name(model, CANARY), stable_engine.http_port,
                options, {NGINX_CANARY: "true", NGINX_CANARY_WEIGHT: str(model.canary.traffic)}))
    for obj in objects:
        # The canary's own objects say so: the finishing pass gives them the canary's provenance.
        if obj["metadata"]["name"] == object_name(model, CANARY):
            obj["metadata"].setdefault("labels", {})[TRACK_LABEL] = CANARY
    return objects


def model_volume(storage: StorageRef | None, model_dir: str | None, init_image: str,
                 model: ModelIR) -> tuple[list[Manifest], list[Manifest], list[Manifest]]:
    """(volumes, init containers, engine mounts) that put the artifacts at `model_dir`.

    `pvc://claim/path` is mounted read-only, nothing copied. Other schemes are downloaded by KServe's
    storage-initializer (s3, gs, azure, https, hf) into an emptyDir before the engine starts; the
    model's secretEnv reaches it, so bucket or Hugging Face credentials work for the download.
    """
    if storage is None or model_dir is None:
        return [], [], []
    if storage.scheme == "pvc":
        mount: Manifest = {"name": "model", "mountPath": model_dir, "readOnly": True}
        if storage.pvc_subpath:
            mount["subPath"] = storage.pvc_subpath
        volume = {"name": "model", "persistentVolumeClaim": {"claimName": storage.pvc_claim, "readOnly": True}}
        return [volume], [], [mount]
    init = {
        "name": "storage-initializer",
        "image": init_image,
        "args": [storage.uri, model_dir],
        "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}, "limits": {"memory": "1Gi"}},
        "volumeMounts": [{"name": "model", "mountPath": model_dir}],
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    env = [e for e in container_env(model) if "valueFrom" in e or e["name"] in STORAGE_ENV]
    if env:
        init["env"] = env
    return ([{"name": "model", "emptyDir": {}}], [init],
            [{"name": "model", "mountPath": model_dir, "readOnly": True}])


def _deployment(model: ModelIR, name: str, track: str, engine: EngineContainer, low: int, high: int,
                options: WorkloadOptions) -> Manifest:
    container = dict(engine.container)
    container["ports"] = [{"name": p.name, "containerPort": p.port, "protocol": "TCP"} for p in engine.ports]
    env = container_env(model, engine.env)
    if env:
        container["env"] = env
    resources = container_resources(model.resources)
    if resources:
        container["resources"] = resources
    volumes, init_containers, mounts = model_volume(
        model.storage if track == STABLE else (model.canary.storage if model.canary else None),
        engine.model_dir, options.storage_initializer_image, model)
    scratch = [{"name": f"scratch-{i}", "mountPath": path} for i, path in enumerate(engine.scratch)]
    container["volumeMounts"] = [*mounts, *scratch, *engine.mounts]
    if not container["volumeMounts"]:
        del container["volumeMounts"]
    container.setdefault("terminationMessagePolicy", "FallbackToLogsOnError")
    all_volumes = [*volumes, *({"name": s["name"], "emptyDir": {}} for s in scratch), *engine.volumes]
    pod: Manifest = {"containers": [container], "enableServiceLinks": False}
    if model.inference_log is not None:
        pod["containers"].append(logger_container(model, track, engine, options.logger_image))
    if init_containers:
        pod["initContainers"] = init_containers
    if all_volumes:
        pod["volumes"] = all_volumes
    if model.service_account:
        pod["serviceAccountName"] = model.service_account
    # Model servers never call the Kubernetes API; cloud identity (IRSA, workload identity) does not
    # depend on this token.
    pod["automountServiceAccountToken"] = False
    if engine.run_as_user is not None:
        pod["securityContext"] = {"runAsUser": engine.run_as_user, "runAsGroup": engine.run_as_user,
                                  "fsGroup": engine.run_as_user}
    if model.resources.gpu:
        pod["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    annotations = dict(options.extra_pod_annotations)
    if engine.metrics is not None:
        port_name, path = engine.metrics
        port = next(p.port for p in engine.ports if p.name == port_name)
        annotations.update({"prometheus.io/scrape": "true", "prometheus.io/port": str(port),
                            "prometheus.io/path": path})
    labels = selector_labels(model, track)
    spec: Manifest = {
        "selector": {"matchLabels": labels},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
        "template": {"metadata": {"labels": dict(labels), **({"annotations": annotations} if annotations else {})},
                     "spec": pod},
    }
    if high <= low:
        spec["replicas"] = low  # fixed size; with an autoscaler the HPA owns the count
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": spec}


def _autoscaler(model: ModelIR, name: str, low: int, high: int) -> Manifest:
    metric = model.autoscaling.metric if model.autoscaling else "cpu"
    target = model.autoscaling.target if model.autoscaling else 80
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": max(low, 1),
            "maxReplicas": high,
            "metrics": [{"type": "Resource", "resource": {
                "name": metric, "target": {"type": "Utilization", "averageUtilization": target}}}],
        },
    }


def _disruption_budget(model: ModelIR, name: str, selector: dict[str, str]) -> Manifest:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector}},
    }


def _service(model: ModelIR, name: str, engine: EngineContainer, selector: dict[str, str],
             options: WorkloadOptions) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "type": options.service_type,
            "selector": selector,
            # With an inference log, HTTP goes through the logger, which forwards it to the engine.
            "ports": [{"name": p.name, "port": p.port,
                       "targetPort": LOGGER_PORT_NAME if model.inference_log is not None
                       and p.name == engine.http_port else p.name, "protocol": "TCP"}
                      for p in engine.ports],
        },
    }


def ingress_path(path: str) -> tuple[str, str, dict[str, str]]:
    """(path, pathType, annotations) that route `path` and everything below it to the engine with the
    prefix removed. Every engine serves its routes at the root (`/v2/...`, `/predictions/...`), so a
    prefix must be rewritten away: ingress-nginx does that with `rewrite-target` and a regex path
    whose second capture group is the rest (kubernetes/ingress-nginx docs/examples/rewrite/README.md
    @controller-v1.12.1), and a regex path must have pathType ImplementationSpecific (a Prefix path is
    matched literally and, with strict path validation, refused for regex characters)."""
    prefix = path.rstrip("/")
    if not prefix:
        return "/", "Prefix", {}
    escaped = re.sub(r"([\\.^$|?*+()\[\]{}])", r"\\\1", prefix)
    return (f"{escaped}(/|$)(.*)", "ImplementationSpecific",
            {NGINX_USE_REGEX: "true", NGINX_REWRITE_TARGET: "/$2"})


def _ingress(model: ModelIR, name: str, service: str, port_name: str, options: WorkloadOptions,
             annotations: dict[str, str]) -> Manifest:
    assert model.ingress is not None
    path, path_type, rewrite = ingress_path(model.ingress.path)
    annotations = {**rewrite, **annotations}
    spec: Manifest = {
        "rules": [{
            "host": model.ingress.host,
            "http": {"paths": [{
                "path": path,
                "pathType": path_type,
                "backend": {"service": {"name": service, "port": {"name": port_name}}},
            }]},
        }],
    }
    if options.ingress_class:
        spec["ingressClassName"] = options.ingress_class
    metadata: Manifest = {"name": name}
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": metadata, "spec": spec}


def tcp_probes(port: str, *, startup_seconds: int = 600) -> dict[str, Any]:
    """Probes for a server whose HTTP routes are unknown (custom images): TCP on its port."""
    return {
        "readinessProbe": {"tcpSocket": {"port": port}, "periodSeconds": 10, "failureThreshold": 3},
        "livenessProbe": {"tcpSocket": {"port": port}, "periodSeconds": 10, "failureThreshold": 6},
        "startupProbe": {"tcpSocket": {"port": port}, "periodSeconds": 10,
                         "failureThreshold": max(1, startup_seconds // 10)},
    }


def http_probes(port: str, *, live: str, ready: str, startup: str | None = None,
                startup_seconds: int = 600) -> dict[str, Any]:
    """Liveness, readiness and startup probes on an engine's HTTP health routes. The startup probe
    gives a large model `startup_seconds` to load before liveness may restart it."""
    def get(path: str) -> dict[str, Any]:
        return {"httpGet": {"path": path, "port": port}}

    return {
        "readinessProbe": {**get(ready), "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 3},
        "livenessProbe": {**get(live), "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 6},
        "startupProbe": {**get(startup or live), "periodSeconds": 10, "timeoutSeconds": 5,
                         "failureThreshold": max(1, startup_seconds // 10)},
    }


def workload_problems(model: ModelIR, strategy_option: str, option_path: Path) -> Iterator[Problem]:
    """What `serve` cannot do with a model: scale on requests (an HPA needs a metrics adapter for
    that), scale to zero, name a canary within 63 characters, split by ingress without one; and the
    warning when whole pods round a canary's traffic share."""
    yield from hpa_problems(model, "these Deployments scale with a HorizontalPodAutoscaler",
                            "use backend kserve (Knative)")
    yield from logger_problems(model)
    if model.canary is None:
        return
    limit = MAX_NAME - len("-" + CANARY)
    if len(model.name) > limit:
        yield Problem(("name",), f"with a canary the name may have at most {limit} characters "
                      f"(for '{model.name}-{CANARY}')")
    strategy = canary_strategy(model, WorkloadOptions(canary_strategy=strategy_option))
    if strategy == "ingress" and model.ingress is None:
        yield Problem((*option_path, "canaryStrategy"), "canaryStrategy 'ingress' needs an 'ingress' on the model")
    if strategy == "replicas" and model.min_replicas >= 1:
        stable, canary = split_replicas(model.min_replicas, model.canary.traffic)
        effective = effective_traffic(stable, canary)
        if effective != model.canary.traffic:
            yield Problem(("canary", "traffic"),
                          f"canary traffic {model.canary.traffic}% becomes {effective}% with whole pods "
                          f"({canary} canary of {stable + canary})",
                          "raise replicas.min, or declare an ingress for exact weights", severity=Severity.WARNING)


def bento_container(model: ModelIR, image: str, run_as_user: int | None = None) -> EngineContainer:
    """A containerized Bento (`bentoml containerize`): HTTP on `BENTOML_PORT` (3000 unless the model
    says otherwise), `/livez` and `/readyz` probes, Prometheus `/metrics` on the same port, run as
    the image's `bentoml` user (named in the image, so it is pinned here by number for runAsNonRoot)."""
    port = model.port or BENTO_PORT
    container: Manifest = {"name": "bento", "image": image, **http_probes("http", live="/livez", ready="/readyz")}
    return EngineContainer(
        container=container, ports=(ContainerPort("http", port),),
        metrics=("http", "/metrics") if model.metrics else None,
        model_dir=None, run_as_user=run_as_user or BENTO_UID, env=(("BENTOML_PORT", str(port)),),
    )


def logger_container(model: ModelIR, track: str, engine: EngineContainer, image: str = LOGGER_IMAGE) -> Manifest:
    """KServe's agent as an inference logger in front of the engine's HTTP port, configured as
    KServe's pod webhook configures it (kserve pkg/webhook/admission/pod/agent_injector.go):
    `--log-url`, `--log-mode`, the names sent as CloudEvent attributes (`--inference-service`,
    `--namespace`, `--endpoint` default|canary, `--component predictor`, `--source-uri` the pod),
    the track's provenance as `--metadata-annotations key=value` pairs (sent as the event's
    `annotations` attribute, pkg/logger/worker.go), the engine's readiness probe in
    `SERVING_READINESS_PROBE` (required by cmd/agent/main.go; numeric ports, as the agent probes
    127.0.0.1), and its own readiness probe with the `K-Network-Probe: queue` header its health
    handler answers."""
    log = model.inference_log
    assert log is not None and log.url is not None  # the backends' checks refuse a log without a sink
    ports = {p.name: p.port for p in engine.ports}
    args = [
        f"--port={LOGGER_PORT}",
        f"--component-port={ports[engine.http_port]}",
        f"--log-url={log.url}",
        f"--log-mode={log.mode}",
        "--source-uri=$(POD_NAME)",
        f"--inference-service={model.name}",
        f"--namespace={model.namespace}",
        f"--endpoint={'canary' if track == CANARY else 'default'}",
        "--component=predictor",
    ]
    provenance = logged_provenance(model, track)
    if provenance:
        args.append(f"--metadata-annotations={_csv(f'{k}={v}' for k, v in provenance.items())}")
    probe = _numeric_probe(engine.container.get("readinessProbe"), ports)
    env: list[Manifest] = [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
    env.append({"name": "SERVING_READINESS_PROBE",
                "value": json.dumps(probe, sort_keys=True, separators=(",", ":")) if probe else ""})
    return {
        "name": LOGGER_CONTAINER,
        "image": image,
        "args": args,
        "env": env,
        "ports": [{"name": LOGGER_PORT_NAME, "containerPort": LOGGER_PORT, "protocol": "TCP"}],
        "readinessProbe": {"httpGet": {"path": "/", "port": LOGGER_PORT_NAME,
                                       "httpHeaders": [{"name": "K-Network-Probe", "value": "queue"}]},
                           "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 3},
        "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}, "limits": {"memory": "1Gi"}},
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }


def _csv(values: Iterator[str] | list[str]) -> str:
    """One pflag string-slice value: the flag parses it as a CSV record, so a value holding ','
    or '"' is quoted."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(list(values))
    return out.getvalue()


def _numeric_probe(probe: Manifest | None, ports: dict[str, int]) -> Manifest | None:
    if not probe:
        return None
    out: Manifest = json.loads(json.dumps(probe))
    for handler in ("httpGet", "tcpSocket"):
        if isinstance(out.get(handler), dict) and isinstance(out[handler].get("port"), str):
            out[handler]["port"] = ports[out[handler]["port"]]
    return out


def logger_problems(model: ModelIR) -> Iterator[Problem]:
    """What the logger sidecar cannot do: log without a sink (it has no default) or sample (the
    agent logs every request it proxies: cmd/agent/main.go has no sampling flag)."""
    log = model.inference_log
    if log is None:
        return
    if log.url is None:
        yield Problem(("inferenceLog",), "the logger sidecar (KServe's agent) has no default sink: "
                      "inferenceLog needs a url", "add url: http://<sink>/")
    if log.percent != 100:
        yield Problem(("inferenceLog", "percent"), "the logger sidecar (KServe's agent) logs every "
                      "request it forwards; it cannot sample", "remove percent (100 is the only choice)")
