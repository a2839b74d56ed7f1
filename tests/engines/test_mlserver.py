"""MLServer, for real, from exactly what specc renders: every runtime on the raw and the KServe renderings.

One case folder per (rendering, runtime) under `cases/`: `serving.yaml` (the spec), `case.yaml` (the model,
its tiny artifact, the MLServer version the image must be, the KServe release, an inference request and
extra facts to check), `answers.json` (golden: what the engine answered, regenerated with
`pytest --update-golden` and reviewed). For each case the engine container is read out of the compiled
objects (`specc.testing.engines.rendered_engine`: for KServe, the `kserve-mlserver` runtime at the
release merged with the predictor as KServe's controller does), started from the environment of that
MLServer version with the artifacts where the storage-initializer puts them, and asked:

- every probe the container declares, on the port it names: 200;
- the Open Inference Protocol: `/v2` (server metadata: the MLServer release of the image),
  `/v2/health/live`, `/v2/health/ready`, `/v2/models/<name>` (metadata), `/v2/models/<name>/ready` and
  `/v2/models/<name>/infer` with a real input: 200, under the model's name, with the registry version as
  `model_version` (MLServer returns `MLSERVER_MODEL_VERSION`; SeldonIO/MLServer
  `mlserver/handlers/dataplane.py` @1.7.1), and `/v2/models/<name>/versions/<registry version>/ready` 200
  while another version is 404;
- the Prometheus target the pod's `prometheus.io/port`/`path` annotations name: 200 with Prometheus text.

A case may name a `knownDefect` (with the issue): then only the scrape may fail, as a strict xfail, so the
case fails again once the defect is fixed and the line must go.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from specc_kubernetes.engines import MLSERVER_VERSION

from specc.pipeline import compile_file
from specc.testing.engines import (
    DECLARED_REWRITES,
    EngineError,
    environment_for,
    image_facts,
    rendered_engine,
    run_engine,
)

CASES = Path(__file__).resolve().parent / "cases"
MLSERVER_CASES = sorted(p for p in CASES.iterdir() if (p / "case.yaml").is_file() and not p.name.startswith("bento"))
START_TIMEOUT = 240  # a cold start of MLServer with mlflow on a shared 2-core machine


class ScrapeError(AssertionError):
    """The Prometheus target the pod's annotations name gives no metrics (a case's `knownDefect`)."""


def load_case(case: Path) -> dict[str, Any]:
    data: dict[str, Any] = YAML(typ="safe").load((case / "case.yaml").read_text(encoding="utf-8"))
    return data


def test_specc_emits_the_mlserver_it_is_tested_with() -> None:
    """The raw backend's image and the `mlserver` environment are the same MLServer release."""
    assert environment_for("mlserver", MLSERVER_VERSION) == "mlserver"


@pytest.mark.parametrize("case", MLSERVER_CASES, ids=lambda p: p.name)
def test_mlserver_serves_the_rendered_container(case: Path, trained: Callable[[str, str], Path],
                                                golden: Callable[[Path, str], None],
                                                request: pytest.FixtureRequest) -> None:
    spec = load_case(case)
    if spec.get("knownDefect"):
        # Strict, and only for the scrape: any other failure fails, and a fixed defect fails as XPASS.
        request.applymarker(pytest.mark.xfail(strict=True, raises=ScrapeError, reason=spec["knownDefect"]))
    objects = [o.body for o in compile_file(str(case / "serving.yaml")).desired]
    rendered = rendered_engine(objects, spec["model"], kserve_version=spec.get("kserveVersion", "0.20"))
    facts = image_facts(rendered, None)
    assert (facts.engine, facts.version) == ("mlserver", spec["engineVersion"]), rendered.image
    env_name = environment_for("mlserver", facts.version)
    served_as = rendered.env_value("MLSERVER_MODEL_NAME")
    assert served_as == spec["model"], "MLServer serves the model under MLSERVER_MODEL_NAME"

    answers: dict[str, Any] = {"image": rendered.image, "origin": rendered.origin}
    with run_engine(rendered, trained(env_name, spec["artifact"]), timeout=START_TIMEOUT) as running:
        assert {r.kind for r in running.rewrites} <= set(DECLARED_REWRITES)
        answers["rewrites"] = sorted(f"{r.kind} {r.name}" for r in running.rewrites)

        probes = {}
        for probe in rendered.probes:
            assert probe.path is not None, f"{probe.kind} probe is TCP; MLServer has HTTP health routes"
            probes[f"{probe.kind} :{probe.port}{probe.path}"] = running.get(running.url(probe.port, probe.path)).status
        answers["probes"] = probes
        assert all(status == 200 for status in probes.values()), probes

        http = running.http_port
        oip = {path: running.get(running.url(http, path)) for path in
               ("/v2/health/live", "/v2/health/ready", f"/v2/models/{served_as}", f"/v2/models/{served_as}/ready")}
        answers["oip"] = {path: answer.status for path, answer in oip.items()}
        assert all(answer.status == 200 for answer in oip.values()), answers["oip"]
        metadata = json.loads(oip[f"/v2/models/{served_as}"].body)
        answers["metadata"] = metadata
        assert metadata["name"] == served_as
        server = json.loads(running.get(running.url(http, "/v2")).body)
        answers["server"] = server
        assert server["version"] == facts.version, "the engine that answers is the image's release"
        # The registry version is addressable: OIP's /versions/<v> routes know it, and no other.
        versioned = {v: running.get(running.url(http, f"/v2/models/{served_as}/versions/{v}/ready")).status
                     for v in ("3", "4")}
        answers["versions"] = versioned
        assert versioned == {"3": 200, "4": 404}

        infer = running.post_json(running.url(http, f"/v2/models/{served_as}/infer"),
                                  json.dumps(spec["request"]).encode())
        assert infer.status == 200, infer.text()
        response = json.loads(infer.body)
        response.pop("id")  # a fresh UUID per request
        answers["infer"] = response
        assert response["model_name"] == served_as
        assert response["model_version"] == "3", "the registry version (provenance.version) is model_version"

        answers["facts"] = {}
        for fact in spec.get("facts", []):
            status = running.get(running.url(fact["port"], fact["path"])).status
            answers["facts"][f":{fact['port']}{fact['path']}"] = status
            assert status == fact["status"], fact

        target = rendered.metrics
        assert target is not None, "monitoring.metrics is on, but the pod carries no prometheus.io/port"
        answers["metrics"] = {"annotations": f":{target[0]}{target[1]}"}
        try:
            scraped = running.get(running.url(*target))
            answers["metrics"]["status"] = scraped.status
            prometheus_text = scraped.status == 200 and "# TYPE " in scraped.text()
        except EngineError as error:  # the annotations name a port nothing in the pod binds
            answers["metrics"]["status"] = None
            answers["metrics"]["error"] = str(error)
            prometheus_text = False
    golden(case / "answers.json", json.dumps(answers, indent=2, sort_keys=True) + "\n")
    if not prometheus_text:
        raise ScrapeError(f"Prometheus scrapes {answers['metrics']} and gets no metrics")
