"""A stable model and its canary, rendered by specc and run on the real MLServer 1.7.1 (and KServe
0.15's MLServer 1.5.0 for a model without canary): each answers
`infer` with its own registry version as `model_version`, and its model metadata lists that version in
`versions`; the registry URI and run id, which specc also gives MLServer (`MLSERVER_MODEL_EXTRA`),
reach no client (MLServer 1.7.1 `mlserver/model.py` `metadata()` returns name, platform, versions,
inputs, outputs and only `content_type` of the parameters).

Both renderings are run: the raw backend's Deployments `pricing` and `pricing-canary`, and KServe
0.20 Standard mode's `spec.predictor` and `spec.canary[0].predictor` merged with `kserve-mlserver`
as KServe's controller does (`specc.testing.engines.rendered_engine`, `track=`).
SeldonIO/MLServer `mlserver/settings.py` @1.7.1: `MLSERVER_MODEL_VERSION` is
`ModelParameters.version`, `MLSERVER_MODEL_VERSIONS` is `ModelSettings.versions`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from specc.pipeline import compile_file
from specc.testing.engines import environment_for, image_facts, rendered_engine, run_engine

SPEC = Path(__file__).resolve().parent / "provenance" / "serving.yaml"
REQUEST = {"inputs": [{"name": "input-0", "shape": [1, 2], "datatype": "FP64", "data": [0.9, 1.0]}]}
START_TIMEOUT = 240
TRACKS = [("pricing", "stable", "3"), ("pricing", "canary", "4"),
          ("pricing-kserve", "stable", "3"), ("pricing-kserve", "canary", "4"),
          ("pricing-kserve-015", "stable", "3")]  # KServe 0.15's kserve-mlserver runs MLServer 1.5.0
ENGINE_VERSION = {"pricing-kserve-015": ("0.15", "1.5.0")}


@pytest.mark.parametrize(("model", "track", "version"), TRACKS, ids=[f"{m}-{t}" for m, t, _ in TRACKS])
def test_each_track_answers_with_its_own_registry_version(model: str, track: str, version: str,
                                                           trained: Callable[[str, str], Path]) -> None:
    objects = [o.body for o in compile_file(str(SPEC)).desired]
    kserve_version, mlserver_version = ENGINE_VERSION.get(model, ("0.20", "1.7.1"))
    rendered = rendered_engine(objects, model, track=track, kserve_version=kserve_version)
    facts = image_facts(rendered, None)
    assert (facts.engine, facts.version) == ("mlserver", mlserver_version), rendered.image
    served_as = rendered.env_value("MLSERVER_MODEL_NAME")
    assert served_as == model
    with run_engine(rendered, trained(environment_for("mlserver", facts.version), "sklearn"),
                    timeout=START_TIMEOUT) as running:
        metadata = json.loads(running.get(running.url(running.http_port, f"/v2/models/{served_as}")).body)
        infer = running.post_json(running.url(running.http_port, f"/v2/models/{served_as}/infer"),
                                  json.dumps(REQUEST).encode())
        assert infer.status == 200, infer.text()
        response = json.loads(infer.body)
    assert response["model_name"] == model
    assert response["model_version"] == version, f"the {track} track answers as registry version {version}"
    assert metadata["versions"] == [version], metadata
    for answer in (metadata, response):  # the URI and run id given in MLSERVER_MODEL_EXTRA reach no client
        text = json.dumps(answer)
        assert not [part for part in ("models:/pricing", "9f1c2a", "7d3e01") if part in text], answer
