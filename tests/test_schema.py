"""The published JSON Schema: current, valid draft 2020-12, and exactly as strict as the models.

Equivalence is checked on every case folder whose file loads, and on random edits of the valid
cases (hypothesis), because a difference there means an editor accepts what `specc validate`
refuses, or the other way round. Regenerate the schema with `pytest --update-golden`.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from specc.diagnostics import InvalidSpec
from specc.registry import load_registry
from specc.schema import build_schema, schema_text
from specc.source import SourceDocument, parse_spec, read_spec
from specc.spec import BUILTIN_BACKENDS
from specc.validate import structural_errors

from .conftest import CASES, ROOT

SCHEMA_FILE = ROOT / "schemas" / "serving.schema.json"
REGISTRY = load_registry()
OPTIONS = {name: backend.Options for name, backend in REGISTRY.backends.items()}
VALIDATOR = Draft202012Validator(build_schema(OPTIONS))
CASE_FILES = sorted(p for kind in ("valid", "invalid") for p in (CASES / kind).glob("*/*")
                    if p.name in ("serving.yaml", "input.bin"))


def load(path: Path) -> SourceDocument | None:
    try:
        return read_spec(str(path))
    except InvalidSpec:
        return None  # refused by the loader (L codes): there is no document to compare


LOADED = [(p, d) for p in CASE_FILES if (d := load(p)) is not None]
VALID_DOCUMENTS = [d.data for p, d in LOADED if p.parent.parent.name == "valid"]


def agree(data: Any) -> tuple[bool, bool]:
    return not structural_errors(data, REGISTRY), VALIDATOR.is_valid(data)


def test_published_schema_is_current(golden) -> None:  # type: ignore[no-untyped-def]
    missing = sorted(set(BUILTIN_BACKENDS) - set(OPTIONS))
    if missing:
        pytest.skip(f"the published schema covers every built-in backend; not loadable here: {missing}")
    golden(SCHEMA_FILE, schema_text(OPTIONS))


def test_published_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_every_case_is_compared() -> None:
    assert len(VALID_DOCUMENTS) >= 10
    assert len(LOADED) - len(VALID_DOCUMENTS) >= 40, "most invalid cases load and reach the structure check"


@pytest.mark.parametrize(("path", "document"), LOADED,
                         ids=[str(p.parent.relative_to(CASES)) for p, _ in LOADED])
def test_models_and_schema_agree_on_case(path: Path, document: SourceDocument) -> None:
    models_accept, schema_accepts = agree(document.data)
    assert models_accept == schema_accepts, (
        f"models {'accept' if models_accept else 'reject'} but the schema "
        f"{'accepts' if schema_accepts else 'rejects'}: "
        f"{[e.message for e in VALIDATOR.iter_errors(document.data)]} "
        f"{[e['msg'] for e in structural_errors(document.data, REGISTRY)]}")
    if path.parent.parent.name == "valid":
        assert models_accept


# -- random edits of valid documents ----------------------------------------------------------------

# Values chosen to sit on the boundaries where a JSON Schema and pydantic most often disagree:
# integral floats, bools as ints, strings that look like numbers, trailing newlines, unicode
# digits and spaces, empty containers, huge numbers.
EDGE_SCALARS = st.sampled_from([
    0, 1, -1, 2, 100, 101, 1000, 65536, 2**70, 0.5, -0.5, 1e30, True, False, None,
    "", "1", "2.0", "sklearn", "s3://bucket/path", "s3://bucket/path\n", "abc\n", "a b", "v2", "cpu",
    "512Mi", "512mi", "2GB", "-1", "١٢٣", "ab\u00a0c", "registry.example.com/a:1", "x" * 300, "UPPER",
    "ClusterIP", "/path", "path", "https://acct.blob.core.windows.net/c/p", "hf://a/b", "[x]",
])
JSON_VALUES = st.recursive(
    EDGE_SCALARS | st.text(max_size=12) | st.integers(-5, 5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(
        ["name", "format", "storageUri", "image", "cpu", "min", "max", "traffic", "x", "kubernetes"]),
        inner, max_size=3),
    max_leaves=6,
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += paths(value, (*prefix, index))
    return found


def mutations(value: Any) -> list[Any]:
    """Small changes of a value that a user could make, each near a boundary of the contract."""
    if isinstance(value, bool):
        return [not value, str(value).lower(), int(value)]
    if isinstance(value, int):
        return [float(value), value + 0.5, -value, str(value), value * 1000, True]
    if isinstance(value, float):
        return [int(value), -value, str(value)]
    if isinstance(value, str):
        return [value + "\n", "\n" + value, value.upper(), value + " ", " " + value, "1" + value,
                value + "_x", value[:-1], value * 40, value.replace("-", "_"), value + "\u00e9",
                value + "/..", {"v": value}]
    if isinstance(value, dict):
        return [[value], {}, None]
    if isinstance(value, list):
        return [[], value[:1], value * 2, {"0": value}]
    return ["x"]


@st.composite
def edited_documents(draw: st.DrawFn) -> Any:
    data = copy.deepcopy(draw(st.sampled_from(VALID_DOCUMENTS)))
    for _ in range(draw(st.integers(1, 2))):
        where = draw(st.sampled_from(paths(data)[1:]))
        parent = data
        for part in where[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["mutate", "mutate", "mutate", "replace", "delete", "add"]))
        if action == "mutate":
            parent[where[-1]] = draw(st.sampled_from(mutations(parent[where[-1]])))
        elif action == "replace":
            parent[where[-1]] = draw(JSON_VALUES)
        elif action == "delete":
            del parent[where[-1]]
        elif isinstance(parent, dict):
            key = draw(st.sampled_from(["extra", "cpu", "image", "engine", "port", "kubernetes"]))
            parent[key] = draw(JSON_VALUES)
    return data


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edited_documents())
def test_models_and_schema_agree_on_edited_documents(data: Any) -> None:
    # Through the loader, as a file would be: JSON text is YAML, and the loader gives the JSON data
    # model both sides are defined on (e.g. 1.0 is the integer 1).
    data = parse_spec(json.dumps(data), "edited.json").data
    models_accept, schema_accepts = agree(data)
    assert models_accept == schema_accepts, (
        f"models {'accept' if models_accept else 'reject'}, "
        f"schema {'accepts' if schema_accepts else 'rejects'}: "
        f"{json.dumps(data)[:2000]}")
