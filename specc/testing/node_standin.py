"""A node stand-in for a control plane without kubelets, modelled on KWOK (kubernetes-sigs/kwok).

Takes an apiserver URL and an admin token; `NodeStandIn.start()` registers one Node with capacity
(cpu, memory, pods, nvidia.com/gpu), keeps it Ready and runs a thread that plays kubelet and scheduler
for every pod in the cluster, as KWOK's stages do (read at kubernetes-sigs/kwok commit 37b7812,
`kustomize/stage/node/fast/node-initialize.yaml`, `kustomize/stage/node/heartbeat-with-lease/*.yaml`,
`kustomize/stage/pod/fast/pod-ready.yaml`, `kustomize/stage/pod/fast/pod-delete.yaml`):

- node heartbeat: the Node's Ready condition is True from its creation and its Lease in
  `kube-node-lease` is renewed every few seconds, so the node-lifecycle controller never marks it
  unreachable (it reads the Lease as the heartbeat);
- pod binding: a pod without `spec.nodeName` is bound to the node through the `binding` subresource;
- pod status: a bound pod gets what KWOK's `pod-ready` stage writes (phase Running, Initialized /
  ContainersReady / Ready conditions, a running and ready status per container, terminated-Completed
  init containers, podIP, hostIP, startTime), unless a fault (`fail()`) matches it: `image-pull-backoff`
  (Pending, containers waiting ImagePullBackOff), `crash-loop` (Running, containers waiting
  CrashLoopBackOff with restarts), `never-ready` (Running, containers running but not ready);
- pod deletion: a pod with a deletionTimestamp is deleted with grace period 0 (what the kubelet does
  once its containers are gone), so rollouts, prunes and namespace deletion complete.

Returns nothing but the effect on the cluster; `faults` and `stop()` are the test's handles. Must not
use specc.cluster or the `kubernetes` client (plain HTTP, like the control plane package) or touch
objects other than Nodes, Leases and Pods.
"""

from __future__ import annotations

import ipaddress
import threading
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from specc.testing.controlplane.api import ApiResponse, insecure_ssl_context, message, request

MODES = ("ready", "image-pull-backoff", "crash-loop", "never-ready")
DEFAULT_CAPACITY: Mapping[str, str] = {"cpu": "64", "memory": "512Gi", "pods": "250", "nvidia.com/gpu": "8",
                                       "ephemeral-storage": "1Ti"}
_LEASE_NAMESPACE = "kube-node-lease"
_MERGE = "application/merge-patch+json"


class NodeStandInError(RuntimeError):
    """The stand-in could not register its node, or its thread died; the message says why."""


