"""The raw Kubernetes backend (`kubernetes`): plain Deployments that run an inference engine.

Takes one model; returns a Deployment (two with a canary), a Service, a HorizontalPodAutoscaler when
replicas may vary, a PodDisruptionBudget when at least two replicas must stay up, an Ingress when the
model asks for one, and any ConfigMap its engine needs. The engine is the one the model names or the
format's default (see `engines`). `image:` models (formats `custom` and `bento`) run that image on its
port. Imports only the backend API.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Annotated, Literal

from pydantic import Field

from specc.backend_api import (
    LAYOUT_MODEL_FILES,
    LAYOUT_TF_VERSIONS,
    LAYOUT_TORCHSERVE,
    LAYOUT_TRITON_REPOSITORY,
    Backend,
    BackendOptions,
    Manifest,
    ModelIR,
    Problem,
    Severity,
    StorageRef,
    Target,
    track_model,
)
from specc.backend_api.workload import (
    LOGGER_IMAGE,
    STORAGE_INITIALIZER_IMAGE,
    ContainerPort,
    EngineContainer,
    WorkloadOptions,
    bento_container,
    serve,
    tcp_probes,
    workload_problems,
)
from specc_kubernetes.engines import DEFAULT_ENGINE, ENGINES, engine_for

FETCHED_SCHEMES = ("s3", "gs", "https", "http", "azure", "hf")
GRPC_ENGINES = ("mlserver", "tfserving", "triton")  # engines whose Service also has a gRPC port
CUSTOM_PORT = 8080


class KubernetesOptions(BackendOptions):
    ingress_class_name: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", max_length=253)] | None = (
        Field(None, alias="ingressClassName"))
    service_type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = Field("ClusterIP", alias="serviceType")
    engine_image: Annotated[str, Field(pattern=r"^[^\s]+$", max_length=512)] | None = Field(
        None, alias="engineImage", description="Run this image instead of the engine's default.")
    storage_initializer_image: Annotated[str, Field(pattern=r"^[^\s]+$", max_length=512)] = Field(
        STORAGE_INITIALIZER_IMAGE, alias="storageInitializerImage")
    canary_strategy: Literal["auto", "replicas", "ingress"] = Field(
        "auto", alias="canaryStrategy",
        description="How canary traffic is split: ingress weights (exact; needs an ingress) or pod counts.")
    run_as_user: Annotated[int, Field(ge=1, le=2147483647)] | None = Field(
        None, alias="runAsUser", description="Numeric non-root user for images whose USER is a name.")
    logger_image: Annotated[str, Field(pattern=r"^[^\s]+$", max_length=512)] = Field(
        LOGGER_IMAGE, alias="loggerImage",
        description="The inference logger sidecar (KServe's agent), e.g. from a mirror of kserve/agent.")


class KubernetesBackend(Backend):
    name = "kubernetes"
    summary = "Raw Kubernetes: Deployment, Service, HPA, PDB, Ingress with MLServer, TF Serving, TorchServe, Triton"
    formats = frozenset({*DEFAULT_ENGINE, "bento", "custom"})
    Options = KubernetesOptions

    def check(self, model: ModelIR, target: Target) -> Iterator[Problem]:
        options = self._options(model)
        if model.image is not None:
            if model.engine is not None:
                yield Problem(("engine",), f"format '{model.format}' runs its own image; 'engine' does not apply")
            if options.engine_image is not None:
                yield Problem(("options", "kubernetes", "engineImage"),
                              "engineImage applies to engine models; an image model names its image itself")
            if model.format == "bento" and model.protocol == "v2":
                yield Problem(("protocol",), "BentoML services do not speak the Open Inference Protocol (v2)")
        else:
            engine = engine_for(model)
            if engine is None:  # format known but no engine here (e.g. huggingface)
                yield Problem(("format",), f"no engine on this backend loads format '{model.format}'",
                              "use backend kserve")
                return
            if model.format not in engine.formats:
                able = sorted(n for n, e in ENGINES.items() if model.format in e.formats)
                yield Problem(("engine",), f"engine '{engine.name}' cannot load format '{model.format}'",
                              f"engines for {model.format}: {', '.join(able)}")
            if model.protocol is not None and model.protocol not in engine.protocols:
                other = sorted(n for n, e in ENGINES.items()
                               if model.format in e.formats and model.protocol in e.protocols)
                yield Problem(("protocol",), f"engine '{engine.name}' speaks only protocol {engine.protocols[0]}",
                              f"use engine {other[0]}" if other else f"use protocol {engine.protocols[0]}")
            if model.inference_log is not None and engine.name in GRPC_ENGINES:
                yield Problem(("inferenceLog",), f"the logger sees HTTP requests only: {engine.name}'s gRPC "
                              "port on the Service is not logged", "send predictions over HTTP",
                              severity=Severity.WARNING)
            yield from self._storage(model.storage, ("storageUri",))
            if model.canary and model.canary.storage:
                yield from self._storage(model.canary.storage, ("canary", "storageUri"))
        yield from workload_problems(model, options.canary_strategy, ("options", "kubernetes"))

    def compile(self, model: ModelIR, target: Target) -> Sequence[Manifest]:
        options = self._options(model)
        workload = WorkloadOptions(
            ingress_class=options.ingress_class_name,
            storage_initializer_image=options.storage_initializer_image,
            canary_strategy=options.canary_strategy,
            service_type=options.service_type,
            logger_image=options.logger_image,
        )

        def container_for(track: str, storage: StorageRef | None, image: str | None) -> EngineContainer:
            served = track_model(model, track)  # a canary's engine reports the canary's version
            built = self._image_container(served, image) if image else self._engine_container(served, options)
            if options.run_as_user is not None:
                built = EngineContainer(**{**built.__dict__, "run_as_user": options.run_as_user})
            return built

        return serve(model, container_for, workload)

    def artifact_layout(self, model: ModelIR) -> frozenset[str] | None:
        engine = engine_for(model) if model.image is None else None
        if engine is None or model.format not in engine.formats:
            return None
        return {"mlserver": LAYOUT_MODEL_FILES, "tfserving": LAYOUT_TF_VERSIONS,
                "torchserve": LAYOUT_TORCHSERVE, "triton": LAYOUT_TRITON_REPOSITORY}[engine.name]

    @staticmethod
    def _options(model: ModelIR) -> KubernetesOptions:
        options = model.options
        return options if isinstance(options, KubernetesOptions) else KubernetesOptions()

    @staticmethod
    def _engine_container(model: ModelIR, options: KubernetesOptions) -> EngineContainer:
        engine = engine_for(model)
        assert engine is not None  # check() refused models without one
        return engine.build(model, options.engine_image or engine.image(model))

    @staticmethod
    def _image_container(model: ModelIR, image: str) -> EngineContainer:
        if model.format == "bento":
            return bento_container(model, image)
        port = model.port or CUSTOM_PORT
        container = {"name": "server", "image": image, **tcp_probes("http")}
        return EngineContainer(
            container=container, ports=(ContainerPort("http", port),),
            metrics=("http", "/metrics") if model.metrics else None, model_dir=None,
        )

    @staticmethod
    def _storage(storage: StorageRef | None, path: tuple[str, ...]) -> Iterator[Problem]:
        if storage is None or storage.scheme == "pvc" or storage.scheme in FETCHED_SCHEMES:
            return
        yield Problem(path, f"the kubernetes backend cannot fetch {storage.scheme}:// artifacts",
                      "use s3, gs, azure, https, hf or pvc; oci:// modelcars are served by backend kserve")


backend = KubernetesBackend()
