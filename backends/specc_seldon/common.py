"""What Seldon Core v1 and v2 share in specc: the backend's options and small model helpers.

Takes nothing but models; defines the `options.seldon` model and pure helpers. Must not know either
version's objects (those are `core_v1` and `core_v2`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from specc.backend_api import BackendOptions

# Both versions download with rclone, whose remotes are named after the URI scheme; s3 and gs are
# the remotes Seldon's storage configuration documents.
FETCHED_SCHEMES = ("s3", "gs")
SECRET_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


class SeldonOptions(BackendOptions):
    version: Literal["v1", "v2"] = Field(
        "v1", description="v1: a SeldonDeployment (Seldon Core 1); v2: a Model, and an Experiment for a "
        "canary (Seldon Core 2).")
    run_as_user: Annotated[int, Field(ge=1, le=2147483647)] | None = Field(
        None, alias="runAsUser", description="v1: numeric non-root user of the model containers (default "
        "1000, the user of the MLServer and Triton images; TF Serving's image has none and runs as it).")
    storage_secret: Annotated[str, Field(pattern=SECRET_NAME, max_length=253)] | None = Field(
        None, alias="storageSecret",
        description="Secret with the rclone configuration for downloading the model (v1: the graph's "
        "envSecretRefName; v2: the Model's secretName).")
