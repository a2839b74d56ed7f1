"""The engine harness itself: what it reads out of rendered objects, and what it refuses to run.

Pure checks first (no engine): the KServe pod as KServe would make it (runtime merge, placeholders, the
metrics webhook), the image facts, the environment lookup. Then one real engine that must NOT come up
(no model file where the runtime looks): the harness must report it, with the engine's log, instead of
hanging or passing.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from specc.testing.engines import (
    EngineError,
    environment_for,
    image_facts,
    load_rendered,
    rendered_engine,
    serve,
)
from specc.testing.engines.images import bento_image, mlserver_image
from specc.testing.engines.rendered import merge_runtime_container, replace_placeholders
from tests.spectext import compile_text

KSERVE_SPEC = """
apiVersion: specc.dev/v1alpha1
kind: ServingSpec
metadata: {name: h, namespace: ns}
backend: kserve
models:
  - name: churn
    format: xgboost
    storageUri: s3://models/churn/3
    env: {MLSERVER_GRPC_PORT: "9100", LOG_LEVEL: info}
    options:
      kserve: {version: "%s"}
"""


def kserve_objects(version: str) -> list[dict[str, Any]]:
    return [o.body for o in compile_text(KSERVE_SPEC % version).desired]


def test_kserve_pod_is_the_runtime_container_merged_with_the_predictor() -> None:
    objects = kserve_objects("0.20")
    engine = rendered_engine(objects, "churn", kserve_version="0.20")
    env = dict(engine.env)
    assert engine.image == "docker.io/seldonio/mlserver:1.7.1"
    assert engine.name == "kserve-container"
    # {{.Labels.modelClass}} filled from the label specc writes; the runtime's HTTP port kept; the
    # predictor's own value of a runtime variable wins (strategic merge by name).
    assert env["MLSERVER_MODEL_IMPLEMENTATION"] == "mlserver_xgboost.XGBoostModel"
    assert env["MLSERVER_HTTP_PORT"] == "8080"
    assert env["MLSERVER_GRPC_PORT"] == "9100"
    assert env["LOG_LEVEL"] == "info"
    assert engine.model_dir == "/mnt/models" and engine.storage_uri == "s3://models/churn/3"


def test_kserve_release_decides_the_mlserver_image() -> None:
    assert rendered_engine(kserve_objects("0.15"), "churn", kserve_version="0.15").image.endswith(":1.5.0")
    with pytest.raises(EngineError, match=r"no kserve-mlserver runtime recorded for KServe 0\.17"):
        rendered_engine(kserve_objects("0.20"), "churn", kserve_version="0.17")


@pytest.mark.parametrize(("annotations", "port"), [
    ({"serving.kserve.io/enable-prometheus-scraping": "true"}, 9091),
    ({"serving.kserve.io/enable-prometheus-scraping": "true",
      "serving.kserve.io/enable-metric-aggregation": "true"}, 9088),
    ({"serving.kserve.io/enable-prometheus-scraping": "false", "prometheus.io/port": "8082"}, 8082),
    ({}, None),
])
def test_kserve_metrics_webhook(annotations: dict[str, str], port: int | None) -> None:
    isvc = next(o for o in kserve_objects("0.20") if o["kind"] == "InferenceService")
    isvc = copy.deepcopy(isvc)
    isvc["metadata"]["annotations"] = {k: v for k, v in isvc["metadata"]["annotations"].items()
                                       if not k.startswith(("serving.kserve.io/enable-", "prometheus.io/"))}
    isvc["spec"]["predictor"]["annotations"] = annotations
    metrics = rendered_engine([isvc], "churn").metrics
    assert (metrics[0] if metrics else None) == port


def test_merge_concatenates_args_and_keeps_the_runtime_name() -> None:
    merged = merge_runtime_container({"name": "kserve-container", "image": "i", "args": ["--a"],
                                      "env": [{"name": "X", "value": "1"}]},
                                     {"args": ["--b"],
                                      "env": [{"name": "Y", "value": "2"}, {"name": "X", "value": "3"}]})
    assert merged == {"name": "kserve-container", "image": "i", "args": ["--a", "--b"],
                      "env": [{"name": "X", "value": "3"}, {"name": "Y", "value": "2"}]}


def test_placeholders_render_absent_keys_empty() -> None:
    container = {"env": [{"name": "A", "value": "{{.Labels.modelClass}}"}, {"name": "B", "value": "{{.Name}}"},
                         {"name": "C", "value": "{{.Annotations.missing}}"}]}
    filled = replace_placeholders(container, {"name": "m", "labels": {"modelClass": "k.M"}})
    assert [e["value"] for e in filled["env"]] == ["k.M", "m", ""]


def test_image_facts_refuse_what_they_do_not_know(tmp_path: Path) -> None:
    assert mlserver_image("docker.io/seldonio/mlserver:1.7.1-sklearn").version == "1.7.1"
    with pytest.raises(EngineError, match="is not a seldonio/mlserver"):
        mlserver_image("docker.io/seldonio/mlserver:latest")
    with pytest.raises(EngineError, match="is not a built bento"):
        bento_image(tmp_path)


def test_an_engine_version_without_an_environment_is_refused() -> None:
    spec = """
