"""Validation: a `SourceDocument` becomes a `ValidatedSpec` (the typed spec and its IR), or every
problem in it is raised at once as one `InvalidSpec`, each with `FILE:LINE:COL`, its path, and a
did-you-mean where one helps.

Three layers, each reported with its stage code:
1. structure (S): the pydantic models of `specc.spec` plus each installed backend's `Options` model
   for `options.<backend>` (together exactly what `schemas/serving.schema.json` accepts);
2. meaning (R): `specc.rules`, on every model whose own structure is valid;
3. backends (B): the chosen backend exists, serves the format, and its `check` hook is satisfied.

Pure apart from loading plugins through the registry; must not read files or print.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from specc.backend_api import Backend, Target
from specc.diagnostics import Diagnostic, DiagnosticCollector, InvalidSpec, Path, Severity, did_you_mean
from specc.ir import ModelIR, ServingIR
from specc.lower import lower_model, merged_options, model_backend, origin
from specc.registry import Registry
from specc.rules import check_spec
from specc.source import SourceDocument
from specc.spec import PATTERN_MEANING, ServingSpec


@dataclass(frozen=True)
class ValidatedSpec:
    document: SourceDocument
    spec: ServingSpec
    ir: ServingIR
    warnings: tuple[Diagnostic, ...] = ()


def validate(document: SourceDocument, registry: Registry, target: Target | None = None,
             backend_override: str | None = None) -> ValidatedSpec:
    """Validate a parsed spec completely; raise `InvalidSpec` with every error found.

    `backend_override` compiles every model for one backend (`specc render --backend`)."""
    target = target or Target()
    found = DiagnosticCollector()
    data = document.data
    errors = structural_errors(data, registry)
    found.extend(_diagnostic(document, e, registry) for e in errors)
    for path, name in unknown_option_backends(data, registry):
        found.add(Diagnostic("R309", f"options for unknown backend '{name}'", path=path,
                             span=document.span(path, key=True),
                             hint=did_you_mean(name, registry.backends) or "see `specc backends`"))

    spec, index_map = _valid_part(data, errors)
    if spec is None:
        found.raise_if_errors()
        raise AssertionError("structure errors must have been reported")  # pragma: no cover

    if backend_override is not None:
        spec = spec.model_copy(update={
            "backend": backend_override,
            "models": [m.model_copy(update={"backend": None}) for m in spec.models]})

    def real(path: Path) -> Path:
        if len(path) >= 2 and path[0] == "models" and isinstance(path[1], int):
            return ("models", index_map[path[1]], *path[2:])
        return path

    models: dict[int, ModelIR] = {}
    backends: dict[int, Backend] = {}
    for i, model in enumerate(spec.models):
        name = model_backend(spec, model)
        if name not in registry.backends:
            where = ("models", i, "backend") if model.backend else ("backend",) if spec.backend else ("models", i)
            found.add(_with_span(document, registry.unknown(name, path=real(where)), key=False))
            continue
        backend = registry.backends[name]
        options = backend.Options.model_validate(merged_options(spec, model, name))
        models[i] = lower_model(spec, model, i, options)
        backends[i] = backend

    for finding in check_spec(spec, models):
        found.add(_positioned(document, finding.code, real(finding.path), finding.message, finding.hint,
                              finding.severity))
    for i, model in sorted(models.items()):
        backend = backends[i]
        if model.format not in backend.formats:
            able = sorted(n for n, b in registry.backends.items() if model.format in b.formats)
            found.add(_positioned(
                document, "B403", real(("models", i, "format")),
                f"backend '{backend.name}' cannot serve format '{model.format}'",
                f"backends that can: {', '.join(able)}" if able else None))
            continue
        for problem in backend.check(model, target):
            found.add(_positioned(document, "B410", real(origin(spec, i, problem.path)),
                                  f"{backend.name}: {problem.message}", problem.hint, problem.severity))
    found.extend(registry.warnings)
    found.raise_if_errors()
    if len(models) != len(spec.models):  # pragma: no cover - every skipped model reported an error
        raise InvalidSpec(found.diagnostics)
    ir = ServingIR(spec.metadata.name, spec.metadata.namespace, tuple(models[i] for i in range(len(models))))
    return ValidatedSpec(document, spec, ir, tuple(found.warnings))


def structural_errors(data: Any, registry: Registry) -> list[ErrorDetails]:
    """Structure errors of a document: the spec models, then `options.<backend>` of every installed
    backend. Exactly the documents for which this is empty are accepted by the JSON Schema."""
    errors: list[ErrorDetails] = []
    try:
        ServingSpec.model_validate(data)
    except ValidationError as exc:
        errors.extend(exc.errors(include_url=False))
    for path, options in _option_blocks(data):
        for name, value in sorted(options.items()):
            backend = registry.backends.get(name) if isinstance(name, str) else None
            if backend is None or not isinstance(value, dict):
                continue
            try:
                backend.Options.model_validate(value)
            except ValidationError as exc:
                for error in exc.errors(include_url=False):
                    error["loc"] = (*path, name, *error["loc"])
                    errors.append(error)
    return errors


def unknown_option_backends(data: Any, registry: Registry) -> list[tuple[Path, str]]:
    return [((*path, name), name) for path, options in _option_blocks(data)
            for name in sorted(options) if isinstance(name, str) and name not in registry.backends]


def _option_blocks(data: Any) -> list[tuple[Path, dict[str, Any]]]:
    blocks: list[tuple[Path, dict[str, Any]]] = []
    if not isinstance(data, dict):
        return blocks
    defaults = data.get("defaults")
    if isinstance(defaults, dict) and isinstance(defaults.get("options"), dict):
        blocks.append((("defaults", "options"), defaults["options"]))
    models = data.get("models")
    if isinstance(models, list):
        for i, model in enumerate(models):
            if isinstance(model, dict) and isinstance(model.get("options"), dict):
                blocks.append((("models", i, "options"), model["options"]))
    return blocks


def _valid_part(data: Any, errors: list[ErrorDetails]) -> tuple[ServingSpec | None, list[int]]:
    """The largest part of the document that is structurally valid: everything when there are no
    errors; otherwise the spec without its broken models, if the rest of it is valid."""
    if not errors:
        return ServingSpec.model_validate(data), list(range(len(data["models"])))
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        return None, []
    broken = {e["loc"][1] for e in errors if len(e["loc"]) >= 2 and e["loc"][0] == "models"}
    if any(not (len(e["loc"]) >= 2 and e["loc"][0] == "models") for e in errors):
        return None, []
    keep = [i for i in range(len(data["models"])) if i not in broken]
    if not keep:
        return None, []
    try:
        return ServingSpec.model_validate({**data, "models": [data["models"][i] for i in keep]}), keep
    except ValidationError:
        return None, []


# -- turning pydantic errors into positioned diagnostics --------------------------------------------

_TYPE_WORDS = {
    "string_type": "a string", "int_type": "an integer", "float_type": "a number", "bool_type": "true or false",
    "dict_type": "a mapping", "model_type": "a mapping", "model_attributes_type": "a mapping",
    "list_type": "a list", "int_parsing": "an integer", "quantity_type": "a quantity (a string or a number)",
}


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean ({str(value).lower()})"
    if isinstance(value, int):
        return f"integer ({value})"
    if isinstance(value, float):
        return f"number ({value})"
    if isinstance(value, str):
        return f"string ('{value}')" if len(value) <= 40 else "string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _lookup(data: Any, path: Path) -> tuple[bool, Any]:
    node = data
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return False, None
    return True, node


def _diagnostic(document: SourceDocument, error: ErrorDetails, registry: Registry) -> Diagnostic:
    loc: Path = tuple(p for p in error["loc"] if isinstance(p, (str, int)))
    kind = error["type"]
    ctx = error.get("ctx") or {}
    found, value = _lookup(document.data, loc)
    site = document.site(loc)
    hint: str | None = None
    if kind == "missing":
        parent = loc[:-1]
        return Diagnostic("S202", f"missing required field '{loc[-1]}'", path=loc,
                          span=document.span(parent), hint=None)
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1], registry)
        hint = did_you_mean(str(loc[-1]), allowed) if allowed else None
        return Diagnostic("S201", f"unknown field '{loc[-1]}'", path=loc, span=document.span(loc, key=True),
                          hint=hint)
    if kind in ("literal_error", "enum"):
        expected = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        shown = f"'{value}'" if isinstance(value, str) else _describe(value)
        hint = did_you_mean(value, expected) if isinstance(value, str) else None
        return Diagnostic("S204", f"{shown} is not one of {', '.join(repr(e) for e in expected)}", path=loc,
                          span=document.span(loc), hint=hint)
    if kind in _TYPE_WORDS:
        message = f"expected {_TYPE_WORDS[kind]}, got {_describe(value) if found else 'nothing'}"
        if site is not None and site.raw is not None and not site.quoted and kind == "string_type":
            hint = f'quote it: "{site.raw}"'
        elif site is not None and site.quoted and kind in ("int_type", "float_type", "bool_type"):
            hint = "remove the quotes"
        elif kind == "bool_type" and isinstance(value, str) and value.lower() in ("yes", "no", "on", "off"):
            hint = "YAML 1.2 booleans are true and false"
        return Diagnostic("S203", message, path=loc, span=document.span(loc), hint=hint)
    if kind == "string_pattern_mismatch":
        meaning = PATTERN_MEANING.get(str(ctx.get("pattern")), f"must match {ctx.get('pattern')}")
        shown = f"'{value}'" if isinstance(value, str) and len(value) <= 80 else "value"
        return Diagnostic("S205", f"{shown} {meaning}", path=loc, span=document.span(loc))
    if kind in ("string_too_long", "too_long"):
        limit = ctx.get("max_length")
        what = "characters" if kind == "string_too_long" else "items"
        return Diagnostic("S206", f"is longer than {limit} {what}", path=loc, span=document.span(loc))
    if kind == "too_short":
        return Diagnostic("S206", f"needs at least {ctx.get('min_length')} item(s)", path=loc,
                          span=document.span(loc))
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        op = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}[kind]
        bound = next(iter(ctx.values()), "?")
        return Diagnostic("S206", f"{_describe(value)} must be {op} {bound}", path=loc, span=document.span(loc))
    if kind == "one_of":
        return Diagnostic("S207", error["msg"], path=loc, span=document.span(loc))
    if kind == "null_value":
        return Diagnostic("S203", f"'{loc[-1]}' {error['msg']}" if loc else error["msg"], path=loc,
                          span=document.span(loc))
    code = "S205" if kind == "quantity" else "S203"
    return Diagnostic(code, error["msg"], path=loc, span=document.span(loc))


def _positioned(document: SourceDocument, code: str, path: Path, message: str, hint: str | None,
                severity: Severity = Severity.ERROR) -> Diagnostic:
    return Diagnostic(code, message, path=path, span=document.span(path), hint=hint, severity=severity)


def _with_span(document: SourceDocument, diagnostic: Diagnostic, *, key: bool) -> Diagnostic:
    return Diagnostic(diagnostic.code, diagnostic.message, path=diagnostic.path,
                      span=document.span(diagnostic.path, key=key), hint=diagnostic.hint,
                      severity=diagnostic.severity)


# -- which keys a mapping may have, for did-you-mean ------------------------------------------------

def _allowed_keys(path: Path, registry: Registry) -> list[str]:
    if "options" in path:
        at = path.index("options")
        name = path[at + 1] if len(path) > at + 1 else None
        backend = registry.backends.get(name) if isinstance(name, str) else None
        return allowed_keys(path[at + 2:], backend.Options) if backend else []
    return allowed_keys(path)


def allowed_keys(path: Path, root: type[BaseModel] = ServingSpec) -> list[str]:
    """The keys allowed in the mapping at `path` of a spec (empty when it is a free-form map)."""
    annotation: Any = root
    for part in path:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = next((f for n, f in annotation.model_fields.items() if (f.alias or n) == part), None)
            if field is None:
                return []
            annotation = field.annotation
        else:
            origin_type = typing.get_origin(annotation)
            args = typing.get_args(annotation)
            if origin_type is list and args:
                annotation = args[0]
            elif origin_type is dict and len(args) == 2:
                annotation = args[1]
            else:
                return []
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [f.alias or n for n, f in annotation.model_fields.items()]
    return []


def _unwrap(annotation: Any) -> Any:
    while True:
        origin_type = typing.get_origin(annotation)
        if origin_type is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin_type in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation

