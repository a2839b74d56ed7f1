"""The backend registry: finds backend plugins through the `specc.backends` entry-point group.

Takes the installed distributions' entry points and returns a `Registry` of loaded `Backend`
instances, plus a warning diagnostic for each plugin that failed to load (it is skipped, never
fatal). The built-in backends are found exactly like a third party's. Must not print.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import EntryPoint, entry_points

from specc.backend_api import Backend
from specc.diagnostics import CompileError, Diagnostic, Path, Severity, Span, did_you_mean
from specc.ir import ModelIR

GROUP = "specc.backends"


@dataclass(frozen=True)
class Registry:
    backends: Mapping[str, Backend]
    warnings: tuple[Diagnostic, ...] = field(default=())

    def names(self) -> list[str]:
        return sorted(self.backends)

    def get(self, name: str, *, path: Path = (), span: Span | None = None) -> Backend:
        try:
            return self.backends[name]
        except KeyError:
            raise CompileError([self.unknown(name, path=path, span=span)]) from None

    def artifact_layout(self, model: ModelIR, backend: str) -> frozenset[str] | None:
        """What `backend`'s serving container reads under `model`'s storageUri (None: unknown, or
        the backend is not installed)."""
        found = self.backends.get(backend)
        return found.artifact_layout(model) if found is not None else None

    def unknown(self, name: str, *, path: Path = (), span: Span | None = None) -> Diagnostic:
        installed = ", ".join(self.names()) or "none"
        return Diagnostic("B401", f"unknown backend '{name}' (installed: {installed})", path=path, span=span,
                          hint=did_you_mean(name, self.backends) or "see `specc backends`")


def load_registry(points: Iterable[EntryPoint] | None = None) -> Registry:
    """Load every backend plugin. A plugin that fails to import or is not a Backend is a warning."""
    if points is None:
        return _installed()
    backends: dict[str, Backend] = {}
    warnings: list[Diagnostic] = []
    # The same distribution can be visible twice (e.g. an editable install beside a built one).
    for point in sorted({(p.name, p.value): p for p in points}.values(), key=lambda p: (p.name, p.value)):
        try:
            loaded = point.load()
        except Exception as exc:  # a broken plugin must not take specc down with it
            warnings.append(Diagnostic(
                "B402", f"backend plugin '{point.name}' ({point.value}) failed to load: "
                f"{type(exc).__name__}: {exc}", severity=Severity.WARNING))
            continue
        backend = loaded() if isinstance(loaded, type) else loaded
        if not isinstance(backend, Backend) or not backend.name:
            warnings.append(Diagnostic(
                "B402", f"backend plugin '{point.name}' ({point.value}) is not a specc Backend instance",
                severity=Severity.WARNING))
            continue
        if point.name != backend.name:
            warnings.append(Diagnostic(
                "B402", f"backend plugin '{point.name}' calls itself '{backend.name}'; using "
                f"'{point.name}'", severity=Severity.WARNING))
        if point.name in backends:
            warnings.append(Diagnostic(
                "B402", f"two plugins are registered as backend '{point.name}'; keeping the first",
                severity=Severity.WARNING))
            continue
        backends[point.name] = backend
    return Registry(backends, tuple(warnings))


@cache
def _installed() -> Registry:
    return load_registry(entry_points(group=GROUP))
