"""BentoML through Yatai: a model becomes a Bento (resources.yatai.ai/v1alpha1) and a BentoDeployment
(serving.yatai.ai/v2alpha1) that the yatai-deployment controller turns into pods.

Takes a model and the backend's options; `problems` yields what a BentoDeployment cannot express and
`compile` returns the two objects. Pure.

A BentoDeployment's `bento` is the name of a Bento resource in its namespace, not a Bento tag; the
spec gives the containerized image, so the Bento is emitted too (tag from `options.bentoml.bentoTag`,
else `<last part of the image repository>:<image tag>`) and the set needs no in-cluster build.
Resources are strings (`{cpu, memory, gpu}`), autoscaling needs min and max and takes
autoscaling/v2beta2 metrics, env is a core EnvVar list. The controller builds the pods itself:
labels and annotations reach them through `extraPodMetadata`, the service account and tolerations
through `extraPodSpec`, which has no securityContext, so specc's restricted pod settings cannot be
applied. An ingress is on or off; its host comes from the controller's domain suffix.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from specc.backend_api import Manifest, ModelIR, Problem, Readiness, Severity, container_env, hpa_problems
from specc.backend_api.workload import BENTO_PORT
from specc_bentoml.common import BentoMLOptions

SERVING_GROUP, SERVING_VERSION, DEPLOYMENT_KIND = "serving.yatai.ai", "v2alpha1", "BentoDeployment"
RESOURCES_GROUP, RESOURCES_VERSION, BENTO_KIND = "resources.yatai.ai", "v1alpha1", "Bento"
# BentoML's tag parts: lowercase letters, digits, '-', '_' and '.', starting and ending alphanumeric.
TAG_PART = re.compile(r"^[a-z0-9]([-._a-z0-9]*[a-z0-9])?$")
MAX_TAG_PART = 63
IMAGE_MODE_OPTIONS = {"ingress_class_name": "ingressClassName", "service_type": "serviceType",
                      "canary_strategy": "canaryStrategy", "run_as_user": "runAsUser",
                      "logger_image": "loggerImage"}


def bento_tag(model: ModelIR, options: BentoMLOptions) -> str:
    """The Bento's tag: the option, else `<repository's last part>:<image tag, or digest prefix>`."""
    if options.bento_tag is not None:
        return options.bento_tag
    assert model.image is not None
    reference, _, digest = model.image.partition("@")
    last = reference.rsplit("/", 1)[-1]
    name, _, tag = last.partition(":")
    version = tag or (digest.split(":", 1)[-1][:16] if digest else "latest")
    return f"{name}:{version.lower()}"


def problems(model: ModelIR, options: BentoMLOptions) -> Iterator[Problem]:
    if model.inference_log is not None:
        # serving.yatai.ai BentoDeployment (v2alpha1 CRD): no logger or sidecar field, and its pods
        # are made by the yatai-deployment controller.
        yield Problem(("inferenceLog",), "a Yatai BentoDeployment has no way to log predictions: its "
                      "CRD has no logger field and its pods are made by the yatai-deployment controller",
                      "use options.bentoml.mode image (a logger sidecar), or remove inferenceLog")
    for field_name, alias in IMAGE_MODE_OPTIONS.items():
        if field_name in options.model_fields_set:
            yield Problem(("options", "bentoml", alias), f"{alias} applies to mode image; a "
                          "BentoDeployment's pods, Service and ingress are made by the yatai-deployment "
                          "controller")
    if options.bento_tag is None:
        name, _, version = bento_tag(model, options).partition(":")
        for part in (name, version):
            if not TAG_PART.match(part) or len(part) > MAX_TAG_PART:
                yield Problem(("image",), f"cannot derive a Bento tag from the image: '{part}' is not a "
                              "valid Bento tag part", "set options.bentoml.bentoTag to <name>:<version>")
                break
    if model.canary is not None:
        yield Problem(("canary",), "a BentoDeployment runs one Bento; it cannot split traffic with a canary",
                      "use options.bentoml.mode image (Deployments with an ingress or replica split)")
    if model.port is not None and model.port != BENTO_PORT:
        yield Problem(("port",), f"the yatai-deployment controller runs Bentos on port {BENTO_PORT}",
                      "remove 'port', or use options.bentoml.mode image")
    yield from hpa_problems(model, "a BentoDeployment scales with a HorizontalPodAutoscaler")
    if model.ingress is not None:
        yield Problem(("ingress",), f"a BentoDeployment's ingress takes its host from the controller's "
                      f"domain suffix; the host '{model.ingress.host}' and path are not used",
                      "use options.bentoml.mode image for an exact host", severity=Severity.WARNING)
    yield Problem(("options", "bentoml", "mode"), "a BentoDeployment has no field for pod or container "
                  "securityContext: the restricted pod security settings specc applies elsewhere are "
                  "left to the yatai-deployment controller", severity=Severity.WARNING)


def compile_model(model: ModelIR, options: BentoMLOptions) -> list[Manifest]:
    assert model.image is not None  # the bento format runs an image (rules)
    bento: Manifest = {
        "apiVersion": f"{RESOURCES_GROUP}/{RESOURCES_VERSION}",
        "kind": BENTO_KIND,
        "metadata": {"name": model.name},
        "spec": {"tag": bento_tag(model, options), "image": model.image},
    }
    autoscaling: Manifest = {"minReplicas": model.min_replicas, "maxReplicas": model.max_replicas}
    if model.max_replicas > model.min_replicas:
        metric = model.autoscaling.metric if model.autoscaling else "cpu"
        target = model.autoscaling.target if model.autoscaling else 80
        autoscaling["metrics"] = [{"type": "Resource", "resource": {
            "name": metric, "target": {"type": "Utilization", "averageUtilization": target}}}]
    spec: Manifest = {"bento": model.name, "autoscaling": autoscaling}
    resources = _resources(model)
    if resources:
        spec["resources"] = resources
    env = container_env(model)
    if env:
        spec["envs"] = env
    if model.ingress is not None:
        spec["ingress"] = {"enabled": True}
    pod_spec: Manifest = {}
    if model.service_account:
        pod_spec["serviceAccountName"] = model.service_account
    if model.resources.gpu:
        pod_spec["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    if pod_spec:
        spec["extraPodSpec"] = pod_spec
    deployment: Manifest = {
        "apiVersion": f"{SERVING_GROUP}/{SERVING_VERSION}",
        "kind": DEPLOYMENT_KIND,
        "metadata": {"name": model.name},
        "spec": spec,
    }
    return [bento, deployment]


def _resources(model: ModelIR) -> dict[str, dict[str, str]]:
    """Yatai's resources: strings, CPU requested (not limited), memory requested and limited at the
    same value, GPUs limited; the same policy as `container_resources`."""
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if model.resources.cpu:
        requests["cpu"] = model.resources.cpu
    if model.resources.memory:
        requests["memory"] = limits["memory"] = model.resources.memory
    if model.resources.gpu:
        limits["gpu"] = str(model.resources.gpu)
    out = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def readiness(obj: Manifest) -> Readiness:
    """BentoDeployment: its `Available` condition (metav1 conditions carry their own
    observedGeneration). Bento: ready once stored. A Bento with an `image` is data: yatai-image-builder
    reconciles BentoRequests, not Bentos, and yatai-deployment only reads the Bento to build the pods
    (bentoml/yatai-image-builder controllers/resources/bentorequest_controller.go, bentoml/
    yatai-deployment controllers/bentodeployment_controller.go); neither writes `Bento.status`, so
    waiting on it would never end. Whether the image runs shows in the BentoDeployment."""
    status = obj.get("status") or {}
    if obj.get("kind") == BENTO_KIND:
        return Readiness(True, "a Bento is data; the BentoDeployment's readiness covers its image")
    generation = (obj.get("metadata") or {}).get("generation")
    for cond in status.get("conditions") or []:
        if not isinstance(cond, dict) or cond.get("type") != "Available":
            continue
        observed = cond.get("observedGeneration")
        if generation is not None and observed is not None and observed < generation:
            return Readiness(False, f"waiting for the controller to observe generation {generation}")
        message = cond.get("message") or cond.get("reason") or ""
        if cond.get("status") == "True":
            return Readiness(True, message)
        return Readiness(False, f"Available={cond.get('status')}" + (f": {message}" if message else ""))
    return Readiness(False, "no Available condition yet")
