"""KServe serving runtimes: which runtime serves a model, which protocols it speaks, what it needs.

Takes a model; returns facts about the runtime that will serve it. Pure; knows nothing about the
InferenceService layout. The facts are those of KServe's built-in ClusterServingRuntimes
(`config/runtimes/*.yaml`) and of its defaulting webhook (`inference_service_defaults.go`):

- A model that names an `engine` gets that engine's runtime by name (`model.runtime`), which makes
  every format the runtime lists selectable, auto-select or not (Triton's pytorch included).
- Without an engine KServe auto-selects a runtime from the format and the protocol. The protocol is
  `v1` when `protocolVersion` is unset, so v2-only runtimes (MLServer for mlflow, Triton for onnx)
  would never be found: specc always writes `protocolVersion`.
- The default protocol is v2 wherever the runtime KServe picks speaks it natively, and v1 for
  TensorFlow Serving (no v2 at all) and TorchServe (v2 needs the `kservev2` envelope in the
  model archive's config, so it is opt-in).
- With runtime `kserve-mlserver` the webhook adds the `modelClass` label (which the runtime's
  container template reads as `MLSERVER_MODEL_IMPLEMENTATION`) and the `MLSERVER_MODEL_NAME`/
  `MLSERVER_MODEL_URI` variables; with `kserve-torchserve` the `serviceEnvelope` label. specc writes
  them itself so that the stored object equals the applied one, and also when MLServer is what
  auto-selection will pick (v2 sklearn, xgboost, lightgbm, mlflow), where no webhook is known to add
  them; other runtimes ignore them.
"""

from __future__ import annotations

from dataclasses import dataclass

from specc.backend_api import (
    LAYOUT_MODEL_FILES,
    LAYOUT_TF_VERSIONS,
    LAYOUT_TORCHSERVE_KSERVE,
    LAYOUT_TRITON_REPOSITORY,
    ModelIR,
    mlserver_version_env,
)

MODEL_DIR = "/mnt/models"


@dataclass(frozen=True)
class Runtime:
    """A built-in ClusterServingRuntime that a specc `engine` names."""

    name: str
    formats: frozenset[str]
    protocols: tuple[str, ...]  # the first is the default


ENGINE_RUNTIMES: dict[str, Runtime] = {
    "mlserver": Runtime("kserve-mlserver", frozenset({"sklearn", "xgboost", "lightgbm", "mlflow"}), ("v2",)),
    "triton": Runtime("kserve-tritonserver",
                      frozenset({"onnx", "tensorflow", "pytorch", "tensorrt", "triton"}), ("v2",)),
    "tfserving": Runtime("kserve-tensorflow-serving", frozenset({"tensorflow"}), ("v1",)),
    "torchserve": Runtime("kserve-torchserve", frozenset({"pytorch"}), ("v1", "v2")),
}

# Without an engine: the protocols for which some built-in autoSelect runtime serves the format
# (the first is the default), with the runtimes KServe picks, for messages. Among runtimes that fit,
# the higher `priority` wins, so v2 sklearn/xgboost/lightgbm land on MLServer (priority 2) rather
# than KServe's own servers (priority 1), which serve v1.
AUTO_SELECTED: dict[str, tuple[tuple[str, ...], str]] = {
    "sklearn": (("v2", "v1"), "kserve-mlserver (v2) or kserve-sklearnserver (v1)"),
    "xgboost": (("v2", "v1"), "kserve-mlserver (v2) or kserve-xgbserver (v1)"),
    "lightgbm": (("v2", "v1"), "kserve-mlserver (v2) or kserve-lgbserver (v1)"),
    "mlflow": (("v2",), "kserve-mlserver (v2 only)"),
    "tensorflow": (("v1", "v2"), "kserve-tensorflow-serving (v1) or kserve-tritonserver (v2)"),
    "pytorch": (("v1", "v2"), "kserve-torchserve (v1, v2)"),
    "onnx": (("v2",), "kserve-tritonserver (v2 only)"),
    "tensorrt": (("v2",), "kserve-tritonserver (v2 only)"),
    "triton": (("v2",), "kserve-tritonserver (v2 only)"),
    "huggingface": (("v2", "v1"), "kserve-huggingfaceserver (v1, v2)"),
}

# The `modelClass` label the webhook sets for kserve-mlserver (`SetMlServerDefaults`).
MLSERVER_MODEL_CLASS = {
    "sklearn": "mlserver_sklearn.SKLearnModel",
    "xgboost": "mlserver_xgboost.XGBoostModel",
    "lightgbm": "mlserver_lightgbm.LightGBMModel",
    "mlflow": "mlserver_mlflow.MLflowRuntime",
}


def engine_runtime(model: ModelIR) -> Runtime | None:
    return ENGINE_RUNTIMES.get(model.engine) if model.engine else None


def protocols(model: ModelIR) -> tuple[str, ...]:
    """The protocols the runtime serving `model` can speak (the first is the default)."""
    runtime = engine_runtime(model)
    if runtime is not None:
        return runtime.protocols
    return AUTO_SELECTED[model.format][0] if model.format in AUTO_SELECTED else ()


def protocol(model: ModelIR) -> str:
    """The protocolVersion written for an artifact model: its own, else the runtime's default."""
    return model.protocol or protocols(model)[0]


def on_mlserver(model: ModelIR) -> bool:
    """Whether MLServer serves the model: named, or the runtime auto-selection prefers."""
    if model.engine is not None:
        return model.engine == "mlserver"
    return model.format in MLSERVER_MODEL_CLASS and protocol(model) == "v2"


def runtime_labels(model: ModelIR) -> dict[str, str]:
    """Labels the defaulting webhook adds for the runtime (see the module docstring)."""
    if on_mlserver(model):
        return {"modelClass": MLSERVER_MODEL_CLASS[model.format]}
    if model.engine == "torchserve":
        return {"serviceEnvelope": "kservev2" if protocol(model) == "v2" else "kserve"}
    return {}


def runtime_env(model: ModelIR) -> tuple[tuple[str, str], ...]:
    """Environment the named runtime needs, beyond the model's own (see the module docstring)."""
    if not on_mlserver(model):
        return ()
    env = {"MLSERVER_MODEL_NAME": model.name, "MLSERVER_MODEL_URI": MODEL_DIR}
    if model.metrics:
        # MLServer's default, written out because the scrape annotations name it: a runtime that
        # moved it would otherwise be scraped on the wrong port without any error.
        env["MLSERVER_METRICS_PORT"] = str(MLSERVER_METRICS[0])
    # MLServer returns the version as `model_version` in every response and lists it in metadata.
    env.update(mlserver_version_env(model.provenance))
    return tuple(sorted(env.items()))


def runtime_name(model: ModelIR) -> str:
    """The ClusterServingRuntime that serves an artifact model: the named engine's, else the one
    auto-selection picks for the format and protocol (highest priority among those that fit)."""
    runtime = engine_runtime(model)
    if runtime is not None:
        return runtime.name
    if on_mlserver(model):
        return "kserve-mlserver"
    speaks = protocol(model)
    if model.format in ("onnx", "tensorrt", "triton") or (model.format == "tensorflow" and speaks == "v2"):
        return "kserve-tritonserver"
    return {"tensorflow": "kserve-tensorflow-serving", "pytorch": "kserve-torchserve",
            "sklearn": "kserve-sklearnserver", "xgboost": "kserve-xgbserver",
            "lightgbm": "kserve-lgbserver", "huggingface": "kserve-huggingfaceserver"}[model.format]


MLSERVER_METRICS = (8082, "/metrics")
# Where each runtime's engine serves Prometheus metrics (port, path). MLServer serves them only on
# its metrics port 8082 (mlserver/settings.py `metrics_port`; :8080/metrics is a 404, measured with
# MLServer 1.7.1), although KServe's kserve-mlserver.yaml annotates 8080; Triton on 8002; TorchServe
# on 8082 (with `metrics_mode=prometheus` in the artifact's config.properties); KServe's own Python
# servers on their HTTP port. TF Serving exports none without a monitoring config file, which the
# runtime does not pass.
RUNTIME_METRICS: dict[str, tuple[int, str] | None] = {
    "kserve-mlserver": MLSERVER_METRICS,
    "kserve-tritonserver": (8002, "/metrics"),
    "kserve-torchserve": (8082, "/metrics"),
    "kserve-sklearnserver": (8080, "/metrics"),
    "kserve-xgbserver": (8080, "/metrics"),
    "kserve-lgbserver": (8080, "/metrics"),
    "kserve-huggingfaceserver": (8080, "/metrics"),
    "kserve-tensorflow-serving": None,
}


def metrics_endpoint(model: ModelIR) -> tuple[int, str] | None:
    return RUNTIME_METRICS[runtime_name(model)]


def artifact_layout(model: ModelIR) -> frozenset[str] | None:
    """What the runtime reads under /mnt/models (the downloaded storageUri). kserve-torchserve runs
    TorchServe with `--model-store=/mnt/models/model-store --ts-config=/mnt/models/config/
    config.properties` (kserve config/runtimes/kserve-torchserve.yaml @v0.15.0)."""
    name = runtime_name(model)
    if name == "kserve-torchserve":
        return LAYOUT_TORCHSERVE_KSERVE
    if name == "kserve-tritonserver":
        return LAYOUT_TRITON_REPOSITORY
    if name == "kserve-tensorflow-serving":
        return LAYOUT_TF_VERSIONS
    return LAYOUT_MODEL_FILES
