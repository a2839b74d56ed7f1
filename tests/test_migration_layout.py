"""A backend migration whose new backend reads the artifact in another layout is warned about in
the plan (W809), not only in `specc diff`: against a real directory target, as `specc plan
--target dir:` runs it. The layouts are the backends' `artifact_layout` answers, each encoded in a
contract case (tests/contracts/kubernetes/torchserve-config: the raw backend reads model-store/;
kserve config/runtimes/kserve-torchserve.yaml @v0.15.0: KServe also reads config/config.properties)."""

from __future__ import annotations

from pathlib import Path

from specc.source import parse_spec
from specc.workflow import apply_directory, plan_directory

SPEC = """\
apiVersion: specc.dev/v1alpha1
kind: ServingSpec
metadata: {name: vision, namespace: ml-prod}
models:
  - name: resnet
    format: pytorch
    engine: ENGINE
    storageUri: gs://acme-models/vision/resnet50/2024-11-02
    backend: BACKEND
"""


def spec(backend: str, engine: str = "torchserve") -> str:
    return SPEC.replace("BACKEND", backend).replace("ENGINE", engine)


def migrate(root: Path, old: str, new: str) -> list[str]:
    """Apply `old` to a directory, plan `new` against it; the plan's warning codes."""
    plan, target = plan_directory(parse_spec(old, "serving.yaml"), root)
    apply_directory(plan, target)
    plan, _ = plan_directory(parse_spec(new, "serving.yaml"), root)
    assert len(plan.migrations) == 1, "the model changes backend"
    return [w.code for w in plan.warnings]


def test_kubernetes_to_kserve_torchserve_warns_of_the_missing_config(tmp_path: Path) -> None:
    plan_warnings = migrate(tmp_path, spec("kubernetes"), spec("kserve"))
    assert plan_warnings == ["W809"]


def test_kserve_to_kubernetes_torchserve_reads_a_subset_and_does_not_warn(tmp_path: Path) -> None:
    assert "W809" not in migrate(tmp_path, spec("kserve"), spec("kubernetes"))


def test_triton_repository_to_seldon_core_2_model_folder_warns(tmp_path: Path) -> None:
    old = spec("kubernetes", "triton").replace("pytorch", "onnx")
    new = (spec("seldon", "triton").replace("pytorch", "onnx")
           + "    options: {seldon: {version: v2}}\n")
    assert "W809" in migrate(tmp_path, old, new)
