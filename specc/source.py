"""The loader: the only module that reads spec files (from disk, stdin, or a git revision).

Takes a path (or bytes) and returns a `SourceDocument`: the document as plain JSON-model data (dict,
list, str, int, float, bool, None) plus the line and column of every path in it, so later stages can
point at `FILE:LINE:COL`. Raises `InvalidSpec` with one positioned diagnostic for anything it refuses
(a file that cannot be parsed has no structure left to report more problems about). It must not
validate meaning (that is `validate`) and must not print.

It composes the document from ruamel.yaml's parser events (the front end of ruamel's round-trip loader)
instead of ruamel's recursive composer, because that is where every safety limit can be enforced
before any work is done on hostile input:

- one document only; UTF-8 only (a UTF-8 byte-order mark is allowed); no NUL or binary content;
- no directives except `%YAML 1.2` (a `%YAML 1.1` directive would bring back `no` == false);
- no explicit tags (`!!python/...`, `!Ref`, `!!binary`, `!!str`): nothing is ever constructed from a tag;
- a cap on file size, on nesting depth, and on the size of the document *after* alias expansion, so
  a billion-laughs file fails at the alias that crosses the budget, without expanding anything;
- duplicate keys are errors that name both positions; keys must be strings.

Plain scalars are resolved with the YAML 1.2 core schema (null, bool, int, float, else string), so
`no`, `on`, `1:20` and `2024-01-01` stay strings. Numbers then follow the JSON data model, which is
what the published JSON Schema describes: `2.0` is the integer 2, and `.nan`/`.inf` (which JSON cannot
hold) are refused. Aliased content keeps the positions where it was written, so a problem inside it
points at the anchor's text.
"""

from __future__ import annotations

import io
import math
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

from specc.diagnostics import Diagnostic, InvalidSpec, Path, Span

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 32
# Nodes after alias expansion. A rich 10-model spec has about 300; parsing is pure Python (tens of
# microseconds a node), so the cap also bounds the time spent on a file that is merely huge.
MAX_NODES = 50_000

# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution).
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT10 = re.compile(r"^[-+]?[0-9]+$")
_INT8 = re.compile(r"^0o[0-7]+$")
_INT16 = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")
# Python refuses to convert longer digit strings to int (CVE-2020-10735); such numbers are far out
# of any range a spec uses, so they resolve to a float (infinity) and are refused like `.inf`.
_MAX_INT_DIGITS = 4000
_YAML_TAG_PREFIX = "tag:yaml.org,2002:"


def resolve_plain_scalar(text: str) -> Any:
    """Resolve an unquoted scalar by the YAML 1.2 core schema. Never raises."""
    if _NULL.match(text):
        return None
    if _BOOL.match(text):
        return text.lower() == "true"
    if len(text) > _MAX_INT_DIGITS and (_INT10.match(text) or _INT8.match(text) or _INT16.match(text)):
        return -math.inf if text.startswith("-") else math.inf
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
        """The position of `path`, or of its nearest written ancestor. With `key`, the position of
        the mapping key that holds it (the value's own position when it has no key)."""
        path = tuple(path)
        while True:
            site = self.sites.get(path)
            if site is not None:
                return site.key if key and site.key is not None else site.value
            if not path:
                return Span(self.name, 1, 1)
            path = path[:-1]
            key = True  # an ancestor stands in for a missing child: point at its key line


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
                raise _fail(name, "L101", "is a directory, not a spec file",
                            hint=f"pass the spec inside it, e.g. {fs_path / 'serving.yaml'}")
            size = fs_path.stat().st_size
            if size > MAX_BYTES:
                raise _too_big(name, size)
            raw = _read_file(fs_path, name)
    except OSError as exc:
        raise _fail(name, "L101", f"cannot read file: {exc.strerror or exc}") from None
    if raw.lstrip()[:1] == b"{" and _saved_plan(raw):
        raise _fail(name, "L110", "is a saved plan (specc plan -o), not a spec",
                    hint=f"apply it with `specc apply {name}`; plan, render and destroy take the spec file")
    return parse_spec(raw, name)


