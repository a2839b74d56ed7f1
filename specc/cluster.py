"""The cluster client: the only module that talks to a Kubernetes API server.

Takes a kubeconfig (and `--context`/`--namespace`), and requests built as data (`Request`: method, path,
query, body); returns decoded JSON. Everything is a plain HTTP call on the connection pool of the
official `kubernetes` client, which is used for what it does well (reading kubeconfig: contexts,
certificates, tokens, exec plugins) and imported lazily so that `validate` and `render` never pay
for it.

What this module guarantees, for every call:
- a connect and a read timeout, and an overall deadline;
- retries with exponential backoff and jitter on 429 (honouring `Retry-After`), 5xx, connection
  errors and timeouts, and on the 409s that are safe to retry (ResourceQuota races, an object still
  being deleted); never on a server-side-apply field conflict or an admission webhook's denial;
- every other failure becomes a `ClusterError` with a stage-coded diagnostic carrying the server's
  reason and message (401, 403 with the verb and resource, 404 kind not served, 409 conflicts with
  the managers and fields, 422 with the field causes, webhook denials by name);
- no token, certificate or Secret value ever appears in a message: messages are built from the
  server's `Status` only, and anything shaped like a credential is redacted.

It also answers who it is talking to (`cluster_uid`: the kube-system namespace's UID) and what the
user may do (`allowed`: SelfSubjectAccessReviews). It must not decide anything about plans,
ownership or whether to refuse; it does what it is asked (`specc.guard` decides).
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from specc import __version__
from specc.credentials import redact
from specc.diagnostics import ClusterError, Diagnostic, Severity

FIELD_MANAGER = "specc"
APPLY_PATCH = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"
JSON = "application/json"


@dataclass(frozen=True)
class Request:
    """One API call as data. `path` is absolute (`/apis/apps/v1/namespaces/x/deployments/y`)."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    body: Any = None
    content_type: str = JSON
    what: str = ""  # for messages: "apply Deployment ml-prod/fraud"
    retry_conflicts: bool = False  # a 409 here is an optimistic-lock race worth retrying

    def url_path(self) -> str:
        return self.path + (("?" + urlencode(self.query)) if self.query else "")


