"""YAML text of Kubernetes objects, byte-identical for equal input.

Takes plain dicts and returns text (or parses text specc itself wrote). Keys are sorted; strings that
any YAML reader could mistake for another type are quoted: PyYAML's YAML 1.1 resolver quotes `on`,
`no`, `010` and `1:20` (which kubectl's YAML 1.1 reader would otherwise turn into booleans and
numbers), and `resolve_plain_scalar` adds the YAML 1.2 cases (`0o17`) that 1.1 does not know.
libyaml's emitter is used because output size grows with the number of models, and its speed is
what `bench/render.py` compares specc against. Must not touch files.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

from specc.source import resolve_plain_scalar

_Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _ManifestDumper(_Dumper):  # type: ignore[valid-type,misc]
    pass


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    if not isinstance(resolve_plain_scalar(value), str):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_ManifestDumper.add_representer(str, _represent_str)


def dump(obj: Any) -> str:
    """One object as a YAML document (no leading `---`)."""
    text: str = yaml.dump(obj, Dumper=_ManifestDumper, sort_keys=True, default_flow_style=False,
                          allow_unicode=True, width=1 << 30)
    return text


def dump_all(objects: Iterable[Any]) -> str:
    """Objects as a multi-document stream, each document starting with `---`."""
    return "".join("---\n" + dump(o) for o in objects)


def load_manifest(text: str) -> Any:
    """Parse YAML that specc wrote (directory targets); not for user input, which goes through
    `specc.source`."""
    loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)
