"""The guards before the first write, against the real kube-apiserver: the wrong-cluster rules
(reliability notes §3.3: contexts, the kube-system UID pin, saved plans) and the permission preflight
with the documented minimal Role (§3.4).

What the API server does, from its source (kubernetes/kubernetes, the tree kube-apiserver 1.20.2 is
built from, unchanged on master):
- `staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go` (PatchResource): a PATCH is
  authorised as `patch`, and a server-side apply that creates the object is authorised once more with
  `createAuthorizerAttributes` (Verb "create"): SSA of a new object needs both verbs;
- `staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go` (NewRequestInfo): for
  `/api/v1/namespaces/{name}` the request's namespace is `{name}`, so a Role in kube-system can grant
  `get` on the kube-system namespace object alone (examples/rbac/cluster-uid.yaml).
Both are also shown here: the minimal Role without `create`, or without `patch`, is refused by the
preflight; the kube-system Role makes a pinned apply possible for a namespaced user.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from specc import applyset
from specc.cluster import Cluster
from specc.lock import LEASE, Lock, lease_name
from specc.testing.controlplane import ControlPlane

from .test_plan_apply import CONFIGMAPS, DEPLOYMENTS, SERVICES, SPECS, names, specc

ROOT = Path(__file__).resolve().parents[2]
ROLE_FILE = ROOT / "examples" / "rbac" / "role.yaml"
UID_ROLE_FILE = ROOT / "examples" / "rbac" / "cluster-uid.yaml"
RBAC = "/apis/rbac.authorization.k8s.io/v1"


def kube_system_uid(control_plane: ControlPlane) -> str:
    response = control_plane.request("GET", "/api/v1/namespaces/kube-system")
    assert response.status == 200, response
    return str(response.body["metadata"]["uid"])


def pinned(tmp_path: Path, uid: str, spec: str = "two-models.yaml") -> Path:
    """A copy of a test spec with `metadata.cluster.uid: uid`."""
    text = (SPECS / spec).read_text()
    text = re.sub(r"(?m)^(  namespace: .*)$", rf"\1\n  cluster: {{uid: {uid}}}", text, count=1)
    path = tmp_path / f"pinned-{spec}"
    path.write_text(text)
    return path


def admin(kubeconfig: Path, namespace: str) -> list[str]:
    return ["--kubeconfig", str(kubeconfig), "--context", "admin", "-n", namespace]


def restricted(kubeconfig: Path, namespace: str) -> list[str]:
    return ["--kubeconfig", str(kubeconfig), "--context", "restricted", "-n", namespace]


def no_context(kubeconfig: Path, namespace: str) -> list[str]:
    return ["--kubeconfig", str(kubeconfig), "-n", namespace]


def assert_no_tokens(control_plane: ControlPlane, *texts: str) -> None:
    for text in texts:
        assert control_plane.admin_token not in text
        assert control_plane.restricted_token not in text


def assert_nothing_written(cluster: Cluster, namespace: str) -> None:
    assert cluster.get(LEASE, namespace, lease_name("shop")) is None
    assert cluster.get(CONFIGMAPS, namespace, applyset.parent_name("shop")) is None
    assert names(cluster, DEPLOYMENTS, namespace) == [] and names(cluster, SERVICES, namespace) == []


def grant(control_plane: ControlPlane, namespace: str, role_file: Path, *, without: str | None = None) -> None:
    """Create the Role(s) of `role_file` exactly as written (minus one verb with `without`) and bind
    them to the control plane's `restricted` user, in the file's namespace or else in `namespace`."""
    for role in yaml.safe_load_all(role_file.read_text()):
        if without is not None:
            role["rules"] = [{**rule, "verbs": [v for v in rule["verbs"] if v != without]} for rule in role["rules"]]
        where = role["metadata"].get("namespace", namespace)
        name = role["metadata"]["name"]
        response = control_plane.request("POST", f"{RBAC}/namespaces/{where}/roles", role)
        assert response.status == 201, response
        binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                   "metadata": {"name": name, "namespace": where},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                   "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "restricted"}]}
        response = control_plane.request("POST", f"{RBAC}/namespaces/{where}/rolebindings", binding)
        assert response.status == 201, response


@contextmanager
def kube_system_readable(control_plane: ControlPlane) -> Iterator[None]:
    """examples/rbac/cluster-uid.yaml granted to `restricted` for the duration (kube-system is shared)."""
    grant(control_plane, "kube-system", UID_ROLE_FILE)
    try:
        yield
    finally:
        for kind in ("rolebindings", "roles"):
            control_plane.request("DELETE", f"{RBAC}/namespaces/kube-system/{kind}/specc-cluster-uid")


def missing(err: str) -> list[str]:
    """The permissions a preflight named, in the order printed."""
    return re.findall(r"permission missing: (\S+ \S+ in namespace \S+|\S+ \S+ \(cluster-wide\))", err)


# -- the context rule -------------------------------------------------------------------------------------

def test_writes_need_a_context_when_the_kubeconfig_has_several(capsys: pytest.CaptureFixture[str],
                                                               control_plane: ControlPlane, kubeconfig: Path,
                                                               namespace: str, cluster: Cluster) -> None:
    spec = str(SPECS / "two-models.yaml")
    code, out, err = specc(capsys, "plan", spec, *no_context(kubeconfig, namespace), "--no-color")
    assert code == 0, err
    # The plan header says where it would act: server URL, context, namespace.
    assert f"cluster {control_plane.server} (context admin), namespace {namespace}" in out
    seen = [out, err]
    for command in (["apply", spec, "--auto-approve", "--no-wait"], ["destroy", spec, "--auto-approve"],
                    ["force-unlock", spec, "some-holder"]):
        code, out, err = specc(capsys, *command, *no_context(kubeconfig, namespace))
        seen += [out, err]
        assert code == 3, out + err
        assert "[K521]" in err and "the kubeconfig has 2 contexts and no --context was given" in err
        assert "current-context is 'admin'" in err and "pass --context admin" in err
        assert "nothing was written" in err
        assert_nothing_written(cluster, namespace)
    # Refused before anything else too: destroy does not touch what an explicit apply made.
    code, out, err = specc(capsys, "apply", spec, *admin(kubeconfig, namespace), "--auto-approve", "--no-wait")
    assert code == 0, out + err
    code, out, err = specc(capsys, "destroy", spec, *no_context(kubeconfig, namespace), "--auto-approve")
    assert code == 3 and "[K521]" in err
    assert names(cluster, DEPLOYMENTS, namespace) == ["forecaster", "recommender"]
    assert_no_tokens(control_plane, *seen, out, err)


def test_a_kubeconfig_with_one_context_needs_no_context_option(capsys: pytest.CaptureFixture[str],
                                                               control_plane: ControlPlane, kubeconfig: Path,
                                                               namespace: str, cluster: Cluster,
                                                               tmp_path: Path) -> None:
    config = yaml.safe_load(kubeconfig.read_text())
    config["contexts"] = [c for c in config["contexts"] if c["name"] == "admin"]
    config["users"] = [u for u in config["users"] if u["name"] == "admin"]
    single = tmp_path / "kubeconfig"
    single.write_text(yaml.safe_dump(config))
    code, out, err = specc(capsys, "apply", str(SPECS / "one-model.yaml"), *no_context(single, namespace),
                           "--auto-approve", "--no-wait")
    assert code == 0, out + err
    assert names(cluster, DEPLOYMENTS, namespace) == ["recommender"]


def test_contexts_are_counted_across_every_kubeconfig_file(capsys: pytest.CaptureFixture[str],
                                                           control_plane: ControlPlane, kubeconfig: Path,
                                                           namespace: str, cluster: Cluster, tmp_path: Path) -> None:
    config = yaml.safe_load(kubeconfig.read_text())
    files = []
    for user in ("admin", "restricted"):  # one context per file, as KUBECONFIG=a:b merges them
        part = {**config, "contexts": [c for c in config["contexts"] if c["name"] == user],
                "users": [u for u in config["users"] if u["name"] == user], "current-context": user}
        files.append(tmp_path / f"{user}.yaml")
        files[-1].write_text(yaml.safe_dump(part))
    joined = Path(":".join(str(f) for f in files))
    code, out, err = specc(capsys, "apply", str(SPECS / "one-model.yaml"), *no_context(joined, namespace),
                           "--auto-approve", "--no-wait")
    assert code == 3, out + err
    # kubectl's current-context (the first file's: client-go tools/clientcmd/loader.go merges non-map
    # values in reverse order), not the Python client's (the last file's).
    assert "the kubeconfig has 2 contexts" in err and "current-context is 'admin'" in err
    assert_nothing_written(cluster, namespace)
    code, out, err = specc(capsys, "plan", str(SPECS / "one-model.yaml"), *no_context(joined, namespace))
    assert code == 0 and "(context admin)" in out, out + err


# -- the cluster UID pin ----------------------------------------------------------------------------------

def test_a_pin_to_another_cluster_is_refused_naming_both_uids(capsys: pytest.CaptureFixture[str],
                                                              control_plane: ControlPlane, kubeconfig: Path,
                                                              namespace: str, cluster: Cluster,
                                                              tmp_path: Path) -> None:
    other, live = str(uuid.uuid4()), kube_system_uid(control_plane)
    spec = str(pinned(tmp_path, other))
    for command in (["apply", spec, "--auto-approve", "--no-wait"], ["destroy", spec, "--auto-approve"],
                    ["plan", spec], ["force-unlock", spec, "some-holder"]):
        code, out, err = specc(capsys, *command, *admin(kubeconfig, namespace))
        assert code == 3, out + err
        assert "[K522]" in err and f"pins cluster {other}" in err and f"is cluster {live}" in err
        assert_no_tokens(control_plane, out, err)
    assert_nothing_written(cluster, namespace)


def test_a_pin_to_this_cluster_stands_for_the_context(capsys: pytest.CaptureFixture[str],
                                                      control_plane: ControlPlane, kubeconfig: Path,
                                                      namespace: str, cluster: Cluster, tmp_path: Path) -> None:
    spec = str(pinned(tmp_path, kube_system_uid(control_plane)))
    code, out, err = specc(capsys, "apply", spec, *no_context(kubeconfig, namespace), "--auto-approve", "--no-wait")
    assert code == 0, out + err
    assert names(cluster, DEPLOYMENTS, namespace) == ["forecaster", "recommender"]
    code, out, err = specc(capsys, "destroy", spec, *no_context(kubeconfig, namespace), "--auto-approve")
    assert code == 0, out + err
    assert names(cluster, DEPLOYMENTS, namespace) == []


def test_a_pin_that_cannot_be_read_is_refused_until_kube_system_is_readable(
        capsys: pytest.CaptureFixture[str], control_plane: ControlPlane, kubeconfig: Path, namespace: str,
        cluster: Cluster, tmp_path: Path) -> None:
    live = kube_system_uid(control_plane)
    spec = str(pinned(tmp_path, live))
    grant(control_plane, namespace, ROLE_FILE)
    # plan only warns (it writes nothing); apply refuses, since it cannot tell which cluster this is.
    code, out, err = specc(capsys, "plan", spec, *restricted(kubeconfig, namespace))
    assert code == 0, out + err
    assert "Warning: metadata.cluster.uid pins cluster" in out and "the pin cannot be checked" in out
    saved = tmp_path / "plan.json"
    code, out, err = specc(capsys, "plan", str(SPECS / "two-models.yaml"), *restricted(kubeconfig, namespace),
                           "-o", str(saved))
    assert code == 0, out + err
    assert "cluster" not in json.loads(saved.read_text())  # a UID it could not read is not recorded
    code, out, err = specc(capsys, "apply", spec, *restricted(kubeconfig, namespace), "--auto-approve", "--no-wait")
    assert code == 3, out + err
    assert "[K523]" in err and "may not read namespace kube-system" in err and f"pins cluster {live}" in err
    assert_nothing_written(cluster, namespace)
    with kube_system_readable(control_plane):
        code, out, err = specc(capsys, "apply", spec, *restricted(kubeconfig, namespace), "--auto-approve",
                               "--no-wait")
        assert code == 0, out + err
    assert names(cluster, DEPLOYMENTS, namespace) == ["forecaster", "recommender"]
    assert_no_tokens(control_plane, out, err)


def test_a_saved_plan_applies_only_to_the_cluster_it_was_made_on(capsys: pytest.CaptureFixture[str],
                                                                 control_plane: ControlPlane, kubeconfig: Path,
                                                                 namespace: str, cluster: Cluster,
                                                                 old_control_plane: ControlPlane,
                                                                 tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    code, _, err = specc(capsys, "plan", str(SPECS / "two-models.yaml"), *admin(kubeconfig, namespace),
                         "-o", str(saved))
    assert code == 0, err
    live = kube_system_uid(control_plane)
    assert json.loads(saved.read_text())["cluster"] == {"uid": live}
    other = old_control_plane  # a second, real cluster: same context names, another kube-system
    other.create_namespace(namespace)
    code, out, err = specc(capsys, "apply", str(saved), "--kubeconfig", str(other.kubeconfig),
                           "--context", "admin", "--no-wait")
    assert code == 3, out + err
    assert "[K524]" in err and f"made on cluster {live}" in err and f"is cluster {kube_system_uid(other)}" in err
    client = Cluster.connect(kubeconfig=str(other.kubeconfig))
    assert_nothing_written(client, namespace)
    client.close()
    # On its own cluster the recorded UID stands for --context, like a pin.
    code, out, err = specc(capsys, "apply", str(saved), "--kubeconfig", str(kubeconfig), "--no-wait")
    assert code == 0, out + err
    assert names(cluster, DEPLOYMENTS, namespace) == ["forecaster", "recommender"]


# -- the permission preflight -----------------------------------------------------------------------------

def test_a_user_without_rights_gets_every_missing_permission_at_once(capsys: pytest.CaptureFixture[str],
                                                                     control_plane: ControlPlane,
                                                                     kubeconfig: Path, namespace: str,
                                                                     cluster: Cluster) -> None:
    code, out, err = specc(capsys, "apply", str(SPECS / "two-models.yaml"), *restricted(kubeconfig, namespace),
                           "--auto-approve", "--no-wait")
    assert code == 1, out + err
    named = missing(err)
    for need in ("get apps/deployments", "list apps/deployments", "patch apps/deployments",
                 "create apps/deployments", "create core/services", "patch autoscaling/horizontalpodautoscalers",
                 "get core/configmaps", "create core/configmaps", "create coordination.k8s.io/leases",
                 "update coordination.k8s.io/leases", "delete coordination.k8s.io/leases"):
        assert f"{need} in namespace {namespace}" in named, err
    assert len(named) == len(set(named))
    assert "[K525]" in err and "nothing was written" in err and "context 'restricted'" in err
    assert_nothing_written(cluster, namespace)
    assert_no_tokens(control_plane, out, err)


def test_the_readme_shows_the_role_file_verbatim() -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- rbac-role: examples/rbac/role.yaml -->\n```yaml\n(.*?)```", readme, re.S)
    assert block is not None, "README must include examples/rbac/role.yaml after its marker"
    assert block.group(1) == ROLE_FILE.read_text()
    block = re.search(r"<!-- rbac-role: examples/rbac/cluster-uid.yaml -->\n```yaml\n(.*?)```", readme, re.S)
    assert block is not None and block.group(1) == UID_ROLE_FILE.read_text()


def test_the_documented_minimal_role_is_enough_end_to_end(capsys: pytest.CaptureFixture[str],
                                                         control_plane: ControlPlane, kubeconfig: Path,
                                                         namespace: str, cluster: Cluster) -> None:
    grant(control_plane, namespace, ROLE_FILE)
    seen: list[str] = []

    def run(*args: str) -> tuple[int, str]:
        code, out, err = specc(capsys, *args, *restricted(kubeconfig, namespace))
        seen.extend((out, err))
        return code, out + err

    code, text = run("apply", str(SPECS / "two-models.yaml"), "--auto-approve", "--no-wait")  # create
    assert code == 0, text
    assert names(cluster, DEPLOYMENTS, namespace) == ["forecaster", "recommender"]
    code, text = run("plan", str(SPECS / "two-models.yaml"), "--detailed-exitcode")
    assert code == 0 and "No changes." in text, text
    code, text = run("apply", str(SPECS / "two-models-edited.yaml"), "--auto-approve", "--no-wait")  # patch
    assert code == 0 and "updated" in text, text
    code, text = run("apply", str(SPECS / "one-model.yaml"), "--auto-approve", "--no-wait")  # prune
    assert code == 0 and "deleted" in text, text
    assert names(cluster, DEPLOYMENTS, namespace) == ["recommender"]
    code, text = run("destroy", str(SPECS / "one-model.yaml"), "--auto-approve")
    assert code == 0, text
    assert names(cluster, DEPLOYMENTS, namespace) == [] and names(cluster, SERVICES, namespace) == []
    assert cluster.get(CONFIGMAPS, namespace, applyset.parent_name("shop")) is None
    # force-unlock of a lock left behind, with the same Role.
    lock = Lock(cluster, namespace, "shop")
    lock.acquire()
    lock._stop.set()  # a holder that died: it no longer renews, its lease stays
    code, text = run("force-unlock", str(SPECS / "one-model.yaml"), lock.holder)
    assert code == 0, text
    assert cluster.get(LEASE, namespace, lease_name("shop")) is None
    assert_no_tokens(control_plane, *seen)


@pytest.mark.parametrize(("verb", "expected"), [
    ("create", ["create apps/deployments", "create core/services", "create core/configmaps",
                "create coordination.k8s.io/leases", "create autoscaling/horizontalpodautoscalers",
                "create policy/poddisruptionbudgets"]),
    ("patch", ["patch apps/deployments", "patch core/services", "patch core/configmaps",
               "patch autoscaling/horizontalpodautoscalers", "patch policy/poddisruptionbudgets"]),
    ("update", ["update coordination.k8s.io/leases"]),
    ("list", ["list apps/deployments", "list core/services", "list core/configmaps",
              "list autoscaling/horizontalpodautoscalers", "list policy/poddisruptionbudgets"]),
])
def test_the_minimal_role_without_one_verb_is_refused_naming_it(capsys: pytest.CaptureFixture[str],
                                                               control_plane: ControlPlane, kubeconfig: Path,
                                                               namespace: str, cluster: Cluster, verb: str,
                                                               expected: list[str]) -> None:
    grant(control_plane, namespace, ROLE_FILE, without=verb)
    code, out, err = specc(capsys, "apply", str(SPECS / "two-models.yaml"), *restricted(kubeconfig, namespace),
                           "--auto-approve", "--no-wait")
    assert code == 1, out + err
    named = missing(err)
    assert sorted(named) == sorted(f"{need} in namespace {namespace}" for need in expected), err
    assert_nothing_written(cluster, namespace)
    assert_no_tokens(control_plane, out, err)


def test_the_minimal_role_without_delete_is_refused_before_pruning(capsys: pytest.CaptureFixture[str],
                                                                   control_plane: ControlPlane, kubeconfig: Path,
                                                                   namespace: str, cluster: Cluster) -> None:
    code, out, err = specc(capsys, "apply", str(SPECS / "two-models.yaml"), *admin(kubeconfig, namespace),
                           "--auto-approve", "--no-wait")
    assert code == 0, out + err
    grant(control_plane, namespace, ROLE_FILE, without="delete")
    code, out, err = specc(capsys, "apply", str(SPECS / "one-model.yaml"), *restricted(kubeconfig, namespace),
                           "--auto-approve", "--no-wait")
    assert code == 1, out + err
    expected = ["delete apps/deployments", "delete core/services", "delete policy/poddisruptionbudgets",
                "delete coordination.k8s.io/leases"]  # forecaster's objects, and releasing the lock
    assert sorted(missing(err)) == sorted(f"{need} in namespace {namespace}" for need in expected), err
    assert names(cluster, DEPLOYMENTS, namespace) == ["forecaster", "recommender"]  # nothing pruned
    assert cluster.get(LEASE, namespace, lease_name("shop")) is None  # not even the lock taken


def test_a_preflight_the_server_refuses_stops_before_any_write(capsys: pytest.CaptureFixture[str],
                                                               control_plane: ControlPlane, kubeconfig: Path,
                                                               namespace: str, cluster: Cluster,
                                                               tmp_path: Path) -> None:
    from .faultproxy import Fault, fault_proxy, kubeconfig_via

    forbidden = ('{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403,'
                 '"message":"selfsubjectaccessreviews.authorization.k8s.io is forbidden"}')
    with fault_proxy(control_plane.server) as proxy:  # a cluster that took SSAR away from system:basic-user
        proxy.faults.append(Fault(path="/selfsubjectaccessreviews", times=1000, status=403, body=forbidden))
        code, out, err = specc(capsys, "apply", str(SPECS / "one-model.yaml"),
                               *admin(kubeconfig_via(kubeconfig, proxy.url, tmp_path), namespace),
                               "--auto-approve", "--no-wait")
    assert code == 1, out + err
    assert "[K526]" in err and "cannot check permissions before writing" in err and "nothing was written" in err
    assert {m for m, p, _ in proxy.seen if "selfsubjectaccessreviews" not in p} == {"GET"}
    assert_nothing_written(cluster, namespace)


def test_create_namespace_needs_namespace_rights_and_nothing_is_created_without_them(
        capsys: pytest.CaptureFixture[str], control_plane: ControlPlane, kubeconfig: Path) -> None:
    absent = f"absent-{uuid.uuid4().hex[:8]}"
    code, out, err = specc(capsys, "apply", str(SPECS / "one-model.yaml"), *restricted(kubeconfig, absent),
                           "--auto-approve", "--no-wait", "--create-namespace")
    assert code == 1, out + err
    named = missing(err)
    for need in ("get core/namespaces", "patch core/namespaces", "create core/namespaces"):
        assert f"{need} (cluster-wide)" in named, err
    assert f"create apps/deployments in namespace {absent}" in named
    assert control_plane.request("GET", f"/api/v1/namespaces/{absent}").status == 404


def test_destroy_without_delete_is_refused_naming_every_kind_and_the_parent(
        capsys: pytest.CaptureFixture[str], control_plane: ControlPlane, kubeconfig: Path, namespace: str,
        cluster: Cluster) -> None:
    code, out, err = specc(capsys, "apply", str(SPECS / "two-models.yaml"), *admin(kubeconfig, namespace),
                           "--auto-approve", "--no-wait")
    assert code == 0, out + err
    grant(control_plane, namespace, ROLE_FILE, without="delete")
    code, out, err = specc(capsys, "destroy", str(SPECS / "two-models.yaml"), *restricted(kubeconfig, namespace),
                           "--auto-approve")
    assert code == 1, out + err
    expected = ["delete apps/deployments", "delete core/services", "delete policy/poddisruptionbudgets",
                "delete autoscaling/horizontalpodautoscalers", "delete core/configmaps",  # the ApplySet parent
                "delete coordination.k8s.io/leases"]
    assert sorted(missing(err)) == sorted(f"{need} in namespace {namespace}" for need in expected), err
    assert names(cluster, DEPLOYMENTS, namespace) == ["forecaster", "recommender"]  # nothing deleted
    assert cluster.get(CONFIGMAPS, namespace, applyset.parent_name("shop")) is not None
