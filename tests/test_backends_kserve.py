"""The kserve backend: what its InferenceServices say, what it refuses (with the spec position), and
how it reads live objects."""

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
backend: kserve
models:
"""


def compile_models(models: str) -> Compiled:
    return compile_text(HEADER + models)


def isvc(models: str, name: str | None = None) -> dict[str, Any]:
    bodies = [o.body for o in compile_models(models).desired if o.body["kind"] == "InferenceService"]
    return next(b for b in bodies if name is None or b["metadata"]["name"] == name)


def errors(models: str) -> list[Diagnostic]:
    return compile_errors(HEADER + models)


def backend() -> Any:
    return load_registry().backends["kserve"]


SKLEARN = """\
  - name: fraud
    format: sklearn
    storageUri: s3://models/fraud/3
"""


def test_model_form_with_explicit_protocol_and_no_legacy_keys() -> None:
    predictor = isvc(SKLEARN)["spec"]["predictor"]
    assert predictor["model"]["modelFormat"] == {"name": "sklearn"}
    assert predictor["model"]["protocolVersion"] == "v2"
    assert predictor["model"]["storageUri"] == "s3://models/fraud/3"
    assert "runtime" not in predictor["model"]  # no engine: KServe auto-selects, v2 makes MLServer eligible
    assert not {"sklearn", "xgboost", "tensorflow", "pytorch", "triton", "onnx"} & set(predictor)


@pytest.mark.parametrize(("fmt", "expected"), [
    ("sklearn", "v2"), ("xgboost", "v2"), ("lightgbm", "v2"), ("mlflow", "v2"), ("onnx", "v2"),
    ("tensorflow", "v1"), ("pytorch", "v1"), ("huggingface", "v2"),
])
def test_protocol_defaults_to_what_the_runtime_speaks(fmt: str, expected: str) -> None:
    uri = "hf://owner/model" if fmt == "huggingface" else "s3://b/m"
    models = f"  - name: m\n    format: {fmt}\n    storageUri: {uri}\n"
    assert isvc(models)["spec"]["predictor"]["model"]["protocolVersion"] == expected


def test_a_named_engine_selects_its_runtime_and_writes_what_the_webhook_would() -> None:
    obj = isvc(SKLEARN + "    engine: mlserver\n"
               "    provenance: {registry: mlflow, uri: 'models:/f/3', version: '3'}\n")
    model = obj["spec"]["predictor"]["model"]
    assert model["runtime"] == "kserve-mlserver"
    assert obj["metadata"]["labels"]["modelClass"] == "mlserver_sklearn.SKLearnModel"
    env = {e["name"]: e.get("value") for e in model["env"]}
    # MLSERVER_MODEL_VERSIONS: what MLServer 1.7.1 lists as `versions` in model metadata (measured).
    assert env == {"MLSERVER_MODEL_NAME": "fraud", "MLSERVER_MODEL_URI": "/mnt/models",
                   "MLSERVER_MODEL_VERSION": "3", "MLSERVER_MODEL_VERSIONS": '["3"]'}


def test_mlserver_picked_by_auto_selection_gets_its_model_class_too() -> None:
    v2 = isvc(SKLEARN)  # v2 sklearn: MLServer (priority 2) wins over kserve-sklearnserver (priority 1)
    assert v2["metadata"]["labels"]["modelClass"] == "mlserver_sklearn.SKLearnModel"
    v1 = isvc(SKLEARN + "    protocol: v1\n")  # only kserve-sklearnserver speaks v1
    assert "modelClass" not in v1["metadata"]["labels"]
    assert "env" not in v1["spec"]["predictor"]["model"]


@pytest.mark.parametrize(("fmt", "engine", "runtime", "protocol"), [
    ("onnx", "triton", "kserve-tritonserver", "v2"),
    ("tensorflow", "tfserving", "kserve-tensorflow-serving", "v1"),
    ("pytorch", "torchserve", "kserve-torchserve", "v1"),
])
def test_engine_runtimes(fmt: str, engine: str, runtime: str, protocol: str) -> None:
    model = isvc(f"  - name: m\n    format: {fmt}\n    engine: {engine}\n    storageUri: s3://b/m\n")
    assert model["spec"]["predictor"]["model"]["runtime"] == runtime
    assert model["spec"]["predictor"]["model"]["protocolVersion"] == protocol


def test_torchserve_over_v2_gets_the_kservev2_envelope() -> None:
    obj = isvc("  - name: m\n    format: pytorch\n    engine: torchserve\n    protocol: v2\n"
               "    storageUri: s3://b/m\n")
    assert obj["metadata"]["labels"]["serviceEnvelope"] == "kservev2"


@pytest.mark.parametrize(("version", "mode", "expected"), [
    ("0.15", "Standard", "RawDeployment"), ("0.15", "Knative", "Serverless"),
    ("0.16", "Standard", "Standard"), ("0.20", "Knative", "Knative"),
    ("0.20", "RawDeployment", "Standard"), ("0.15", "Serverless", "Serverless"),
])
def test_deployment_mode_is_spelled_for_the_targeted_version(version: str, mode: str, expected: str) -> None:
    obj = isvc(SKLEARN + f"    options:\n      kserve: {{version: '{version}', deploymentMode: {mode}}}\n")
    assert obj["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == expected


def test_default_mode_is_standard_with_the_hpa_autoscaler_class() -> None:
    annotations = isvc(SKLEARN)["metadata"]["annotations"]
    assert annotations["serving.kserve.io/deploymentMode"] == "Standard"
    assert annotations["serving.kserve.io/autoscalerClass"] == "hpa"


def test_knative_mode_names_knatives_autoscaler_class() -> None:
    cpu = isvc(SKLEARN + "    autoscaling: {metric: cpu, target: 60}\n"
               "    options: {kserve: {deploymentMode: Knative}}\n")
    assert cpu["metadata"]["annotations"]["autoscaling.knative.dev/class"] == "hpa.autoscaling.knative.dev"
    assert "serving.kserve.io/autoscalerClass" not in cpu["metadata"]["annotations"]
    rps = isvc(SKLEARN + "    autoscaling: {metric: rps, target: 20}\n    replicas: {min: 0, max: 5}\n"
               "    options: {kserve: {deploymentMode: Knative}}\n")
    assert rps["metadata"]["annotations"]["autoscaling.knative.dev/class"] == "kpa.autoscaling.knative.dev"
    predictor = rps["spec"]["predictor"]
    assert (predictor["minReplicas"], predictor["scaleMetric"], predictor["scaleTarget"]) == (0, "rps", 20)


def test_replicas_scaling_and_resources() -> None:
    obj = isvc(SKLEARN + "    replicas: {min: 2, max: 10}\n    autoscaling: {metric: cpu, target: 70}\n"
               "    resources: {cpu: '4', memory: 8Gi, gpu: 1}\n    serviceAccount: models-sa\n"
               "    secretEnv: [{name: AWS_ACCESS_KEY_ID, secret: s3, key: id}]\n")
    predictor = obj["spec"]["predictor"]
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (2, 10)
    assert (predictor["scaleMetric"], predictor["scaleTarget"], predictor["scaleMetricType"]) == (
        "cpu", 70, "Utilization")
    assert predictor["serviceAccountName"] == "models-sa"
    # KServe merges the runtime's 1-core CPU limit into a container without one; 4 cores requested
    # under a 1-core limit would be an invalid Deployment.
    assert predictor["model"]["resources"] == {
        "requests": {"cpu": "4", "memory": "8Gi"},
        "limits": {"cpu": "4", "memory": "8Gi", "nvidia.com/gpu": "1"}}
    assert {"name": "AWS_ACCESS_KEY_ID", "valueFrom": {"secretKeyRef": {"name": "s3", "key": "id"}}} in (
        predictor["model"]["env"])


CANARY = SKLEARN + """\
    replicas: {min: 4, max: 8}
    canary:
      storageUri: s3://models/fraud/4
      traffic: 10
