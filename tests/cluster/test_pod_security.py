"""Pod Security "restricted", decided by the real admission plugin of kube-apiserver 1.36.2.

The README says per backend which pods specc can make restricted. This holds each row to the
PodSecurity admission of a current apiserver (../shared/kube, v1.36.2; the suite's 1.20 build predates
PodSecurity): the pods specc renders, and the pods the controllers make of them with the containers
they inject, are created with `dryRun=All` in a namespace labelled
`pod-security.kubernetes.io/enforce: restricted`. The injected containers are built as the cited
upstream code builds them:

- KServe's storage-initializer: `CreateInitContainerWithConfig` (kserve pkg/utils, read at main
  2026-12; called from pkg/webhook/admission/pod/storage_initializer_injector.go): name, image, args,
  env, resources, volume mount, no securityContext;
- Seldon Core v1's executor (`createEngineContainer`, operator/controllers/seldondeployment_engine.go
  @v1.18.2): a securityContext with only runAsUser; its model initializer
  (`InjectModelInitializer`, operator/controllers/model_initializer_injector.go @v1.18.2): none.

Skipped where ../shared/kube is absent (a user's clone).
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from specc.pipeline import compile_file
from specc.testing.controlplane import Binaries, ControlPlane, ensure_binaries

from ..conftest import EXAMPLES, ROOT

KUBE = ROOT.parent / "shared" / "kube"
NAMESPACE = "restricted"
PLACEHOLDER_IMAGE = "registry.example.com/filled-in-by-the-controller:1"


def _unpack(tmp: Path) -> Path:
    sums = dict(reversed(line.split()) for line in (KUBE / "SHA256SUMS").read_text().splitlines() if line)
    target = tmp / "kube-apiserver"
    with gzip.open(KUBE / "kube-apiserver.gz") as packed, target.open("wb") as out:
        shutil.copyfileobj(packed, out)
    assert hashlib.sha256(target.read_bytes()).hexdigest() == sums["kube-apiserver"]
    target.chmod(0o755)
    return target


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    if not (KUBE / "kube-apiserver.gz").exists():
        pytest.skip("../shared/kube (kube-apiserver 1.36.2) is not present")
    apiserver = _unpack(tmp_path_factory.mktemp("kube-1.36"))
    plane = ControlPlane(Binaries(kube_apiserver=apiserver, etcd=ensure_binaries().etcd))
    plane.start()
    try:
        response = plane.request("POST", "/api/v1/namespaces", {
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": NAMESPACE, "labels": {"pod-security.kubernetes.io/enforce": "restricted",
                                                       "pod-security.kubernetes.io/enforce-version": "latest"}}})
        assert response.status == 201, response.body
        yield plane
    finally:
        plane.stop()


def admitted(plane: ControlPlane, name: str, pod_spec: dict[str, Any]) -> tuple[bool, str]:
    spec = dict(pod_spec)
    for key in ("initContainers", "containers"):
        if key in spec:
            spec[key] = [{"image": PLACEHOLDER_IMAGE, **c} for c in spec[key]]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NAMESPACE}, "spec": spec}
    response = plane.request("POST", f"/api/v1/namespaces/{NAMESPACE}/pods?dryRun=All", pod)
    message = response.body.get("message", "") if isinstance(response.body, dict) else str(response.body)
    assert response.status in (201, 403), f"{name}: HTTP {response.status}: {message}"
    return response.status == 201, message


def rendered(spec: Path, backend: str | None = None) -> list[dict[str, Any]]:
    return [o.body for o in compile_file(str(spec.relative_to(ROOT)), backend=backend).desired]


def test_admission_refuses_a_pod_without_the_restricted_settings(plane: ControlPlane) -> None:
    ok, message = admitted(plane, "bare", {"containers": [{"name": "c"}]})
    assert not ok and 'violates PodSecurity "restricted:latest"' in message


@pytest.mark.parametrize(("example", "backend"), [
    ("sklearn-kserve", "kubernetes"), ("mlflow-mlserver", "kubernetes"), ("tensorflow-tfserving", "kubernetes"),
    ("pytorch-torchserve", "kubernetes"), ("onnx-triton", "kubernetes"), ("canary-rollout", "kubernetes"),
    ("bentoml-service", "bentoml"),
])
def test_raw_and_bento_image_pods_are_restricted(plane: ControlPlane, example: str, backend: str) -> None:
    deployments = [o for o in rendered(EXAMPLES / example / "serving.yaml", backend) if o["kind"] == "Deployment"]
    assert deployments
    for deployment in deployments:
        ok, message = admitted(plane, deployment["metadata"]["name"], deployment["spec"]["template"]["spec"])
        assert ok, f"{example}: {message}"


def _kserve_pod(predictor: dict[str, Any]) -> dict[str, Any]:
    """The predictor's pod as KServe's Standard-mode reconciler makes it: the PodSpec fields of the
    predictor and the model container (named kserve-container, the runtime filling in the image)."""
    model = {k: v for k, v in predictor["model"].items()
             if k not in ("modelFormat", "runtime", "protocolVersion", "storageUri")}
    return {"securityContext": predictor["securityContext"], "containers": [{**model, "name": "kserve-container"}]}


KSERVE_STORAGE_INITIALIZER = {
    "name": "storage-initializer", "image": "kserve/storage-initializer:v0.15.0",
    "args": ["s3://models/fraud/3", "/mnt/models"], "terminationMessagePolicy": "FallbackToLogsOnError",
    "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
}


def test_kserve_pods_are_restricted_only_without_the_injected_storage_initializer(plane: ControlPlane) -> None:
    [isvc] = rendered(EXAMPLES / "sklearn-kserve" / "serving.yaml", "kserve")
    pod = _kserve_pod(isvc["spec"]["predictor"])
    ok, message = admitted(plane, "kserve-pvc", pod)  # pvc:// is mounted: nothing injected
    assert ok, message
    ok, message = admitted(plane, "kserve-s3", {**pod, "initContainers": [KSERVE_STORAGE_INITIALIZER]})
    assert not ok and "storage-initializer" in message and "allowPrivilegeEscalation" in message


def test_seldon_v1_pods_are_not_restricted_because_of_the_operators_containers(plane: ControlPlane) -> None:
    [sdep] = rendered(EXAMPLES / "sklearn-kserve" / "serving.yaml", "seldon")
    pod = sdep["spec"]["predictors"][0]["componentSpecs"][0]["spec"]
    ok, message = admitted(plane, "seldon-specc-part", pod)
    assert ok, message  # what specc writes is compliant, and has a numeric user
    executor = {"name": "seldon-container-engine", "securityContext": {"runAsUser": 8888}}
    initializer = {"name": "fraud-detector-model-initializer", "args": ["s3://models/fraud/3", "/mnt/models"]}
    ok, message = admitted(plane, "seldon-operated", {**pod, "containers": [*pod["containers"], executor],
                                                      "initContainers": [initializer]})
    assert not ok and "seldon-container-engine" in message and "fraud-detector-model-initializer" in message


# Knative Serving's queue-proxy (pkg/reconciler/revision/resources/queue.go, queueSecurityContext, read
# at main 2026-12; older releases set only allowPrivilegeEscalation: false).
QUEUE_PROXY = {"name": "queue-proxy", "securityContext": {
    "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}}


def test_kserve_knative_pods_are_restricted_with_container_level_settings(plane: ControlPlane) -> None:
    # What specc writes in Knative mode (tests/contracts/kserve/knative-container-security): no
    # pod-level securityContext, every setting on the container; Knative adds queue-proxy.
    [knative] = rendered(ROOT / "tests/contracts/kserve/knative-container-security/serving.yaml")
    predictor = knative["spec"]["predictor"]
    assert "securityContext" not in predictor
    container = {k: v for k, v in predictor["model"].items()
                 if k not in ("modelFormat", "runtime", "protocolVersion", "storageUri")}
    ok, message = admitted(plane, "knative-pvc", {"containers": [{**container, "name": "kserve-container"},
                                                                 QUEUE_PROXY]})
    assert ok, message
