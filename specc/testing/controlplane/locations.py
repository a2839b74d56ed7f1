"""Where the control plane finds and keeps things: the per-machine cache, ../shared, overrides.

Takes the environment; returns paths. `install_lock()` serialises installers across processes.
Must not create anything but the cache directory and its lock file.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from specc.testing.controlplane.errors import ControlPlaneError

ENV_CACHE = "SPECC_CACHE_DIR"
ENV_APISERVER = "SPECC_KUBE_APISERVER"
ENV_ETCD = "SPECC_ETCD"
ENV_SHARED_CRDS = "SPECC_SHARED_CRDS"
ENV_SHARED_KUBE = "SPECC_SHARED_KUBE"


def cache_dir() -> Path:
    """Where built binaries live: outside the repo so that one build serves every checkout."""
    explicit = os.environ.get(ENV_CACHE)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "specc"


def shared_dir() -> Path:
    """`shared/` next to the repository checkout (the CRDs and the Kubernetes 1.36 binaries)."""
    return Path(__file__).resolve().parents[3].parent / "shared"


def default_crd_dir() -> Path:
    """`$SPECC_SHARED_CRDS`, else `shared/crds` next to the repository checkout."""
    explicit = os.environ.get(ENV_SHARED_CRDS)
    return Path(explicit).expanduser() if explicit else shared_dir() / "crds"


def default_kube_dir() -> Path:
    """`$SPECC_SHARED_KUBE`, else `shared/kube` next to the repository checkout."""
    explicit = os.environ.get(ENV_SHARED_KUBE)
    return Path(explicit).expanduser() if explicit else shared_dir() / "kube"


def explicit_binary(env_name: str) -> Path | None:
    value = os.environ.get(env_name)
    if not value:
        return None
    path = Path(value).expanduser()
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise ControlPlaneError(f"${env_name}={value} is not an executable file")
    return path


@contextmanager
def install_lock() -> Iterator[None]:
    # Serialise installers (parallel pytest workers, two shells): apt holds its own lock and fails
    # instead of waiting, and two builds or unpacks would waste minutes.
    lock_dir = cache_dir()
    lock_dir.mkdir(parents=True, exist_ok=True)
    with (lock_dir / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
