"""specc against the real Kubernetes 1.36 controllers, with the node stand-in playing the kubelet.

Nothing here writes a Deployment's status by hand: the deployment and replicaset controllers create
ReplicaSets and pods, Pod Security admission admits or refuses them, the node stand-in
(specc.testing.node_standin, after KWOK) binds them and reports them Running/Ready or failing, and the
controllers turn that into the Deployment status specc's readiness reads. The garbage collector
finishes foreground deletions, so "deleted" means gone.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from specc import applyset
from specc.testing.controlplane import ControlPlane
from specc.testing.node_standin import NodeStandIn

from ..clirun import specc
from .kube import (
    create,
    deployment_available,
    events,
    get,
    items,
    pod_ready,
    pod_specs,
    pods,
    referenced,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[2]
SPECS = Path(__file__).parent / "specs"
EXAMPLES = sorted((ROOT / "examples").glob("*/serving.yaml"))
# The backends whose core workload is pods specc itself describes (Deployments): raw Kubernetes with
# every engine, and BentoML's image mode. KServe and Seldon emit custom resources whose pods their
# operators would create; no operator runs here, so those models are applied through the raw backend.
POD_BACKENDS = ("kubernetes", "bentoml")


def on(plane: ControlPlane, namespace: str) -> list[str]:
    return ["--kubeconfig", str(plane.kubeconfig), "--context", "admin", "--namespace", namespace]


def _with_pod_backends(example: Path, dest: Path) -> Path:
    """The example with every model on a backend that makes pods (its own where it already does)."""
    spec = yaml.safe_load(example.read_text())
    default = spec.get("backend", "kubernetes")
    for model in spec["models"]:
        backend = model.get("backend", default)
        model["backend"] = backend if backend in POD_BACKENDS else "kubernetes"
        options = model.get("options") or {}
        if options.get("bentoml", {}).get("mode") == "yatai":
            options["bentoml"]["mode"] = "image"
    dest.write_text(yaml.safe_dump(spec, sort_keys=False))
    return dest


def _prerequisites(plane: ControlPlane, namespace: str, spec: Path) -> None:
    """The service accounts and secrets the spec's pods name: a user's to create, not specc's."""
    from specc.pipeline import compile_file

    compiled = compile_file(str(spec), namespace=namespace, kube_version=plane.minor_version)
    accounts: set[str] = set()
    secrets: set[str] = set()
    for pod_spec in pod_specs(obj.body for obj in compiled.desired):
        more_accounts, more_secrets = referenced(pod_spec)
        accounts |= more_accounts
        secrets |= more_secrets
    for name in sorted(accounts):
        create(plane, f"/api/v1/namespaces/{namespace}/serviceaccounts",
               {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}})
    for name in sorted(secrets):
        create(plane, f"/api/v1/namespaces/{namespace}/secrets",
               {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": {}})


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.parent.name)
def test_every_example_gets_its_pods_admitted_under_restricted_and_ready(
        example: Path, capsys: pytest.CaptureFixture[str], controllers: ControlPlane, node: NodeStandIn,
        restricted_namespace: str, tmp_path: Path) -> None:
    namespace = restricted_namespace
    spec = _with_pod_backends(example, tmp_path / "serving.yaml")
    _prerequisites(controllers, namespace, spec)
    code, out, err = specc(capsys, "apply", str(spec), *on(controllers, namespace), "--auto-approve",
                           "--timeout", "120")
    refusals = [e.get("message", "") for e in events(controllers, namespace, "FailedCreate")]
    assert refusals == [], refusals  # e.g. 'pods "x" is forbidden: violates PodSecurity "restricted:latest"'
    assert code == 0, out + err
    deployments = items(controllers, f"/apis/apps/v1/namespaces/{namespace}/deployments")
    assert deployments, f"{example.parent.name} made no Deployment"
    live = pods(controllers, namespace)
    wanted = sum(d["spec"].get("replicas", 1) for d in deployments)
    assert len(live) == wanted and all(pod_ready(p) for p in live), [p["metadata"]["name"] for p in live]
    # Bound by the stand-in, with the IP it reported: the pods went through the whole kubelet path.
    assert all(p["spec"].get("nodeName") == node.name and p["status"].get("podIP") for p in live)


def test_a_non_restricted_pod_template_is_refused_by_pod_security(controllers: ControlPlane,
                                                                  restricted_namespace: str) -> None:
    # The negative control of the test above: the same namespace refuses a plain pod template, so an
    # empty list of FailedCreate events there means admitted, not "nothing was checked".
    namespace = restricted_namespace
    create(controllers, f"/apis/apps/v1/namespaces/{namespace}/deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "plain"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "plain"}},
                 "template": {"metadata": {"labels": {"app": "plain"}},
                              "spec": {"containers": [{"name": "c", "image": "registry.example.com/x:1"}]}}}})
    refused = wait_for("a FailedCreate event", lambda: events(controllers, namespace, "FailedCreate"))
    assert refused[0]["involvedObject"]["kind"] == "ReplicaSet"
    assert 'violates PodSecurity "restricted:latest"' in refused[0]["message"]
    assert pods(controllers, namespace) == []


