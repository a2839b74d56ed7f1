"""The Seldon backend (`seldon`): Seldon Core v1 SeldonDeployments, or Seldon Core 2 Models.

Takes one model; `options.seldon.version` chooses the generation: `v1` (default) returns a
SeldonDeployment (see `core_v1`), `v2` a Model, plus a second Model and an Experiment for a canary
(see `core_v2`). Imports only the backend API. Both versions serve artifact formats only (no
`image:` models) and download them with rclone-based initializers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from specc.backend_api import (
    CANARY_TRACK,
    Backend,
    CustomKind,
    Manifest,
    ModelIR,
    PodSite,
    Problem,
    Readiness,
    Target,
)
from specc_seldon import core_v1, core_v2
from specc_seldon.common import SeldonOptions


class SeldonBackend(Backend):
    name = "seldon"
    summary = "Seldon Core v1 SeldonDeployment (prepackaged servers, v2 protocol) or Seldon Core 2 Model"
    formats = core_v1.FORMATS | core_v2.FORMATS
    kinds = (
        CustomKind(core_v1.GROUP, core_v1.VERSION, core_v1.KIND, "seldondeployments"),
        CustomKind(core_v2.GROUP, core_v2.VERSION, core_v2.MODEL_KIND, "models"),
        CustomKind(core_v2.GROUP, core_v2.VERSION, core_v2.EXPERIMENT_KIND, "experiments"),
    )
    Options = SeldonOptions

    def check(self, model: ModelIR, target: Target) -> Iterator[Problem]:
        options = _options(model)
        if options.version == "v2":
            yield from core_v2.problems(model, options)
        else:
            yield from core_v1.problems(model, options)

    def compile(self, model: ModelIR, target: Target) -> Sequence[Manifest]:
        options = _options(model)
        if options.version == "v2":
            return core_v2.compile_model(model, options)
        return core_v1.compile_model(model, options)

    def pod_sites(self, obj: Manifest) -> list[PodSite]:
        """SeldonDeployment pods are its componentSpecs (metadata and a full PodSpec each). Seldon
        Core 2 Models and Experiments have no pods: Models run inside Servers."""
        if obj.get("kind") != core_v1.KIND:
            return super().pod_sites(obj)
        sites = []
        for predictor in obj.get("spec", {}).get("predictors") or []:
            track = CANARY_TRACK if predictor.get("name") == core_v1.CANARY else None
            for component in predictor.get("componentSpecs") or []:
                meta = component.setdefault("metadata", {})
                pod = component.setdefault("spec", {})
                containers = [*pod.get("initContainers", []), *pod.get("containers", [])]
                sites.append(PodSite(meta.setdefault("labels", {}), meta.setdefault("annotations", {}), pod,
                                     containers, track))
        return sites

    def artifact_layout(self, model: ModelIR) -> frozenset[str] | None:
        if model.image is not None:
            return None
        if _options(model).version == "v2":
            return core_v2.artifact_layout(model)
        return core_v1.artifact_layout(model)

    def readiness(self, obj: Manifest) -> Readiness:
        if obj.get("kind") == core_v1.KIND:
            return core_v1.readiness(obj)
        return core_v2.readiness(obj)


def _options(model: ModelIR) -> SeldonOptions:
    options = model.options
    return options if isinstance(options, SeldonOptions) else SeldonOptions()


backend = SeldonBackend()
