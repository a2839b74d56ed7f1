"""Targets: where a spec's objects live. A cluster (through `specc.cluster`) or a directory (GitOps).

Takes a `DesiredSet`; `read` returns the `LiveState` that `specc.plan.make_plan` compares against.
For a cluster that is one LIST per kind in use (members found by the ApplySet label), plus a
server-side dry-run apply of only the objects that differ, so the diff shows what the server will
really store. For a directory it is the files specc wrote there (one per object). Writing is
`specc.apply` (cluster) or `DirectoryTarget.write` (directory). Must not print.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from specc import applyset
from specc.cluster import Cluster, Resource
from specc.credentials import redact
from specc.diagnostics import ClusterError, Diagnostic, PlanError, Severity, SpeccError
from specc.files import make_directory, read_regular, remove_file, write_file
from specc.manifest_yaml import dump, load_manifest
from specc.objects import MANAGED_BY_LABEL, DesiredSet, Manifest, ObjectKey, file_name
from specc.plan import LiveState, Preview, needs_preview
from specc.registry import Registry

PARENT = Resource("", "v1", "ConfigMap", "configmaps", True)
NAMESPACE = Resource("", "v1", "Namespace", "namespaces", False)
CONCURRENCY = 8


@dataclass
class ClusterRead:
    """A cluster read: the live state plus what apply needs to act on it."""

    state: LiveState
    resources: dict[str, Resource]  # group_kind -> served resource
    parent: Manifest | None
    namespace_exists: bool
    warnings: list[Diagnostic] = field(default_factory=list)


class ClusterTarget:
    def __init__(self, cluster: Cluster, namespace: str) -> None:
        self.cluster = cluster
        self.namespace = namespace

    @property
    def description(self) -> str:
        # Shown in every plan: a server URL written with credentials in the kubeconfig is not repeated.
        return redact(f"cluster {self.cluster.server} (context {self.cluster.context}), namespace {self.namespace}")

    def kube_version(self) -> tuple[int, int]:
        return self.cluster.version()

    def read(self, desired: DesiredSet, registry: Registry, *, force_conflicts: bool = False,
             preview: bool = True, preview_creates: bool = True) -> ClusterRead:
        set_id = applyset.spec_applyset_id(desired.spec_name, self.namespace)
        parent = self.cluster.get(PARENT, self.namespace, applyset.parent_name(desired.spec_name))
        check_parent(parent)
        previous_gks = applyset.parse_group_kinds(
            ((parent or {}).get("metadata", {}).get("annotations") or {}).get(applyset.GROUP_KINDS_ANNOTATION))
        resources, warnings = self.resolve_kinds(desired, registry, previous_gks)
        live = self.list_members(resources, set_id)
        namespace_exists = self.namespace_exists()
        differing = frozenset(needs_preview(desired, live))
        previews: dict[ObjectKey, Preview] = {}
        if preview and namespace_exists:
            previews = self.preview(desired, live, resources, differing, force_conflicts=force_conflicts,
                                    creates=preview_creates)
        state = LiveState(live, previews, frozenset(previous_gks), server_side=True, differing=differing)
        return ClusterRead(state, resources, parent, namespace_exists, warnings)

    def resolve_kinds(self, desired: DesiredSet, registry: Registry,
                      previous: set[str]) -> tuple[dict[str, Resource], list[Diagnostic]]:
        """The served resource for every kind the spec uses now or used before. A kind the spec
        needs that the cluster does not serve is an error naming the backend to install."""
        resources: dict[str, Resource] = {}
        missing: list[Diagnostic] = []
        unserved: set[str] = set()
        warnings: list[Diagnostic] = []
        for obj in desired:
            gk = obj.key.group_kind
            if gk in resources or gk in unserved:
                continue
            resource = self.cluster.resource(obj.api_version, obj.key.kind)
            if resource is None:
                unserved.add(gk)
                backend = registry.backends.get(obj.backend)
                product = backend.summary.split(":")[0] if backend else obj.backend
                missing.append(Diagnostic(
                    "P604", f"backend '{obj.backend}' is not installed in this cluster: {obj.api_version} "
                    f"{obj.key.kind} is not served (model {obj.model})",
                    hint=f"install {product} (its CRDs and controller), or choose another backend"))
                continue
            resources[gk] = resource
        if missing:
            raise PlanError(missing)
        for gk in sorted(previous - set(resources)):
            kind, _, group = gk.partition(".")
            resource = None
            for version in self.cluster.preferred_versions(group):
                resource = self.cluster.resource(f"{group}/{version}" if group else version, kind)
                if resource is not None:
                    break
            if resource is None:
                warnings.append(Diagnostic("P605", f"{gk} is no longer served by the cluster: objects of that "
                                           "kind from earlier applies cannot be found or pruned",
                                           severity=Severity.WARNING))
                continue
            resources[gk] = resource
        return resources, warnings

    def list_members(self, resources: Mapping[str, Resource], set_id: str) -> dict[ObjectKey, Manifest]:
        selector = f"{applyset.PART_OF_LABEL}={set_id}"
        kinds = sorted(resources.items())
        with ThreadPoolExecutor(max_workers=min(CONCURRENCY, max(1, len(kinds)))) as pool:
            pages = list(pool.map(lambda item: self.cluster.list(item[1], self.namespace, label_selector=selector),
                                  kinds))
        live: dict[ObjectKey, Manifest] = {}
        for items in pages:
            for item in items:
                live[ObjectKey.of(item)] = item
        return live

    def preview(self, desired: DesiredSet, live: Mapping[ObjectKey, Manifest], resources: Mapping[str, Resource],
                differing: frozenset[ObjectKey], *, force_conflicts: bool, creates: bool = True
                ) -> dict[ObjectKey, Preview]:
        """Dry-run apply the objects that differ from what is live (and only those; new objects only
        with `creates`)."""
        keys = {k for k in differing if creates or k in live}
        todo = [o for o in desired if o.key in keys]

        def one(obj: Any) -> tuple[ObjectKey, Preview | Diagnostic]:
            try:
                result = self.cluster.apply(resources[obj.key.group_kind], obj.body, dry_run=True,
                                            force=force_conflicts)
            except ClusterError as error:
                first = error.diagnostics[0]
                if first.code == "K506" and "immutable" in first.message:
                    return obj.key, Preview(immutable=first.message.split(": ", 1)[-1])
                if first.code == "K505":
                    return obj.key, Preview(conflict=first.message.split(": ", 1)[-1])
                return obj.key, first
            return obj.key, Preview(result=result)

        previews: dict[ObjectKey, Preview] = {}
        failures: list[Diagnostic] = []
        with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
            for key, outcome in pool.map(one, todo):
                if isinstance(outcome, Preview):
                    previews[key] = outcome
                else:
                    failures.append(outcome)
        if failures:
            raise PlanError(failures)
        return previews

    def namespace_exists(self) -> bool:
        try:
            return self.cluster.get(NAMESPACE, None, self.namespace) is not None
        except ClusterError as error:
            if error.diagnostics and error.diagnostics[0].code == "K503":
                return True  # not allowed to look: assume it exists and let the writes tell
            raise


def check_parent(parent: Manifest | None) -> None:
    """Refuse an ApplySet parent that belongs to another tool (as kubectl does)."""
    if parent is None:
        return
    annotations = (parent.get("metadata") or {}).get("annotations") or {}
    tooling = annotations.get(applyset.TOOLING_ANNOTATION, "")
    if tooling and not tooling.startswith("specc/"):
        name = (parent.get("metadata") or {}).get("name")
        raise PlanError.single("P606", f"ApplySet parent ConfigMap {name} is managed by tooling {tooling!r}, "
                               "not specc", hint="rename the spec (metadata.name) or remove that ConfigMap")


def _manifest(raw: bytes) -> Any:
    """A file's single YAML document, or None when it is not one specc can read."""
    try:
        return load_manifest(raw.decode("utf-8"))
    except Exception:  # any YAML or decoding error: a hand-broken file is not ours
        return None


