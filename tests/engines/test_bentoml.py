"""BentoML, for real: a bento built in the test, run the way its image's entrypoint runs it, from the
container specc renders in bento image mode (backend `bentoml`, and format `bento` on backends `kubernetes`
and `kserve`, whose custom predictor container KServe runs as it is).

Case folders `cases/bento-*`: `serving.yaml`, `case.yaml` (the model, the bento under `bentos/`, a request
and the answer it must get) and the golden `answers.json`. The image is what `bentoml containerize` makes of
that bento: its ENTRYPOINT (`env/docker/entrypoint.sh`, which runs `bentoml serve $BENTO_PATH` and lets
`PORT` override `BENTOML_PORT`) and ENV are read from the Dockerfile `bentoml build` wrote into the bento
(bentoml/BentoML `src/bentoml/_internal/container/frontend/dockerfile/` @v1.4.38). Checked: the BentoML
release is the one specc assumes, `BENTOML_PORT` is the container port the probes and the Service use,
`/livez` and `/readyz` answer 200 on it (`src/bentoml/_internal/server/base_app.py`), the API answers,
and the `prometheus.io/*` annotations name a port and path that answer 200 with Prometheus text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from specc.backend_api.workload import BENTOML_VERSION
from specc.pipeline import compile_file
from specc.testing.engines import DECLARED_REWRITES, environment_for, image_facts, rendered_engine, run_engine

CASES = Path(__file__).resolve().parent / "cases"
BENTO_CASES = sorted(p for p in CASES.iterdir() if p.name.startswith("bento-"))
START_TIMEOUT = 120


def test_specc_assumes_the_bentoml_it_is_tested_with() -> None:
    assert environment_for("bentoml", BENTOML_VERSION) == "bentoml"


@pytest.mark.parametrize("case", BENTO_CASES, ids=lambda p: p.name)
def test_bento_serves_the_rendered_container(case: Path, built_bento: Callable[[str], Path],
                                             golden: Callable[[Path, str], None]) -> None:
    spec: dict[str, Any] = YAML(typ="safe").load((case / "case.yaml").read_text(encoding="utf-8"))
    objects = [o.body for o in compile_file(str(case / "serving.yaml")).desired]
    rendered = rendered_engine(objects, spec["model"])
    bento = built_bento(spec["bento"])
    facts = image_facts(rendered, bento)
    assert (facts.engine, facts.version) == ("bentoml", BENTOML_VERSION)
    port = int(rendered.env_value("BENTOML_PORT") or 0)
    assert [number for _, number in rendered.ports] == [port], "BENTOML_PORT is the container's port"
    assert {p.port for p in rendered.probes} == {port}, "the probes ask the port BENTOML_PORT binds"

    answers: dict[str, Any] = {"image": rendered.image, "origin": rendered.origin}
    with run_engine(rendered, bento, timeout=START_TIMEOUT) as running:
        assert {r.kind for r in running.rewrites} <= set(DECLARED_REWRITES)
        answers["rewrites"] = sorted(f"{r.kind} {r.name}" for r in running.rewrites)
        answers["argv"] = [arg.replace(str(running.log_path.parent), "$WORKDIR") for arg in running.argv]
        probes = {f"{p.kind} :{p.port}{p.path}": running.get(running.url(p.port, p.path or "/")).status
                  for p in rendered.probes}
        answers["probes"] = probes
        assert probes and all(status == 200 for status in probes.values()), probes

        request = spec["request"]
        answer = running.post_json(running.url(port, request["path"]), json.dumps(request["body"]).encode())
        assert answer.status == 200, answer.text()
        answers["api"] = {request["path"]: json.loads(answer.body)}
        assert json.loads(answer.body) == spec["expected"]

        target = rendered.metrics
        assert target is not None, "monitoring.metrics is on, but the pod carries no prometheus.io/port"
        scraped = running.get(running.url(*target))
        answers["metrics"] = {"annotations": f":{target[0]}{target[1]}", "status": scraped.status,
                              "families": sorted({line.split()[2] for line in scraped.text().splitlines()
                                                  if line.startswith("# TYPE ")})}
        assert scraped.status == 200 and "# TYPE " in scraped.text()
    golden(case / "answers.json", json.dumps(answers, indent=2, sort_keys=True) + "\n")
