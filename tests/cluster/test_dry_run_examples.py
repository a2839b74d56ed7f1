"""Every example, for every backend that can serve it, applies cleanly to the real kube-apiserver
(server-side dry run, CRDs installed) and the server keeps every field specc sent: a field the
server dropped (an unknown field pruned by a structural CRD schema, say) fails the test."""

from __future__ import annotations

from pathlib import Path

import pytest

from specc.cluster import Cluster
from specc.diagnostics import SpeccError
from specc.pipeline import compile_file
from specc.registry import load_registry
from specc.testing.controlplane import ControlPlane

from .dryrun import assert_kept_on_dry_run

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*/serving.yaml"))
BACKENDS = [None, *load_registry().names()]


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b or "native")
@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.parent.name)
def test_example_applies_cleanly(spec: Path, backend: str | None, cluster: Cluster, namespace: str,
                                 control_plane: ControlPlane) -> None:
    try:
        compiled = compile_file(str(spec), backend=backend, namespace=namespace, kube_version=cluster.version())
    except SpeccError as error:
        if backend is None:
            raise
        pytest.skip(f"{backend} cannot serve {spec.parent.name}: {error.diagnostics[0].message}")
    assert control_plane.crds_source in ("shared", "minimal")
    assert_kept_on_dry_run(cluster, compiled)
