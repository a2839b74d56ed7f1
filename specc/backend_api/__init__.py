"""How to write a specc backend.

A backend turns one model of a validated spec into Kubernetes objects. It is a plugin: a Python
package that exposes an instance of a `Backend` subclass and registers it under the entry-point group
`specc.backends`, exactly like the four built-in backends do in specc's own `pyproject.toml`::

    [project.entry-points."specc.backends"]
    mybackend = "specc_mybackend:backend"

A backend imports nothing from specc except this package (`specc.backend_api` and its `workload`
helpers). It receives a `ModelIR` (every default merged, the backend already chosen) and a `Target`
(the Kubernetes version it compiles for), and returns plain dicts, one per Kubernetes object. It does
not set namespaces, ownership labels, provenance annotations or pod security defaults, and does not
sort: specc's finishing pass does that once for every backend, using the `pod_sites` hook to find
the pods inside custom resources. It must be pure: no I/O, no clock, no randomness.

Override the small hooks you need (the spirit of sqlglot's dialects)::

    class MyBackend(Backend):
        name = "mybackend"
        summary = "My serving platform (example.com/v1 Predictor)"
        formats = frozenset({"sklearn", "onnx"})
        kinds = (CustomKind("example.com", "v1", "Predictor", "predictors"),)

        class Options(BackendOptions):        # validates `options.mybackend` of a model
            tier: Literal["gold", "silver"] = "silver"

        def check(self, model, target):      # what this backend cannot express
            if model.canary:
                yield Problem(("canary",), "mybackend cannot split traffic")

        def compile(self, model, target):    # the objects
            return [{"apiVersion": "example.com/v1", "kind": "Predictor",
                     "metadata": {"name": model.name}, "spec": {...}}]

    backend = MyBackend()

Provenance and inference logs: `track_model(model, "canary")` is the model as its canary serves it (the
canary's own provenance, or none); `provenance_annotations`, `logged_provenance` (what
`inferenceLog.provenance` sends) and `mlserver_version_env` give the shared spellings.

Hooks and what they are for:

- `check(model, target)`: yield `Problem`s for combinations the backend cannot serve (a format it
  does not know, a canary it cannot express, a name too long for the names it derives). Paths are
  relative to the model's entry in the spec, so specc reports `FILE:LINE:COL` for them.
- `compile(model, target)`: return the objects (dicts). Called only when `check` found no errors.
- `pod_sites(obj)`: where the pods of an object are described (labels, annotations, pod spec,
  containers), so the finishing pass can add ownership labels and the "restricted" pod security
  settings. The default knows core workloads (`spec.template`).
- `track(obj)`: whether an object as a whole serves the canary ("canary") rather than the stable
  model, so that its annotations carry the canary's own provenance; pods say it per `PodSite.track`.
  The default reads the `specc.dev/track` label (`TRACK_LABEL`) of the object or its pod template.
- `readiness(obj)`: is a live object of this backend's custom kinds ready? The default reads the
  `Ready` condition.
- `replace_paths(obj)`: fields the server or controller will not change in place; a change there is
  planned as replace (`-/+`).
- `artifact_layout(model)`: what the serving container expects under the model's `storageUri` (a
  set of entries such as `model-store/*.mar`, `LAYOUT_*` below); a backend migration whose new
  backend needs an entry the old one did not is warned about, because the same artifact would not
  load. None (the default) when the backend does not say.
"""

from __future__ import annotations

import abc
import dataclasses
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from specc.diagnostics import Path, Severity
from specc.ir import (
    AutoscalingIR,
    CanaryIR,
    InferenceLogIR,
    IngressIR,
    ModelIR,
    ProvenanceIR,
    ResourcesIR,
    SecretEnvIR,
    StorageRef,
)
from specc.objects import PROVENANCE_PREFIX

