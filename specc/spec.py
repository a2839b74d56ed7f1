"""The `serving.yaml` contract as pydantic models: the structure of a ServingSpec.

Takes nothing; defines types. `ServingSpec.model_validate(data)` checks structure only (types, required
and unknown keys, enums, patterns, ranges) and is kept equivalent to `schemas/serving.schema.json`,
which is generated from these models (`specc schema`). Rules about meaning that need more than one
field (min <= max, unique names, name budgets, which backend serves which format) live in `rules`
and the backends, not here, so that the JSON Schema and these models accept exactly the same
documents. The data they check is the JSON data model the loader produces (no NaN, 2.0 is 2). Must
not read files or depend on a backend (it only knows the built-in backends' names, for hints).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from specc.quantity import MAX_LENGTH as QUANTITY_MAX_LENGTH
from specc.quantity import MAX_VALUE as QUANTITY_MAX_VALUE
from specc.quantity import quantity_problem

API_VERSION = "specc.dev/v1alpha1"
KIND = "ServingSpec"

FORMATS = (
    "sklearn", "xgboost", "lightgbm", "tensorflow", "pytorch", "onnx", "mlflow", "huggingface",
    "triton", "tensorrt", "bento", "custom",
)
IMAGE_FORMATS = ("bento", "custom")
ENGINES = ("mlserver", "tfserving", "torchserve", "triton")
DEFAULT_BACKEND = "kubernetes"
# The backends that ship with specc (each an installable plugin); used for hints when one is missing.
BUILTIN_BACKENDS = ("kubernetes", "kserve", "seldon", "bentoml")

# Patterns, each with the sentence a user sees when a value does not match it. They are written with
# explicit ASCII classes (no \w, \s, \d) so that pydantic's Rust engine, Python's `re` (used by the
# `jsonschema` package) and ECMA-262 (editors) read them the same way, and because the Rust engine
# takes ~50 ms at start-up to compile a Unicode `\w{0,127}`; `schema` also pins `$` to the very end of
# the text, where Python's `$` would accept a trailing newline.
DNS1035 = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS1123_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# Each label at most 63 characters (RFC 1035 2.3.4): a longer one is a name no resolver can answer.
HOSTNAME = r"^(\*\.)?[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$"
# k8s.io/apimachinery validation.IsEnvVarName and IsConfigMapKey (Secret keys): the characters below,
# and not '.', '..' or anything starting with '..' (hasChDirPrefix), written without look-ahead.
ENV_NAME = r"^([-_a-zA-Z][-._a-zA-Z0-9]*|\.[-_a-zA-Z0-9][-._a-zA-Z0-9]*)$"
SECRET_KEY = r"^([-_a-zA-Z0-9][-._a-zA-Z0-9]*|\.[-_a-zA-Z0-9][-._a-zA-Z0-9]*)$"
BACKEND_NAME = r"^[a-z][a-z0-9-]*$"
# RFC 3986 characters only: unreserved, reserved (without the IPv6 brackets, which would make
# `urlsplit` fail on an unbalanced one) and percent-escapes; anything else must be percent-encoded.
URI = r"^[a-z][a-z0-9+.-]*://[A-Za-z0-9._~:/?#@!$&'()*+,;=%-]+$"
# distribution/reference: [registry/]path[:tag][@digest]; lowercase path components.
IMAGE = (
    r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?(?::[0-9]+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-fA-F]{32,})?$"
)
# The Ingress path is emitted with pathType Prefix. ingress-nginx (strict-validate-path-type, on by
# default) accepts only `(?i)^/[[:alnum:]\.\_\-/]*$` for Prefix and Exact paths: kubernetes/ingress-nginx
# internal/ingress/inspector/rules.go `validPathType` @ 4981f3597550cfd33cd774efa3473d218cbd7722 (the
# CVE-2021-25745 class: anything else could reach the nginx configuration). `rules` adds the API
# server's own refusals ('//', '/./', '/../', a trailing '/..' or '/.').
INGRESS_PATH = r"^/[A-Za-z0-9._/-]*$"
# Text shown in annotations and terminals: no C0 or C1 control characters (ANSI escapes start with one),
# no zero-width or bidirectional-override characters (which make text read differently than it is).
PRINTABLE = r"^[^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]*$"
# Environment values may hold newlines and tabs (a PEM block), nothing else that rewrites a terminal.
ENV_VALUE = r"^[^\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]*$"
# k8s.io/apimachinery resource.Quantity, without a sign (resources are never negative), with an integer
# exponent of at most two digits (apimachinery's own parser takes only integer exponents).
QUANTITY = (
    r"^(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?[0-9]{1,2}))?$"
)
# A Kubernetes object UID as the API server writes it (a lowercase RFC 4122 UUID).
OBJECT_UID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"

PATTERN_MEANING = {
    DNS1035: "must be a DNS-1035 label: lowercase letters, digits and '-', starting with a letter and "
    "ending with a letter or digit",
    DNS1123_LABEL: "must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending "
    "with a letter or digit",
    DNS1123_SUBDOMAIN: "must be a DNS-1123 subdomain: lowercase letters, digits, '-' and '.'",
    HOSTNAME: "must be a lowercase DNS host name such as models.example.com",
    ENV_NAME: "must be an environment variable name: letters, digits, '_', '-' and '.', not starting "
    "with a digit, and not '.', '..' or starting with '..'",
    SECRET_KEY: "must be a Secret key: letters, digits, '-', '_' and '.', and not '.', '..' or starting "
    "with '..'",
    BACKEND_NAME: "must be a backend name such as kubernetes, kserve, seldon or bentoml",
    URI: "must be a URI such as s3://bucket/path, gs://bucket/path, pvc://claim/path or hf://owner/model "
    "(ASCII, no spaces: percent-encode other characters)",
    IMAGE: "must be an image reference such as registry.example.com/team/name:1.2.3 (lowercase "
    "repository, optional :tag and @sha256:digest)",
    INGRESS_PATH: "must be an absolute URL path of letters, digits, '/', '.', '_' and '-' (what "
    "ingress-nginx accepts for a Prefix path)",
    PRINTABLE: "must not contain control, zero-width or bidirectional-override characters",
    ENV_VALUE: "must not contain control characters other than tab and newline, zero-width or "
    "bidirectional-override characters",
    QUANTITY: "must be a Kubernetes quantity such as 500m, 2, 1.5, 512Mi or 4Gi",
    OBJECT_UID: "must be a Kubernetes UID as the API server writes it: a lowercase UUID such as "
    "0f6c1d2e-8a4b-4c3d-9e5f-a1b2c3d4e5f6 (kubectl get namespace kube-system -o jsonpath='{.metadata.uid}')",
}

_QUANTITY_RE = re.compile(QUANTITY)


def _quantity(value: Any) -> str:
    """Accept 2, 0.5 or "512Mi" (YAML users write numbers unquoted); always return the string form.

    Numbers are accepted when they are not negative, exactly as the JSON Schema's `minimum: 0` says; the
    loader has already refused NaN and infinity, which JSON cannot hold."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise PydanticCustomError("quantity_type", "expected a quantity (a string or a number), got {kind}",
                                  {"kind": type(value).__name__})
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        if len(value) > QUANTITY_MAX_LENGTH or not _QUANTITY_RE.fullmatch(value):
            # Bounded first: the pattern is linear, but a quantity of thousands of digits is never meant.
            refusal = quantity_problem(value) or PATTERN_MEANING[QUANTITY]
            raise PydanticCustomError("quantity", "'{value}' " + refusal, {"value": shown})
        problem = quantity_problem(value)
        if problem is not None:
            raise PydanticCustomError("quantity", "'{value}' " + problem, {"value": shown})
        return value
    if not value >= 0:  # also false for NaN
        raise PydanticCustomError("quantity", "'{value}' must not be negative", {"value": repr(value)})
    if value > QUANTITY_MAX_VALUE:
        raise PydanticCustomError("quantity", "{value} is larger than Kubernetes can store (2^63-1)",
                                  {"value": f"{value:.3g}"})
    text = repr(value)
    return text[:-2] if text.endswith(".0") else text


