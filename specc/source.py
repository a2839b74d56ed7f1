"""The loader: the only module that reads spec files (from disk, stdin, or a git revision).

Takes a path (or bytes) and returns a `SourceDocument`: the document as plain Python data (dict, list,
str, int, float, bool, None) plus the line and column of every path in it, so later stages can point at
`FILE:LINE:COL`. Raises `InvalidSpec` with positioned diagnostics for anything it refuses. It must not
validate meaning (that is `validate`) and must not print.

It composes the document from ruamel.yaml's parser events (the front end of ruamel's round-trip loader)
instead of ruamel's recursive composer, because that is where every safety limit can be enforced
before any work is done on hostile input:

- one document only; UTF-8 only (a UTF-8 byte-order mark is allowed); no NUL or binary content;
- no `%YAML`/`%TAG` directives (a `%YAML 1.1` directive would bring back `no` == false);
- no explicit tags (`!!python/...`, `!Ref`, `!!binary`): nothing is ever constructed from a tag;
- a cap on file size, on nesting depth, and on the size of the document *after* alias expansion, so
  a billion-laughs file fails at the alias that crosses the budget, without expanding anything;
- duplicate keys are errors that name both positions; keys must be strings.

Plain scalars are resolved with the YAML 1.2 core schema (null, bool, int, float, else string), so
`no`, `on`, `1:20` and `2024-01-01` stay strings.
"""

from __future__ import annotations

import io
import math
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

from specc.diagnostics import Diagnostic, InvalidSpec, Path, Span

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 32
MAX_NODES = 100_000

# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution).
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT10 = re.compile(r"^[-+]?[0-9]+$")
_INT8 = re.compile(r"^0o[0-7]+$")
_INT16 = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")


def resolve_plain_scalar(text: str) -> Any:
    """Resolve an unquoted scalar by the YAML 1.2 core schema."""
    if _NULL.match(text):
        return None
    if _BOOL.match(text):
        return text.lower() == "true"
    if _INT10.match(text):
        return int(text, 10)
    if _INT8.match(text):
        return int(text[2:], 8)
    if _INT16.match(text):
        return int(text[2:], 16)
    if _FLOAT.match(text):
        return float(text)
    if _INF.match(text):
        return -math.inf if text.startswith("-") else math.inf
    if _NAN.match(text):
        return math.nan
    return text


@dataclass(frozen=True)
class Site:
    """Where one node of the document was written."""

    value: Span
    key: Span | None = None  # the position of the mapping key, for mapping values
    raw: str | None = None  # the scalar exactly as written, for hints such as "quote it"
    quoted: bool = False


@dataclass(frozen=True)
class SourceDocument:
    """A parsed spec: plain data and the position of every path in it."""

    name: str
    data: Any
    sites: dict[Path, Site] = field(repr=False)

    def site(self, path: Path) -> Site | None:
        return self.sites.get(tuple(path))

    def span(self, path: Path, *, key: bool = False) -> Span:
        """The position of `path`, or of its nearest written ancestor (e.g. inside an alias)."""
        path = tuple(path)
        while True:
            site = self.sites.get(path)
            if site is not None:
                return site.key if key and site.key is not None else site.value
            if not path:
                return Span(self.name, 1, 1)
            path = path[:-1]
            key = False


def read_spec(path: str, *, display_name: str | None = None) -> SourceDocument:
    """Read and parse a spec file; `-` reads standard input."""
    name = display_name or path
    try:
        if path == "-":
            import sys

            raw = sys.stdin.buffer.read(MAX_BYTES + 1)
        else:
            fs_path = FsPath(path)
            if fs_path.is_dir():
                raise _fail(name, "L101", "is a directory, not a spec file")
            size = fs_path.stat().st_size
            if size > MAX_BYTES:
                raise _fail(name, "L102", f"file is {size} bytes; the limit is {MAX_BYTES} bytes")
            with fs_path.open("rb") as handle:
                raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise _fail(name, "L101", f"cannot read file: {exc.strerror or exc}") from None
    return parse_spec(raw, name)


