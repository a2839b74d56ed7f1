"""The engine container of one model, exactly as the cluster would run it, from the objects specc renders.

Takes the rendered objects (`specc render` documents, or `DesiredSet` bodies) and a model name; returns
a `RenderedEngine`: image (so engine and version), the argv the container runs, its environment,
ports, probes, the Prometheus scrape target its pod's annotations name, and where its artifacts are
mounted. Pure. Must not fill in anything the objects and the upstream sources cited here do not say.

- `kubernetes` and `bentoml` (image mode) backends: the model's stable Deployment, its first container,
  the pod template's `prometheus.io/*` annotations, and the storage-initializer init container whose
  destination volume is mounted into the engine.
- `kserve`: an InferenceService is not a pod. The pod is what KServe makes of it, reproduced here from
  the upstream sources at the targeted release:
  * the runtime: the one named in `model.runtime`, else auto-selection, which for sklearn/xgboost/
    lightgbm/mlflow over protocol v2 picks `kserve-mlserver` (priority 2 against the KServe servers' 1;
    `pkg/apis/serving/v1beta1/predictor_model.go`, `config/runtimes/*.yaml`);
  * the container: the runtime's `kserve-container` (`config/runtimes/kserve-mlserver.yaml`: env
    `MLSERVER_MODEL_IMPLEMENTATION={{.Labels.modelClass}}`, `MLSERVER_HTTP_PORT=8080`,
    `MLSERVER_GRPC_PORT=9000`; image `docker.io/seldonio/mlserver:1.5.0` at v0.15
    (`config/runtimes/kustomization.yaml`, `charts/kserve-resources/values.yaml`) and `:1.7.1` at v0.20
    (kserve/kserve#4573)) merged with the predictor's model container by `MergeRuntimeContainers`
    (`pkg/utils/utils.go`: a strategic merge patch, so env merges by name and the predictor's value wins;
    args are concatenated), then `{{.Name}}`/`{{.Labels.x}}`/`{{.Annotations.x}}` placeholders filled
    from the InferenceService's metadata (`ReplacePlaceholders`);
  * the probes: the predictor's; in Standard mode a container without a readiness probe gets the raw
    reconciler's default, TCP on its first port or 8080
    (`pkg/controller/v1beta1/inferenceservice/reconcilers/deployment/deployment_reconciler.go`,
    `setDefaultPodSpec`, read at 00217d1);
  * the artifacts: the storage-initializer injector (`pkg/webhook/admission/pod/
    storage_initializer_injector.go`) downloads `storageUri` into `/mnt/models`
    (`constants.DefaultModelLocalMountPath`) and mounts it into `kserve-container`;
  * the pod's annotations: the runtime's (`prometheus.kserve.io/port: '8080'`, `prometheus.kserve.io/path:
    /metrics`), the InferenceService's and the predictor's, later ones winning (`components/predictor.go`,
    `utils.Union`); then the pod webhook `metrics_aggregate_injector.go` (`InjectMetricsAggregator`): with
    `serving.kserve.io/enable-prometheus-scraping: "true"` it sets `prometheus.io/port` to
    `DefaultPodPrometheusPort` 9091 (queue-proxy's; 9088 with metric aggregation) and `prometheus.io/path`
    to `/metrics`; without the annotation it takes the cluster default (`enablePrometheusScraping` of the
    `metricsAggregator` config, "false" as shipped) and sets nothing.

Revisions read (kserve/kserve, through the public-source index): `config/runtimes/kserve-mlserver.yaml`
at 206f917 (the same env and annotations as the reference's v0.15.0/v0.20.0 reading),
`config/runtimes/kustomization.yaml` at 94adc24 (mlserver 1.5.0), the PR that moved the image to 1.7.1
(kserve/kserve#4573, merged for 0.20), `MergeRuntimeContainers` in `pkg/utils/utils.go` (the same body in
the 0.15-era and current files), `metrics_aggregate_injector.go` at 001a68f.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from specc.testing.engines.images import EngineError

Manifest = dict[str, Any]

KSERVE_MODEL_DIR = "/mnt/models"
KSERVE_VERSIONS = ("0.15", "0.20")
KSERVE_MLSERVER_IMAGE = {"0.15": "docker.io/seldonio/mlserver:1.5.0", "0.20": "docker.io/seldonio/mlserver:1.7.1"}
KSERVE_MLSERVER_RUNTIME = "kserve-mlserver"
KSERVE_MLSERVER_FORMATS = frozenset({"sklearn", "xgboost", "lightgbm", "mlflow"})
KSERVE_RUNTIME_ANNOTATIONS = {"prometheus.kserve.io/port": "8080", "prometheus.kserve.io/path": "/metrics"}
KSERVE_SCRAPING = "serving.kserve.io/enable-prometheus-scraping"
KSERVE_AGGREGATION = "serving.kserve.io/enable-metric-aggregation"
KSERVE_POD_PROMETHEUS_PORT = "9091"  # constants.DefaultPodPrometheusPort (queue-proxy)
KSERVE_AGGREGATE_PORT = "9088"  # constants.QueueProxyAggregatePrometheusMetricsPort
# ModelSpec fields that are not core/v1 Container fields (the rest of `predictor.model` is a Container).
KSERVE_MODEL_ONLY_FIELDS = ("modelFormat", "runtime", "protocolVersion", "storageUri", "storage", "runtimeVersion")


@dataclass(frozen=True)
class Probe:
    kind: str  # startup | readiness | liveness
    port: int
    path: str | None  # None: a TCP check


@dataclass(frozen=True)
class RenderedEngine:
    """One model's engine container as the cluster would run it (see the module docstring)."""

    model: str
    origin: str  # which objects (and, for KServe, which upstream runtime) it was read from
    image: str
    name: str  # the container's name
    command: tuple[str, ...] | None  # the container's `command` (None: the image's ENTRYPOINT)
    args: tuple[str, ...] | None  # the container's `args` (None: the image's CMD)
    env: tuple[tuple[str, str | None], ...]  # None: a value from a Secret (valueFrom), never read here
    ports: tuple[tuple[str, int], ...]  # declared container ports (name, number)
    probes: tuple[Probe, ...]
    annotations: tuple[tuple[str, str], ...]  # the pod's annotations
    model_dir: str | None  # where the artifacts are mounted in the container
    storage_uri: str | None
    scratch: tuple[str, ...] = ()  # other writable mounts (emptyDir)

    def env_value(self, name: str) -> str | None:
        return dict(self.env).get(name)

    @property
    def metrics(self) -> tuple[int, str] | None:
        """(port, path) the pod's `prometheus.io/port` and `prometheus.io/path` annotations name."""
        annotations = dict(self.annotations)
        port = annotations.get("prometheus.io/port")
        if port is None:
            return None
        return int(port), annotations.get("prometheus.io/path", "/metrics")