Quantity = Annotated[
    str,
    PlainValidator(_quantity),
    WithJsonSchema({
        "anyOf": [
            {"type": "string", "pattern": QUANTITY, "maxLength": QUANTITY_MAX_LENGTH},
            {"type": "number", "minimum": 0, "maximum": QUANTITY_MAX_VALUE},
        ],
        "description": "A Kubernetes quantity: 500m, 2, 1.5, 512Mi, 4Gi. Numbers may be unquoted.",
    }),
]


def _str(pattern: str, *, max_length: int | None = None, description: str | None = None) -> Any:
    return Field(pattern=pattern, max_length=max_length, description=description)


class Strict(BaseModel):
    """Base of every spec model: strict types, unknown keys forbidden, immutable, camelCase keys."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, populate_by_name=False,
                              hide_input_in_errors=True)

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # An optional key is either absent or has a value: `resources:` with nothing under it is
        # almost always a mistake, and forbidding null keeps the JSON Schema's oneOf rules exact.
        if value is None:
            raise PydanticCustomError("null_value", "is empty (null): give it a value or remove the key")
        return value


class ClusterPin(Strict):
    uid: Annotated[str, _str(OBJECT_UID, max_length=36, description=(
        "UID of the kube-system namespace of the only cluster this spec may be applied to "
        "(kubectl get namespace kube-system -o jsonpath='{.metadata.uid}'); apply and destroy refuse any other."))]


class Metadata(Strict):
    name: Annotated[str, _str(DNS1123_LABEL, max_length=63,
                              description="Name of this set of objects: ownership, ApplySet, lock.")]
    namespace: Annotated[str, _str(DNS1123_LABEL, max_length=63, description="Target namespace.")]
    cluster: ClusterPin | None = Field(None, description="Pin the spec to one cluster (checked before any write).")


class Replicas(Strict):
    min: Annotated[int, Field(ge=0, le=1000)] | None = None
    max: Annotated[int, Field(ge=1, le=1000)] | None = None


class Autoscaling(Strict):
    metric: Literal["cpu", "memory", "concurrency", "rps"] = "cpu"
    target: Annotated[int, Field(ge=1, le=100000, description=(
        "Utilization percent for cpu/memory; requests in flight per pod for concurrency; "
        "requests per second per pod for rps."))]


class Resources(Strict):
    cpu: Quantity | None = None
    memory: Quantity | None = None
    gpu: Annotated[int, Field(ge=0, le=64, description="NVIDIA GPUs (nvidia.com/gpu).")] | None = None


class SecretEnv(Strict):
    name: Annotated[str, _str(ENV_NAME, max_length=253)]
    secret: Annotated[str, _str(DNS1123_SUBDOMAIN, max_length=253)]
    key: Annotated[str, _str(SECRET_KEY, max_length=253)]


EnvName = Annotated[str, Field(pattern=ENV_NAME, max_length=253)]
# pydantic describes a constrained key as `patternProperties`, which lets keys that do not match
# through unchecked; `propertyNames` constrains every key, as the model does.
EnvMap = Annotated[
    dict[EnvName, Annotated[str, Field(pattern=ENV_VALUE, max_length=32768)]],
    WithJsonSchema({
        "type": "object",
        "description": "Environment variables: NAME: value (values are strings; quote numbers).",
        "propertyNames": {"pattern": ENV_NAME, "maxLength": 253},
        "additionalProperties": {"type": "string", "pattern": ENV_VALUE, "maxLength": 32768},
    }),
]
OptionsMap = dict[Annotated[str, Field(pattern=BACKEND_NAME)], dict[str, Any]]
StorageUri = Annotated[str, _str(URI, max_length=2048, description="Where the model artifacts live.")]
Image = Annotated[str, _str(IMAGE, max_length=512, description="A serving image to run instead.")]


class RegistryRef(Strict):
    """A model registry entry that `plan`, `apply` and `render` resolve to artifacts and provenance
    (like a Terraform data source); `validate` never contacts the registry."""

    provider: Annotated[str, _str(DNS1123_LABEL, max_length=63, description=(
        "The registry plugin that resolves it: mlflow (built in), or any installed `specc.registries` "
        "plugin."))]
    model: Annotated[str, Field(min_length=1, max_length=256, pattern=PRINTABLE,
                                description="The registered model's name.")]
    alias: Annotated[str, Field(min_length=1, max_length=255, pattern=PRINTABLE, description=(
        "Resolve the version this alias points to when planning (e.g. champion)."))] | None = None
    version: Annotated[str, Field(min_length=1, max_length=64, pattern=PRINTABLE, description=(
        "Resolve this exact version (a string: quote numbers)."))] | None = None
    tracking_uri: Annotated[str, _str(URI, max_length=2048, description=(
        "The registry's address; default $MLFLOW_TRACKING_URI. No credentials: use "
        "MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD."))] | None = Field(
        None, alias="trackingUri")

    @model_validator(mode="after")
    def _one_selector(self) -> RegistryRef:
        if (self.alias is None) == (self.version is None):
            raise PydanticCustomError("registry_selector", "a registry reference needs exactly one of "
                                      "'alias' or 'version'")
        return self

    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": ["alias"]},
                                                          {"required": ["version"]}]})


# A model, and a canary, take its artifacts from exactly one of these.
SOURCE_KEYS = ("storageUri", "image", "registry")
_ONE_SOURCE: dict[str, Any] = {"oneOf": [{"required": [key]} for key in SOURCE_KEYS]}


def _count_sources(*values: object) -> int:
    return sum(value is not None for value in values)


class Canary(Strict):
    storage_uri: StorageUri | None = Field(None, alias="storageUri")
    image: Image | None = None
    registry: RegistryRef | None = None
    traffic: Annotated[int, Field(ge=0, le=100, description="Percent of requests sent to the canary.")]
    provenance: Provenance | None = Field(None, description=(
        "The canary's own registry entry; without one the canary's objects carry no provenance."))

    @model_validator(mode="after")
    def _one_source(self) -> Canary:
        if _count_sources(self.storage_uri, self.image, self.registry) != 1:
            raise PydanticCustomError("one_of", "a canary needs exactly one of 'storageUri', 'image' or "
                                      "'registry'")
        return self

    model_config = ConfigDict(json_schema_extra=_ONE_SOURCE)


class Ingress(Strict):
    host: Annotated[str, _str(HOSTNAME, max_length=253)]
    path: Annotated[str, _str(INGRESS_PATH, max_length=1024)] = "/"


class Monitoring(Strict):
    metrics: bool = True


class Provenance(Strict):
    registry: Annotated[str, _str(DNS1123_LABEL, max_length=63,
                                  description="The model registry: mlflow, wandb, sagemaker, vertex...")]
    uri: Annotated[str, _str(PRINTABLE, max_length=1024, description="The model's registry URI.")]
    version: Annotated[str, _str(PRINTABLE, max_length=253)] | None = None
    run_id: Annotated[str, _str(PRINTABLE, max_length=253)] | None = Field(None, alias="runId")


# The provenance fields an inference log can carry, in the spec's own spelling.
PROVENANCE_FIELDS = ("registry", "uri", "version", "runId")
# A CloudEvents sink: http or https with a host; ASCII only, like storage URIs.
SINK_URL = r"^https?://[A-Za-z0-9._~:/?#@!$&'()*+,;=%-]+$"
PATTERN_MEANING[SINK_URL] = ("must be an http:// or https:// URL of a CloudEvents sink (ASCII, no spaces: "
                             "percent-encode other characters)")


class InferenceLog(Strict):
    """Log each prediction (request and/or response) to a CloudEvents sink, with the model's provenance."""

    enabled: bool | None = Field(None, description="false turns off a log inherited from defaults.")
    url: Annotated[str, Field(pattern=SINK_URL, max_length=2048)] | None = Field(None, description=(
        "The CloudEvents sink (http or https). Without it KServe and Seldon Core v1 use their "
        "configured default; Seldon Core 2 logs through its Kafka pipeline and takes none."))
    mode: Literal["all", "request", "response"] | None = Field(None, description=(
        "What is logged: all (default), request or response."))
    percent: Annotated[int, Field(ge=1, le=100, description=(
        "Percent of predictions logged (sampling), where the backend can sample; default 100."))] | None = None
    provenance: Annotated[list[Literal["registry", "uri", "version", "runId"]], Field(max_length=4)] | None = (
        Field(None, description="The provenance fields sent with every logged prediction (default: all)."))


