"""The apply lock: one coordination.k8s.io/v1 Lease per spec in its namespace.

Takes a `Cluster`, the spec name and namespace; `acquire()` takes the lock (waiting up to a timeout
for another holder), a background thread renews it while the apply runs, `release()` deletes it.
A holder that dies stops renewing, and after `lease_seconds` the lease is expired and the next run
takes it over; `force_unlock` removes a lock whose holder id the user names (Terraform's
`force-unlock`). Acquisition and takeover are compare-and-swap on `resourceVersion`, so two runs
racing for the same lease cannot both win.

Like every Lease-based lock this is not fencing: a holder that is paused longer than the lease could
wake up and write. Writes check `ensure_held()` first, which stops an apply whose renewals failed.
Must not print.
"""

from __future__ import annotations

import getpass
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from specc.cluster import Cluster, Resource
from specc.diagnostics import ApplyError, ClusterError, Diagnostic, LockHeld

LEASE = Resource("coordination.k8s.io", "v1", "Lease", "leases", True)
INFO_ANNOTATION = "specc.dev/lock-info"


def lease_name(spec_name: str) -> str:
    return f"specc-lock-{spec_name}"


def new_holder_id() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _now() -> datetime:
    return datetime.now(UTC)


def _micro_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        try:
            return datetime.strptime(value.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S%z")
        except ValueError:
            return None


@dataclass(frozen=True)
class LockInfo:
    holder: str
    acquired: str | None
    renewed: str | None
    expired: bool


def _info(lease: dict[str, Any]) -> LockInfo | None:
    spec = lease.get("spec") or {}
    holder = spec.get("holderIdentity")
    if not holder:
        return None
    renewed = _parse_time(spec.get("renewTime") or spec.get("acquireTime"))
    duration = int(spec.get("leaseDurationSeconds") or 0)
    expired = renewed is not None and duration > 0 and (_now() - renewed).total_seconds() > duration
    return LockInfo(holder, spec.get("acquireTime"), spec.get("renewTime"), expired)


class Lock:
    def __init__(self, cluster: Cluster, namespace: str, spec_name: str, *, operation: str = "apply",
                 lease_seconds: int = 60, renew_seconds: float = 15.0, poll_seconds: float = 1.0) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.name = lease_name(spec_name)
        self.holder = new_holder_id()
        self.operation = operation
        self.lease_seconds = lease_seconds
        self.renew_seconds = renew_seconds
        self.poll_seconds = poll_seconds
        self._lease: dict[str, Any] | None = None
        self._state = threading.Lock()
        self._lost: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- taking and giving back ------------------------------------------------------------------------

    def acquire(self, timeout: float = 0.0) -> None:
        """Take the lock, waiting up to `timeout` seconds for another holder; `LockHeld` if it stays held."""
        deadline = time.monotonic() + timeout
        while True:
            current = self.cluster.get(LEASE, self.namespace, self.name)
            info = _info(current) if current is not None else None
            if info is None or info.expired:
                write = self.cluster.create if current is None else self.cluster.replace
                if self._try(write, self._lease_body(current)):
                    break
                continue  # another run won the race: look again at once
            if time.monotonic() >= deadline:
                since = info.acquired or "an unknown time"
                raise LockHeld([Diagnostic(
                    "A701", f"the lock {self.namespace}/{self.name} is held by {info.holder} since {since}",
                    hint=f"wait (--lock-timeout), or if that run is gone: specc force-unlock FILE {info.holder}")])
            time.sleep(self.poll_seconds)
        self._thread = threading.Thread(target=self._renew_loop, name="specc-lock-renew", daemon=True)
        self._thread.start()

    def _try(self, write: Any, body: dict[str, Any]) -> bool:
        try:
            lease = write(LEASE, self.namespace, body)
        except ClusterError as error:
            if error.diagnostics and error.diagnostics[0].code == "K505":
                return False  # someone else won the compare-and-swap
            raise
        with self._state:
            self._lease = lease
        return True

    def _lease_body(self, current: dict[str, Any] | None) -> dict[str, Any]:
        now = _micro_time(_now())
        metadata: dict[str, Any] = {
            "name": self.name, "namespace": self.namespace,
            "labels": {"app.kubernetes.io/managed-by": "specc"},
            "annotations": {INFO_ANNOTATION: f"operation={self.operation}"},
        }
        transitions = 0
        if current is not None:
            metadata["resourceVersion"] = current["metadata"]["resourceVersion"]
            transitions = int((current.get("spec") or {}).get("leaseTransitions") or 0) + 1
        return {
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata,
            "spec": {"holderIdentity": self.holder, "leaseDurationSeconds": self.lease_seconds,
                     "acquireTime": now, "renewTime": now, "leaseTransitions": transitions},
        }

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.renew_seconds):
            try:
                self.renew()
            except Exception as error:  # the apply thread learns it through ensure_held()
                with self._state:
                    self._lost = str(error)
                return

    def renew(self) -> None:
        with self._state:
            lease = self._lease
        if lease is None:
            return
        body = dict(lease)
        body["spec"] = {**lease["spec"], "renewTime": _micro_time(_now())}
        renewed = self.cluster.replace(LEASE, self.namespace, body)
        with self._state:
            self._lease = renewed

    def ensure_held(self) -> None:
        """Raise before a write if renewing the lock failed: another run may own the set now."""
        with self._state:
            lost = self._lost
        if lost is not None:
            raise ApplyError([Diagnostic("A702", f"lost the lock {self.namespace}/{self.name} while applying: "
                                         f"{lost}", hint="nothing more was written; run apply again")])

    def release(self) -> None:
        """Stop renewing and delete the lease (only if it is still ours)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._state:
            lease = self._lease
            self._lease = None
        if lease is None:
            return
        try:
            current = self.cluster.get(LEASE, self.namespace, self.name)
            if current and (current.get("spec") or {}).get("holderIdentity") == self.holder:
                self.cluster.delete(LEASE, self.namespace, self.name, uid=current["metadata"].get("uid"),
                                    propagation="Background")
        except ClusterError:
            pass  # the lease expires on its own; releasing is a courtesy

    def __enter__(self) -> Lock:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


def force_unlock(cluster: Cluster, namespace: str, spec_name: str, lock_id: str) -> LockInfo:
    """Delete the lock if `lock_id` names its holder; refuse otherwise (exit 3)."""
    current = cluster.get(LEASE, namespace, lease_name(spec_name))
    info = _info(current) if current else None
    if info is None or current is None:
        raise LockHeld([Diagnostic("A703", f"there is no lock on {namespace}/{spec_name} to remove")])
    if info.holder != lock_id:
        raise LockHeld([Diagnostic("A704", f"the lock is held by {info.holder}, not by {lock_id}",
                                   hint="pass the holder id exactly as the error that reported the lock shows it")])
    cluster.delete(LEASE, namespace, lease_name(spec_name), uid=current["metadata"].get("uid"),
                   propagation="Background")
    return info