def rendered_engine(objects: Iterable[Manifest], model: str, *, kserve_version: str = "0.20",
                    track: str = "stable") -> RenderedEngine:
    """The engine of `model` in `objects`: its Deployment's, or what KServe makes of its InferenceService.
    `track="canary"` reads the canary's: Deployment `<model>-canary`, or KServe's `spec.canary[0]` predictor
    (Standard mode on 0.20)."""
    if track not in ("stable", "canary"):
        raise EngineError(f"track {track!r}: stable or canary")
    objects = list(objects)
    mine = [o for o in objects if _model_of(o) == model]
    for obj in mine:
        if obj.get("kind") == "InferenceService" and obj["metadata"]["name"] == model:
            return _from_inference_service(obj, kserve_version, track)
    deployment = model if track == "stable" else f"{model}-canary"
    for obj in mine:
        if obj.get("kind") == "Deployment" and obj["metadata"]["name"] == deployment:
            return _from_deployment(obj, model)
    kinds = sorted({f"{o.get('kind')}/{o.get('metadata', {}).get('name')}" for o in mine})
    raise EngineError(f"model {model!r}: no Deployment {deployment!r} or InferenceService {model!r} "
                      f"(objects: {kinds})")


def load_rendered(text: str) -> list[Manifest]:
    """The objects of `specc render`'s multi-document YAML output."""
    from ruamel.yaml import YAML

    return [doc for doc in YAML(typ="safe").load_all(text) if isinstance(doc, dict)]


def _model_of(obj: Manifest) -> str | None:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    model = labels.get("specc.dev/model")
    return model if isinstance(model, str) else None


def _env(container: Manifest) -> tuple[tuple[str, str | None], ...]:
    env: list[tuple[str, str | None]] = []
    for entry in container.get("env") or []:
        if "valueFrom" in entry:
            env.append((entry["name"], None))
        else:
            env.append((entry["name"], str(entry.get("value", ""))))
    return tuple(env)


def _port_number(port: object, ports: Mapping[str, int], where: str) -> int:
    if isinstance(port, int):
        return port
    if isinstance(port, str) and port.isdigit():
        return int(port)
    if isinstance(port, str) and port in ports:
        return ports[port]
    raise EngineError(f"{where}: port {port!r} is not a port the container declares ({sorted(ports)})")


