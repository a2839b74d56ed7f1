"""The seldon backend: SeldonDeployments (Seldon Core v1) and Models/Experiments (Seldon Core 2), what
it refuses (with the spec position), and how it reads live objects."""

from __future__ import annotations

from typing import Any

import pytest

from specc.diagnostics import Diagnostic
from specc.pipeline import Compiled
from specc.registry import load_registry

from .spectext import compile_errors, compile_text

HEADER = """\
apiVersion: specc.dev/v1alpha1
kind: ServingSpec
metadata: {name: demo, namespace: ml}
backend: seldon
models:
"""
V2 = "    options: {seldon: {version: v2}}\n"


def compile_models(models: str) -> Compiled:
    return compile_text(HEADER + models)


def bodies(models: str) -> list[dict[str, Any]]:
    return [o.body for o in compile_models(models).desired]


def sdep(models: str) -> dict[str, Any]:
    [obj] = bodies(models)
    assert obj["kind"] == "SeldonDeployment"
    return obj


def errors(models: str) -> list[Diagnostic]:
    return compile_errors(HEADER + models)


def model(fmt: str, extra: str = "", uri: str = "s3://models/m/1") -> str:
    return f"  - name: m\n    format: {fmt}\n    storageUri: {uri}\n{extra}"


def backend() -> Any:
    return load_registry().backends["seldon"]


@pytest.mark.parametrize(("fmt", "extra", "implementation", "protocol"), [
    ("sklearn", "", "SKLEARN_SERVER", "v2"),
    ("xgboost", "", "XGBOOST_SERVER", "v2"),
    ("mlflow", "", "MLFLOW_SERVER", "v2"),
    ("tensorflow", "", "TENSORFLOW_SERVER", "tensorflow"),
    ("tensorflow", "    engine: triton\n", "TRITON_SERVER", "v2"),
    ("onnx", "", "TRITON_SERVER", "v2"),
    ("pytorch", "    engine: triton\n", "TRITON_SERVER", "v2"),
])
def test_a_prepackaged_server_per_format(fmt: str, extra: str, implementation: str, protocol: str) -> None:
    obj = sdep(model(fmt, extra))
    [predictor] = obj["spec"]["predictors"]
    assert predictor["graph"]["implementation"] == implementation
    assert predictor["graph"]["modelUri"] == "s3://models/m/1"
    assert obj["spec"]["protocol"] == protocol


def test_the_container_entry_is_named_after_the_graph_node() -> None:
    obj = sdep(model("sklearn", "    resources: {cpu: '1', memory: 2Gi}\n    env: {LOG_LEVEL: info}\n"))
    [predictor] = obj["spec"]["predictors"]
    [component] = predictor["componentSpecs"]
    [container] = component["spec"]["containers"]  # the schema requires containers
    assert container["name"] == predictor["graph"]["name"] == "m"
    assert "image" not in container  # the operator fills in the prepackaged server's image
    assert container["resources"] == {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "2Gi"}}
    assert container["env"] == [{"name": "LOG_LEVEL", "value": "info"}]


def test_lightgbm_is_refused_on_core_v1_and_served_by_core_2() -> None:
    [error] = errors(model("lightgbm"))
    assert "no prepackaged server for format 'lightgbm'" in error.message
    assert error.hint is not None and "v2" in error.hint
    [served] = [b for b in bodies(model("lightgbm", "    options:\n      seldon: {version: v2}\n"))
                if b["kind"] == "Model"]
    assert served["spec"]["requirements"] == ["lightgbm"]


def test_replicas_are_fixed_or_an_hpa() -> None:
    [fixed] = sdep(model("sklearn", "    replicas: {min: 3, max: 3}\n"))["spec"]["predictors"]
    assert fixed["componentSpecs"][0]["replicas"] == 3 and "hpaSpec" not in fixed["componentSpecs"][0]
    [scaled] = sdep(model("sklearn", "    replicas: {min: 2, max: 6}\n    autoscaling: {metric: memory, "
                          "target: 75}\n"))["spec"]["predictors"]
    assert scaled["componentSpecs"][0]["hpaSpec"] == {"minReplicas": 2, "maxReplicas": 6, "metricsv2": [
        {"type": "Resource", "resource": {"name": "memory", "target": {"type": "Utilization",
                                                                      "averageUtilization": 75}}}]}


CANARY = model("xgboost", "    replicas: {min: 4, max: 4}\n    canary: {storageUri: s3://models/m/2, "
                          "traffic: 25}\n")


def test_a_canary_is_a_second_predictor_and_traffic_sums_to_100() -> None:
    stable, canary = sdep(CANARY)["spec"]["predictors"]
    assert (stable["name"], canary["name"]) == ("stable", "canary")
    assert stable["traffic"] + canary["traffic"] == 100 and canary["traffic"] == 25
    assert (stable["graph"]["modelUri"], canary["graph"]["modelUri"]) == ("s3://models/m/1", "s3://models/m/2")
    assert (stable["componentSpecs"][0]["replicas"], canary["componentSpecs"][0]["replicas"]) == (3, 1)


