"""Inference logging against the real API server: the logger sidecar and the KServe logger are stored
as specc sends them (an apply is followed by an empty plan: nothing pruned, no server defaults shown),
and `specc plan` warns (W810) when applying would turn a model's logging off."""

from __future__ import annotations

from pathlib import Path

import pytest

from specc.cluster import Cluster, Resource

from .test_plan_apply import SPECS, apply, on, specc

DEPLOYMENTS = Resource("apps", "v1", "Deployment", "deployments", True)
ISVCS = Resource("serving.kserve.io", "v1beta1", "InferenceService", "inferenceservices", True)


def test_logged_models_apply_then_plan_is_empty_and_turning_logging_off_warns(
        capsys: pytest.CaptureFixture[str], kubeconfig: Path, namespace: str, cluster: Cluster) -> None:
    apply(capsys, kubeconfig, namespace, "inference-logged.yaml")
    ranker = cluster.get(DEPLOYMENTS, namespace, "ranker")
    assert ranker is not None
    containers = {c["name"]: c for c in ranker["spec"]["template"]["spec"]["containers"]}
    assert containers["logger"]["image"] == "kserve/agent:v0.20.0"
    isvc = cluster.get(ISVCS, namespace, "fraud")
    assert isvc is not None
    assert isvc["spec"]["predictor"]["logger"]["metadataAnnotations"] == [
        "provenance.specc.dev/registry", "provenance.specc.dev/uri", "provenance.specc.dev/version"]

    code, out, _ = specc(capsys, "plan", str(SPECS / "inference-logged.yaml"), *on(kubeconfig, namespace),
                         "--detailed-exitcode")
    assert code == 0, out
    assert "No changes." in out and "inference logging" not in out

    code, out, _ = specc(capsys, "plan", str(SPECS / "inference-logged-off.yaml"), *on(kubeconfig, namespace),
                         "--detailed-exitcode", "--no-color")
    assert code == 2, out
    assert ("Warning: model ranker: inference logging to http://sink.logging.svc.cluster.local/ is turned "
            "off (the model stops logging)") in out
    assert "fraud: inference logging" not in out
    assert '- spec.template.spec.containers[name=logger].image = "kserve/agent:v0.20.0"' in out
