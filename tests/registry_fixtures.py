"""Fixtures for registry references against a real MLflow tracking server (specc.testing.mlflowserver).

One server per test session (SQLite store, local artifact root, loopback), started on first use and
always stopped; MLflow's own client fills it. A test that moves aliases gets its own registered model
(`fraud_model`), so tests never see each other's changes. Everything skips, with the reason, only when
the `mlflow` environment is not installed on this machine (the README's test command installs it).
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from specc.testing import toolenv
from specc.testing.mlflowserver import MlflowClient, MlflowServer

_models = itertools.count()


@pytest.fixture(scope="session")
def mlflow_env() -> toolenv.ToolEnv:
    found = toolenv.find("mlflow")
    if found is None:
        pytest.skip("the mlflow environment is not installed: run `python -m specc.testing.toolenv install mlflow`")
    return found


@pytest.fixture(scope="session")
def _mlflow_pair(mlflow_env: toolenv.ToolEnv,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MlflowServer, MlflowClient]]:
    # The client process imports MLflow while the server starts: both take seconds.
    server = MlflowServer(mlflow_env, tmp_path_factory.mktemp("mlflow")).launch()
    try:
        with MlflowClient(mlflow_env, server.uri) as client:
            server.wait_ready()
            yield server, client
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mlflow_server(_mlflow_pair: tuple[MlflowServer, MlflowClient]) -> MlflowServer:
    return _mlflow_pair[0]


@pytest.fixture(scope="session")
def mlflow(_mlflow_pair: tuple[MlflowServer, MlflowClient]) -> MlflowClient:
    return _mlflow_pair[1]


@dataclass(frozen=True)
class RegisteredModel:
    """A registered model with two versions whose artifacts live in s3 (runs that logged nothing: the
    store is not reachable here, and specc never downloads artifacts), alias `champion` on version 1."""

    name: str
    runs: tuple[str, ...]  # run ids of versions 1 and 2
    artifact_root: str  # the experiment's artifact location

    def location(self, version: int) -> str:
        """Where MLflow says version `version`'s artifacts are (runs:/<run>/model, mapped)."""
        return f"{self.artifact_root}/{self.runs[version - 1]}/artifacts/model"


def register(mlflow: MlflowClient, name: str, versions: int = 2) -> RegisteredModel:
    root = f"s3://models/mlflow/{name}"
    experiment = mlflow("experiment", name=name, artifact_location=root)["id"]
    mlflow("registered_model", name=name, tags={"team": "risk", "api_token": "not-a-real-token"})
    runs = []
    for _ in range(versions):
        run = mlflow("run", experiment_id=experiment)["run_id"]
        # `runs:/` sources, as `mlflow.register_model("runs:/<run>/model", name)` records them.
        mlflow("register", name=name, source=f"runs:/{run}/model", run_id=run, tags={"validated": "true"})
        runs.append(run)
    mlflow("alias", name=name, alias="champion", version="1")
    return RegisteredModel(name, tuple(runs), root)


@pytest.fixture
def fraud_model(mlflow: MlflowClient) -> RegisteredModel:
    return register(mlflow, f"fraud-{next(_models)}")


@dataclass(frozen=True)
class AuthServer:
    server: MlflowServer
    admin_password: str
    model: str  # a model only the admin may read (default permission: none)


@pytest.fixture(scope="session")
def mlflow_auth_server(mlflow_env: toolenv.ToolEnv,
                       tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    """MLflow's basic-auth app: admin can read everything, `outsider` nothing."""
    password = "adm-" + secrets.token_hex(8)
    root: Path = tmp_path_factory.mktemp("mlflow-auth")
    server = MlflowServer(mlflow_env, root, basic_auth=True, admin_password=password).launch()
    try:
        with MlflowClient(mlflow_env, server.uri, username="admin", password=password) as admin:
            server.wait_ready()
            register(admin, "guarded", versions=1)
            admin("create_user", username="outsider", password="outsider-pass-1")
        yield AuthServer(server, password, "guarded")
    finally:
        server.stop()
