"""A real MLflow tracking server for the test suite, and MLflow's own client to fill its registry.

Takes the cached `mlflow` environment (`specc.testing.toolenv`) and a scratch directory; `MlflowServer`
runs `mlflow server --backend-store-uri sqlite:///<dir>/mlflow.db --default-artifact-root <dir>/artifacts
--host 127.0.0.1 --port <free>` (optionally its `basic-auth` app), waits until `/health` answers (bounded),
and always stops it (terminate, then kill, the whole process group). `MlflowClient` is one long-lived
process of the environment's Python running `_CLIENT` (MLflow's `MlflowClient` and `mlflow.sklearn`),
which takes one JSON command per line on stdin and answers one JSON line: create experiments and runs,
log and register tiny real scikit-learn models, register versions from a store location, move aliases,
archive and delete versions, create users. One process, so MLflow is imported once, not per command.

Must not: download anything (the environment is installed beforehand), listen anywhere but loopback,
or leave a process running (both are context managers; `stop`/`close` are idempotent).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import select
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from specc.testing.process_group import stop_group
from specc.testing.toolenv import ToolEnv

STARTUP_TIMEOUT = 120.0  # seconds; measured about 10 s on 2 busy cores
COMMAND_TIMEOUT = 120.0

_CLIENT = r'''
import json, os, sys, warnings
warnings.filterwarnings("ignore")
# Answers go to a private copy of stdout: MLflow prints to stdout ("View run ..."), so stdout itself
# goes where stderr goes.
answers = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
sys.stdout = sys.stderr
import mlflow
from mlflow import MlflowClient

mlflow.set_tracking_uri(sys.argv[1])
client = MlflowClient()

def tiny_model():
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    return LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1]))

def handle(cmd):
    op = cmd["op"]
    if op == "experiment":
        found = client.get_experiment_by_name(cmd["name"])
        if found is not None:
            return {"id": found.experiment_id}
        return {"id": client.create_experiment(cmd["name"], artifact_location=cmd.get("artifact_location"))}
    if op == "run":
        run = client.create_run(cmd["experiment_id"])
        client.set_terminated(run.info.run_id)
        return {"run_id": run.info.run_id, "artifact_uri": run.info.artifact_uri}
    if op == "registered_model":
        try:
            client.create_registered_model(cmd["name"], tags=cmd.get("tags"))
        except mlflow.exceptions.MlflowException as error:
            if "already exists" not in str(error):
                raise
        return {}
    if op == "register":
        version = client.create_model_version(cmd["name"], source=cmd["source"], run_id=cmd.get("run_id"),
                                              tags=cmd.get("tags"))
        return {"version": version.version, "source": version.source}
    if op == "log_sklearn":
        mlflow.set_experiment(cmd.get("experiment", "Default"))
        with mlflow.start_run() as run:
            info = mlflow.sklearn.log_model(tiny_model(), name="model", registered_model_name=cmd["name"])
        version = client.get_model_version(cmd["name"], str(info.registered_model_version))
        return {"version": version.version, "run_id": run.info.run_id, "model_id": info.model_id,
                "source": version.source}
    if op == "logged_model":
        model = mlflow.initialize_logged_model(name="model", experiment_id=cmd["experiment_id"])
        version = mlflow.register_model(f"models:/{model.model_id}", cmd["name"])
        return {"version": version.version, "model_id": model.model_id, "artifact_location": model.artifact_location}
    if op == "alias":
        client.set_registered_model_alias(cmd["name"], cmd["alias"], cmd["version"])
        return {}
    if op == "archive":
        client.transition_model_version_stage(cmd["name"], cmd["version"], "Archived")
        return {}
    if op == "delete_version":
        client.delete_model_version(cmd["name"], cmd["version"])
        return {}
    if op == "create_user":
        from mlflow.server.auth.client import AuthServiceClient
        AuthServiceClient(sys.argv[1]).create_user(cmd["username"], cmd["password"])
        return {}
    raise ValueError(f"unknown op {op!r}")

answers.write(json.dumps({"ready": True}) + "\n")
answers.flush()
for line in sys.stdin:
    try:
        answer = {"ok": handle(json.loads(line))}
    except Exception as error:
        answer = {"error": f"{type(error).__name__}: {error}"}
    answers.write(json.dumps(answer) + "\n")
    answers.flush()
'''


class MlflowServerError(RuntimeError):
    """The server did not start, or a client command failed; the message has the log's tail."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class MlflowServer:
    """One `mlflow server` on loopback. `uri` is its tracking URI once started."""

    def __init__(self, env: ToolEnv, root: Path, *, basic_auth: bool = False, admin_password: str = "") -> None:
        self.env = env
        self.root = root
        self.basic_auth = basic_auth
        self.admin_password = admin_password
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log = root / "server.log"

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MlflowServer:
        return self.launch().wait_ready()

    def launch(self) -> MlflowServer:
        """Start the process without waiting for it (so a client can start meanwhile)."""
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "artifacts").mkdir(exist_ok=True)
        self.port = free_port()
        command = [str(self.env.bin("mlflow")), "server", "--backend-store-uri",
                   f"sqlite:///{self.root / 'mlflow.db'}", "--default-artifact-root", str(self.root / "artifacts"),
                   "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        environ = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        if self.basic_auth:
            config = self.root / "basic_auth.ini"
            config.write_text(
                "[mlflow]\ndefault_permission = NO_PERMISSIONS\n"
                f"database_uri = sqlite:///{self.root / 'basic_auth.db'}\nadmin_username = admin\n"
                f"admin_password = {self.admin_password}\n"
                "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n")
            environ["MLFLOW_AUTH_CONFIG_PATH"] = str(config)
            environ["MLFLOW_FLASK_SERVER_SECRET_KEY"] = secrets.token_hex(16)  # CSRF key the auth app needs
            command += ["--app-name", "basic-auth"]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                            env=environ, cwd=self.root, start_new_session=True)
        return self

    def wait_ready(self) -> MlflowServer:
        """Wait (bounded) until `/health` answers; stop the server and raise if it does not."""
        assert self.process is not None, "launch() first"
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.stop()
                raise MlflowServerError(f"mlflow server exited with {code} while starting:\n{_tail(self.log)}")
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.3)
        self.stop()
        raise MlflowServerError(f"mlflow server did not answer /health within {STARTUP_TIMEOUT:g}s:\n"
                                f"{_tail(self.log)}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        stop_group(process)

    def __enter__(self) -> MlflowServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


class MlflowClient:
    """MLflow's own Python client, in the environment's interpreter, driven one command at a time."""

    def __init__(self, env: ToolEnv, tracking_uri: str, *, username: str = "", password: str = "") -> None:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        environ["PYTHONUNBUFFERED"] = "1"
        if username:
            environ["MLFLOW_TRACKING_USERNAME"] = username
            environ["MLFLOW_TRACKING_PASSWORD"] = password
        self.process: subprocess.Popen[str] | None = subprocess.Popen(
            [str(env.python), "-c", _CLIENT, tracking_uri], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True, env=environ, start_new_session=True)
        first = self._line()
        if not first.get("ready"):
            self.close()
            raise MlflowServerError(f"the MLflow client did not start: {first}")

    def _line(self) -> dict[str, Any]:
        assert self.process is not None and self.process.stdout is not None
        # A bounded wait: the client writes each answer as one flushed line, or dies (EOF).
        ready, _, _ = select.select([self.process.stdout], [], [], COMMAND_TIMEOUT)
        if not ready:
            self.close()
            raise MlflowServerError(f"the MLflow client did not answer within {COMMAND_TIMEOUT:g}s")
        line = self.process.stdout.readline()
        if not line:
            raise MlflowServerError("the MLflow client exited")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def __call__(self, op: str, **args: Any) -> dict[str, Any]:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.process.stdin.flush()
        answer = self._line()
        if "error" in answer:
            raise MlflowServerError(f"MLflow client {op}: {answer['error']}")
        ok: dict[str, Any] = answer["ok"]
        return ok

    def close(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(OSError):
            if process.stdin is not None:
                process.stdin.close()  # the client's loop ends at EOF
        stop_group(process, terminate=False)
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> MlflowClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