"""


def test_canary_in_standard_mode_before_020_is_a_positioned_error() -> None:
    found = errors(CANARY + "    options:\n      kserve: {version: '0.16'}\n")
    assert [(d.code, d.span.line, d.span.col) for d in found if d.span] == [("B410", 10, 5)]
    assert "ignores canary traffic in Standard mode" in found[0].message


def test_canary_in_standard_mode_on_020_is_spec_canary() -> None:
    spec = isvc(CANARY)["spec"]
    assert spec["predictor"]["model"]["storageUri"] == "s3://models/fraud/3"
    [canary] = spec["canary"]
    assert canary["trafficPercent"] == 10
    assert canary["predictor"]["name"] == "canary"
    assert canary["predictor"]["model"]["storageUri"] == "s3://models/fraud/4"
    # KServe 0.20 runs stable.minReplicas - canary.minReplicas stable pods (3 + 1 = replicas.min 4),
    # and refuses maxReplicas on a canary predictor (contract cases tests/contracts/kserve/canary-*)
    assert (spec["predictor"]["minReplicas"], spec["predictor"]["maxReplicas"]) == (4, 7)
    assert canary["predictor"]["minReplicas"] == 1 and "maxReplicas" not in canary["predictor"]
    assert "canaryTrafficPercent" not in spec["predictor"]


def test_canary_in_knative_mode_is_canary_traffic_percent_with_a_warning() -> None:
    compiled = compile_models(CANARY + "    options: {kserve: {deploymentMode: Knative, version: '0.15'}}\n")
    predictor = next(o.body for o in compiled.desired)["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 10
    assert predictor["model"]["storageUri"] == "s3://models/fraud/4"  # the newest revision is the canary
    assert any("last revision rolled out" in w.message for w in compiled.warnings)


@pytest.mark.parametrize(("extra", "line", "fragment"), [
    ("    engine: tfserving\n    protocol: v2\n", 10, "speaks only protocol v1"),
    ("    protocol: v1\n    engine: mlserver\n", 9, "speaks only protocol v2"),
])
def test_a_protocol_the_runtime_cannot_speak_is_refused(extra: str, line: int, fragment: str) -> None:
    fmt = "tensorflow" if "tfserving" in extra else "sklearn"
    found = errors(f"  - name: m\n    format: {fmt}\n    storageUri: s3://b/m\n{extra}")
    assert [(d.code, d.span.line) for d in found if d.span] == [("B410", line)]  # the protocol line
    assert fragment in found[0].message


def test_a_format_without_a_v1_runtime_is_refused() -> None:
    [error] = errors("  - name: m\n    format: onnx\n    storageUri: s3://b/m\n    protocol: v1\n")
    assert "kserve-tritonserver (v2 only)" in error.message and error.hint == "use protocol v2"


def test_an_engine_that_cannot_load_the_format_is_refused() -> None:
    [error] = errors("  - name: m\n    format: onnx\n    engine: tfserving\n    storageUri: s3://b/m\n")
    assert error.path == ("models", 0, "engine") and "cannot load format 'onnx'" in error.message


@pytest.mark.parametrize(("extra", "fragment"), [
    ("    autoscaling: {metric: concurrency, target: 10}\n", "cannot scale on concurrency"),
    ("    replicas: {min: 0, max: 3}\n", "cannot scale to zero"),
    ("    autoscaling: {metric: cpu, target: 150}\n", "target of 1 to 100"),
    ("    autoscaling: {metric: memory, target: 70}\n    options: {kserve: {deploymentMode: Knative}}\n",
     "MiB per pod"),
    ("    autoscaling: {metric: cpu, target: 70}\n    replicas: {min: 0, max: 3}\n"
     "    options: {kserve: {deploymentMode: Knative}}\n", "cannot scale to zero"),
])
def test_scaling_kserve_cannot_do_is_refused(extra: str, fragment: str) -> None:
    found = errors(SKLEARN + extra)
    assert any(fragment in d.message for d in found), found


def test_too_long_derived_names_are_refused() -> None:
    long_name = "m" * 45  # 45 + len("-predictor-ml") = 58; with the canary predictor, 65
    ok = f"  - name: {long_name}\n    format: sklearn\n    storageUri: s3://b/m\n"
    isvc(ok)
    [error] = errors(ok + "    canary: {storageUri: s3://b/m2, traffic: 5}\n")
    assert error.path == ("models", 0, "name") and f"{long_name}-canary-predictor-ml" in error.message
    assert error.hint is not None and "at most 43 characters" in error.hint
    knative = f"  - name: {'k' * 48}\n    format: sklearn\n    storageUri: s3://b/m\n" \
              "    options: {kserve: {deploymentMode: Knative}}\n"
    [error] = errors(knative)
    assert "predictor-00001" in error.message and error.span is not None and error.span.line == 6


def test_image_models_are_custom_predictor_containers() -> None:
    custom = isvc("  - name: srv\n    format: custom\n    image: registry.example.com/srv:1.0\n"
                  "    port: 9000\n    protocol: v2\n    monitoring: {metrics: true}\n")["spec"]["predictor"]
    [container] = custom["containers"]
    assert (container["name"], container["image"]) == ("kserve-container", "registry.example.com/srv:1.0")
    assert container["ports"] == [{"containerPort": 9000, "protocol": "TCP"}]
    assert {"name": "PROTOCOL", "value": "v2"} in container["env"]
    assert custom["annotations"]["prometheus.io/port"] == "9000"
    assert custom["annotations"]["serving.kserve.io/enable-prometheus-scraping"] == "false"
    assert "model" not in custom
    bento = isvc("  - name: b\n    format: bento\n    image: registry.example.com/bentos/b:1.0\n")
    [container] = bento["spec"]["predictor"]["containers"]
    assert container["ports"] == [{"containerPort": 3000, "protocol": "TCP"}]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"


def test_the_finishing_pass_reaches_every_predictors_pods() -> None:
    spec = isvc(CANARY)["spec"]
    for predictor in (spec["predictor"], spec["canary"][0]["predictor"]):
        assert predictor["labels"]["app.kubernetes.io/instance"] == "demo-fraud"
        assert predictor["securityContext"]["runAsNonRoot"] is True
        assert predictor["model"]["securityContext"]["allowPrivilegeEscalation"] is False


def test_ingress_host_is_a_warning() -> None:
    compiled = compile_models(SKLEARN + "    ingress: {host: fraud.example.com}\n")
    assert any("fraud.example.com" in w.message for w in compiled.warnings)


def test_options_are_validated_with_positions() -> None:
    found = errors(SKLEARN + "    options:\n      kserve: {deploymentMode: Serverles}\n")
    assert [(d.code, d.span.line) for d in found if d.span] == [("S204", 10)]
    found = errors(SKLEARN + "    options:\n      kserve: {version: 0.20}\n")  # YAML reads a number
    assert (found[0].code, found[0].path[-1]) == ("S204", "version") and "0.2" in found[0].message


def _status(**status: Any) -> dict[str, Any]:
    return {"kind": "InferenceService", "metadata": {"generation": 2},
            "status": {"observedGeneration": 2, **status}}


def test_readiness_verdicts() -> None:
    kserve = backend()
    assert kserve.readiness(_status(conditions=[{"type": "Ready", "status": "True"}])).ready
    waiting = kserve.readiness(_status(conditions=[{"type": "Ready", "status": "False",
                                                    "reason": "Progressing"}]))
    assert not waiting.ready and not waiting.failed
    failed = kserve.readiness(_status(
        conditions=[{"type": "Ready", "status": "False"}],
        modelStatus={"transitionStatus": "InvalidSpec",
                     "lastFailureInfo": {"reason": "NoSupportingRuntime", "message": "no runtime for onnx"}}))
    assert failed.failed and "NoSupportingRuntime" in failed.message
    stale = _status(modelStatus={"transitionStatus": "InvalidSpec"})
    stale["status"]["observedGeneration"] = 1
    assert not kserve.readiness(stale).failed  # the failure may be the previous generation's


def test_changing_the_deployment_mode_is_a_replace() -> None:
    assert list(backend().replace_paths({"kind": "InferenceService"})) == [
        ("metadata", "annotations", "serving.kserve.io/deploymentMode")]


def test_secret_env_does_not_reach_the_storage_initializer_so_it_warns() -> None:
    compiled = compile_models(SKLEARN + "    secretEnv: [{name: AWS_ACCESS_KEY_ID, secret: s3, key: id}]\n")
    [warning] = [w for w in compiled.warnings if "storage-initializer" in w.message]
    assert warning.path == ("models", 0, "storageUri") and warning.span is not None and warning.span.line == 8
    on_a_claim = compile_models(SKLEARN.replace("s3://models", "pvc://models") +
                                "    secretEnv: [{name: A, secret: s, key: k}]\n")
    assert not [w for w in on_a_claim.warnings if "storage-initializer" in w.message]


def test_the_serving_user_is_set_where_the_mode_admits_it() -> None:
    standard = isvc(SKLEARN)["spec"]["predictor"]
    assert (standard["securityContext"]["runAsUser"], standard["securityContext"]["fsGroup"]) == (1000, 1000)
    knative = isvc(SKLEARN + "    options: {kserve: {deploymentMode: Knative}}\n")["spec"]["predictor"]
    assert "securityContext" not in knative  # Knative's field masks refuse a pod securityContext
    assert knative["model"]["securityContext"]["runAsUser"] == 1000
    assert knative["model"]["securityContext"]["runAsNonRoot"] is True  # restricted, on the container
