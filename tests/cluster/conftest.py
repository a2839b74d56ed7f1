"""Fixtures for tests against a real kube-apiserver + etcd on loopback (specc.testing.controlplane).

One control plane per test session, with the CRDs of ../shared/crds (or the project's schemaless
stand-ins where that folder is absent); a fresh namespace per test so tests cannot see each other.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from specc.cluster import Cluster, RetryPolicy
from specc.testing.controlplane import ControlPlane

_counter = itertools.count()


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    plane = ControlPlane()
    plane.start()
    try:
        plane.install_crds()
        yield plane
    finally:
        plane.stop()


@pytest.fixture
def kubeconfig(control_plane: ControlPlane) -> Path:
    return control_plane.kubeconfig


@pytest.fixture
def cluster(control_plane: ControlPlane) -> Iterator[Cluster]:
    client = Cluster.connect(kubeconfig=str(control_plane.kubeconfig), policy=RetryPolicy(deadline=60))
    yield client
    client.close()


@pytest.fixture
def namespace(control_plane: ControlPlane, request: pytest.FixtureRequest) -> str:
    # Short: backends derive names from the namespace (KServe's host label must stay <= 63 chars).
    base = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())
    base = base.removeprefix("test-")[:16].strip("-")
    name = f"t{next(_counter)}-{base}".strip("-")[:63].rstrip("-")
    control_plane.create_namespace(name)
    return name


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/cluster/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.cluster)
