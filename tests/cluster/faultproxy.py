"""A small HTTP proxy in front of the real API server that injects faults: 429 with Retry-After,
5xx, and requests that never get an answer. Everything else is forwarded unchanged, so the client
under test talks to a real server through it.
"""

from __future__ import annotations

import http.client
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import yaml


@dataclass
class Fault:
    """Answer the next `times` requests whose path contains `path` with `status` (or hang)."""

    path: str
    times: int
    unless: str | None = None  # requests whose path contains this pass through
    status: int = 503
    retry_after: str | None = None
    hang_seconds: float = 0.0
    body: str = ('{"kind":"Status","apiVersion":"v1","status":"Failure","message":"injected",'
                 '"reason":"ServiceUnavailable"}')


@dataclass
class FaultProxy:
    upstream: str
    faults: list[Fault] = field(default_factory=list)
    seen: list[tuple[str, str, int]] = field(default_factory=list)  # (method, path, status)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def take(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.path in path and fault.times > 0 and not (fault.unless and fault.unless in path):
                    fault.times -= 1
                    return fault
        return None


def kubeconfig_via(kubeconfig: Path, url: str, directory: Path) -> Path:
    """A copy of `kubeconfig` whose clusters are reached at `url` (the proxy), same credentials."""
    config = yaml.safe_load(kubeconfig.read_text())
    for entry in config["clusters"]:
        entry["cluster"] = {"server": url}
    path = directory / f"kubeconfig-via-{urlsplit(url).port}"
    path.write_text(yaml.safe_dump(config))
    return path


@contextmanager
def fault_proxy(upstream: str) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream)
    target = urlsplit(upstream)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: object) -> None:
            return

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            fault = proxy.take(self.path)
            if fault is not None:
                if fault.hang_seconds:
                    time.sleep(fault.hang_seconds)
                    with proxy.lock:
                        proxy.seen.append((self.command, self.path, 0))
                    self.close_connection = True
                    return
                payload = fault.body.encode()
                self.send_response(fault.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                if fault.retry_after:
                    self.send_header("Retry-After", fault.retry_after)
                self.end_headers()
                self.wfile.write(payload)
                with proxy.lock:
                    proxy.seen.append((self.command, self.path, fault.status))
                return
            connection = http.client.HTTPSConnection(target.hostname, target.port, context=context, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            connection.close()
            with proxy.lock:
                proxy.seen.append((self.command, self.path, response.status))

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815 - http.server's names

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
