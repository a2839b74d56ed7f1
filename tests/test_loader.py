"""Properties of the loader and validation on arbitrary input (hypothesis).

Whatever the bytes, reading a spec and validating it either succeeds or raises `SpeccError` with
diagnostics that point inside the file; nothing else escapes (no parser exception, no
RecursionError, no UnicodeError). Inputs: YAML-like token soup, random bytes, and small edits of the
valid case files (which get past the parser and exercise validation). The example counts are kept
moderate so that the file runs in a few seconds; the case folders hold the specific behaviours.
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from specc.diagnostics import Diagnostic, InvalidSpec, SpeccError
from specc.pipeline import compile_document
from specc.registry import load_registry
from specc.source import MAX_NODES, parse_spec

from .conftest import CASES

NAME = "fuzz.yaml"
REGISTRY = load_registry()
VALID_TEXTS = [p.read_bytes() for p in sorted((CASES / "valid").glob("*/serving.yaml"))]
TOKENS = [
    "apiVersion: specc.dev/v1alpha1\n", "kind: ServingSpec\n", "metadata:\n", "  name: a\n",
    "  namespace: b\n",
    "models:\n", "  - ", "name: m\n", "format: sklearn\n", "storageUri: s3://b/p\n", "image: r.io/x:1\n",
    "resources: ", "{cpu: 1}", "replicas:", " {min: 2, max: 1}", "canary: ", "options: {kubernetes: {}}",
    "&a ", "*a", "<<: ", "!!str ", "!Ref ", "? ", ": ", "- ", "[", "]", "{", "}", ", ", "'", '"',
    "|\n", ">-\n",
    "#", "%YAML 1.2\n", "%TAG ! x\n", "---\n", "...\n", "\t", "  ", "\n", "\r\n", "\ufeff", "\u2028", "\x85",
    "~", "null", "yes", "1.10", "0x1F", ".inf", ".nan", "1e999", "9" * 30, "é", "🚀", "\\ud800", "\\x00",
]
yaml_like = st.lists(st.sampled_from(TOKENS), max_size=40).map("".join)


@st.composite
def edited_valid_file(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(VALID_TEXTS)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        token = draw(st.sampled_from(TOKENS)).encode("utf-8")
        chunk = token if draw(st.booleans()) else draw(st.binary(max_size=3))
        if action == "insert":
            data[at:at] = chunk
        elif action == "delete":
            del data[at:at + draw(st.integers(1, 8))]
        else:
            data[at:at + len(chunk)] = chunk
    return bytes(data)


def lines_of(raw: bytes | str) -> list[str]:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return re.split(r"\r\n|\r|\n", text.removeprefix("\ufeff"))  # YAML 1.2 line breaks


def assert_inside(diagnostic: Diagnostic, lines: list[str]) -> None:
    span = diagnostic.span
    if span is None:
        assert diagnostic.code.startswith("B"), f"only installation warnings lack a position: {diagnostic}"
        return
    assert span.file == NAME
    assert 1 <= span.line <= len(lines) + 1, f"line outside the file: {diagnostic.render()}"
    width = len(lines[span.line - 1]) if span.line <= len(lines) else 0
    assert 1 <= span.col <= width + 1, f"column outside line {span.line}: {diagnostic.render()}"


def check(raw: bytes | str) -> None:
    lines = lines_of(raw)
    try:
        compiled = compile_document(parse_spec(raw, NAME), registry=REGISTRY)
    except SpeccError as error:
        assert error.diagnostics, "an error carries at least one diagnostic"
        for diagnostic in error.diagnostics:
            assert_inside(diagnostic, lines)
        return
    for diagnostic in compiled.warnings:
        assert_inside(diagnostic, lines)


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(yaml_like)
def test_yaml_like_text_fails_only_with_positioned_diagnostics(text: str) -> None:
    check(text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_fail_only_with_positioned_diagnostics(raw: bytes) -> None:
    check(raw)


@FUZZ
@given(edited_valid_file())
def test_edited_valid_files_fail_only_with_positioned_diagnostics(raw: bytes) -> None:
    check(raw)


@FUZZ
@given(st.text(max_size=200))
def test_any_unicode_text_fails_only_with_positioned_diagnostics(text: str) -> None:
    check(text)


def test_a_document_with_too_many_nodes_is_refused_at_the_node_that_crosses_the_cap() -> None:
    # Generated rather than committed: the file is about 200 KB. Without aliases the message must
    # not call it an alias bomb.
    text = "models:\n" + "- a\n" * MAX_NODES
    try:
        parse_spec(text, NAME)
    except InvalidSpec as error:
        (diagnostic,) = error.diagnostics
    else:
        raise AssertionError("a document over the node cap was accepted")
    assert diagnostic.code == "L109"
    assert diagnostic.message == f"the document has more than {MAX_NODES} nodes"
    assert diagnostic.span is not None and (diagnostic.span.line, diagnostic.span.col) == (MAX_NODES - 1, 3)
