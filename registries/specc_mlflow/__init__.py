"""The MLflow Model Registry as a specc registry plugin (built in, registered like a third party's).

Takes a registry reference (`{provider: mlflow, model: fraud, alias: champion}` or `version: "3"`) and
the `JsonApi` specc hands it; returns the model version's artifact location and provenance. Speaks
MLflow's REST API as the tracking server of MLflow 3.17.2 serves it (`mlflow/server/handlers.py`,
`mlflow/protos/model_registry.proto` @v3.17.2), so specc needs neither `mlflow` nor its dependencies:

- `GET /api/2.0/mlflow/registered-models/alias?name=&alias=` or `/model-versions/get?name=&version=`:
  the `model_version` (`version`, `source`, `run_id`, `status`, `current_stage`, `tags`, `aliases`);
- `GET /api/2.0/mlflow/model-versions/get-download-uri`: the version's `storage_location` (what the
  SQL store resolved at registration: a logged model's artifact location for a `models:/m-...` source)
  or else its `source` (`SqlAlchemyStore.get_model_version_download_uri`);
- `GET /api/2.0/mlflow/runs/get` (`run.info.artifact_uri`) for a `runs:/<run>/<path>` location, and
  `GET /api/2.0/mlflow/logged-models/<id>` (`model.info.artifact_uri`) for `models:/m-<id>`, so that
  the location is the real store (`s3://`, `gs://`, ...) a storage initializer can fetch;
- `GET /api/2.0/mlflow/registered-models/get`: the model's tags and aliases (and, when an alias or
  version is unknown, the ones that exist), `/registered-models/search` for a did-you-mean.

Refused, each with its reason: a version that is not `READY` (`PENDING_REGISTRATION`,
`FAILED_REGISTRATION`), an archived one (`current_stage: Archived`; MLflow 3 keeps stages, deprecated
since 2.9, and has no other "retired" state: a deleted version is gone, 404), and `mlflow-artifacts:`
locations, which the tracking server proxies without saying, in any API, which store is behind them.
A local path (the server's own disk) becomes `file://...`, which specc's storage checks refuse.

Credentials as MLflow's client reads them (`mlflow/utils/rest_utils.py` @v3.17.2: a username and
password win over a token): `MLFLOW_TRACKING_USERNAME`/`MLFLOW_TRACKING_PASSWORD` (Basic),
`MLFLOW_TRACKING_TOKEN` (Bearer), `MLFLOW_TRACKING_INSECURE_TLS`, `MLFLOW_TRACKING_SERVER_CERT_PATH`
(exclusive with the former, as in MLflow). Imports only `specc.registry_api`; does no I/O itself.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from specc.registry_api import (
    Answer,
    Credentials,
    Endpoint,
    FaultKind,
    JsonApi,
    Reference,
    RegistryFault,
    RegistryProvider,
    Resolved,
)

API = "api/2.0/mlflow"
MAX_MAPPING_STEPS = 4  # runs:/ -> models:/ -> ...: MLflow never chains more than two
_TRUE, _FALSE = ("true", "1"), ("false", "0")
_CONNECTION_HINT = ("set registry.trackingUri in the spec or MLFLOW_TRACKING_URI in the environment to the "
                    "tracking server, e.g. https://mlflow.example.com")


def _flag(environ: Mapping[str, str], name: str) -> bool:
    value = environ.get(name)
    if value is None or value == "":
        return False
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    # The value is not echoed: a misplaced secret would otherwise be printed.
    raise RegistryFault("config", f"{name} must be true, false, 1 or 0 (case-insensitive)")


def _tags(entries: Any) -> dict[str, str]:
    if not isinstance(entries, list):
        return {}
    return {str(t["key"]): str(t.get("value", "")) for t in entries if isinstance(t, dict) and "key" in t}


def _error(answer: Answer) -> tuple[str, str]:
    code = answer.body.get("error_code")
    message = answer.body.get("message")
    return (code if isinstance(code, str) else "", message if isinstance(message, str) else "")


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class MlflowRegistry(RegistryProvider):
    name = "mlflow"
    summary = "MLflow Model Registry (tracking server REST API)"

    def endpoint(self, ref: Reference, environ: Mapping[str, str]) -> Endpoint:
        uri = ref.tracking_uri
        origin = "registry.trackingUri"
        if uri is None:
            uri = environ.get("MLFLOW_TRACKING_URI") or None
            origin = "MLFLOW_TRACKING_URI"
        if uri is None:
            raise RegistryFault("config", "no MLflow tracking server: the reference has no trackingUri and "
                                "MLFLOW_TRACKING_URI is not set", _CONNECTION_HINT)
        try:
            parts = urlsplit(uri)
            has_credentials = bool(parts.username or parts.password)
        except ValueError:
            raise RegistryFault("config", f"{origin} is not a valid URI", _CONNECTION_HINT) from None
        if parts.scheme not in ("http", "https"):
            # Not echoed in full (it may be a path with a user name in it); the scheme says enough.
            raise RegistryFault(
                "config", f"{origin} is a '{parts.scheme or 'local path'}' tracking URI; specc resolves "
                "registry references through a tracking server's REST API (http:// or https://)",
                "start `mlflow server` against that store and point the tracking URI at it")
        if has_credentials:
            raise RegistryFault("config", f"{origin} has credentials written into it; they are not used or "
                                "shown", "set MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and "
                                "MLFLOW_TRACKING_PASSWORD, and remove them from the URI")
        if not parts.hostname:
            raise RegistryFault("config", f"{origin} has no host", _CONNECTION_HINT)
        username = environ.get("MLFLOW_TRACKING_USERNAME") or ""
        password = environ.get("MLFLOW_TRACKING_PASSWORD") or ""
        token = environ.get("MLFLOW_TRACKING_TOKEN") or ""
        credentials: Credentials | None = None
        if username and password:
            credentials = Credentials("basic", username=username, password=password)
        elif username or password:
            missing = "MLFLOW_TRACKING_PASSWORD" if username else "MLFLOW_TRACKING_USERNAME"
            if not token:
                raise RegistryFault("config", f"{missing} is not set: Basic authentication needs both "
                                    "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD")
        if credentials is None and token:
            credentials = Credentials("bearer", token=token)
        insecure = _flag(environ, "MLFLOW_TRACKING_INSECURE_TLS")
        ca_bundle = environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH") or None
        if insecure and ca_bundle:
            raise RegistryFault("config", "MLFLOW_TRACKING_INSECURE_TLS and MLFLOW_TRACKING_SERVER_CERT_PATH "
                                "are both set; MLflow refuses that combination, and so does specc")
        return Endpoint(uri.rstrip("/"), credentials, verify_tls=not insecure, ca_bundle=ca_bundle)

    # -- resolution ------------------------------------------------------------------------------------

    def resolve(self, ref: Reference, api: JsonApi) -> Resolved:
        if ref.version is not None and not re.fullmatch(r"[1-9][0-9]*", ref.version):
            raise RegistryFault("not-found", f"'{ref.version}' is not an MLflow model version",
                                "MLflow numbers the versions of a registered model 1, 2, 3, ...: write "
                                "version: \"3\", or use an alias")
        version = self._version(ref, api)
        number = str(version.get("version", ""))
        if not number:
            raise RegistryFault("bad-answer", f"the registry's answer for {ref.selector} has no version number")
        status = version.get("status", "READY")
        if status != "READY":
            detail = version.get("status_message")
            raise RegistryFault(
                "unusable", f"version {number} of '{ref.model}' is {status}, not READY"
                + (f": {_short(str(detail))}" if detail else ""),
                "wait for the registration to finish, or register the model again")
        if version.get("current_stage") == "Archived":
            raise RegistryFault(
                "unusable", f"version {number} of '{ref.model}' is archived (current_stage Archived)",
                "serve a version that is not archived: point the alias at it, or pin its number")
        source = str(version.get("source", ""))
        download = self._get(api, "model-versions/get-download-uri", {"name": ref.model, "version": number},
                             f"the download location of {ref.model}/{number}")
        location = download.get("artifact_uri") or source
        if not isinstance(location, str) or not location:
            raise RegistryFault("bad-answer", f"the registry reports no artifact location for version {number} "
                                f"of '{ref.model}'")
        storage, mapped = self._real_store(location, api)
        if source and source != location:
            mapped = (f"source {source} is stored at {location}", *mapped)
        run_id = version.get("run_id") or None
        registered = self._get(api, "registered-models/get", {"name": ref.model},
                               f"registered model '{ref.model}'").get("registered_model") or {}
        return Resolved(
            storage_uri=storage, version=number, registry_uri=f"models:/{ref.model}/{number}",
            source=source or location, run_id=str(run_id) if run_id else None, mapped=mapped,
            tags=_tags(version.get("tags")),
            model_tags=_tags(registered.get("tags") if isinstance(registered, dict) else None),
        )

    def _version(self, ref: Reference, api: JsonApi) -> dict[str, Any]:
        if ref.alias is not None:
            answer = api.get(f"{API}/registered-models/alias", {"name": ref.model, "alias": ref.alias})
        else:
            assert ref.version is not None
            answer = api.get(f"{API}/model-versions/get", {"name": ref.model, "version": ref.version})
        if answer.status == 200:
            found = answer.body.get("model_version")
            if not isinstance(found, dict):
                raise RegistryFault("bad-answer", f"the registry's answer for {ref.selector} has no model_version")
            return found
        code, message = _error(answer)
        if code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE") or answer.status in (400, 404):
            raise self._missing(ref, api, code, message)
        raise RegistryFault("bad-answer", f"the registry answered {answer.status} for {ref.selector}: "
                            f"{code or 'error'} {_short(message)}".rstrip())

    def _missing(self, ref: Reference, api: JsonApi, code: str, message: str) -> RegistryFault:
        """A fault naming what exists instead: the model's aliases or versions, or similar model names."""
        answer = api.get(f"{API}/registered-models/get", {"name": ref.model})
        if answer.status != 200:
            names = self._model_names(api)
            close = difflib.get_close_matches(ref.model, names, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else (
                f"registered models: {', '.join(sorted(names)[:10])}" if names else "no model is registered there")
            return RegistryFault("not-found", f"registered model '{ref.model}' does not exist in the registry",
                                 hint)
        model = answer.body.get("registered_model") or {}
        aliases = {str(a.get("alias")): str(a.get("version")) for a in model.get("aliases") or []
                   if isinstance(a, dict)}
        if ref.alias is not None:
            listed = ", ".join(f"{a} -> {v}" for a, v in sorted(aliases.items()))
            close = difflib.get_close_matches(ref.alias, list(aliases), n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else (
                f"its aliases: {listed}" if listed else "it has no aliases: set one with "
                "MlflowClient().set_registered_model_alias, or pin a version")
            return RegistryFault("not-found", f"registered model '{ref.model}' has no alias '{ref.alias}'", hint)
        versions = self._versions(ref.model, api)
        listed = ", ".join(versions) if versions else "none"
        return RegistryFault("not-found", f"version {ref.version} of '{ref.model}' does not exist (never "
                             "registered, or deleted)", f"its versions: {listed}")

    def _versions(self, model: str, api: JsonApi) -> list[str]:
        escaped = model.replace("'", "\\'")
        answer = api.get(f"{API}/model-versions/search", {"filter": f"name='{escaped}'", "max_results": "200"})
        if answer.status != 200:
            return []
        found = [str(v.get("version")) for v in answer.body.get("model_versions") or [] if isinstance(v, dict)]
        return sorted(found, key=lambda v: (len(v), v))

    def _model_names(self, api: JsonApi) -> list[str]:
        answer = api.get(f"{API}/registered-models/search", {"max_results": "200"})
        if answer.status != 200:
            return []
        return [str(m.get("name")) for m in answer.body.get("registered_models") or [] if isinstance(m, dict)]

    def _get(self, api: JsonApi, path: str, params: Mapping[str, str], what: str) -> Mapping[str, Any]:
        answer = api.get(f"{API}/{path}", params)
        if answer.status != 200:
            code, message = _error(answer)
            kind: FaultKind = "not-found" if code == "RESOURCE_DOES_NOT_EXIST" else "bad-answer"
            raise RegistryFault(kind, f"the registry could not give {what}: {code or answer.status} "
                                f"{_short(message)}".rstrip())
        return answer.body

    def _real_store(self, location: str, api: JsonApi) -> tuple[str, tuple[str, ...]]:
        """Follow `runs:/` and `models:/` locations to the store they live in; refuse proxied ones."""
        steps: list[str] = []
        for _ in range(MAX_MAPPING_STEPS):
            scheme = location.split(":", 1)[0] if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", location) else ""
            if scheme == "runs":
                run_id, _, sub = location.removeprefix("runs:").lstrip("/").partition("/")
                run = self._get(api, "runs/get", {"run_id": run_id}, f"run {run_id}").get("run") or {}
                root = (run.get("info") or {}).get("artifact_uri") if isinstance(run, dict) else None
                if not isinstance(root, str) or not root:
                    raise RegistryFault("bad-answer", f"run {run_id} has no artifact_uri")
                target = f"{root.rstrip('/')}/{sub}" if sub else root
                steps.append(f"{location} is in run {run_id}'s artifact_uri {root}")
                location = target
            elif scheme == "models":
                rest = location.removeprefix("models:").lstrip("/")
                if rest.startswith("m-"):
                    model_id, _, sub = rest.partition("/")
                    if not re.fullmatch(r"m-[0-9a-f]+", model_id):  # it becomes part of a request path
                        raise RegistryFault("bad-answer", f"the artifact location {location} names a logged "
                                            "model id MLflow does not make")
                    logged = self._get(api, f"logged-models/{model_id}", {}, f"logged model {model_id}")
                    info = (logged.get("model") or {}).get("info") or {}
                    root = info.get("artifact_uri") if isinstance(info, dict) else None
                    if not isinstance(root, str) or not root:
                        raise RegistryFault("bad-answer", f"logged model {model_id} has no artifact_uri")
                    target = f"{root.rstrip('/')}/{sub}" if sub else root
                    steps.append(f"{location} is logged model {model_id}, stored at {root}")
                    location = target
                else:
                    name, _, number = rest.partition("/")
                    if not number.isdigit():
                        raise RegistryFault("unusable", f"the artifact location {location} names another "
                                            "registry entry specc cannot follow")
                    answer = self._get(api, "model-versions/get-download-uri", {"name": name, "version": number},
                                       f"the download location of {name}/{number}")
                    target = str(answer.get("artifact_uri") or "")
                    steps.append(f"{location} is stored at {target}")
                    location = target
            elif scheme == "mlflow-artifacts":
                raise RegistryFault(
                    "unusable", f"the artifacts are at {location}: the tracking server proxies them "
                    "(mlflow-artifacts:), and MLflow's API does not say which store is behind the proxy, so no "
                    "storage initializer can fetch them",
                    "run the tracking server with an s3://, gs:// or Azure --default-artifact-root and "
                    "--no-serve-artifacts, or register the version from its store location")
            elif scheme == "" and location.startswith("/"):
                steps.append(f"{location} is a path on the tracking server's disk")
                return f"file://{location}", tuple(steps)
            else:
                return location, tuple(steps)
        raise RegistryFault("unusable", f"the artifact location of this version goes through more than "
                            f"{MAX_MAPPING_STEPS} registry references")


provider = MlflowRegistry()