@dataclass(frozen=True)
class Resource:
    """A kind as the server serves it."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def collection(self, namespace: str | None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            return f"{base}/namespaces/{quote(namespace)}/{self.plural}"
        return f"{base}/{self.plural}"

    def item(self, namespace: str | None, name: str) -> str:
        return f"{self.collection(namespace)}/{quote(name)}"


@dataclass(frozen=True, order=True)
class Access:
    """One permission: `verb` on `group`/`resource` in `namespace` ("" for cluster-scoped)."""

    verb: str
    group: str
    resource: str
    namespace: str = ""

    def __str__(self) -> str:
        where = f" in namespace {self.namespace}" if self.namespace else " (cluster-wide)"
        return f"{self.verb} {self.group or 'core'}/{self.resource}{where}"


@dataclass
class RetryPolicy:
    attempts: int = 6
    base_delay: float = 0.2
    max_delay: float = 5.0
    max_retry_after: float = 30.0
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    deadline: float = 120.0  # per call, all retries included
    sleep: Callable[[float], None] = time.sleep

    def backoff(self, attempt: int) -> float:
        delay: float = min(self.max_delay, self.base_delay * (2 ** attempt))
        return delay * random.uniform(0.8, 1.2)  # jitter: many clients must not retry in step


@dataclass
class CallStats:
    """Requests made, by verb; `specc apply` of an unchanged spec must make no writes."""

    counts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, method: str) -> None:
        with self.lock:
            self.counts[method] = self.counts.get(method, 0) + 1

    @property
    def writes(self) -> int:
        return sum(n for m, n in self.counts.items() if m in ("POST", "PUT", "PATCH", "DELETE"))


class Cluster:
    """A connection to one API server. Thread-safe: apply runs writes of a stage concurrently."""

    def __init__(self, *, server: str, context: str, api_client: Any,
                 policy: RetryPolicy | None = None, secrets: tuple[str, ...] = (),
                 contexts: int = 1, context_given: bool = False) -> None:
        self.server = server
        self.context = context
        # How many contexts the kubeconfig offered and whether --context chose one: with several and
        # none chosen, the current-context decided, which `specc.guard` refuses for writes.
        self.contexts = contexts
        self.context_given = context_given
        self.policy = policy or RetryPolicy()
        self.stats = CallStats()
        self._api = api_client
        self._secrets = secrets
        self._discovery: dict[str, dict[str, Resource] | None] = {}
        self._discovery_lock = threading.Lock()

    # -- connecting ----------------------------------------------------------------------------------

    @classmethod
    def connect(cls, *, kubeconfig: str | None = None, context: str | None = None,
                policy: RetryPolicy | None = None) -> Cluster:
        """Load kubeconfig (or the in-cluster service account) without touching global state."""
        try:
            from kubernetes import client, config
            from kubernetes.config.config_exception import ConfigException
        except ImportError as exc:  # pragma: no cover - a dependency
            raise _error("K510", f"the kubernetes client is not installed: {exc}") from None
        configuration = client.Configuration()
        files = check_kubeconfig(kubeconfig)
        if not files and context is None:
            try:
                config.load_incluster_config(client_configuration=configuration)
            except ConfigException:
                raise _error("K510", f"no kubeconfig: {DEFAULT_KUBECONFIG} does not exist and specc is not "
                             "running in a cluster", hint="pass --kubeconfig FILE or set KUBECONFIG") from None
            return cls._make(configuration, "in-cluster", policy, 1, False)
        if not files:
            raise _error("K510", f"no kubeconfig to find context '{context}' in: {DEFAULT_KUBECONFIG} does not "
                         "exist", hint="pass --kubeconfig FILE or set KUBECONFIG")
        try:
            try:
                contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)
            except (ConfigException, FileNotFoundError, OSError):
                if kubeconfig is None and context is None:
                    config.load_incluster_config(client_configuration=configuration)
                    return cls._make(configuration, "in-cluster", policy, 1, False)
                raise
            wanted = context or _current_context(files)
            chosen = next((c for c in contexts if c["name"] == wanted), None) if wanted else active
            if chosen is None:
                names = ", ".join(sorted(c["name"] for c in contexts)) or "none"
                what = f"context '{wanted}' is not in the kubeconfig" if wanted else "no current-context is set"
                raise _error("K510", f"{what} (contexts: {names})")
            config.load_kube_config(config_file=kubeconfig, context=chosen["name"],
                                    client_configuration=configuration, persist_config=False)
        except ClusterError:
            raise
        except Exception as exc:  # kubeconfig parsing, exec plugins: all become one clear error
            detail = " ".join(str(exc).replace("\\n", "\n").split())  # one line, no literal "\n"
            raise _error("K510", f"cannot load kubeconfig {', '.join(files)}: {redact(detail)}",
                         hint="check KUBECONFIG / --kubeconfig and --context") from None
        return cls._make(configuration, chosen["name"], policy, len(contexts), context is not None)

    @classmethod
    def _make(cls, configuration: Any, context: str, policy: RetryPolicy | None, contexts: int,
              context_given: bool) -> Cluster:
        from kubernetes import client

        configuration.retries = False  # retries are ours, with backoff and Retry-After
        configuration.connection_pool_maxsize = 16
        configuration.debug = False  # the client's debug mode prints Authorization headers
        if not configuration.verify_ssl:
            # The kubeconfig asked for insecure-skip-tls-verify; urllib3 would warn on every request.
            import warnings

            import urllib3

            warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)
        api_client = client.ApiClient(configuration)
        secrets = tuple(v.split(" ", 1)[-1] for v in (configuration.api_key or {}).values() if isinstance(v, str))
        return cls(server=configuration.host, context=context, api_client=api_client, policy=policy,
                   secrets=secrets, contexts=contexts, context_given=context_given)

    def close(self) -> None:
        pool = getattr(getattr(self._api, "rest_client", None), "pool_manager", None)
        if pool is not None:
            pool.clear()

    # -- the one place requests are sent --------------------------------------------------------------

    def send(self, request: Request) -> Any:
        """Send a request with timeouts and retries; return decoded JSON (None for an empty body)."""
        import urllib3

        policy = self.policy
        started = time.monotonic()
        attempt = 0
        while True:
            status, headers, payload, failure = self._once(request, urllib3)
            if failure is None and status < 400:
                return payload
            retryable, wait = self._retryable(request, status, headers, payload, failure, attempt)
            elapsed = time.monotonic() - started
            if retryable and attempt + 1 < policy.attempts and elapsed + wait < policy.deadline:
                policy.sleep(wait)
                attempt += 1
                continue
            raise self._failure(request, status, payload, failure, attempt + 1)

    def _once(self, request: Request, urllib3: Any) -> tuple[int, Mapping[str, str], Any, str | None]:
        headers = {"Accept": JSON, "User-Agent": f"specc/{__version__}"}
        # auth_settings() also runs the kubeconfig's refresh hook (exec plugins, expiring tokens).
        for setting in self._api.configuration.auth_settings().values():
            if setting.get("in") == "header" and setting.get("value"):
                headers[setting["key"]] = setting["value"]
        body: bytes | None = None
        if request.body is not None:
            headers["Content-Type"] = request.content_type
            body = json.dumps(request.body, separators=(",", ":")).encode()
        self.stats.add(request.method)
        try:
            response = self._api.rest_client.pool_manager.request(
                request.method, self.server + request.url_path(), body=body, headers=headers,
                timeout=urllib3.Timeout(connect=self.policy.connect_timeout, read=self.policy.read_timeout,
                                        total=self.policy.connect_timeout + self.policy.read_timeout),
                retries=False, preload_content=True,
            )
        except urllib3.exceptions.HTTPError as exc:
            return 0, {}, None, type(exc).__name__ + ": " + redact(str(exc), self._secrets)
        data = response.data
        try:
            payload = json.loads(data) if data else None
        except ValueError:
            payload = {"message": data[:200].decode("utf-8", "replace")}
        return response.status, dict(response.headers), payload, None

    def _retryable(self, request: Request, status: int, headers: Mapping[str, str], payload: Any,
                   failure: str | None, attempt: int) -> tuple[bool, float]:
        wait = self.policy.backoff(attempt)
        if failure is not None:
            return True, wait
        message = _status_message(payload)
        if status == 429 or status >= 500:
            if "admission webhook" in message and "denied" in message:
                return False, 0.0
            retry_after = headers.get("Retry-After") or headers.get("retry-after")
            if retry_after and retry_after.strip().replace(".", "", 1).isdigit():
                wait = min(float(retry_after), self.policy.max_retry_after)
            return True, wait
        if status == 409:
            reason = (payload or {}).get("reason") if isinstance(payload, dict) else None
            if "resourcequotas" in message or "being deleted" in message:
                return True, wait
            if request.retry_conflicts and reason != "AlreadyExists":
                return True, wait
        if status == 500 and "failed calling webhook" in message:
            return True, wait
        return False, 0.0

    def _failure(self, request: Request, status: int, payload: Any, failure: str | None,
                 attempts: int) -> ClusterError:
        what = request.what or f"{request.method} {request.path}"
        tries = f" (after {attempts} attempts)" if attempts > 1 else ""
        if failure is not None:
            timeout = "Timeout" in failure or "timed out" in failure
            return _error("K509" if timeout else "K501",
                          f"{what}: {'timed out' if timeout else 'cannot reach'} the API server at "
                          f"{self.server}{tries}: {failure}",
                          hint="is the cluster reachable? check --context and the network")
        message = redact(_status_message(payload), self._secrets)
        reason = payload.get("reason", "") if isinstance(payload, dict) else ""
        if "admission webhook" in message and "denied" in message:
            return _error("K507", f"{what}: {message}", hint="an admission webhook refused the object")
        if status == 401:
            return _error("K502", f"{what}: the API server refused the credentials of context "
                          f"'{self.context}' (401 Unauthorized)", hint="log in again or refresh the token")
        if status == 403:
            return _error("K503", f"{what}: forbidden: {message}",
                          hint="ask for RBAC rights on this resource in the namespace")
        if status == 404:
            return _error("K504", f"{what}: not found: {message}")
        if status == 409:
            if request.content_type == APPLY_PATCH:
                return _error("K505", f"{what}: conflict with another field manager: {message}",
                              hint="review the fields above: they are owned by someone else; re-run with "
                              "--force-conflicts to take them over, or stop setting them in specc")
            return _error("K505", f"{what}: conflict: {message}")
        if status == 422:
            causes = _causes(payload)
            detail = "; ".join(causes) if causes else message
            return _error("K506", f"{what}: the API server rejected the object: {detail}")
        if status == 429 or status >= 500:
            return _error("K508", f"{what}: the API server kept failing ({status} {reason}){tries}: {message}")
        return _error("K500", f"{what}: {status} {reason}: {message}")

    # -- discovery -----------------------------------------------------------------------------------

    def version(self) -> tuple[int, int]:
        info = self.send(Request("GET", "/version", what="read the server version"))
        try:
            major = int(re.sub(r"\D", "", str(info.get("major", "1"))) or 1)
            minor = int(re.sub(r"\D", "", str(info.get("minor", "0"))) or 0)
        except (AttributeError, ValueError):
            return (1, 0)
        return major, minor

    def resources(self, api_version: str) -> dict[str, Resource] | None:
        """The kinds served under one API version, or None when the version is not served."""
        with self._discovery_lock:
            if api_version in self._discovery:
                return self._discovery[api_version]
        group, _, version = api_version.rpartition("/")
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        try:
            listing = self.send(Request("GET", path, what=f"discover {api_version}"))
        except ClusterError as error:
            if error.diagnostics and error.diagnostics[0].code == "K504":
                found: dict[str, Resource] | None = None
            else:
                raise
        else:
            found = {
                r["kind"]: Resource(group, version, r["kind"], r["name"], bool(r.get("namespaced")))
                for r in (listing or {}).get("resources", []) if "/" not in r["name"]
            }
        with self._discovery_lock:
            self._discovery[api_version] = found
        return found

    def resource(self, api_version: str, kind: str) -> Resource | None:
        served = self.resources(api_version)
        return None if served is None else served.get(kind)

    def preferred_versions(self, group: str) -> list[str]:
        """Every version the server serves for a group (preferred first), for finding old objects."""
        if not group:
            return ["v1"]
        try:
            info = self.send(Request("GET", f"/apis/{group}", what=f"discover {group}"))
        except ClusterError as error:
            if error.diagnostics and error.diagnostics[0].code == "K504":
                return []
            raise
        preferred = (info.get("preferredVersion") or {}).get("version")
        versions = [v["version"] for v in info.get("versions", [])]
        return sorted(versions, key=lambda v: v != preferred)

    # -- reading -------------------------------------------------------------------------------------

    def list(self, resource: Resource, namespace: str | None, *, label_selector: str | None = None
             ) -> list[dict[str, Any]]:
        """Every object of a kind matching a selector, following `continue` pages."""
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            query = [("limit", "500")]
            if label_selector:
                query.append(("labelSelector", label_selector))
            if token:
                query.append(("continue", token))
            page = self.send(Request("GET", resource.collection(namespace), tuple(query),
                                     what=f"list {resource.kind} in {namespace or 'the cluster'}"))
            for item in page.get("items") or []:
                item.setdefault("apiVersion", resource.api_version)
                item.setdefault("kind", resource.kind)
                items.append(item)
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items

    def get(self, resource: Resource, namespace: str | None, name: str) -> dict[str, Any] | None:
        try:
            obj = self.send(Request("GET", resource.item(namespace, name),
                                    what=f"read {resource.kind} {namespace}/{name}"))
        except ClusterError as error:
            if error.diagnostics and error.diagnostics[0].code == "K504":
                return None
            raise
        return dict(obj) if isinstance(obj, dict) else None

    # -- who we are talking to, and what we may do ------------------------------------------------------

    def cluster_uid(self) -> str | None:
        """The UID of the `kube-system` namespace, the de-facto cluster identity (kubernetes#77487);
        None when this user may not read it (403) or it does not exist."""
        try:
            namespace = self.send(Request("GET", "/api/v1/namespaces/kube-system",
                                          what="read namespace kube-system (the cluster's identity)"))
        except ClusterError as error:
            if error.diagnostics and error.diagnostics[0].code in ("K503", "K504"):
                return None
            raise
        uid = ((namespace or {}).get("metadata") or {}).get("uid") if isinstance(namespace, dict) else None
        return str(uid) if uid else None

    def allowed(self, checks: Sequence[Access], *, concurrency: int = 8) -> tuple[bool, ...]:
        """Ask a SelfSubjectAccessReview for each check, `concurrency` at a time; one answer per check."""
        def ask(check: Access) -> bool:
            attributes = {"verb": check.verb, "group": check.group, "resource": check.resource}
            if check.namespace:
                attributes["namespace"] = check.namespace
            review = self.send(Request(
                "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                body={"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                      "spec": {"resourceAttributes": attributes}},
                what=f"ask whether this user may {check}"))
            return bool(((review or {}).get("status") or {}).get("allowed")) if isinstance(review, dict) else False

        if not checks:
            return ()
        with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(checks)))) as pool:
            return tuple(pool.map(ask, checks))

    # -- writing -------------------------------------------------------------------------------------

    def apply(self, resource: Resource, obj: Mapping[str, Any], *, dry_run: bool = False,
              force: bool = False, field_manager: str = FIELD_MANAGER) -> dict[str, Any]:
        """Server-side apply (PATCH application/apply-patch+yaml; JSON is YAML) as `field_manager`."""
        meta = obj.get("metadata") or {}
        namespace, name = meta.get("namespace"), meta["name"]
        query = [("fieldManager", field_manager)]
        if force:
            query.append(("force", "true"))
        if dry_run:
            query.append(("dryRun", "All"))
        verb = "preview" if dry_run else "apply"
        result = self.send(Request("PATCH", resource.item(namespace, name), tuple(query), obj, APPLY_PATCH,
                                   what=f"{verb} {resource.kind} {namespace}/{name}"))
        return dict(result)

    def delete(self, resource: Resource, namespace: str | None, name: str, *,
               uid: str | None = None, propagation: str = "Foreground") -> bool:
        """Delete one object (foreground: dependents first). False when it was already gone. With
        `uid`, only that very object is deleted, never a same-named successor."""
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": propagation}
        if uid:
            body["preconditions"] = {"uid": uid}
        try:
            self.send(Request("DELETE", resource.item(namespace, name), body=body,
                              what=f"delete {resource.kind} {namespace}/{name}"))
        except ClusterError as error:
            if error.diagnostics and error.diagnostics[0].code == "K504":
                return False
            raise
        return True

    def create(self, resource: Resource, namespace: str | None, obj: Mapping[str, Any]) -> dict[str, Any]:
        name = (obj.get("metadata") or {}).get("name", "")
        return dict(self.send(Request("POST", resource.collection(namespace), body=dict(obj),
                                      what=f"create {resource.kind} {namespace}/{name}")))

    def replace(self, resource: Resource, namespace: str | None, obj: Mapping[str, Any]) -> dict[str, Any]:
        """PUT with the object's resourceVersion: a concurrent writer gets 409, not a silent overwrite."""
        name = obj["metadata"]["name"]
        return dict(self.send(Request("PUT", resource.item(namespace, name), body=dict(obj),
                                      what=f"update {resource.kind} {namespace}/{name}")))

    def patch_status(self, resource: Resource, namespace: str | None, name: str,
                     status: Mapping[str, Any]) -> dict[str, Any]:
        """Merge-patch the status subresource (what a controller does; tests drive readiness with it)."""
        return dict(self.send(Request("PATCH", resource.item(namespace, name) + "/status",
                                      body={"status": dict(status)}, content_type=MERGE_PATCH,
                                      what=f"update status of {resource.kind} {namespace}/{name}")))


def _status_message(payload: Any) -> str:
    if isinstance(payload, dict):
        return str(payload.get("message") or payload.get("reason") or "")
    return ""


def _causes(payload: Any) -> list[str]:
    details = payload.get("details") if isinstance(payload, dict) else None
    causes = (details or {}).get("causes") or []
    out = []
    for cause in causes:
        field_name, message = cause.get("field"), cause.get("message")
        out.append(f"{field_name}: {message}" if field_name else str(message))
    return out


DEFAULT_KUBECONFIG = "~/.kube/config"
_KUBECONFIG_LISTS = ("clusters", "contexts", "users")


def check_kubeconfig(kubeconfig: str | None) -> list[str]:
    """The kubeconfig files that will be read (`--kubeconfig`/KUBECONFIG may list several, separated
    by ':'; none when the default file is absent), each checked first so that a broken one gets a
    message naming it and what is wrong, not the client library's: missing, not a regular file
    (a FIFO would block), not YAML, or `clusters`/`contexts`/`users` that are not lists."""
    import os

    import yaml

    from specc.files import FileRefused, read_regular

    paths = [p for p in (kubeconfig or "").split(os.pathsep) if p] if kubeconfig else []
    if not paths:
        default = os.path.expanduser(DEFAULT_KUBECONFIG)
        if not os.path.exists(default):
            return []
        paths = [default]
    for path in paths:
        if not os.path.exists(path):
            raise _error("K510", f"kubeconfig {path} does not exist", hint="check KUBECONFIG / --kubeconfig")
        try:
            raw = read_regular(os.path.expanduser(path), 16 * 1024 * 1024, code="K510", follow=True)
        except FileRefused as refused:
            raise _error("K510", f"kubeconfig {refused.diagnostics[0].message}",
                         hint="check KUBECONFIG / --kubeconfig") from None
        try:
            data = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
            raise _error("K510", f"kubeconfig {path}{where} is not valid YAML",
                         hint="check KUBECONFIG / --kubeconfig") from None
        if data is None:
            raise _error("K510", f"kubeconfig {path} is empty", hint="check KUBECONFIG / --kubeconfig")
        if not isinstance(data, dict):
            raise _error("K510", f"kubeconfig {path} is not a kubeconfig (expected a mapping with clusters, "
                         "contexts and users)", hint="check KUBECONFIG / --kubeconfig")
        for key in _KUBECONFIG_LISTS:
            if data.get(key) is not None and not isinstance(data[key], list):
                raise _error("K510", f"kubeconfig {path}: '{key}' must be a list",
                             hint="check the file against `kubectl config view`")
            for entry in data.get(key) or []:
                if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                    raise _error("K510", f"kubeconfig {path}: every entry of '{key}' needs a name",
                                 hint="check the file against `kubectl config view`")
    return paths


def _current_context(paths: list[str]) -> str | None:
    """The current-context kubectl uses for KUBECONFIG=a:b: the first file that sets one wins
    (client-go tools/clientcmd/loader.go merges non-map values in reverse order), where the Python
    client (kubernetes 37, KubeConfigMerger) would take the last one: another cluster than kubectl's."""
    import os

    import yaml

    from specc.files import read_regular

    for path in paths:  # each already checked by check_kubeconfig: a regular file holding a mapping
        data = yaml.safe_load(read_regular(os.path.expanduser(path), 16 * 1024 * 1024, code="K510", follow=True))
        name = data.get("current-context") if isinstance(data, dict) else None
        if isinstance(name, str) and name:
            return name
    return None


def _error(code: str, message: str, hint: str | None = None) -> ClusterError:
    return ClusterError([Diagnostic(code, message, hint=hint, severity=Severity.ERROR)])
