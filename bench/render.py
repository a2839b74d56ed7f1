"""Render cost against its floor: `specc render` of a 500-model spec, divided by what parsing the input
and dumping the output YAML alone cost (the part no implementation can avoid).

Prints the figures; asserts nothing (speed is measured here, never in tests). Run:

    python bench/render.py [--models 500] [--repeat 5]

Timings are in-process medians, so interpreter start-up is left out of both sides; the ratio is
what matters on a shared, noisy machine.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from ruamel.yaml import YAML

from specc.manifest_yaml import dump_all
from specc.pipeline import compile_document
from specc.registry import load_registry
from specc.source import parse_spec

FORMATS = [("sklearn", "kubernetes"), ("xgboost", "kserve"), ("tensorflow", "kubernetes"), ("onnx", "seldon"),
           ("pytorch", "kubernetes"), ("mlflow", "kserve"), ("lightgbm", "kubernetes")]


def spec_text(models: int) -> str:
    lines = ["apiVersion: specc.dev/v1alpha1", "kind: ServingSpec", "metadata: {name: bench, namespace: ml}",
             "defaults:", "  resources: {cpu: '1', memory: 2Gi}", "  replicas: {min: 2, max: 6}",
             "  monitoring: {metrics: true}", "models:"]
    for i in range(models):
        fmt, backend = FORMATS[i % len(FORMATS)]
        lines += [f"  - name: model-{i:04d}", f"    format: {fmt}", f"    storageUri: s3://models/{fmt}/{i}",
                  f"    backend: {backend}", "    env: {LOG_LEVEL: info}",
                  f"    provenance: {{registry: mlflow, uri: 'models:/m{i}/3', version: '3'}}"]
        if i % 10 == 0:
            lines += ["    canary: {storageUri: s3://models/canary/1, traffic: 20}"]
    return "\n".join(lines) + "\n"


def median_seconds(work: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    text = spec_text(args.models)
    registry = load_registry()
    compiled = compile_document(parse_spec(text, "bench.yaml"), registry=registry)
    bodies = [o.body for o in compiled.desired]
    output = dump_all(bodies)

    def render() -> str:
        result = compile_document(parse_spec(text, "bench.yaml"), registry=registry)
        return dump_all(o.body for o in result.desired)

    parse = median_seconds(lambda: YAML(typ="rt").load(text), args.repeat)
    own_parse = median_seconds(lambda: parse_spec(text, "bench.yaml"), args.repeat)
    dump = median_seconds(lambda: dump_all(bodies), args.repeat)
    full = median_seconds(render, args.repeat)
    print(f"models: {args.models}, objects: {len(bodies)}, input {len(text) / 1024:.0f} KiB, "
          f"output {len(output) / 1024:.0f} KiB")
    print(f"parse input, ruamel.yaml round-trip load:   {parse * 1000:8.1f} ms")
    print(f"parse input, specc's loader (positions):    {own_parse * 1000:8.1f} ms")
    print(f"dump output YAML:                           {dump * 1000:8.1f} ms")
    print(f"specc render (load+validate+compile+dump):  {full * 1000:8.1f} ms")
    print(f"ratio render / (ruamel parse + dump):       {full / (parse + dump):8.2f}   (must be <= 2)")
    print(f"ratio render / (specc parse + dump):        {full / (own_parse + dump):8.2f}   (the stricter floor)")


if __name__ == "__main__":
    main()
