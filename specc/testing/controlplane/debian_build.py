"""kube-apiserver 1.20.2 built from Debian bookworm's `kubernetes` source package, cached per machine.

Takes an `Apt` and a `Runner` (so the order of the steps can be tested with a recording runner);
`prepare_build()` makes the source package fetchable and the build tools present, `build()` fetches,
patches (see `reflect2`), compiles and installs the binary atomically into the cache. Must not leave
the build tree behind (it is ~1 GB) or install a binary that was not built with the reflect2 fix.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from specc.testing.controlplane.apt import APT_DIR, Apt, deb_src_entry
from specc.testing.controlplane.commands import Runner, progress, run_checked
from specc.testing.controlplane.errors import ControlPlaneError
from specc.testing.controlplane.locations import ENV_APISERVER, cache_dir
from specc.testing.controlplane.reflect2 import patch_reflect2_for_go118

KUBE_VERSION = "1.20.2"
"""The kube-apiserver version Debian bookworm packages, built here for the old-cluster checks."""

# Written next to the cached binary once a build succeeds. A binary without it (copied in by hand,
# or built before the reflect2 fix) crashes on custom resources, so it is rebuilt instead of used.
BUILD_ID = f"kubernetes {KUBE_VERSION} (Debian source) + reflect2 Go 1.18 map iteration fix\n"

# The tools the Debian source tree's Makefile needs; installed only when absent.
BUILD_TOOLS = {"go": "golang-go", "rsync": "rsync", "dpkg-source": "dpkg-dev", "make": "make"}


def cache_path() -> Path:
    # Keyed by version so that a version bump builds next to, not over, the old binary.
    return cache_dir() / f"kube-apiserver-{KUBE_VERSION}" / "kube-apiserver"


def build_marker(binary: Path) -> Path:
    return binary.with_name(f"{binary.name}.build-id")


def cached_build_ok(binary: Path) -> bool:
    try:
        return binary.is_file() and build_marker(binary).read_text() == BUILD_ID
    except OSError:
        return False


def prepare_build(apt: Apt, *, apt_dir: Path = APT_DIR,
                  which: Callable[[str], str | None] = shutil.which) -> None:
    """Make `apt-get source kubernetes` work and the build tools present."""
    entry = deb_src_entry(apt_dir)
    if entry is not None:
        path, content = entry
        progress(f"adding apt source entries for Debian source packages: {path}")
        apt.write_root_file(path, content)
    missing = [package for tool, package in BUILD_TOOLS.items() if which(tool) is None]
    # A fresh deb-src entry is useless until apt has fetched its index, even if nothing is missing.
    apt.update()
    if missing:
        progress(f"installing build tools: {' '.join(missing)}")
        apt.install(missing)


def fetch_source(work: Path, run: Runner = run_checked) -> Path:
    """`apt-get source kubernetes` into `work`; returns the unpacked tree."""
    progress(f"downloading the Debian kubernetes source package into {work}")
    run(["apt-get", "source", "kubernetes"], "apt-get source kubernetes", cwd=work, log=work / "apt-source.log")
    trees = [path for path in work.glob("kubernetes-*") if path.is_dir()]
    if len(trees) != 1:
        raise ControlPlaneError(f"expected one kubernetes-* source tree in {work}, found {trees}")
    return trees[0]


def build(dest: Path, apt: Apt, run: Runner = run_checked) -> None:
    prepare_build(apt)
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="build-kube-apiserver-", dir=cache_dir()))
    # apt-get source as root drops privileges to `_apt` for the download when it can read the dir.
    work.chmod(0o755)
    try:
        tree = fetch_source(work, run)
        if patch_reflect2_for_go118(tree):
            progress("patched vendored reflect2 for Go >= 1.18 map iteration (see patch_reflect2_for_go118)")
        env = {
            **os.environ,
            # Everything Go writes goes under the work dir, which is deleted afterwards.
            "HOME": str(work / "home"),
            "GOPATH": str(work / "gopath"),
            "GOCACHE": str(work / "gocache"),
            # providerless drops the in-tree cloud providers: irrelevant here, and their vendored
            # cloud SDKs are a large share of the compile.
            "GOFLAGS": "-tags=providerless",
        }
        progress(f"building kube-apiserver {KUBE_VERSION} from {tree.name} (~3-4 minutes on 2 cores)")
        started = time.monotonic()
        run(["make", "WHAT=cmd/kube-apiserver"], "make WHAT=cmd/kube-apiserver", cwd=tree, env=env,
            log=work / "make.log")
        built = sorted(tree.glob("_output/local/bin/*/*/kube-apiserver"))
        if not built:
            raise ControlPlaneError(f"make succeeded but no kube-apiserver under {tree}/_output/local/bin")
        version = subprocess.run([str(built[0]), "--version"], capture_output=True, text=True,
                                 check=False).stdout.strip()
        if f"v{KUBE_VERSION}" not in version.split():
            raise ControlPlaneError(
                f"the Debian source package built {version!r}, not Kubernetes v{KUBE_VERSION}; "
                f"set ${ENV_APISERVER} to a kube-apiserver {KUBE_VERSION} binary instead"
            )
        # Copy under a temporary name, then rename: readers never see a half-written binary.
        partial = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
        shutil.copy2(built[0], partial)
        partial.chmod(0o755)
        os.replace(partial, dest)
        marker = build_marker(dest)
        partial_marker = marker.with_name(f".{marker.name}.partial-{os.getpid()}")
        partial_marker.write_text(BUILD_ID)
        os.replace(partial_marker, marker)
        progress(f"built {version} in {time.monotonic() - started:.0f}s: {dest}")
    finally:
        progress(f"removing the build tree {work}")
        remove_tree(work)


def remove_tree(path: Path) -> None:
    """rmtree that also removes read-only directories (Go makes its module cache read-only)."""

    def make_writable_and_retry(function: Callable[..., Any], target: str, _exc: object) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(target), 0o755)
            function(target)

    shutil.rmtree(path, onerror=make_writable_and_retry)
