"""The Markdown of `specc diff` renders as intended: converted to HTML, and the HTML's structure checked.

Two renderers: Python-Markdown (tables, fenced_code) and cmark-gfm, the parser GitHub
itself uses for comments (`cmarkgfm`, with raw HTML kept so the structure can be seen). In both the
comment must have one table row per model that changes, one `<details>` per such model whose first
child is its `<summary>`, the diffs inside code blocks, and no element that came from a value in the
spec. GitHub's own layout rules (blank lines around the HTML tags) are checked on the text.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import cmarkgfm
import markdown
import pytest
from cmarkgfm.cmark import Options

from specc.cli import main
from specc.diagnostics import Diagnostic, Severity
from specc.pipeline import compile_document
from specc.registry import load_registry
from specc.report.review import MARKER, MAX_COMMENT_CHARS, review_markdown
from specc.review import diff_specs
from specc.source import parse_spec

from .conftest import CASES

DIFF_CASES = sorted(p for p in (CASES / "diff").iterdir() if p.is_dir() and (p / "expected.md").exists())
VOID = {"br", "hr", "img", "input", "meta", "link"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str | None] = field(default_factory=dict)
    children: list[Node | str] = field(default_factory=list)

    def elements(self) -> list[Node]:
        return [c for c in self.children if isinstance(c, Node)]

    def find_all(self, tag: str) -> list[Node]:
        found = []
        for child in self.elements():
            if child.tag == tag:
                found.append(child)
            found.extend(child.find_all(tag))
        return found

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)


class TreeBuilder(HTMLParser):
    """A strict little DOM: every element must be closed by its own end tag."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root")
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse_html(text: str) -> Node:
    builder = TreeBuilder()
    builder.feed(text)
    builder.close()
    assert builder.stack == [builder.root], f"unclosed elements: {[n.tag for n in builder.stack[1:]]}"
    return builder.root


def python_markdown(text: str) -> str:
    return str(markdown.markdown(text, extensions=["tables", "fenced_code"]))


def github_markdown(text: str) -> str:
    # UNSAFE keeps raw HTML in the output (GitHub then sanitises it), so its structure can be checked.
    return str(cmarkgfm.github_flavored_markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE))


RENDERERS = {"python-markdown": python_markdown, "cmark-gfm": github_markdown}


