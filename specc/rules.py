"""Rules about meaning that the schema cannot express, checked on a structurally valid spec.

Takes the `ServingSpec` and the lowered models; yields `Finding`s (code, spec path, message, hint,
severity); `validate` attaches positions. A finding about a value a model inherited from `defaults`
names the path in `defaults`, where the user has to change it. Pure; must not know a backend's
objects (backend-specific limits, e.g. the names a backend derives, are the backends' `check` hooks).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from specc.credentials import sensitive_name, sensitive_value, uri_credential
from specc.diagnostics import Path, Severity, did_you_mean
from specc.ir import ModelIR, StorageRef
from specc.lower import origin
from specc.quantity import quantity_range_problem
from specc.spec import DNS1123_LABEL, IMAGE_FORMATS, RegistryRef, ServingSpec

# Schemes that some backend can fetch (which backend fetches which is each backend's own check).
# Azure Blob Storage is `https://<account>.blob.core.windows.net/...`, classified as `azure` by `lower`.
KNOWN_SCHEMES = ("s3", "gs", "pvc", "hf", "https", "http", "oci")
MAX_LABEL = 63
_AZURE_SCHEMES = ("azure", "az", "wasb", "wasbs", "abfs", "abfss")


@dataclass(frozen=True)
class Finding:
    code: str
    path: Path
    message: str
    hint: str | None = None
    severity: Severity = Severity.ERROR
    model: int | None = None  # the model (spec index) the finding is about; None for the spec as a whole


def check_spec(spec: ServingSpec, models: dict[int, ModelIR],
               written: Sequence[int] | None = None) -> Iterator[Finding]:
    """Every rule, over the models that lowered (`models` maps spec index -> model). `written[i]` is
    the index in the file of the spec's model i, when models with errors were left out of `spec`;
    it is only used to name another model in a message (paths stay spec paths)."""
    yield from _unique_names(spec, written or range(len(spec.models)))
    replicas = spec.defaults.replicas if spec.defaults is not None else None
    if replicas is not None and replicas.min is not None and replicas.max is not None \
            and replicas.min > replicas.max:
        # Wrong even when every model overrides one of them; the same finding as a model inheriting both.
        yield Finding("R301", ("defaults", "replicas", "min"), _min_above_max(replicas.min, replicas.max, ""),
                      _REPLICAS_HINT)
    if spec.defaults is not None:
        names = [s.name for s in spec.defaults.secret_env or ()]
        yield from _secret_env(("defaults",), spec.defaults.env, names)
        yield from _literal_secrets(("defaults",), spec.defaults.env)
    for index, model in sorted(models.items()):
        for finding in _model_rules(spec, index, model):
            yield replace(finding, model=index)


def _unique_names(spec: ServingSpec, written: Sequence[int]) -> Iterator[Finding]:
    first: dict[str, int] = {}
    for index, model in enumerate(spec.models):
        if model.name in first:
            other = written[first[model.name]]
            yield Finding("R302", ("models", index, "name"),
                          f"model name '{model.name}' is already used by models[{other}]",
                          "model names must be unique: they name the model's Kubernetes objects", model=index)
        else:
            first[model.name] = index


def _setting(spec: ServingSpec, index: int, block: str, key: str) -> Path:
    """Where a model's `block.key` (replicas.min, resources.memory...) was written: the model's own
    block when it sets the key, else `defaults`, else the model's block (or the model itself)."""
    model, defaults = spec.models[index], spec.defaults
    attribute = {"replicas": "replicas", "resources": "resources"}[block]
    own = getattr(model, attribute)
    if own is not None and getattr(own, key) is not None:
        return ("models", index, block, key)
    inherited = getattr(defaults, attribute) if defaults is not None else None
    if inherited is not None and getattr(inherited, key) is not None:
        return ("defaults", block, key)
    return ("models", index, block) if own is not None else ("models", index)


