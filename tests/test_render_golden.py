"""Every example, compiled natively and for each installed backend, against golden files.

A combination a backend cannot serve has a golden file of its diagnostics instead of YAML, so the
reason is reviewed as carefully as the objects. Regenerate with `pytest --update-golden`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from specc.diagnostics import SpeccError
from specc.manifest_yaml import dump_all
from specc.pipeline import compile_file
from specc.registry import load_registry
from specc.report.diagnostics import diagnostics_text
from specc.source import source_line

from .conftest import EXAMPLES, GOLDEN, ROOT

EXAMPLE_FILES = sorted(EXAMPLES.glob("*/serving.yaml"))
BACKENDS = load_registry().names()


def _render(spec: Path, backend: str | None) -> tuple[str, str]:
    try:
        compiled = compile_file(str(spec.relative_to(ROOT)), backend=backend)
    except SpeccError as error:
        return "errors.txt", diagnostics_text(error.diagnostics, source_line)  # as `specc render` shows them
    return "yaml", dump_all(o.body for o in compiled.desired)


@pytest.mark.parametrize("spec", EXAMPLE_FILES, ids=lambda p: p.parent.name)
def test_native_render(spec: Path, golden, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(ROOT)
    suffix, text = _render(spec, None)
    assert suffix == "yaml", f"{spec.parent.name} must compile for its own backends:\n{text}"
    golden(GOLDEN / "native" / f"{spec.parent.name}.yaml", text)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("spec", EXAMPLE_FILES, ids=lambda p: p.parent.name)
def test_render_for_backend(spec: Path, backend: str, golden, update_golden: bool,  # type: ignore[no-untyped-def]
                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    suffix, text = _render(spec, backend)
    other = GOLDEN / backend / f"{spec.parent.name}.{'errors.txt' if suffix == 'yaml' else 'yaml'}"
    if update_golden:
        other.unlink(missing_ok=True)
    assert not other.exists(), f"{other.relative_to(ROOT)} is stale: this combination now gives {suffix}"
    golden(GOLDEN / backend / f"{spec.parent.name}.{suffix}", text)


@pytest.mark.parametrize("spec", EXAMPLE_FILES, ids=lambda p: p.parent.name)
def test_render_is_byte_stable(spec: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    first = _render(spec, None)
    second = _render(spec, None)
    assert first == second