def _gone(plane: ControlPlane, path: str) -> bool:
    return get(plane, path) is None


def test_prune_and_destroy_complete_and_the_applyset_parent_ends_right(
        capsys: pytest.CaptureFixture[str], controllers: ControlPlane, node: NodeStandIn, namespace: str) -> None:
    code, out, err = specc(capsys, "apply", str(SPECS / "two-models.yaml"), *on(controllers, namespace),
                           "--auto-approve", "--timeout", "120")
    assert code == 0, out + err
    apps = f"/apis/apps/v1/namespaces/{namespace}"
    parent_path = f"/api/v1/namespaces/{namespace}/configmaps/{applyset.parent_name('shop')}"
    forecaster_pods = [p["metadata"]["name"] for p in pods(controllers, namespace)
                       if p["metadata"]["name"].startswith("forecaster-")]
    assert forecaster_pods
    forecaster_sets = [r["metadata"]["name"] for r in items(controllers, f"{apps}/replicasets")
                       if r["metadata"]["name"].startswith("forecaster-")]

    # Prune: forecaster leaves the spec; its Deployment is deleted in the foreground, which only
    # completes once the garbage collector has removed its ReplicaSet and that its pods.
    code, out, err = specc(capsys, "apply", str(SPECS / "one-model.yaml"), *on(controllers, namespace),
                           "--auto-approve", "--timeout", "120")
    assert code == 0, out + err
    wait_for("the pruned Deployment, its ReplicaSets and pods to be gone", lambda: (
        _gone(controllers, f"{apps}/deployments/forecaster")
        and all(_gone(controllers, f"{apps}/replicasets/{name}") for name in forecaster_sets)
        and all(_gone(controllers, f"/api/v1/namespaces/{namespace}/pods/{name}") for name in forecaster_pods)))
    assert get(controllers, f"/api/v1/namespaces/{namespace}/services/forecaster") is None
    assert get(controllers, f"/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets/forecaster") is None
    parent = get(controllers, parent_path)
    assert parent is not None
    # Narrowed to what is left (the PodDisruptionBudget was forecaster's only), only after the prune.
    assert parent["metadata"]["annotations"][applyset.GROUP_KINDS_ANNOTATION] == \
        "Deployment.apps,HorizontalPodAutoscaler.autoscaling,Service"
    assert deployment_available(controllers, namespace, "recommender")

    code, out, err = specc(capsys, "destroy", str(SPECS / "one-model.yaml"), *on(controllers, namespace),
                           "--auto-approve")
    assert code == 0, out + err
    wait_for("every object of the spec, its ReplicaSets and pods to be gone", lambda: (
        not items(controllers, f"{apps}/deployments") and not items(controllers, f"{apps}/replicasets")
        and not pods(controllers, namespace)
        and not items(controllers, f"/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers")))
    assert [s["metadata"]["name"] for s in items(controllers, f"/api/v1/namespaces/{namespace}/services")] == []
    assert get(controllers, parent_path) is None


def test_apply_waits_for_a_real_rollout(capsys: pytest.CaptureFixture[str], controllers: ControlPlane,
                                        node: NodeStandIn, namespace: str) -> None:
    code, out, err = specc(capsys, "apply", str(SPECS / "one-model.yaml"), *on(controllers, namespace),
                           "--auto-approve", "--timeout", "120")
    assert code == 0, out + err
    assert "recommender: Deployment/recommender" in err and "1 of 1 replicas available" in err
    assert "1 ready" in out
    live = get(controllers, f"/apis/apps/v1/namespaces/{namespace}/deployments/recommender")
    assert live is not None and live["status"]["availableReplicas"] == 1
    assert all(pod_ready(p) for p in pods(controllers, namespace))


