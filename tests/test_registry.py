"""Registry references resolved against a real MLflow tracking server (MLflow 3.17.2 from PyPI).

What MLflow answers is read from its source at the version the tests run (`mlflow/server/handlers.py`,
`mlflow/store/model_registry/sqlalchemy_store.py`, `mlflow/utils/rest_utils.py` @v3.17.2) and then
seen here from the real server: `registered-models/alias` and `model-versions/get` give the version,
`model-versions/get-download-uri` its storage location (a `runs:/` source stays `runs:/`, so specc
follows the run's `artifact_uri`; a logged model's location was resolved by the store at registration),
an unknown alias is a 400 INVALID_PARAMETER_VALUE, an unknown model or version a 404
RESOURCE_DOES_NOT_EXIST, a deleted version a 404 too, and the basic-auth app answers 401 and 403.

Every fault is checked through the command line: one diagnostic at the `registry:` field's
FILE:LINE:COL, exit 1, nothing written, and no credential in any output.
"""

from __future__ import annotations

import json
import socket
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from specc.testing.mlflowserver import MlflowClient, MlflowServer

from .clirun import specc
from .registry_fixtures import AuthServer, RegisteredModel, register

pytestmark = pytest.mark.usefixtures("mlflow_env")


def spec_file(tmp_path: Path, registry: str, *, backend: str = "kubernetes", extra: str = "") -> Path:
    """A one-model spec whose `registry:` line is line 10, column 5."""
    path = tmp_path / "serving.yaml"
    path.write_text(textwrap.dedent(f"""\
        apiVersion: specc.dev/v1alpha1
        kind: ServingSpec
        metadata:
          name: fraud
          namespace: ml-prod
        backend: {backend}
        models:
          - name: fraud-detector
            format: sklearn
            registry: {registry}
        """) + extra, encoding="utf-8")
    return path


REGISTRY_AT = "serving.yaml:10:5: models[0].registry: "


@pytest.fixture
def tracking(monkeypatch: pytest.MonkeyPatch, mlflow_server: MlflowServer) -> str:
    for name in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD",
                 "MLFLOW_TRACKING_INSECURE_TLS", "MLFLOW_TRACKING_SERVER_CERT_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.uri)
    return mlflow_server.uri


def rendered(capsys: pytest.CaptureFixture[str], path: Path, *extra: str) -> list[dict]:  # type: ignore[type-arg]
    code, out, err = specc(capsys, "render", str(path), *extra)
    assert code == 0, err
    return list(yaml.safe_load_all(out))


def deployment(objects: list[dict]) -> dict:  # type: ignore[type-arg]
    return next(o for o in objects if o["kind"] == "Deployment")


def refused(capsys: pytest.CaptureFixture[str], path: Path, code: str, *fragments: str) -> str:
    """Render must fail with exactly one diagnostic, at the registry field, with `code`; returns what
    it printed (the diagnostic with its source line and hint)."""
    out_dir = path.parent / "out"
    exit_code, out, err = specc(capsys, "render", str(path), "-o", str(out_dir))
    assert exit_code == 1, out + err
    assert not out_dir.exists(), "nothing may be written when a reference cannot be resolved"
    # One diagnostic: its headline, then only its indented source excerpt and hint.
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith(" ")]
    assert len(lines) == 1, err
    assert lines[0].startswith(str(path.parent / REGISTRY_AT)) and lines[0].endswith(f"[{code}]"), err
    for fragment in fragments:  # the message, or the hint beneath it
        assert fragment in err, err
    assert "Traceback" not in err
    return err  # all of it, so a test that a secret is absent covers the excerpt and the hint too


# -- resolving ---------------------------------------------------------------------------------------

def test_an_alias_resolves_to_the_runs_store_location_version_and_run(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, tracking: str, fraud_model: RegisteredModel) -> None:
    path = spec_file(tmp_path, f"{{provider: mlflow, model: {fraud_model.name}, alias: champion}}")
    deploy = deployment(rendered(capsys, path))
    annotations = deploy["metadata"]["annotations"]
    assert annotations["provenance.specc.dev/registry"] == "mlflow"
    assert annotations["provenance.specc.dev/uri"] == f"models:/{fraud_model.name}/1"
    assert annotations["provenance.specc.dev/version"] == "1"
    assert annotations["provenance.specc.dev/run-id"] == fraud_model.runs[0]
    pod = deploy["spec"]["template"]
    assert pod["metadata"]["annotations"]["provenance.specc.dev/run-id"] == fraud_model.runs[0]
    init = pod["spec"]["initContainers"][0]
    # The version's source is runs:/<run>/model; MLflow's download URI is the same runs:/ URI, and the
    # run's artifact_uri is the experiment's s3 root + <run>/artifacts.
    assert init["args"][0] == fraud_model.location(1)