apiVersion: specc.dev/v1alpha1
kind: ServingSpec
metadata: {name: h, namespace: ns}
models:
  - name: fraud
    format: sklearn
    storageUri: s3://models/fraud/3
    options:
      kubernetes: {engineImage: "docker.io/seldonio/mlserver:1.6.0-sklearn"}
"""
    engine = rendered_engine([o.body for o in compile_text(spec).desired], "fraud")
    assert image_facts(engine, None).version == "1.6.0"
    with pytest.raises(EngineError, match=r"no tool environment pins mlserver==1\.6\.0"):
        environment_for("mlserver", "1.6.0")


def test_an_engine_that_cannot_load_its_model_is_never_ready(tmp_path: Path,
                                                             trained: Callable[[str, str], Path]) -> None:
    """MLServer 1.7.1 with no model file drops the model from its registry, answers `/v2/health/ready` with
    200 (zero models, all ready) and the model with 404, then exits with 0. The rendered readiness probe
    asks for the model, so the pod is never ready; the harness says so with the engine's log. (With the
    server-wide route as readiness probe this test passed: the harness saw 200 before the exit.)"""
    trained("mlserver", "sklearn")  # skips when the environment is not installed
    spec = """
apiVersion: specc.dev/v1alpha1
kind: ServingSpec
metadata: {name: h, namespace: ns}
models:
  - name: fraud
    format: sklearn
    storageUri: s3://models/fraud/3