def read_spec_at_revision(path: str, revision: str) -> SourceDocument:
    """Read a spec as it was at a git revision (`git show REV:PATH`), for reviewing changes."""
    fs_path = FsPath(path).resolve()
    name = f"{revision}:{path}"
    try:
        top = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=fs_path.parent, capture_output=True, text=True, check=True, timeout=30,
        ).stdout.strip()
        base = subprocess.run(
            ["git", "merge-base", revision, "HEAD"],
            cwd=top, capture_output=True, text=True, check=True, timeout=30,
        ).stdout.strip()
        relative = fs_path.relative_to(FsPath(top).resolve()).as_posix()
        shown = subprocess.run(
            ["git", "show", f"{base}:{relative}"],
            cwd=top, capture_output=True, check=True, timeout=30,
        ).stdout
    except FileNotFoundError:
        raise _fail(name, "L101", "git is not installed") from None
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        message = detail[-1] if detail else f"git exited with {exc.returncode}"
        raise _fail(name, "L101", f"cannot read the file at revision {revision!r}: {message}") from None
    except (ValueError, subprocess.TimeoutExpired) as exc:
        raise _fail(name, "L101", f"cannot read the file at revision {revision!r}: {exc}") from None
    if len(shown) > MAX_BYTES:
        raise _fail(name, "L102", f"file is {len(shown)} bytes; the limit is {MAX_BYTES} bytes")
    return parse_spec(shown, name)


def parse_spec(raw: bytes | str, name: str) -> SourceDocument:
    """Parse spec text (bytes are decoded as UTF-8) into a `SourceDocument`."""
    text = _decode(raw, name) if isinstance(raw, bytes) else raw
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise _fail(name, "L102", f"document is larger than the limit of {MAX_BYTES} bytes")
    return _Composer(name, text).compose()


def _fail(name: str, code: str, message: str, line: int = 0, col: int = 0, hint: str | None = None) -> InvalidSpec:
    span = Span(name, line, col) if line else Span(name, 1, 1)
    return InvalidSpec([Diagnostic(code, message, span=span, hint=hint)])


def _decode(raw: bytes, name: str) -> str:
    if len(raw) > MAX_BYTES:
        raise _fail(name, "L102", f"input is larger than the limit of {MAX_BYTES} bytes")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _fail(name, "L103", "file is UTF-16; specs must be UTF-8", 1, 1)
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    nul = raw.find(b"\x00")
    if nul >= 0:
        line, col = _line_col(raw, nul)
        raise _fail(name, "L103", "file contains a NUL byte: it looks binary, not a YAML spec", line, col)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _line_col(raw, exc.start)
        raise _fail(name, "L103", f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
                    line, col) from None


def _line_col(raw: bytes, offset: int) -> tuple[int, int]:
    line = raw.count(b"\n", 0, offset) + 1
    start = raw.rfind(b"\n", 0, offset) + 1
    return line, len(raw[start:offset].decode("utf-8", "replace")) + 1


@dataclass
class _Frame:
    container: Any  # dict or list
    path: Path
    span: Span
    size: int = 1
    key: Any = None  # the key waiting for its value (mappings)
    key_span: Span | None = None
    has_key: bool = False
    seen: dict[str, Span] = field(default_factory=dict)
    merges: list[Any] = field(default_factory=list)
    anchor: str | None = None