def test_a_version_pin_resolves_that_version(capsys: pytest.CaptureFixture[str], tmp_path: Path, tracking: str,
                                             fraud_model: RegisteredModel) -> None:
    path = spec_file(tmp_path, f'{{provider: mlflow, model: {fraud_model.name}, version: "2"}}')
    deploy = deployment(rendered(capsys, path))
    assert deploy["metadata"]["annotations"]["provenance.specc.dev/version"] == "2"
    assert deploy["spec"]["template"]["spec"]["initContainers"][0]["args"][0] == fraud_model.location(2)


def test_the_tracking_uri_of_the_spec_wins_over_the_environment(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        mlflow_server: MlflowServer, fraud_model: RegisteredModel) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # nothing listens there
    path = spec_file(tmp_path, f"{{provider: mlflow, model: {fraud_model.name}, alias: champion, "
                     f"trackingUri: \"{mlflow_server.uri}\"}}")
    assert deployment(rendered(capsys, path))["metadata"]["annotations"]["provenance.specc.dev/version"] == "1"


def test_a_logged_model_version_serves_its_stored_location(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, tracking: str, mlflow: MlflowClient) -> None:
    # MLflow 3: a LoggedModel (models:/m-<id>) registered as a version; the SQL store records the
    # logged model's artifact location as the version's storage_location (create_model_version).
    experiment = mlflow("experiment", name="logged-s3", artifact_location="s3://models/logged")["id"]
    made = mlflow("logged_model", name="logged-s3", experiment_id=experiment)
    path = spec_file(tmp_path, f'{{provider: mlflow, model: logged-s3, version: "{made["version"]}"}}')
    deploy = deployment(rendered(capsys, path))
    assert made["artifact_location"].startswith("s3://models/logged/")
    assert deploy["spec"]["template"]["spec"]["initContainers"][0]["args"][0] == made["artifact_location"]
    code, out, _ = specc(capsys, "plan", str(path), "--target", f"dir:{tmp_path / 'gitops'}", "--format", "json")
    assert code == 0
    resolution = json.loads(out)["registry"][0]
    assert resolution["source"] == f"models:/{made['model_id']}"
    assert resolution["mapped"] == [f"source models:/{made['model_id']} is stored at {made['artifact_location']}"]


def test_a_model_on_the_servers_own_disk_is_refused_like_a_typed_file_uri(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, tracking: str, mlflow: MlflowClient) -> None:
    # A tiny real scikit-learn model logged through mlflow.sklearn to the server's local artifact root.
    made = mlflow("log_sklearn", name="on-disk")
    path = spec_file(tmp_path, f'{{provider: mlflow, model: on-disk, version: "{made["version"]}"}}')
    line = refused(capsys, path, "G909", "resolves to file:///", "storage scheme 'file://' is not supported",
                   "not visible in the cluster")
    assert made["model_id"] in line


def test_a_location_the_backend_cannot_fetch_is_refused_by_that_backend(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, tracking: str, mlflow: MlflowClient) -> None:
    experiment = mlflow("experiment", name="on-hf")["id"]
    run = mlflow("run", experiment_id=experiment)["run_id"]
    mlflow("registered_model", name="on-hf")
    mlflow("register", name="on-hf", source="hf://acme/fraud-model", run_id=run)
    path = spec_file(tmp_path, '{provider: mlflow, model: on-hf, version: "1"}',
                     extra="    options:\n      seldon: {version: v2}\n", backend="seldon")
    refused(capsys, path, "G909", "resolves to hf://acme/fraud-model", "seldon: Seldon Core 2 cannot fetch hf://")


def test_mlflow_artifacts_locations_are_refused_with_the_reason(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, tracking: str, mlflow: MlflowClient) -> None:
    experiment = mlflow("experiment", name="proxied", artifact_location="mlflow-artifacts:/proxied")["id"]
    run = mlflow("run", experiment_id=experiment)["run_id"]
    mlflow("registered_model", name="proxied")
    mlflow("register", name="proxied", source=f"runs:/{run}/model", run_id=run)
    path = spec_file(tmp_path, '{provider: mlflow, model: proxied, version: "1"}')
    refused(capsys, path, "G907", "mlflow-artifacts:/proxied/", "does not say which store is behind the proxy")


# -- what cannot be served ---------------------------------------------------------------------------