@pytest.mark.parametrize(("mode", "reason"), [
    ("never-ready", "0 of 1 updated replicas available; pod recommender-"),
    ("never-ready", "container mlserver is running but not ready (readiness probe)"),
    ("image-pull-backoff", 'container mlserver ImagePullBackOff (Back-off pulling image "'),
    ("crash-loop", "container mlserver CrashLoopBackOff (back-off 40s restarting failed container=mlserver; "
                   "last exit code 1)"),
])
def test_a_pod_that_never_becomes_ready_is_reported_by_model_object_and_message_within_the_timeout(
        mode: str, reason: str, capsys: pytest.CaptureFixture[str], controllers: ControlPlane,
        node: NodeStandIn, namespace: str) -> None:
    node.fail(mode, namespace=namespace, labels={"specc.dev/model": "recommender"})
    started = time.monotonic()
    code, out, err = specc(capsys, "apply", str(SPECS / "one-model.yaml"), *on(controllers, namespace),
                           "--auto-approve", "--timeout", "8")
    elapsed = time.monotonic() - started
    assert code == 1, out + err
    assert "model recommender: Deployment/recommender not ready after 8s" in err
    assert reason in err
    assert elapsed < 8 + 15, f"apply took {elapsed:.0f}s with --timeout 8"
    # The pod really was there and really was failing (not merely missing).
    live = pods(controllers, namespace)
    assert len(live) == 1 and not pod_ready(live[0])


# --- backend migrations ---------------------------------------------------------------------------------

ISVC = "/apis/serving.kserve.io/v1beta1/namespaces/{namespace}/inferenceservices"