@dataclass(frozen=True)
class Fault:
    """Pods matching every given `labels` item and/or whose name starts with `name_prefix` get `mode`."""

    mode: str
    labels: Mapping[str, str] = field(default_factory=dict)
    name_prefix: str | None = None
    namespace: str | None = None

    def matches(self, pod: Mapping[str, Any]) -> bool:
        meta = pod.get("metadata") or {}
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return False
        if self.name_prefix is not None and not str(meta.get("name", "")).startswith(self.name_prefix):
            return False
        have = meta.get("labels") or {}
        return all(have.get(key) == value for key, value in self.labels.items())


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class NodeStandIn:
    """One fake node and the thread that plays its kubelet. `start()` / `stop()`, or a `with` block."""

    def __init__(self, server: str, token: str, *, name: str = "specc-node-0",
                 capacity: Mapping[str, str] = DEFAULT_CAPACITY, interval: float = 0.2,
                 lease_renew: float = 5.0, namespaces: Iterable[str] | None = None) -> None:
        self.name = name
        self._server = server
        self._token = token
        self._capacity = dict(capacity)
        self._interval = interval
        self._lease_renew = lease_renew
        self._ssl = insecure_ssl_context()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._namespaces: set[str] | None = None if namespaces is None else set(namespaces)
        """None: schedule every pod; else only pods in these namespaces (see `serve_only`)."""
        self._written: dict[str, str] = {}
        """pod uid -> the mode whose status was last written for it."""
        self._ips: dict[str, str] = {}
        self._next_ip = int(ipaddress.IPv4Address("10.244.0.10"))
        self.node_ip = "10.0.0.10"
        self.bound = 0
        self.deleted = 0

    # -- test handles ------------------------------------------------------------------------------

    def fail(self, mode: str, *, labels: Mapping[str, str] | None = None, name_prefix: str | None = None,
             namespace: str | None = None) -> Fault:
        """Keep matching pods in `mode` (one of MODES but "ready") until `clear()` or `remove(fault)`."""
        if mode not in MODES or mode == "ready":
            raise ValueError(f"unknown fault mode {mode!r}: use one of {', '.join(MODES[1:])}")
        if not labels and name_prefix is None and namespace is None:
            raise ValueError("a fault needs labels, a name prefix or a namespace to match")
        fault = Fault(mode, dict(labels or {}), name_prefix, namespace)
        with self._lock:
            self._faults.append(fault)
        return fault

    def serve_only(self, *namespaces: str) -> None:
        """Bind and run only the pods of these namespaces (more with each call); other pods stay
        Pending, as on a cluster without a fitting node. Pods already bound are still finished when
        deleted. `clear()` resets it."""
        with self._lock:
            self._namespaces = (self._namespaces or set()) | set(namespaces)

    def remove(self, fault: Fault) -> None:
        with self._lock:
            self._faults = [f for f in self._faults if f is not fault]

    def clear(self, *, serve: Iterable[str] | None = None) -> None:
        """Drop every fault; serve every namespace again (`serve` None) or only `serve`."""
        with self._lock:
            self._faults = []
            self._namespaces = None if serve is None else set(serve)

    def check_alive(self) -> None:
        if self._error is not None:
            raise NodeStandInError(f"node stand-in {self.name} stopped: {self._error}") from self._error
        if self._thread is None or not self._thread.is_alive():
            raise NodeStandInError(f"node stand-in {self.name} is not running")

    # -- lifecycle ---------------------------------------------------------------------------------

    def __enter__(self) -> NodeStandIn:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self) -> NodeStandIn:
        self._register_node()
        self._renew_lease()
        self._thread = threading.Thread(target=self._run, name=f"node-standin-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread (the Node stays: its pods would otherwise be orphaned mid-test)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    # -- the kubelet's part ------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> ApiResponse:
        return request(self._server, self._token, method, path, body, content_type=content_type, timeout=15,
                       context=self._ssl)

    def _checked(self, response: ApiResponse, what: str, ok: tuple[int, ...] = (200, 201)) -> Any:
        if response.status not in ok:
            raise NodeStandInError(f"{what}: HTTP {response.status}: {message(response.body)}")
        return response.body

    def _node_status(self) -> dict[str, Any]:
        now = _now()
        conditions = [
            ("Ready", "True", "KubeletReady", "kubelet is posting ready status (specc node stand-in)"),
            ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            ("NetworkUnavailable", "False", "RouteCreated", "route created"),
        ]
        return {
            "capacity": self._capacity,
            "allocatable": self._capacity,
            "phase": "Running",
            "conditions": [{"type": kind, "status": status, "reason": reason, "message": text,
                            "lastHeartbeatTime": now, "lastTransitionTime": now}
                           for kind, status, reason, text in conditions],
            "addresses": [{"type": "InternalIP", "address": self.node_ip}, {"type": "Hostname", "address": self.name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux", "kubeletVersion": "v1.36.2",
                         "kubeProxyVersion": "", "containerRuntimeVersion": "specc-node-standin://1",
                         "osImage": "specc node stand-in", "kernelVersion": "", "machineID": "", "systemUUID": "",
                         "bootID": ""},
        }

    def _register_node(self) -> None:
        body = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": self.name, "labels": {"kubernetes.io/hostname": self.name,
                                                           "kubernetes.io/os": "linux",
                                                           "kubernetes.io/arch": "amd64",
                                                           "type": "specc-node-standin"}},
                "status": self._node_status()}
        self._checked(self._call("POST", "/api/v1/nodes", body), f"registering node {self.name}", (201, 409))
        # Status is written through its subresource as the kubelet does (a create may drop it).
        self._checked(self._call("PATCH", f"/api/v1/nodes/{self.name}/status", {"status": self._node_status()},
                                 _MERGE), f"writing node {self.name} status")

    def _renew_lease(self) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/{_LEASE_NAMESPACE}/leases"
        spec = {"holderIdentity": self.name, "leaseDurationSeconds": 40, "renewTime": _micro_now()}
        answer = self._call("PATCH", f"{path}/{self.name}", {"spec": spec}, _MERGE)
        if answer.status == 404:
            lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                     "metadata": {"name": self.name, "namespace": _LEASE_NAMESPACE}, "spec": spec}
            # kube-node-lease is created by the apiserver's system-namespaces controller shortly after
            # start; until then the create fails and the next renewal tries again.
            answer = self._call("POST", path, lease)
            if answer.status == 404:
                return
        self._checked(answer, f"renewing lease {self.name}", (200, 201, 409))

    def _run(self) -> None:
        next_renew = time.monotonic() + self._lease_renew
        try:
            while not self._stop.is_set():
                self._sync_pods()
                if time.monotonic() >= next_renew:
                    self._renew_lease()
                    next_renew = time.monotonic() + self._lease_renew
                self._stop.wait(self._interval)
        except BaseException as error:  # reported through check_alive(), never swallowed
            self._error = error

    def _sync_pods(self) -> None:
        listing = self._call("GET", "/api/v1/pods")
        if listing.status != 200:
            return  # the apiserver is busy or stopping: the next round tries again
        with self._lock:
            faults = list(self._faults)
            namespaces = None if self._namespaces is None else set(self._namespaces)
        seen: set[str] = set()
        for pod in (listing.body or {}).get("items") or []:
            meta = pod.get("metadata") or {}
            uid = str(meta.get("uid"))
            seen.add(uid)
            node = (pod.get("spec") or {}).get("nodeName")
            if node not in (None, self.name):
                continue
            base = f"/api/v1/namespaces/{meta['namespace']}/pods/{urllib.parse.quote(meta['name'])}"
            if meta.get("deletionTimestamp"):
                if node is not None:  # an unbound pod is deleted by the apiserver at once
                    self._delete(base, uid)
            elif namespaces is not None and meta.get("namespace") not in namespaces:
                continue
            elif node is None:
                self._bind(base, meta)
            else:
                mode = next((f.mode for f in faults if f.matches(pod)), "ready")
                if self._written.get(uid) != mode:
                    self._write_status(base, pod, mode)
        # Forget pods that are gone, so the maps do not grow over a session.
        for uid in set(self._written) - seen:
            del self._written[uid]
        for uid in set(self._ips) - seen:
            del self._ips[uid]

    def _delete(self, base: str, uid: str) -> None:
        # What the kubelet does once the containers are stopped: the final delete with grace 0.
        answer = self._call("DELETE", base, {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                                             "preconditions": {"uid": uid}})
        if answer.status in (200, 202):
            self.deleted += 1

    def _bind(self, base: str, meta: Mapping[str, Any]) -> None:
        binding = {"apiVersion": "v1", "kind": "Binding",
                   "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta.get("uid")},
                   "target": {"apiVersion": "v1", "kind": "Node", "name": self.name}}
        answer = self._call("POST", f"{base}/binding", binding)
        if answer.status == 201:
            self.bound += 1

    def _pod_ip(self, uid: str) -> str:
        if uid not in self._ips:
            self._ips[uid] = str(ipaddress.IPv4Address(self._next_ip))
            self._next_ip += 1
        return self._ips[uid]

    def _write_status(self, base: str, pod: Mapping[str, Any], mode: str) -> None:
        uid = str((pod.get("metadata") or {}).get("uid"))
        status = pod_status(pod, mode, self._pod_ip(uid), self.node_ip)
        answer = self._call("PATCH", f"{base}/status", {"status": status}, _MERGE)
        if answer.status == 200:
            self._written[uid] = mode