def test_an_unknown_model_names_the_close_one(capsys: pytest.CaptureFixture[str], tmp_path: Path, tracking: str,
                                              fraud_model: RegisteredModel) -> None:
    typo = fraud_model.name.replace("fraud", "frud")
    path = spec_file(tmp_path, f"{{provider: mlflow, model: {typo}, alias: champion}}")
    refused(capsys, path, "G906", f"registered model '{typo}' does not exist", f"did you mean '{fraud_model.name}'?")


def test_an_unknown_alias_lists_the_aliases(capsys: pytest.CaptureFixture[str], tmp_path: Path, tracking: str,
                                            fraud_model: RegisteredModel) -> None:
    path = spec_file(tmp_path, f"{{provider: mlflow, model: {fraud_model.name}, alias: production}}")
    refused(capsys, path, "G906", "has no alias 'production'", "its aliases: champion -> 1")


def test_an_unknown_version_lists_the_versions(capsys: pytest.CaptureFixture[str], tmp_path: Path, tracking: str,
                                               fraud_model: RegisteredModel) -> None:
    path = spec_file(tmp_path, f'{{provider: mlflow, model: {fraud_model.name}, version: "7"}}')
    refused(capsys, path, "G906", "version 7 of", "does not exist", "its versions: 1, 2")


def test_a_version_that_is_not_a_number_is_refused_before_asking(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, tracking: str, fraud_model: RegisteredModel) -> None:
    path = spec_file(tmp_path, f'{{provider: mlflow, model: {fraud_model.name}, version: "v2"}}')
    refused(capsys, path, "G906", "'v2' is not an MLflow model version", "numbers the versions")


def test_a_deleted_version_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path, tracking: str,
                                      mlflow: MlflowClient, fraud_model: RegisteredModel) -> None:
    mlflow("delete_version", name=fraud_model.name, version="2")
    path = spec_file(tmp_path, f'{{provider: mlflow, model: {fraud_model.name}, version: "2"}}')
    refused(capsys, path, "G906", "version 2 of", "never registered, or deleted", "its versions: 1")


def test_deleting_the_version_an_alias_points_to_removes_the_alias(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, tracking: str, mlflow: MlflowClient,
        fraud_model: RegisteredModel) -> None:
    # MLflow deletes a version's aliases with it (SqlAlchemyStore.delete_model_version @v3.17.2).
    mlflow("delete_version", name=fraud_model.name, version="1")
    path = spec_file(tmp_path, f"{{provider: mlflow, model: {fraud_model.name}, alias: champion}}")
    refused(capsys, path, "G906", "has no alias 'champion'", "it has no aliases")


def test_an_archived_version_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path, tracking: str,
                                        mlflow: MlflowClient, fraud_model: RegisteredModel) -> None:
    mlflow("archive", name=fraud_model.name, version="1")
    path = spec_file(tmp_path, f"{{provider: mlflow, model: {fraud_model.name}, alias: champion}}")
    refused(capsys, path, "G907", "version 1 of", "is archived (current_stage Archived)")


# -- connection faults ------------------------------------------------------------------------------

def test_no_tracking_uri_at_all(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    path = spec_file(tmp_path, "{provider: mlflow, model: fraud, alias: champion}")
    refused(capsys, path, "G901", "MLFLOW_TRACKING_URI is not set")


def test_a_server_that_was_turned_off(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch, mlflow_env: object) -> None:
    from specc.testing import toolenv

    env = toolenv.find("mlflow")
    assert env is not None
    server = MlflowServer(env, tmp_path / "short-lived").start()
    try:
        with MlflowClient(env, server.uri) as client:
            register(client, "fraud", versions=1)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", server.uri)
        path = spec_file(tmp_path, "{provider: mlflow, model: fraud, alias: champion}")
        assert deployment(rendered(capsys, path))["metadata"]["annotations"]["provenance.specc.dev/version"] == "1"
    finally:
        server.stop()
    refused(capsys, path, "G902", f"cannot reach the registry at {server.uri}: connection refused")


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def test_a_server_that_does_not_answer_times_out(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch, silent_port: int) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{silent_port}")
    path = spec_file(tmp_path, "{provider: mlflow, model: fraud, alias: champion}")
    out_dir = tmp_path / "out"
    code, _, err = specc(capsys, "render", str(path), "--registry-timeout", "0.5", "-o", str(out_dir))
    assert code == 1 and not out_dir.exists()
    assert err.splitlines()[0].endswith("[G903]") and "did not answer within 0.5s" in err  # the headline


def test_an_answer_that_is_not_json(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch, mlflow_server: MlflowServer) -> None:
    # A tracking URI with a path the server does not serve: Flask's HTML 404 page.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"{mlflow_server.uri}/mlflow-behind-a-proxy")
    path = spec_file(tmp_path, "{provider: mlflow, model: fraud, alias: champion}")
    refused(capsys, path, "G908", "answered 404 with text/html, not JSON")


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "601"])
def test_registry_timeout_must_be_bounded(capsys: pytest.CaptureFixture[str], tmp_path: Path, value: str) -> None:
    path = spec_file(tmp_path, "{provider: mlflow, model: fraud, alias: champion}")
    code, out, err = specc(capsys, "render", str(path), "--registry-timeout", value)
    assert code == 1 and not out
    assert "--registry-timeout" in err and "greater than 0 and at most 600" in err