def _probes(container: Manifest, ports: Mapping[str, int]) -> tuple[Probe, ...]:
    probes = []
    for kind in ("startup", "readiness", "liveness"):
        probe = container.get(f"{kind}Probe")
        if not probe:
            continue
        where = f"container {container.get('name')!r} {kind}Probe"
        if "httpGet" in probe:
            get = probe["httpGet"]
            probes.append(Probe(kind, _port_number(get.get("port"), ports, where), get.get("path", "/")))
        elif "tcpSocket" in probe:
            probes.append(Probe(kind, _port_number(probe["tcpSocket"].get("port"), ports, where), None))
        else:
            raise EngineError(f"{where}: only httpGet and tcpSocket probes can be checked here")
    return tuple(probes)


def _from_deployment(deployment: Manifest, model: str) -> RenderedEngine:
    template = deployment["spec"]["template"]
    pod = template["spec"]
    container = pod["containers"][0]
    ports = {name: port for name, port in _ports(container) if name}
    mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts") or []}
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    model_dir: str | None = None
    storage_uri: str | None = None
    for init in pod.get("initContainers") or []:
        if init.get("name") != "storage-initializer":
            continue
        # KServe's storage-initializer takes `SRC DST`; DST is a mount of the init container whose volume
        # the engine mounts too: that mount is where the engine finds the files.
        source, destination = init["args"]
        volume = next((m["name"] for m in init.get("volumeMounts") or [] if m["mountPath"] == destination), None)
        if volume is None or volume not in mounts:
            raise EngineError(f"Deployment {model!r}: the storage-initializer writes {destination}, which is "
                              "not a volume the engine container mounts")
        model_dir, storage_uri = mounts[volume], source
    scratch = tuple(sorted(path for name, path in mounts.items()
                           if "emptyDir" in volumes.get(name, {}) and path != model_dir))
    return RenderedEngine(
        model=model, origin=f"Deployment/{deployment['metadata']['name']}", image=container["image"],
        name=container["name"], command=_tuple(container.get("command")), args=_tuple(container.get("args")),
        env=_env(container), ports=_ports(container),
        probes=_probes(container, ports),
        annotations=tuple(sorted((template["metadata"].get("annotations") or {}).items())),
        model_dir=model_dir, storage_uri=storage_uri, scratch=scratch,
    )