__all__ = [
    "CANARY_TRACK",
    "LAYOUT_MODEL_FILES",
    "LAYOUT_TF_VERSIONS",
    "LAYOUT_TORCHSERVE",
    "LAYOUT_TORCHSERVE_KSERVE",
    "LAYOUT_TRITON_MODEL",
    "LAYOUT_TRITON_REPOSITORY",
    "STABLE_TRACK",
    "TRACK_LABEL",
    "AutoscalingIR",
    "Backend",
    "BackendOptions",
    "CanaryIR",
    "CustomKind",
    "InferenceLogIR",
    "IngressIR",
    "Manifest",
    "ModelIR",
    "Path",
    "PodSite",
    "Problem",
    "ProvenanceIR",
    "Readiness",
    "ResourcesIR",
    "SecretEnvIR",
    "Severity",
    "StorageRef",
    "Target",
    "artifact_locations",
    "condition",
    "container_env",
    "container_resources",
    "hpa_problems",
    "logged_provenance",
    "mlserver_version_env",
    "object_name",
    "provenance_annotations",
    "selector_labels",
    "track_model",
]

Manifest = dict[str, Any]

# Artifact layouts (`Backend.artifact_layout`): what a serving container reads under storageUri.
LAYOUT_MODEL_FILES = frozenset({"<model files> at the top level"})
LAYOUT_TF_VERSIONS = frozenset({"<version>/saved_model.pb"})
LAYOUT_TRITON_REPOSITORY = frozenset({"<model>/config.pbtxt", "<model>/<version>/"})
LAYOUT_TRITON_MODEL = frozenset({"config.pbtxt", "<version>/"})
LAYOUT_TORCHSERVE = frozenset({"model-store/*.mar"})
LAYOUT_TORCHSERVE_KSERVE = frozenset({"model-store/*.mar", "config/config.properties"})

# Label keys that specc owns. Backends use `selector_labels` for selectors; the finishing pass adds
# the rest, so a backend never spells them.
INSTANCE_LABEL = "app.kubernetes.io/instance"
TRACK_LABEL = "specc.dev/track"
STABLE_TRACK, CANARY_TRACK = "stable", "canary"
# Spec field -> annotation key suffix (annotation keys are lowercase words joined by '-').
PROVENANCE_KEYS = {"registry": "registry", "uri": "uri", "version": "version", "runId": "run-id"}


@dataclass(frozen=True, order=True)
class Target:
    """What the objects are compiled for. `kube_version` is (major, minor) of the API server."""

    kube_version: tuple[int, int] = (1, 30)

    def at_least(self, major: int, minor: int) -> bool:
        return self.kube_version >= (major, minor)


@dataclass(frozen=True)
class Problem:
    """Something a backend cannot do with a model. `path` is relative to the model's entry."""

    path: Path
    message: str
    hint: str | None = None
    severity: Severity = Severity.ERROR


@dataclass(frozen=True)
class CustomKind:
    """A custom resource kind a backend emits: the CRD that must be served before applying it."""

    group: str
    version: str
    kind: str
    plural: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"


@dataclass
class PodSite:
    """References (not copies) into an object, where the finishing pass may write pod settings.

    `labels`/`annotations` are the pod's metadata maps (None when the kind has no such field);
    `pod_spec` is where the pod-level `securityContext` goes (None when the kind has none);
    `containers` are the container dicts (init containers included) that get a `securityContext`.
    """

    labels: dict[str, Any] | None
    annotations: dict[str, Any] | None
    pod_spec: dict[str, Any] | None
    containers: list[dict[str, Any]] = field(default_factory=list)
    track: str | None = None  # "canary" for a canary's pods: they get the canary's provenance


@dataclass(frozen=True)
class Readiness:
    """The readiness of one live object: `ready`, or a `failed` verdict, with the reason."""

    ready: bool
    message: str = ""
    failed: bool = False


