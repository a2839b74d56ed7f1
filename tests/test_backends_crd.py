"""Every custom resource the kserve, seldon and bentoml backends emit is valid for the real CRD.

The objects are those of every example (natively and forced onto each backend), of every model of
`examples/mixed-backends` on its own for each backend, and of a set of specs that exercise each
backend's options. Each custom resource is checked against the `openAPIV3Schema` of the CRD version
it targets, read from `/work/shared/crds` (never copied into the project), with every object schema
closed: a field the CRD does not define fails, because a real API server would silently prune it.
Types, enums, patterns and required fields are checked too. KServe objects are checked against the
CRD of each release their `options.kserve.version` must work on.

Skips only when the CRD directory is absent (override its location with `SPECC_SHARED_CRDS`).
"""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from specc.diagnostics import SpeccError
from specc.pipeline import Compiled, compile_document, compile_file
from specc.registry import load_registry
from specc.source import parse_spec

from .conftest import EXAMPLES, ROOT

pytestmark = pytest.mark.crds

CRDS = Path(os.environ.get("SPECC_SHARED_CRDS")
            or Path(__file__).resolve().parents[1].parent / "shared" / "crds")
BACKENDS = ("kserve", "seldon", "bentoml")
EXAMPLE_FILES = sorted(EXAMPLES.glob("*/serving.yaml"))
MIXED = EXAMPLES / "mixed-backends" / "serving.yaml"
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# (group, kind) -> CRD file under CRDS, for each release directory that may apply.
CRD_FILES = {
    ("serving.kserve.io", "InferenceService"): "serving.kserve.io_inferenceservices.yaml",
    ("machinelearning.seldon.io", "SeldonDeployment"): "machinelearning.seldon.io_seldondeployments.yaml",
    ("mlops.seldon.io", "Model"): "mlops.seldon.io_models.yaml",
    ("mlops.seldon.io", "Experiment"): "mlops.seldon.io_experiments.yaml",
    ("resources.yatai.ai", "Bento"): "resources.yatai.ai_bentoes.yaml",
    ("serving.yatai.ai", "BentoDeployment"): "serving.yatai.ai_bentodeployments.yaml",
}
RELEASE_DIRS = {
    "serving.kserve.io": None,  # chosen per object from options.kserve.version
    "machinelearning.seldon.io": ("seldon-core-v1",),
    "mlops.seldon.io": ("seldon-core-v2",),
    "resources.yatai.ai": ("bentoml-yatai",),
    "serving.yatai.ai": ("bentoml-yatai",),
}
CORE_GROUPS = {"", "apps", "autoscaling", "policy", "networking.k8s.io"}
SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf")


def require_crds() -> None:
    if not CRDS.is_dir():
        pytest.skip(f"the real CRDs are not available at {CRDS} (set SPECC_SHARED_CRDS)")


# -- the CRD schemas, closed -----------------------------------------------------------------------