class Settings(Strict):
    """Fields a model may take from `defaults`."""

    protocol: Literal["v1", "v2"] | None = None
    replicas: Replicas | None = None
    autoscaling: Autoscaling | None = None
    resources: Resources | None = None
    env: EnvMap | None = None
    secret_env: list[SecretEnv] | None = Field(None, alias="secretEnv")
    service_account: Annotated[str, _str(DNS1123_SUBDOMAIN, max_length=253)] | None = Field(
        None, alias="serviceAccount")
    monitoring: Monitoring | None = None
    inference_log: InferenceLog | None = Field(None, alias="inferenceLog")
    options: OptionsMap | None = Field(None, description=(
        "Backend-specific settings, keyed by backend name and validated by that backend."))


class Defaults(Settings):
    """Merged into every model unless the model sets the field itself."""


class Model(Settings):
    name: Annotated[str, _str(DNS1035, max_length=63)]
    format: Literal[
        "sklearn", "xgboost", "lightgbm", "tensorflow", "pytorch", "onnx", "mlflow", "huggingface",
        "triton", "tensorrt", "bento", "custom",
    ]
    storage_uri: StorageUri | None = Field(None, alias="storageUri")
    image: Image | None = None
    registry: RegistryRef | None = None
    port: Annotated[int, Field(ge=1, le=65535, description="The port an image: model serves on.")] | None = (
        None)
    engine: Literal["mlserver", "tfserving", "torchserve", "triton"] | None = None
    canary: Canary | None = None
    ingress: Ingress | None = None
    provenance: Provenance | None = None
    backend: Annotated[str, _str(BACKEND_NAME, max_length=63)] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Model:
        if _count_sources(self.storage_uri, self.image, self.registry) != 1:
            raise PydanticCustomError("one_of", "a model needs exactly one of 'storageUri', 'image' or "
                                      "'registry'")
        return self

    model_config = ConfigDict(json_schema_extra=_ONE_SOURCE)


class ServingSpec(Strict):
    api_version: Literal["specc.dev/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["ServingSpec"]
    metadata: Metadata
    backend: Annotated[str, _str(BACKEND_NAME, max_length=63)] | None = Field(
        None, description="Default backend for every model (kubernetes when omitted).")
    defaults: Defaults | None = None
    models: Annotated[list[Model], Field(min_length=1, max_length=2000)]