def _saved_plan(raw: bytes) -> bool:
    from specc.plan import is_saved_plan  # only for JSON input: validate must start fast

    return is_saved_plan(raw)


def _read_file(path: FsPath, name: str) -> bytes:
    """A spec's bytes. A FIFO, a device or a socket is refused without being opened for reading
    (opening a FIFO waits for a writer forever); symlinks to regular files are followed."""
    from specc.files import kind_of

    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise _fail(name, "L101", f"is {kind_of(info.st_mode)}, not a spec file",
                    hint="pass a regular file, or '-' to read standard input")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):  # replaced since the stat
            raise _fail(name, "L101", "is not a regular file", hint="pass a regular file")
        return handle.read(MAX_BYTES + 1)


def read_spec_at_revision(path: str, revision: str) -> SourceDocument | None:
    """Read a spec as it was at a git revision (`git show REV:PATH`), for reviewing changes; None when
    the file did not exist there (a spec new in this change)."""
    import subprocess  # here, not at the top: `specc validate` never needs it, and start-up time counts

    fs_path = FsPath(path).resolve()
    name = f"{revision}:{path}"
    try:
        top = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=fs_path.parent, capture_output=True, text=True, check=True, timeout=30,
        ).stdout.strip()
        if revision.startswith("-"):  # an option to git, not a revision
            raise _fail(name, "L101", "a revision cannot start with '-'", hint="name a branch, tag or commit")
        base = subprocess.run(
            ["git", "merge-base", "--end-of-options", revision, "HEAD"],
            cwd=top, capture_output=True, text=True, check=True, timeout=30,
        ).stdout.strip()
        relative = fs_path.relative_to(FsPath(top).resolve()).as_posix()
        present = subprocess.run(["git", "cat-file", "-e", f"{base}:{relative}"], cwd=top, capture_output=True,
                                 check=False, timeout=30)
        if present.returncode != 0:
            return None
        shown = subprocess.run(
            ["git", "show", f"{base}:{relative}"],
            cwd=top, capture_output=True, check=True, timeout=30,
        ).stdout
    except FileNotFoundError:
        raise _fail(name, "L101", "git is not installed") from None
    except subprocess.CalledProcessError as exc:
        # The first two commands run with text=True (str), `git show` without (bytes: the file).
        stderr = exc.stderr.decode("utf-8", "replace") if isinstance(exc.stderr, bytes) else exc.stderr or ""
        detail = stderr.strip().splitlines()
        message = detail[-1] if detail else f"git exited with {exc.returncode}"
        raise _fail(name, "L101", f"cannot read the file at revision {revision!r}: {message}") from None
    except (ValueError, subprocess.TimeoutExpired) as exc:
        raise _fail(name, "L101", f"cannot read the file at revision {revision!r}: {exc}") from None
    if len(shown) > MAX_BYTES:
        raise _too_big(name, len(shown))
    return parse_spec(shown, name)


