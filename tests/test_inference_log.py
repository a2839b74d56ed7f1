"""Inference logging: what the spec field means once merged, that a sink's credentials never reach
any output, and that `specc plan` warns when applying would turn a model's logging off.

The per-backend objects are contract cases (`tests/contracts/logger/`, `tests/contracts/provenance/`),
the refusals are spec cases (`tests/cases/invalid/inference-log-*`), the reviews are diff cases
(`tests/cases/diff/inference-log-*`); this module holds what is not a folder of data.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from specc.cli import main
from specc.diagnostics import Severity
from specc.ir import InferenceLogIR
from specc.source import parse_spec
from specc.workflow import apply_directory, plan_directory

from .conftest import CASES, ROOT
from .spectext import compile_errors, compile_text

SECRET = "Hunter2Secret"
CREDENTIAL_CASES = sorted(p for p in (CASES / "invalid").glob("inference-log-url-*")
                          if SECRET in (p / "serving.yaml").read_text(encoding="utf-8"))

HEAD = """apiVersion: specc.dev/v1alpha1
kind: ServingSpec
metadata: {name: fraud, namespace: ml-prod}
"""


def spec(defaults: str, model: str) -> str:
    return HEAD + f"""defaults:
  inferenceLog: {defaults}
models:
  - name: m
    format: custom
    image: registry.example.com/team/m:1.0.0
    provenance: {{registry: mlflow, uri: "models:/m/1", version: "1"}}
    inferenceLog: {model}
"""


def test_there_are_credential_cases() -> None:
    assert len(CREDENTIAL_CASES) >= 3


@pytest.mark.parametrize("case", CREDENTIAL_CASES, ids=lambda p: p.name)
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_sink_credential_is_refused_without_being_shown(case: Path, fmt: str,
                                                          capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    with pytest.raises(SystemExit) as exited:
        main(["validate", "--format", fmt, str((case / "serving.yaml").relative_to(ROOT))])
    captured = capsys.readouterr()
    assert exited.value.code == 1
    assert "inference log URL" in captured.out + captured.err
    assert SECRET not in captured.out + captured.err


def test_model_keys_override_the_defaults_key_by_key() -> None:
    compiled = compile_text(spec('{url: "http://a.example/", mode: request, provenance: [uri]}',
                                 "{mode: response}"))
    assert compiled.validated.ir.models[0].inference_log == InferenceLogIR(
        url="http://a.example/", mode="response", percent=100, provenance=("uri",))


def test_enabled_false_turns_off_the_log_of_defaults() -> None:
    compiled = compile_text(spec('{url: "http://a.example/"}', "{enabled: false}"))
    assert compiled.validated.ir.models[0].inference_log is None
    assert not any(c["name"] == "logger" for o in compiled.desired
                   for c in o.body.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []))


def test_provenance_fields_keep_the_spec_order_and_default_to_all() -> None:
    compiled = compile_text(spec('{url: "http://a.example/"}', "{provenance: [version, registry, version]}"))
    assert compiled.validated.ir.models[0].inference_log.provenance == ("registry", "version")  # type: ignore[union-attr]
    compiled = compile_text(spec('{url: "http://a.example/"}', "{mode: all}"))
    assert compiled.validated.ir.models[0].inference_log.provenance == (  # type: ignore[union-attr]
        "registry", "uri", "version", "runId")


def test_a_problem_with_an_inherited_key_points_at_defaults() -> None:
    errors = [d for d in compile_errors(spec('{percent: 10}', "{mode: all}")) if d.severity is Severity.ERROR]
    assert [(d.code, d.path) for d in errors] == [
        ("B410", ("defaults", "inferenceLog", "percent")), ("B410", ("models", 0, "inferenceLog"))]


def _plan(text: str, root: Path):  # type: ignore[no-untyped-def]
    return plan_directory(parse_spec(text, "serving.yaml"), root)


def test_plan_warns_when_applying_turns_a_models_logging_off(tmp_path: Path) -> None:
    logged = spec('{url: "http://sink.logging.svc/"}', "{mode: all}")
    plan, target = _plan(logged, tmp_path)
    apply_directory(plan, target)
    plan, _ = _plan(logged, tmp_path)
    assert not plan.has_changes and not [w for w in plan.warnings if w.code == "W810"]

    plan, _ = _plan(spec('{url: "http://sink.logging.svc/"}', "{enabled: false}"), tmp_path)
    warnings = [w for w in plan.warnings if w.code == "W810"]
    assert [w.message for w in warnings] == [
        "model m: inference logging to http://sink.logging.svc/ is turned off (the model stops logging): "
        "its predictions are no longer recorded"]
    assert json.loads(json.dumps(plan.to_json()))["warnings"][-1]["code"] == "W810"


def test_plan_does_not_warn_when_only_the_sink_changes(tmp_path: Path) -> None:
    plan, target = _plan(spec('{url: "http://sink.logging.svc/"}', "{mode: all}"), tmp_path)
    apply_directory(plan, target)
    plan, _ = _plan(spec('{url: "https://audit.example.com/"}', "{mode: all}"), tmp_path)
    assert plan.has_changes and not [w for w in plan.warnings if w.code == "W810"]
