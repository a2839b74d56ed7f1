"""Kubernetes 1.36.2 (kube-apiserver, kube-controller-manager) from `../shared/kube`, verified and cached.

Takes the folder holding `kube-apiserver.gz`, `kube-controller-manager.gz` and `SHA256SUMS` (which lists
the digest of each .gz and of each unpacked binary, see its PROVENANCE.txt); returns the paths of the two
binaries unpacked into the per-machine cache. Must not use a binary whose digest does not match, or let
another process see a half-written one: each is unpacked under a temporary name, verified, then renamed.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from specc.testing.controlplane.commands import progress
from specc.testing.controlplane.errors import ControlPlaneError
from specc.testing.controlplane.locations import cache_dir, install_lock

KUBE_VERSION = "1.36.2"
"""The version PROVENANCE.txt names; the running server's /version is what the tests read."""

BINARIES = ("kube-apiserver", "kube-controller-manager")
_MARKER = "verified.sha256"


@dataclass(frozen=True)
class KubeBinaries:
    kube_apiserver: Path
    kube_controller_manager: Path


def read_sums(folder: Path) -> dict[str, str]:
    """SHA256SUMS as {file name: hex digest}; raises when the file or an entry is missing."""
    sums_file = folder / "SHA256SUMS"
    try:
        text = sums_file.read_text()
    except OSError as error:
        raise ControlPlaneError(f"cannot read {sums_file}: {error}") from None
    sums: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and len(parts[0]) == 64:
            sums[parts[1].lstrip("*")] = parts[0].lower()
    for name in BINARIES:
        for entry in (name, f"{name}.gz"):
            if entry not in sums:
                raise ControlPlaneError(f"{sums_file} lists no digest for {entry}")
    return sums


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_folder(sums: dict[str, str]) -> Path:
    # Keyed by the unpacked apiserver's digest: a new build in ../shared unpacks beside the old one.
    return cache_dir() / f"kube-{KUBE_VERSION}-{sums['kube-apiserver'][:12]}"


def _marker_text(sums: dict[str, str]) -> str:
    return "".join(f"{sums[name]}  {name}\n" for name in BINARIES)


def _cached(folder: Path, sums: dict[str, str]) -> KubeBinaries | None:
    """The cached binaries when a previous unpack verified exactly these digests (a stat and a read)."""
    try:
        if (folder / _MARKER).read_text() != _marker_text(sums):
            return None
    except OSError:
        return None
    paths = [folder / name for name in BINARIES]
    if not all(path.is_file() and os.access(path, os.X_OK) for path in paths):
        return None
    return KubeBinaries(*paths)


def ensure(folder: Path) -> KubeBinaries:
    """Verify and unpack the binaries of `folder` into the cache once; returns their paths."""
    sums = read_sums(folder)
    target = cache_folder(sums)
    cached = _cached(target, sums)
    if cached is not None:
        return cached
    with install_lock():
        cached = _cached(target, sums)
        if cached is not None:
            return cached
        target.mkdir(parents=True, exist_ok=True)
        for name in BINARIES:
            _unpack(folder / f"{name}.gz", target / name, sums[f"{name}.gz"], sums[name])
        marker = target / f".{_MARKER}.partial-{os.getpid()}"
        marker.write_text(_marker_text(sums))
        os.replace(marker, target / _MARKER)
    progress(f"unpacked Kubernetes {KUBE_VERSION} from {folder} into {target}")
    return KubeBinaries(target / BINARIES[0], target / BINARIES[1])


def _unpack(source: Path, dest: Path, gz_digest: str, digest: str) -> None:
    if not source.is_file():
        raise ControlPlaneError(f"{source} is missing")
    found = _sha256(source)
    if found != gz_digest:
        raise ControlPlaneError(f"{source}: SHA-256 {found} does not match SHA256SUMS ({gz_digest}); "
                                "the file is damaged or not the one PROVENANCE.txt describes")
    partial = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    try:
        with gzip.open(source, "rb") as packed, partial.open("wb") as out:
            shutil.copyfileobj(packed, out, 1 << 20)
        found = _sha256(partial)
        if found != digest:
            raise ControlPlaneError(f"{source} unpacks to SHA-256 {found}, not SHA256SUMS's {digest}")
        partial.chmod(0o755)
        os.replace(partial, dest)
    finally:
        partial.unlink(missing_ok=True)
