"""How long `specc validate` takes, end to end, on a realistic 10-model spec (the target is < 0.3 s).

Writes the spec into a temporary directory, then times whole processes (wall clock, as a user or a
CI job waits for them), N runs each after one warm-up run (which also writes bytecode caches), and
prints the median and minimum:

- `python -c pass`: the interpreter's own start-up, the floor nothing can go below;
- `python -c "import specc.cli"`: start-up plus the command line module;
- `specc validate serving.yaml`: the real command, through its console script.

Wall time is the requirement; CPU time (user + system of the process) is printed beside it because
on a shared machine other work inflates wall time but not CPU time, so a large gap between the two
means the figures were taken on a busy machine and should be measured again.

Usage: `python bench/validate.py [--runs N]`. A measurement, not a test: it asserts nothing and its
numbers depend on the machine; it reports whether the target was met.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 0.3  # seconds, for `specc validate` of a 10-model spec

FORMATS = [
    ("sklearn", "s3://models/{name}/3"),
    ("xgboost", "gs://acme-models/{name}/12"),
    ("lightgbm", "s3://models/{name}/5"),
    ("mlflow", "s3://mlflow-artifacts/{name}/artifacts/model"),
    ("tensorflow", "gs://acme-models/{name}/saved_model"),
    ("pytorch", "s3://models/{name}/mar"),
    ("onnx", "pvc://model-store/{name}/1"),
    ("triton", "s3://models/{name}/repository"),
    ("custom", None),
    ("bento", None),
]


def spec_text(models: int = 10) -> str:
    """A spec as a team would write it: defaults, anchors, canaries, ingresses, provenance."""
    lines = [
        "# yaml-language-server: $schema=../schemas/serving.schema.json",
        "apiVersion: specc.dev/v1alpha1",
        "kind: ServingSpec",
        "metadata:",
        "  name: bench",
        "  namespace: ml-prod",
        "backend: kubernetes",
        "defaults:",
        "  resources: {cpu: 500m, memory: 1Gi}",
        "  replicas: {min: 2, max: 6}",
        "  autoscaling: {metric: cpu, target: 70}",
        "  env: {LOG_LEVEL: info}",
        "  serviceAccount: models-sa",
        "  monitoring: {metrics: true}",
        "models:",
    ]
    for index in range(models):
        model_format, storage = FORMATS[index % len(FORMATS)]
        name = f"{model_format}-model-{index}"
        lines += [f"  - name: {name}", f"    format: {model_format}"]
        if storage is None:
            lines += [f"    image: registry.example.com/team/{name}:1.{index}.0"]
        else:
            lines += [f"    storageUri: {storage.format(name=name)}"]
            if index % 3 == 0:
                lines += ["    canary:", f"      storageUri: {storage.format(name=name)}-next",
                          "      traffic: 10",
                          f"    ingress: {{host: {name}.models.example.com, path: /}}"]
        lines += [
            "    resources: {cpu: \"1\", memory: 2Gi}",
            "    env:",
            f"      MODEL_NAME: {name}",
            "    secretEnv:",
            "      - {name: AWS_ACCESS_KEY_ID, secret: s3-creds, key: access-key}",
            "    provenance:",
            "      registry: mlflow",
            f"      uri: \"models:/{name}/{index + 1}\"",
            f"      version: \"{index + 1}\"",
        ]
    return "\n".join(lines) + "\n"


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], runs: int, cwd: Path) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each run."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(command, cwd=cwd, env=env, capture_output=True, check=False)  # warm-up: caches, bytecode
    wall, cpu = [], []
    for _ in range(runs):
        cpu_before, start = children_cpu(), time.perf_counter()
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, check=False)
        wall.append(time.perf_counter() - start)
        cpu.append(children_cpu() - cpu_before)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr.decode()}")
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    script = shutil.which("specc", path=str(Path(sys.executable).parent)) or shutil.which("specc")
    if script is None:
        raise SystemExit("the specc console script is not installed (pip install -e .)")
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        (work / "serving.yaml").write_text(spec_text(), encoding="utf-8")
        rows = [
            ("python -c pass", [sys.executable, "-c", "pass"]),
            ("python -c 'import specc.cli'", [sys.executable, "-c", "import specc.cli"]),
            ("specc validate (10 models)", [script, "validate", "serving.yaml"]),
        ]
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"{len(os.sched_getaffinity(0))} CPUs, load average {load}, Python {sys.version.split()[0]}, "
              f"{args.runs} runs each")
        print(f"{'command':<32} {'wall median':>12} {'wall min':>9} {'CPU median':>11}")
        results = {}
        for label, command in rows:
            wall, cpu = timed(command, args.runs, work)
            results[label] = statistics.median(wall)
            print(f"{label:<32} {statistics.median(wall):>11.3f}s {min(wall):>8.3f}s "
                  f"{statistics.median(cpu):>10.3f}s")
    median = results["specc validate (10 models)"]
    verdict = "meets" if median < TARGET else "MISSES"
    print(f"specc validate median {median:.3f}s {verdict} the {TARGET:.1f}s target")


if __name__ == "__main__":
    main()
