"""The `options.bentoml` model, shared by both modes.

Takes nothing; defines the options and constants. Pure.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from specc.backend_api import BackendOptions
from specc.backend_api.workload import LOGGER_IMAGE

INGRESS_CLASS = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
BENTO_TAG = r"^[a-z0-9]([-._a-z0-9]*[a-z0-9])?:[a-z0-9]([-._a-z0-9]*[a-z0-9])?$"


class BentoMLOptions(BackendOptions):
    mode: Literal["image", "yatai"] = Field(
        "image", description="image: plain Kubernetes objects that run the containerized Bento; yatai: a "
        "Bento and a BentoDeployment for the yatai-deployment controller.")
    bento_tag: Annotated[str, Field(pattern=BENTO_TAG, max_length=127)] | None = Field(
        None, alias="bentoTag", description="yatai: the Bento's tag (<name>:<version>); derived from the "
        "image when omitted.")
    ingress_class_name: Annotated[str, Field(pattern=INGRESS_CLASS, max_length=253)] | None = Field(
        None, alias="ingressClassName", description="image: the Ingress class.")
    service_type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = Field(
        "ClusterIP", alias="serviceType", description="image: the Service type.")
    canary_strategy: Literal["auto", "replicas", "ingress"] = Field(
        "auto", alias="canaryStrategy",
        description="image: how canary traffic is split: ingress weights (exact; needs an ingress) or pod "
        "counts.")
    run_as_user: Annotated[int, Field(ge=1, le=2147483647)] | None = Field(
        None, alias="runAsUser",
        description="image: numeric non-root user, if the image's is not bentoml (1034).")
    logger_image: Annotated[str, Field(pattern=r"^[^\s]+$", max_length=512)] = Field(
        LOGGER_IMAGE, alias="loggerImage",
        description="image: the inference logger sidecar (KServe's agent), e.g. from a mirror of kserve/agent.")
