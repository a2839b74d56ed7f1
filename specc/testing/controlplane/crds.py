"""The serving CRDs a control plane installs: the upstream ones from ../shared/crds, or stand-ins.

Takes a CRD folder (or nothing) and a `Call` (one HTTP request to the apiserver as admin); returns
the installed CRD names once each is Established and served. The upstream files are sent unmodified,
except to kube-apiserver 1.20, which rejects their `default: ""` lines (`strip_empty_string_defaults`).
Must not install anything but CustomResourceDefinitions.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import yaml

from specc.testing.controlplane.api import ApiResponse, message
from specc.testing.controlplane.commands import progress
from specc.testing.controlplane.errors import ControlPlaneError
from specc.testing.controlplane.locations import ENV_SHARED_CRDS, default_crd_dir

CRD_API = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


class Call(Protocol):
    def __call__(self, method: str, path: str, body: Any = None, *, timeout: float = 30.0) -> ApiResponse: ...


class Installed(NamedTuple):
    names: list[str]
    source: str
    """"shared" or "minimal"."""



# Directories named `<family>-<version>` (kserve-0.15, kserve-0.20) hold the same CRD names in
# different versions; `seldon-core-v1`/`seldon-core-v2` are different products, not versions.
_VERSIONED_DIR = re.compile(r"^(?P<family>.+?)-(?P<version>\d+(?:\.\d+)*)$")


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def select_crd_files(crd_dir: Path, *, kserve_version: str | None = None) -> list[Path]:
    """The CRD files to install: everything, but only one version directory per family (the newest,
    or `kserve-<kserve_version>` for KServe), since the apiserver keeps one definition per name."""
    if not crd_dir.is_dir():
        raise ControlPlaneError(f"CRD directory {crd_dir} does not exist")
    families: dict[str, dict[str, Path]] = {}
    roots: list[Path] = []
    for child in sorted(crd_dir.iterdir()):
        match = _VERSIONED_DIR.match(child.name) if child.is_dir() else None
        if match:
            families.setdefault(match["family"], {})[match["version"]] = child
        else:
            roots.append(child)
    for family, versions in families.items():
        if family == "kserve" and kserve_version is not None:
            if kserve_version not in versions:
                raise ControlPlaneError(
                    f"no kserve-{kserve_version} in {crd_dir} (have: {', '.join(sorted(versions))})"
                )
            roots.append(versions[kserve_version])
        else:
            roots.append(versions[max(versions, key=_version_key)])
    if kserve_version is not None and "kserve" not in families:
        raise ControlPlaneError(f"kserve_version={kserve_version!r} given but {crd_dir} has no kserve-* dir")
    files: list[Path] = []
    for root in sorted(roots):
        if root.is_dir():
            files.extend(sorted(path for path in root.rglob("*") if path.suffix in (".yaml", ".yml")))
        elif root.suffix in (".yaml", ".yml"):
            files.append(root)
    return files


def strip_empty_string_defaults(text: str) -> str:
    """Drop every line that is exactly `default: ""`.

    kube-apiserver 1.20 rejects such CRDs (KServe, Seldon Core v2, Yatai): its CRD validation sees
    the empty-string default as null ("...properties[name].default: Invalid value: "null": in body
    must be of type string"); 1.36 accepts them, so they are sent to it unmodified. Only that
    defaulting is lost on 1.20, which specc does not rely on: it writes the fields it means.
    """
    return "".join(line for line in text.splitlines(keepends=True) if line.strip() != 'default: ""')


def _yaml_documents(text: str) -> Iterator[dict[str, Any]]:
    # The C loader when present: the KServe/Seldon CRDs are 1-2 MB each and the pure-Python loader
    # takes several seconds for them.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for doc in yaml.load_all(text, Loader=loader):
        if isinstance(doc, dict):
            yield doc


# (group, version, kind, plural, scope, short names) for the stand-ins used when no shared CRDs exist.
_MINIMAL_KINDS: tuple[tuple[str, str, str, str, str, tuple[str, ...]], ...] = (
    ("serving.kserve.io", "v1beta1", "InferenceService", "inferenceservices", "Namespaced", ("isvc",)),
    ("serving.kserve.io", "v1alpha1", "ServingRuntime", "servingruntimes", "Namespaced", ()),
    ("serving.kserve.io", "v1alpha1", "ClusterServingRuntime", "clusterservingruntimes", "Cluster", ()),
    ("machinelearning.seldon.io", "v1", "SeldonDeployment", "seldondeployments", "Namespaced", ("sdep",)),
    ("mlops.seldon.io", "v1alpha1", "Model", "models", "Namespaced", ("mlm",)),
    ("mlops.seldon.io", "v1alpha1", "Server", "servers", "Namespaced", ("mls",)),
    ("mlops.seldon.io", "v1alpha1", "Experiment", "experiments", "Namespaced", ("mlx",)),
    ("serving.yatai.ai", "v2alpha1", "BentoDeployment", "bentodeployments", "Namespaced", ()),
    ("resources.yatai.ai", "v1alpha1", "Bento", "bentoes", "Namespaced", ()),
    ("resources.yatai.ai", "v1alpha1", "BentoRequest", "bentorequests", "Namespaced", ()),
)


def minimal_crds() -> list[dict[str, Any]]:
    """Schemaless CRDs for every kind specc emits: the API accepts any spec, so only specc's own
    validation (not the upstream schema) is exercised when the shared CRDs are absent."""
    crds: list[dict[str, Any]] = []
    for group, version, kind, plural, scope, short_names in _MINIMAL_KINDS:
        names: dict[str, Any] = {"kind": kind, "listKind": f"{kind}List", "plural": plural,
                                 "singular": kind.lower()}
        if short_names:
            names["shortNames"] = list(short_names)
        crds.append({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}", "labels": {"specc.dev/minimal-crd": "true"}},
            "spec": {
                "group": group,
                "names": names,
                "scope": scope,
                "versions": [{
                    "name": version,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object",
                                                   "x-kubernetes-preserve-unknown-fields": True}},
                    "subresources": {"status": {}},
                }],
            },
        })
    return crds




class CrdRef(NamedTuple):
    name: str
    group: str
    version: str
    """The storage version: the one every CRD is sure to serve."""
    plural: str

    @classmethod
    def of(cls, crd: dict[str, Any], origin: str) -> CrdRef:
        try:
            spec = crd["spec"]
            versions = spec["versions"]
            version = next((v["name"] for v in versions if v.get("storage")), versions[0]["name"])
            return cls(str(crd["metadata"]["name"]), str(spec["group"]), str(version),
                       str(spec["names"]["plural"]))
        except (KeyError, IndexError, TypeError) as error:
            raise ControlPlaneError(f"malformed CRD in {origin}: missing {error}") from None


def install(call: Call, crd_dir: Path | None = None, *, kserve_version: str | None = None,
            minimal: bool = False, strip_empty_defaults: bool = False, timeout: float = 60.0) -> Installed:
    """Install the serving CRDs and wait until they are served.

    `crd_dir` None: `default_crd_dir()`, falling back to the minimal stand-ins when it does not
    exist. An explicit `crd_dir` (or $SPECC_SHARED_CRDS) that does not exist is an error, so a
    typo cannot silently downgrade the tests. `minimal=True` forces the stand-ins.
    `kserve_version` picks `kserve-<version>` when several are present (default: the newest).
    """
    started = time.monotonic()
    if crd_dir is None and not minimal:
        crd_dir = default_crd_dir()
        if not crd_dir.is_dir() and not os.environ.get(ENV_SHARED_CRDS):
            minimal = True
    crds: Iterator[tuple[dict[str, Any], str]]
    if minimal:
        crds = ((crd, "specc's minimal CRDs") for crd in minimal_crds())
        source = "minimal"
    else:
        assert crd_dir is not None
        crds = _shared_crds(select_crd_files(crd_dir, kserve_version=kserve_version), strip_empty_defaults)
        source = "shared"
    # One worker posts while this thread parses the next multi-megabyte file: the C YAML loader
    # holds the GIL, the HTTP wait does not, and the apiserver digests each CRD meanwhile.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="specc-crds") as pool:
        futures = [pool.submit(_create_crd, call, crd, origin) for crd, origin in crds]
        refs = [future.result() for future in futures]
    _wait_crds_served(call, refs, time.monotonic() + timeout)
    names = [ref.name for ref in refs]
    progress(f"installed {len(names)} {source} CRDs in {time.monotonic() - started:.1f}s")
    return Installed(names, source)


def _create_crd(call: Call, crd: dict[str, Any], origin: str) -> CrdRef:
    ref = CrdRef.of(crd, origin)
    # A plain create (POST), never client-side apply: that would copy the whole 1-2 MB object into
    # the last-applied annotation, which exceeds the 256 KiB annotation limit. 409: already there
    # (an earlier install call); it is left as it is.
    response = call("POST", CRD_API, crd, timeout=120)
    if response.status in (200, 201, 409):
        return ref
    raise ControlPlaneError(f"creating CRD {ref.name} from {origin}: "
                            f"HTTP {response.status}: {message(response.body)}")


def _wait_crds_served(call: Call, refs: list[CrdRef], deadline: float) -> None:
    """Wait until each CRD is Established and its storage version answers a list request.

    Polls API discovery, which lists a resource only once its CRD is Established and is cheap,
    unlike GETs of the 1-2 MB CRD objects, which would steal the apiserver's CPU from the very
    work being waited for. Each CRD is then checked once: list request, and Established=True.
    """
    pending = {ref.name: ref for ref in refs}
    while True:
        discovered: dict[str, set[str]] = {}
        for ref in list(pending.values()):
            group_version = f"{ref.group}/{ref.version}"
            if group_version not in discovered:
                discovery = call("GET", f"/apis/{group_version}").body
                resources = discovery.get("resources", []) if isinstance(discovery, dict) else []
                discovered[group_version] = {resource.get("name") for resource in resources}
            if ref.plural in discovered[group_version] and _crd_ready(call, ref):
                del pending[ref.name]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise ControlPlaneError(f"CRDs not Established and served in time: {', '.join(sorted(pending))}")
        time.sleep(0.1)


def _crd_ready(call: Call, ref: CrdRef) -> bool:
    listing = call("GET", f"/apis/{ref.group}/{ref.version}/{ref.plural}?limit=1")
    if listing.status != 200:
        return False
    crd = call("GET", f"{CRD_API}/{ref.name}").body
    conditions = (crd.get("status", {}).get("conditions") or []) if isinstance(crd, dict) else []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def _shared_crds(files: list[Path], strip_empty_defaults: bool) -> Iterator[tuple[dict[str, Any], str]]:
    for path in files:
        text = path.read_text()
        if strip_empty_defaults:
            text = strip_empty_string_defaults(text)
        for doc in _yaml_documents(text):
            # Only CRDs: the files are meant for a CRD install, nothing else belongs in the cluster.
            if doc.get("kind") == "CustomResourceDefinition":
                yield doc, str(path)
