"""Editors: every example starts with the yaml-language-server modeline
(`# yaml-language-server: $schema=PATH`, the form redhat-developer/yaml-language-server reads from a
comment, PATH relative to the file), the path reaches the published schema, and that schema accepts the
example, as the editor would when it validates while the user types."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from .conftest import EXAMPLES, ROOT

MODELINE = re.compile(r"^# yaml-language-server: \$schema=(?P<path>\S+)$")


@pytest.mark.parametrize("spec", sorted(EXAMPLES.glob("*/serving.yaml")), ids=lambda p: p.parent.name)
def test_example_modeline_points_at_the_published_schema(spec: Path) -> None:
    first = spec.read_text(encoding="utf-8").splitlines()[0]
    match = MODELINE.match(first)
    assert match, f"{spec.relative_to(ROOT)} does not start with the yaml-language-server modeline"
    schema_path = (spec.parent / match["path"]).resolve()
    assert schema_path == ROOT / "schemas" / "serving.schema.json"
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    jsonschema.validators.validator_for(schema)(schema).validate(yaml.safe_load(spec.read_text(encoding="utf-8")))
