"""The `kustomization.yaml` specc keeps in a directory target, so the directory is a kustomize base
(for a Flux `Kustomization`, `kubectl apply -k`, or an overlay that lists it as a resource).

Takes the names of the object files in the directory; returns the file's text, and tells specc's own
kustomization from anyone else's. Pure: the directory target (`specc.targets`) reads and writes.

Fields are kustomize's own (kubernetes-sigs/kustomize api/types/kustomization.go: `Kustomization`
has TypeMeta, `metadata` (a pointer to ObjectMeta), `resources`). specc marks its file with the
managed-by label in `metadata.labels`; kustomize keeps a kustomization's metadata to itself (it is
not applied to the resources). A kustomization without that label is the user's: specc never
overwrites it and says so (P614), since a directory can hold only one (`kustomization.yaml`,
`kustomization.yml` or `Kustomization`: kustomize refuses a directory with several).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from specc.manifest_yaml import dump
from specc.objects import MANAGED_BY, MANAGED_BY_LABEL

FILE_NAME = "kustomization.yaml"
KUSTOMIZE_FILE_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
HEADER = ("# Maintained by specc: lists the object files specc wrote in this directory, so it is a\n"
          "# kustomize base (Flux Kustomization, kubectl apply -k). Rewritten on every apply; do not edit.\n")


def kustomization_text(resources: Iterable[str]) -> str:
    """The file for these object files (sorted, so the text is byte-identical for the same set)."""
    document: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "metadata": {"name": "specc", "labels": {MANAGED_BY_LABEL: MANAGED_BY}},
        "resources": sorted(set(resources)),
    }
    return HEADER + dump(document)


def _managed_by_specc(document: dict[str, Any]) -> bool:
    metadata = document.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, dict) else None  # a hand-edited file may hold
    return isinstance(labels, dict) and labels.get(MANAGED_BY_LABEL) == MANAGED_BY  # lists anywhere


def is_specc_kustomization(document: Any) -> bool:
    """Whether a parsed kustomization file is the one specc maintains."""
    if not isinstance(document, dict) or document.get("kind", "Kustomization") != "Kustomization":
        return False
    return _managed_by_specc(document)


def is_object_file(document: Any) -> bool:
    """Whether a parsed file is an object specc wrote (any spec's: several specs may share a directory)."""
    if not isinstance(document, dict) or document.get("kind") in ("Kustomization", "Component"):
        return False
    return _managed_by_specc(document)