def test_version_v2_emits_models_and_an_experiment_for_a_canary() -> None:
    objects = bodies(CANARY + V2)
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("Experiment", "m"), ("Model", "m"), ("Model", "m-canary")]
    experiment, stable, canary = objects
    assert experiment["spec"]["default"] == "m"
    weights = {c["name"]: c["weight"] for c in experiment["spec"]["candidates"]}
    assert weights == {"m": 75, "m-canary": 25}
    assert stable["spec"]["requirements"] == ["xgboost"]
    assert canary["spec"]["storageUri"] == "s3://models/m/2"


def test_v2_model_fields() -> None:
    [obj] = bodies(model("onnx", "    engine: triton\n    resources: {memory: 512Mi}\n"
                         "    replicas: {min: 1, max: 4}\n"
                         "    options: {seldon: {version: v2, storageSecret: rclone}}\n"))
    assert obj["spec"] == {"storageUri": "s3://models/m/1", "requirements": ["onnx", "triton"],
                           "memory": "512Mi", "secretName": "rclone", "minReplicas": 1, "maxReplicas": 4}


@pytest.mark.parametrize(("models", "line", "fragment"), [
    (model("pytorch"), 7, "only through TRITON_SERVER"),
    (model("pytorch", "    engine: torchserve\n"), 9, "no prepackaged server for engine 'torchserve'"),
    (model("huggingface", uri="s3://b/hf"), 7, "no prepackaged server for format 'huggingface'"),
    (model("sklearn", "    protocol: v1\n"), 9, "speaks only protocol v2"),
    (model("tensorflow", "    protocol: v2\n"), 9, "speaks only protocol v1"),
    (model("sklearn", uri="https://example.com/m"), 8, "cannot fetch https://"),
    (model("sklearn", "    autoscaling: {metric: rps, target: 10}\n"), 9, "cannot scale on rps"),
    (model("sklearn", "    replicas: {min: 0, max: 2}\n"), 9, "cannot scale to zero"),
    (model("sklearn", "    env: {A: b}\n" + V2), 9, "environment variables belong to the Server"),
    (model("sklearn", "    autoscaling: {metric: cpu, target: 70}\n" + V2), 9, "inference lag"),
    (model("sklearn", "    protocol: v1\n" + V2), 9, "Open Inference Protocol"),
    (model("sklearn", "    engine: tfserving\n" + V2), 9, "no 'tfserving' Server"),
    (model("sklearn", V2, uri="pvc://claim/m"), 8, "cannot fetch pvc://"),
])
def test_what_seldon_cannot_serve_is_a_positioned_error(models: str, line: int, fragment: str) -> None:
    [error] = errors(models)
    assert error.code in ("B410", "B403") and error.span is not None and error.span.line == line, error
    assert fragment in error.message


def test_download_credentials_and_ingress_are_warnings() -> None:
    compiled = compile_models(model("sklearn", "    secretEnv: [{name: A, secret: s, key: k}]\n"
                                    "    ingress: {host: m.example.com}\n"))
    messages = [w.message for w in compiled.warnings]
    assert any("envSecretRefName" in m for m in messages)
    assert any("/seldon/ml/m/" in m for m in messages)


def test_the_finishing_pass_reaches_the_component_pods() -> None:
    for predictor in sdep(CANARY)["spec"]["predictors"]:
        component = predictor["componentSpecs"][0]
        assert component["metadata"]["labels"]["app.kubernetes.io/instance"] == "demo-m"
        assert component["spec"]["securityContext"]["runAsNonRoot"] is True
        assert component["spec"]["containers"][0]["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_seldon_core_2_objects_have_no_pod_sites() -> None:
    for obj in bodies(CANARY + V2):
        assert backend().pod_sites(obj) == []


def _sdep(state: str, **status: Any) -> dict[str, Any]:
    return {"kind": "SeldonDeployment", "metadata": {"generation": 3},
            "status": {"state": state, "observedGeneration": 3, **status}}


def test_seldon_deployment_readiness() -> None:
    seldon = backend()
    assert seldon.readiness(_sdep("Available")).ready
    creating = seldon.readiness(_sdep("Creating"))
    assert not creating.ready and not creating.failed
    failed = seldon.readiness(_sdep("Failed", description="Cannot find the model in s3://b/m"))
    assert failed.failed and failed.message == "Cannot find the model in s3://b/m"
    stale = _sdep("Failed")
    stale["status"]["observedGeneration"] = 2
    assert not seldon.readiness(stale).failed


def test_seldon_core_2_readiness() -> None:
    seldon = backend()
    ready = {"kind": "Model", "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    assert seldon.readiness(ready).ready
    unschedulable = {"kind": "Model", "status": {"conditions": [
        {"type": "ModelReady", "status": "False", "message": "ScheduleFailed",
         "reason": "failed to schedule model m: no matching servers"},
        {"type": "Ready", "status": "False"}]}}
    verdict = seldon.readiness(unschedulable)
    assert verdict.failed and "no matching servers" in verdict.message
    experiment = {"kind": "Experiment", "status": {"conditions": [{"type": "Ready", "status": "False"}]}}
    assert not seldon.readiness(experiment).ready and not seldon.readiness(experiment).failed
