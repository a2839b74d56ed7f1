"""Contract cases: specc's output held to what the upstream controllers, webhooks and engines do.

Every `case.yaml` under `tests/contracts/` is one case (format in tests/contracts/README.md): a spec,
the upstream rules it encodes (repository, path, tag, rule), and either assertions on the rendered
objects or the refusal `specc validate` must report. A case that names no upstream rule fails.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from specc.diagnostics import InvalidSpec, Severity
from specc.pipeline import compile_file
from specc.registry import load_registry

from .conftest import ROOT, TESTS
from .test_validate_cases import assert_diagnostics, positioned

CONTRACTS = TESTS / "contracts"
CASES = sorted(p.parent for p in CONTRACTS.rglob("case.yaml"))
UPSTREAM_KEYS = ("repo", "path", "tag", "rule")
ASSERTIONS = ("equals", "absent", "contains")
STEP = re.compile(r'([^.\[\]"]+)|\["([^"]*)"\]|\[(\d+)\]|\[([^=\]"]+)=([^\]]*)\]')
MISSING = object()


def case_id(case: Path) -> str:
    return str(case.relative_to(CONTRACTS)) if case.is_relative_to(CONTRACTS) else case.name


def load_case(case: Path) -> dict[str, Any]:
    data = yaml.safe_load((case / "case.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{case_id(case)}/case.yaml must be a mapping"
    upstream = data.get("upstream")
    assert isinstance(upstream, list) and upstream, f"{case_id(case)}: a contract case must cite upstream"
    for ref in upstream:
        assert isinstance(ref, dict), f"{case_id(case)}: upstream entries are mappings"
        for key in UPSTREAM_KEYS:
            assert isinstance(ref.get(key), str) and ref[key].strip(), (
                f"{case_id(case)}: upstream entry {ref} needs a non-empty '{key}'")
    assert ("expect" in data) != ("refuse" in data), f"{case_id(case)}: exactly one of expect or refuse"
    assert "readiness" not in data or "expect" in data, f"{case_id(case)}: readiness goes with expect"
    assert "warnings" not in data or "expect" in data, f"{case_id(case)}: warnings go with expect"
    return data


def parse_path(path: str) -> list[Any]:
    steps: list[Any] = []
    position = 0
    for match in STEP.finditer(path):
        if match.start() != position and path[position:match.start()] != ".":
            raise AssertionError(f"bad field path {path!r} at {position}")
        position = match.end()
        key, quoted, index, sel_key, sel_value = match.groups()
        if key is not None:
            steps.append(key)
        elif quoted is not None:
            steps.append(quoted)
        elif index is not None:
            steps.append(int(index))
        else:
            steps.append((sel_key, sel_value))
    assert position == len(path), f"bad field path {path!r}"
    return steps


def resolve(node: Any, path: str) -> Any:
    for step in parse_path(path):
        if isinstance(step, str):
            node = node.get(step, MISSING) if isinstance(node, dict) else MISSING
        elif isinstance(step, int):
            node = node[step] if isinstance(node, list) and -len(node) <= step < len(node) else MISSING
        else:
            key, value = step
            found = [e for e in node if isinstance(e, dict) and str(e.get(key)) == value] \
                if isinstance(node, list) else []
            node = found[0] if len(found) == 1 else MISSING
        if node is MISSING:
            return MISSING
    return node


def contains(value: Any, part: Any) -> bool:
    if isinstance(value, str):
        return isinstance(part, str) and part in value
    if isinstance(value, list):
        return any(e == part or (isinstance(e, dict) and isinstance(part, dict) and contains(e, part))
                   for e in value)
    if isinstance(value, dict) and isinstance(part, dict):
        return all(k in value and (value[k] == v or contains(value[k], v)) for k, v in part.items())
    return False


def kube_version(data: dict[str, Any]) -> tuple[int, int] | None:
    version = data.get("kubeVersion")
    if version is None:
        return None
    major, minor = str(version).split(".")
    return int(major), int(minor)


def check_expectation(objects: dict[str, Any], entry: dict[str, Any], case: str) -> None:
    name = entry.get("object")
    assert isinstance(name, str) and "/" in name, f"{case}: 'object' must be Kind/name in {entry}"
    given = [k for k in ASSERTIONS if k in entry]
    assert len(given) == 1, f"{case}: exactly one of {', '.join(ASSERTIONS)} in {entry}"
    if "path" not in entry:
        assert given == ["absent"], f"{case}: an assertion without a path can only be absent: {entry}"
        assert name not in objects, f"{case}: {name} is rendered, but must not be"
        return
    assert name in objects, f"{case}: no {name} rendered (rendered: {', '.join(sorted(objects))})"
    value = resolve(objects[name], entry["path"])
    shown = f"{case}: {name} {entry['path']}"
    if "absent" in entry:
        assert value is MISSING, f"{shown} must be absent, is {value!r}"
    elif "equals" in entry:
        assert value is not MISSING, f"{shown} is absent, must equal {entry['equals']!r}"
        assert value == entry["equals"], f"{shown} is {value!r}, must equal {entry['equals']!r}"
    else:
        assert value is not MISSING, f"{shown} is absent, must contain {entry['contains']!r}"
        assert contains(value, entry["contains"]), f"{shown} is {value!r}, must contain {entry['contains']!r}"


def check_readiness(objects: dict[str, Any], compiled: Any, entry: dict[str, Any], case: str) -> None:
    """`{object: Kind/name, status: {...}, ready: bool}`: the object as the controller would leave it
    (its rendered body with that status) is, or is not, ready for `specc apply`'s wait."""
    name = entry["object"]
    assert name in objects, f"{case}: no {name} rendered"
    model = next(o for o in compiled.desired if f"{o.body['kind']}/{o.body['metadata']['name']}" == name)
    live = {**objects[name], "status": entry.get("status") or {}}
    verdict = load_registry().backends[model.backend].readiness(live)
    assert verdict.ready is entry["ready"], f"{case}: {name} with status {entry.get('status')}: {verdict}"


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_contract_case(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = load_case(case)
    monkeypatch.chdir(ROOT)
    spec = str((case / "serving.yaml").relative_to(ROOT))
    name = case_id(case)
    if "refuse" in data:
        with pytest.raises(InvalidSpec) as raised:
            compile_file(spec, kube_version=kube_version(data))
        assert_diagnostics(positioned(list(raised.value.diagnostics), Severity.ERROR), data["refuse"], name)
        return
    compiled = compile_file(spec, kube_version=kube_version(data))
    objects = {f"{o.body['kind']}/{o.body['metadata']['name']}": o.body for o in compiled.desired}
    expect = data["expect"]
    assert isinstance(expect, list) and expect, f"{name}: expect lists at least one assertion"
    for entry in expect:
        check_expectation(objects, entry, name)
    for entry in data.get("readiness") or []:
        check_readiness(objects, compiled, entry, name)
    warnings = positioned(compiled.warnings, Severity.WARNING)
    if data.get("warnings"):
        assert_diagnostics(warnings, data["warnings"], name)
    else:
        assert warnings == [], f"{name}: unexpected warnings:\n" + "\n".join(w.render() for w in warnings)


def test_there_are_contract_cases() -> None:
    assert len(CASES) >= 10


@pytest.mark.parametrize("text", [
    "upstream: []\nexpect: [{object: A/b, absent: true}]\n",
    "upstream: [{repo: kserve/kserve, path: a.go, tag: v1}]\nexpect: [{object: A/b, absent: true}]\n",
    "expect: [{object: A/b, absent: true}]\n",
])
def test_a_case_without_a_full_upstream_reference_fails(text: str, tmp_path: Path) -> None:
    (tmp_path / "case.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(AssertionError, match="upstream"):
        load_case(tmp_path)


def test_paths_and_assertions_resolve_as_documented() -> None:
    obj = {"spec": {"containers": [{"name": "a", "args": ["--x=1", "--y"]}, {"name": "b"}]},
           "metadata": {"annotations": {"k": "v"}}}
    assert resolve(obj, "spec.containers[name=a].args[1]") == "--y"
    assert resolve({"a": {"x.io/y": 1}}, 'a["x.io/y"]') == 1
    assert resolve(obj, "spec.containers[1].name") == "b"
    assert resolve(obj, "spec.containers[name=c]") is MISSING
    assert resolve(obj, "spec.missing.deeper") is MISSING
    assert contains(obj["spec"]["containers"], {"name": "b"})
    assert not contains(obj["spec"]["containers"], {"name": "c"})
    assert contains(obj["metadata"], {"annotations": {"k": "v"}})
    assert contains("--x=1", "x=1") and not contains("--x=1", "y")
    with pytest.raises(AssertionError, match="must equal"):
        check_expectation({"A/b": obj}, {"object": "A/b", "path": "spec.containers[0].name", "equals": "z"}, "t")
    with pytest.raises(AssertionError, match="must be absent"):
        check_expectation({"A/b": obj}, {"object": "A/b", "path": "metadata.annotations.k", "absent": True}, "t")