def _isvc_ready(plane: ControlPlane, namespace: str, name: str) -> bool:
    live = get(plane, f"{ISVC.format(namespace=namespace)}/{name}")
    conditions = ((live or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _serving(plane: ControlPlane, namespace: str, name: str) -> bool:
    return deployment_available(plane, namespace, name) or _isvc_ready(plane, namespace, name)


class _Watch:
    """Polls in a thread whether the model has a ready server, raw Deployment or InferenceService."""

    def __init__(self, plane: ControlPlane, namespace: str, name: str) -> None:
        self.gaps: list[float] = []
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(plane, namespace, name), daemon=True)

    def _run(self, plane: ControlPlane, namespace: str, name: str) -> None:
        while not self._stop.is_set():
            if not _serving(plane, namespace, name):
                self.gaps.append(time.monotonic())
            self.samples += 1
            self._stop.wait(0.1)

    def __enter__(self) -> _Watch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _kserve_controller(plane: ControlPlane, namespace: str, name: str, delay: float, stop: threading.Event) -> None:
    """What KServe's controller reports for a Standard-mode InferenceService once its predictor
    Deployment is Available: PredictorReady copied from the Deployment's Available condition,
    IngressReady, and Ready as their living condition set (kserve/kserve
    pkg/apis/serving/v1beta1/inference_service_status.go @ v0.15.0: `conditionSet =
    apis.NewLivingConditionSet(PredictorReady, IngressReady)`, `PropagateRawStatus`; set by
    pkg/controller/v1beta1/inferenceservice/controller.go's Reconcile). The predictor Deployment
    itself is KServe's, not specc's, and no KServe runs here, so the status is written after `delay`."""
    path = f"{ISVC.format(namespace=namespace)}/{name}"
    while not stop.is_set():
        live = get(plane, path)
        if live is not None and not live["metadata"].get("deletionTimestamp"):
            stop.wait(delay)
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            conditions = [{"type": kind, "status": "True", "lastTransitionTime": now}
                          for kind in ("IngressReady", "PredictorReady", "Ready")]
            answer = plane.request("PATCH", f"{path}/status", {"status": {
                "observedGeneration": live["metadata"]["generation"], "conditions": conditions,
                "url": f"http://{name}.{namespace}.svc.cluster.local"}}, content_type="application/merge-patch+json")
            assert answer.status == 200, answer.body
            return
        stop.wait(0.2)


def _apply(capsys: pytest.CaptureFixture[str], plane: ControlPlane, namespace: str, spec: str,
           *extra: str) -> tuple[int, str, str]:
    return specc(capsys, "apply", str(SPECS / spec), *on(plane, namespace), "--auto-approve", "--timeout", "120",
                 *extra)


def test_migration_raw_to_kserve_never_leaves_the_model_unserved(
        capsys: pytest.CaptureFixture[str], controllers: ControlPlane, node: NodeStandIn, namespace: str) -> None:
    code, out, err = _apply(capsys, controllers, namespace, "one-model.yaml")
    assert code == 0, out + err
    assert deployment_available(controllers, namespace, "recommender")
    stop = threading.Event()
    kserve = threading.Thread(target=_kserve_controller, args=(controllers, namespace, "recommender", 2.0, stop))
    kserve.start()
    try:
        with _Watch(controllers, namespace, "recommender") as watch:
            code, out, err = _apply(capsys, controllers, namespace, "one-model-kserve.yaml", "--no-wait")
            # After apply: the raw Deployment, its ReplicaSet and pods gone for real (foreground deletion).
            wait_for("the raw Deployment to be gone",
                     lambda: _gone(controllers, f"/apis/apps/v1/namespaces/{namespace}/deployments/recommender"))
            wait_for("the raw pods to be gone", lambda: not pods(controllers, namespace))
    finally:
        stop.set()
        kserve.join()
    assert code == 0, out + err
    assert "moves from backend kubernetes to kserve" in out
    assert watch.samples > 10 and watch.gaps == [], f"{len(watch.gaps)} of {watch.samples} samples unserved"
    assert _isvc_ready(controllers, namespace, "recommender")


def test_migration_kserve_to_raw_waits_for_the_real_rollout(
        capsys: pytest.CaptureFixture[str], controllers: ControlPlane, node: NodeStandIn, namespace: str) -> None:
    stop = threading.Event()
    kserve = threading.Thread(target=_kserve_controller, args=(controllers, namespace, "recommender", 0.0, stop))
    kserve.start()
    try:
        code, out, err = _apply(capsys, controllers, namespace, "one-model-kserve.yaml")
    finally:
        stop.set()
        kserve.join()
    assert code == 0, out + err
    # The raw pods start failing first: the InferenceService must stay while they do.
    fault = node.fail("never-ready", namespace=namespace, labels={"specc.dev/model": "recommender"})
    recover: dict[str, Any] = {}

    def heal() -> None:
        wait_for("the raw Deployment's pod", lambda: pods(controllers, namespace))
        time.sleep(3.0)
        recover["isvc_still_there"] = get(controllers, f"{ISVC.format(namespace=namespace)}/recommender") is not None
        node.remove(fault)

    healer = threading.Thread(target=heal)
    with _Watch(controllers, namespace, "recommender") as watch:
        healer.start()
        code, out, err = _apply(capsys, controllers, namespace, "one-model.yaml", "--no-wait")
        healer.join()
        wait_for("the InferenceService to be gone",
                 lambda: _gone(controllers, f"{ISVC.format(namespace=namespace)}/recommender"))
    assert code == 0, out + err
    assert recover == {"isvc_still_there": True}
    assert watch.samples > 10 and watch.gaps == [], f"{len(watch.gaps)} of {watch.samples} samples unserved"
    assert deployment_available(controllers, namespace, "recommender")


def test_pods_the_replicaset_cannot_create_are_reported_with_the_controllers_reason(
        capsys: pytest.CaptureFixture[str], controllers: ControlPlane, node: NodeStandIn, namespace: str,
        tmp_path: Path) -> None:
    # A service account the spec names but nobody created: the ServiceAccount admission plugin refuses
    # every pod, the ReplicaSet records FailedCreate and the deployment controller copies it into the
    # Deployment's ReplicaFailure condition (kubernetes/kubernetes pkg/controller/deployment/sync.go
    # @ v1.36.2), which is what the waiting message must quote instead of "0 of 1 available".
    spec = tmp_path / "serving.yaml"
    spec.write_text((SPECS / "one-model.yaml").read_text().replace(
        "    replicas: {min: 1, max: 3}\n", "    replicas: {min: 1, max: 3}\n    serviceAccount: nobody-made-me\n"))
    code, out, err = specc(capsys, "apply", str(spec), *on(controllers, namespace), "--auto-approve",
                           "--timeout", "15")
    assert code == 1, out + err
    assert "model recommender: Deployment/recommender not ready after 15s: pods cannot be created: FailedCreate" in err
    assert 'serviceaccount "nobody-made-me" not found' in err
    assert pods(controllers, namespace) == []
