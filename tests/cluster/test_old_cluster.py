"""The old-cluster checks, against kube-apiserver 1.20 (Debian's build; no controllers run there).

specc compiles for the version the server reports: `autoscaling/v2beta2` HorizontalPodAutoscalers
before 1.23 and `policy/v1beta1` PodDisruptionBudgets before 1.21. 1.20 serves neither
`autoscaling/v2` nor `policy/v1`, so an apply that sent the current versions would fail here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from specc.cluster import Cluster, Resource
from specc.diagnostics import SpeccError
from specc.pipeline import compile_file
from specc.testing.controlplane import ControlPlane

from ..clirun import specc
from .dryrun import assert_kept_on_dry_run

ROOT = Path(__file__).resolve().parents[2]
SPECS = Path(__file__).parent / "specs"
EXAMPLES = sorted((ROOT / "examples").glob("*/serving.yaml"))
OLD_HPAS = Resource("autoscaling", "v2beta2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True)
OLD_PDBS = Resource("policy", "v1beta1", "PodDisruptionBudget", "poddisruptionbudgets", True)


def live_names(cluster: Cluster, resource: Resource, namespace: str) -> list[str]:
    # No garbage collector on 1.20: a foreground deletion stays marked, so marked objects count as gone.
    return sorted(o["metadata"]["name"] for o in cluster.list(resource, namespace)
                  if not o["metadata"].get("deletionTimestamp"))


def test_the_old_server_does_not_serve_the_current_versions(old_control_plane: ControlPlane) -> None:
    # What makes the other tests here meaningful: the fallbacks are needed on this server.
    assert old_control_plane.version.startswith("1.20.")
    assert old_control_plane.request("GET", "/apis/autoscaling/v2").status == 404
    assert old_control_plane.request("GET", "/apis/policy/v1").status == 404


def test_render_for_1_20_uses_the_old_api_versions() -> None:
    rendered = subprocess.run([sys.executable, "-m", "specc", "render", str(SPECS / "two-models.yaml"),
                               "--kube-version", "1.20"], capture_output=True, text=True, check=True).stdout
    assert "apiVersion: autoscaling/v2beta2\nkind: HorizontalPodAutoscaler" in rendered
    assert "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget" in rendered
    assert "autoscaling/v2\n" not in rendered and "policy/v1\n" not in rendered


def test_apply_plan_and_prune_on_1_20_with_the_fallback_versions(
        capsys: pytest.CaptureFixture[str], old_control_plane: ControlPlane, old_cluster: Cluster,
        old_namespace: str) -> None:
    target = ["--kubeconfig", str(old_control_plane.kubeconfig), "--context", "admin", "--namespace", old_namespace]
    code, out, err = specc(capsys, "apply", str(SPECS / "two-models.yaml"), *target, "--auto-approve", "--no-wait")
    assert code == 0, out + err
    assert live_names(old_cluster, OLD_HPAS, old_namespace) == ["recommender"]
    assert live_names(old_cluster, OLD_PDBS, old_namespace) == ["forecaster"]
    code, out, err = specc(capsys, "plan", str(SPECS / "two-models.yaml"), *target, "--detailed-exitcode")
    assert code == 0, out + err
    assert "No changes." in out
    # Pruning finds the PodDisruptionBudget under the version the server serves.
    code, out, err = specc(capsys, "apply", str(SPECS / "one-model.yaml"), *target, "--auto-approve", "--no-wait")
    assert code == 0, out + err
    assert live_names(old_cluster, OLD_PDBS, old_namespace) == []
    assert live_names(old_cluster, OLD_HPAS, old_namespace) == ["recommender"]


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.parent.name)
def test_every_example_is_accepted_by_1_20(spec: Path, old_cluster: Cluster, old_namespace: str) -> None:
    try:
        compiled = compile_file(str(spec), namespace=old_namespace, kube_version=old_cluster.version())
    except SpeccError as error:
        pytest.fail(f"{spec.parent.name} does not compile for 1.20: {error.diagnostics[0].message}")
    assert_kept_on_dry_run(old_cluster, compiled)
