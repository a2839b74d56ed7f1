"""Backends are plugins found through the `specc.backends` entry-point group."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

import pytest

from specc.cli import main
from specc.diagnostics import CompileError, Severity
from specc.pipeline import compile_document
from specc.registry import GROUP, load_registry
from specc.source import parse_spec


def point(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=GROUP)


def test_the_built_in_backends_are_registered_like_any_plugin() -> None:
    names = {p.name: p.value for p in entry_points(group=GROUP)}
    assert names["kubernetes"] == "specc_kubernetes:backend"
    assert {"kubernetes", "kserve", "seldon", "bentoml"} <= set(names)
    assert not load_registry().warnings


def test_a_third_party_plugin_compiles_through_the_shared_pipeline() -> None:
    registry = load_registry([point("echo", "tests.unit.plugins:backend")])
    spec = ("apiVersion: specc.dev/v1alpha1\nkind: ServingSpec\nmetadata: {name: s, namespace: n}\n"
            "backend: echo\nmodels:\n  - {name: m, format: sklearn, storageUri: 's3://b/m'}\n")
    compiled = compile_document(parse_spec(spec, "serving.yaml"), registry=registry)
    (obj,) = compiled.desired
    assert obj.body["data"] == {"format": "sklearn", "uri": "s3://b/m"}
    # The finishing pass applies to plugins too.
    assert obj.body["metadata"]["namespace"] == "n"
    assert obj.body["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "specc"


@pytest.mark.parametrize(("value", "fragment"), [
    ("tests.unit.plugins_broken:backend", "ImportError: No module named 'some_missing_dependency'"),
    ("tests.unit.plugins:not_a_backend", "is not a specc Backend instance"),
    ("tests.unit.plugins_abstract:backend", "abstract"),
    ("tests.unit.plugins:nothing_here", "AttributeError"),
])
def test_a_plugin_that_fails_to_load_is_a_warning_naming_it(value: str, fragment: str) -> None:
    registry = load_registry([point("echo", "tests.unit.plugins:backend"), point("bad", value)])
    assert registry.names() == ["echo"]
    (warning,) = registry.warnings
    assert warning.code == "B402" and warning.severity is Severity.WARNING
    assert "'bad'" in warning.message and value in warning.message and fragment in warning.message


def test_a_plugin_registered_under_another_name_is_kept_with_a_warning() -> None:
    registry = load_registry([point("echo2", "tests.unit.plugins:backend")])
    assert registry.names() == ["echo2"]
    (warning,) = registry.warnings
    assert "calls itself 'echo'" in warning.message


def test_an_unknown_backend_is_an_error_with_a_did_you_mean() -> None:
    registry = load_registry()
    with pytest.raises(CompileError) as raised:
        registry.get("kserv")
    (error,) = raised.value.diagnostics
    assert error.code == "B401" and "unknown backend 'kserv'" in error.message
    assert error.hint == "did you mean 'kserve'?"


def test_specc_backends_lists_what_is_installed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["backends"])
    out = capsys.readouterr().out
    assert exited.value.code == 0
    for name in ("kubernetes", "kserve", "seldon", "bentoml"):
        assert f"\n{name} " in f"\n{out}"
    assert "formats:" in out