# -- credentials -------------------------------------------------------------------------------------

def test_basic_auth_as_mlflow_users_set_it(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch,
                                           mlflow_auth_server: AuthServer) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_auth_server.server.uri)
    path = spec_file(tmp_path, f"{{provider: mlflow, model: {mlflow_auth_server.model}, alias: champion}}")
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
    refused(capsys, path, "G904", "401 Unauthorized (specc sent no credentials)")

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "wrong-" + mlflow_auth_server.admin_password)
    line = refused(capsys, path, "G904", "401 Unauthorized (specc sent a username and password)")
    assert mlflow_auth_server.admin_password not in line

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "outsider")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "outsider-pass-1")
    line = refused(capsys, path, "G905", "403 Forbidden", "lack permission")
    assert "outsider-pass-1" not in line

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", mlflow_auth_server.admin_password)
    code, out, err = specc(capsys, "plan", str(path), "--target", f"dir:{tmp_path / 'gitops'}", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["registry"][0]["version"] == "1"
    assert mlflow_auth_server.admin_password not in out + err


def test_a_token_is_never_printed(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch, mlflow_auth_server: AuthServer) -> None:
    token = "tok-" + "9f1c2a" * 6
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_auth_server.server.uri)
    path = spec_file(tmp_path, f"{{provider: mlflow, model: {mlflow_auth_server.model}, alias: champion}}")
    line = refused(capsys, path, "G904", "specc sent a bearer token")
    assert token not in line


def test_credentials_in_the_environments_tracking_uri_are_refused_unshown(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        mlflow_server: MlflowServer) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.uri.replace("://", "://ci:s3cr3t-pw@"))
    path = spec_file(tmp_path, "{provider: mlflow, model: fraud, alias: champion}")
    line = refused(capsys, path, "G901", "MLFLOW_TRACKING_URI has credentials written into it")
    assert "s3cr3t-pw" not in line


def test_credentials_in_the_specs_tracking_uri_are_refused_unshown(capsys: pytest.CaptureFixture[str],
                                                                   tmp_path: Path) -> None:
    path = spec_file(tmp_path, '{provider: mlflow, model: fraud, alias: champion, '
                     'trackingUri: "https://ci:s3cr3t-pw@mlflow.example.com"}')
    code, out, err = specc(capsys, "validate", str(path))
    assert code == 1 and "[R320]" in err
    assert "s3cr3t-pw" not in out + err


