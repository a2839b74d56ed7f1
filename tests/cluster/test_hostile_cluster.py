"""Cluster paths of issue 14 against the real kube-apiserver: `--request-timeout` bounds a server that
accepts and never answers (through the fault proxy), Ctrl-C during a delete wait stops at once, and a
saved plan's options cannot redirect it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from specc import apply as applying
from specc.apply import ApplyOptions
from specc.cluster import Cluster
from specc.objects import ObjectKey
from specc.plan import Action, Change, LiveState, Plan
from specc.targets import PARENT, ClusterRead
from specc.testing.controlplane import ControlPlane

from ..conftest import CASES, ROOT
from .faultproxy import Fault, fault_proxy, kubeconfig_via

SPEC = CASES / "cli" / "serving.yaml"


def run_specc(args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "SPECC_DEBUG")}
    env.update(PYTHONPATH=str(ROOT), PYTHONIOENCODING="utf-8")
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "specc", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env=env, stdin=subprocess.DEVNULL, check=False)
    return done, time.monotonic() - started


def test_request_timeout_bounds_a_server_that_never_answers(control_plane: ControlPlane, tmp_path: Path) -> None:
    with fault_proxy(control_plane.server) as proxy:
        proxy.faults.append(Fault(path="/", times=1000, hang_seconds=20))
        kubeconfig = kubeconfig_via(control_plane.kubeconfig, proxy.url, tmp_path)
        done, took = run_specc(["plan", str(SPEC), "--kubeconfig", str(kubeconfig), "--request-timeout", "1"],
                               tmp_path)
    assert done.returncode == 1, done.stderr
    assert "[K509]" in done.stderr and "timed out" in done.stderr
    assert "Traceback" not in done.stderr
    # The server would hang for 20 s per request and retries used to add up to ~41 s: the call gives up
    # after its 1 s budget (the rest is interpreter start-up).
    assert took < 12, took


def test_ctrl_c_during_a_delete_wait_stops_the_wait(cluster: Cluster, namespace: str) -> None:
    # A ConfigMap held by a finalizer no controller removes: a replace deletes it and then waits for it
    # to be gone, which never happens.
    held = {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "held", "namespace": namespace, "finalizers": ["specc.dev/test-hold"]},
            "data": {"k": "v"}}
    live = cluster.apply(PARENT, held)
    key = ObjectKey("", "ConfigMap", namespace, "held")
    change = Change(key, "m", "kubernetes", Action.REPLACE, "v1", live_uid=live["metadata"]["uid"])
    body = {**held, "metadata": {"name": "held", "namespace": namespace}}
    plan = Plan(spec_name="s", namespace=namespace, applyset_id="x", target="t", changes=(change,),
                desired={key: body})
    read = ClusterRead(LiveState({}), {"ConfigMap": PARENT}, None, True)
    threads_before = threading.active_count()
    # A real SIGINT, as Ctrl-C sends (interrupt_main would not wake a thread blocked on a lock).
    timer = threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGINT))
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            applying._run(1, [change], lambda c: applying._upsert(cluster, plan, read, c, ApplyOptions()))
        interrupted = time.monotonic() - started
        deadline = time.monotonic() + 5
        while threading.active_count() > threads_before and time.monotonic() < deadline:
            time.sleep(0.1)
        assert threading.active_count() <= threads_before, "the delete wait kept running"
    finally:
        timer.cancel()
        applying._CANCELLED.clear()
        fresh = cluster.get(PARENT, namespace, "held")
        if fresh is not None:
            fresh["metadata"]["finalizers"] = []
            cluster.apply(PARENT, {"apiVersion": "v1", "kind": "ConfigMap",
                                   "metadata": {"name": "held", "namespace": namespace, "finalizers": []}})
    # Before, the wait ran to its 120 s delete timeout; now it stops within one poll.
    assert interrupted < 10, interrupted
