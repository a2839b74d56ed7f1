"""How to write a specc model-registry plugin.

A registry plugin turns a registry reference of a spec (`registry: {provider: NAME, model: fraud,
alias: champion}`) into the artifact location and provenance of one model version, when specc plans,
applies or renders (never when it validates). It is a Python package that exposes an instance of a
`RegistryProvider` subclass under the entry-point group `specc.registries`, exactly as specc's
built-in MLflow plugin does in specc's own `pyproject.toml`::

    [project.entry-points."specc.registries"]
    myregistry = "specc_myregistry:provider"

A plugin imports nothing from specc except this module. It does no I/O of its own: `endpoint` says
where the registry is and which credentials to send (read from the environment it is given), and
`resolve` asks its questions through the `JsonApi` it is handed, which specc's one registry client
(`specc.registry_client`) implements with timeouts, TLS and credentials that never appear in any
message. `resolve` returns a `Resolved` or raises `RegistryFault` with a reason a user can act on;
specc puts it at the `registry:` field's FILE:LINE:COL. The artifact location it returns is then
checked exactly like a `storageUri` typed into the spec (scheme, credentials, what the backend can
fetch), so a plugin maps registry-internal locations to real stores or refuses them, and need not
know the backends.

Hooks:

- `endpoint(ref, environ)`: the base URI and credentials for `ref`; raise `RegistryFault("config",
  ...)` when they are missing or unusable.
- `resolve(ref, api)`: the model version `ref` names, as a `Resolved`.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

__all__ = [
    "Answer",
    "Credentials",
    "Endpoint",
    "FaultKind",
    "JsonApi",
    "Reference",
    "RegistryFault",
    "RegistryProvider",
    "Resolved",
]

FaultKind = Literal[
    "config",  # no tracking URI, an unusable one, contradictory settings
    "unreachable",  # connection refused, DNS, TLS
    "timeout",  # no answer within --registry-timeout
    "unauthorized",  # 401: no or wrong credentials
    "forbidden",  # 403: credentials without permission
    "not-found",  # no such model, alias or version (or it was deleted)
    "unusable",  # the version exists but must not be served (archived, failed, pending)
    "bad-answer",  # not JSON, or JSON without what the API documents
]


@dataclass(frozen=True)
class Reference:
    """What the spec asks for: `alias` or `version` (exactly one) of registered model `model`."""

    provider: str
    model: str
    alias: str | None = None
    version: str | None = None
    tracking_uri: str | None = None

    @property
    def selector(self) -> str:
        return f"{self.model}@{self.alias}" if self.alias is not None else f"{self.model}/{self.version}"


@dataclass(frozen=True)
class Credentials:
    """What to send in `Authorization`. Never printed: its repr names only the kind."""

    kind: Literal["bearer", "basic"]
    token: str = field(default="", repr=False)
    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)

    def __repr__(self) -> str:
        return f"Credentials({self.kind})"


@dataclass(frozen=True)
class Endpoint:
    """Where a registry answers. `base_uri` has no credentials in it (specc refuses such URIs)."""

    base_uri: str
    credentials: Credentials | None = None
    verify_tls: bool = True
    ca_bundle: str | None = None  # a CA bundle file to verify the server with, instead of the system's

    @property
    def credential_kind(self) -> str:
        """For messages: which credentials were sent, never their values."""
        if self.credentials is None:
            return "no credentials"
        return "a bearer token" if self.credentials.kind == "bearer" else "a username and password"


@dataclass(frozen=True)
class Answer:
    """A JSON answer of the registry (any status the client did not turn into a fault itself)."""

    status: int
    body: Mapping[str, Any]


class JsonApi(Protocol):
    """The registry as a plugin sees it. `get` raises `RegistryFault` for what no plugin can
    interpret: unreachable, timeout, 401, 403, an answer that is not a JSON object."""

    endpoint: Endpoint

    def get(self, path: str, params: Mapping[str, str]) -> Answer: ...


class RegistryFault(Exception):  # noqa: N818 - a reason to refuse, carried to the diagnostic
    """Why a reference cannot be resolved: a kind, a message and an optional hint. Messages must not
    contain credentials (a plugin never sees them outside `Credentials`)."""

    def __init__(self, kind: FaultKind, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.kind: FaultKind = kind
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class Resolved:
    """One resolved model version.

    `storage_uri` is where the artifacts are, for the backend to fetch; `source` is the location the
    registry reported, and `mapped` says how the one became the other (empty when they are equal).
    `registry_uri` names the version in the registry's own vocabulary (`models:/fraud/3`)."""

    storage_uri: str
    version: str
    registry_uri: str
    source: str
    run_id: str | None = None
    mapped: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    model_tags: Mapping[str, str] = field(default_factory=dict)


class RegistryProvider(abc.ABC):
    """Base class of every registry plugin."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""

    @abc.abstractmethod
    def endpoint(self, ref: Reference, environ: Mapping[str, str]) -> Endpoint:
        """Where the registry of `ref` is and how to authenticate, from the spec and `environ`."""

    @abc.abstractmethod
    def resolve(self, ref: Reference, api: JsonApi) -> Resolved:
        """The model version `ref` names; raise `RegistryFault` when there is none to serve."""