def test_insecure_tls_and_a_ca_bundle_are_exclusive_as_in_mlflow(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://mlflow.example.com")
    monkeypatch.setenv("MLFLOW_TRACKING_INSECURE_TLS", "true")
    monkeypatch.setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", str(tmp_path / "ca.pem"))
    path = spec_file(tmp_path, "{provider: mlflow, model: fraud, alias: champion}")
    refused(capsys, path, "G901", "MLFLOW_TRACKING_INSECURE_TLS and MLFLOW_TRACKING_SERVER_CERT_PATH")


def test_an_unknown_provider(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = spec_file(tmp_path, "{provider: mlfow, model: fraud, alias: champion}")
    refused(capsys, path, "G901", "unknown registry provider 'mlfow' (installed: mlflow)", "did you mean 'mlflow'?")


# -- plans -------------------------------------------------------------------------------------------

def test_plans_show_what_was_resolved_and_an_alias_move(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, tracking: str, mlflow: MlflowClient,
        fraud_model: RegisteredModel) -> None:
    path = spec_file(tmp_path, f"{{provider: mlflow, model: {fraud_model.name}, alias: champion}}")
    target = f"dir:{tmp_path / 'gitops'}"
    code, out, err = specc(capsys, "apply", str(path), "--target", target, "--auto-approve")
    assert code == 0, err
    assert f"fraud-detector: mlflow {fraud_model.name}@champion is version 1, run {fraud_model.runs[0]}" in out
    code, out, _ = specc(capsys, "plan", str(path), "--target", target, "--detailed-exitcode")
    assert code == 0 and "No changes." in out and "moved" not in out

    mlflow("alias", name=fraud_model.name, alias="champion", version="2")
    code, text, _ = specc(capsys, "plan", str(path), "--target", target, "--detailed-exitcode", "--no-color")
    assert code == 2
    old_run, new_run = fraud_model.runs
    assert f"  fraud-detector: champion 1 → 2, run {old_run} → {new_run}\n" in text
    assert f"serves {fraud_model.location(2)}" in text
    assert f"because runs:/{new_run}/model is in run {new_run}'s artifact_uri" in text
    assert (f'~ spec.template.spec.initContainers[name=storage-initializer].args[0]: '
            f'"{fraud_model.location(1)}" -> "{fraud_model.location(2)}"') in text
    _, markdown, _ = specc(capsys, "plan", str(path), "--target", target, "--format", "markdown")
    assert f"- <code>fraud-detector: champion 1 → 2, run {old_run} → {new_run}</code>" in markdown
    _, as_json, _ = specc(capsys, "plan", str(path), "--target", target, "--format", "json")
    resolution = json.loads(as_json)["registry"][0]
    assert resolution["moved"] is True
    assert resolution["previous"] == {"version": "1", "runId": old_run}
    assert (resolution["version"], resolution["runId"], resolution["registryUri"]) == (
        "2", new_run, f"models:/{fraud_model.name}/2")
    assert resolution["modelTags"] == {"api_token": "(sensitive value)", "team": "risk"}
    # --mask-all (output posted publicly): what moved stays, what the registry reported is hidden.
    _, masked, _ = specc(capsys, "plan", str(path), "--target", target, "--no-color", "--mask-all")
    assert "  fraud-detector: champion 1 → 2\n" in masked
    assert fraud_model.location(2) not in masked and new_run not in masked and "risk" not in masked


def test_a_canary_resolves_on_its_own(capsys: pytest.CaptureFixture[str], tmp_path: Path, tracking: str,
                                      fraud_model: RegisteredModel) -> None:
    path = spec_file(tmp_path, f"{{provider: mlflow, model: {fraud_model.name}, alias: champion}}", extra=(
        "    canary:\n"
        f"      registry: {{provider: mlflow, model: {fraud_model.name}, version: \"2\"}}\n"
        "      traffic: 10\n"
        "    ingress: {host: fraud.example.com}\n"))
    objects = rendered(capsys, path)
    by_name = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}
    stable, canary = by_name["fraud-detector"], by_name["fraud-detector-canary"]
    assert stable["spec"]["template"]["spec"]["initContainers"][0]["args"][0] == fraud_model.location(1)
    assert canary["spec"]["template"]["spec"]["initContainers"][0]["args"][0] == fraud_model.location(2)
    # Each track carries the provenance of what it serves (the finishing pass stamps a canary's own).
    for deploy, version in ((stable, 1), (canary, 2)):
        for notes in (deploy["metadata"]["annotations"], deploy["spec"]["template"]["metadata"]["annotations"]):
            assert notes["provenance.specc.dev/version"] == str(version)
            assert notes["provenance.specc.dev/run-id"] == fraud_model.runs[version - 1]
            assert notes["provenance.specc.dev/uri"] == f"models:/{fraud_model.name}/{version}"
    code, out, _ = specc(capsys, "plan", str(path), "--target", f"dir:{tmp_path / 'gitops'}", "--no-color")
    assert code == 0
    assert f"fraud-detector (canary): mlflow {fraud_model.name}/2 is version 2, run {fraud_model.runs[1]}" in out


@pytest.fixture
def redirecting_server() -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP server that redirects every request elsewhere (as a moved tracking server or a
    login proxy would), recording the Authorization headers it receives."""
    import http.server
    import threading

    seen: list[str] = []

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization", ""))
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{self.server.server_address[1]}/elsewhere")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_redirects_are_not_followed_so_credentials_go_only_where_pointed(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        redirecting_server: tuple[str, list[str]]) -> None:
    uri, seen = redirecting_server
    token = "tok-" + "77b0e1" * 6
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token)
    path = spec_file(tmp_path, "{provider: mlflow, model: fraud, alias: champion}")
    line = refused(capsys, path, "G908", "redirected the request (302)", "does not follow redirects")
    assert token not in line
    assert seen == [f"Bearer {token}"], "one request, to the address given, and none to the redirect target"
