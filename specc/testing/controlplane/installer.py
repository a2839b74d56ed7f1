"""Which binaries a control plane runs, installing what is missing: etcd, and per Kubernetes release
the apiserver (and controller-manager).

Takes a release: `CURRENT` ("1.36", from `../shared/kube`, with kube-controller-manager) or `OLD`
("1.20", kube-apiserver built from Debian's source, no controllers), or None for the current one when
`../shared/kube` is there and the old one otherwise. Returns `Binaries`. Warm machine: a few stat()
calls and small reads, no subprocess. `install_all()` prepares every release this machine can run (the
suite runs on both). Must not write outside the per-machine cache and, through apt, the system.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from specc.testing.controlplane import debian_build, shared_kube
from specc.testing.controlplane.apt import Apt
from specc.testing.controlplane.commands import progress
from specc.testing.controlplane.errors import ControlPlaneError
from specc.testing.controlplane.locations import (
    ENV_APISERVER,
    ENV_ETCD,
    default_kube_dir,
    explicit_binary,
    install_lock,
)

CURRENT = "1.36"
OLD = "1.20"
RELEASES = (CURRENT, OLD)


@dataclass(frozen=True)
class Binaries:
    kube_apiserver: Path
    etcd: Path
    kube_controller_manager: Path | None = None
    """None: no controllers run (the Debian 1.20 build has none)."""
    release: str = OLD


def current_available() -> bool:
    """Whether `../shared/kube` (or $SPECC_SHARED_KUBE) holds the Kubernetes 1.36 binaries."""
    return (default_kube_dir() / "SHA256SUMS").is_file()


def default_release() -> str:
    return CURRENT if current_available() else OLD


# Debian installs etcd to /usr/bin, but a non-login PATH (sudo secure_path, cron) may lack it.
_DEBIAN_ETCD = Path("/usr/bin/etcd")


def system_etcd(which: Callable[[str], str | None] = shutil.which, fallback: Path | None = _DEBIAN_ETCD) -> Path | None:
    found = which("etcd")
    if found:
        return Path(found)
    return fallback if fallback is not None and fallback.is_file() else None


def install_etcd(apt: Apt, which: Callable[[str], str | None] = shutil.which,
                 fallback: Path | None = _DEBIAN_ETCD) -> Path:
    """Debian's etcd-server, installed when no etcd is found."""
    etcd = system_etcd(which, fallback)
    if etcd is not None:
        return etcd
    progress("installing etcd (apt-get install etcd-server)")
    apt.install(["etcd-server"])
    etcd = system_etcd(which, fallback)
    if etcd is None:
        raise ControlPlaneError("etcd-server was installed but no etcd binary was found")
    return etcd


def ensure_binaries(release: str | None = None, *, apt: Apt | None = None) -> Binaries:
    """The binaries of `release` (see the module docstring), installing/building what is missing.

    Cold machine, old release: apt-get installs etcd-server and the build tools and builds
    kube-apiserver from the Debian source package (~3-4 min on 2 cores). Current release: verifies and
    unpacks ../shared/kube once (seconds).
    """
    release = release or default_release()
    if release not in RELEASES:
        raise ControlPlaneError(f"unknown Kubernetes release {release!r}: use one of {', '.join(RELEASES)}")
    apt = apt or Apt()
    etcd = explicit_binary(ENV_ETCD) or system_etcd()
    if etcd is None:
        with install_lock():
            etcd = install_etcd(apt)
    if release == CURRENT:
        folder = default_kube_dir()
        if not (folder / "SHA256SUMS").is_file():
            raise ControlPlaneError(f"Kubernetes {CURRENT} needs {folder}/SHA256SUMS and the gzipped binaries "
                                    "beside it (../shared/kube next to the checkout, or $SPECC_SHARED_KUBE)")
        kube = shared_kube.ensure(folder)
        return Binaries(kube.kube_apiserver, etcd, kube.kube_controller_manager, CURRENT)
    explicit_apiserver = explicit_binary(ENV_APISERVER)
    if explicit_apiserver is not None:
        return Binaries(explicit_apiserver, etcd)
    apiserver = debian_build.cache_path()
    if not debian_build.cached_build_ok(apiserver):
        with install_lock():
            if not debian_build.cached_build_ok(apiserver):
                if apiserver.is_file():
                    progress(f"{apiserver} lacks {debian_build.build_marker(apiserver).name} (not built here, "
                             "or built without the reflect2 fix, so it would crash on custom resources): "
                             "rebuilding")
                debian_build.build(apiserver, apt)
    return Binaries(apiserver, etcd)


def install_all() -> list[Binaries]:
    """Prepare every release this machine can run: 1.36 when ../shared/kube is there, and 1.20."""
    apt = Apt()  # one instance: `apt-get update` runs once unless a source file was written
    releases = [CURRENT, OLD] if current_available() else [OLD]
    return [ensure_binaries(release, apt=apt) for release in releases]
