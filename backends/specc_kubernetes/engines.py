"""Inference engines for the raw Kubernetes backend: each one's real image, command, ports, probes.

Takes a model (and the track's artifact location); returns an `EngineContainer`. Pure. The facts
(images, ports, health routes, flags) are those of the engines' own images and docs:

- MLServer (Seldon): `seldonio/mlserver:<v>-<runtime>`; HTTP 8080, gRPC 8081, metrics 8082; OIP v2;
  liveness `/v2/health/live`, readiness `/v2/models/<name>/ready` (not `/v2/health/ready`, which answers
  200 with zero models once the one that failed to load is dropped from the registry: measured with
  MLServer 1.7.1, tests/engines/test_harness.py); configured by `MLSERVER_*` / `MLSERVER_MODEL_*`
  environment variables, which also carry the model's registry version and provenance
  (`MLSERVER_MODEL_VERSION` is returned as `model_version` in every inference response).
- TensorFlow Serving: `tensorflow/serving:<v>[-gpu]`; gRPC 8500, REST 8501; TF Serving's own REST API
  (`/v1/models/<name>:predict`), no OIP; no health route, so readiness asks for the model's status
  and liveness is a TCP check; Prometheus metrics only with a monitoring config file.
- TorchServe: `pytorch/torchserve:<v>-cpu|-gpu`; inference 8080, management 8081, metrics 8082;
  `GET /ping`; token authorization is on by default in recent releases, and is turned off here
  exactly as the official image's entrypoint does (`--disable-token-auth`), because access control
  belongs to the Service/Ingress layer. specc's own config.properties (a ConfigMap) turns on
  Prometheus metrics and `TS_*` variables; the archives are read from `<storageUri>/model-store/`,
  KServe's layout.
- Triton: `nvcr.io/nvidia/tritonserver:<yy.mm>-py3`; HTTP 8000, gRPC 8001, metrics 8002; OIP v2;
  `/v2/health/live`, `/v2/health/ready`. The storageUri must be a Triton model repository.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from specc.backend_api import Manifest, ModelIR, mlserver_version_env
from specc.backend_api.workload import (
    MODEL_DIR,
    ContainerPort,
    EngineContainer,
    http_probes,
    tcp_probes,
)

MLSERVER_VERSION = "1.7.1"
TFSERVING_VERSION = "2.19.0"
TORCHSERVE_VERSION = "0.12.0"
TRITON_VERSION = "25.01"
NON_ROOT_UID = 1000

MLSERVER_IMPLEMENTATIONS = {
    "sklearn": "mlserver_sklearn.SKLearnModel",
    "xgboost": "mlserver_xgboost.XGBoostModel",
    "lightgbm": "mlserver_lightgbm.LightGBMModel",
    "mlflow": "mlserver_mlflow.MLflowRuntime",
}


@dataclass(frozen=True)
class Engine:
    """An inference engine: the formats it loads, the protocols it speaks, and how to run it."""

    name: str
    formats: frozenset[str]
    protocols: tuple[str, ...]  # the first is the default
    image: Callable[[ModelIR], str]
    build: Callable[[ModelIR, str], EngineContainer]  # (model, image)


def _mlserver_image(model: ModelIR) -> str:
    return f"docker.io/seldonio/mlserver:{MLSERVER_VERSION}-{model.format}"


def _mlserver(model: ModelIR, image: str) -> EngineContainer:
    env = {
        "MLSERVER_HTTP_PORT": "8080",
        "MLSERVER_GRPC_PORT": "8081",
        "MLSERVER_METRICS_PORT": "8082",
        "MLSERVER_MODELS_DIR": MODEL_DIR,
        "MLSERVER_MODEL_NAME": model.name,
        "MLSERVER_MODEL_IMPLEMENTATION": MLSERVER_IMPLEMENTATIONS[model.format],
        "MLSERVER_MODEL_URI": MODEL_DIR,
        "MLSERVER_MODEL_PLATFORM": model.format,
        "MLSERVER_LOAD_MODELS_AT_STARTUP": "true",
    }
    if model.provenance is not None:
        env.update(mlserver_version_env(model.provenance))
        provenance = {"registry": model.provenance.registry, "uri": model.provenance.uri}
        if model.provenance.version:
            provenance["version"] = model.provenance.version
        if model.provenance.run_id:
            provenance["runId"] = model.provenance.run_id
        env["MLSERVER_MODEL_EXTRA"] = json.dumps({"provenance": provenance}, sort_keys=True, separators=(",", ":"))
    ports = [ContainerPort("http", 8080), ContainerPort("grpc", 8081)]
    if model.metrics:
        ports.append(ContainerPort("metrics", 8082))
    container: Manifest = {
        "name": "mlserver",
        "image": image,
        # The image's own command runs `mlserver start $MLSERVER_MODELS_DIR`; with no
        # model-settings.json there, MLServer loads the one model the MLSERVER_MODEL_* variables describe.
        # Ready means this model is loaded: MLServer's server-wide route answers 200 when its only model
        # failed to load and was removed, and a pod ready then takes traffic it answers with 404.
        **http_probes("http", live="/v2/health/live", ready=f"/v2/models/{model.name}/ready"),
    }
    return EngineContainer(
        container=container, ports=tuple(ports),
        metrics=("metrics", "/metrics") if model.metrics else None,
        run_as_user=NON_ROOT_UID, env=tuple(sorted(env.items())),
    )


def _tfserving_image(model: ModelIR) -> str:
    return f"docker.io/tensorflow/serving:{TFSERVING_VERSION}" + ("-gpu" if model.resources.gpu else "")


TFSERVING_MONITORING = 'prometheus_config {\n  enable: true\n  path: "/monitoring/prometheus/metrics"\n}\n'


def _tfserving(model: ModelIR, image: str) -> EngineContainer:
    args = [
        "--port=8500",
        "--rest_api_port=8501",
        f"--model_name={model.name}",
        f"--model_base_path={MODEL_DIR}",
    ]
    objects: tuple[Manifest, ...] = ()
    volumes: tuple[Manifest, ...] = ()
    mounts: tuple[Manifest, ...] = ()
    if model.metrics:
        config_name = f"{model.name}-tfserving-monitoring"
        args.append("--monitoring_config_file=/etc/tfserving/monitoring.config")
        objects = ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": config_name},
                    "data": {"monitoring.config": TFSERVING_MONITORING}},)
        volumes = ({"name": "tfserving-config", "configMap": {"name": config_name}},)
        mounts = ({"name": "tfserving-config", "mountPath": "/etc/tfserving", "readOnly": True},)
    probes = tcp_probes("grpc")
    probes["readinessProbe"] = {"httpGet": {"path": f"/v1/models/{model.name}", "port": "http"},
                                "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 3}
    container: Manifest = {
        "name": "tfserving",
        "image": image,
        "command": ["tensorflow_model_server"],
        "args": args,
        **probes,
    }
    ports = (ContainerPort("grpc", 8500), ContainerPort("http", 8501))
    return EngineContainer(
        container=container, ports=ports,
        # TF Serving serves Prometheus metrics on its REST port.
        metrics=("http", "/monitoring/prometheus/metrics") if model.metrics else None,
        run_as_user=NON_ROOT_UID, objects=objects, volumes=volumes, mounts=mounts,
    )


def _torchserve_image(model: ModelIR) -> str:
    return f"docker.io/pytorch/torchserve:{TORCHSERVE_VERSION}-" + ("gpu" if model.resources.gpu else "cpu")


TORCHSERVE_MODEL_STORE = f"{MODEL_DIR}/model-store"
TORCHSERVE_CONFIG_DIR = "/etc/torchserve"


def torchserve_config(model: ModelIR) -> str:
    """config.properties for TorchServe (pytorch/serve v0.12.0 ConfigManager.java): listen on every
    address (the defaults are 127.0.0.1, which a Service cannot reach), Prometheus metrics
    (`metrics_mode` defaults to `log`, so `:8082/metrics` would be empty), `TS_*` environment
    variables honoured (ignored unless `enable_envvars_config=true`), every archive of the model
    store loaded, no token authorization (access control belongs to the Service/Ingress)."""
    lines = [
        "inference_address=http://0.0.0.0:8080",
        "management_address=http://0.0.0.0:8081",
        "metrics_address=http://0.0.0.0:8082",
        "metrics_mode=prometheus",
        "enable_envvars_config=true",
        f"model_store={TORCHSERVE_MODEL_STORE}",
        "load_models=all",
        "disable_token_authorization=true",
    ]
    return "\n".join(lines) + "\n"


def _torchserve(model: ModelIR, image: str) -> EngineContainer:
    # The artifact layout is KServe's (kserve-torchserve): <storageUri>/model-store/*.mar next to
    # <storageUri>/config/config.properties, so one artifact serves on both backends. The config
    # there is KServe's wrapper's (its ports are the wrapper's, not TorchServe's own), so this
    # backend reads only model-store/ and brings its own config.
    config_name = f"{model.name}-torchserve-config"
    container: Manifest = {
        "name": "torchserve",
        "image": image,
        "command": ["torchserve"],
        "args": [
            "--start", "--foreground",
            f"--ts-config={TORCHSERVE_CONFIG_DIR}/config.properties",
            f"--model-store={TORCHSERVE_MODEL_STORE}",
            "--models=all",
            "--disable-token-auth",
            "--ncs",
        ],
        **http_probes("http", live="/ping", ready="/ping"),
    }
    ports = [ContainerPort("http", 8080), ContainerPort("management", 8081)]
    if model.metrics:
        ports.append(ContainerPort("metrics", 8082))
    return EngineContainer(
        container=container, ports=tuple(ports),
        metrics=("metrics", "/metrics") if model.metrics else None,
        run_as_user=NON_ROOT_UID,
        objects=({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": config_name},
                  "data": {"config.properties": torchserve_config(model)}},),
        volumes=({"name": "torchserve-config", "configMap": {"name": config_name}},),
        mounts=({"name": "torchserve-config", "mountPath": TORCHSERVE_CONFIG_DIR, "readOnly": True},),
        # TorchServe unpacks model archives and writes logs under the user's home.
        scratch=("/tmp", "/home/model-server/logs"),
    )


def _triton_image(model: ModelIR) -> str:
    return f"nvcr.io/nvidia/tritonserver:{TRITON_VERSION}-py3"


def _triton(model: ModelIR, image: str) -> EngineContainer:
    container: Manifest = {
        "name": "triton",
        "image": image,
        "command": ["tritonserver"],
        "args": [
            f"--model-repository={MODEL_DIR}",
            "--http-port=8000",
            "--grpc-port=8001",
            "--metrics-port=8002",
            f"--allow-metrics={'true' if model.metrics else 'false'}",
        ],
        **http_probes("http", live="/v2/health/live", ready="/v2/health/ready"),
    }
    ports = [ContainerPort("http", 8000), ContainerPort("grpc", 8001)]
    if model.metrics:
        ports.append(ContainerPort("metrics", 8002))
    return EngineContainer(
        container=container, ports=tuple(ports),
        metrics=("metrics", "/metrics") if model.metrics else None,
        run_as_user=NON_ROOT_UID,
    )


ENGINES: dict[str, Engine] = {
    "mlserver": Engine("mlserver", frozenset({"sklearn", "xgboost", "lightgbm", "mlflow"}), ("v2",),
                       _mlserver_image, _mlserver),
    "tfserving": Engine("tfserving", frozenset({"tensorflow"}), ("v1",), _tfserving_image, _tfserving),
    "torchserve": Engine("torchserve", frozenset({"pytorch"}), ("v1",), _torchserve_image, _torchserve),
    "triton": Engine("triton", frozenset({"onnx", "tensorflow", "pytorch", "tensorrt", "triton"}), ("v2",),
                     _triton_image, _triton),
}

DEFAULT_ENGINE = {
    "sklearn": "mlserver", "xgboost": "mlserver", "lightgbm": "mlserver", "mlflow": "mlserver",
    "tensorflow": "tfserving", "pytorch": "torchserve",
    "onnx": "triton", "tensorrt": "triton", "triton": "triton",
}


def engine_for(model: ModelIR) -> Engine | None:
    """The engine a model runs on: the one it names, else the format's default (None for images)."""
    name = model.engine or DEFAULT_ENGINE.get(model.format)
    return ENGINES.get(name) if name else None
