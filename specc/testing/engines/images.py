"""What the engine images do when a pod runs them with no `command`/`args`: their ENV, ENTRYPOINT, CMD.

Takes an image reference (or a built bento's directory); returns an `ImageFacts`. Pure except
`bento_image`, which reads the Dockerfile that `bentoml build` writes into the bento (the very file
`bentoml containerize` builds the image from) and the bento's `bento.yaml` (the BentoML release).
Must not guess: an image it has no facts for is an `EngineError`.

Sources, read at the tags the images are built from:
- MLServer (SeldonIO/MLServer `Dockerfile` @1.7.1, same in 1.5.0): `ENV MLSERVER_MODELS_DIR=/mnt/models
  MLSERVER_ENV_TARBALL=/mnt/models/environment.tar.gz`, `USER 1000`, and the shell-form
  `CMD . conda.sh && source ./hack/activate-env.sh $MLSERVER_ENV_TARBALL && mlserver start
  $MLSERVER_MODELS_DIR`. `activate-env.sh` does nothing when the tarball does not exist (no artifact here
  ships one), and conda only puts the image's Python first on PATH, which the local environment does: so
  the command run here is `mlserver start $MLSERVER_MODELS_DIR`, through a shell as in the image.
  Listening ports (`mlserver/settings.py` @1.7.1): `http_port` 8080, `grpc_port` 8081, `metrics_port`
  8082, `metrics_endpoint` `/metrics`, `host` 0.0.0.0, each overridable by `MLSERVER_<FIELD>`.
- Bento images (bentoml/BentoML `src/bentoml/_internal/container/frontend/dockerfile/templates/base.j2`
  and `entrypoint.sh` @v1.4.38): `ENV BENTO_PATH=/home/bentoml/bento`, `WORKDIR $BENTO_PATH`, `USER bentoml`
  (uid 1034), `ENTRYPOINT ["/home/bentoml/bento/env/docker/entrypoint.sh"]` and no CMD; with no arguments
  the entrypoint runs `bentoml serve $BENTO_PATH`, and `PORT`, when set, overrides `BENTOML_PORT` (default
  3000, `src/bentoml_cli/serve.py`; host `BENTOML_HOST`, default 0.0.0.0).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


class EngineError(RuntimeError):
    """The rendered objects cannot be run as the cluster would run them; the message says why."""


@dataclass(frozen=True)
class ImageFacts:
    """An engine image: which engine at which version, its ENV, ENTRYPOINT, CMD and WORKDIR."""

    engine: str  # mlserver | bentoml
    version: str
    env: tuple[tuple[str, str], ...]
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    workdir: str | None = None
    # (environment variable, default port): the ports the engine binds, by the setting that moves each.
    listen: tuple[tuple[str, int], ...] = ()
    host_variable: str | None = None  # the setting that chooses the bind address
    home: str | None = None  # the image user's writable home (the engine may write caches there)
    # The inference runtimes the image ships (Python modules), None when it ships them all: MLServer's
    # `-<runtime>` images hold that one runtime, `-slim` none (SeldonIO/MLServer Makefile, Dockerfile RUNTIMES).
    runtimes: tuple[str, ...] | None = None


MLSERVER_IMAGE = re.compile(
    r"^(?:docker\.io/)?seldonio/mlserver:(?P<version>\d+\.\d+\.\d+)(?:-(?P<flavour>[a-z0-9-]+))?$")
MLSERVER_LISTEN = (("MLSERVER_HTTP_PORT", 8080), ("MLSERVER_GRPC_PORT", 8081), ("MLSERVER_METRICS_PORT", 8082))
BENTO_PATH = "/home/bentoml/bento"
BENTOML_LISTEN = (("BENTOML_PORT", 3000),)


def mlserver_image(image: str) -> ImageFacts:
    match = MLSERVER_IMAGE.match(image)
    if match is None:
        raise EngineError(f"{image!r} is not a seldonio/mlserver:<version>[-<runtime>] image")
    flavour = match["flavour"]
    return ImageFacts(
        engine="mlserver", version=match["version"],
        env=(("MLSERVER_ENV_TARBALL", "/mnt/models/environment.tar.gz"), ("MLSERVER_MODELS_DIR", "/mnt/models")),
        entrypoint=(), cmd=("/bin/bash", "-c", "mlserver start $MLSERVER_MODELS_DIR"),
        workdir="/opt/mlserver", listen=MLSERVER_LISTEN, host_variable="MLSERVER_HOST", home="/opt/mlserver",
        runtimes=None if flavour is None else () if flavour == "slim" else (f"mlserver_{flavour.replace('-', '_')}",),
    )


_DOCKER_ENV = re.compile(r"^ENV\s+(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>\S*)\s*$")
_DOCKER_ARG = re.compile(r"^ARG\s+(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>\S*)\s*$")
_DOCKER_ENTRYPOINT = re.compile(r"^ENTRYPOINT\s+\[\s*\"(?P<path>[^\"]+)\"\s*\]\s*$")


def bento_image(bento_dir: Path) -> ImageFacts:
    """The image `bentoml containerize` makes of the bento at `bento_dir`, from its own Dockerfile."""
    dockerfile = bento_dir / "env" / "docker" / "Dockerfile"
    if not dockerfile.is_file():
        raise EngineError(f"{bento_dir} is not a built bento (no env/docker/Dockerfile)")
    args: dict[str, str] = {}
    env: dict[str, str] = {}
    entrypoint: tuple[str, ...] = ()
    workdir: str | None = None
    for raw in dockerfile.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if (arg := _DOCKER_ARG.match(line)) is not None:
            args[arg["name"]] = arg["value"]
        elif (var := _DOCKER_ENV.match(line)) is not None:
            value = re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: args.get(m[1], env.get(m[1], "")),
                           var["value"])
            if var["name"] not in ("PATH",):  # PATH is the image's Python; the local environment provides one
                env[var["name"]] = value
        elif (entry := _DOCKER_ENTRYPOINT.match(line)) is not None:
            entrypoint = (entry["path"],)
        elif line.startswith("WORKDIR "):
            workdir = re.sub(r"\$\{?BENTO_PATH\}?", env.get("BENTO_PATH", ""), line.split(None, 1)[1])
    if env.get("BENTO_PATH") != BENTO_PATH or not entrypoint:
        raise EngineError(f"{dockerfile}: not the bento image layout specc was written against "
                          f"(BENTO_PATH {env.get('BENTO_PATH')!r}, ENTRYPOINT {entrypoint!r})")
    # The image installs the BentoML the bento was built with, which bento.yaml records.
    recorded = re.search(r"^bentoml_version:\s*'?(?P<v>[^'\s]+)'?\s*$",
                         (bento_dir / "bento.yaml").read_text(encoding="utf-8"), re.MULTILINE)
    if recorded is None:
        raise EngineError(f"{bento_dir}/bento.yaml records no bentoml_version")
    return ImageFacts(engine="bentoml", version=recorded["v"], env=tuple(sorted(env.items())),
                      entrypoint=entrypoint, cmd=(), workdir=workdir, listen=BENTOML_LISTEN,
                      host_variable="BENTOML_HOST", home="/home/bentoml")