def pod_status(pod: Mapping[str, Any], mode: str, pod_ip: str, host_ip: str) -> dict[str, Any]:
    """The status a kubelet would report for `pod` in `mode` (KWOK's pod-ready stage for "ready")."""
    now = _now()
    spec = pod.get("spec") or {}
    ready = mode == "ready"
    running = mode in ("ready", "never-ready")

    def condition(kind: str, status: bool, reason: str | None = None) -> dict[str, Any]:
        entry: dict[str, Any] = {"type": kind, "status": "True" if status else "False", "lastTransitionTime": now}
        if reason and not status:
            entry["reason"] = reason
        return entry

    containers = []
    for container in spec.get("containers") or []:
        image = container.get("image", "")
        state: dict[str, Any]
        extra: dict[str, Any] = {}
        if mode == "image-pull-backoff":
            state = {"waiting": {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{image}"'}}
        elif mode == "crash-loop":
            state = {"waiting": {"reason": "CrashLoopBackOff",
                                 "message": f"back-off 40s restarting failed container={container.get('name')}"}}
            extra = {"restartCount": 3, "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                                                                     "startedAt": now, "finishedAt": now}}}
        else:
            state = {"running": {"startedAt": now}}
        containers.append({"name": container.get("name"), "image": image, "imageID": f"{image}@sha256:{'0' * 64}",
                           "containerID": f"specc://{container.get('name')}", "ready": ready, "started": running,
                           "restartCount": 0, "state": state, **extra})
    init_statuses = [{"name": init.get("name"), "image": init.get("image", ""), "ready": True, "restartCount": 0,
                      "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now,
                                               "finishedAt": now}}}
                     for init in spec.get("initContainers") or []]
    reason = None if ready else "ContainersNotReady"
    conditions = [condition("PodScheduled", True), condition("Initialized", True),
                  condition("ContainersReady", ready, reason), condition("Ready", ready, reason)]
    conditions += [condition(gate["conditionType"], ready) for gate in spec.get("readinessGates") or []
                   if gate.get("conditionType")]
    status: dict[str, Any] = {
        "phase": "Running" if running or mode == "crash-loop" else "Pending",
        "conditions": conditions,
        "containerStatuses": containers,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": now,
    }
    if init_statuses:
        status["initContainerStatuses"] = init_statuses
    return status
