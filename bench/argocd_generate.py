"""What the Argo CD plugin costs on every refresh: the plugin's `generate` command
(`specc render --argocd serving.yaml`) run as the CMP server runs it (a new process, working
directory = the application's path, Argo CD's variables in the environment), per example, and the
same render in-process (the part that is specc's work rather than interpreter start-up).

Prints the figures; asserts nothing (speed is measured here, never in tests). Run:

    python bench/argocd_generate.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

from specc.argocd import settings_from_environment
from specc.manifest_yaml import dump_all
from specc.pipeline import compile_file

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = yaml.safe_load((ROOT / "integrations" / "argocd" / "plugin.yaml").read_text(encoding="utf-8"))
# A destination as Argo CD describes it: 1.30, serving every kind the examples use.
KINDS = ["v1/Service", "v1/ServiceAccount", "v1/ConfigMap", "v1/Secret", "apps/v1/Deployment",
         "autoscaling/v2/HorizontalPodAutoscaler",
         "policy/v1/PodDisruptionBudget", "networking.k8s.io/v1/Ingress", "serving.kserve.io/v1beta1/InferenceService",
         "machinelearning.seldon.io/v1/SeldonDeployment", "mlops.seldon.io/v1alpha1/Model",
         "mlops.seldon.io/v1alpha1/Experiment", "serving.yatai.ai/v2alpha1/BentoDeployment",
         "resources.yatai.ai/v1alpha1/Bento"]
API_VERSIONS = sorted({k.rsplit("/", 1)[0] for k in KINDS} | set(KINDS))
ENV = {"KUBE_VERSION": "1.30", "KUBE_API_VERSIONS": ",".join(API_VERSIONS), "ARGOCD_APP_NAMESPACE": "ml-prod",
       "ARGOCD_APP_NAME": "bench", "ARGOCD_APP_PARAMETERS": "null"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    command = [*PLUGIN["spec"]["generate"]["command"], *PLUGIN["spec"]["generate"].get("args", [])]
    env = {**os.environ, **ENV, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    settings = settings_from_environment(ENV)
    print(f"{'example':<24} {'objects':>7} {'generate (process)':>19} {'render (in-process)':>20}")
    for spec in sorted((ROOT / "examples").glob("*/serving.yaml")):
        process_times, inprocess_times, outputs = [], [], set()
        for _ in range(args.repeat):
            start = time.perf_counter()
            done = subprocess.run(command, cwd=spec.parent, env=env, capture_output=True, text=True, check=False)
            process_times.append(time.perf_counter() - start)
            outputs.add(done.stdout)
            if done.returncode != 0:
                print(f"{spec.parent.name}: generate failed: {done.stderr.strip()}")
                break
            start = time.perf_counter()
            compiled = compile_file(str(spec), kube_version=settings.kube_version, namespace=settings.namespace,
                                    api_versions=settings.api_versions)
            dump_all(o.body for o in compiled.desired)
            inprocess_times.append(time.perf_counter() - start)
        else:
            objects = sum(1 for d in yaml.safe_load_all(outputs.pop()) if d)
            stable = "" if not outputs else "  (output differed between runs!)"
            print(f"{spec.parent.name:<24} {objects:>7} {statistics.median(process_times) * 1000:>16.0f} ms"
                  f" {statistics.median(inprocess_times) * 1000:>17.1f} ms{stable}")


if __name__ == "__main__":
    main()