def parse_spec(raw: bytes | str, name: str) -> SourceDocument:
    """Parse spec text (bytes are decoded as UTF-8) into a `SourceDocument`."""
    text = _decode(raw, name) if isinstance(raw, bytes) else raw
    if len(text) > MAX_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise _too_big(name, None)
    # YAML 1.2 allows tabs as separation whitespace (`key:<TAB>value`); ruamel's scanner refuses a tab
    # where it looks for the next token. Such a tab is never content, so it is read as a space (same
    # column) and the text parsed again, a bounded number of times (each pass parses the whole text).
    budget = max(1, min(50, 2_000_000 // max(1, len(text))))
    while True:
        try:
            return _Composer(name, text, tabs_as_spaces=budget > 0).compose()
        except _SeparationTab as tab:
            text = text[:tab.offset] + " " + text[tab.offset + 1:]
            budget -= 1


class _SeparationTab(Exception):  # noqa: N818 - internal signal, never leaves this module
    def __init__(self, offset: int) -> None:
        self.offset = offset


def _fail(name: str, code: str, message: str, *, line: int = 1, col: int = 1,
          hint: str | None = None) -> InvalidSpec:
    return InvalidSpec([Diagnostic(code, message, span=Span(name, line, col), hint=hint)])


def _too_big(name: str, size: int | None) -> InvalidSpec:
    what = f"the file is {size} bytes" if size is not None else "the file is larger than that"
    return _fail(name, "L102", f"{what}; the limit for a spec is {MAX_BYTES} bytes",
                 hint="a serving spec is a few kilobytes; is this the right file?")


def _decode(raw: bytes, name: str) -> str:
    if len(raw) > MAX_BYTES:
        raise _too_big(name, len(raw))
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _fail(name, "L103", "the file is UTF-16 (or UTF-32); specs must be UTF-8",
                    hint="re-save the file as UTF-8")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    nul = raw.find(b"\x00")
    if nul >= 0:
        head = raw[:64]
        quarter = len(head) // 4
        if len(head) >= 4 and (head[0::2].count(0) >= quarter or head[1::2].count(0) >= quarter):
            # Every other byte NUL: ASCII text in UTF-16 without a byte-order mark.
            raise _fail(name, "L103", "the file looks like UTF-16 (NUL bytes between characters); specs "
                        "must be UTF-8", hint="re-save the file as UTF-8")
        line, col = _line_col(raw, nul)
        raise _fail(name, "L103", "the file contains a NUL byte: it looks binary, not a YAML spec",
                    line=line, col=col)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _line_col(raw, exc.start)
        raise _fail(name, "L103", f"not valid UTF-8: byte 0x{raw[exc.start]:02x} at offset {exc.start}",
                    line=line, col=col,
                    hint="specs must be UTF-8; re-save the file as UTF-8 (it may be Latin-1)") from None


def _line_col(raw: bytes, offset: int) -> tuple[int, int]:
    return _text_line_col(raw[:offset].decode("utf-8", "replace"), offset=None)


_BREAK = re.compile(r"\r\n|\r|\n")  # YAML 1.2 line breaks, as ruamel counts them


def _text_line_col(text: str, offset: int | None) -> tuple[int, int]:
    """1-based line and column of `offset` in `text` (of its end when None)."""
    head = text if offset is None else text[:offset]
    breaks = list(_BREAK.finditer(head))
    if head.endswith("\r") and offset is not None and text[offset:offset + 1] == "\n":
        breaks = breaks[:-1]  # the offset is inside a CRLF: still on the line the CR ends
    start = breaks[-1].end() if breaks else 0
    return len(breaks) + 1, len(head) - start + 1


Origin = tuple[Path, int, int]  # where a node was written, and its descendants' range in the site log


@dataclass
class _Frame:
    """A mapping or sequence being composed."""

    container: Any  # dict or list
    path: Path
    span: Span
    first_site: int  # index into the composer's site log where this node's descendants begin
    size: int = 1
    key: Any = None  # the key waiting for its value (mappings)
    key_span: Span | None = None
    has_key: bool = False
    merge_pending: bool = False  # the waiting key is a merge key ('<<')
    seen: dict[str, Span] = field(default_factory=dict)
    merges: list[tuple[dict[str, Any], Origin | None]] = field(default_factory=list)
    items: list[Origin | None] = field(default_factory=list)  # lists: where each item was written
    anchor: str | None = None


@dataclass(frozen=True)
class _Anchor:
    value: Any
    size: int
    origin: Origin | None


class _Composer:
    def __init__(self, name: str, text: str, *, tabs_as_spaces: bool = False) -> None:
        self.name = name
        self.text = text
        self.tabs_as_spaces = tabs_as_spaces
        self.sites: dict[Path, Site] = {}
        # Every recorded site in document order, so a node's descendants are one slice of it.
        self.log: list[tuple[Path, Site]] = []
        self.anchors: dict[str, _Anchor] = {}
        self.total = 0
        self.expanded = 0  # nodes that aliases added
        self.last_mark: Any = None

    def span(self, mark: Any) -> Span:
        return Span(self.name, mark.line + 1, mark.column + 1)

    def error(self, code: str, message: str, mark: Any, hint: str | None = None) -> InvalidSpec:
        span = self.span(mark) if mark is not None else Span(self.name, 1, 1)
        return InvalidSpec([Diagnostic(code, message, span=span, hint=hint)])

    def at_offset(self, code: str, message: str, offset: int, hint: str | None = None) -> InvalidSpec:
        line, col = _text_line_col(self.text, offset)
        return _fail(self.name, code, message, line=line, col=col, hint=hint)

    def events(self) -> Iterator[Any]:
        from ruamel.yaml import YAML
        from ruamel.yaml.error import YAMLError

        parser = iter(YAML(typ="rt").parse(io.StringIO(self.text)))
        while True:
            try:
                event = next(parser)
            except StopIteration:
                return
            except (YAMLError, RecursionError):
                raise
            except Exception as exc:  # ruamel is a third-party parser: a crash in it is a parse failure
                raise self.error("L104", f"invalid YAML: the parser failed after this point "
                                 f"({type(exc).__name__})", self.last_mark) from None
            self.last_mark = event.start_mark
            yield event

    def compose(self) -> SourceDocument:
        from ruamel.yaml.error import MarkedYAMLError, YAMLError
        from ruamel.yaml.reader import ReaderError

        try:
            return self._compose()
        except ReaderError as exc:
            char = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "?")
            raise self.at_offset("L103", f"control character U+{char:04X} is not allowed in a spec",
                                 exc.position, hint="remove it; only printable characters, tabs and "
                                 "line breaks may appear") from None
        except MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            offset = getattr(mark, "index", None)
            if self.tabs_as_spaces and isinstance(offset, int) and 0 <= offset < len(self.text) \
                    and self.text[offset] == "\t" and "cannot start any token" in str(exc.problem):
                line_start = self.text.rfind("\n", 0, offset) + 1
                if self.text[line_start:offset].strip(" \t"):  # not indentation, which must be spaces
                    raise _SeparationTab(offset) from None
            problem = (exc.problem or exc.context or "invalid YAML").strip()
            context = (exc.context or "").strip()
            message = f"invalid YAML: {problem}" + (f" ({context})" if context and context != problem else "")
            raise self.error("L104", message, mark, _syntax_hint(problem, context)) from None
        except YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            text = str(exc).strip().splitlines()
            raise self.error("L104", f"invalid YAML: {text[0] if text else exc}", mark) from None
        except RecursionError:
            raise self.error("L108", f"nesting is deeper than {MAX_DEPTH} levels", self.last_mark) from None

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
                        "L105", "expected a single document; found a second one", event.start_mark,
                        hint="a spec is one YAML document: put every model under 'models:' and remove '---'",
                    )
                self._check_directives(event)
                continue
            if isinstance(event, (ev.StreamStartEvent, ev.StreamEndEvent, ev.DocumentEndEvent)):
                continue
            if isinstance(event, (ev.MappingEndEvent, ev.SequenceEndEvent)):
                frame = stack.pop()
                if frame.merges:
                    self._merge(frame)
                origin = (frame.path, frame.first_site, len(self.log))
                if frame.anchor:
                    self.anchors[frame.anchor] = _Anchor(frame.container, frame.size, origin)
                self._attach(stack, frame.container, frame.size, frame.span, mark=event.start_mark,
                             origin=origin, items=frame.items)
                if not stack:
                    root = frame.container
                continue
            tag = getattr(event, "tag", None)
            if tag is not None and not isinstance(event, ev.AliasEvent):
                shown = "!!" + tag[len(_YAML_TAG_PREFIX):] if tag.startswith(_YAML_TAG_PREFIX) else tag
                raise self.error(
                    "L107", f"explicit tags are not allowed (found '{shown}')", event.start_mark,
                    hint="remove the tag; a spec holds only plain mappings, lists and scalars "
                    "(quote a value to make it a string)",
                )
            if isinstance(event, ev.AliasEvent):
                value = self._alias(stack, event)
                if not stack:
                    root, root_span = value, self.span(event.start_mark)
                continue
            anchor = getattr(event, "anchor", None)
            if anchor is not None and anchor in self.anchors:
                raise self.error("L104", f"invalid YAML: anchor '&{anchor}' is defined twice",
                                 event.start_mark, hint="give each anchor a distinct name")
            if isinstance(event, ev.ScalarEvent):
                quoted = event.style is not None and event.style in "'\"|>"
                value = self._quoted(event) if quoted else self._plain(event)
                self._count(1, event.start_mark)
                if anchor is not None:
                    self.anchors[anchor] = _Anchor(value, 1, None)
                span = self.span(event.start_mark)
                if stack and isinstance(stack[-1].container, dict) and not stack[-1].has_key:
                    self._take_key(stack[-1], value, span, event.start_mark, raw=event.value, quoted=quoted)
                    continue
                self._attach(stack, value, 1, span, mark=event.start_mark, raw=event.value, quoted=quoted)
                if not stack:
                    root, root_span = value, span
                continue
            if isinstance(event, (ev.MappingStartEvent, ev.SequenceStartEvent)):
                if stack and isinstance(stack[-1].container, dict) and not stack[-1].has_key:
                    raise self.error("L113", "mapping keys must be plain strings, not mappings or lists",
                                     event.start_mark, hint="a spec uses only plain names as keys")
                if len(stack) >= MAX_DEPTH:
                    raise self.error("L108", f"nesting is deeper than {MAX_DEPTH} levels", event.start_mark,
                                     hint="a serving spec is only a few levels deep")
                self._count(1, event.start_mark)
                path = self._child_path(stack)
                span = self.span(event.start_mark)
                container: Any = {} if isinstance(event, ev.MappingStartEvent) else []
                stack.append(_Frame(container, path, span, len(self.log), anchor=anchor))
                if root_span is None:
                    root_span = span
                continue
        if documents == 0 or root is None:
            raise InvalidSpec([Diagnostic(
                "L111", "the file is empty: expected a ServingSpec mapping", span=Span(self.name, 1, 1),
                hint="start with 'apiVersion: specc.dev/v1alpha1' and 'kind: ServingSpec'")])
        if not isinstance(root, dict):
            raise InvalidSpec([Diagnostic(
                "L112", f"the top level must be a mapping (apiVersion, kind, metadata, models), not "
                f"{_kind(root)}", span=root_span or Span(self.name, 1, 1))])
        self.sites.setdefault((), Site(root_span or Span(self.name, 1, 1)))
        return SourceDocument(self.name, root, self.sites)

    def _check_directives(self, event: Any) -> None:
        """Only `%YAML 1.2` may precede the document: ruamel would honour `%YAML 1.1` (where `no` is
        false) and `%TAG` (shorthands for tags), and ignore unknown directives silently."""
        head = self.text[: event.start_mark.index]
        for match in re.finditer(r"^%(\S*)[ \t]*([^\n#]*)", head, flags=re.MULTILINE):
            name, argument = match.group(1), match.group(2).strip()
            if name == "YAML" and argument == "1.2":
                continue
            if name == "YAML":
                message = f"the %YAML {argument} directive is not allowed"
                hint = "remove it: specs are YAML 1.2, where 'no' and 'on' are strings, not booleans"
            elif name == "TAG":
                message, hint = "%TAG directives are not allowed", "remove it; specs use no tags"
            else:
                message, hint = f"unknown directive '%{name}'", "remove it"
            raise self.at_offset("L106", message, match.start(), hint)

    def _quoted(self, event: Any) -> str:
        """A quoted scalar. Escapes in double quotes may spell UTF-16 surrogates (`"\\ud83d\\ude80"`, as
        JSON writes characters beyond U+FFFF): a pair becomes its character, a lone one is refused,
        since no UTF-8 text can hold it."""
        text: str = event.value
        if not any("\ud800" <= c <= "\udfff" for c in text):
            return text
        try:
            return text.encode("utf-16", "surrogatepass").decode("utf-16")
        except UnicodeDecodeError:
            raise self.error("L103", "the string has an escape for half of a UTF-16 surrogate pair "
                             "(\\uD800-\\uDFFF), which is not a character", event.start_mark,
                             hint="write the character itself, or its \\U0001F680-style escape") from None

    def _plain(self, event: Any) -> Any:
        value = resolve_plain_scalar(event.value)
        if isinstance(value, float):
            if not math.isfinite(value):
                if _INF.match(event.value) or _NAN.match(event.value):
                    raise self.error(
                        "L114", f"'{event.value}' is not a value a spec can hold (JSON has no infinity or "
                        "NaN)", event.start_mark, hint=f'quote it if you mean the text: "{event.value}"')
                raise self.error("L114", f"the number is too large ({len(event.value)} characters)",
                                 event.start_mark, hint="quote it if you mean the text")
            if value.is_integer():
                return int(value)
        return value

    def _count(self, size: int, mark: Any, *, alias: bool = False) -> None:
        self.total += size
        self.expanded += size if alias else 0
        if self.total <= MAX_NODES:
            return
        if self.expanded > MAX_NODES // 2:
            raise self.error(
                "L109", f"aliases expand the document to more than {MAX_NODES} nodes", mark,
                hint="this looks like an alias bomb ('billion laughs'); specs are far smaller")
        raise self.error("L109", f"the document has more than {MAX_NODES} nodes", mark,
                         hint="a serving spec has a few hundred; is this the right file?")

    def _record(self, path: Path, site: Site) -> None:
        self.sites[path] = site
        self.log.append((path, site))

    @staticmethod
    def _child_path(stack: list[_Frame]) -> Path:
        if not stack:
            return ()
        parent = stack[-1]
        if isinstance(parent.container, dict):
            return (*parent.path, parent.key)
        return (*parent.path, len(parent.container))

    def _alias(self, stack: list[_Frame], event: Any) -> Any:
        if any(frame.anchor == event.anchor for frame in stack):
            raise self.error("L104", f"invalid YAML: alias '*{event.anchor}' is inside the node it refers to",
                             event.start_mark, hint="a spec cannot contain itself; copy the part you need")
        if event.anchor not in self.anchors:
            raise self.error("L104", f"invalid YAML: undefined alias '*{event.anchor}'", event.start_mark,
                             hint=f"define '&{event.anchor}' before this point")
        anchor = self.anchors[event.anchor]
        self._count(anchor.size, event.start_mark, alias=True)
        span = self.span(event.start_mark)
        if stack and isinstance(stack[-1].container, dict) and not stack[-1].has_key:
            self._take_key(stack[-1], anchor.value, span, event.start_mark, raw=None, quoted=False)
            return anchor.value
        target = self._child_path(stack)
        if self._attach(stack, anchor.value, anchor.size, span, mark=event.start_mark, origin=anchor.origin) \
                and anchor.origin is not None:
            # The aliased content keeps the positions where it was written.
            source, start, end = anchor.origin
            cut = len(source)
            for path, site in self.log[start:end]:
                self._record((*target, *path[cut:]), site)
        return anchor.value

    def _take_key(self, frame: _Frame, key: Any, span: Span, mark: Any, *, raw: str | None,
                  quoted: bool) -> None:
        if not isinstance(key, str):
            if raw:
                shown = f"{raw} ({_kind(key)})" if len(raw) <= 40 else _kind(key)
                hint = f'quote the key: "{raw}":' if len(raw) <= 40 else "quote the key"
            else:
                shown, hint = ("an empty key", "write a name before the ':'") if raw == "" else (
                    _kind(key), "use a plain name as the key")
            raise self.error("L113", f"mapping keys must be strings; found {shown}", mark, hint=hint)
        if key in frame.seen:
            first = frame.seen[key]
            what = "merge key '<<'" if key == "<<" and not quoted else f"key '{key}'"
            raise self.error("L110", f"duplicate {what} (first defined at {first.line}:{first.col})",
                             mark, hint="each key may appear once in a mapping; remove one of them")
        frame.seen[key] = span
        frame.key, frame.key_span, frame.has_key = key, span, True
        frame.merge_pending = key == "<<" and not quoted

    def _attach(self, stack: list[_Frame], value: Any, size: int, span: Span, *, mark: Any,
                raw: str | None = None, quoted: bool = False, origin: Origin | None = None,
                items: list[Origin | None] | None = None) -> bool:
        """Put a composed node into its parent; False when it was a merge source, not a value."""
        if not stack:
            return True
        parent = stack[-1]
        parent.size += size
        if isinstance(parent.container, dict):
            key, key_span = parent.key, parent.key_span
            parent.has_key = False
            if parent.merge_pending:
                parent.merge_pending = False
                self._add_merge(parent, value, origin, items, mark)
                return False
            parent.container[key] = value
            self._record((*parent.path, key), Site(span, key_span, raw, quoted))
        else:
            parent.items.append(origin)
            parent.container.append(value)
            self._record((*parent.path, len(parent.container) - 1), Site(span, None, raw, quoted))
        return True

    def _add_merge(self, frame: _Frame, value: Any, origin: Origin | None, items: list[Origin | None] | None,
                   mark: Any) -> None:
        if isinstance(value, dict):
            frame.merges.append((value, origin))
            return
        if isinstance(value, list) and all(isinstance(v, dict) for v in value):
            # `items` are the origins of the list's entries; an aliased list has none to offer.
            origins = items if items is not None and len(items) == len(value) else [None] * len(value)
            frame.merges.extend(zip(value, origins, strict=True))
            return
        raise self.error("L104", "invalid YAML: a merge key ('<<') needs a mapping or a list of mappings",
                         mark, hint="write '<<: *anchor' where '&anchor' names a mapping")

    def _merge(self, frame: _Frame) -> None:
        """Apply `<<` merges: the mapping's own keys win, then earlier sources over later ones (the
        YAML merge key rule). Merged keys keep the positions where they were written."""
        for source, origin in frame.merges:
            grouped: dict[str, list[tuple[Path, Site]]] = {}
            if origin is not None:
                # One pass over the source's sites, grouped by key, so merging stays linear.
                base, start, end = origin
                cut = len(base)
                for path, site in self.log[start:end]:
                    head = path[cut] if len(path) > cut and path[:cut] == base else None
                    if isinstance(head, str):
                        grouped.setdefault(head, []).append((path[cut + 1:], site))
            for key, item in source.items():
                if key in frame.container:
                    continue
                frame.container[key] = item
                for rest, site in grouped.get(key, ()):
                    self._record((*frame.path, key, *rest), site)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _syntax_hint(problem: str, context: str) -> str | None:
    if "'\\t'" in problem:
        return "indent with spaces; YAML does not allow tabs"
    if "mapping values are not allowed" in problem:
        return "quote a value that contains ': ', or check the indentation of this line"
    if "expected <block end>" in problem or "expected <block mapping" in problem:
        return "check the indentation of this line against the lines above"
    if "end of stream" in problem and "quoted" in context:
        return "a quoted string is not closed"
    if "found character" in problem and "cannot start any token" in problem:
        return "quote the value"
    return None
