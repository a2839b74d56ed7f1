"""Field-level comparison of Kubernetes objects: what changed, in which fields, masked where secret.

Takes plain dicts; returns `FieldChange`s. Pure. Three tools, used by plans and spec diffs:

- `covers(desired, live)`: does the live object already hold every field specc sends, with the
  same value? (List items are matched in order and must be as many; extra fields the server or other
  managers added are ignored.) Decides "no change" without asking the server.
- `removed_fields(desired, live, manager)`: the fields a field manager set (its `managedFields`,
  fieldsV1) that `desired` no longer has, so a field specc stopped sending counts as a change.
- `field_changes(before, after, shape)`: the differences between two objects, restricted to the
  fields in `shape` (what specc manages), with lists of named items aligned by name. Uses deepdiff.

Paths are dotted, named list items are shown by name: `spec.template.spec.containers[name=mlserver].image`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from specc.credentials import sensitive_name, sensitive_value

ABSENT: Any = type("Absent", (), {"__repr__": lambda self: "<absent>"})()

SENSITIVE_ANNOTATIONS = frozenset({"kubectl.kubernetes.io/last-applied-configuration"})
MASK = "(sensitive value)"


@dataclass(frozen=True)
class FieldChange:
    path: str
    before: Any
    after: Any
    sensitive: bool = False

    def __post_init__(self) -> None:
        # Masked by value as well as by place: a credential-shaped value (`postgres://u:pw@db`,
        # `AccountKey=`, a presigned URL) is hidden wherever it appears, before or after.
        if not self.sensitive and (_secret_shaped(self.before) or _secret_shaped(self.after)):
            object.__setattr__(self, "sensitive", True)

    def masked(self) -> FieldChange:
        """This change with both values hidden (`--mask-all`, for output posted publicly)."""
        return FieldChange(self.path, self.before, self.after, True)

    @property
    def kind(self) -> str:
        if self.before is ABSENT:
            return "add"
        if self.after is ABSENT:
            return "remove"
        return "change"

    def shown(self) -> tuple[Any, Any]:
        """(before, after) as a reporter may show them: secrets masked, but a change stays visible."""
        if not self.sensitive:
            return self.before, self.after
        return (ABSENT if self.before is ABSENT else MASK, ABSENT if self.after is ABSENT else MASK)


def _secret_shaped(value: Any) -> bool:
    return isinstance(value, str) and sensitive_value(value)


# Lists of `{name, value}` items whose value is masked when the name says it is a secret: a container's
# `env`, BentoDeployment `spec.envs` (resources.yatai.ai/v2alpha1).
_NAMED_VALUE_LISTS = ("env", "envs")


# -- "is the live object already what we want?" -----------------------------------------------------

def covers(desired: Any, live: Any) -> bool:
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return False
        return all(k in live and covers(v, live[k]) for k, v in desired.items())
    if isinstance(desired, list):
        if not isinstance(live, list) or len(desired) != len(live):
            return False
        return all(covers(d, v) for d, v in zip(desired, live, strict=True))
    if _number(desired) and _number(live):
        return bool(desired == live)  # 2 and 2.0 are the same JSON number
    return bool(desired == live and type(desired) is type(live))


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# -- managedFields ----------------------------------------------------------------------------------

PathStep = tuple[str, Any]  # ("f", "spec") | ("k", {"name": "x"}) | ("v", value) | ("i", 3)


def has_path(obj: Any, path: tuple[PathStep, ...]) -> bool:
    """Does `obj` contain this fieldsV1 path?"""
    node = obj
    for kind, value in path:
        if kind == "f":
            if not isinstance(node, dict) or value not in node:
                return False
            node = node[value]
        elif kind == "k":
            if not isinstance(node, list):
                return False
            match = [item for item in node if isinstance(item, dict)
                     and all(_key_equal(item.get(k), v) for k, v in value.items())]
            if not match:
                return False
            node = match[0]
        elif kind == "v":
            if not isinstance(node, list) or value not in node:
                return False
            node = value
        elif kind == "i":
            if not isinstance(node, list) or value >= len(node):
                return False
            node = node[value]
    return True


def _key_equal(actual: Any, key: Any) -> bool:
    # Keys in fieldsV1 are JSON: a containerPort 8080 is the number 8080, a protocol "TCP" a string.
    return bool(actual == key)


def removed_fields(desired: dict[str, Any], live: dict[str, Any], manager: str) -> list[tuple[PathStep, ...]]:
    """Fields `manager` set on `live` that `desired` no longer has (an apply would remove them).
    Walks the managed fields and `desired` together, so the common case (nothing removed) never
    builds the list of every owned path."""
    removed: list[tuple[PathStep, ...]] = []
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") == manager and entry.get("operation") == "Apply" and not entry.get("subresource"):
            _missing(entry.get("fieldsV1") or {}, desired, (), removed)
    return removed


def _missing(fields: dict[str, Any], node: Any, prefix: tuple[PathStep, ...],
             removed: list[tuple[PathStep, ...]]) -> None:
    for key, child in fields.items():
        if key == ".":
            continue
        kind, _, raw = key.partition(":")
        step: PathStep
        if kind == "f":
            step = ("f", raw)
            found = isinstance(node, dict) and raw in node
            inner = node.get(raw) if found else None
        elif kind == "k":
            value = json.loads(raw)
            step = ("k", value)
            inner = next((i for i in node if isinstance(i, dict) and all(i.get(k) == v for k, v in value.items())),
                         None) if isinstance(node, list) else None
            found = inner is not None
        elif kind == "v":
            value = json.loads(raw)
            step = ("v", value)
            found = isinstance(node, list) and value in node
            inner = value
        else:  # "i": an index into an atomic-by-index list
            step = ("i", int(raw))
            found = isinstance(node, list) and int(raw) < len(node)
            inner = node[int(raw)] if found else None
        if not found:
            removed.append((*prefix, step))
        elif isinstance(child, dict) and any(k != "." for k in child):
            _missing(child, inner, (*prefix, step), removed)


# -- differences -----------------------------------------------------------------------------------

def project(obj: Any, shape: Any) -> Any:
    """The part of `obj` that has the shape of `shape` (named list items are matched by name)."""
    if isinstance(shape, dict):
        if not isinstance(obj, dict):
            return obj
        return {k: project(obj[k], v) for k, v in shape.items() if k in obj}
    if isinstance(shape, list):
        if not isinstance(obj, list):
            return obj
        if _named(shape) and _named(obj):
            by_name = {item["name"]: item for item in obj}
            out = [project(by_name[item["name"]], item) for item in shape if item["name"] in by_name]
            out += [item for item in obj if item["name"] not in {s["name"] for s in shape}]
            return out
        return [project(o, shape[i]) if i < len(shape) else o for i, o in enumerate(obj)]
    return obj


def union_shape(a: Any, b: Any) -> Any:
    """A shape covering the fields of both `a` and `b`."""
    if isinstance(a, dict) and isinstance(b, dict):
        return {k: union_shape(a.get(k, ABSENT), b.get(k, ABSENT)) if k in a and k in b
                else (a[k] if k in a else b[k]) for k in {*a, *b}}
    if isinstance(a, list) and isinstance(b, list):
        if _named(a) and _named(b):
            by_name = {item["name"]: item for item in b}
            merged = [union_shape(item, by_name[item["name"]]) if item["name"] in by_name else item for item in a]
            return merged + [item for item in b if item["name"] not in {x["name"] for x in a}]
        return [union_shape(a[i], b[i]) if i < len(a) and i < len(b) else (a[i] if i < len(a) else b[i])
                for i in range(max(len(a), len(b)))]
    return a if a is not ABSENT else b


def field_changes(before: Any, after: Any, *, kind: str = "", shape: Any = None) -> list[FieldChange]:
    """Differences between `before` and `after` (ABSENT for a missing object), within `shape`."""
    from deepdiff import DeepDiff
    from deepdiff.helper import CannotCompare

    if before is ABSENT or after is ABSENT:
        created = before is ABSENT
        return [FieldChange(text, ABSENT if created else value, value if created else ABSENT, secret)
                for text, value, secret in _rendered_leaves(after if created else before, kind)]
    if shape is not None:
        before, after = project(before, shape), project(after, shape)

    def by_name(x: Any, y: Any, level: Any = None) -> bool:
        if isinstance(x, dict) and isinstance(y, dict) and "name" in x and "name" in y:
            return bool(x["name"] == y["name"])
        raise CannotCompare() from None

    tree = DeepDiff(before, after, view="tree", iterable_compare_func=by_name, verbose_level=2)
    changes: list[FieldChange] = []
    for report, items in tree.items():
        if report == "iterable_item_moved":
            continue  # order of named items: the server merges by name
        for item in items:
            use_after = report not in ("dictionary_item_removed", "iterable_item_removed")
            path = tuple(item.path(output_format="list", use_t2=use_after))
            root = after if use_after else before
            old = ABSENT if report in ("dictionary_item_added", "iterable_item_added") else item.t1
            new = ABSENT if not use_after else item.t2
            if isinstance(old, dict) or isinstance(new, dict) or isinstance(old, list) or isinstance(new, list):
                # Expand a whole added/removed subtree into leaves, so every field shows its value.
                for sub, _ in _leaves(new if new is not ABSENT else old, ()):
                    full = (*path, *sub)
                    before_value = ABSENT if old is ABSENT else _get(old, sub)
                    after_value = ABSENT if new is ABSENT else _get(new, sub)
                    if before_value != after_value:
                        changes.append(FieldChange(_render(root, full), before_value, after_value,
                                                   _sensitive(kind, root, full)))
                continue
            changes.append(FieldChange(_render(root, path), old, new, _sensitive(kind, root, path)))
    return sorted(changes, key=lambda c: c.path)


def _named(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in items)


def _rendered_leaves(root: Any, kind: str) -> list[tuple[str, Any, bool]]:
    """Every leaf of `root` as (rendered path, value, sensitive), in one walk (objects are big)."""
    out: list[tuple[str, Any, bool]] = []

    def walk(node: Any, text: str, path: tuple[Any, ...], secret: bool) -> None:
        if isinstance(node, dict) and node:
            for key in sorted(node):
                name = str(key)
                step = (f".{name}" if text else name) if _PLAIN_KEY.fullmatch(name) else f'["{name}"]'
                walk(node[key], text + step, (*path, key), secret or _sensitive(kind, root, (*path, key)))
        elif isinstance(node, list) and node and any(isinstance(i, (dict, list)) for i in node):
            for index, item in enumerate(node):
                named = isinstance(item, dict) and isinstance(item.get("name"), str)
                step = f"[name={item['name']}]" if named else f"[{index}]"
                walk(item, text + step, (*path, index), secret)
        else:
            out.append((text, node, secret))

    walk(root, "", (), False)
    return sorted(out, key=lambda leaf: leaf[0])


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _leaves(node: Any, prefix: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(node, dict) and node:
        for key in sorted(node):
            yield from _leaves(node[key], (*prefix, key))
    elif isinstance(node, list) and node and any(isinstance(i, (dict, list)) for i in node):
        for index, item in enumerate(node):
            yield from _leaves(item, (*prefix, index))
    else:
        yield prefix, node


def _get(node: Any, path: Iterable[Any]) -> Any:
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return ABSENT
    return node


def _render(root: Any, path: tuple[Any, ...]) -> str:
    out = ""
    node = root
    for part in path:
        if isinstance(part, int):
            item = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                out += f"[name={item['name']}]"
            else:
                out += f"[{part}]"
            node = item
        else:
            key = str(part)
            out += (f".{key}" if out else key) if re.fullmatch(r"[A-Za-z0-9_-]+", key) else f'["{key}"]'
            node = node.get(part) if isinstance(node, dict) else None
    return out


def _sensitive(kind: str, root: Any, path: tuple[Any, ...]) -> bool:
    if kind == "Secret" and path and path[0] in ("data", "stringData"):
        return True
    if len(path) >= 3 and path[0] == "metadata" and path[1] == "annotations" and path[2] in SENSITIVE_ANNOTATIONS:
        return True
    # A literal value whose name says it is a secret: `env[name=API_TOKEN].value`, `envs[name=DB_PASSWORD].value`.
    for i, part in enumerate(path):
        if part in _NAMED_VALUE_LISTS and len(path) > i + 2 and path[i + 2] == "value":
            item = _get(root, path[: i + 2])
            if isinstance(item, dict) and sensitive_name(str(item.get("name", ""))):
                return True
    return False
