"""A tiny BentoML service for the engine tests: one API that doubles its input."""

from __future__ import annotations

import bentoml


@bentoml.service
class Echo:
    @bentoml.api
    def predict(self, values: list[float]) -> list[float]:
        return [value * 2 for value in values]