def _model_rules(spec: ServingSpec, index: int, model: ModelIR) -> Iterator[Finding]:
    def at(*relative: str | int) -> Path:
        return origin(spec, index, relative)

    yield from _replicas(spec, index, model)
    instance = f"{model.spec_name}-{model.name}"
    if len(instance) > MAX_LABEL:
        yield Finding("R303", ("models", index, "name"),
                      f"'{instance}' (metadata.name + '-' + model name) is {len(instance)} characters; the "
                      f"app.kubernetes.io/instance label value is limited to {MAX_LABEL}",
                      f"shorten the model name to at most {MAX_LABEL - len(model.spec_name) - 1} characters, "
                      "or metadata.name")
    wants_image = model.format in IMAGE_FORMATS
    if wants_image and model.image is None:
        yield Finding("R305", ("models", index, "storageUri"),
                      f"format '{model.format}' runs a serving image: use 'image', not 'storageUri'")
    if not wants_image and model.image is not None:
        yield Finding("R305", ("models", index, "image"),
                      f"format '{model.format}' is served from model artifacts: use 'storageUri', "
                      "or format 'custom' (or 'bento') to run a serving image")
    if model.port is not None and model.image is None:
        yield Finding("R311", ("models", index, "port"), "'port' applies only to models that run an 'image'",
                      "remove it: an engine serves model artifacts on its own ports")
    if model.storage is not None:
        yield from _storage_rules(model.storage, ("models", index, "storageUri"))
    written_model = spec.models[index]
    if written_model.registry is not None:
        yield from _registry_rules(written_model.registry, ("models", index, "registry"))
        if written_model.provenance is not None:
            yield Finding("R321", ("models", index, "provenance"),
                          "'provenance' is filled in from the registry for a model with 'registry'",
                          "remove it: specc records the resolved version, run id and registry URI itself")
    if written_model.canary is not None and written_model.canary.registry is not None:
        yield from _registry_rules(written_model.canary.registry, ("models", index, "canary", "registry"))
        if written_model.canary.provenance is not None:
            yield Finding("R321", ("models", index, "canary", "provenance"),
                          "the canary's 'provenance' is filled in from the registry for a canary with 'registry'",
                          "remove it: specc records the resolved version, run id and registry URI itself")
    if model.canary is not None:
        canary_path: Path = ("models", index, "canary")
        if model.canary.storage is not None:
            yield from _storage_rules(model.canary.storage, (*canary_path, "storageUri"))
        if (model.canary.image is None) != (model.image is None):
            own, other = ("image", "storageUri") if model.image is not None else ("storageUri", "image")
            if model.canary.registry is not None:
                other = "registry"  # point at what the canary does name
            yield Finding("R308", (*canary_path, other),
                          f"the model uses '{own}', so its canary must use '{own}' too",
                          "a canary is a new version of the same kind of model")
        if model.canary.storage and model.storage and model.canary.storage.uri == model.storage.uri:
            yield Finding("R308", (*canary_path, "storageUri"),
                          "the canary serves the same storageUri as the model", severity=Severity.WARNING)
        if model.canary.image is not None and model.canary.image == model.image:
            yield Finding("R308", (*canary_path, "image"),
                          "the canary runs the same image as the model", severity=Severity.WARNING)
    if model.image is not None:
        yield from _image_rules(model.image, ("models", index, "image"))
    if model.canary is not None and model.canary.image is not None:
        yield from _image_rules(model.canary.image, ("models", index, "canary", "image"))
    yield from _resources(spec, index, model)
    if model.ingress is not None:
        yield from _ingress_rules(model.ingress.host, model.ingress.path, ("models", index, "ingress"))
    if model.provenance is not None:
        yield from credential_findings(model.provenance.uri, ("models", index, "provenance", "uri"),
                                       "provenance.uri")
    if model.canary is not None and model.canary.provenance is not None:
        yield from credential_findings(model.canary.provenance.uri, ("models", index, "canary", "provenance", "uri"),
                                       "canary.provenance.uri")
    written = spec.models[index]
    yield from _literal_secrets(("models", index), written.env)
    yield from _secret_env(("models", index), written.env, [s.name for s in written.secret_env or ()])
    yield from _canary_provenance(model, ("models", index, "canary"))
    if model.inference_log is not None:
        yield from _inference_log(spec, index, model)
    scaling = model.autoscaling
    if scaling and scaling.metric in ("cpu", "memory") and scaling.target > 1000:
        yield Finding("R310", at("autoscaling", "target"),
                      f"{scaling.metric} target is a utilization percent; {scaling.target} is not plausible",
                      "typical targets are 50 to 90")


