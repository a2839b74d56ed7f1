"""Engine conformance harness: run the engine container specc renders, as a local process, and ask it.

Takes rendered objects and a model name; gives a running engine with its loopback URLs:

    engine = rendered_engine(objects, "fraud-detector")            # what the cluster would run
    with run_engine(engine, artifacts_dir) as running:             # that, on 127.0.0.1
        running.get(running.url(8080, "/v2/health/ready")).status  # container port -> loopback port
        running.metrics_url                                        # where prometheus.io/* points

`rendered` reads the container out of the objects (for KServe: what the controller and webhooks make of
the InferenceService at a release), `images` knows what the engine images run by default, `process`
starts the engine from the cached tool environment of that exact engine version (`specc.testing.toolenv`)
with only the declared rewrites, and always stops it. Must not print; must not install anything (the
README's test command installs the environments first).
"""

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
from specc.testing.engines.rendered import Probe, RenderedEngine, rendered_engine

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
    "rendered_engine",
    "run_engine",
]
