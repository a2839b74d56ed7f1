"""Registry references planned and applied on the real control plane, against a real MLflow server.

A spec names `{model: <fraud>, alias: champion}`; plan and apply resolve it through MLflow's REST
API (MLflow 3.17.2), and the live objects carry the resolved artifact location, version and run id.
Moving the alias makes the next plan show exactly that: the per-model line
(`fraud-detector: champion 1 → 2, run … → …`) and only the fields that follow from it. A saved plan
pins what it resolved: `apply PLAN` refuses when the alias has moved since, and writes nothing.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from specc.cluster import Cluster, Resource
from specc.testing.mlflowserver import MlflowClient, MlflowServer

from ..registry_fixtures import RegisteredModel
from .test_plan_apply import on, specc

DEPLOYMENTS = Resource("apps", "v1", "Deployment", "deployments", True)
SERVICES = Resource("", "v1", "Service", "services", True)
PROVENANCE = "provenance.specc.dev/"


@pytest.fixture
def spec(tmp_path: Path, fraud_model: RegisteredModel, mlflow_server: MlflowServer,
         monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.uri)
    path = tmp_path / "serving.yaml"
    path.write_text(textwrap.dedent(f"""\
        apiVersion: specc.dev/v1alpha1
        kind: ServingSpec
        metadata:
          name: fraud
          namespace: ml-prod
        models:
          - name: fraud-detector
            format: sklearn
            registry: {{provider: mlflow, model: {fraud_model.name}, alias: champion}}
        """), encoding="utf-8")
    return path


def served(cluster: Cluster, namespace: str) -> tuple[str, str, str, str]:
    """(artifact URI, version, run id, registry URI) that the live Deployment serves."""
    live = cluster.get(DEPLOYMENTS, namespace, "fraud-detector")
    assert live is not None
    annotations = live["metadata"]["annotations"]
    template = live["spec"]["template"]
    assert {k: v for k, v in template["metadata"]["annotations"].items() if k.startswith(PROVENANCE)} == {
        k: v for k, v in annotations.items() if k.startswith(PROVENANCE)}
    uri = template["spec"]["initContainers"][0]["args"][0]
    return (uri, annotations[PROVENANCE + "version"], annotations[PROVENANCE + "run-id"],
            annotations[PROVENANCE + "uri"])


def test_an_alias_plans_applies_and_its_move_is_the_next_plan(
        capsys: pytest.CaptureFixture[str], kubeconfig: Path, namespace: str, cluster: Cluster,
        spec: Path, mlflow: MlflowClient, fraud_model: RegisteredModel, monkeypatch: pytest.MonkeyPatch) -> None:
    where = on(kubeconfig, namespace)
    code, out, err = specc(capsys, "apply", str(spec), *where, "--auto-approve", "--no-wait", "--no-color")
    assert code == 0, out + err
    first_run, second_run = fraud_model.runs
    assert served(cluster, namespace) == (fraud_model.location(1), "1", first_run, f"models:/{fraud_model.name}/1")
    service = cluster.get(SERVICES, namespace, "fraud-detector")
    assert service is not None and service["metadata"]["annotations"][PROVENANCE + "run-id"] == first_run
    code, out, _ = specc(capsys, "plan", str(spec), *where, "--detailed-exitcode", "--no-color")
    assert code == 0 and "No changes." in out
    assert f"fraud-detector: mlflow {fraud_model.name}@champion is version 1, run {first_run}" in out

    mlflow("alias", name=fraud_model.name, alias="champion", version="2")
    code, text, _ = specc(capsys, "plan", str(spec), *where, "--detailed-exitcode", "--no-color")
    assert code == 2
    assert f"\n  fraud-detector: champion 1 → 2, run {first_run} → {second_run}\n" in text
    code, as_json, _ = specc(capsys, "plan", str(spec), *where, "--format", "json")
    plan = json.loads(as_json)
    changed = {(c["kind"], f["path"], f["before"], f["after"]) for c in plan["changes"] if c["action"] != "no-op"
               for f in c["fields"]}
    provenance_fields = (("uri", f"models:/{fraud_model.name}/1", f"models:/{fraud_model.name}/2"),
                         ("version", "1", "2"), ("run-id", first_run, second_run))
    expected = {("Service", f'metadata.annotations["{PROVENANCE}{f}"]', b, a) for f, b, a in provenance_fields}
    expected |= {("Deployment", f'{prefix}annotations["{PROVENANCE}{f}"]', b, a) for f, b, a in provenance_fields
                 for prefix in ("metadata.", "spec.template.metadata.")}
    mlserver = "spec.template.spec.containers[name=mlserver].env"
    expected |= {
        ("Deployment", "spec.template.spec.initContainers[name=storage-initializer].args[0]",
         fraud_model.location(1), fraud_model.location(2)),
        # MLServer reports the version as model_version (MLSERVER_MODEL_VERSION, mlserver/settings.py).
        ("Deployment", f"{mlserver}[name=MLSERVER_MODEL_VERSION].value", "1", "2"),
        ("Deployment", f"{mlserver}[name=MLSERVER_MODEL_VERSIONS].value", '["1"]', '["2"]'),
    }
    extra = [c for c in changed if c[1] == f"{mlserver}[name=MLSERVER_MODEL_EXTRA].value"]
    assert changed - set(extra) == expected, sorted((changed - set(extra)) ^ expected)
    assert len(extra) == 1
    assert json.loads(extra[0][2])["provenance"]["version"] == "1"
    assert json.loads(extra[0][3])["provenance"] == {"registry": "mlflow", "uri": f"models:/{fraud_model.name}/2",
                                                     "version": "2", "runId": second_run}

    # A saved plan pins version 2; the alias moves on before it is applied: refused, nothing written.
    saved = spec.parent / "plan.json"
    code, _, err = specc(capsys, "plan", str(spec), *where, "-o", str(saved))
    assert code == 0, err
    assert json.loads(saved.read_text())["registry"][0]["version"] == "2"
    mlflow("alias", name=fraud_model.name, alias="champion", version="1")
    code, out, err = specc(capsys, "apply", str(saved), *where, "--auto-approve", "--no-wait")
    assert code == 1, out + err
    assert (f"model fraud-detector: mlflow {fraud_model.name}@champion now resolves to version 1 (run {first_run}), "
            f"the plan pinned version 2 (run {second_run}): champion moved since the plan [P613]") in err
    assert "the saved plan is stale: nothing was applied" in err
    assert served(cluster, namespace)[1] == "1"

    # A registry that cannot be asked cannot confirm the pin: refused too.
    with monkeypatch.context() as offline:
        offline.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # the discard port: nothing listens
        code, out, err = specc(capsys, "apply", str(saved), *where, "--auto-approve", "--no-wait")
    assert code == 1, out + err
    assert (f"model fraud-detector: cannot check that mlflow {fraud_model.name}@champion still resolves to "
            "version 2: cannot reach the registry at http://127.0.0.1:9: connection refused") in err
    assert served(cluster, namespace)[1] == "1"

    # Back where the plan pinned it: the saved plan applies exactly what it showed.
    mlflow("alias", name=fraud_model.name, alias="champion", version="2")
    code, out, err = specc(capsys, "apply", str(saved), *where, "--auto-approve", "--no-wait")
    assert code == 0, out + err
    assert served(cluster, namespace) == (fraud_model.location(2), "2", second_run, f"models:/{fraud_model.name}/2")
    code, out, _ = specc(capsys, "plan", str(spec), *where, "--detailed-exitcode", "--no-color")
    assert code == 0 and "No changes." in out and "moved since" not in out


def test_a_registry_fault_during_apply_writes_nothing(
        capsys: pytest.CaptureFixture[str], kubeconfig: Path, namespace: str, cluster: Cluster, spec: Path,
        monkeypatch: pytest.MonkeyPatch, fraud_model: RegisteredModel) -> None:
    spec.write_text(spec.read_text().replace("alias: champion", "alias: retired"))
    code, out, err = specc(capsys, "apply", str(spec), *on(kubeconfig, namespace), "--auto-approve", "--no-wait")
    assert code == 1, out + err
    assert f"serving.yaml:9:5: models[0].registry: mlflow {fraud_model.name}@retired: registered model " in err
    assert err.rstrip().endswith("[G906]")
    assert cluster.list(DEPLOYMENTS, namespace) == [] and cluster.list(SERVICES, namespace) == []
