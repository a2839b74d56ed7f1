"""The raw Kubernetes backend: each engine's container, probes and ports; canary splits; pod security;
name limits; and every core object valid against the real Kubernetes OpenAPI schema."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from specc.diagnostics import Diagnostic
from specc.manifest_yaml import dump_all
from specc.pipeline import Compiled, compile_document
from specc.source import parse_spec

from .conftest import EXAMPLES
from .spectext import compile_errors, compile_text

HEAD = """apiVersion: specc.dev/v1alpha1
kind: ServingSpec
metadata: {name: team, namespace: ml}
backend: kubernetes
models:
"""


def compile_models(models: str, kube_version: tuple[int, int] | None = None) -> Compiled:
    return compile_text(HEAD + models, kube_version)


def objects(models: str, kube_version: tuple[int, int] | None = None) -> dict[str, dict[str, Any]]:
    return {f"{o.key.kind}/{o.key.name}": o.body for o in compile_models(models, kube_version).desired}


def errors(models: str) -> list[Diagnostic]:
    return compile_errors(HEAD + models)


def container(obj: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = obj["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def ports(c: dict[str, Any]) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for p in c["ports"]}


ENGINES = [
    # format, engine, image fragment, ports, (readiness path, liveness path), container name
    ("sklearn", None, "seldonio/mlserver:1.7.1-sklearn", {"http": 8080, "grpc": 8081},
     ("/v2/models/m/ready", "/v2/health/live"), "mlserver"),
    ("mlflow", None, "seldonio/mlserver:1.7.1-mlflow", {"http": 8080, "grpc": 8081},
     ("/v2/models/m/ready", "/v2/health/live"), "mlserver"),
    ("tensorflow", None, "tensorflow/serving:2.19.0", {"grpc": 8500, "http": 8501},
     ("/v1/models/m", None), "tfserving"),
    ("pytorch", None, "pytorch/torchserve:0.12.0-cpu", {"http": 8080, "management": 8081},
     ("/ping", "/ping"), "torchserve"),
    ("onnx", None, "nvcr.io/nvidia/tritonserver:25.01-py3", {"http": 8000, "grpc": 8001},
     ("/v2/health/ready", "/v2/health/live"), "triton"),
    ("tensorflow", "triton", "nvcr.io/nvidia/tritonserver:25.01-py3", {"http": 8000, "grpc": 8001},
     ("/v2/health/ready", "/v2/health/live"), "triton"),
]


@pytest.mark.parametrize(("fmt", "engine", "image", "expected_ports", "probes", "name"), ENGINES)
def test_engine_container(fmt: str, engine: str | None, image: str, expected_ports: dict[str, int],
                          probes: tuple[str, str | None], name: str) -> None:
    extra = f"    engine: {engine}\n" if engine else ""
    deployment = objects(f"  - name: m\n    format: {fmt}\n    storageUri: s3://b/m\n{extra}")["Deployment/m"]
    c = container(deployment)
    assert c["name"] == name and image in c["image"]
    assert ports(c) == expected_ports
    ready, live = probes
    assert c["readinessProbe"]["httpGet"]["path"] == ready
    if live:
        assert c["livenessProbe"]["httpGet"]["path"] == live
    else:
        assert "tcpSocket" in c["livenessProbe"]
    assert "startupProbe" in c  # a large model gets time to load before liveness may restart it


def test_metrics_port_and_scrape_annotations_only_with_monitoring() -> None:
    plain = objects("  - name: m\n    format: sklearn\n    storageUri: s3://b/m\n")["Deployment/m"]
    watched = objects("  - name: m\n    format: sklearn\n    storageUri: s3://b/m\n    monitoring: {metrics: true}\n")
    assert "metrics" not in ports(container(plain))
    assert "prometheus.io/scrape" not in plain["spec"]["template"]["metadata"].get("annotations", {})
    deployment = watched["Deployment/m"]
    assert ports(container(deployment))["metrics"] == 8082
    assert deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == "8082"
    assert {p["name"] for p in watched["Service/m"]["spec"]["ports"]} == {"http", "grpc", "metrics"}


def test_tf_serving_metrics_need_its_monitoring_config() -> None:
    found = objects("  - name: m\n    format: tensorflow\n    storageUri: gs://b/m\n    monitoring: {metrics: true}\n")
    config = found["ConfigMap/m-tfserving-monitoring"]
    assert "prometheus_config" in config["data"]["monitoring.config"]
    args = container(found["Deployment/m"])["args"]
    assert "--monitoring_config_file=/etc/tfserving/monitoring.config" in args


def test_artifacts_are_downloaded_by_an_init_container_or_mounted_from_a_claim() -> None:
    fetched = objects("  - name: m\n    format: sklearn\n    storageUri: hf://acme/model\n"
                      "    secretEnv: [{name: HF_TOKEN, secret: hf, key: token}]\n")["Deployment/m"]["spec"]["template"]
    (init,) = fetched["spec"]["initContainers"]
    assert init["args"] == ["hf://acme/model", "/mnt/models"]
    assert init["env"] == [{"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token"}}}]
    mounted = objects("  - name: m\n    format: onnx\n    storageUri: pvc://repo/triton/m\n")["Deployment/m"]
    pod = mounted["spec"]["template"]["spec"]
    assert "initContainers" not in pod
    assert {"name": "model", "persistentVolumeClaim": {"claimName": "repo", "readOnly": True}} in pod["volumes"]
    mount = next(m for m in container(mounted)["volumeMounts"] if m["name"] == "model")
    assert mount == {"name": "model", "mountPath": "/mnt/models", "readOnly": True, "subPath": "triton/m"}


def test_resources_gpu_env_secret_env_and_service_account() -> None:
    deployment = objects(
        "  - name: m\n    format: pytorch\n    storageUri: s3://b/m\n"
        "    resources: {cpu: 0.5, memory: 2048Mi, gpu: 1}\n    env: {B: '2', A: '1'}\n"
        "    secretEnv: [{name: TOKEN, secret: s, key: k}]\n    serviceAccount: models\n")["Deployment/m"]
    c = container(deployment)
    assert c["resources"] == {"requests": {"cpu": "500m", "memory": "2Gi"},
                              "limits": {"memory": "2Gi", "nvidia.com/gpu": "1"}}
    assert "pytorch/torchserve:0.12.0-gpu" in c["image"]
    names = [e["name"] for e in c["env"]]
    assert names == ["A", "B", "TOKEN"] and c["env"][2]["valueFrom"]["secretKeyRef"] == {"name": "s", "key": "k"}
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "models" and pod["automountServiceAccountToken"] is False
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]


def test_every_pod_meets_the_restricted_pod_security_standard() -> None:
    for spec in sorted(EXAMPLES.glob("*/serving.yaml")):
        compiled = compile_document(parse_spec(spec.read_text(), str(spec)), backend="kubernetes") \
            if "bento" not in spec.parent.name else compile_document(parse_spec(spec.read_text(), str(spec)))
        for obj in compiled.desired:
            if obj.key.kind != "Deployment":
                continue
            pod = obj.body["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True
            assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
            assert pod["securityContext"].get("runAsUser", 1) != 0
            for c in [*pod.get("initContainers", []), *pod["containers"]]:
                context = c["securityContext"]
                assert context["allowPrivilegeEscalation"] is False, obj.key
                assert context["capabilities"]["drop"] == ["ALL"]
                assert "add" not in context["capabilities"]
            allowed = {"configMap", "downwardAPI", "emptyDir", "projected", "secret", "csi",
                       "persistentVolumeClaim", "ephemeral"}
            for volume in pod.get("volumes", []):
                assert set(volume) - {"name"} <= allowed, volume


def test_canary_by_replicas_rounds_to_whole_pods_and_says_so() -> None:
    compiled = compile_models("  - name: m\n    format: xgboost\n    storageUri: s3://b/3\n"
                              "    replicas: {min: 3, max: 3}\n    canary: {storageUri: s3://b/4, traffic: 10}\n")
    found = {f"{o.key.kind}/{o.key.name}": o.body for o in compiled.desired}
    assert found["Deployment/m"]["spec"]["replicas"] == 2 and found["Deployment/m-canary"]["spec"]["replicas"] == 1
    annotations = found["Deployment/m-canary"]["metadata"]["annotations"]
    assert annotations["specc.dev/canary-traffic"] == "10"
    assert annotations["specc.dev/canary-effective-traffic"] == "33"
    # One Service in front of both tracks.
    assert found["Service/m"]["spec"]["selector"] == {"app.kubernetes.io/instance": "team-m"}
    [warning] = [w for w in compiled.warnings if w.code == "B410"]
    assert "becomes 33%" in warning.message and warning.span is not None and warning.span.line == 10


def test_canary_with_an_ingress_uses_exact_ingress_weights() -> None:
    found = objects("  - name: m\n    format: xgboost\n    storageUri: s3://b/3\n    replicas: {min: 4, max: 8}\n"
                    "    canary: {storageUri: s3://b/4, traffic: 10}\n    ingress: {host: m.example.com}\n")
    canary = found["Ingress/m-canary"]["metadata"]["annotations"]
    assert canary["nginx.ingress.kubernetes.io/canary"] == "true"
    assert canary["nginx.ingress.kubernetes.io/canary-weight"] == "10"
    assert "nginx.ingress.kubernetes.io/canary" not in found["Ingress/m"]["metadata"]["annotations"]
    assert found["Service/m"]["spec"]["selector"]["specc.dev/track"] == "stable"
    assert found["Service/m-canary"]["spec"]["selector"]["specc.dev/track"] == "canary"
    init = found["Deployment/m-canary"]["spec"]["template"]["spec"]["initContainers"][0]
    assert init["args"][0] == "s3://b/4"


def test_autoscaler_and_disruption_budget() -> None:
    found = objects("  - name: m\n    format: sklearn\n    storageUri: s3://b/m\n    replicas: {min: 2, max: 5}\n"
                    "    autoscaling: {metric: memory, target: 75}\n")
    hpa = found["HorizontalPodAutoscaler/m"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "memory", "target": {"type": "Utilization", "averageUtilization": 75}}}]
    assert "replicas" not in found["Deployment/m"]["spec"]  # the HPA owns the count
    assert found["PodDisruptionBudget/m"]["spec"]["maxUnavailable"] == 1
    fixed = objects("  - name: m\n    format: sklearn\n    storageUri: s3://b/m\n    replicas: {min: 1, max: 1}\n")
    assert "HorizontalPodAutoscaler/m" not in fixed and "PodDisruptionBudget/m" not in fixed
    assert fixed["Deployment/m"]["spec"]["replicas"] == 1


def test_older_clusters_get_the_api_versions_they_serve() -> None:
    found = objects("  - name: m\n    format: sklearn\n    storageUri: s3://b/m\n    replicas: {min: 2, max: 5}\n",
                    kube_version=(1, 20))
    assert found["HorizontalPodAutoscaler/m"]["apiVersion"] == "autoscaling/v2beta2"
    assert found["PodDisruptionBudget/m"]["apiVersion"] == "policy/v1beta1"


def test_provenance_reaches_objects_pods_and_mlserver() -> None:
    found = objects("  - name: m\n    format: sklearn\n    storageUri: s3://b/m\n"
                    "    provenance: {registry: mlflow, uri: 'models:/m/3', version: '3', runId: abc}\n")
    for obj in found.values():
        assert obj["metadata"]["annotations"]["provenance.specc.dev/uri"] == "models:/m/3"
    deployment = found["Deployment/m"]
    assert deployment["spec"]["template"]["metadata"]["annotations"]["provenance.specc.dev/run-id"] == "abc"
    env = {e["name"]: e.get("value") for e in container(deployment)["env"]}
    assert env["MLSERVER_MODEL_VERSION"] == "3"
    assert '"runId":"abc"' in env["MLSERVER_MODEL_EXTRA"]


@pytest.mark.parametrize(("models", "line", "fragment"), [
    ("  - name: m\n    format: onnx\n    engine: tfserving\n    storageUri: s3://b/m\n", 8,
     "engine 'tfserving' cannot load format 'onnx'"),
    ("  - name: m\n    format: tensorflow\n    protocol: v2\n    storageUri: s3://b/m\n", 8,
     "engine 'tfserving' speaks only protocol v1"),
    ("  - name: m\n    format: sklearn\n    storageUri: s3://b/m\n    autoscaling: {metric: rps, target: 5}\n", 9,
     "cannot scale on rps"),
    ("  - name: m\n    format: sklearn\n    storageUri: oci://r/m:1\n", 8, "cannot fetch oci://"),
    ("  - name: " + "a" * 57 + "\n    format: sklearn\n    storageUri: s3://b/m\n"
     "    canary: {storageUri: s3://b/n, traffic: 5}\n", 6, "at most 56 characters"),
])
def test_what_the_backend_cannot_serve_is_a_positioned_error(models: str, line: int, fragment: str) -> None:
    [error] = errors(models)
    assert fragment in error.message
    assert error.span is not None and error.span.line == line


def test_derived_names_must_not_collide() -> None:
    [error] = errors("  - name: m\n    format: sklearn\n    storageUri: s3://b/m\n"
                     "    canary: {storageUri: s3://b/n, traffic: 5}\n"
                     "  - name: m-canary\n    format: sklearn\n    storageUri: s3://b/o\n")
    assert error.code == "B404" and "would both create Deployment/m-canary" in error.message


def test_rendering_is_deterministic() -> None:
    models = "".join(f"  - name: m{i}\n    format: sklearn\n    storageUri: s3://b/{i}\n" for i in range(20))
    first = dump_all(o.body for o in compile_models(models).desired)
    second = dump_all(o.body for o in compile_models(models).desired)
    assert first == second
    reordered = "".join(f"  - name: m{i}\n    storageUri: s3://b/{i}\n    format: sklearn\n" for i in range(20))
    assert dump_all(o.body for o in compile_models(reordered).desired) == first


@pytest.mark.parametrize("spec", sorted(EXAMPLES.glob("*/serving.yaml")), ids=lambda p: p.parent.name)
def test_core_objects_validate_against_the_kubernetes_openapi_schema(spec: Any) -> None:
    compiled = compile_document(parse_spec(spec.read_text(), str(spec)))
    checked = 0
    for obj in compiled.desired:
        if "." in obj.key.group and not obj.key.group.endswith("k8s.io"):
            continue  # custom resources: validated against their CRDs in test_backends_crd.py
        kubernetes_validate.validate(obj.body, "1.30.0", strict=True)
        checked += 1
    assert checked or all("." in o.key.group for o in compiled.desired)