def labels_of(obj: Any) -> dict[str, Any]:
    """`metadata.labels` of a manifest, {} when it is missing or not a mapping (`metadata: []`)."""
    metadata = obj.get("metadata") if isinstance(obj, dict) else None
    labels = metadata.get("labels") if isinstance(metadata, dict) else None
    return labels if isinstance(labels, dict) else {}


def rendered_by_specc(raw: bytes) -> bool:
    """Is this file an object `specc render -o` wrote (it carries specc's managed-by label)?"""
    return labels_of(_manifest(raw)).get(MANAGED_BY_LABEL) == "specc"


def member_of(set_id: str) -> Callable[[bytes], bool]:
    """Does a file hold an object of this ApplySet (the label specc puts on every object it owns)?"""
    return lambda raw: labels_of(_manifest(raw)).get(applyset.PART_OF_LABEL) == set_id


@dataclass
class DirectoryTarget:
    """A GitOps checkout: one stable YAML file per object, written and removed by `specc apply`.

    Only files carrying the spec's ApplySet label are ever replaced or removed; a file at the name
    specc would write that does not carry it stops the plan. Files are never written through a
    symlink, and FIFOs or devices in the directory are skipped without being opened for reading."""

    root: Path
    paths: dict[ObjectKey, Path] = field(default_factory=dict)
    set_id: str = ""

    @property
    def description(self) -> str:
        return f"directory {self.root}"

    def read(self, desired: DesiredSet) -> tuple[LiveState, list[Diagnostic]]:
        set_id = applyset.spec_applyset_id(desired.spec_name, desired.namespace)
        self.set_id = set_id
        live: dict[ObjectKey, Manifest] = {}
        warnings: list[Diagnostic] = []
        self.paths = {}
        try:
            exists, is_dir = self.root.exists(), self.root.is_dir()
            entries = sorted(self.root.glob("*.yaml")) if is_dir else []
        except OSError as error:
            raise PlanError.single("P607", f"{self.root}: cannot read the directory: "
                                   f"{error.strerror or type(error).__name__}") from None
        if exists and not is_dir:
            raise PlanError.single("P607", f"{self.root} is not a directory")
        foreign: set[Path] = set()
        for path in entries:
            try:
                raw = read_regular(path)
            except SpeccError as error:  # a FIFO, a device, a dangling link: never opened, never touched
                warnings.append(Diagnostic("P608", f"skipped: {error.diagnostics[0].message}",
                                           severity=Severity.WARNING))
                foreign.add(path)
                continue
            obj = _manifest(raw)
            if not isinstance(obj, dict):  # a hand-broken file is reported, never deleted
                warnings.append(Diagnostic("P608", f"{path}: not a Kubernetes object specc can read",
                                           severity=Severity.WARNING))
                foreign.add(path)
                continue
            if labels_of(obj).get(applyset.PART_OF_LABEL) != set_id:
                foreign.add(path)
                continue  # not ours: never touched
            try:
                key = ObjectKey.of(obj)
            except Exception:  # labelled as ours but without a usable kind or name
                warnings.append(Diagnostic("P608", f"{path}: carries this spec's ApplySet label but is not a "
                                           "complete Kubernetes object; left as it is", severity=Severity.WARNING))
                foreign.add(path)
                continue
            live[key] = obj
            self.paths[key] = path
        clashes = [Diagnostic("P612", f"{self.root / file_name(obj.key)} exists and does not carry this spec's "
                              f"ApplySet label, so specc will not overwrite it with {obj.key}",
                              hint="move or rename that file, or add it to the spec's set by hand")
                   for obj in desired if obj.key not in self.paths and self.root / file_name(obj.key) in foreign]
        if clashes:
            raise PlanError(clashes)
        return LiveState(live, {}, frozenset(), server_side=False), warnings

    def write(self, upserts: Sequence[tuple[ObjectKey, Manifest]], deletes: Sequence[ObjectKey]) -> None:
        make_directory(self.root)
        owned = member_of(self.set_id)
        for key, body in upserts:
            target = self.paths.get(key) or self.root / file_name(key)
            write_file(target, dump(body), owned=owned, within=self.root,
                       hint="it changed since the plan, or is not this spec's: nothing was overwritten")
        for key in deletes:
            path = self.paths.get(key) or self.root / file_name(key)
            remove_file(path, owned)
