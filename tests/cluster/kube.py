"""Helpers for the tests that run against the real controllers: waiting on live objects, events, pods.

Plain reads through the control plane's own HTTP client (not specc.cluster), so that what a test
asserts about the cluster does not depend on the module under test.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from specc.testing.controlplane import ControlPlane


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 60.0, interval: float = 0.25) -> Any:
    """`probe()`'s first truthy value; fails the test naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def items(plane: ControlPlane, path: str) -> list[dict[str, Any]]:
    answer = plane.request("GET", path)
    assert answer.status == 200, f"GET {path}: {answer.status} {answer.body}"
    return list(answer.body.get("items") or [])


def get(plane: ControlPlane, path: str) -> dict[str, Any] | None:
    answer = plane.request("GET", path)
    if answer.status == 404:
        return None
    assert answer.status == 200, f"GET {path}: {answer.status} {answer.body}"
    return dict(answer.body)


def events(plane: ControlPlane, namespace: str, reason: str) -> list[dict[str, Any]]:
    return [e for e in items(plane, f"/api/v1/namespaces/{namespace}/events") if e.get("reason") == reason]


def pods(plane: ControlPlane, namespace: str) -> list[dict[str, Any]]:
    return items(plane, f"/api/v1/namespaces/{namespace}/pods")


def pod_ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def deployment_available(plane: ControlPlane, namespace: str, name: str) -> bool:
    live = get(plane, f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}")
    return bool(live and (live.get("status") or {}).get("availableReplicas", 0) >= 1)


def pod_specs(objects: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The pod specs of workload objects (Deployments and the like)."""
    for obj in objects:
        template = ((obj.get("spec") or {}).get("template") or {}).get("spec")
        if isinstance(template, dict):
            yield template


def referenced(pod_spec: dict[str, Any]) -> tuple[set[str], set[str]]:
    """(service accounts, secrets) a pod spec needs to exist before its pods can be admitted and run."""
    accounts = {pod_spec["serviceAccountName"]} if pod_spec.get("serviceAccountName") else set()
    secrets: set[str] = set()
    for container in [*(pod_spec.get("initContainers") or []), *(pod_spec.get("containers") or [])]:
        for env in container.get("env") or []:
            ref = ((env.get("valueFrom") or {}).get("secretKeyRef") or {}).get("name")
            if ref:
                secrets.add(ref)
        for source in container.get("envFrom") or []:
            ref = (source.get("secretRef") or {}).get("name")
            if ref:
                secrets.add(ref)
    for volume in pod_spec.get("volumes") or []:
        ref = (volume.get("secret") or {}).get("secretName")
        if ref:
            secrets.add(ref)
    return accounts, secrets


def create(plane: ControlPlane, path: str, body: dict[str, Any]) -> None:
    answer = plane.request("POST", path, body)
    assert answer.status in (201, 409), f"POST {path}: {answer.status} {answer.body}"