class BackendOptions(BaseModel):
    """Base for a backend's `Options` model: strict, unknown keys forbidden, immutable."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, populate_by_name=False)


class Backend(abc.ABC):
    """Base class of every backend. Subclasses set the class attributes, implement `compile`, and
    override the other hooks they need."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    formats: ClassVar[frozenset[str]] = frozenset()
    kinds: ClassVar[tuple[CustomKind, ...]] = ()
    Options: ClassVar[type[BackendOptions]] = BackendOptions

    def check(self, model: ModelIR, target: Target) -> Iterable[Problem]:
        """Problems with serving `model` on this backend; none by default beyond the format."""
        return ()

    @abc.abstractmethod
    def compile(self, model: ModelIR, target: Target) -> Sequence[Manifest]:
        """The objects that serve `model` (plain dicts), for a model `check` found nothing wrong with."""

    def pod_sites(self, obj: Manifest) -> list[PodSite]:
        """Core workloads: the pod template of Deployment, StatefulSet, DaemonSet, Job."""
        if obj.get("kind") in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}:
            track = Backend.track(self, obj)
            template = obj.setdefault("spec", {}).setdefault("template", {})
            meta = template.setdefault("metadata", {})
            spec = template.setdefault("spec", {})
            containers = [*spec.get("initContainers", []), *spec.get("containers", [])]
            return [PodSite(meta.setdefault("labels", {}), meta.setdefault("annotations", {}), spec,
                            containers, track)]
        return []

    def track(self, obj: Manifest) -> str | None:
        """The track ("stable" or "canary") an object serves as a whole, which decides whose
        provenance its own annotations carry; None for both or neither. The default reads the
        `specc.dev/track` label of the object, else of a core workload's pod template."""
        own = ((obj.get("metadata") or {}).get("labels") or {}).get(TRACK_LABEL)
        template = (obj.get("spec") or {}).get("template") or {}
        track = own or ((template.get("metadata") or {}).get("labels") or {}).get(TRACK_LABEL)
        return track if isinstance(track, str) else None

    def readiness(self, obj: Manifest) -> Readiness:
        """Custom kinds: ready when the `Ready` condition is True for the current generation."""
        return condition(obj, "Ready")

    def replace_paths(self, obj: Manifest) -> Sequence[Path]:
        """Fields whose change the server refuses in place; none by default."""
        return ()

    def artifact_layout(self, model: ModelIR) -> frozenset[str] | None:
        """What the serving container reads under `model`'s storageUri; None when not known. Called
        for models of other backends too (a migration compares both), so `model.options` may belong
        to another backend."""
        return None


def hpa_problems(model: ModelIR, scaled_by: str, hint: str = "") -> Iterator[Problem]:
    """What a HorizontalPodAutoscaler cannot do: scale on requests (concurrency, rps) without a custom
    metrics adapter, or scale to zero. `scaled_by` starts the message ("Seldon Core v1 scales with a
    HorizontalPodAutoscaler"); `hint` names the way out the backend offers."""
    more = f", or {hint}" if hint else ""
    if model.autoscaling is not None and model.autoscaling.metric not in ("cpu", "memory"):
        yield Problem(("autoscaling", "metric"), f"{scaled_by}, which cannot scale on {model.autoscaling.metric} "
                      "without a custom metrics adapter", f"use cpu or memory{more}")
    if model.min_replicas == 0:
        yield Problem(("replicas", "min"), f"{scaled_by}, which cannot scale to zero",
                      f"set replicas.min to 1 or more{more}")


def artifact_locations(model: ModelIR) -> list[tuple[StorageRef, Path]]:
    """The model's artifact locations (its own and its canary's), each with its path in the spec."""
    found: list[tuple[StorageRef, Path]] = []
    if model.storage is not None:
        found.append((model.storage, ("storageUri",)))
    if model.canary is not None and model.canary.storage is not None:
        found.append((model.canary.storage, ("canary", "storageUri")))
    return found


def object_name(model: ModelIR, *suffix: str) -> str:
    """The name of an object of `model`: the model name, with suffixes joined by '-'."""
    return "-".join((model.name, *suffix))


def selector_labels(model: ModelIR, track: str | None = None) -> dict[str, str]:
    """Labels that select the pods of `model` (of one track, stable or canary, when given)."""
    labels = {INSTANCE_LABEL: f"{model.spec_name}-{model.name}"}
    if track:
        labels[TRACK_LABEL] = track
    return labels


