"""The registry plugin point: another registry is an entry point in `specc.registries`, and goes
through the same resolve stage (positions, storage checks, provenance) as the built-in MLflow one."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from specc.registry_api import Endpoint, JsonApi, Reference, RegistryFault, RegistryProvider, Resolved

from .test_registry import spec_file


class FixedRegistry(RegistryProvider):
    """A third-party registry plugin (no I/O: it answers from a table), loaded through an entry point."""

    name = "table"
    summary = "a registry kept in a table"

    def endpoint(self, ref: Reference, environ: Mapping[str, str]) -> Endpoint:
        return Endpoint("https://registry.example.com")

    def resolve(self, ref: Reference, api: JsonApi) -> Resolved:
        if ref.model != "fraud":
            raise RegistryFault("not-found", f"no model {ref.model} in the table")
        return Resolved(storage_uri="gs://table/fraud/7", version="7", registry_uri="table:fraud/7",
                        source="gs://table/fraud/7", run_id="r7")


provider = FixedRegistry()


def test_another_registry_is_a_plugin_found_through_its_entry_point(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib.metadata import EntryPoint

    import specc.resolve as stage
    from specc.pipeline import compile_document
    from specc.resolve import ResolveError, ResolveOptions, load_providers
    from specc.source import read_spec

    points = [EntryPoint("table", "tests.test_registry_plugins:provider", "specc.registries"),
              EntryPoint("broken", "tests.no_such_module:provider", "specc.registries")]
    providers = load_providers(points)
    assert providers.names() == ["table"]
    assert [w.code for w in providers.warnings] == ["G911"]
    path = spec_file(tmp_path, "{provider: table, model: fraud, alias: prod}")
    monkeypatch.setattr(stage, "load_providers", lambda points=None: providers)
    compiled = compile_document(read_spec(str(path)), resolve=ResolveOptions())
    deploy = next(o.body for o in compiled.desired if o.key.kind == "Deployment")
    assert deploy["metadata"]["annotations"]["provenance.specc.dev/uri"] == "table:fraud/7"
    assert deploy["spec"]["template"]["spec"]["initContainers"][0]["args"][0] == "gs://table/fraud/7"
    path.write_text(path.read_text().replace("model: fraud", "model: churn"))
    with pytest.raises(ResolveError) as error:
        compile_document(read_spec(str(path)), resolve=ResolveOptions())
    assert [d.code for d in error.value.diagnostics] == ["G906"]
    assert error.value.diagnostics[0].render().endswith(
        "serving.yaml:10:5: models[0].registry: table churn@prod: no model churn in the table [G906]")
