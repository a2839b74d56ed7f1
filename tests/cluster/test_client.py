"""The cluster client against a real kube-apiserver: apply, dry-run, conflicts, listing, errors, and
faults injected by a proxy in front of the real server."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from specc.cluster import Cluster, Resource, RetryPolicy
from specc.diagnostics import ClusterError
from specc.testing.controlplane import ControlPlane

from .faultproxy import Fault, fault_proxy, kubeconfig_via

CONFIGMAPS = Resource("", "v1", "ConfigMap", "configmaps", True)
DEPLOYMENTS = Resource("apps", "v1", "Deployment", "deployments", True)


def configmap(namespace: str, name: str = "cm", data: dict[str, str] | None = None,
              labels: dict[str, str] | None = None) -> dict:  # type: ignore[type-arg]
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": labels or {"app": "x"}},
            "data": data or {"k": "v"}}


def code(error: pytest.ExceptionInfo[ClusterError]) -> str:
    return error.value.diagnostics[0].code


def test_apply_creates_and_reapply_is_a_no_op(cluster: Cluster, namespace: str) -> None:
    created = cluster.apply(CONFIGMAPS, configmap(namespace))
    again = cluster.apply(CONFIGMAPS, configmap(namespace))
    assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    managers = {m["manager"] for m in again["metadata"]["managedFields"]}
    assert managers == {"specc"}


def test_dry_run_changes_nothing(cluster: Cluster, namespace: str) -> None:
    preview = cluster.apply(CONFIGMAPS, configmap(namespace), dry_run=True)
    assert preview["data"] == {"k": "v"}
    assert cluster.get(CONFIGMAPS, namespace, "cm") is None
    cluster.apply(CONFIGMAPS, configmap(namespace))
    cluster.apply(CONFIGMAPS, configmap(namespace, data={"k": "changed"}), dry_run=True)
    assert cluster.get(CONFIGMAPS, namespace, "cm")["data"] == {"k": "v"}  # type: ignore[index]


def test_conflict_with_another_field_manager_is_reported_with_the_hint(cluster: Cluster, namespace: str) -> None:
    cluster.apply(CONFIGMAPS, configmap(namespace), field_manager="someone-else")
    with pytest.raises(ClusterError) as error:
        cluster.apply(CONFIGMAPS, configmap(namespace, data={"k": "mine"}))
    assert code(error) == "K505"
    diagnostic = error.value.diagnostics[0]
    assert "someone-else" in diagnostic.message and ".data.k" in diagnostic.message
    assert "--force-conflicts" in (diagnostic.hint or "")
    forced = cluster.apply(CONFIGMAPS, configmap(namespace, data={"k": "mine"}), force=True)
    assert forced["data"] == {"k": "mine"}


def test_list_by_label_selector(cluster: Cluster, namespace: str) -> None:
    cluster.apply(CONFIGMAPS, configmap(namespace, "a", labels={"set": "one"}))
    cluster.apply(CONFIGMAPS, configmap(namespace, "b", labels={"set": "two"}))
    names = [o["metadata"]["name"] for o in cluster.list(CONFIGMAPS, namespace, label_selector="set=one")]
    assert names == ["a"]


def test_list_follows_pages(cluster: Cluster, namespace: str) -> None:
    for i in range(7):
        cluster.apply(CONFIGMAPS, configmap(namespace, f"cm{i}", labels={"set": "many"}))
    import specc.cluster as module

    original = module.Request
    try:  # force tiny pages so the continue token is exercised
        def small(*args, **kwargs):  # type: ignore[no-untyped-def]
            request = original(*args, **kwargs)
            query = tuple(("limit", "2") if k == "limit" else (k, v) for k, v in request.query)
            return original(request.method, request.path, query, request.body, request.content_type, request.what)
        module.Request = small  # type: ignore[misc,assignment]
        items = cluster.list(CONFIGMAPS, namespace, label_selector="set=many")
    finally:
        module.Request = original  # type: ignore[misc]
    assert sorted(o["metadata"]["name"] for o in items) == [f"cm{i}" for i in range(7)]


def test_restricted_user_gets_403_with_verb_and_resource(control_plane: ControlPlane, namespace: str) -> None:
    restricted = Cluster.connect(kubeconfig=str(control_plane.kubeconfig), context="restricted")
    with pytest.raises(ClusterError) as error:
        restricted.list(DEPLOYMENTS, namespace)
    assert code(error) == "K503"
    message = error.value.diagnostics[0].message
    assert "restricted" in message and "list" in message and "deployments" in message
    assert control_plane.restricted_token not in str(error.value)


def test_kind_that_is_not_served(cluster: Cluster) -> None:
    assert cluster.resources("example.invalid/v1") is None
    assert cluster.resource("apps/v1", "NoSuchKind") is None
    served = cluster.resource("serving.kserve.io/v1beta1", "InferenceService")
    assert served is not None and served.plural == "inferenceservices"


def test_bad_token_is_401_and_never_echoed(control_plane: ControlPlane, tmp_path: Path) -> None:
    config = yaml.safe_load(control_plane.kubeconfig.read_text())
    token = "not-a-real-token-0123456789"
    for user in config["users"]:
        user["user"] = {"token": token}
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    client = Cluster.connect(kubeconfig=str(path))
    with pytest.raises(ClusterError) as error:
        client.list(CONFIGMAPS, "default")
    assert code(error) == "K502"
    assert token not in str(error.value)


def test_stopped_api_server_gives_a_clear_error_within_the_timeout(tmp_path: Path) -> None:
    with ControlPlane() as other:
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(other.kubeconfig.read_text())
    slept: list[float] = []
    client = Cluster.connect(kubeconfig=str(kubeconfig),
                             policy=RetryPolicy(attempts=3, connect_timeout=1, read_timeout=1, deadline=10,
                                                sleep=slept.append))
    with pytest.raises(ClusterError) as error:
        client.version()
    assert code(error) == "K501"
    assert "cannot reach the API server" in error.value.diagnostics[0].message
    assert len(slept) == 2  # retried with backoff, then gave up


def _proxied(control_plane: ControlPlane, tmp_path: Path, url: str, policy: RetryPolicy) -> Cluster:
    return Cluster.connect(kubeconfig=str(kubeconfig_via(control_plane.kubeconfig, url, tmp_path)), policy=policy)


def test_429_is_retried_honouring_retry_after(control_plane: ControlPlane, namespace: str, tmp_path: Path) -> None:
    slept: list[float] = []
    with fault_proxy(control_plane.server) as proxy:
        proxy.faults.append(Fault(path="/configmaps", times=2, status=429, retry_after="3"))
        client = _proxied(control_plane, tmp_path, proxy.url, RetryPolicy(sleep=slept.append))
        client.apply(CONFIGMAPS, configmap(namespace))
    assert slept == [3.0, 3.0]
    assert [s for _, p, s in proxy.seen if "/configmaps" in p] == [429, 429, 201]


def test_5xx_is_retried_with_backoff_then_reported(control_plane: ControlPlane, namespace: str,
                                                    tmp_path: Path) -> None:
    slept: list[float] = []
    with fault_proxy(control_plane.server) as proxy:
        proxy.faults.append(Fault(path="/configmaps", times=2, status=503))
        client = _proxied(control_plane, tmp_path, proxy.url, RetryPolicy(sleep=slept.append))
        client.apply(CONFIGMAPS, configmap(namespace))  # two failures, then through
        assert len(slept) == 2 and slept[1] > slept[0] * 1.2  # exponential, with jitter

        proxy.faults.append(Fault(path="/configmaps", times=100, status=500))
        with pytest.raises(ClusterError) as error:
            client.apply(CONFIGMAPS, configmap(namespace, "other"))
    assert code(error) == "K508"
    assert "after 6 attempts" in error.value.diagnostics[0].message


def test_conflict_from_a_field_manager_is_never_retried(control_plane: ControlPlane, namespace: str,
                                                        tmp_path: Path, cluster: Cluster) -> None:
    cluster.apply(CONFIGMAPS, configmap(namespace), field_manager="someone-else")
    slept: list[float] = []
    with fault_proxy(control_plane.server) as proxy:
        client = _proxied(control_plane, tmp_path, proxy.url, RetryPolicy(sleep=slept.append))
        with pytest.raises(ClusterError):
            client.apply(CONFIGMAPS, configmap(namespace, data={"k": "mine"}))
    assert slept == []
    assert [s for m, _, s in proxy.seen if m == "PATCH"] == [409]


def test_a_request_that_never_answers_times_out(control_plane: ControlPlane, tmp_path: Path) -> None:
    with fault_proxy(control_plane.server) as proxy:
        proxy.faults.append(Fault(path="/version", times=2, hang_seconds=3))
        client = _proxied(control_plane, tmp_path, proxy.url,
                          RetryPolicy(attempts=2, read_timeout=0.5, deadline=5, sleep=lambda _: None))
        with pytest.raises(ClusterError) as error:
            client.version()
    assert code(error) == "K509"
    assert "timed out" in error.value.diagnostics[0].message


def test_server_stores_quantities_as_specc_spells_them(cluster: Cluster, namespace: str) -> None:
    from specc.quantity import canonical_quantity

    given = ["0.5", "1000m", "1.5", "2048Mi", "0.5Gi", "2000", "1500", "1e3", "100Mi"]
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "q", "namespace": namespace},
        "spec": {"selector": {"matchLabels": {"a": "q"}}, "template": {
            "metadata": {"labels": {"a": "q"}},
            "spec": {"containers": [{"name": f"c{i}", "image": "x", "resources": {"requests": {"memory": q}}}
                                    for i, q in enumerate(given)]}}},
    }
    stored = cluster.apply(DEPLOYMENTS, deployment, dry_run=True)
    spelled = [c["resources"]["requests"]["memory"] for c in stored["spec"]["template"]["spec"]["containers"]]
    assert spelled == [canonical_quantity(q) for q in given]
