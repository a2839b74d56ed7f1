"""`specc apply` as a user sees it while it waits for readiness, on the suite's Kubernetes 1.36 with
its controllers: on a terminal (a pseudo-terminal) a live per-model block redrawn in place; with `CI`
set, or piped, plain lines and no control sequences; NO_COLOR removes colour but not the live view.

The rollouts are real: the Deployment controller creates the pods and the node stand-in (`node`
fixture) runs them, holding each model's pods not ready for a few seconds (its `never-ready` fault)
before letting them become Ready, so every wait lasts long enough to watch.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from specc.testing.node_standin import NodeStandIn

from ..ptyrun import run_in_pty

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "tests" / "cluster" / "specs" / "two-models.yaml"
SGR = re.compile(r"\x1b\[[0-9;]*m")


class SlowRollout:
    """Holds each model's pods not ready, then lets them go `delay` seconds apart (called repeatedly
    while specc runs)."""

    def __init__(self, node: NodeStandIn, namespace: str, delay: float) -> None:
        self.start = time.monotonic()
        self.delay = delay
        self.faults = {name: node.fail("never-ready", name_prefix=name, namespace=namespace)
                       for name in ("recommender", "forecaster")}
        self.node = node

    def __call__(self) -> None:
        elapsed = time.monotonic() - self.start
        for index, name in enumerate(("recommender", "forecaster")):
            fault = self.faults.get(name)
            if fault is not None and elapsed >= self.delay * (index + 1):
                self.node.remove(fault)
                del self.faults[name]


def environment(kubeconfig: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "NO_COLOR", "TERM", "SPECC_DEBUG")}
    return {**env, "TERM": "xterm-256color", "KUBECONFIG": str(kubeconfig), "PYTHONIOENCODING": "utf-8", **extra}


def command(namespace: str) -> list[str]:
    # The control plane's kubeconfig has two contexts: apply refuses to guess (K521), so name it.
    return [sys.executable, "-m", "specc", "apply", str(SPEC), "--namespace", namespace, "--auto-approve",
            "--context", "admin", "--timeout", "90"]


def test_live_view_on_a_terminal(node: NodeStandIn, namespace: str, kubeconfig: Path) -> None:
    output = run_in_pty(command(namespace), cwd=ROOT, env=environment(kubeconfig), timeout=120,
                        while_running=SlowRollout(node, namespace, delay=4.0))
    assert "Apply complete" in output, output
    assert "\x1b[2K" in output and re.search(r"\x1b\[\d+F", output)  # the block is redrawn in place
    rows = [SGR.sub("", line) for line in output.split("\x1b[2K")]
    waiting = [r for r in rows if " waiting " in r]
    assert any("recommender" in r for r in waiting) and any("forecaster" in r for r in waiting)
    # Between events the clock moves: several distinct elapsed times while a model waited.
    seconds = {m.group(1) for r in waiting if "recommender" in r for m in [re.search(r"(\d+)s ", r)] if m}
    assert len(seconds) >= 2, waiting
    final = [r for r in rows if " ready " in r]
    assert any("recommender" in r for r in final) and any("forecaster" in r for r in final)
    assert SGR.search(output)  # colour on a terminal


def test_no_color_keeps_the_live_view_without_colour(node: NodeStandIn, namespace: str, kubeconfig: Path) -> None:
    output = run_in_pty(command(namespace), cwd=ROOT, env=environment(kubeconfig, NO_COLOR="1"), timeout=120,
                        while_running=SlowRollout(node, namespace, delay=1.0))
    assert "Apply complete" in output, output
    assert "\x1b[2K" in output and not SGR.search(output)


def test_plain_lines_under_ci(node: NodeStandIn, namespace: str, kubeconfig: Path) -> None:
    output = run_in_pty(command(namespace), cwd=ROOT, env=environment(kubeconfig, CI="true"), timeout=120,
                        while_running=SlowRollout(node, namespace, delay=1.0))
    assert "Apply complete" in output, output
    assert "\x1b[2K" not in output and not re.search(r"\x1b\[\d+F", output)
    assert "  … recommender: Deployment/recommender" in output
    assert "  ✓ forecaster: Deployment/forecaster" in output


def test_plain_lines_in_a_pipe(node: NodeStandIn, namespace: str, kubeconfig: Path) -> None:
    # No terminal at all: plain lines, no escape sequences of any kind.
    controller = SlowRollout(node, namespace, delay=0.5)
    process = subprocess.Popen(command(namespace), cwd=ROOT, env=environment(kubeconfig), text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        controller()
        time.sleep(0.2)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "\x1b" not in out + err
    assert "  ✓ recommender: Deployment/recommender" in err