def _tuple(value: Sequence[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(str(v) for v in value)


def kserve_mlserver_runtime(version: str) -> Manifest:
    """The `kserve-mlserver` ClusterServingRuntime's container at a KServe release (module docstring)."""
    if version not in KSERVE_MLSERVER_IMAGE:
        raise EngineError(f"no kserve-mlserver runtime recorded for KServe {version} (known: {KSERVE_VERSIONS})")
    return {
        "name": "kserve-container",
        "image": KSERVE_MLSERVER_IMAGE[version],
        "env": [{"name": "MLSERVER_MODEL_IMPLEMENTATION", "value": "{{.Labels.modelClass}}"},
                {"name": "MLSERVER_HTTP_PORT", "value": "8080"},
                {"name": "MLSERVER_GRPC_PORT", "value": "9000"}],
    }


def merge_runtime_container(runtime: Manifest, isvc: Manifest) -> Manifest:
    """KServe's `MergeRuntimeContainers`: a strategic merge of the predictor's container over the
    runtime's (env by name, the predictor's value winning; other fields replaced), args concatenated."""
    merged = {**runtime, **{k: v for k, v in isvc.items() if k not in ("env", "args")}}
    env = [dict(e) for e in runtime.get("env") or []]
    index = {e["name"]: i for i, e in enumerate(env)}
    for entry in isvc.get("env") or []:
        if entry["name"] in index:
            env[index[entry["name"]]] = dict(entry)
        else:
            env.append(dict(entry))
    if env:
        merged["env"] = env
    args = [*(runtime.get("args") or []), *(isvc.get("args") or [])]
    if args:
        merged["args"] = args
    merged["name"] = isvc.get("name") or runtime["name"]
    return merged


_PLACEHOLDER = re.compile(r"\{\{\s*\.(?P<field>Name|Namespace|Labels\.[\w.-]+|Annotations\.[\w.-]+)\s*\}\}")


def replace_placeholders(container: Manifest, metadata: Manifest) -> Manifest:
    """KServe's `ReplacePlaceholders`: the container's Go-template fields from the InferenceService's
    metadata; a label or annotation that is absent becomes the empty string, as Go templates render it."""
    def value(match: re.Match[str]) -> str:
        field = match["field"]
        if field in ("Name", "Namespace"):
            return str(metadata.get(field.lower(), ""))
        where, _, key = field.partition(".")
        return str((metadata.get(where.lower()) or {}).get(key, ""))

    result: Manifest = json.loads(_PLACEHOLDER.sub(value, json.dumps(container)))
    return result


def _from_inference_service(isvc: Manifest, version: str, track: str = "stable") -> RenderedEngine:
    name = isvc["metadata"]["name"]
    predictor = isvc["spec"]["predictor"]
    if track == "canary":
        # A Standard-mode canary's pods are built from spec.canary[].predictor by the same code as the
        # stable ones (components/predictor.go buildPredictorResources).
        canaries = [c.get("predictor") for c in isvc["spec"].get("canary") or []]
        if not canaries or not isinstance(canaries[0], dict):
            raise EngineError(f"InferenceService {name!r} has no spec.canary predictor")
        predictor = canaries[0]
    model = predictor.get("model")
    if not isinstance(model, dict):
        containers = predictor.get("containers")
        if not containers:
            raise EngineError(f"InferenceService {name!r}: neither a `model:` nor a custom container predictor")
        return _custom_predictor(isvc, predictor, replace_placeholders(containers[0], isvc["metadata"]), track)
    runtime = model.get("runtime")
    fmt = (model.get("modelFormat") or {}).get("name")
    if runtime is None and fmt in KSERVE_MLSERVER_FORMATS and model.get("protocolVersion") == "v2":
        runtime = KSERVE_MLSERVER_RUNTIME
    if runtime != KSERVE_MLSERVER_RUNTIME:
        raise EngineError(f"InferenceService {name!r}: runtime {runtime or '(auto-selected)'} for format {fmt} "
                          f"over {model.get('protocolVersion') or 'v1'} is not one the harness can run")
    own = {k: v for k, v in model.items() if k not in KSERVE_MODEL_ONLY_FIELDS}
    container = replace_placeholders(merge_runtime_container(kserve_mlserver_runtime(version), own), isvc["metadata"])
    annotations = _kserve_pod_annotations(isvc, predictor, KSERVE_RUNTIME_ANNOTATIONS)
    ports = _ports(container)
    probes = _kserve_probes(isvc, container, dict(ports))
    storage = model.get("storageUri")
    return RenderedEngine(
        model=name, origin=f"InferenceService/{name}{' canary' if track == 'canary' else ''} + "
                           f"ClusterServingRuntime {runtime} (KServe {version})",
        image=container["image"], name=container["name"], command=_tuple(container.get("command")),
        args=_tuple(container.get("args")), env=_env(container), ports=ports,
        probes=probes, annotations=tuple(sorted(annotations.items())),
        model_dir=KSERVE_MODEL_DIR if storage else None, storage_uri=storage,
    )


def _ports(container: Manifest) -> tuple[tuple[str, int], ...]:
    """The container's ports as (name, number), an unnamed port under the name ""."""
    return tuple(sorted(((p.get("name", ""), int(p["containerPort"])) for p in container.get("ports") or []),
                        key=lambda p: p[1]))


def _kserve_pod_annotations(isvc: Manifest, predictor: Manifest, runtime: Mapping[str, str]) -> dict[str, str]:
    annotations = {**runtime, **(isvc["metadata"].get("annotations") or {}), **(predictor.get("annotations") or {})}
    scraping = annotations.setdefault(KSERVE_SCRAPING, "false")  # metricsAggregator default, as shipped
    aggregation = annotations.setdefault(KSERVE_AGGREGATION, "false")
    if scraping == "true":
        annotations["prometheus.io/port"] = (KSERVE_AGGREGATE_PORT if aggregation == "true"
                                             else KSERVE_POD_PROMETHEUS_PORT)
        annotations["prometheus.io/path"] = "/metrics"
    return annotations


def _kserve_probes(isvc: Manifest, container: Manifest, ports: Mapping[str, int]) -> tuple[Probe, ...]:
    probes = _probes(container, {name: port for name, port in ports.items() if name})
    mode = (isvc["metadata"].get("annotations") or {}).get("serving.kserve.io/deploymentMode")
    if mode in ("Standard", "RawDeployment") and not any(p.kind == "readiness" for p in probes):
        # The raw reconciler's default (deployment_reconciler.go, setDefaultPodSpec): TCP on the first
        # container port, else 8080.
        first = (container.get("ports") or [{}])[0].get("containerPort", 8080)
        probes = (*probes, Probe("readiness", int(first), None))
    return probes


def _custom_predictor(isvc: Manifest, predictor: Manifest, container: Manifest, track: str) -> RenderedEngine:
    """A custom predictor: KServe runs `containers[0]` as `kserve-container` as it is (no runtime)."""
    name = isvc["metadata"]["name"]
    ports = _ports(container)
    return RenderedEngine(
        model=name, origin=f"InferenceService/{name}{' canary' if track == 'canary' else ''} (custom container)",
        image=container["image"], name=container["name"], command=_tuple(container.get("command")),
        args=_tuple(container.get("args")), env=_env(container), ports=ports,
        probes=_kserve_probes(isvc, container, dict(ports)),
        annotations=tuple(sorted(_kserve_pod_annotations(isvc, predictor, {}).items())),
        model_dir=None, storage_uri=None,
    )
