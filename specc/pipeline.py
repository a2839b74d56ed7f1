"""The pipeline from a spec file to its desired objects: read -> validate -> resolve -> compile.

Takes a file name (and what to compile for); returns a `Compiled` value. Composes the stages and does
nothing itself; raises the stages' `SpeccError`s unchanged. Must not print.

`resolve` (registry references to artifacts, `specc.resolve`) runs only when asked for (plan, apply,
render) and only imports the registry machinery when the spec has a reference, so `validate` stays
offline. Without it, models whose artifacts come from a registry are checked but not compiled
(`ModelIR.unresolved`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from specc.backend_api import Target
from specc.compiler import compile_spec
from specc.diagnostics import Diagnostic
from specc.objects import DesiredSet
from specc.registry import Registry, load_registry
from specc.source import SourceDocument, read_spec
from specc.validate import ValidatedSpec, validate

if TYPE_CHECKING:
    from specc.resolution import Resolution
    from specc.resolve import ResolveOptions

DEFAULT_KUBE_VERSION = (1, 30)


@dataclass(frozen=True)
class Compiled:
    validated: ValidatedSpec
    desired: DesiredSet
    warnings: tuple[Diagnostic, ...]
    resolutions: tuple[Resolution, ...] = ()


def target_for(kube_version: tuple[int, int] | None) -> Target:
    return Target(kube_version or DEFAULT_KUBE_VERSION)


def compile_document(document: SourceDocument, *, kube_version: tuple[int, int] | None = None,
                     backend: str | None = None, namespace: str | None = None,
                     registry: Registry | None = None, resolve: ResolveOptions | None = None) -> Compiled:
    """`namespace` overrides `metadata.namespace` (deploying one spec to another namespace); `resolve`
    asks the registries for the models that name one."""
    registry = registry or load_registry()
    if namespace is not None and isinstance(document.data, dict) and isinstance(document.data.get("metadata"), dict):
        data = {**document.data, "metadata": {**document.data["metadata"], "namespace": namespace}}
        document = dataclasses.replace(document, data=data)
    target = target_for(kube_version)
    validated = validate(document, registry, target, backend_override=backend)
    resolutions: tuple[Resolution, ...] = ()
    if resolve is not None and any(m.unresolved for m in validated.ir.models):
        from specc.resolve import resolve_spec

        validated, resolutions = resolve_spec(validated, registry, target, resolve)
    desired = compile_spec(validated, registry, target)
    return Compiled(validated, desired, validated.warnings, resolutions)


def compile_file(file: str, *, kube_version: tuple[int, int] | None = None, backend: str | None = None,
                 namespace: str | None = None, registry: Registry | None = None,
                 resolve: ResolveOptions | None = None) -> Compiled:
    return compile_document(read_spec(file), kube_version=kube_version, backend=backend, namespace=namespace,
                            registry=registry, resolve=resolve)