def _replicas(spec: ServingSpec, index: int, model: ModelIR) -> Iterator[Finding]:
    if model.min_replicas <= model.max_replicas:
        return
    min_path = _setting(spec, index, "replicas", "min")
    max_path = _setting(spec, index, "replicas", "max")
    where = "" if max_path[:2] == min_path[:2] else (
        ", from defaults" if max_path[0] == "defaults" else ", set on the model")
    yield Finding("R301", min_path, _min_above_max(model.min_replicas, model.max_replicas, where),
                  _REPLICAS_HINT)


_REPLICAS_HINT = "min is the number of pods that always run; max is the autoscaling ceiling"


def _min_above_max(low: int, high: int, where: str) -> str:
    return f"replicas.min ({low}) is greater than replicas.max ({high}{where})"


def _resources(spec: ServingSpec, index: int, model: ModelIR) -> Iterator[Finding]:
    resources = model.resources
    if resources.memory and re.fullmatch(r"[0-9.]+m", resources.memory):
        yield Finding("R306", _setting(spec, index, "resources", "memory"),
                      f"memory '{resources.memory}' means {resources.memory[:-1]} thousandths of a byte",
                      f"did you mean '{resources.memory[:-1]}Mi'?")
    if resources.cpu and re.fullmatch(r".*[KMGTPE]i", resources.cpu):
        yield Finding("R306", _setting(spec, index, "resources", "cpu"),
                      f"cpu '{resources.cpu}' uses a binary (memory) suffix",
                      "cpu is counted in cores ('2', '0.5') or millicores ('500m')")
    for field_name, value in (("cpu", resources.cpu), ("memory", resources.memory)):
        out_of_range = quantity_range_problem(value) if value is not None else None
        if out_of_range is not None:
            yield Finding("R306", _setting(spec, index, "resources", field_name),
                          f"{field_name} {out_of_range}")
            continue
        if value is not None and re.fullmatch(r"[0.]+(?:[a-zA-Z]+|[eE][-+]?[0-9]+)?", value):
            yield Finding("R306", _setting(spec, index, "resources", field_name),
                          f"{field_name} must be greater than zero", "remove it to leave it unset")


def _secret_env(base: Path, env: dict[str, str] | None, names: list[str]) -> Iterator[Finding]:
    """The same variable twice in one secretEnv list (lowering would keep only the last), or in both
    env and secretEnv of the same block (the secret would silently win)."""
    seen: dict[str, int] = {}
    for position, name in enumerate(names):
        if name in seen:
            yield Finding("R312", (*base, "secretEnv", position, "name"),
                          f"secretEnv '{name}' is already set by secretEnv[{seen[name]}]",
                          "each variable may be set once")
        else:
            seen[name] = position
        if env and name in env:
            yield Finding("R312", (*base, "secretEnv", position, "name"),
                          f"'{name}' is set in both env and secretEnv", "keep one of them")


TRACKING_SCHEMES = ("http", "https")


def _registry_rules(ref: RegistryRef, path: Path) -> Iterator[Finding]:
    """What can be said of a registry reference offline: where the registry is. Never echoes the
    tracking URI, which may hold credentials."""
    if ref.tracking_uri is None:
        return
    at = (*path, "trackingUri")
    scheme = ref.tracking_uri.split("://", 1)[0]
    if scheme not in TRACKING_SCHEMES:
        yield Finding("R320", at, f"specc reaches a registry over HTTP(S); '{scheme}://' is not supported",
                      "give the tracking server's address, e.g. https://mlflow.example.com")
        return
    try:
        hostname = urlsplit(ref.tracking_uri).hostname
    except ValueError:
        yield Finding("R320", at, "the tracking URI is not a valid URI")
        return
    why = uri_credential(ref.tracking_uri)
    if why is not None:
        yield Finding("R320", at, f"credentials must not be written into the tracking URI: {why}",
                      "set MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, "
                      "in the environment of specc")
    if not hostname:
        yield Finding("R320", at, f"{scheme}:// needs a host", f"write {scheme}://<host>[:<port>]")


