"""Shared test configuration.

- `--update-golden` rewrites golden files from the current output instead of comparing (golden files
  are never edited by hand).
- Case folders (format in tests/cases/README.md): `tests/cases/valid/<case>/serving.yaml` must
  validate (with the warnings of an optional `warnings.yaml`); `tests/cases/invalid/<case>/serving.yaml`
  (or `input.bin` for raw bytes) must fail with exactly the `{line, col, code, message, hint}` listed in
  its `expected.yaml` (`message` and `hint` are fragments); `tests/cases/diff/<case>/` holds an old and
  a new spec for `specc diff`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
CASES = TESTS / "cases"
GOLDEN = TESTS / "golden"
EXAMPLES = ROOT / "examples"

# The real MLflow tracking server and its client, for registry references (tests/ and tests/cluster/).
pytest_plugins = ("tests.registry_fixtures",)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite golden files from the current output")


@pytest.fixture(scope="session")
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture
def golden(update_golden: bool):  # type: ignore[no-untyped-def]
    """`golden(path, text)`: compare `text` with the golden file at `path` (or rewrite it)."""

    def check(path: Path, text: str) -> None:
        if update_golden:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return
        assert path.exists(), f"missing golden file {path.relative_to(ROOT)}; run pytest --update-golden"
        expected = path.read_text(encoding="utf-8")
        assert text == expected, f"{path.relative_to(ROOT)} differs; run pytest --update-golden and review the diff"

    return check
