"""The Argo CD plugin's `generate`, run exactly as Argo CD's CMP server runs it, applied to a real
kube-apiserver with server-side dry-run.

What the CMP server does (argoproj/argo-cd cmpserver/plugin/plugin.go, v3): it unpacks the
repository into a temporary work directory, runs `generate.command` + `generate.args` with
`cmd.Dir` = the application's path inside it and `cmd.Env` = the sidecar's environment plus the
entries the repo server sent (reposerver/repository/repository.go `getPluginEnvs`: the build
environment, `KUBE_VERSION`, `KUBE_API_VERSIONS`, `ARGOCD_ENV_*`, and from
`ApplicationSourcePluginParameters.Environ` `ARGOCD_APP_PARAMETERS` plus `PARAM_*`), takes stdout
with its trailing newline trimmed and splits it into YAML documents (`kube.SplitYAMLToString`); a
non-zero exit fails the generation with stderr as the message. Discovery with `fileName` is
`filepath.Glob(appPath + "/" + fileName)`.

`KUBE_API_VERSIONS` here is the real server's discovery, spelled as Argo CD spells it
(util/argo `APIResourcesToStrings(resources, includeKinds=true)`: every `group/version` and
`group/version/Kind`), and `KUBE_VERSION` the server's own version.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from specc.cluster import Cluster, Request
from specc.fielddiff import covers, field_changes

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = yaml.safe_load((ROOT / "integrations" / "argocd" / "plugin.yaml").read_text(encoding="utf-8"))
EXAMPLES = sorted((ROOT / "examples").glob("*/serving.yaml"))
REVISION = "f913b6cbf58aa5ae5ca1f8a2b149477aebcbd9d8"


def argocd_api_versions(cluster: Cluster) -> str:
    groups = cluster.send(Request("GET", "/apis", what="discover API groups"))
    versions = ["v1", *(v["groupVersion"] for g in groups["groups"] for v in g["versions"])]
    entries: set[str] = set()
    for group_version in versions:
        entries.add(group_version)
        entries.update(f"{group_version}/{kind}" for kind in cluster.resources(group_version) or {})
    return ",".join(sorted(entries))


def build_environment(cluster: Cluster, app: str, namespace: str, path: str,
                      parameters: list[dict[str, Any]] | None = None,
                      plugin_env: dict[str, str] | None = None) -> dict[str, str]:
    """The sidecar's environment (this test's, with specc on PATH) plus what the repo server sends."""
    major, minor = cluster.version()
    sidecar = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    for name in list(sidecar):
        if name.startswith(("PARAM_", "ARGOCD_", "KUBE_", "SPECC_")) or name == "NO_COLOR":
            del sidecar[name]
    sent = {
        "ARGOCD_APP_NAME": app, "ARGOCD_APP_NAMESPACE": namespace, "ARGOCD_APP_PROJECT_NAME": "default",
        "ARGOCD_APP_REVISION": REVISION, "ARGOCD_APP_REVISION_SHORT": REVISION[:7],
        "ARGOCD_APP_REVISION_SHORT_8": REVISION[:8], "ARGOCD_APP_SOURCE_PATH": path,
        "ARGOCD_APP_SOURCE_REPO_URL": "https://git.example.com/ml/serving.git",
        "ARGOCD_APP_SOURCE_TARGET_REVISION": "main",
        "KUBE_VERSION": f"{major}.{minor}", "KUBE_API_VERSIONS": argocd_api_versions(cluster),
        "ARGOCD_APP_PARAMETERS": json.dumps(parameters),  # json.Marshal(nil) is "null"
    }
    for parameter in parameters or []:
        key = "PARAM_" + "".join(c if c.isalnum() or c == "_" else "_" for c in parameter["name"].upper())
        sent[key] = parameter["string"]
    for name, value in (plugin_env or {}).items():
        sent[f"ARGOCD_ENV_{name}"] = value
    return {**sidecar, **sent}


def checkout(example: Path, work: Path) -> tuple[Path, str]:
    """The repository as the CMP server unpacks it; returns the application's path and its relative path."""
    relative = f"examples/{example.parent.name}"
    app = work / relative
    shutil.copytree(example.parent, app)
    return app, relative


