"""What a registry reference resolved to, as plans show it and saved plans pin it.

Takes nothing; defines the `Resolution` record (made by `specc.resolve`, completed with what the live
objects serve by the planner) and its JSON form, part of the plan format. Pure data; must not talk
to a registry.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from specc.credentials import sensitive_name, sensitive_value
from specc.registry_api import Reference


@dataclass(frozen=True)
class Resolution:
    """One resolved reference, as plans show it and saved plans pin it. `role` is `model` or
    `canary`; `previous_*` are what the live objects carry (filled in by the planner)."""

    model: str
    role: str
    provider: str
    reference: str  # fraud@champion, fraud/3
    registry_model: str
    alias: str | None
    requested_version: str | None
    tracking_uri: str | None  # as written in the spec (None: from the environment)
    endpoint: str  # the base URI that answered
    version: str
    run_id: str | None
    registry_uri: str
    storage_uri: str
    source: str
    mapped: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    model_tags: Mapping[str, str] = field(default_factory=dict)
    previous_version: str | None = None
    previous_run_id: str | None = None

    @property
    def moved(self) -> bool:
        """The live objects serve another version than the registry names now."""
        return self.previous_version is not None and (
            self.previous_version != self.version or self.previous_run_id != self.run_id)

    def masked(self) -> Resolution:
        """For `--mask-all`: the reference and the versions stay (they say what moved), every other
        value the registry reported is hidden."""
        hidden = "(sensitive value)"
        return dataclasses.replace(
            self, endpoint=hidden, storage_uri=hidden, source=hidden, mapped=(),
            run_id=hidden if self.run_id is not None else None,
            previous_run_id=hidden if self.previous_run_id is not None else None,
            tags={k: hidden for k in self.tags}, model_tags={k: hidden for k in self.model_tags})

    def ref(self) -> Reference:
        return Reference(self.provider, self.registry_model, self.alias, self.requested_version, self.tracking_uri)

    def to_json(self) -> dict[str, Any]:
        def masked(tags: Mapping[str, str]) -> dict[str, str]:
            return {k: "(sensitive value)" if sensitive_name(k) or sensitive_value(v) else v
                    for k, v in sorted(tags.items())}

        return {
            "model": self.model, "role": self.role, "provider": self.provider, "reference": self.reference,
            "registryModel": self.registry_model, "alias": self.alias, "requestedVersion": self.requested_version,
            "trackingUri": self.tracking_uri, "endpoint": self.endpoint, "version": self.version,
            "runId": self.run_id, "registryUri": self.registry_uri, "storageUri": self.storage_uri,
            "source": self.source, "mapped": list(self.mapped), "tags": masked(self.tags),
            "modelTags": masked(self.model_tags),
            "previous": {"version": self.previous_version, "runId": self.previous_run_id}
            if self.previous_version is not None else None,
            "moved": self.moved,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Resolution:
        previous = data.get("previous") or {}
        return cls(
            model=data["model"], role=data["role"], provider=data["provider"], reference=data["reference"],
            registry_model=data["registryModel"], alias=data.get("alias"),
            requested_version=data.get("requestedVersion"), tracking_uri=data.get("trackingUri"),
            endpoint=data["endpoint"], version=data["version"], run_id=data.get("runId"),
            registry_uri=data["registryUri"], storage_uri=data["storageUri"], source=data["source"],
            mapped=tuple(data.get("mapped") or ()), tags=dict(data.get("tags") or {}),
            model_tags=dict(data.get("modelTags") or {}), previous_version=previous.get("version"),
            previous_run_id=previous.get("runId"),
        )
