"""Pod Security "restricted", decided by the real admission plugin of kube-apiserver 1.36.2.

The README says per backend which pods specc can make restricted. This holds each row to the
PodSecurity admission of the suite's 1.36.2 control plane (the 1.20 build predates PodSecurity): the
pods specc renders, and the pods the controllers make of them with the containers they inject, are
created with `dryRun=All` in a namespace labelled `pod-security.kubernetes.io/enforce: restricted`. The
injected containers are built as the cited upstream code builds them:

- KServe's storage-initializer: `CreateInitContainerWithConfig` (kserve pkg/utils, read at main
  2026-12; called from pkg/webhook/admission/pod/storage_initializer_injector.go): name, image, args,
  env, resources, volume mount, no securityContext;
- Seldon Core v1's executor (`createEngineContainer`, operator/controllers/seldondeployment_engine.go
  @v1.18.2): a securityContext with only runAsUser; its model initializer
  (`InjectModelInitializer`, operator/controllers/model_initializer_injector.go @v1.18.2): none.

Skipped (by the `controllers` fixture) where ../shared/kube is absent: a user's clone runs 1.20 only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import pytest

from specc.pipeline import compile_file
from specc.testing.controlplane import ControlPlane

from ..conftest import EXAMPLES, ROOT

PLACEHOLDER_IMAGE = "registry.example.com/filled-in-by-the-controller:1"


class Restricted(NamedTuple):
    """The suite's 1.36 control plane and a fresh namespace enforcing "restricted:latest"."""

    plane: ControlPlane
    namespace: str


@pytest.fixture
def plane(controllers: ControlPlane, restricted_namespace: str) -> Restricted:
    return Restricted(controllers, restricted_namespace)


def admitted(target: Restricted, name: str, pod_spec: dict[str, Any]) -> tuple[bool, str]:
    spec = dict(pod_spec)
    for key in ("initContainers", "containers"):
        if key in spec:
            spec[key] = [{"image": PLACEHOLDER_IMAGE, **c} for c in spec[key]]
    account = spec.get("serviceAccountName")
    if account:  # the ServiceAccount admission plugin refuses a pod naming an account that does not exist
        made = target.plane.request("POST", f"/api/v1/namespaces/{target.namespace}/serviceaccounts", {
            "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account}})
        assert made.status in (201, 409), made.body
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": target.namespace},
           "spec": spec}
    response = target.plane.request("POST", f"/api/v1/namespaces/{target.namespace}/pods?dryRun=All", pod)
    message = response.body.get("message", "") if isinstance(response.body, dict) else str(response.body)
    assert response.status in (201, 403), f"{name}: HTTP {response.status}: {message}"
    return response.status == 201, message


def rendered(spec: Path, backend: str | None = None) -> list[dict[str, Any]]:
    return [o.body for o in compile_file(str(spec.relative_to(ROOT)), backend=backend).desired]


def test_admission_refuses_a_pod_without_the_restricted_settings(plane: Restricted) -> None:
    ok, message = admitted(plane, "bare", {"containers": [{"name": "c"}]})
    assert not ok and 'violates PodSecurity "restricted:latest"' in message


@pytest.mark.parametrize(("example", "backend"), [
    ("sklearn-kserve", "kubernetes"), ("mlflow-mlserver", "kubernetes"), ("tensorflow-tfserving", "kubernetes"),
    ("pytorch-torchserve", "kubernetes"), ("onnx-triton", "kubernetes"), ("canary-rollout", "kubernetes"),
    ("bentoml-service", "bentoml"),
])
def test_raw_and_bento_image_pods_are_restricted(plane: Restricted, example: str, backend: str) -> None:
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


def test_kserve_pods_are_restricted_only_without_the_injected_storage_initializer(plane: Restricted) -> None:
    [isvc] = rendered(EXAMPLES / "sklearn-kserve" / "serving.yaml", "kserve")
    pod = _kserve_pod(isvc["spec"]["predictor"])
    ok, message = admitted(plane, "kserve-pvc", pod)  # pvc:// is mounted: nothing injected
    assert ok, message
    ok, message = admitted(plane, "kserve-s3", {**pod, "initContainers": [KSERVE_STORAGE_INITIALIZER]})
    assert not ok and "storage-initializer" in message and "allowPrivilegeEscalation" in message


def test_seldon_v1_pods_are_not_restricted_because_of_the_operators_containers(plane: Restricted) -> None:
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


def test_kserve_knative_pods_are_restricted_with_container_level_settings(plane: Restricted) -> None:
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
