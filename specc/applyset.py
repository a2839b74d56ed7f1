"""ApplySet (KEP-3659) vocabulary, spelled exactly as kubectl spells it.

Takes a spec's name and namespace; returns the parent object's identity, the set ID and the parent's
labels and annotations. Pure. The parent is a ConfigMap (kubectl's `--applyset=configmaps/NAME`),
which avoids needing rights on Secrets.

ID: "applyset-" + base64url(sha256("<name>.<namespace>.<Kind>.<group>"), no padding) + "-v1", as
kubectl's `ApplySet.ID()`; the core group is the empty string, so the hashed text ends in a dot.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable

PART_OF_LABEL = "applyset.kubernetes.io/part-of"
ID_LABEL = "applyset.kubernetes.io/id"
TOOLING_ANNOTATION = "applyset.kubernetes.io/tooling"
GROUP_KINDS_ANNOTATION = "applyset.kubernetes.io/contains-group-kinds"
NAMESPACES_ANNOTATION = "applyset.kubernetes.io/additional-namespaces"

PARENT_KIND = "ConfigMap"
PARENT_GROUP = ""


def parent_name(spec_name: str) -> str:
    return f"specc-{spec_name}"


def applyset_id(name: str, namespace: str, kind: str = PARENT_KIND, group: str = PARENT_GROUP) -> str:
    digest = hashlib.sha256(f"{name}.{namespace}.{kind}.{group}".encode()).digest()
    return "applyset-" + base64.urlsafe_b64encode(digest).decode().rstrip("=") + "-v1"


def spec_applyset_id(spec_name: str, namespace: str) -> str:
    return applyset_id(parent_name(spec_name), namespace)


def tooling(version: str) -> str:
    return f"specc/v{version.removeprefix('v')}"


def group_kinds_value(group_kinds: Iterable[str]) -> str:
    return ",".join(sorted(set(group_kinds)))


def parse_group_kinds(value: str | None) -> set[str]:
    return {gk for gk in (value or "").split(",") if gk}


def parent_manifest(spec_name: str, namespace: str, group_kinds: Iterable[str], version: str) -> dict[str, object]:
    """The parent ConfigMap as specc applies it (with server-side apply, so no data is needed)."""
    return {
        "apiVersion": "v1",
        "kind": PARENT_KIND,
        "metadata": {
            "name": parent_name(spec_name),
            "namespace": namespace,
            "labels": {ID_LABEL: spec_applyset_id(spec_name, namespace)},
            "annotations": {
                TOOLING_ANNOTATION: tooling(version),
                GROUP_KINDS_ANNOTATION: group_kinds_value(group_kinds),
                NAMESPACES_ANNOTATION: "",
            },
        },
    }
