"""The published JSON Schema (draft 2020-12) of `serving.yaml`, generated from the pydantic models.

Takes the spec models and the installed backends' `Options` models; returns the schema as a dict
(`specc schema` prints it; `schemas/serving.schema.json` is that output for the built-in backends,
kept current by a test). Must not read files. The generator differs from pydantic's default in
four ways that keep the schema exactly as strict as the models (a test checks that both accept and
reject the same documents):
- optional fields of the spec models are not nullable (those models refuse an explicit null too);
  a backend's `Options` model is described as pydantic sees it, nulls included;
- `options.<backend>` is described by that backend's own `Options` model, other backend names may
  carry any mapping (a third-party plugin validates its own);
- every pattern's final `$` becomes `$(?!\n)`: pydantic and ECMA-262 read `$` as the end of the
  text, but Python's `re` (used by the `jsonschema` package) also matches before a final newline;
- titles are dropped and definitions sorted, so the file is stable and readable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from specc.spec import BACKEND_NAME, ServingSpec

SCHEMA_ID = "https://specc.dev/schemas/serving.schema.json"
DRAFT = "https://json-schema.org/draft/2020-12/schema"


class _OptionsGenerator(GenerateJsonSchema):
    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


class _SpecGenerator(_OptionsGenerator):
    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        json_schema = super().default_schema(schema)
        if json_schema.get("default", ...) is None:
            json_schema.pop("default")
        return json_schema


def _model_schema(model: type[BaseModel], generator: type[GenerateJsonSchema]) -> dict[str, Any]:
    schema: dict[str, Any] = model.model_json_schema(by_alias=True, schema_generator=generator)
    return schema


def build_schema(options: Mapping[str, type[BaseModel]]) -> dict[str, Any]:
    """The schema for a spec whose `options` may name the backends in `options` (name -> Options)."""
    schema = _model_schema(ServingSpec, _SpecGenerator)
    defs: dict[str, Any] = schema.setdefault("$defs", {})
    option_properties: dict[str, Any] = {}
    for name, model in sorted(options.items()):
        sub = _model_schema(model, _OptionsGenerator)
        for key, value in sub.pop("$defs", {}).items():
            defs.setdefault(key, value)
        definition = f"{model.__name__}"
        defs[definition] = sub
        option_properties[name] = {"$ref": f"#/$defs/{definition}"}
    options_schema = {
        "type": "object",
        "description": "Backend-specific settings, keyed by backend name and validated by that backend.",
        "properties": option_properties,
        "propertyNames": {"pattern": BACKEND_NAME},
        "additionalProperties": {"type": "object"},
    }
    for settings in ("Defaults", "Model"):
        defs[settings]["properties"]["options"] = options_schema
    schema = _pin_patterns(_strip_titles(schema))
    return {
        "$schema": DRAFT,
        "$id": SCHEMA_ID,
        "title": "specc ServingSpec",
        "description": ("serving.yaml: every model an ML team serves, compiled by specc into Kubernetes "
                        "objects."),
        **{k: v for k, v in schema.items() if k != "title"},
        "$defs": dict(sorted(schema["$defs"].items())),
    }


def schema_text(options: Mapping[str, type[BaseModel]]) -> str:
    """The schema as the text of `schemas/serving.schema.json`."""
    return json.dumps(build_schema(options), indent=2, sort_keys=False) + "\n"


def _pin_patterns(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _pin_pattern(v) if k == "pattern" and isinstance(v, str) else _pin_patterns(v)
                for k, v in node.items()}
    if isinstance(node, list):
        return [_pin_patterns(v) for v in node]
    return node


def _pin_pattern(pattern: str) -> str:
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        return pattern + r"(?!\n)"
    return pattern


def _strip_titles(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_titles(v) for k, v in node.items()
                if not (k == "title" and isinstance(v, str))}
    if isinstance(node, list):
        return [_strip_titles(v) for v in node]
    return node
