"""Fixtures of the engine-conformance suite: tool environments, and tiny real models trained in them.

- `tool_env(name)`: the installed `specc.testing.toolenv` environment, or a skip that says how to install it
  (the README's test command installs every environment first, so in CI nothing skips).
- `trained(env_name, fmt)`: the artifact directory of a tiny model of `fmt`, trained once per session by
  the environment's own Python with `train.py` (the libraries the engine will load it with).
- `built_bento(service)`: a bento built once per session by the `bentoml` environment's `bentoml build`
  from `tests/engines/bentos/<service>/`, in a private BENTOML_HOME.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from specc.testing import toolenv

HERE = Path(__file__).resolve().parent
TRAIN = HERE / "train.py"
BENTOS = HERE / "bentos"
FORMATS = ("sklearn", "xgboost", "lightgbm", "mlflow")
SUBPROCESS_TIMEOUT = 300


def installed(name: str) -> toolenv.ToolEnv:
    found = toolenv.find(name)
    if found is None:
        pytest.skip(f"the {name!r} engine environment is not installed on this machine: run "
                    f"`python -m specc.testing.toolenv install {name}` (the README's test command does)")
    return found


def _clean_env(home: Path, **extra: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8", **extra}


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], Path]:
    done: dict[str, Path] = {}

    def get(env_name: str, fmt: str) -> Path:
        if env_name not in done:
            env = installed(env_name)
            root = tmp_path_factory.mktemp(f"models-{env_name}")
            result = subprocess.run([str(env.python), str(TRAIN), str(root / "out"), *FORMATS], cwd=root,
                                    env=_clean_env(root, PYTHONHASHSEED="0", OMP_NUM_THREADS="1"),
                                    capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT, check=False)
            assert result.returncode == 0, f"training in {env_name} failed:\n{result.stderr[-4000:]}"
            done[env_name] = root / "out"
        return done[env_name] / fmt

    return get


@pytest.fixture(scope="session")
def built_bento(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    done: dict[str, Path] = {}

    def get(service: str) -> Path:
        if service not in done:
            env = installed("bentoml")
            home = tmp_path_factory.mktemp(f"bentoml-home-{service}")
            result = subprocess.run(
                [str(env.bin("bentoml")), "build", "--output", "tag", str(BENTOS / service)], cwd=BENTOS / service,
                env=_clean_env(home, BENTOML_HOME=str(home), BENTOML_DO_NOT_TRACK="true",
                               PATH=f"{env.path / 'bin'}:{os.defpath}"),
                capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT, check=False)
            assert result.returncode == 0, f"bentoml build failed:\n{result.stdout[-2000:]}{result.stderr[-4000:]}"
            tag = next(line.split("__tag__:", 1)[1] for line in result.stdout.splitlines() if "__tag__:" in line)
            name, version = tag.strip().split(":")
            done[service] = home / "bentos" / name / version
        return done[service]

    return get
