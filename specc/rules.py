"""Rules about meaning that the schema cannot express, checked on a structurally valid spec.

Takes the `ServingSpec` and the lowered models; yields `(code, path, message, hint, severity)` as
`Finding`s with spec paths (positions are attached by `validate`). Pure; must not know a backend's
objects (backend-specific limits are the backends' `check` hooks).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from specc.diagnostics import Path, Severity, did_you_mean
from specc.ir import ModelIR, StorageRef
from specc.lower import origin
from specc.spec import DNS1123_LABEL, IMAGE_FORMATS, ServingSpec

# Schemes some backend can fetch; which backend fetches which is the backends' own check.
KNOWN_SCHEMES = ("s3", "gs", "pvc", "hf", "https", "http", "oci", "azure")
MAX_LABEL = 63


@dataclass(frozen=True)
class Finding:
    code: str
    path: Path
    message: str
    hint: str | None = None
    severity: Severity = Severity.ERROR


def check_spec(spec: ServingSpec, models: dict[int, ModelIR]) -> Iterator[Finding]:
    """Every rule, over the models that lowered (`models` maps spec index -> model)."""
    yield from _unique_names(spec)
    for index, model in sorted(models.items()):
        yield from _model_rules(spec, index, model)


def _unique_names(spec: ServingSpec) -> Iterator[Finding]:
    first: dict[str, int] = {}
    for index, model in enumerate(spec.models):
        if model.name in first:
            yield Finding("R302", ("models", index, "name"),
                          f"model name '{model.name}' is already used by models[{first[model.name]}]",
                          "model names must be unique: they name the model's Kubernetes objects")
        else:
            first[model.name] = index


def _model_rules(spec: ServingSpec, index: int, model: ModelIR) -> Iterator[Finding]:
    def at(*relative: str | int) -> Path:
        return origin(spec, index, relative)

    if model.min_replicas > model.max_replicas:
        yield Finding("R301", at("replicas"),
                      f"replicas.min ({model.min_replicas}) is greater than replicas.max ({model.max_replicas})")
    instance = f"{model.spec_name}-{model.name}"
    if len(instance) > MAX_LABEL:
        yield Finding("R303", ("models", index, "name"),
                      f"'{instance}' (metadata.name-model name) is {len(instance)} characters; label "
                      f"values are limited to {MAX_LABEL}",
                      f"shorten the model name to at most {MAX_LABEL - len(model.spec_name) - 1} characters")
    wants_image = model.format in IMAGE_FORMATS
    if wants_image and model.image is None:
        yield Finding("R305", ("models", index, "storageUri"),
                      f"format '{model.format}' runs a serving image: use 'image', not 'storageUri'")
    if not wants_image and model.image is not None:
        yield Finding("R305", ("models", index, "image"),
                      f"format '{model.format}' is served from model artifacts: use 'storageUri', "
                      "or format 'custom' (or 'bento') to run a serving image")
    if model.port is not None and model.image is None:
        yield Finding("R311", ("models", index, "port"), "'port' applies only to models that run an 'image'")
    if model.storage is not None:
        yield from _storage_rules(model.storage, ("models", index, "storageUri"))
    if model.canary is not None:
        canary_path: Path = ("models", index, "canary")
        if model.canary.storage is not None:
            yield from _storage_rules(model.canary.storage, (*canary_path, "storageUri"))
        if (model.canary.image is None) != (model.image is None):
            own = "image" if model.image is not None else "storageUri"
            yield Finding("R308", canary_path,
                          f"the model uses '{own}', so its canary must use '{own}' too")
        if model.canary.storage and model.storage and model.canary.storage.uri == model.storage.uri:
            yield Finding("R308", (*canary_path, "storageUri"),
                          "the canary serves the same storageUri as the model", severity=Severity.WARNING)
    for image, image_path in ((model.image, ("models", index, "image")),
                              (model.canary.image if model.canary else None, ("models", index, "canary", "image"))):
        if image is not None:
            yield from _image_rules(image, image_path)
    resources = model.resources
    if resources.memory and re.fullmatch(r"[0-9.]+m", resources.memory):
        yield Finding("R306", at("resources", "memory"),
                      f"memory '{resources.memory}' means {resources.memory[:-1]} thousandths of a byte",
                      f"did you mean '{resources.memory[:-1]}Mi'?")
    if resources.cpu and re.fullmatch(r".*[KMGTPE]i", resources.cpu):
        yield Finding("R306", at("resources", "cpu"),
                      f"cpu '{resources.cpu}' uses a binary (memory) suffix",
                      "cpu is counted in cores ('2', '0.5') or millicores ('500m')")
    for field_name, value in (("cpu", resources.cpu), ("memory", resources.memory)):
        if value is not None and re.fullmatch(r"[0.]+[a-zA-Z]*", value):
            yield Finding("R306", at("resources", field_name), f"{field_name} must be greater than zero")
    if model.autoscaling and model.autoscaling.metric in ("cpu", "memory") and model.autoscaling.target > 1000:
        yield Finding("R310", at("autoscaling", "target"),
                      f"{model.autoscaling.metric} target is a utilization percent; "
                      f"{model.autoscaling.target} is not plausible")


def _storage_rules(storage: StorageRef, path: Path) -> Iterator[Finding]:
    parts = urlsplit(storage.uri)
    if storage.scheme not in KNOWN_SCHEMES:
        yield Finding("R304", path, f"storage scheme '{storage.scheme}://' is not supported",
                      did_you_mean(storage.scheme, KNOWN_SCHEMES)
                      or f"use one of: {', '.join(s + '://' for s in KNOWN_SCHEMES if s != 'azure')}")
        return
    if parts.username or parts.password:
        yield Finding("R304", path, "credentials must not be written into a storage URI",
                      "put them in a Secret and reference it from secretEnv or a service account")
    if any(segment == ".." for segment in parts.path.split("/")):
        yield Finding("R304", path, "'..' is not allowed in a storage path")
    if storage.scheme == "http":
        yield Finding("R304", path, "plain http:// sends model artifacts unencrypted",
                      "use https://", severity=Severity.WARNING)
    if storage.scheme in ("s3", "gs") and not parts.netloc:
        yield Finding("R304", path, f"{storage.scheme}:// needs a bucket: {storage.scheme}://bucket/path")
    if storage.scheme == "pvc":
        claim = storage.pvc_claim
        if not re.fullmatch(DNS1123_LABEL[1:-1], claim) or len(claim) > 253:
            yield Finding("R304", path, f"'{claim}' is not a valid PersistentVolumeClaim name",
                          "use pvc://<claim-name>/<path inside the claim>")
    if storage.scheme == "hf":
        repo = storage.uri.removeprefix("hf://")
        name = repo.split(":", 1)[0]
        if len([p for p in name.split("/") if p]) != 2 or name.count("/") != 1:
            yield Finding("R304", path, f"'{storage.uri}' is not a Hugging Face model reference",
                          "use hf://<owner>/<model>[:<revision>]")
    if storage.scheme == "oci" and not parts.netloc:
        yield Finding("R304", path, "oci:// needs a registry: oci://registry/repository:tag")


def _image_rules(image: str, path: Path) -> Iterator[Finding]:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if "@" in image:
        return
    if ":" not in last:
        yield Finding("R307", path, f"image '{image}' has no tag: it will run whatever ':latest' is",
                      "pin a version tag or an @sha256 digest", severity=Severity.WARNING)
    elif last.endswith(":latest"):
        yield Finding("R307", path, f"image '{image}' uses ':latest', which changes under you",
                      "pin a version tag or an @sha256 digest", severity=Severity.WARNING)
