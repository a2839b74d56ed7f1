"""Kubernetes objects as specc handles them: keys, the desired set, and the apply order.

Takes nothing; defines values and pure helpers. An object is a plain dict (the JSON a server takes);
an `ObjectKey` names it independently of its API version, so `autoscaling/v2` and `/v2beta2` of the
same HPA are one object.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

Manifest = dict[str, Any]

# Ownership vocabulary. Every object specc applies carries these.
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "specc"
NAME_LABEL = "app.kubernetes.io/name"
INSTANCE_LABEL = "app.kubernetes.io/instance"
PART_OF_LABEL = "app.kubernetes.io/part-of"
SPEC_LABEL = "specc.dev/spec"
MODEL_LABEL = "specc.dev/model"
BACKEND_ANNOTATION = "specc.dev/backend"
PROVENANCE_PREFIX = "provenance.specc.dev/"
INFERENCE_LOG_ANNOTATION = "specc.dev/inference-log"  # the sink of a model whose predictions are logged

# Apply order, by kind (unknown kinds are custom resources). Deletes run in the reverse order.
STAGES: tuple[tuple[str, frozenset[str]], ...] = (
    ("namespaces", frozenset({"Namespace"})),
    ("service accounts", frozenset({"ServiceAccount"})),
    ("config", frozenset({"ConfigMap", "Secret"})),
    ("services", frozenset({"Service"})),
    ("workloads", frozenset({"Deployment", "StatefulSet", "DaemonSet", "Job"})),
    ("custom resources", frozenset()),
    ("autoscalers", frozenset({"HorizontalPodAutoscaler", "PodDisruptionBudget"})),
    ("ingress", frozenset({"Ingress"})),
)
CUSTOM_STAGE = 5


def stage_of(kind: str) -> int:
    for rank, (_, kinds) in enumerate(STAGES):
        if kind in kinds:
            return rank
    return CUSTOM_STAGE


def split_api_version(api_version: str) -> tuple[str, str]:
    """`apps/v1` -> ("apps", "v1"); `v1` -> ("", "v1")."""
    group, _, version = api_version.rpartition("/")
    return group, version


@dataclass(frozen=True, order=True)
class ObjectKey:
    group: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, obj: Manifest) -> ObjectKey:
        meta = obj.get("metadata") or {}
        group, _ = split_api_version(str(obj.get("apiVersion", "")))
        return cls(group, str(obj.get("kind", "")), str(meta.get("namespace") or ""), str(meta.get("name", "")))

    @property
    def group_kind(self) -> str:
        """`Deployment.apps`, or `Service` for the core group: ApplySet's spelling."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def __str__(self) -> str:
        return self.display

    @property
    def display(self) -> str:
        """`Deployment/fraud`; custom kinds keep their group: `InferenceService.serving.kserve.io/x`."""
        if self.group and stage_of(self.kind) == CUSTOM_STAGE:
            return f"{self.group_kind}/{self.name}"
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class DesiredObject:
    """One object specc wants to exist. `body` must be treated as immutable."""

    key: ObjectKey
    model: str
    backend: str
    body: Manifest

    @property
    def api_version(self) -> str:
        return str(self.body["apiVersion"])


@dataclass(frozen=True)
class DesiredSet:
    """Everything a spec compiles to, sorted by model, apply stage, kind and name."""

    spec_name: str
    namespace: str
    objects: tuple[DesiredObject, ...]

    def __iter__(self) -> Iterator[DesiredObject]:
        return iter(self.objects)

    def __len__(self) -> int:
        return len(self.objects)



def file_name(key: ObjectKey) -> str:
    """A stable file name for one object: `<namespace>_<Kind.group>_<name>.yaml`."""
    return f"{key.namespace}_{key.group_kind}_{key.name}.yaml"


def sort_objects(objects: Sequence[DesiredObject]) -> tuple[DesiredObject, ...]:
    return tuple(sorted(objects, key=lambda o: (o.model, stage_of(o.key.kind), o.key.kind, o.key.name)))
