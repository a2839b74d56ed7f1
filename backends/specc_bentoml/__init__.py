"""The BentoML backend (`bentoml`): a containerized Bento, as plain Kubernetes objects or through Yatai.

Takes one model of format `bento` (an image built with `bentoml containerize`); returns:

- mode `image` (default): the core workload of `specc.backend_api.workload.serve`: Deployment (two
  with a canary), Service, HorizontalPodAutoscaler, PodDisruptionBudget and Ingress as the model
  asks, running the image on port 3000 (`BENTOML_PORT`) as the image's `bentoml` user, with
  BentoML's `/livez` and `/readyz` probes and Prometheus scraping of `/metrics` on the same port;
- mode `yatai`: a Bento and a BentoDeployment (see `yatai`).

BentoML services speak neither inference protocol (their API is `POST /<api name>`), so a
`protocol` is refused. Imports only the backend API.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from specc.backend_api import (
    Backend,
    CustomKind,
    Manifest,
    ModelIR,
    PodSite,
    Problem,
    Readiness,
    Severity,
    StorageRef,
    Target,
)
from specc.backend_api.workload import (
    ContainerPort,
    EngineContainer,
    WorkloadOptions,
    canary_strategy,
    effective_traffic,
    http_probes,
    serve,
    split_replicas,
)
from specc_bentoml import yatai
from specc_bentoml.common import BENTO_PORT, BENTO_UID, BentoMLOptions

MAX_NAME = 63


class BentoMLBackend(Backend):
    name = "bentoml"
    summary = "BentoML service images: Deployment/Service on port 3000, or Yatai BentoDeployment"
    formats = frozenset({"bento"})
    kinds = (
        CustomKind(yatai.RESOURCES_GROUP, yatai.RESOURCES_VERSION, yatai.BENTO_KIND, "bentoes"),
        CustomKind(yatai.SERVING_GROUP, yatai.SERVING_VERSION, yatai.DEPLOYMENT_KIND, "bentodeployments"),
    )
    Options = BentoMLOptions

    def check(self, model: ModelIR, target: Target) -> Iterator[Problem]:
        options = _options(model)
        if model.protocol is not None:
            yield Problem(("protocol",), "BentoML services speak neither v1 nor v2 (their API is "
                          "POST /<api name>)", "remove 'protocol'")
        if model.engine is not None:
            yield Problem(("engine",), "a Bento runs its own image; 'engine' does not apply")
        if options.mode == "yatai":
            yield from yatai.problems(model, options)
            return
        if "bento_tag" in options.model_fields_set:
            yield Problem(("options", "bentoml", "bentoTag"), "bentoTag applies to mode yatai")
        if model.autoscaling is not None and model.autoscaling.metric not in ("cpu", "memory"):
            yield Problem(("autoscaling", "metric"), f"a HorizontalPodAutoscaler cannot scale on "
                          f"{model.autoscaling.metric} without a custom metrics adapter", "use cpu or memory")
        if model.min_replicas == 0:
            yield Problem(("replicas", "min"), "Deployments behind an HPA cannot scale to zero",
                          "set replicas.min to 1 or more")
        if model.canary is not None:
            yield from self._canary_problems(model, options)

    @staticmethod
    def _canary_problems(model: ModelIR, options: BentoMLOptions) -> Iterator[Problem]:
        assert model.canary is not None
        limit = MAX_NAME - len("-canary")
        if len(model.name) > limit:
            yield Problem(("name",), f"with a canary the name may have at most {limit} characters "
                          f"(for '{model.name}-canary')")
        strategy = canary_strategy(model, WorkloadOptions(canary_strategy=options.canary_strategy))
        if strategy == "ingress" and model.ingress is None:
            yield Problem(("options", "bentoml", "canaryStrategy"),
                          "canaryStrategy 'ingress' needs an 'ingress' on the model")
        if strategy == "replicas" and model.min_replicas >= 1:
            stable, canary = split_replicas(model.min_replicas, model.canary.traffic)
            effective = effective_traffic(stable, canary)
            if effective != model.canary.traffic:
                yield Problem(("canary", "traffic"),
                              f"canary traffic {model.canary.traffic}% becomes {effective}% with whole pods "
                              f"({canary} canary of {stable + canary})",
                              "raise replicas.min, or declare an ingress for exact weights",
                              severity=Severity.WARNING)

    def compile(self, model: ModelIR, target: Target) -> Sequence[Manifest]:
        options = _options(model)
        if options.mode == "yatai":
            return yatai.compile_model(model, options)
        workload = WorkloadOptions(ingress_class=options.ingress_class_name,
                                   canary_strategy=options.canary_strategy, service_type=options.service_type)

        def container_for(track: str, storage: StorageRef | None, image: str | None) -> EngineContainer:
            assert image is not None  # the bento format runs an image, the canary's too (rules)
            return _bento_container(model, image, options)

        return serve(model, container_for, workload)

    def pod_sites(self, obj: Manifest) -> list[PodSite]:
        """BentoDeployment pods get labels and annotations through `extraPodMetadata`; it has no
        field for a pod or container securityContext. Bentos have no pods."""
        if obj.get("kind") == yatai.DEPLOYMENT_KIND:
            meta = obj.setdefault("spec", {}).setdefault("extraPodMetadata", {})
            return [PodSite(meta.setdefault("labels", {}), meta.setdefault("annotations", {}), None, [])]
        if obj.get("kind") == yatai.BENTO_KIND:
            return []
        return super().pod_sites(obj)

    def readiness(self, obj: Manifest) -> Readiness:
        return yatai.readiness(obj)


def _bento_container(model: ModelIR, image: str, options: BentoMLOptions) -> EngineContainer:
    port = model.port or BENTO_PORT
    container: Manifest = {"name": "bento", "image": image,
                           **http_probes("http", live="/livez", ready="/readyz")}
    return EngineContainer(
        container=container, ports=(ContainerPort("http", port),),
        # BentoML serves Prometheus metrics on its HTTP port.
        metrics=("http", "/metrics") if model.metrics else None,
        model_dir=None, run_as_user=options.run_as_user or BENTO_UID,
        env=(("BENTOML_PORT", str(port)),),
    )


def _options(model: ModelIR) -> BentoMLOptions:
    options = model.options
    return options if isinstance(options, BentoMLOptions) else BentoMLOptions()


backend = BentoMLBackend()
