"""Engine conformance harness: run the engine container specc renders, as a local process, and ask it.

Takes rendered objects and a model name; gives a running engine with its loopback URLs:

    engine = rendered_engine(objects, "fraud-detector")            # what the cluster would run
    # objects: [o.body for o in compiled.desired], or load_rendered(`specc render` output);
    # track="canary" for the canary's engine; kserve_version= the KServe release (default "0.20")
    with run_engine(engine, artifacts_dir) as running:             # that, on 127.0.0.1
        running.get(running.url(8080, "/v2/health/live")).status   # container port -> loopback port
        running.metrics_url                                        # where prometheus.io/* points

`rendered` reads the container out of the objects (for KServe: what the controller and webhooks make of
the InferenceService at a release), `images` knows what the engine images run by default, `process`
starts the engine from the cached tool environment of that exact engine version (`specc.testing.toolenv`)
with only the declared rewrites, and always stops it. Must not print; must not install anything (the
README's test command installs the environments first).

Or in one call: `with serve(objects, "fraud-detector", artifacts_dir) as running: running.base_url`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from specc.testing.engines.images import EngineError, ImageFacts
from specc.testing.engines.process import (
    DECLARED_REWRITES,
    HttpAnswer,
    Rewrite,
    RunningEngine,
    environment_for,
    image_facts,
    run_engine,
)
from specc.testing.engines.rendered import Probe, RenderedEngine, load_rendered, rendered_engine


@contextlib.contextmanager
def serve(objects: Iterable[dict[str, Any]], model: str, artifacts: Path | None, *, kserve_version: str = "0.20",
          track: str = "stable", timeout: float = 180) -> Iterator[RunningEngine]:
    """`rendered_engine` then `run_engine`: the running engine of `model` in the rendered `objects`."""
    rendered = rendered_engine(objects, model, kserve_version=kserve_version, track=track)
    with run_engine(rendered, artifacts, timeout=timeout) as running:
        yield running


__all__ = [
    "DECLARED_REWRITES",
    "EngineError",
    "HttpAnswer",
    "ImageFacts",
    "Probe",
    "RenderedEngine",
    "Rewrite",
    "RunningEngine",
    "environment_for",
    "image_facts",
    "load_rendered",
    "rendered_engine",
    "run_engine",
    "serve",
]
