"""Fixtures for tests against a real control plane on loopback (specc.testing.controlplane).

- `control_plane` (session): Kubernetes 1.36 from ../shared/kube with kube-controller-manager running
  every controller and the CRDs of ../shared/crds installed unmodified. Where ../shared/kube is absent
  it falls back to the Debian-built 1.20 without controllers, and `controllers` skips with the reason.
- `old_control_plane` (session): kube-apiserver 1.20 (no controllers), for the old-cluster checks
  (API-version fallbacks). Tests that use it are marked `old_cluster`, tests that use `control_plane`
  `current_cluster` (a test starting its own server carries the marker itself).
- `node` (function): the node stand-in (specc.testing.node_standin, started once per session on the
  1.36 control plane) binding the test's pods and making them Ready; pods of tests without it stay
  Pending; faults a test sets are cleared after it.
- `namespace` / `restricted_namespace` / `old_namespace`: a fresh namespace per test, so tests cannot
  see each other; `restricted_namespace` enforces Pod Security "restricted".

Session fixtures start lazily: a run that selects only 1.20 tests starts only 1.20, and the other way
round. Each stops its processes at the end of the session (and an atexit hook backs that up).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from specc.cluster import Cluster, RetryPolicy
from specc.testing.controlplane import OLD, ControlPlane, current_available
from specc.testing.node_standin import NodeStandIn

_counter = itertools.count()
RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted",
              "pod-security.kubernetes.io/enforce-version": "latest"}


def _running(release: str | None) -> Iterator[ControlPlane]:
    plane = ControlPlane(release=release)
    plane.start()
    try:
        plane.install_crds()
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    yield from _running(None)  # 1.36 with controllers where ../shared/kube is there, else 1.20


@pytest.fixture(scope="session")
def old_control_plane() -> Iterator[ControlPlane]:
    yield from _running(OLD)


@pytest.fixture
def controllers(control_plane: ControlPlane) -> ControlPlane:
    """The control plane, when controllers run there; skips (saying why) where they do not."""
    if not control_plane.has_controllers:
        reason = ("../shared/kube is absent, so the control plane is the Debian-built 1.20 without controllers"
                  if not current_available() else f"kube-controller-manager is not running on {control_plane.version}")
        pytest.skip(f"needs the Kubernetes controllers: {reason}")
    return control_plane


@pytest.fixture(scope="session")
def _node_standin(control_plane: ControlPlane) -> Iterator[NodeStandIn]:
    # Serving no namespace until a test asks (the `node` fixture).
    node = NodeStandIn(control_plane.server, control_plane.admin_token, namespaces=())
    node.start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def node(controllers: ControlPlane, _node_standin: NodeStandIn,
         request: pytest.FixtureRequest) -> Iterator[NodeStandIn]:
    """The node stand-in, serving only this test's namespace: pods of tests that do not ask for a
    node stay Pending whatever ran before them."""
    _node_standin.check_alive()
    mine = [request.getfixturevalue(name) for name in ("namespace", "restricted_namespace")
            if name in request.fixturenames]
    assert mine, "the node fixture serves the test's namespace: use it with namespace or restricted_namespace"
    _node_standin.serve_only(*mine)
    yield _node_standin
    _node_standin.clear(serve=())
    _node_standin.check_alive()


@pytest.fixture
def kubeconfig(control_plane: ControlPlane) -> Path:
    return control_plane.kubeconfig


@pytest.fixture
def cluster(control_plane: ControlPlane) -> Iterator[Cluster]:
    client = Cluster.connect(kubeconfig=str(control_plane.kubeconfig), policy=RetryPolicy(deadline=60))
    yield client
    client.close()


@pytest.fixture
def old_cluster(old_control_plane: ControlPlane) -> Iterator[Cluster]:
    client = Cluster.connect(kubeconfig=str(old_control_plane.kubeconfig), policy=RetryPolicy(deadline=60))
    yield client
    client.close()


def _namespace_name(request: pytest.FixtureRequest) -> str:
    # Short: backends derive names from the namespace (KServe's host label must stay <= 63 chars).
    base = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())
    base = base.removeprefix("test-")[:16].strip("-")
    return f"t{next(_counter)}-{base}".strip("-")[:63].rstrip("-")


@pytest.fixture
def namespace(control_plane: ControlPlane, request: pytest.FixtureRequest) -> str:
    name = _namespace_name(request)
    control_plane.create_namespace(name)
    return name


@pytest.fixture
def restricted_namespace(controllers: ControlPlane, request: pytest.FixtureRequest) -> str:
    name = _namespace_name(request)
    controllers.create_namespace(name, RESTRICTED)
    return name


@pytest.fixture
def old_namespace(old_control_plane: ControlPlane, request: pytest.FixtureRequest) -> str:
    name = _namespace_name(request)
    old_control_plane.create_namespace(name)
    return name


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/cluster/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.cluster)
            # Which server a test talks to, for `-m old_cluster` / `-m current_cluster`: the fixture it
            # uses, or the marker a test that starts its own server carries.
            fixtures = getattr(item, "fixturenames", ())
            if "old_control_plane" in fixtures and item.get_closest_marker("old_cluster") is None:
                item.add_marker(pytest.mark.old_cluster)
            if "control_plane" in fixtures and item.get_closest_marker("current_cluster") is None:
                item.add_marker(pytest.mark.current_cluster)