def storage_findings(storage: StorageRef, path: Path) -> Iterator[Finding]:
    """The checks every artifact location gets, typed in the spec or resolved from a registry."""
    return _storage_rules(storage, path)


def _storage_rules(storage: StorageRef, path: Path) -> Iterator[Finding]:
    scheme = storage.uri.split("://", 1)[0]
    if scheme not in KNOWN_SCHEMES:
        yield Finding("R304", path, f"storage scheme '{scheme}://' is not supported", _scheme_hint(scheme))
        return
    try:
        parts = urlsplit(storage.uri)
    except ValueError as exc:  # the URI pattern keeps these out; never let one crash validation
        yield Finding("R304", path, f"'{storage.uri}' is not a valid URI: {exc}")
        return
    credentials = list(credential_findings(storage.uri, path, "a storage URI"))
    if credentials:  # the other checks would only quote the URI, credentials and all
        yield from credentials
        return
    if any(segment == ".." for segment in parts.path.split("/")):
        yield Finding("R304", path, "'..' is not allowed in a storage path", "write the path without '..'")
    if storage.scheme == "http":
        yield Finding("R304", path, "plain http:// sends model artifacts unencrypted",
                      "use https://", severity=Severity.WARNING)
    if scheme in ("s3", "gs") and not parts.netloc:
        yield Finding("R304", path, f"{scheme}:// needs a bucket", f"write {scheme}://<bucket>/<path>")
    if scheme in ("https", "http") and not parts.hostname:
        yield Finding("R304", path, f"{scheme}:// needs a host", f"write {scheme}://<host>/<path>")
    if scheme == "pvc":
        claim = storage.pvc_claim
        if not re.fullmatch(DNS1123_LABEL[1:-1], claim) or len(claim) > 253:
            yield Finding("R304", path, f"'{claim}' is not a valid PersistentVolumeClaim name",
                          "use pvc://<claim-name>/<path inside the claim>")
    if scheme == "hf":
        repo = storage.uri.removeprefix("hf://")
        name, _, revision = repo.partition(":")
        parts_ = name.split("/")
        if len(parts_) != 2 or not all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", p) for p in parts_) \
                or (":" in repo and not revision):
            yield Finding("R304", path, f"'{storage.uri}' is not a Hugging Face model reference",
                          "use hf://<owner>/<model>[:<revision>], e.g. hf://google-bert/bert-base-uncased")
    if scheme == "oci" and not parts.netloc:
        yield Finding("R304", path, "oci:// needs a registry", "write oci://<registry>/<repository>:<tag>")


def credential_findings(uri: str, path: Path, what: str) -> Iterator[Finding]:
    """A URI field holding a credential (userinfo, a signed or tokenised query, a connection-string
    key): refused for every URI field (storage, canary, provenance, registry, logging sink). The message
    says what was found, never the value (`specc.credentials.uri_credential`)."""
    reason = uri_credential(uri)
    if reason is not None:
        yield Finding("R304", path, f"credentials must not be written into {what}: {reason}",
                      "put them in a Secret and reference it from secretEnv or a service account; a "
                      "presigned or SAS URL expires and leaks into every object and log")


def _literal_secrets(base: Path, env: dict[str, str] | None) -> Iterator[Finding]:
    """A literal env value that is a secret by its name or its shape: it would be stored in the
    Deployment for anyone who can read it. Masked in every output; a warning names the better way."""
    for name, value in (env or {}).items():  # file order, as every other finding
        if value and (sensitive_name(name) or sensitive_value(value)):
            yield Finding("R313", (*base, "env", name), f"'{name}' looks like a secret written as a literal "
                          "value: it is stored in the objects for anyone who can read them",
                          "move it to a Secret and reference it from secretEnv", severity=Severity.WARNING)