class _Composer:
    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.text = text
        self.sites: dict[Path, Site] = {}
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.total = 0

    def span(self, mark: Any) -> Span:
        return Span(self.name, mark.line + 1, mark.column + 1)

    def error(self, code: str, message: str, mark: Any, hint: str | None = None) -> InvalidSpec:
        span = self.span(mark) if mark is not None else Span(self.name, 1, 1)
        return InvalidSpec([Diagnostic(code, message, span=span, hint=hint)])

    def events(self) -> Iterator[Any]:
        from ruamel.yaml import YAML

        yield from YAML(typ="rt").parse(io.StringIO(self.text))

    def compose(self) -> SourceDocument:
        from ruamel.yaml.error import MarkedYAMLError, YAMLError

        try:
            return self._compose()
        except MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            problem = (exc.problem or exc.context or "invalid YAML").strip()
            context = (exc.context or "").strip()
            message = f"invalid YAML: {problem}" + (f" ({context})" if context and context != problem else "")
            hint = "indent with spaces; YAML does not allow tabs" if "'\\t'" in problem else None
            raise self.error("L104", message, mark, hint) from None
        except YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            text = str(exc).strip().splitlines()
            raise self.error("L104", f"invalid YAML: {text[0] if text else exc}", mark) from None
        except RecursionError:
            raise self.error("L108", f"nesting is deeper than {MAX_DEPTH} levels", None) from None

    def _compose(self) -> SourceDocument:
        from ruamel.yaml import events as ev

        stack: list[_Frame] = []
        root: Any = None
        root_span: Span | None = None
        documents = 0
        for event in self.events():
            if isinstance(event, ev.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise self.error(
                        "L105", "expected a single document; found a second one ('---')", event.start_mark,
                        hint="put every model in one document under 'models:'",
                    )
                if getattr(event, "version", None):
                    major, minor = event.version
                    raise self.error(
                        "L106", f"the %YAML {major}.{minor} directive is not allowed", event.start_mark,
                        hint="remove it: specs are YAML 1.2, where 'no' and 'on' are strings",
                    )
                if getattr(event, "tags", None):
                    raise self.error("L106", "%TAG directives are not allowed", event.start_mark)
                continue
            if isinstance(event, (ev.StreamStartEvent, ev.StreamEndEvent, ev.DocumentEndEvent)):
                continue
            if isinstance(event, (ev.MappingEndEvent, ev.SequenceEndEvent)):
                frame = stack.pop()
                if isinstance(frame.container, dict) and frame.merges:
                    for merged in reversed(frame.merges):
                        for key, value in merged.items():
                            frame.container.setdefault(key, value)
                if frame.anchor:
                    self.anchors[frame.anchor] = (frame.container, frame.size)
                self._attach(stack, frame.container, frame.size, frame.span, None)
                if not stack:
                    root = frame.container
                continue
            tag = getattr(event, "tag", None)
            if tag is not None and not isinstance(event, ev.AliasEvent):
                raise self.error(
                    "L107", f"explicit tags are not allowed (found {tag!r})", event.start_mark,
                    hint="remove the tag; specs contain only plain mappings, lists and scalars",
                )
            if isinstance(event, ev.AliasEvent):
                if event.anchor not in self.anchors:
                    raise self.error("L104", f"invalid YAML: undefined alias '*{event.anchor}'", event.start_mark)
                value, size = self.anchors[event.anchor]
                self._count(size, event.start_mark)
                self._attach(stack, value, size, self.span(event.start_mark), event.start_mark, alias=True)
                if not stack:
                    root = value
                continue
            anchor = getattr(event, "anchor", None)
            if anchor is not None and anchor in self.anchors:
                raise self.error("L104", f"invalid YAML: anchor '&{anchor}' is defined twice", event.start_mark)
            if isinstance(event, ev.ScalarEvent):
                quoted = event.style is not None and event.style in "'\"|>"
                value = event.value if quoted else resolve_plain_scalar(event.value)
                self._count(1, event.start_mark)
                if anchor is not None:
                    self.anchors[anchor] = (value, 1)
                span = self.span(event.start_mark)
                if stack and isinstance(stack[-1].container, dict) and not stack[-1].has_key:
                    self._take_key(stack[-1], value, span, event.start_mark)
                    continue
                self._attach(stack, value, 1, span, event.start_mark, raw=event.value, quoted=quoted)
                if not stack:
                    root, root_span = value, span
                continue
            if isinstance(event, (ev.MappingStartEvent, ev.SequenceStartEvent)):
                if stack and isinstance(stack[-1].container, dict) and not stack[-1].has_key:
                    raise self.error("L113", "mapping keys must be plain strings, not mappings or lists",
                                     event.start_mark)
                if len(stack) >= MAX_DEPTH:
                    raise self.error("L108", f"nesting is deeper than {MAX_DEPTH} levels", event.start_mark,
                                     hint="a serving spec is only a few levels deep")
                self._count(1, event.start_mark)
                path = self._child_path(stack)
                span = self.span(event.start_mark)
                container: Any = {} if isinstance(event, ev.MappingStartEvent) else []
                stack.append(_Frame(container, path, span, anchor=anchor))
                if root_span is None:
                    root_span = span
                continue
        if documents == 0 or root is None:
            raise InvalidSpec([Diagnostic("L111", "the file is empty: expected a ServingSpec mapping",
                                          span=Span(self.name, 1, 1))])
        if not isinstance(root, dict):
            kind = "a list" if isinstance(root, list) else f"a {type(root).__name__} scalar"
            raise InvalidSpec([Diagnostic("L112", f"the top level must be a mapping, not {kind}",
                                          span=root_span or Span(self.name, 1, 1))])
        self.sites.setdefault((), Site(root_span or Span(self.name, 1, 1)))
        return SourceDocument(self.name, root, self.sites)

    def _count(self, size: int, mark: Any) -> None:
        self.total += size
        if self.total > MAX_NODES:
            raise self.error(
                "L109", f"the document expands to more than {MAX_NODES} nodes (alias expansion)", mark,
                hint="this looks like an alias bomb ('billion laughs'); specs are far smaller",
            )

    @staticmethod
    def _child_path(stack: list[_Frame]) -> Path:
        if not stack:
            return ()
        parent = stack[-1]
        if isinstance(parent.container, dict):
            return (*parent.path, parent.key)
        return (*parent.path, len(parent.container))

    def _take_key(self, frame: _Frame, key: Any, span: Span, mark: Any) -> None:
        if key == "<<" or isinstance(key, str):
            if isinstance(key, str) and key in frame.seen:
                first = frame.seen[key]
                raise self.error("L110", f"duplicate key '{key}' (first defined at {first.line}:{first.col})",
                                 mark, hint="each key may appear once in a mapping")
        else:
            shown = "null" if key is None else repr(key).lower() if isinstance(key, bool) else repr(key)
            raise self.error("L113", f"mapping keys must be strings; found {shown}", mark,
                             hint=f"quote the key: '{shown}':")
        frame.seen[key] = span
        frame.key, frame.key_span, frame.has_key = key, span, True

    def _attach(self, stack: list[_Frame], value: Any, size: int, span: Span, mark: Any,
                raw: str | None = None, quoted: bool = False, alias: bool = False) -> None:
        if not stack:
            return
        parent = stack[-1]
        parent.size += size
        if parent.size > MAX_NODES:
            raise self.error("L109", f"the document expands to more than {MAX_NODES} nodes", mark)
        if isinstance(parent.container, dict):
            key, key_span = parent.key, parent.key_span
            parent.has_key = False
            if key == "<<" and (alias or isinstance(value, (dict, list))):
                sources = value if isinstance(value, list) else [value]
                if not all(isinstance(s, dict) for s in sources):
                    raise self.error("L104", "invalid YAML: a merge key ('<<') needs a mapping or a list of them",
                                     mark)
                parent.merges.extend(sources)
                return
            path: Path = (*parent.path, key)
            parent.container[key] = value
            self.sites[path] = Site(span, key_span, raw, quoted)
        else:
            path = (*parent.path, len(parent.container))
            parent.container.append(value)
            self.sites[path] = Site(span, None, raw, quoted)