def close(schema: Any) -> Any:
    """A copy of an OpenAPI v3 schema in which every object schema that lists `properties` (and does
    not preserve unknown fields or declare `additionalProperties`) refuses any other property."""
    if isinstance(schema, list):
        return [close(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    if isinstance(schema.get("properties"), dict):
        out["properties"] = {k: close(v) for k, v in schema["properties"].items()}
        if not schema.get("x-kubernetes-preserve-unknown-fields") and "additionalProperties" not in schema:
            out["additionalProperties"] = False
    for key in ("items", "additionalProperties", "not"):
        if isinstance(schema.get(key), (dict, list)):
            out[key] = close(schema[key])
    for key in SUBSCHEMA_LISTS:
        if isinstance(schema.get(key), list):
            out[key] = [close(s) for s in schema[key]]
    return out


@functools.cache
def crd(release: str, file: str) -> dict[str, Any]:
    with (CRDS / release / file).open(encoding="utf-8") as handle:
        loaded: dict[str, Any] = yaml.load(handle, Loader=_Loader)
    return loaded


@functools.cache
def validator(release: str, file: str, version: str) -> jsonschema.Draft4Validator:
    """OpenAPI 3.0 schemas are draft-4 in spirit (boolean exclusiveMinimum, no `const`)."""
    for served in crd(release, file)["spec"]["versions"]:
        if served["name"] == version:
            if not served.get("served", False):
                raise AssertionError(f"{release}/{file} does not serve {version}")
            return jsonschema.Draft4Validator(close(served["schema"]["openAPIV3Schema"]))
    raise AssertionError(f"{release}/{file} has no version {version}")


def kserve_releases(version: str) -> tuple[str, ...]:
    """The CRD releases an InferenceService for KServe `version` must be valid for: the newest
    release directory not newer than it, and 0.20 (later releases keep every field)."""
    if version == "0.20":
        return ("kserve-0.20",)
    return ("kserve-0.15", "kserve-0.20")


def schema_errors(obj: dict[str, Any], release: str) -> list[str]:
    group, _, version = obj["apiVersion"].rpartition("/")
    file = CRD_FILES[(group, obj["kind"])]
    errors = sorted(validator(release, file, version).iter_errors(obj), key=lambda e: list(e.absolute_path))
    return [f"{release}: {'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
            for e in errors]


def metadata_errors(obj: dict[str, Any]) -> list[str]:
    """The CRDs leave `metadata` open (the API server checks ObjectMeta itself): check the keys
    specc writes and that label and annotation values are strings."""
    meta = obj.get("metadata") or {}
    errors = [f"metadata.{k}: not an ObjectMeta field specc writes" for k in meta
              if k not in ("name", "namespace", "labels", "annotations")]
    for key in ("labels", "annotations"):
        errors += [f"metadata.{key}.{k}: {v!r} is not a string" for k, v in (meta.get(key) or {}).items()
                   if not isinstance(v, str)]
    return errors


# -- the objects -----------------------------------------------------------------------------------

def custom_objects(compiled: Compiled) -> Iterator[tuple[dict[str, Any], tuple[str, ...]]]:
    """(object, CRD releases to check it against) for every custom resource of a compiled spec."""
    models = {m.name: m for m in compiled.validated.ir.models}
    for desired in compiled.desired:
        obj = desired.body
        group = obj["apiVersion"].rpartition("/")[0]
        if group in CORE_GROUPS:
            continue
        assert (group, obj["kind"]) in CRD_FILES, f"no CRD known for {obj['apiVersion']} {obj['kind']}"
        releases = RELEASE_DIRS[group]
        if releases is None:
            releases = kserve_releases(models[desired.model].options.version)
        yield obj, releases


def _example_cases() -> list[tuple[str, Path, str | None]]:
    cases: list[tuple[str, Path, str | None]] = []
    for spec in EXAMPLE_FILES:
        cases.append((f"{spec.parent.name}-native", spec, None))
        cases += [(f"{spec.parent.name}-{backend}", spec, backend) for backend in BACKENDS]
    return cases


def _single_model_docs() -> list[tuple[str, str]]:
    data = yaml.safe_load(MIXED.read_text(encoding="utf-8"))
    return [(model["name"], yaml.safe_dump({**data, "models": [model]}, sort_keys=False))
            for model in data["models"]]


def _spec(models: list[dict[str, Any]], backend: str, **top: Any) -> str:
    return yaml.safe_dump({"apiVersion": "specc.dev/v1alpha1", "kind": "ServingSpec",
                           "metadata": {"name": "crd", "namespace": "ml"}, "backend": backend, **top,
                           "models": models}, sort_keys=False)


RICH = {
    "replicas": {"min": 2, "max": 6},
    "resources": {"cpu": "2", "memory": "4Gi", "gpu": 1},
    "env": {"LOG_LEVEL": "info"},
    "secretEnv": [{"name": "AWS_ACCESS_KEY_ID", "secret": "s3", "key": "id"}],
    "serviceAccount": "models-sa",
    "monitoring": {"metrics": True},
    "provenance": {"registry": "mlflow", "uri": "models:/m/3", "version": "3", "runId": "abc"},
}


def _kserve_specs() -> list[tuple[str, str]]:
    specs = []
    for version in ("0.15", "0.17", "0.20"):
        for mode in ("Standard", "Knative"):
            options = {"kserve": {"version": version, "deploymentMode": mode}}
            models: list[dict[str, Any]] = [
                {"name": "rich", "format": "sklearn", "engine": "mlserver", "storageUri": "s3://b/m",
                 "autoscaling": {"metric": "cpu", "target": 70}, **RICH, "options": options},
                {"name": "custom", "format": "custom", "image": "registry.example.com/srv:1.0", "port": 9000,
                 "protocol": "v2", "monitoring": {"metrics": True}, "options": options},
                {"name": "bento", "format": "bento", "image": "registry.example.com/bentos/b:1.0",
                 "options": options},
                {"name": "triton", "format": "onnx", "engine": "triton", "storageUri": "pvc://repo/onnx",
                 "options": options},
                {"name": "tfs", "format": "tensorflow", "engine": "tfserving", "storageUri": "gs://b/tf",
                 "options": options},
                {"name": "torch", "format": "pytorch", "engine": "torchserve", "protocol": "v2",
                 "storageUri": "gs://b/pt", "options": options},
                {"name": "hf", "format": "huggingface", "storageUri": "hf://owner/model", "options": options},
            ]
            if mode == "Knative" or version == "0.20":
                models.append({"name": "canary", "format": "xgboost", "storageUri": "s3://b/x/1",
                               "replicas": {"min": 2, "max": 4},
                               "canary": {"storageUri": "s3://b/x/2", "traffic": 20}, "options": options})
                models.append({"name": "canary-img", "format": "custom", "image": "registry.example.com/s:1",
                               "canary": {"image": "registry.example.com/s:2", "traffic": 50},
                               "options": options})
            if mode == "Knative":
                models.append({"name": "to-zero", "format": "sklearn", "storageUri": "s3://b/z",
                               "replicas": {"min": 0, "max": 3},
                               "autoscaling": {"metric": "concurrency", "target": 5},
                               "options": options})
            specs.append((f"kserve-{version}-{mode}", _spec(models, "kserve")))
    return specs


def _seldon_specs() -> list[tuple[str, str]]:
    v1 = [
        {"name": "rich", "format": "sklearn", "storageUri": "s3://b/m",
         "autoscaling": {"metric": "memory", "target": 70},
         **RICH, "options": {"seldon": {"storageSecret": "rclone-config"}}},
        {"name": "xgb", "format": "xgboost", "storageUri": "gs://b/l", "replicas": {"min": 2, "max": 2}},
        {"name": "tf", "format": "tensorflow", "storageUri": "pvc://models/tf"},
        {"name": "onnx", "format": "onnx", "storageUri": "s3://b/o"},
        {"name": "torch", "format": "pytorch", "engine": "triton", "storageUri": "s3://b/t"},
        {"name": "mlflow", "format": "mlflow", "storageUri": "s3://b/f",
         "canary": {"storageUri": "s3://b/f2", "traffic": 25}, "replicas": {"min": 4, "max": 8}},
    ]
    v2_options = {"seldon": {"version": "v2", "storageSecret": "rclone-config"}}
    v2 = [
        {"name": "plain", "format": "sklearn", "storageUri": "s3://b/m", "resources": {"memory": "512Mi"},
         "options": v2_options},
        {"name": "range", "format": "onnx", "engine": "triton", "storageUri": "gs://b/o",
         "replicas": {"min": 1, "max": 5}, "options": v2_options},
        {"name": "lgb", "format": "lightgbm", "storageUri": "gs://b/l", "options": v2_options},
        {"name": "canary", "format": "xgboost", "storageUri": "s3://b/x/1",
         "canary": {"storageUri": "s3://b/x/2", "traffic": 10}, "options": v2_options},
    ]
    return [("seldon-v1", _spec(v1, "seldon")), ("seldon-v2", _spec(v2, "seldon"))]


def _bentoml_specs() -> list[tuple[str, str]]:
    options = {"bentoml": {"mode": "yatai"}}
    models = [
        {"name": "rich", "format": "bento", "image": "registry.example.com/bentos/rich:2.0",
         "autoscaling": {"metric": "cpu", "target": 60}, "ingress": {"host": "rich.example.com"},
         **RICH, "options": options},
        {"name": "fixed", "format": "bento", "image": "registry.example.com/bentos/fixed@sha256:" + "ab" * 32,
         "replicas": {"min": 3, "max": 3}, "options": {"bentoml": {"mode": "yatai", "bentoTag": "fixed:v3"}}},
    ]
    return [("bentoml-yatai", _spec(models, "bentoml"))]


SPECS = _kserve_specs() + _seldon_specs() + _bentoml_specs()


def assert_valid(compiled: Compiled) -> int:
    errors: list[str] = []
    count = 0
    for obj, releases in custom_objects(compiled):
        count += 1
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        errors += [f"{where}: {e}" for e in metadata_errors(obj)]
        for release in releases:
            errors += [f"{where}: {e}" for e in schema_errors(obj, release)]
    assert not errors, "\n".join(errors)
    return count


# -- the tests -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("case", "spec", "backend"), _example_cases(),
                         ids=[case for case, _, _ in _example_cases()])
def test_examples_are_valid_for_the_crds(case: str, spec: Path, backend: str | None,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    require_crds()
    monkeypatch.chdir(ROOT)
    try:
        compiled = compile_file(str(spec.relative_to(ROOT)), backend=backend)
    except SpeccError as error:
        if backend is None:
            raise
        pytest.skip(f"{backend} cannot serve {spec.parent.name}: {error.diagnostics[0].message}")
    assert_valid(compiled)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("model", "text"), _single_model_docs(), ids=lambda v: v if len(v) < 40 else "")
def test_each_mixed_backends_model_is_valid_for_the_crds(model: str, text: str, backend: str) -> None:
    require_crds()
    try:
        compiled = compile_document(parse_spec(text, "serving.yaml"), backend=backend)
    except SpeccError as error:
        pytest.skip(f"{backend} cannot serve model {model}: {error.diagnostics[0].message}")
    assert_valid(compiled)


@pytest.mark.parametrize(("case", "text"), SPECS, ids=[case for case, _ in SPECS])
def test_option_matrix_is_valid_for_the_crds(case: str, text: str) -> None:
    require_crds()
    compiled = compile_document(parse_spec(text, "serving.yaml"))  # these specs must compile
    assert assert_valid(compiled) > 0


def rich_inference_service() -> tuple[dict[str, Any], tuple[str, ...]]:
    compiled = compile_document(parse_spec(dict(SPECS)["kserve-0.20-Standard"], "serving.yaml"))
    return next((o, r) for o, r in custom_objects(compiled) if o["metadata"]["name"] == "rich")


def test_an_unknown_field_fails_validation() -> None:
    """The check itself: a field the CRD does not define, at any depth, is an error."""
    require_crds()
    obj, releases = rich_inference_service()
    assert not schema_errors(obj, releases[0])
    for path in (("spec",), ("spec", "predictor"), ("spec", "predictor", "model"),
                 ("spec", "predictor", "model", "modelFormat")):
        broken = copy.deepcopy(obj)
        node = broken
        for part in path:
            node = node[part]
        node["sklearn"] = {"storageUri": "s3://typo"}  # legacy key at spec.predictor is defined; not below
        errors = schema_errors(broken, releases[0])
        if path == ("spec", "predictor"):
            assert not errors  # a defined (legacy) field
        else:
            assert any("Additional properties are not allowed" in e for e in errors), (path, errors)


def test_types_enums_and_required_fields_are_checked() -> None:
    require_crds()
    obj, releases = rich_inference_service()
    wrong_type = copy.deepcopy(obj)
    wrong_type["spec"]["predictor"]["minReplicas"] = "2"
    wrong_enum = copy.deepcopy(obj)
    wrong_enum["spec"]["predictor"]["scaleMetric"] = "gpu"
    missing = copy.deepcopy(obj)
    del missing["spec"]["predictor"]["model"]["modelFormat"]["name"]
    for broken in (wrong_type, wrong_enum, missing):
        assert schema_errors(broken, releases[0])


def test_declared_kinds_match_the_crds() -> None:
    """Every CustomKind a backend declares names a CRD's group, kind, plural and a served version."""
    require_crds()
    registry = load_registry()
    found = 0
    for name in BACKENDS:
        for kind in registry.backends[name].kinds:
            file = CRD_FILES[(kind.group, kind.kind)]
            releases = RELEASE_DIRS[kind.group] or ("kserve-0.15", "kserve-0.20")
            for release in releases:
                definition = crd(release, file)["spec"]
                assert (definition["group"], definition["names"]["kind"], definition["names"]["plural"]) == (
                    kind.group, kind.kind, kind.plural)
                assert kind.version in {v["name"] for v in definition["versions"] if v.get("served")}
                found += 1
    assert found >= 6


def _case_specs() -> list[Path]:
    """Valid spec cases and contract cases that render (those with `expect`)."""
    contracts = [c.parent / "serving.yaml" for c in sorted((ROOT / "tests" / "contracts").rglob("case.yaml"))
                 if "expect" in (yaml.load(c.read_text(encoding="utf-8"), Loader=_Loader) or {})]
    return sorted((ROOT / "tests" / "cases" / "valid").glob("*/serving.yaml")) + contracts


@pytest.mark.parametrize("spec", _case_specs(), ids=lambda p: str(p.parent.relative_to(ROOT / "tests")))
def test_case_folders_are_valid_for_the_crds(spec: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every custom resource of the valid cases and of the contract cases (the inference loggers of
    each backend among them) passes its real CRD."""
    require_crds()
    monkeypatch.chdir(ROOT)
    compiled = compile_file(str(spec.relative_to(ROOT)))
    assert_valid(compiled)
