"""The resolve stage: registry references become artifact locations and provenance, between
validation and compilation, when specc plans, applies or renders (never when it validates).

Takes a `ValidatedSpec` whose models may name `registry: {provider, model, alias|version}`, the
backends, the target and `ResolveOptions` (timeout, environment); returns the same spec with every
such model's `storage` and `provenance` (and its canary's) filled in from the registry, plus one
`Resolution` per reference, which plans show and saved plans pin. Like a Terraform data source, it
reads and never writes.

The location a registry reports goes through the same checks as a `storageUri` typed into the spec
(`rules.storage_findings`, then the backend's `check`), so a registry cannot point a model at
something its backend cannot fetch. Every problem is a diagnostic (stage G) at the `registry:`
field's FILE:LINE:COL, all raised together as one `ResolveError`. Registry plugins are found through
the entry-point group `specc.registries`; only `specc.registry_client` talks to a registry. Must not
print, read files or talk to a cluster.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from specc.backend_api import Target
from specc.credentials import uri_credential
from specc.diagnostics import Diagnostic, DiagnosticCollector, Path, Severity, SpeccError, did_you_mean
from specc.ir import ModelIR, ProvenanceIR, RegistryRefIR, ServingIR
from specc.lower import origin, storage_ref
from specc.registry import Registry
from specc.registry_api import Reference, RegistryFault, RegistryProvider, Resolved
from specc.resolution import Resolution
from specc.rules import check_spec, storage_findings
from specc.spec import URI
from specc.validate import ValidatedSpec, span_for

GROUP = "specc.registries"
DEFAULT_TIMEOUT = 10.0
_FAULT_CODES = {
    "config": "G901", "unreachable": "G902", "timeout": "G903", "unauthorized": "G904",
    "forbidden": "G905", "not-found": "G906", "unusable": "G907", "bad-answer": "G908",
}
_URI = re.compile(URI)


class ResolveError(SpeccError):
    """A registry reference could not be resolved to something the backend can serve (exit 1)."""


@dataclass(frozen=True)
class ResolveOptions:
    timeout: float = DEFAULT_TIMEOUT
    environ: Mapping[str, str] | None = None  # None: the process environment

    def env(self) -> Mapping[str, str]:
        return os.environ if self.environ is None else self.environ


@dataclass(frozen=True)
class Providers:
    providers: Mapping[str, RegistryProvider]
    warnings: tuple[Diagnostic, ...] = ()

    def names(self) -> list[str]:
        return sorted(self.providers)


def load_providers(points: Iterable[EntryPoint] | None = None) -> Providers:
    """Every registry plugin; one that fails to load is a warning, never fatal."""
    if points is None:
        return _installed()
    found: dict[str, RegistryProvider] = {}
    warnings: list[Diagnostic] = []
    for point in sorted({(p.name, p.value): p for p in points}.values(), key=lambda p: (p.name, p.value)):
        try:
            loaded = point.load()
        except Exception as exc:  # a broken plugin must not take specc down with it
            warnings.append(Diagnostic("G911", f"registry plugin '{point.name}' ({point.value}) failed to load: "
                                       f"{type(exc).__name__}: {exc}", severity=Severity.WARNING))
            continue
        provider = loaded() if isinstance(loaded, type) else loaded
        if not isinstance(provider, RegistryProvider):
            warnings.append(Diagnostic("G911", f"registry plugin '{point.name}' ({point.value}) is not a specc "
                                       "RegistryProvider instance", severity=Severity.WARNING))
            continue
        if point.name in found:
            warnings.append(Diagnostic("G911", f"two plugins are registered as registry '{point.name}'; keeping "
                                       "the first", severity=Severity.WARNING))
            continue
        found[point.name] = provider
    return Providers(found, tuple(warnings))


@cache
def _installed() -> Providers:
    return load_providers(entry_points(group=GROUP))


def references(ir: ServingIR) -> list[tuple[ModelIR, str, RegistryRefIR]]:
    """Every unresolved registry reference of a spec: (model, role, reference)."""
    found: list[tuple[ModelIR, str, RegistryRefIR]] = []
    for model in ir.models:
        if model.registry is not None and model.storage is None:
            found.append((model, "model", model.registry))
        if model.canary is not None and model.canary.registry is not None and model.canary.storage is None:
            found.append((model, "canary", model.canary.registry))
    return found


def _reference(ref: RegistryRefIR) -> Reference:
    return Reference(ref.provider, ref.model, ref.alias, ref.version, ref.tracking_uri)


def lookup(ref: Reference, providers: Providers, options: ResolveOptions) -> tuple[Resolved, str]:
    """Ask the registry for one reference: (the resolved version, the endpoint that answered)."""
    from specc.registry_client import HttpJsonApi  # the network client, only when a spec needs it

    provider = providers.providers.get(ref.provider)
    if provider is None:
        installed = ", ".join(providers.names()) or "none"
        raise RegistryFault("config", f"unknown registry provider '{ref.provider}' (installed: {installed})",
                            did_you_mean(ref.provider, providers.providers) or "see the README's registry "
                            "section for writing one")
    endpoint = provider.endpoint(ref, options.env())
    why = uri_credential(endpoint.base_uri)
    if why is not None:  # whatever the plugin read: messages name the endpoint, so it must hold none
        raise RegistryFault("config", f"the registry's address has a credential in it ({why}); it is not used "
                            "or shown", "pass credentials through the environment the registry plugin reads "
                            "(for MLflow: MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME/PASSWORD)")
    return provider.resolve(ref, HttpJsonApi(endpoint, options.timeout)), endpoint.base_uri


def resolve_spec(validated: ValidatedSpec, backends: Registry, target: Target, options: ResolveOptions,
                 providers: Providers | None = None) -> tuple[ValidatedSpec, tuple[Resolution, ...]]:
    """Resolve every registry reference; raise `ResolveError` with every problem found."""
    pending = references(validated.ir)
    if not pending:
        return validated, ()
    providers = providers or load_providers()
    document = validated.document
    found = DiagnosticCollector()
    answers: dict[tuple[Reference, str], tuple[Resolved, str] | RegistryFault] = {}
    resolved_models: dict[str, ModelIR] = {m.name: m for m in validated.ir.models}
    resolutions: list[Resolution] = []
    for model, role, ref in pending:
        span = document.span(ref.path, key=True)
        reference = _reference(ref)
        env_uri = None if ref.tracking_uri is not None else options.env().get("MLFLOW_TRACKING_URI")
        cache_key = (reference, env_uri or "")
        if cache_key not in answers:  # the same reference twice (a model and a canary): ask once
            try:
                answers[cache_key] = lookup(reference, providers, options)
            except RegistryFault as fault:
                answers[cache_key] = fault
        answer = answers[cache_key]
        where = f"{ref.provider} {ref.selector}"
        if isinstance(answer, RegistryFault):
            found.add(Diagnostic(_FAULT_CODES.get(answer.kind, "G908"), f"{where}: {answer.message}",
                                 path=ref.path, span=span, hint=answer.hint))
            continue
        resolved, endpoint = answer
        problems = list(_location_problems(resolved, ref, where, span))
        found.extend(problems)
        if any(p.severity is Severity.ERROR for p in problems):
            continue
        provenance = ProvenanceIR(ref.provider, resolved.registry_uri, resolved.version, resolved.run_id)
        current = resolved_models[model.name]
        storage = storage_ref(resolved.storage_uri)
        if role == "model":
            current = dataclasses.replace(current, storage=storage, provenance=provenance)
        else:
            assert current.canary is not None
            current = dataclasses.replace(current, canary=dataclasses.replace(
                current.canary, storage=storage, provenance=provenance))
        resolved_models[model.name] = current
        resolutions.append(Resolution(
            model=model.name, role=role, provider=ref.provider, reference=ref.selector, registry_model=ref.model,
            alias=ref.alias, requested_version=ref.version, tracking_uri=ref.tracking_uri, endpoint=endpoint,
            version=resolved.version, run_id=resolved.run_id, registry_uri=resolved.registry_uri,
            storage_uri=resolved.storage_uri, source=resolved.source, mapped=resolved.mapped,
            tags=dict(resolved.tags), model_tags=dict(resolved.model_tags)))
    found.raise_if_errors(ResolveError)
    # The backend and the rules see the resolved model exactly as they would see typed values: the
    # location gets a typed storageUri's checks, and what depends on provenance (a canary's own, the
    # logger's metadata) is checked now that it is known. Findings validate already reported are not
    # repeated.
    known = {(d.code, d.message, d.path) for d in validated.warnings}
    checked: set[str] = set()
    for model, _, _ in pending:
        lowered = resolved_models[model.name]
        backend = backends.backends.get(lowered.backend)
        if backend is None or model.name in checked:
            continue
        checked.add(model.name)
        index = int(model.path[1]) if len(model.path) > 1 else 0
        for problem in backend.check(lowered, target):
            at = _storage_reference(lowered, problem.path)
            if at is not None:
                found.add(Diagnostic("G909", f"{at.provider} {at.selector} resolves to "
                                     f"{_resolution_uri(resolutions, model.name, problem.path)}, and {backend.name}: "
                                     f"{problem.message}", path=at.path, span=document.span(at.path, key=True),
                                     hint=problem.hint, severity=problem.severity))
                continue
            path = origin(validated.spec, index, problem.path)
            message = f"{backend.name}: {problem.message}"
            if ("B410", message, path) not in known:
                found.add(Diagnostic("B410", message, path=path, span=span_for(document, path), hint=problem.hint,
                                     severity=problem.severity))
    models = {int(m.path[1]): m for m in resolved_models.values() if len(m.path) > 1}
    for finding in check_spec(validated.spec, models):
        if finding.model is None or models[finding.model].name not in checked:
            continue
        if (finding.code, finding.message, finding.path) not in known:
            found.add(Diagnostic(finding.code, finding.message, path=finding.path,
                                 span=span_for(document, finding.path), hint=finding.hint,
                                 severity=finding.severity))
    found.raise_if_errors(ResolveError)
    ir = dataclasses.replace(validated.ir, models=tuple(resolved_models[m.name] for m in validated.ir.models))
    warnings = (*validated.warnings, *found.warnings, *providers.warnings)
    return dataclasses.replace(validated, ir=ir, warnings=warnings), tuple(resolutions)


def _storage_reference(model: ModelIR, path: Path) -> RegistryRefIR | None:
    """The registry reference behind a problem about a storage location, if it came from one."""
    if tuple(path[:1]) == ("storageUri",):
        return model.registry
    if tuple(path[:2]) == ("canary", "storageUri") and model.canary is not None:
        return model.canary.registry
    return None


def _resolution_uri(resolutions: Iterable[Resolution], model: str, path: Path) -> str:
    role = "canary" if tuple(path[:1]) == ("canary",) else "model"
    return next((r.storage_uri for r in resolutions if r.model == model and r.role == role), "?")


def _location_problems(resolved: Resolved, ref: RegistryRefIR, where: str, span: Any) -> Iterable[Diagnostic]:
    """The checks of a typed storageUri, for a location the registry reported."""
    uri = resolved.storage_uri
    shown = f"{where} resolves to {uri}"
    if len(uri) > 2048 or not _URI.fullmatch(uri):
        hint = ("a local path is not visible in the cluster" if uri.startswith("/") else
                "the location must be an ASCII URI such as s3://bucket/path")
        yield Diagnostic("G909", f"{shown}, which is not a storage URI specc can hand to a storage initializer",
                         path=ref.path, span=span, hint=hint)
        return
    for finding in storage_findings(storage_ref(uri), ref.path):
        yield Diagnostic("G909", f"{shown}: {finding.message}", path=ref.path, span=span, hint=finding.hint,
                         severity=finding.severity)
