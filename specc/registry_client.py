"""The one module that talks to model registries: JSON over HTTP(S) with the standard library.

Takes an `Endpoint` (base URI, credentials, TLS settings) and a timeout; `HttpJsonApi.get` returns
the registry's JSON answer as an `Answer`, or raises `RegistryFault` for what no plugin can interpret:
connection refused, DNS or TLS failures, a timeout, 401, 403, a redirect, an answer that is not a JSON
object. Credentials go only into the `Authorization` header: no message, repr or log names them, and
redirects are never followed (urllib would resend the header to wherever the server points).

Imported only when a spec has a registry reference (never by `validate`), so the fast commands do not
pay for `urllib.request` and `ssl`. Must not print, read spec files or decide what an answer means
(that is the plugin's job).
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from specc import __version__
from specc.registry_api import Answer, Endpoint, RegistryFault

MAX_ANSWER_BYTES = 8 * 1024 * 1024  # a model version's metadata is a few kB; refuse a runaway answer


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> urllib.request.Request | None:
        return None  # the 3xx answer surfaces as an HTTPError, handled below


class HttpJsonApi:
    """`JsonApi` over HTTP(S). One instance per endpoint; safe to use from one thread at a time."""

    def __init__(self, endpoint: Endpoint, timeout: float) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        handlers: list[urllib.request.BaseHandler] = [_NoRedirects()]
        if endpoint.base_uri.startswith("https:"):
            context = ssl.create_default_context(cafile=endpoint.ca_bundle)
            if not endpoint.verify_tls:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            handlers.append(urllib.request.HTTPSHandler(context=context))
        # build_opener keeps urllib's default ProxyHandler: HTTPS_PROXY/NO_PROXY are honoured, as
        # MLflow's own client (requests) honours them.
        self._opener = urllib.request.build_opener(*handlers)

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": f"specc/{__version__}"}
        credentials = self.endpoint.credentials
        if credentials is not None and credentials.kind == "basic":
            pair = f"{credentials.username}:{credentials.password}".encode()
            headers["Authorization"] = "Basic " + base64.standard_b64encode(pair).decode("ascii")
        elif credentials is not None and credentials.kind == "bearer":
            headers["Authorization"] = f"Bearer {credentials.token}"
        return headers

    def url(self, path: str, params: Mapping[str, str]) -> str:
        base = self.endpoint.base_uri.rstrip("/")
        query = urllib.parse.urlencode(sorted(params.items()))
        return f"{base}/{path.lstrip('/')}" + (f"?{query}" if query else "")

    def get(self, path: str, params: Mapping[str, str]) -> Answer:
        where = self.endpoint.base_uri
        request = urllib.request.Request(self.url(path, params), headers=self._headers(), method="GET")
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return _answer(response.status, response.headers.get("Content-Type", ""),
                               response.read(MAX_ANSWER_BYTES + 1), where)
        except urllib.error.HTTPError as error:
            with error:
                status = error.code
                if status == 401:
                    raise RegistryFault(
                        "unauthorized", f"the registry at {where} refused the request: 401 Unauthorized "
                        f"(specc sent {self.endpoint.credential_kind})",
                        "set MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, "
                        "to credentials the tracking server accepts") from None
                if status == 403:
                    raise RegistryFault(
                        "forbidden", f"the registry at {where} refused the request: 403 Forbidden (the "
                        f"credentials specc sent, {self.endpoint.credential_kind}, lack permission)",
                        "grant this user READ on the registered model") from None
                if 300 <= status < 400:
                    raise RegistryFault(
                        "bad-answer", f"the registry at {where} redirected the request ({status}); specc does "
                        "not follow redirects, so credentials are sent only where you point it",
                        "set the tracking URI to the server's final address") from None
                try:
                    body = error.read(MAX_ANSWER_BYTES + 1)
                except OSError:
                    body = b""
                return _answer(status, error.headers.get("Content-Type", "") if error.headers else "", body,
                               where)
        except urllib.error.URLError as error:
            raise _transport_fault(error.reason, where, self.timeout) from None
        except TimeoutError as error:
            raise _transport_fault(error, where, self.timeout) from None
        except (ConnectionError, ssl.SSLError, OSError) as error:
            raise _transport_fault(error, where, self.timeout) from None


def _transport_fault(reason: object, where: str, timeout: float) -> RegistryFault:
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return RegistryFault("timeout", f"the registry at {where} did not answer within {timeout:g}s",
                             "check that the tracking server is up, or raise --registry-timeout")
    if isinstance(reason, ConnectionRefusedError):
        return RegistryFault("unreachable", f"cannot reach the registry at {where}: connection refused",
                             "is the tracking server running, and is the tracking URI right?")
    if isinstance(reason, ssl.SSLCertVerificationError):
        return RegistryFault("unreachable", f"cannot reach the registry at {where}: its TLS certificate is not "
                             f"trusted ({reason.verify_message})",
                             "set MLFLOW_TRACKING_SERVER_CERT_PATH to the CA bundle that signed it")
    if isinstance(reason, socket.gaierror):
        return RegistryFault("unreachable", f"cannot reach the registry at {where}: the host name does not "
                             "resolve", "check the tracking URI")
    text = reason.strerror if isinstance(reason, OSError) and reason.strerror else str(reason)
    return RegistryFault("unreachable", f"cannot reach the registry at {where}: {text}",
                         "check the tracking URI and that the server is up")


def _answer(status: int, content_type: str, raw: bytes, where: str) -> Answer:
    if len(raw) > MAX_ANSWER_BYTES:
        raise RegistryFault("bad-answer", f"the registry at {where} sent more than {MAX_ANSWER_BYTES} bytes")
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        kind = content_type.split(";", maxsplit=1)[0].strip() or "no content type"
        raise RegistryFault(
            "bad-answer", f"the registry at {where} answered {status} with {kind}, not JSON",
            "is the tracking URI the tracking server's own address (not its UI, a proxy's login page or "
            "another service)?") from None
    if not isinstance(body, dict):
        raise RegistryFault("bad-answer", f"the registry at {where} answered {status} with JSON that is not "
                            "an object")
    return Answer(status, body)
