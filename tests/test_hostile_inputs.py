"""Hostile inputs too large to commit as case folders, built here (tests/cases/README.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from specc.diagnostics import InvalidSpec
from specc.pipeline import compile_document
from specc.source import parse_spec

HANG_GUARD = 60  # seconds: a guard against a hang (quadratic patterns took minutes), not a speed assertion
HEAD = "apiVersion: specc.dev/v1alpha1\nkind: ServingSpec\nmetadata: {name: a, namespace: b}\n"


def test_too_many_items_points_at_the_key_that_holds_them() -> None:
    models = "".join(f"  - {{name: m{i}, format: sklearn, storageUri: s3://b/m}}\n" for i in range(2001))
    with pytest.raises(InvalidSpec) as error:
        compile_document(parse_spec(HEAD + "models:\n" + models, "many.yaml"))
    (found,) = [d for d in error.value.diagnostics if d.code == "S206"]
    assert found.span is not None and (found.span.line, found.span.col) == (4, 1)
    assert "2001 items" in found.message


@pytest.mark.parametrize("quantity", ["9" * 4400, "1" + "0" * 4299 + "Ki", "1e" + "9" * 4000, "0." + "1" * 5000])
def test_quantities_of_thousands_of_characters_are_refused_at_once(quantity: str) -> None:
    spec = HEAD + f"models:\n  - {{name: m, format: sklearn, storageUri: s3://b/m, resources: {{cpu: '{quantity}'}}}}\n"
    with pytest.raises(InvalidSpec) as error:
        compile_document(parse_spec(spec, "q.yaml"))
    (found,) = error.value.diagnostics
    assert found.code == "S205" and "a quantity has at most 64" in found.message


def test_pathological_values_do_not_hang_the_credential_checks(tmp_path: Path) -> None:
    # Each value is a worst case for one of the credential patterns if it were not linear (a scheme-like
    # run, repeated `=user:password` starts, token prefixes repeated); 32 KiB is the env value limit.
    values = {"A": "a" * 32000, "B": "=a:b" * 8000, "C": "sk-" * 10000, "D": "eyJ" * 10000, "E": "a://x:" * 5000,
              "F": "AccountKey" * 3000, "G": "ghp_" * 8000, "H": "a+" * 16000}
    env = "".join(f"      {k}: '{v}'\n" for k, v in values.items())
    spec = tmp_path / "serving.yaml"
    spec.write_text(HEAD + "models:\n  - name: m\n    format: sklearn\n    storageUri: s3://b/m\n    env:\n" + env,
                    encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "specc", "plan", str(spec), "--target", f"dir:{tmp_path / 'out'}"],
                          capture_output=True, text=True, timeout=HANG_GUARD, check=False)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
