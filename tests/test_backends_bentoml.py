"""The bentoml backend: plain Kubernetes objects for a Bento image (default) or a Bento and a
BentoDeployment for Yatai, what it refuses (with the spec position), and how it reads live objects."""

from __future__ import annotations

from typing import Any

import pytest

from specc.diagnostics import Diagnostic, SpeccError
from specc.pipeline import Compiled, compile_document
from specc.registry import load_registry
from specc.source import parse_spec

from .spectext import compile_errors, compile_text

HEADER = """\
apiVersion: specc.dev/v1alpha1
kind: ServingSpec
metadata: {name: demo, namespace: ml}
backend: bentoml
models:
  - name: summarize
    format: bento
    image: registry.example.com/bentos/summarize:1.4.2
"""
YATAI = "    options: {bentoml: {mode: yatai}}\n"


def compile_model(extra: str = "") -> Compiled:
    return compile_text(HEADER + extra)


def by_kind(extra: str = "") -> dict[str, dict[str, Any]]:
    return {o.body["kind"]: o.body for o in compile_model(extra).desired}


def errors(extra: str) -> list[Diagnostic]:
    return compile_errors(HEADER + extra)


def backend() -> Any:
    return load_registry().backends["bentoml"]


def test_default_mode_runs_the_image_on_port_3000_with_bentomls_probes() -> None:
    objects = by_kind("    replicas: {min: 1, max: 3}\n    monitoring: {metrics: true}\n")
    assert set(objects) == {"Deployment", "Service", "HorizontalPodAutoscaler"}
    pod = objects["Deployment"]["spec"]["template"]
    [container] = pod["spec"]["containers"]
    assert container["image"] == "registry.example.com/bentos/summarize:1.4.2"
    assert container["ports"] == [{"name": "http", "containerPort": 3000, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {"name": "BENTOML_PORT", "value": "3000"} in container["env"]
    assert pod["metadata"]["annotations"]["prometheus.io/path"] == "/metrics"
    assert pod["spec"]["securityContext"]["runAsUser"] == 1034  # the image's bentoml user
    assert objects["Service"]["spec"]["ports"][0]["port"] == 3000


def test_default_mode_splits_a_canary_like_the_raw_backend() -> None:
    objects = compile_model("    replicas: {min: 4, max: 4}\n"
                            "    canary: {image: registry.example.com/bentos/summarize:1.5.0, traffic: 25}\n")
    deployments = {o.body["metadata"]["name"]: o.body for o in objects.desired
                   if o.body["kind"] == "Deployment"}
    assert deployments["summarize"]["spec"]["replicas"] == 3
    assert deployments["summarize-canary"]["spec"]["replicas"] == 1


def test_yatai_mode_emits_a_bento_and_a_bento_deployment() -> None:
    objects = by_kind("    replicas: {min: 1, max: 4}\n    autoscaling: {metric: cpu, target: 60}\n"
                      "    resources: {cpu: '2', memory: 4Gi, gpu: 1}\n    serviceAccount: bento-sa\n"
                      "    secretEnv: [{name: OPENAI_API_KEY, secret: llm-keys, key: openai}]\n" + YATAI)
    assert set(objects) == {"Bento", "BentoDeployment"}
    bento, deployment = objects["Bento"], objects["BentoDeployment"]
    assert bento["spec"] == {"tag": "summarize:1.4.2", "image": "registry.example.com/bentos/summarize:1.4.2"}
    spec = deployment["spec"]
    assert spec["bento"] == bento["metadata"]["name"]  # a Bento resource's name, not a tag
    assert spec["resources"] == {"requests": {"cpu": "2", "memory": "4Gi"},
                                 "limits": {"memory": "4Gi", "gpu": "1"}}
    assert all(isinstance(v, str) for part in spec["resources"].values() for v in part.values())
    assert spec["autoscaling"] == {"minReplicas": 1, "maxReplicas": 4, "metrics": [
        {"type": "Resource",
         "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}}]}
    assert spec["envs"] == [{"name": "OPENAI_API_KEY", "valueFrom": {"secretKeyRef": {"name": "llm-keys",
                                                                                      "key": "openai"}}}]
    assert spec["extraPodSpec"]["serviceAccountName"] == "bento-sa"


def test_yatai_bento_tag_from_the_option_or_the_image_digest() -> None:
    tagged = by_kind("    options: {bentoml: {mode: yatai, bentoTag: 'summarize:prod-7'}}\n")
    assert tagged["Bento"]["spec"]["tag"] == "summarize:prod-7"
    digest = "ab12" * 16
    text = HEADER.replace("summarize:1.4.2", f"summarize@sha256:{digest}") + YATAI
    compiled = compile_document(parse_spec(text, "serving.yaml"))
    [bento] = [o.body for o in compiled.desired if o.body["kind"] == "Bento"]
    assert bento["spec"]["tag"] == f"summarize:{digest[:16]}"


def test_yatai_pods_get_labels_through_extra_pod_metadata() -> None:
    deployment = by_kind(YATAI)["BentoDeployment"]
    assert deployment["spec"]["extraPodMetadata"]["labels"]["app.kubernetes.io/instance"] == "demo-summarize"
    assert backend().pod_sites(by_kind(YATAI)["Bento"]) == []


def test_yatai_ingress_is_enabled_with_a_warning_about_the_host() -> None:
    compiled = compile_model("    ingress: {host: summarize.example.com}\n" + YATAI)
    deployment = next(o.body for o in compiled.desired if o.body["kind"] == "BentoDeployment")
    assert deployment["spec"]["ingress"] == {"enabled": True}
    assert any("summarize.example.com" in w.message for w in compiled.warnings)
    assert any("securityContext" in w.message for w in compiled.warnings)


@pytest.mark.parametrize(("extra", "line", "fragment"), [
    ("    canary: {image: registry.example.com/bentos/summarize:1.5.0, traffic: 10}\n" + YATAI, 9,
     "cannot split traffic"),
    ("    port: 8080\n" + YATAI, 9, "port 3000"),
    ("    replicas: {min: 0, max: 2}\n" + YATAI, 9, "cannot scale to zero"),
    ("    autoscaling: {metric: rps, target: 5}\n" + YATAI, 9, "cannot scale on rps"),
    ("    options: {bentoml: {mode: yatai, serviceType: NodePort}}\n", 9,
     "serviceType applies to mode image"),
    ("    options: {bentoml: {bentoTag: 'a:b'}}\n", 9, "bentoTag applies to mode yatai"),
    ("    protocol: v2\n", 9, "neither v1 nor v2"),
])
def test_what_a_bento_cannot_do_is_a_positioned_error(extra: str, line: int, fragment: str) -> None:
    [error] = errors(extra)
    assert error.code == "B410" and error.span is not None and error.span.line == line, error
    assert fragment in error.message


def test_only_bentos_are_served() -> None:
    text = HEADER.replace("format: bento\n    image: registry.example.com/bentos/summarize:1.4.2",
                          "format: sklearn\n    storageUri: s3://b/m")
    with pytest.raises(SpeccError) as raised:
        compile_document(parse_spec(text, "serving.yaml"))
    assert raised.value.diagnostics[0].code == "B403"


def test_readiness_verdicts() -> None:
    bentoml = backend()
    available = {"kind": "BentoDeployment", "metadata": {"generation": 2},
                 "status": {"conditions": [{"type": "Available", "status": "True", "observedGeneration": 2}]}}
    assert bentoml.readiness(available).ready
    stale = {"kind": "BentoDeployment", "metadata": {"generation": 3},
             "status": {"conditions": [{"type": "Available", "status": "True", "observedGeneration": 2}]}}
    assert not bentoml.readiness(stale).ready
    missing = {"kind": "BentoDeployment", "status": {"conditions": [
        {"type": "BentoFound", "status": "False", "reason": "NotFound"},
        {"type": "Available", "status": "False", "reason": "Reconciling"}]}}
    verdict = bentoml.readiness(missing)
    assert not verdict.ready and not verdict.failed and "Reconciling" in verdict.message
    assert bentoml.readiness({"kind": "Bento", "status": {"ready": True}}).ready
    # No Yatai controller writes Bento.status (tests/contracts/bentoml/yatai-bento-not-waited-on):
    # a Bento without status is ready once stored, never a wait that cannot end.
    assert bentoml.readiness({"kind": "Bento", "status": {}}).ready
