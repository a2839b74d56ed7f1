"""Helpers for tests that compile a spec written inline: compile it, or collect the errors it raises."""

from __future__ import annotations

import pytest

from specc.diagnostics import Diagnostic, Severity, SpeccError
from specc.pipeline import Compiled, compile_document
from specc.source import parse_spec


def compile_text(text: str, kube_version: tuple[int, int] | None = None) -> Compiled:
    return compile_document(parse_spec(text, "serving.yaml"), kube_version=kube_version)


def compile_errors(text: str) -> list[Diagnostic]:
    """The error diagnostics (warnings left out) of a spec that must fail to compile."""
    with pytest.raises(SpeccError) as raised:
        compile_text(text)
    return [d for d in raised.value.diagnostics if d.severity is Severity.ERROR]
