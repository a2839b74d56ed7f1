"""Cached Python environments for the engines and services that the test suite runs for real.

Takes: the name of one of `ENVIRONMENTS` (MLServer, BentoML, MLflow, ...: each a pinned requirement
list, at the versions of the images specc emits). `ensure(name)` returns a `ToolEnv` whose virtualenv
holds exactly those requirements, creating it once per machine under the specc cache
(`$SPECC_CACHE_DIR`, else `${XDG_CACHE_HOME:-~/.cache}/specc`) in `envs/<name>-<digest>`, where the digest
covers the requirements and the Python version, so a changed pin makes a new environment instead of
mutating an old one. A half-built environment is never used: a marker file written last makes it
complete, and concurrent installers (pytest workers, two shells) serialise on a lock file.

Must not: install into specc's own environment (the engines' dependencies would fight the project's),
download anything at test run time (`ensure(..., install=False)` only finds; the README's test command
runs `python -m specc.testing.toolenv install` first), or print except progress of slow steps to stderr.

CLI: `python -m specc.testing.toolenv install [NAME ...]` (all when no name is given),
`python -m specc.testing.toolenv path NAME` (prints the environment's directory, exit 1 if absent).
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_ENV_CACHE = "SPECC_CACHE_DIR"
_LOG_TAIL_LINES = 40


@dataclass(frozen=True)
class EnvironmentSpec:
    """One cached environment: a name, pinned requirements, and why those pins (for the reader)."""

    name: str
    requirements: tuple[str, ...]
    why: str


# uvloop 0.22+ raises from `asyncio.get_event_loop()` outside a running loop, which MLServer's
# inference-pool workers call at start (`mlserver/parallel/worker.py`, `_ignore_signals`): with it
# every model fails to load (measured with 1.7.1 and 1.5.0). MLServer declares no upper bound, so
# both MLServer environments pin the last release that works.
_MLSERVER_UVLOOP = "uvloop==0.21.0"
# The model libraries the runtimes load; the tests train their tiny models with the same ones.
_MODEL_LIBRARIES = ("scikit-learn==1.9.1", "xgboost==3.2.0", "lightgbm==4.7.0")

_DEFINED: tuple[EnvironmentSpec, ...] = (
    # One entry per engine or service; `install` with no name installs them all.
    EnvironmentSpec(
        "mlflow", ("mlflow[auth]==3.17.2",),
        "The MLflow tracking server and client that the registry tests run for real: `mlflow server` with "
        "a SQLite store (and its basic-auth app, hence the `auth` extra) and MLflow's own client to "
        "register models. 3.17.2 is the newest release whose mlflow-skinny is published beside it.",
    ),
    EnvironmentSpec(
        "mlserver",
        ("mlserver==1.7.1", "mlserver-sklearn==1.7.1", "mlserver-xgboost==1.7.1", "mlserver-lightgbm==1.7.1",
         "mlserver-mlflow==1.7.1", "mlflow==3.17.2", _MLSERVER_UVLOOP, *_MODEL_LIBRARIES),
        "MLServer at the version of the image specc emits (specc_kubernetes.engines.MLSERVER_VERSION) and of "
        "KServe 0.20's kserve-mlserver runtime, with the sklearn, xgboost, lightgbm and mlflow runtimes.",
    ),
    EnvironmentSpec(
        "mlserver-1.5.0",
        ("mlserver==1.5.0", "mlserver-sklearn==1.5.0", "mlserver-xgboost==1.5.0", "mlserver-lightgbm==1.5.0",
         "mlserver-mlflow==1.5.0", "mlflow==3.5.1", _MLSERVER_UVLOOP, *_MODEL_LIBRARIES),
        "MLServer at the version of KServe 0.15's kserve-mlserver runtime image "
        "(kserve config/runtimes/kustomization.yaml and charts/kserve-resources/values.yaml at v0.15.x).",
    ),
    EnvironmentSpec(
        "bentoml",
        ("bentoml==1.4.38",),
        "BentoML at the version specc's bento image mode assumes (specc.backend_api.workload.BENTOML_VERSION): the "
        "release whose entrypoint, routes and defaults specc's image mode was written against.",
    ),
)

ENVIRONMENTS: dict[str, EnvironmentSpec] = {spec.name: spec for spec in _DEFINED}
"""Every environment the tests may ask for, by name. Add an entry here; nothing else changes."""


class ToolEnvError(RuntimeError):
    """An environment could not be provided; the message says why and what to do."""


@dataclass(frozen=True)
class ToolEnv:
    name: str
    path: Path

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def bin(self, program: str) -> Path:
        """The path of a console script installed in the environment (e.g. `mlserver`, `bentoml`)."""
        return self.path / "bin" / program


def cache_dir() -> Path:
    explicit = os.environ.get(_ENV_CACHE)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "specc"


def _digest(spec: EnvironmentSpec) -> str:
    material = "\n".join([sys.version.split()[0], *sorted(spec.requirements)])
    return hashlib.sha256(material.encode()).hexdigest()[:12]


def env_path(name: str) -> Path:
    spec = _spec(name)
    return cache_dir() / "envs" / f"{spec.name}-{_digest(spec)}"


def _spec(name: str) -> EnvironmentSpec:
    try:
        return ENVIRONMENTS[name]
    except KeyError:
        known = ", ".join(sorted(ENVIRONMENTS)) or "none"
        raise ToolEnvError(f"no environment named {name!r} (known: {known})") from None


def _complete(path: Path) -> bool:
    return (path / ".specc-complete").is_file() and (path / "bin" / "python").exists()


def find(name: str) -> ToolEnv | None:
    """The environment if it was installed on this machine, else None (never installs)."""
    path = env_path(name)
    return ToolEnv(name, path) if _complete(path) else None


def ensure(name: str, *, install: bool = True) -> ToolEnv:
    """Return the named environment, installing it once per machine when `install` is true."""
    found = find(name)
    if found is not None:
        return found
    if not install:
        raise ToolEnvError(
            f"the {name!r} environment is not installed on this machine: run "
            f"`python -m specc.testing.toolenv install {name}` (the README's test command does)"
        )
    spec = _spec(name)
    path = env_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with (path.parent / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _complete(path):
            return ToolEnv(name, path)
        _build(spec, path)
    return ToolEnv(name, path)


def _build(spec: EnvironmentSpec, path: Path) -> None:
    # Built in place (a venv writes its own path into every script's shebang, so it cannot be moved);
    # the marker written last is what makes it usable, and a tree without it is a crashed earlier try.
    if path.exists():
        shutil.rmtree(path)
    started = time.monotonic()
    try:
        _progress(f"creating the {spec.name} environment ({', '.join(spec.requirements)})")
        _run([sys.executable, "-m", "venv", str(path)], f"creating a virtualenv for {spec.name}")
        pip = [str(path / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "--no-input"]
        _run([*pip, "install", "--quiet", *spec.requirements], f"pip install for {spec.name}")
        (path / ".specc-complete").write_text("\n".join(spec.requirements) + "\n")
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise
    _progress(f"{spec.name} environment ready in {time.monotonic() - started:.0f}s: {path}")


def _run(cmd: Sequence[str], what: str) -> None:
    result = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-_LOG_TAIL_LINES:])
        raise ToolEnvError(f"{what} failed (exit {result.returncode}):\n{tail}")


def _progress(message: str) -> None:
    print(f"[specc toolenv] {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m specc.testing.toolenv", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    install = commands.add_parser("install", help="install environments (all when none is named)")
    install.add_argument("names", nargs="*")
    path = commands.add_parser("path", help="print an installed environment's directory")
    path.add_argument("name")
    args = parser.parse_args(argv)
    try:
        if args.command == "install":
            for name in args.names or sorted(ENVIRONMENTS):
                print(ensure(name).path)
            return 0
        found = find(args.name)
        if found is None:
            print(f"{args.name}: not installed", file=sys.stderr)
            return 1
        print(found.path)
        return 0
    except ToolEnvError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