def run(case: Path, fmt: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(case)
    with pytest.raises(SystemExit):
        main(["diff", "old.yaml", "new.yaml", "--format", fmt])
    return capsys.readouterr().out


def changed_models(case: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    document = json.loads(run(case, "json", capsys, monkeypatch))
    return [m["name"] for m in document["models"] if m["status"] != "unchanged" or any(m["objects"].values())]


@pytest.mark.parametrize("renderer", RENDERERS)
@pytest.mark.parametrize("case", DIFF_CASES, ids=lambda p: p.name)
def test_markdown_structure(case: Path, renderer: str, capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:
    text = run(case, "markdown", capsys, monkeypatch)
    models = changed_models(case, capsys, monkeypatch)
    root = parse_html(RENDERERS[renderer](text))
    assert text.startswith(MARKER + "\n")
    assert not root.find_all("script") and not root.find_all("iframe")
    tables, details = root.find_all("table"), root.find_all("details")
    if not models:
        assert not tables and not details
        assert "No changes." in root.text()
        return
    assert len(tables) == 1
    rows = tables[0].find_all("tbody")[0].find_all("tr")
    assert [row.find_all("td")[0].text() for row in rows] == models, "one table row per changed model"
    assert [h.text() for h in tables[0].find_all("th")] == [
        "model", "change", "backend", "create", "update", "replace", "delete"]
    assert len(details) == len(models), "one collapsible section per changed model"
    for section, model in zip(details, models, strict=True):
        assert section.elements()[0].tag == "summary", "<summary> must be the first child of <details>"
        summary = section.elements()[0]
        assert [c.text() for c in summary.find_all("code")][:1] == [model]
        assert not section.find_all("details"), "a section must not swallow the next one"
        blocks = [pre for pre in section.find_all("pre") if pre.find_all("code")]
        assert blocks, f"{model}: the diff must be inside a code block"
        if renderer == "cmark-gfm":
            assert all(pre.attrs.get("lang") == "diff" for pre in blocks)
        else:
            assert all(pre.find_all("code")[0].attrs.get("class") == "language-diff" for pre in blocks)
        code_text = "".join(pre.text() for pre in blocks)
        # An object line, an added/removed field, or a changed one (a registry model's section has only
        # spec fields: its objects are resolved when planning).
        assert "will be" in code_text or "must be replaced" in code_text or "=" in code_text \
            or " -> " in code_text


@pytest.mark.parametrize("case", DIFF_CASES, ids=lambda p: p.name)
def test_github_layout_rules(case: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    lines = run(case, "markdown", capsys, monkeypatch).splitlines()
    for i, line in enumerate(lines):
        if line.startswith("<details"):
            assert i > 0 and lines[i - 1] == "", f"line {i + 1}: <details> needs a blank line before it"
            assert lines[i + 1].startswith("<summary>") and lines[i + 1].endswith("</summary>")
            assert lines[i + 2] == "", f"line {i + 3}: GitHub needs a blank line after <summary>"
        if line == "</details>":
            assert lines[i - 1] == "", f"line {i + 1}: </details> needs a blank line before it"
            assert i + 1 == len(lines) or lines[i + 1] == "", f"line {i + 2}: and one after it"
    assert sum(x.startswith("<details") for x in lines) == lines.count("</details>")


@pytest.mark.parametrize("renderer", RENDERERS)
def test_values_from_the_spec_cannot_break_the_comment(renderer: str, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    case = CASES / "diff" / "markdown-escaping"
    hostile = "</details><script>alert(1)</script> ``` | pipe | <!-- x -->"
    assert hostile in (case / "new.yaml").read_text()
    text = run(case, "markdown", capsys, monkeypatch)
    root = parse_html(RENDERERS[renderer](text))
    assert not root.find_all("script")
    (section,) = root.find_all("details")
    shown = "".join(code.text() for code in section.find_all("code"))
    assert hostile in shown, "the value is shown as it is, as code"


def test_markdown_is_byte_stable(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for case in DIFF_CASES:
        first = run(case, "markdown", capsys, monkeypatch)
        assert run(case, "markdown", capsys, monkeypatch) == first, case.name


def _many_models(count: int, backend: str = "kubernetes") -> str:
    models = "".join(f"  - name: model-{i:04d}\n    format: sklearn\n    storageUri: s3://models/m/{i}\n"
                     for i in range(count))
    return (f"apiVersion: specc.dev/v1alpha1\nkind: ServingSpec\nmetadata: {{name: big, namespace: ml}}\n"
            f"backend: {backend}\nmodels:\n{models}")


def _review(old: str, new: str):  # type: ignore[no-untyped-def]
    registry = load_registry()
    before = compile_document(parse_spec(old, "old.yaml"), registry=registry)
    after = compile_document(parse_spec(new, "new.yaml"), registry=registry)
    return diff_specs("old.yaml", before.validated.ir.models, before.desired,
                      "new.yaml", after.validated.ir.models, after.desired)


@pytest.mark.parametrize("count", [1, 40, 400])
def test_a_big_change_still_fits_a_github_comment(count: int) -> None:
    review = _review(_many_models(1), _many_models(count + 1))
    text = review_markdown(review)
    assert len(text) <= MAX_COMMENT_CHARS
    root = parse_html(github_markdown(text))
    rows = root.find_all("table")[0].find_all("tbody")[0].find_all("tr")
    assert len(rows) == count, "every added model keeps its row"
    details = root.find_all("details")
    if count == 1:
        assert "left out" not in text and "spec.template.spec.containers" in text
    elif count == 40:
        assert len(details) == count and "spec.template.spec.containers" not in text
        assert "Object field changes are left out to fit GitHub's size limit" in text
    else:
        assert not details and "per-model details are left out" in text


def test_a_table_too_long_is_cut_and_the_warnings_stay() -> None:
    review = _review(_many_models(60), _many_models(1))  # 59 models removed: 59 warnings
    whole = review_markdown(review, max_chars=10**6)
    limit = 9_000  # the table and the warnings without per-model sections take about 10,700
    assert "<details>" in whole and len(whole) > limit
    text = review_markdown(review, max_chars=limit)
    assert limit - 300 < len(text) <= limit, "as many rows as fit"
    root = parse_html(github_markdown(text))
    rows = root.find_all("table")[0].find_all("tbody")[0].find_all("tr")
    assert 0 < len(rows) - 1 < 59 and rows[-1].text().strip().startswith(f"… and {59 - (len(rows) - 1)} more models")
    warnings = [item.text() for quote in root.find_all("blockquote") for item in quote.find_all("li")]
    assert len(warnings) == 59 and all(w.startswith("W801") for w in warnings)


def test_the_limit_wins_over_everything() -> None:
    review = _review(_many_models(60), _many_models(1))
    text = review_markdown(review, max_chars=2_000)
    assert len(text) <= 2_000
    assert text.startswith(MARKER) and text.rstrip().endswith("run `specc diff` for the rest._")


@pytest.mark.parametrize("renderer", RENDERERS)
def test_names_and_messages_are_escaped(renderer: str) -> None:
    # Model and backend names are DNS labels today, but a report must not rely on what a validator
    # (or a third-party backend's messages) lets through.
    review = _review(_many_models(1), _many_models(2))
    hostile = "<img src=x onerror=alert(1)> | *star* `tick` [link](x)"
    added = dataclasses.replace(review.models[1], name=hostile)
    warning = Diagnostic("W801", f"model {hostile} is deleted", severity=Severity.WARNING, hint="<i>hint</i> | _x_")
    review = dataclasses.replace(review, old_name="old `1` <b>.yaml", models=(review.models[0], added),
                                 warnings=(warning,))
    root = parse_html(RENDERERS[renderer](review_markdown(review)))
    for tag in ("img", "i", "b", "a"):
        assert not root.find_all(tag), f"<{tag}> made from a value"
    emphasis = [n.text() for tag in ("em", "strong") for n in root.find_all(tag)]
    assert not [t for t in emphasis if "star" in t or t == "x"], f"emphasis made from a value: {emphasis}"
    (row,) = root.find_all("table")[0].find_all("tbody")[0].find_all("tr")
    cells = row.find_all("td")
    assert len(cells) == 7 and cells[0].text() == hostile
    # The renamed model's objects still carry the old name: they are the "other objects" section.
    section, other = root.find_all("details")
    assert section.elements()[0].find_all("code")[0].text() == hostile
    assert other.elements()[0].text() == "other objects"
    assert f"model {hostile} is deleted; <i>hint</i> | _x_" in root.text()
    assert "old `1` <b>.yaml" in [code.text() for code in root.find_all("code")]
