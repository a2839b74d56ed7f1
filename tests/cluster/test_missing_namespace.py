"""A spec whose namespace does not exist: one clear error naming --create-namespace, before any write."""

from __future__ import annotations

from pathlib import Path

import pytest

from specc.testing.controlplane import ControlPlane

from ..clirun import specc

SPECS = Path(__file__).parent / "specs"


@pytest.mark.parametrize("saved", [False, True], ids=["spec", "saved-plan"])
def test_a_missing_namespace_names_create_namespace(saved: bool, capsys: pytest.CaptureFixture[str],
                                                    control_plane: ControlPlane, tmp_path: Path) -> None:
    namespace = f"absent-{'saved' if saved else 'spec'}"
    target = ["--kubeconfig", str(control_plane.kubeconfig), "--context", "admin", "--namespace", namespace]
    what = str(SPECS / "one-model.yaml")
    if saved:
        what = str(tmp_path / "plan.json")
        code, out, err = specc(capsys, "plan", str(SPECS / "one-model.yaml"), *target, "-o", what)
        assert code == 0, out + err
    code, out, err = specc(capsys, "apply", what, *target, "--auto-approve", "--no-wait")
    assert code == 1, out + err
    assert f"namespace {namespace} does not exist" in err
    assert "--create-namespace" in err
    assert "K504" not in err and "Lease" not in err and "Traceback" not in err
    assert control_plane.request("GET", f"/api/v1/namespaces/{namespace}").status == 404  # nothing written

    code, out, err = specc(capsys, "apply", what, *target, "--auto-approve", "--no-wait", "--create-namespace")
    if saved:  # a saved plan is applied exactly as made: the option is refused, the namespace created by hand
        assert code != 0 and "--create-namespace cannot be used with a saved plan" in err
        assert control_plane.request("GET", f"/api/v1/namespaces/{namespace}").status == 404
        control_plane.create_namespace(namespace)
        code, out, err = specc(capsys, "apply", what, *target, "--auto-approve", "--no-wait")
    assert code == 0, out + err
    assert control_plane.request("GET", f"/api/v1/namespaces/{namespace}").status == 200
    assert "Apply complete: 3 applied" in out
