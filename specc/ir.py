"""The serving IR: what `lower` makes of a validated spec, and what backends compile.

Takes nothing; defines immutable types. Every default is already merged and every backend already
chosen, so a backend never looks at `defaults` or at another model. Each model remembers the path of
its entry in the spec (`path`) so that a backend's complaint can point at the right line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from specc.diagnostics import Path


@dataclass(frozen=True)
class StorageRef:
    """A model artifact location. `scheme` is the URI scheme, or `azure` for Azure Blob URLs."""

    uri: str
    scheme: str

    @property
    def pvc_claim(self) -> str:
        """For `pvc://claim/sub/path`: the claim name."""
        return self.uri.removeprefix("pvc://").split("/", 1)[0]

    @property
    def pvc_subpath(self) -> str:
        """For `pvc://claim/sub/path`: `sub/path` ("" for the claim's root)."""
        rest = self.uri.removeprefix("pvc://").split("/", 1)
        return rest[1].strip("/") if len(rest) > 1 else ""


@dataclass(frozen=True)
class ResourcesIR:
    cpu: str | None = None
    memory: str | None = None
    gpu: int = 0


@dataclass(frozen=True)
class AutoscalingIR:
    metric: str
    target: int


@dataclass(frozen=True)
class SecretEnvIR:
    name: str
    secret: str
    key: str


@dataclass(frozen=True)
class ProvenanceIR:
    registry: str
    uri: str
    version: str | None = None
    run_id: str | None = None


@dataclass(frozen=True)
class RegistryRefIR:
    """A registry entry to resolve when planning: `alias` or `version` of `model` in `provider`.
    `path` is where the `registry` mapping is in the spec (diagnostics point there)."""

    provider: str
    model: str
    alias: str | None = None
    version: str | None = None
    tracking_uri: str | None = None
    path: Path = ()

    @property
    def selector(self) -> str:
        """How the spec names the version: `fraud@champion` or `fraud/3`."""
        return f"{self.model}@{self.alias}" if self.alias is not None else f"{self.model}/{self.version}"


@dataclass(frozen=True)
class CanaryIR:
    traffic: int
    storage: StorageRef | None = None
    image: str | None = None
    registry: RegistryRefIR | None = None  # until resolved, `storage` is None
    provenance: ProvenanceIR | None = None  # the canary's own; never the stable model's

    @property
    def unresolved_registry(self) -> bool:
        return self.registry is not None and self.storage is None


@dataclass(frozen=True)
class InferenceLogIR:
    """Where and what a model's predictions are logged. `url` None: the backend's own default sink
    (or, on Seldon Core 2, its Kafka pipeline). `provenance` lists the spec's field names
    (registry, uri, version, runId) to send with each logged prediction, in that order."""

    url: str | None
    mode: str = "all"  # all | request | response
    percent: int = 100
    provenance: tuple[str, ...] = ("registry", "uri", "version", "runId")


@dataclass(frozen=True)
class IngressIR:
    host: str
    path: str


@dataclass(frozen=True)
class ModelIR:
    """One model, ready for its backend."""

    name: str
    spec_name: str
    namespace: str
    backend: str
    format: str
    storage: StorageRef | None
    image: str | None
    port: int | None
    engine: str | None
    protocol: str | None
    min_replicas: int
    max_replicas: int
    autoscaling: AutoscalingIR | None
    resources: ResourcesIR
    env: tuple[tuple[str, str], ...]
    secret_env: tuple[SecretEnvIR, ...]
    service_account: str | None
    canary: CanaryIR | None
    ingress: IngressIR | None
    metrics: bool
    provenance: ProvenanceIR | None
    options: Any = field(compare=True)  # the backend's validated options (its `Options` model)
    path: Path = ()  # where the model is in the spec, e.g. ("models", 2)
    inference_log: InferenceLogIR | None = None
    registry: RegistryRefIR | None = None  # artifacts from a registry: `storage` is None until resolved

    @property
    def unresolved(self) -> bool:
        """True while a registry reference (the model's or its canary's) has not been resolved."""
        return (self.registry is not None and self.storage is None) or (
            self.canary is not None and self.canary.registry is not None and self.canary.storage is None)

    def track_provenance(self, track: str | None) -> ProvenanceIR | None:
        """The provenance of what a track serves: the canary's own for `canary` (None when it has
        none: a canary must not claim the stable model's), the model's otherwise."""
        if track == "canary":
            return self.canary.provenance if self.canary is not None else None
        return self.provenance


@dataclass(frozen=True)
class ServingIR:
    name: str
    namespace: str
    models: tuple[ModelIR, ...]
