"""Validation: a `SourceDocument` becomes a `ValidatedSpec` (the typed spec and its IR), or every
problem in it is raised at once as one `InvalidSpec`, each with `FILE:LINE:COL`, its path, and a
did-you-mean or another hint where one helps.

Three layers, each reported with its stage code:
1. structure (S): the pydantic models of `specc.spec` plus each installed backend's `Options` model
   for `options.<backend>` (together exactly what `schemas/serving.schema.json` accepts);
2. meaning (R): `specc.rules`, on every model whose own structure is usable;
3. backends (B): the chosen backend exists, serves the format, and its `check` hook is satisfied.

A structure error does not hide the other layers' findings where it need not: unknown keys are set
aside, and a model with errors of its own is left out, so the rest of the file is still checked.

Positions: an unknown key points at the key, a bad value at the value, a missing key or a rule about
a whole mapping at the key that holds the mapping. Pure apart from loading plugins through the
registry; must not read files or print.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from specc.backend_api import Backend, Target
from specc.credentials import REDACTED, redact, sensitive_name, sensitive_value
from specc.diagnostics import (
    CompileError,
    Diagnostic,
    DiagnosticCollector,
    InvalidSpec,
    Path,
    Severity,
    Span,
    did_you_mean,
)
from specc.ir import ModelIR, ServingIR
from specc.lower import lower_model, merged_options, model_backend, origin
from specc.quantity import MAX_LENGTH as QUANTITY_MAX_LENGTH
from specc.quantity import quantity_problem
from specc.registry import Registry
from specc.rules import check_spec
from specc.source import SourceDocument
from specc.spec import (
    API_VERSION,
    BACKEND_NAME,
    BUILTIN_BACKENDS,
    DNS1035,
    DNS1123_LABEL,
    DNS1123_SUBDOMAIN,
    ENV_NAME,
    ENV_VALUE,
    HOSTNAME,
    IMAGE,
    KIND,
    PATTERN_MEANING,
    SINK_URL,
    SOURCE_KEYS,
    URI,
    Defaults,
    Model,
    ServingSpec,
)


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
    if backend_override is not None and backend_override not in registry.backends:
        # A command-line choice, not something in the file: no position to point at.
        raise CompileError([Diagnostic("B401", f"backend '{backend_override}' is not installed (installed: "
                                       f"{', '.join(registry.names()) or 'none'})",
                                       hint=_backend_hint(backend_override, registry))])
    found = DiagnosticCollector()
    data = document.data
    errors = structural_errors(data, registry)
    found.extend(structure_diagnostics(document, errors, registry))
    found.extend(hostile_strings(document, {tuple(e["loc"]) for e in errors}))
    for path, name in unknown_option_backends(data, registry):
        found.add(Diagnostic("R309", f"options for backend '{name}', which is not installed", path=path,
                             span=document.span(path, key=True), hint=_backend_hint(name, registry)))

    spec, index_map = _usable_part(data, errors)
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
            where = real(("models", i, "backend") if model.backend else ("backend",) if spec.backend
                         else ("models", i))
            installed = ", ".join(registry.names()) or "none"
            what = "is not installed" if name in BUILTIN_BACKENDS else "is unknown"
            found.add(Diagnostic("B401", f"backend '{name}' {what} (installed: {installed})", path=where,
                                 span=span_for(document, where), hint=_backend_hint(name, registry)))
            continue
        backend = registry.backends[name]
        try:
            options = backend.Options.model_validate(merged_options(spec, model, name))
        except ValidationError as exc:
            # Each block was valid on its own (structure); only their combination is refused.
            where = real(origin(spec, i, ("options", name)))
            for error in exc.errors(include_url=False):
                message = f"options.{name} of this model, merged with defaults: {error['msg']}"
                found.add(Diagnostic("S208", message,
                                     path=real(("models", i, "options", name)),
                                     span=document.span(where, key=True)))
            continue
        models[i] = lower_model(spec, model, i, options)
        backends[i] = backend

    if backend_override is None:  # `render --backend X` ignores the others' options on purpose
        found.extend(_unused_options(document, spec, registry, real))
    refused: set[int] = set()  # models with rule errors: their backend would only repeat them
    for finding in check_spec(spec, models, index_map):
        path = real(finding.path)
        found.add(Diagnostic(finding.code, finding.message, path=path, span=span_for(document, path),
                             hint=finding.hint, severity=finding.severity))
        if finding.severity is Severity.ERROR and finding.model is not None:
            refused.add(finding.model)
    for i, lowered in sorted(models.items()):
        if i in refused:
            continue
        backend = backends[i]
        if lowered.format not in backend.formats:
            able = sorted(n for n, b in registry.backends.items() if lowered.format in b.formats)
            path = real(("models", i, "format"))
            found.add(Diagnostic(
                "B403", f"backend '{backend.name}' cannot serve format '{lowered.format}'", path=path,
                span=document.span(path),
                hint=f"backends that can: {', '.join(able)}" if able else "no installed backend serves it"))
            continue
        for problem in backend.check(lowered, target):
            path = real(origin(spec, i, problem.path))
            found.add(Diagnostic("B410", f"{backend.name}: {problem.message}", path=path,
                                 span=span_for(document, path), hint=problem.hint,
                                 severity=problem.severity))
    found.extend(registry.warnings)
    found.raise_if_errors()
    if len(models) != len(spec.models):  # pragma: no cover - every skipped model reported an error
        raise InvalidSpec(found.diagnostics)
    ir = ServingIR(spec.metadata.name, spec.metadata.namespace, tuple(models[i] for i in range(len(models))))
    return ValidatedSpec(document, spec, ir, tuple(found.warnings))


def _unused_options(document: SourceDocument, spec: ServingSpec, registry: Registry,
                    real: typing.Callable[[Path], Path]) -> list[Diagnostic]:
    """`options.<backend>` for an installed backend that the model (or, in `defaults`, every model)
    does not use: it would be silently ignored, so it is a warning at the key."""
    used = {model_backend(spec, m) for m in spec.models}
    found: list[Diagnostic] = []

    def warn(path: Path, name: str, why: str) -> None:
        found.append(Diagnostic("R315", f"options for backend '{name}' are ignored: {why}", path=path,
                                span=document.span(path, key=True), severity=Severity.WARNING,
                                hint=f"remove them, or set backend: {name}"))

    for name in sorted((spec.defaults.options or {}) if spec.defaults is not None else {}):
        if name in registry.backends and name not in used:
            warn(("defaults", "options", name), name, f"no model uses it (in use: {', '.join(sorted(used))})")
    for i, model in enumerate(spec.models):
        mine = model_backend(spec, model)
        for name in sorted(model.options or {}):
            if name in registry.backends and name != mine:
                warn(real(("models", i, "options", name)), name, f"this model uses {mine}")
    return found


# Checked with their own, more specific rules (URIs: R304 naming what was found; tracking URIs: R320,
# naming the environment variables that carry registry credentials; env values: R313).
_URI_FIELDS = (("storageUri",), ("canary", "storageUri"), ("provenance", "uri"), ("canary", "provenance", "uri"),
               ("inferenceLog", "url"), ("registry", "trackingUri"), ("canary", "registry", "trackingUri"))
_UNPRINTABLE = re.compile(ENV_VALUE.replace("^[^", "[", 1).removesuffix("]*$") + "]")


def hostile_strings(document: SourceDocument, refused: set[tuple[Any, ...]]) -> list[Diagnostic]:
    """Every string of the document outside env values, wherever it is (backend options included, so
    fields added later are covered too): a credential (`specc.credentials.sensitive_value`) is refused
    without repeating it, and so are control, zero-width and bidi-override characters, which would
    reach annotations, objects and terminals. Paths that already have a structure error are skipped."""
    found: list[Diagnostic] = []

    def walk(node: Any, path: Path) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(key, str):
                    walk(value, (*path, key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, (*path, index))
        elif isinstance(node, str) and path not in refused:
            tail = path[2:] if path[:1] == ("models",) else path[1:] if path[:1] == ("defaults",) else path
            if len(path) >= 2 and path[-2] == "env":
                return  # env values: their own pattern and R313
            if _UNPRINTABLE.search(node):
                found.append(Diagnostic("S205", "must not contain control, zero-width or bidirectional-override "
                                        "characters (other than tab and newline)", path=path,
                                        span=document.span(path)))
            elif tail not in _URI_FIELDS and sensitive_value(node):
                found.append(Diagnostic("R304", "credentials must not be written into the spec",
                                        path=path, span=document.span(path),
                                        hint="put them in a Secret and reference it (secretEnv, an "
                                        "imagePullSecret, a service account)"))

    walk(document.data, ())
    return found


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
    """`options.<name>` blocks for backends that are not installed (names that are not even valid
    backend names are structure errors already)."""
    return [((*path, name), name) for path, options in _option_blocks(data)
            for name in sorted(options)
            if isinstance(name, str) and name not in registry.backends and re.fullmatch(BACKEND_NAME, name)]


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


def _usable_part(data: Any, errors: list[ErrorDetails]) -> tuple[ServingSpec | None, list[int]]:
    """The largest part of the document whose structure is valid, so that rules and backends can
    still check it: unknown keys are dropped (they were reported), a wrong `apiVersion` or `kind` is
    replaced (reported too), and models with other errors are left out. None when what is left
    cannot stand (e.g. `metadata` or `defaults` is broken: every model depends on them)."""
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        return None, []
    if not errors:
        return ServingSpec.model_validate(data), list(range(len(data["models"])))
    pruned = _prune(data, [tuple(e["loc"]) for e in errors if e["type"] == "extra_forbidden"])
    broken: set[int] = set()
    for error in errors:
        loc = tuple(error["loc"])
        if error["type"] == "extra_forbidden":
            continue
        if len(loc) >= 2 and loc[0] == "models" and isinstance(loc[1], int):
            broken.add(loc[1])
        elif loc in (("apiVersion",), ("kind",)):
            pruned[loc[0]] = API_VERSION if loc[0] == "apiVersion" else KIND
        else:
            return None, []
    keep = [i for i in range(len(pruned["models"])) if i not in broken]
    if not keep:
        return None, []
    try:
        spec = ServingSpec.model_validate({**pruned, "models": [pruned["models"][i] for i in keep]})
    except ValidationError:
        return None, []
    return spec, keep


def _prune(data: dict[str, Any], locations: Iterable[tuple[Any, ...]]) -> dict[str, Any]:
    """A copy of `data` without the keys at `locations`, copying only the containers on the way."""
    pruned = dict(data)
    for loc in locations:
        node: Any = pruned
        for part in loc[:-1]:
            child = node[part] if isinstance(node, (dict, list)) else None
            if isinstance(child, dict):
                child = dict(child)
            elif isinstance(child, list):
                child = list(child)
            else:
                break
            node[part] = child
            node = child
        else:
            if isinstance(node, dict):
                node.pop(loc[-1], None)
    return pruned


def _backend_hint(name: str, registry: Registry) -> str:
    if name in BUILTIN_BACKENDS:
        return f"the built-in '{name}' backend plugin is missing or failed to load; see `specc backends`"
    suggestion = did_you_mean(name, set(registry.backends) | set(BUILTIN_BACKENDS))
    return suggestion or f"installed backends: {', '.join(registry.names()) or 'none'}; see `specc backends`"


def span_for(document: SourceDocument, path: Path) -> Span:
    """A rule's position: a scalar's value, or the key line of a mapping or list it is about."""
    site = document.site(path)
    if site is not None and site.raw is None:
        return document.span(path, key=True)
    return document.span(path)


# -- turning pydantic errors into positioned diagnostics --------------------------------------------

def structure_diagnostics(document: SourceDocument, errors: list[ErrorDetails],
                          registry: Registry) -> list[Diagnostic]:
    """One diagnostic per structure error. A missing key is not reported separately when an unknown
    key beside it is its misspelling (the did-you-mean says it already)."""
    diagnostics = [_diagnostic(document, e, registry) for e in errors]
    misspelt: set[Path] = set()
    for error, diagnostic in zip(errors, diagnostics, strict=True):
        hint = diagnostic.hint or ""
        if error["type"] == "extra_forbidden" and hint.startswith("did you mean"):
            suggestion = hint.split("'")[1]
            misspelt.add((*diagnostic.path[:-1], suggestion))
    return [d for e, d in zip(errors, diagnostics, strict=True)
            if not (e["type"] == "missing" and d.path in misspelt)
            and not (e["type"] == "one_of" and {(*d.path, key) for key in SOURCE_KEYS} & misspelt)
            and not (e["type"] == "registry_selector" and {(*d.path, "alias"), (*d.path, "version")} & misspelt)]


_YAML11_BOOLEANS = ("yes", "no", "on", "off", "y", "n")
_TYPE_WORDS = {
    "string_type": "a string", "int_type": "an integer", "float_type": "a number",
    "bool_type": "true or false",
    "dict_type": "a mapping", "model_type": "a mapping", "model_attributes_type": "a mapping",
    "list_type": "a list", "int_parsing": "an integer", "quantity_type": "a quantity (a string or a number)",
}

_BOUND_WORDS = {
    "greater_than_equal": "at least", "greater_than": "greater than",
    "less_than_equal": "at most", "less_than": "less than",
}


def _describe(value: Any, raw: str | None = None) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (int, float)):
        shown = raw if raw is not None and len(raw) <= 40 else str(value) if len(str(value)) <= 40 else "..."
        return f"a number ({shown})"
    if isinstance(value, str):
        return f"a string ('{value}')" if len(value) <= 60 else "a long string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return f"'{value}'" if len(value) <= 80 else f"'{value[:77]}...'"
    return _describe(value)


def _diagnostic(document: SourceDocument, error: ErrorDetails, registry: Registry) -> Diagnostic:
    """The diagnostic of one structure error. A value under a secret-looking env name (`API_TOKEN: 12345`)
    is never repeated, in the message or in the hint."""
    diagnostic = _structure_diagnostic(document, error, registry)
    value = error.get("input")
    if isinstance(value, str) and sensitive_value(value):
        # A value holding a credential (an image or host written `user:password@...`): the message
        # shows it redacted, and no hint rewrites it (a did-you-mean would spell the password out).
        return dataclasses.replace(diagnostic, message=redact(diagnostic.message),
                                   hint="credentials do not belong in the spec: put them in a Secret (an "
                                   "imagePullSecret for images) and reference it")
    loc = tuple(error["loc"])
    secret = any(part in ("env", "envs") and i + 1 < len(loc) and isinstance(loc[i + 1], str)
                 and sensitive_name(str(loc[i + 1])) for i, part in enumerate(loc))
    if not secret or isinstance(value, (dict, list, bool)) or value is None:
        return diagnostic
    site = document.site(tuple(p for p in loc if isinstance(p, (str, int))))
    shown = {str(value), repr(value), *([site.raw] if site is not None and site.raw else [])}
    message, hint = diagnostic.message, diagnostic.hint
    for text in sorted((t for t in shown if t), key=len, reverse=True):
        message = message.replace(text, REDACTED)
        hint = hint.replace(text, REDACTED) if hint else hint
    return dataclasses.replace(diagnostic, message=message, hint=hint)


def _structure_diagnostic(document: SourceDocument, error: ErrorDetails, registry: Registry) -> Diagnostic:
    loc: Path = tuple(p for p in error["loc"] if isinstance(p, (str, int)))
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")
    if loc and loc[-1] == "[key]":
        return _key_diagnostic(document, loc[:-1], error, registry)
    site = document.site(loc)
    raw = site.raw if site is not None and not site.quoted else None
    if kind == "missing":
        return Diagnostic("S202", f"missing required field '{loc[-1]}'", path=loc,
                          span=document.span(loc[:-1], key=True), hint=_choices_hint(loc))
    if kind == "extra_forbidden":
        return Diagnostic("S201", f"unknown field {_shown(loc[-1])}", path=loc,
                          span=document.span(loc, key=True), hint=_unknown_key_hint(loc, registry))
    if kind in ("literal_error", "enum"):
        expected = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        hint = did_you_mean(value, expected) if isinstance(value, str) else None
        if len(expected) == 1:
            message = f"{_shown(value)} must be '{expected[0]}'"
        else:
            message = f"{_shown(value)} is not one of: {', '.join(expected)}"
        return Diagnostic("S204", message, path=loc, span=document.span(loc), hint=hint)
    if kind in _TYPE_WORDS:
        message = f"expected {_TYPE_WORDS[kind]}, got {_describe(value, raw)}"
        hint = None
        if kind == "string_type" and raw is not None and isinstance(value, (int, float, bool)):
            what = "true or false" if isinstance(value, bool) else "a number"
            hint = f'quote it: "{raw}" (unquoted, YAML reads it as {what})'
        elif site is not None and site.quoted and kind in ("int_type", "float_type", "bool_type"):
            hint = "remove the quotes"
        elif kind == "bool_type" and isinstance(value, str) and value.lower() in _YAML11_BOOLEANS:
            hint = f"YAML 1.2 booleans are true and false; did you mean {_yes_no(value)}?"
        elif kind == "int_type" and isinstance(value, float):
            hint = "use a whole number"
        return Diagnostic("S203", message, path=loc, span=document.span(loc), hint=hint)
    if kind == "string_pattern_mismatch" and loc[-2:] == ("inferenceLog", "url"):
        # A sink URL may hold a credential: never repeat it, not even to refuse it.
        return Diagnostic("S205", f"the inference log URL {PATTERN_MEANING[SINK_URL]}", path=loc,
                          span=document.span(loc), hint="e.g. http://sink.logging.svc.cluster.local/")
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern"))
        meaning = PATTERN_MEANING.get(pattern, f"must match {pattern}")
        hint = _pattern_hint(pattern, value)
        if pattern == BACKEND_NAME and isinstance(value, str):
            hint = _backend_hint(value, registry)
        return Diagnostic("S205", f"{_shown(value)} {meaning}", path=loc, span=document.span(loc), hint=hint)
    if kind in ("string_too_long", "too_long"):
        limit = ctx.get("max_length")
        size = len(value) if isinstance(value, (str, list, dict)) else "?"
        what = "characters" if kind == "string_too_long" else "items"
        hint = None
        if limit == 63:
            hint = "the names of Kubernetes objects and labels are limited to 63 characters"
        # Too many items: the key that holds the list, not its first item.
        return Diagnostic("S206", f"is {size} {what} long; the limit is {limit}", path=loc,
                          span=document.span(loc, key=kind == "too_long"), hint=hint)
    if kind == "too_short":
        need = ctx.get("min_length")
        hint = "add a model: - {name: ..., format: ..., storageUri: ...}" if loc == ("models",) else None
        return Diagnostic("S206", f"needs at least {need} item{'s' if need != 1 else ''}", path=loc,
                          span=document.span(loc, key=True), hint=hint)
    if kind in _BOUND_WORDS:
        bound = next(iter(ctx.values()), "?")
        hint = None
        if loc[-1:] == ("traffic",):
            hint = "traffic is the percentage of requests for the canary (0-100)"
        return Diagnostic("S206", f"{_describe(value, raw)} must be {_BOUND_WORDS[kind]} {bound}", path=loc,
                          span=document.span(loc), hint=hint)
    if kind == "one_of":
        return _one_of(document, loc, value)
    if kind == "registry_selector":
        return _registry_selector(document, loc, value)
    if kind == "null_value":
        name = loc[-1] if loc else "value"
        return Diagnostic("S203", f"'{name}' is empty (null)", path=loc, span=document.span(loc, key=True),
                          hint="give it a value or remove the key")
    if kind == "quantity":
        return Diagnostic("S205", error["msg"], path=loc, span=document.span(loc), hint=quantity_hint(value))
    return Diagnostic("S203", error["msg"], path=loc, span=document.span(loc))


def _key_diagnostic(document: SourceDocument, path: Path, error: ErrorDetails,
                    registry: Registry) -> Diagnostic:
    """A free-form mapping (env, options) with a key that is not allowed there."""
    kind, key, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    span = document.span(path, key=True)
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern"))
        meaning = PATTERN_MEANING.get(pattern, f"must match {pattern}")
        hint = _pattern_hint(pattern, key)
        if pattern == BACKEND_NAME and isinstance(key, str):
            hint = did_you_mean(key, set(registry.backends) | set(BUILTIN_BACKENDS)) or hint
        return Diagnostic("S205", f"key {_shown(key)} {meaning}", path=path, span=span, hint=hint)
    if kind == "string_too_long":
        return Diagnostic("S206", f"key is {len(key) if isinstance(key, str) else '?'} characters long; the "
                          f"limit is {ctx.get('max_length')}", path=path, span=span)
    return Diagnostic("S203", f"key {_shown(key)} is not allowed here", path=path, span=span)


def _one_of(document: SourceDocument, loc: Path, value: Any) -> Diagnostic:
    what = "a canary" if loc[-1:] == ("canary",) else "a model"
    span = document.span(loc, key=True)
    given = [key for key in SOURCE_KEYS if isinstance(value, dict) and key in value]
    if len(given) > 1:
        listed = " and ".join(f"'{key}'" for key in given)
        return Diagnostic("S207", f"{what} has {'both ' if len(given) == 2 else ''}{listed}; it needs exactly "
                          "one", path=loc, span=span, hint="keep 'storageUri' for model artifacts an engine "
                          "loads, 'registry' for a registry entry resolved when planning, or 'image' for a "
                          "serving image")
    return Diagnostic("S207", f"{what} needs 'storageUri', 'registry' or 'image'", path=loc, span=span,
                      hint="'storageUri' for model artifacts an engine loads (s3://..., gs://..., "
                      "pvc://...), 'registry' for a registry entry ({provider: mlflow, model: NAME, "
                      "alias: champion}), 'image' for a serving image")


def _registry_selector(document: SourceDocument, loc: Path, value: Any) -> Diagnostic:
    span = document.span(loc, key=True)
    if isinstance(value, dict) and "alias" in value and "version" in value:
        return Diagnostic("S207", "a registry reference has both 'alias' and 'version'; it needs exactly one",
                          path=loc, span=span, hint="an alias (champion) follows the registry; a version "
                          "(\"3\") pins one")
    return Diagnostic("S207", "a registry reference needs 'alias' or 'version'", path=loc, span=span,
                      hint="e.g. alias: champion, or version: \"3\"")


def _yes_no(value: str) -> str:
    return "true" if value.lower() in ("yes", "on", "y") else "false"


def _choices_hint(loc: Path) -> str | None:
    """What a missing field looks like: its choices, its one allowed value, or its required keys."""
    annotation = _field_annotation(loc)
    choices = typing.get_args(annotation) if typing.get_origin(annotation) is typing.Literal else ()
    if len(choices) > 1:
        return "one of: " + ", ".join(str(c) for c in choices)
    if len(choices) == 1:
        return f"{loc[-1]}: {choices[0]}"
    if typing.get_origin(annotation) is list:
        return f"{loc[-1]}: a list of entries, e.g. - {{name: ..., format: ..., storageUri: ...}}" \
            if loc == ("models",) else f"{loc[-1]}: a list"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        required = [f.alias or n for n, f in annotation.model_fields.items() if f.is_required()]
        return f"{loc[-1]}: {{{', '.join(f'{key}: ...' for key in required)}}}" if required else None
    return None


_MODEL_KEYS = frozenset(f.alias or n for n, f in Model.model_fields.items())
_DEFAULTS_KEYS = frozenset(f.alias or n for n, f in Defaults.model_fields.items())
_TOP_KEYS = frozenset(f.alias or n for n, f in ServingSpec.model_fields.items())


def _unknown_key_hint(loc: Path, registry: Registry) -> str | None:
    key, parent = str(loc[-1]), loc[:-1]
    allowed = _allowed_keys(parent, registry)
    if key not in allowed:
        # A real key in the wrong place is more likely than a typo: say where it belongs.
        if parent == ("defaults",) and key in _MODEL_KEYS:
            return f"'{key}' is set on each model, not in defaults"
        if parent == () and key in _MODEL_KEYS:
            return f"'{key}' belongs to a model: put it under 'models:'"
        if len(parent) == 2 and parent[0] == "models" and key in _TOP_KEYS - _MODEL_KEYS:
            return f"'{key}' belongs at the top level of the spec, not in a model"
    return did_you_mean(key, allowed) if allowed else None


_LABEL_PATTERNS = (DNS1035, DNS1123_LABEL, DNS1123_SUBDOMAIN, HOSTNAME)


def _pattern_hint(pattern: str, value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    if pattern == HOSTNAME and ":" in value and "@" not in value:
        return "an Ingress host must be a DNS name, not an IP address (or host:port)"
    if pattern == HOSTNAME and any(len(label) > 63 for label in value.split(".")):
        return "each part of a host name between dots is at most 63 characters (RFC 1035)"
    if pattern in _LABEL_PATTERNS:
        ascii_value = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")
        fixed = re.sub(r"[^a-z0-9.-]+", "-", ascii_value.lower().replace("_", "-"))
        fixed = fixed.replace(".", "-") if pattern in (DNS1035, DNS1123_LABEL) else fixed
        fixed = fixed.strip("-.")
        if pattern == DNS1035 and value[:1].isdigit():
            return f"a name starts with a letter, e.g. 'model-{fixed or value}'"
        if fixed and fixed != value and re.match(pattern, fixed):
            return f"did you mean '{fixed}'?"
        return None
    if pattern == ENV_NAME:
        if value[:1].isdigit():
            return "an environment variable name cannot start with a digit"
        return "use letters, digits and '_' (e.g. LOG_LEVEL)"
    if pattern == URI:
        return _uri_hint(value)
    if pattern == IMAGE:
        return image_hint(value)
    return None


def _uri_hint(value: str) -> str | None:
    if "://" not in value:
        if value.startswith(("/", "./", "~")) or re.match(r"^[A-Za-z]:\\", value):
            return ("a local path is not visible in the cluster: upload the model to object storage, or "
                    "put it on a volume (pvc://claim/path)")
        return "write the scheme too, e.g. s3://bucket/path"
    scheme = value.split("://", 1)[0]
    if scheme != scheme.lower() and re.match(r"^[a-z][a-z0-9+.-]*$", scheme.lower()):
        return f"write the scheme in lowercase: {scheme.lower()}://"
    if any(c.isspace() for c in value):
        return "remove the spaces, or percent-encode them as %20"
    if "[" in value or "]" in value:
        return "percent-encode '[' and ']' as %5B and %5D"
    return None


def image_hint(value: str) -> str | None:
    """What is wrong with an image reference that the IMAGE pattern refused."""
    name, _, digest = value.partition("@")
    last = name.rsplit("/", 1)[-1]
    repository, _, tag = last.partition(":") if ":" in last else (last, "", "")
    path = name[: len(name) - len(last)] + repository
    components = path.split("/")
    has_registry = len(components) > 1 and re.search(r"[.:]|^localhost$", components[0]) is not None
    repo_path = "/".join(components[1:] if has_registry else components)
    if any(c.isspace() for c in value):
        return "an image reference has no spaces"
    if repo_path != repo_path.lower():
        fixed = value.replace(repo_path, repo_path.lower(), 1)
        return f"repository names must be lowercase: did you mean '{fixed}'?"
    if tag and not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", tag):
        return "a tag has letters, digits, '_', '.' and '-' (at most 128, not starting with '.' or '-')"
    if digest and not re.fullmatch(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-fA-F]{32,}", digest):
        return "a digest is algorithm:hex, e.g. @sha256: followed by 64 hex digits"
    if "://" in value:
        return "an image reference has no scheme: registry.example.com/team/name:1.2.3"
    return None


def quantity_hint(value: Any) -> str | None:
    """A hint for a quantity the pattern refused: 2GB, 2gi, '2 Gi', -1, 1.5.2."""
    if not isinstance(value, str) or len(value) > QUANTITY_MAX_LENGTH or quantity_problem(value):
        return None  # out of range: the message says so, an example would not help
    text = value.strip()
    if text != value or " " in text:
        return f"remove the spaces: '{text.replace(' ', '')}'"
    match = re.fullmatch(r"([0-9.]+)([KMGTPEkmgtpe])([iI]?)[bB]", text)
    if match:
        number, unit, binary = match.groups()
        unit = "k" if unit in "kK" and not binary else unit.upper()
        return (f"Kubernetes writes sizes without 'B': '{number}{unit.upper() if unit != 'k' else 'K'}i' "
                f"(powers of 1024) or '{number}{unit}' (powers of 1000)")
    if text.startswith("-"):
        return "a resource amount cannot be negative"
    if text.count(".") > 1:
        return "a quantity has at most one decimal point"
    match = re.fullmatch(r"([0-9.]+)([kmgtpe])i", text, flags=re.IGNORECASE)
    if match:
        return f"suffixes are case-sensitive: did you mean '{match.group(1)}{match.group(2).upper()}i'?"
    return "examples: cpu '500m' or 2; memory '512Mi' or '4Gi'"


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
    annotation = _annotation_at(path, root)
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [f.alias or n for n, f in annotation.model_fields.items()]
    return []


def _field_annotation(path: Path) -> Any:
    return _unwrap(_annotation_at(path, ServingSpec))


def _annotation_at(path: Path, root: type[BaseModel]) -> Any:
    annotation: Any = root
    for part in path:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = next((f for n, f in annotation.model_fields.items() if (f.alias or n) == part), None)
            if field is None:
                return None
            annotation = field.annotation
        else:
            origin_type = typing.get_origin(annotation)
            args = typing.get_args(annotation)
            if origin_type is list and args:
                annotation = args[0]
            elif origin_type is dict and len(args) == 2:
                annotation = args[1]
            else:
                return None
    return annotation


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
