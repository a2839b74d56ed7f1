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

from specc.backend_api import ModelIR, mlserver_version_env

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
    # MLServer returns the version as `model_version` in every response and lists it in metadata.
    env.update(mlserver_version_env(model.provenance))
    return tuple(sorted(env.items()))
