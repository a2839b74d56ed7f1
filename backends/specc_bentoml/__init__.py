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
    StorageRef,
    Target,
)
from specc.backend_api.workload import (
    EngineContainer,
    WorkloadOptions,
    bento_container,
    serve,
    workload_problems,
)
from specc_bentoml import yatai
from specc_bentoml.common import BentoMLOptions


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
        yield from workload_problems(model, options.canary_strategy, ("options", "bentoml"))

    def compile(self, model: ModelIR, target: Target) -> Sequence[Manifest]:
        options = _options(model)
        if options.mode == "yatai":
            return yatai.compile_model(model, options)
        workload = WorkloadOptions(ingress_class=options.ingress_class_name,
                                   canary_strategy=options.canary_strategy, service_type=options.service_type,
                                   logger_image=options.logger_image)

        def container_for(track: str, storage: StorageRef | None, image: str | None) -> EngineContainer:
            assert image is not None  # the bento format runs an image, the canary's too (rules)
            return bento_container(model, image, options.run_as_user)

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


def _options(model: ModelIR) -> BentoMLOptions:
    options = model.options
    return options if isinstance(options, BentoMLOptions) else BentoMLOptions()


backend = BentoMLBackend()
