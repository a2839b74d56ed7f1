"""Plain HTTP calls to a kube-apiserver (urllib, bearer token), for the control plane and the node stand-in.

Takes a server URL and a token; returns `ApiResponse` (status and decoded JSON). HTTP errors are
returned, not raised. Must not use the `kubernetes` Python client or specc.cluster: the fixtures speak
plain HTTP so that a bug in specc's own cluster module cannot hide behind them.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any, NamedTuple


class ApiResponse(NamedTuple):
    status: int
    body: Any
    """Decoded JSON; the raw text when the body is not JSON; None when it is empty."""


def insecure_ssl_context() -> ssl.SSLContext:
    # The apiserver serves a self-signed certificate it generates at start-up into --cert-dir.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def decode(raw: bytes) -> Any:
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def message(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("message") or body)
    return str(body)[:2000]


def request(server: str, token: str, method: str, path: str, body: Any = None, *,
            content_type: str = "application/json", timeout: float = 30.0,
            context: ssl.SSLContext | None = None) -> ApiResponse:
    """One HTTP call. `body`: bytes/str are sent as they are (with `content_type`), anything else as JSON."""
    data: bytes | None
    if body is None:
        data = None
    elif isinstance(body, bytes):
        data = body
    elif isinstance(body, str):
        data = body.encode()
    else:
        data = json.dumps(body).encode()
    call = urllib.request.Request(f"{server}{path}", data=data, method=method)
    call.add_header("Authorization", f"Bearer {token}")
    call.add_header("Accept", "application/json")
    if data is not None:
        call.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(call, timeout=timeout, context=context or insecure_ssl_context()) as answer:
            return ApiResponse(answer.status, decode(answer.read()))
    except urllib.error.HTTPError as error:
        return ApiResponse(error.code, decode(error.read()))