# Kubernetes networking validation (pkg/apis/networking/validation/validation.go, invalidPathSequences
# and invalidPathSuffixes @ v1.20.2 and master) refuses these in Prefix and Exact paths.
_BAD_PATH_SEQUENCES = ("//", "/./", "/../")
_BAD_PATH_SUFFIXES = ("/..", "/.")


def _ingress_rules(host: str, path: str, base: Path) -> Iterator[Finding]:
    bare = host.removeprefix("*.")
    try:
        ipaddress.ip_address(bare)
    except ValueError:
        pass
    else:
        # pkg/apis/networking/validation: "must be a DNS name, not an IP address".
        yield Finding("R314", (*base, "host"), "an Ingress host must be a DNS name, not an IP address",
                      "leave the host out of the spec only if every host may reach the model; otherwise "
                      "give its DNS name")
    bad = next((s for s in _BAD_PATH_SEQUENCES if s in path), None)
    if bad is None and path != "/":
        bad = next((s for s in _BAD_PATH_SUFFIXES if path.endswith(s)), None)
    if bad is not None:
        yield Finding("R314", (*base, "path"), f"an Ingress path must not contain '{bad}'",
                      "write the path without empty, '.' or '..' segments")


def _scheme_hint(scheme: str) -> str:
    if scheme == "file":
        return ("a local file is not visible in the cluster: upload the model to object storage, or put it "
                "on a volume (pvc://<claim>/<path>)")
    if scheme in _AZURE_SCHEMES:
        return "Azure Blob Storage is addressed as https://<account>.blob.core.windows.net/<container>/<path>"
    suggestion = did_you_mean(scheme, KNOWN_SCHEMES)
    listed = ", ".join(s + "://" for s in KNOWN_SCHEMES)
    if suggestion:
        return f"{suggestion} (supported: {listed}, Azure Blob https URLs)"
    return f"use one of: {listed}"


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


def _canary_provenance(model: ModelIR, path: Path) -> Iterator[Finding]:
    if model.canary is not None and model.canary.unresolved_registry:
        return  # its provenance comes from the registry when planning (checked again then)
    if model.canary is not None and model.provenance is not None and model.canary.provenance is None:
        yield Finding("R316", path, "the canary has no provenance of its own: its objects carry none, so its "
                      "predictions cannot be traced to the registry",
                      "add canary.provenance with the registry entry the canary serves",
                      severity=Severity.WARNING)


def _inference_log(spec: ServingSpec, index: int, model: ModelIR) -> Iterator[Finding]:
    log = model.inference_log
    assert log is not None
    if log.url is not None:
        yield from sink_url_problems(log.url, origin(spec, index, ("inferenceLog", "url")))
    if model.provenance is None:
        yield Finding("R318", origin(spec, index, ("inferenceLog",)),
                      "predictions are logged, but the model has no provenance: logged predictions cannot be "
                      "traced to a registry version", "add provenance (registry, uri, version, runId)",
                      severity=Severity.WARNING)


def sink_url_problems(url: str, path: Path) -> Iterator[Finding]:
    """What is wrong with an inference log sink URL. A credential in it (userinfo, a token or
    signature in the query) is refused as in every URI field, without repeating it."""
    credentials = list(credential_findings(url, path, "an inference log URL"))
    if credentials:  # the other checks would only quote the URL, credentials and all
        yield from credentials
        return
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # the pattern keeps most of these out; never let one crash validation
        yield Finding("R317", path, "the inference log URL is not a valid URL")
        return
    if not host:
        yield Finding("R317", path, "the inference log URL needs a host", "write http://<host>[:port]/<path>")
    if parts.fragment:
        yield Finding("R317", path, "a fragment ('#...') is never sent to the sink", "remove it")