def generate(app: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [*PLUGIN["spec"]["generate"]["command"], *PLUGIN["spec"]["generate"].get("args", [])]
    return subprocess.run(command, cwd=app, env=env, capture_output=True, text=True, timeout=120, check=False)


def manifests(stdout: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(stdout.removesuffix("\n")) if d]


def apply_dry_run(cluster: Cluster, objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        resource = cluster.resource(obj["apiVersion"], obj["kind"])
        assert resource is not None, f"{obj['apiVersion']} {obj['kind']} is not served"
        stored = cluster.apply(resource, obj, dry_run=True)
        if not covers(obj, stored):
            dropped = [c.path for c in field_changes(obj, stored, shape=obj)]
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']}: the server did not keep {dropped}")


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.parent.name)
def test_generate_as_the_cmp_server_runs_it(spec: Path, cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    app, relative = checkout(spec, tmp_path)
    assert glob.glob(str(app / PLUGIN["spec"]["discover"]["fileName"])), "discovery must match"
    env = build_environment(cluster, spec.parent.name, namespace, relative)
    first, second = generate(app, env), generate(app, env)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout, "generate must give the same bytes on every refresh"
    objects = manifests(first.stdout)
    assert objects
    for obj in objects:
        assert obj["metadata"]["namespace"] == namespace  # the destination's, not metadata.namespace
    apply_dry_run(cluster, objects)


def test_backend_parameter_and_plugin_env(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    app, relative = checkout(ROOT / "examples" / "sklearn-kserve" / "serving.yaml", tmp_path)
    native = manifests(generate(app, build_environment(cluster, "fraud", namespace, relative)).stdout)
    assert "InferenceService" in {o["kind"] for o in native}
    by_parameter = generate(app, build_environment(cluster, "fraud", namespace, relative,
                                                   parameters=[{"name": "backend", "string": "kubernetes"}]))
    by_env = generate(app, build_environment(cluster, "fraud", namespace, relative,
                                             plugin_env={"SPECC_BACKEND": "kubernetes"}))
    assert by_parameter.returncode == 0, by_parameter.stderr
    assert by_parameter.stdout == by_env.stdout
    objects = manifests(by_parameter.stdout)
    assert {o["kind"] for o in objects} >= {"Deployment", "Service"}
    assert "InferenceService" not in {o["kind"] for o in objects}
    apply_dry_run(cluster, objects)


def test_a_kind_the_destination_does_not_serve_fails_the_generation(cluster: Cluster, namespace: str,
                                                                    tmp_path: Path) -> None:
    app, relative = checkout(ROOT / "examples" / "sklearn-kserve" / "serving.yaml", tmp_path)
    env = build_environment(cluster, "fraud", namespace, relative)
    env["KUBE_API_VERSIONS"] = ",".join(v for v in env["KUBE_API_VERSIONS"].split(",")
                                        if not v.startswith("serving.kserve.io/"))
    failed = generate(app, env)
    assert failed.returncode == 1 and failed.stdout == ""  # no partial manifests for Argo CD to sync
    assert "[B411]" in failed.stderr and "serving.kserve.io/v1beta1 InferenceService" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_the_plugin_configmap_is_accepted_by_the_api_server(cluster: Cluster, namespace: str) -> None:
    configmap = yaml.safe_load((ROOT / "integrations" / "argocd" / "cmp-plugin-configmap.yaml").read_text())
    configmap["metadata"]["namespace"] = namespace  # the test's namespace stands in for argocd
    resource = cluster.resource("v1", "ConfigMap")
    assert resource is not None
    stored = cluster.apply(resource, configmap, dry_run=True)
    assert stored["data"] == configmap["data"]


def test_the_same_application_compiles_for_each_destinations_version(cluster: Cluster, namespace: str,
                                                                      old_cluster: Cluster, old_namespace: str,
                                                                      tmp_path: Path) -> None:
    # One spec, two destinations (1.36 and 1.20): each generate emits the API versions its destination
    # serves, and each destination's API server accepts what it got.
    spec = ROOT / "examples" / "canary-rollout" / "serving.yaml"
    outputs = {}
    for name, server, target in (("current", cluster, namespace), ("old", old_cluster, old_namespace)):
        app, relative = checkout(spec, tmp_path / name)
        done = generate(app, build_environment(server, "canary", target, relative,
                                               parameters=[{"name": "backend", "string": "kubernetes"}]))
        assert done.returncode == 0, done.stderr
        outputs[name] = manifests(done.stdout)
        apply_dry_run(server, outputs[name])
    versions = {name: {o["apiVersion"] for o in objects if o["kind"] in ("HorizontalPodAutoscaler",
                                                                          "PodDisruptionBudget")}
                for name, objects in outputs.items()}
    assert versions["current"] == {"autoscaling/v2", "policy/v1"}
    assert versions["old"] == {"autoscaling/v2beta2", "policy/v1beta1"}