def container_resources(resources: ResourcesIR) -> dict[str, dict[str, Any]]:
    """core/v1 ResourceRequirements. CPU is requested, not limited (CPU limits throttle and hurt
    tail latency); memory is requested and limited at the same value; GPUs are limits."""
    requests: dict[str, Any] = {}
    limits: dict[str, Any] = {}
    if resources.cpu:
        requests["cpu"] = resources.cpu
    if resources.memory:
        requests["memory"] = resources.memory
        limits["memory"] = resources.memory
    if resources.gpu:
        limits["nvidia.com/gpu"] = str(resources.gpu)  # quantities are strings once stored
    out: dict[str, dict[str, Any]] = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def container_env(model: ModelIR, extra: Iterable[tuple[str, str]] = ()) -> list[dict[str, Any]]:
    """core/v1 EnvVar list: engine settings first, then the model's env and secretEnv, sorted by
    name within each group; a model's own value wins over an engine default of the same name."""
    own = dict(model.env)
    secret_names = {s.name for s in model.secret_env}
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in sorted(extra)
                                 if k not in own and k not in secret_names]
    env += [{"name": k, "value": v} for k, v in sorted(own.items()) if k not in secret_names]
    env += [
        {"name": s.name, "valueFrom": {"secretKeyRef": {"name": s.secret, "key": s.key}}}
        for s in sorted(model.secret_env, key=lambda s: s.name)
    ]
    return env


def condition(obj: Manifest, type_: str) -> Readiness:
    """Readiness from a status condition of `type_`, checked against `observedGeneration`."""
    status = obj.get("status") or {}
    generation = (obj.get("metadata") or {}).get("generation")
    observed = status.get("observedGeneration")
    if generation is not None and observed is not None and observed < generation:
        return Readiness(False, f"waiting for the controller to observe generation {generation}")
    for cond in _conditions(status):
        if cond.get("type") == type_:
            message = cond.get("message") or cond.get("reason") or ""
            if cond.get("status") == "True":
                return Readiness(True, message)
            return Readiness(False, f"{type_}={cond.get('status')}" + (f": {message}" if message else ""))
    return Readiness(False, f"no {type_} condition yet")


def _conditions(status: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for cond in status.get("conditions") or []:
        if isinstance(cond, dict):
            yield cond


def track_model(model: ModelIR, track: str | None) -> ModelIR:
    """`model` as one track serves it: for the canary, with the canary's own provenance (or none),
    so that nothing a canary serves claims the stable model's registry version."""
    if track != CANARY_TRACK:
        return model
    return dataclasses.replace(model, provenance=model.track_provenance(CANARY_TRACK))


def provenance_annotations(provenance: ProvenanceIR | None) -> dict[str, str]:
    """The `provenance.specc.dev/*` annotations of a registry entry (the fields it has)."""
    if provenance is None:
        return {}
    values = {"registry": provenance.registry, "uri": provenance.uri, "version": provenance.version,
              "runId": provenance.run_id}
    return {PROVENANCE_PREFIX + PROVENANCE_KEYS[k]: v for k, v in values.items() if v is not None}


def logged_provenance(model: ModelIR, track: str | None = None) -> dict[str, str]:
    """The provenance annotations (key -> value) that go with each logged prediction of a track:
    those `inferenceLog.provenance` asks for, among the fields the track's provenance has."""
    if model.inference_log is None:
        return {}
    wanted = {PROVENANCE_PREFIX + PROVENANCE_KEYS[f] for f in model.inference_log.provenance}
    found = provenance_annotations(model.track_provenance(track))
    return {k: v for k, v in sorted(found.items()) if k in wanted}


def mlserver_version_env(provenance: ProvenanceIR | None) -> dict[str, str]:
    """MLServer settings that make a registry version visible to clients (MLServer 1.7.1
    `mlserver/settings.py`, measured with the real engine): `MLSERVER_MODEL_VERSION` is
    `parameters.version`, returned as `model_version` of every inference response;
    `MLSERVER_MODEL_VERSIONS` (a JSON list) is what `GET /v2/models/<name>` lists as `versions`."""
    if provenance is None or not provenance.version:
        return {}
    return {"MLSERVER_MODEL_VERSION": provenance.version,
            "MLSERVER_MODEL_VERSIONS": json.dumps([provenance.version])}
