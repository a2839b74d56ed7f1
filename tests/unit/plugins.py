"""Backend plugins as a third party would write them, for the registry tests."""

from __future__ import annotations

from collections.abc import Sequence

from specc.backend_api import Backend, Manifest, ModelIR, Target


class EchoBackend(Backend):
    """Emits one ConfigMap per model describing it: the smallest complete backend."""

    name = "echo"
    summary = "Echo: a ConfigMap per model (a test plugin)"
    formats = frozenset({"sklearn"})

    def compile(self, model: ModelIR, target: Target) -> Sequence[Manifest]:
        return [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": model.name},
                 "data": {"format": model.format, "uri": model.storage.uri if model.storage else ""}}]


backend = EchoBackend()
not_a_backend = object()
