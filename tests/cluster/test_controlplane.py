"""The test control plane itself: apt source derivation, CRD preparation, stand-in CRDs, clean stop."""

from __future__ import annotations

import os
from pathlib import Path

from specc.cluster import Cluster, Resource
from specc.testing.controlplane import ControlPlane, deb_src_entry, minimal_crds, strip_empty_string_defaults


def test_deb_src_entry_is_derived_from_the_machines_own_sources(tmp_path: Path) -> None:
    sources = tmp_path / "sources.list.d"
    sources.mkdir()
    (sources / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
    found = deb_src_entry(tmp_path)
    assert found is not None
    _, text = found
    assert "Types: deb-src" in text and "URIs: http://mirror.example/debian" in text
    assert "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" in text


def test_only_empty_string_defaults_are_stripped() -> None:
    crd = 'a:\n  default: ""\n  b:\n    default: "x"\n    type: string\n'
    assert strip_empty_string_defaults(crd) == 'a:\n  b:\n    default: "x"\n    type: string\n'


def test_stand_in_crds_serve_every_kind_specc_emits() -> None:
    kinds = {c["spec"]["names"]["kind"] for c in minimal_crds()}
    assert {"InferenceService", "SeldonDeployment", "Model", "Experiment", "BentoDeployment", "Bento"} <= kinds
    with ControlPlane() as plane:
        plane.install_crds(minimal=True)
        assert plane.crds_source == "minimal"
        plane.create_namespace("x")
        cluster = Cluster.connect(kubeconfig=str(plane.kubeconfig))
        isvc = cluster.resource("serving.kserve.io/v1beta1", "InferenceService")
        assert isvc is not None
        stored = cluster.apply(isvc, {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
                                      "metadata": {"name": "m", "namespace": "x"},
                                      "spec": {"predictor": {"anything": True}}})
        assert stored["spec"] == {"predictor": {"anything": True}}  # schemaless: nothing pruned
        pids = list(plane.pids.values())
    for pid in pids:  # stopped: exactly the processes it started are gone
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        raise AssertionError(f"process {pid} is still running")


def test_custom_resources_do_not_crash_the_server(cluster: Cluster, namespace: str) -> None:
    # kube-apiserver 1.20 built with Go >= 1.18 crashes on the first custom resource unless the
    # vendored reflect2 is patched; this would take the whole session down, so check it once here.
    seldon = cluster.resource("machinelearning.seldon.io/v1", "SeldonDeployment")
    assert seldon is not None
    body = {"apiVersion": "machinelearning.seldon.io/v1", "kind": "SeldonDeployment",
            "metadata": {"name": "s", "namespace": namespace},
            "spec": {"predictors": [{"name": "p", "graph": {"name": "m"},
                                     "componentSpecs": [{"spec": {"containers": [{"name": "m"}]}}]}]}}
    cluster.apply(seldon, body)
    assert cluster.get(Resource("", "v1", "Namespace", "namespaces", False), None, namespace) is not None