"""
    objects = [o.body for o in compile_text(spec).desired]
    readiness = next(p for p in rendered_engine(objects, "fraud").probes if p.kind == "readiness")
    assert (readiness.port, readiness.path) == (8080, "/v2/models/fraud/ready")
    empty = tmp_path / "artifacts"
    empty.mkdir()  # nothing where mlserver_sklearn looks for model.joblib
    never = r"(exited with \d+ before \S+/v2/models/fraud/ready answered 200|/v2/models/fraud/ready did not answer)"
    with pytest.raises(EngineError, match=never) as raised, \
            serve(objects, "fraud", empty, timeout=20):
        pass
    assert "failed to load" in str(raised.value)


CANARY_SPEC = """
apiVersion: specc.dev/v1alpha1
kind: ServingSpec
metadata: {name: h, namespace: ns}
backend: %s
models:
  - name: pricing
    format: sklearn
    storageUri: s3://models/pricing/3
    replicas: {min: 4}
    canary: {storageUri: s3://models/pricing/4, traffic: 25}
"""


@pytest.mark.parametrize("backend", ["kubernetes", "kserve"])
def test_the_canary_track_is_its_own_engine(backend: str) -> None:
    objects = [o.body for o in compile_text(CANARY_SPEC % backend).desired]
    stable = rendered_engine(objects, "pricing")
    canary = rendered_engine(objects, "pricing", track="canary")
    assert (stable.storage_uri, canary.storage_uri) == ("s3://models/pricing/3", "s3://models/pricing/4")
    assert canary.env_value("MLSERVER_MODEL_NAME") == "pricing"
    assert "canary" in canary.origin


def test_render_output_gives_the_engine_the_compiler_gives(tmp_path: Path) -> None:
    spec = tmp_path / "serving.yaml"
    spec.write_text(KSERVE_SPEC % "0.20", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "specc", "render", str(spec)], capture_output=True, text=True,
                          timeout=120, check=True)
    from_text = rendered_engine(load_rendered(done.stdout), "churn")
    assert from_text == rendered_engine(kserve_objects("0.20"), "churn")


def test_kserve_readiness_asks_for_the_model_not_the_port() -> None:
    """Standard mode: without a probe of its own, kserve-container gets KServe's TCP readiness probe on
    8080, which MLServer passes before the model is loaded (and after it failed to load). specc's
    predictor asks MLServer for the model instead."""
    objects = kserve_objects("0.20")
    readiness = [p for p in rendered_engine(objects, "churn").probes if p.kind == "readiness"]
    assert [(p.port, p.path) for p in readiness] == [(8080, "/v2/models/churn/ready")]
    isvc = copy.deepcopy(next(o for o in objects if o["kind"] == "InferenceService"))
    del isvc["spec"]["predictor"]["model"]["readinessProbe"]
    readiness = [p for p in rendered_engine([isvc], "churn").probes if p.kind == "readiness"]
    assert [(p.port, p.path) for p in readiness] == [(8080, None)]


def test_a_port_taken_before_the_engine_binds_it_is_retried(trained: Callable[[str, str], Path],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """On a shared machine another process can take a free port between the harness's choice and the
    engine's bind (MLServer then keeps running without its HTTP server): the harness starts again."""
    import socket

    from specc.testing.engines import process

    artifacts = trained("mlserver", "sklearn")
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        real, calls = process._free_port, []

        def first_taken() -> int:
            calls.append(1)
            return taken if len(calls) == 1 else real()

        monkeypatch.setattr(process, "_free_port", first_taken)
        objects = [o.body for o in compile_text(CANARY_SPEC.replace("    canary: {storageUri: s3://models/pricing/4, "
                                                                    "traffic: 25}\n", "") % "kubernetes").desired]
        with serve(objects, "pricing", artifacts, timeout=60) as running:
            assert running.log_path.name == "engine-2.log"
            assert taken not in running.ports.values()
            assert running.get(running.url(8080, "/v2/models/pricing/ready")).status == 200


def test_a_runtime_image_runs_only_its_runtime() -> None:
    """`seldonio/mlserver:<v>-xgboost` holds the xgboost runtime only: a sklearn model on it cannot load."""
    spec = """
apiVersion: specc.dev/v1alpha1
kind: ServingSpec
metadata: {name: h, namespace: ns}
models:
  - name: fraud
    format: sklearn
    storageUri: s3://models/fraud/3
    options:
      kubernetes: {engineImage: "docker.io/seldonio/mlserver:1.7.1-%s"}
"""
    matching = rendered_engine([o.body for o in compile_text(spec % "sklearn").desired], "fraud")
    assert image_facts(matching, None).runtimes == ("mlserver_sklearn",)
    other = rendered_engine([o.body for o in compile_text(spec % "xgboost").desired], "fraud")
    with pytest.raises(EngineError, match=r"ships the runtimes \['mlserver_xgboost'\]; the container asks for "
                                          r"mlserver_sklearn\.SKLearnModel"):
        image_facts(other, None)
