"""A real Kubernetes control plane (etcd + kube-apiserver 1.20.2) on loopback, for specc's test suite.

Takes: nothing but the machine. `ensure_binaries()` returns the paths of a kube-apiserver and an etcd
binary, installing/building them once per machine into a cache outside the repository
(`$SPECC_CACHE_DIR`, else `${XDG_CACHE_HOME:-~/.cache}/specc`); `$SPECC_KUBE_APISERVER` and
`$SPECC_ETCD` point it at existing binaries instead. On Debian it apt-installs etcd-server and the
build tools, adds a deb-src entry derived from the machine's own apt sources, builds kube-apiserver
from the Debian `kubernetes` source package (with the vendored reflect2 fixed for Go >= 1.18, see
`patch_reflect2_for_go118`) and drops the build tree afterwards.

Returns: a `ControlPlane` (context manager) that runs etcd and kube-apiserver on free loopback
ports with fresh temporary data, exposing a kubeconfig path, the server URL and two bearer tokens:
`admin` (group system:masters) and `restricted` (no groups, so RBAC forbids it nearly everything:
403 on any list). No controller-manager runs: objects are stored and validated, never reconciled.
`install_crds()` installs the serving CRDs (the shared upstream ones, or small schemaless stand-ins
for the same kinds) and waits until they are served.

Must not: leave processes or temp dirs behind (stop() and an atexit hook end exactly the
processes it started), touch the repository tree, hard-code an apt mirror, or use the `kubernetes`
Python client (that belongs to specc's own cluster module; this module speaks plain HTTP so that a
bug there cannot hide behind the fixture). It prints progress to stderr only for the slow steps.

CLI: `python -m specc.testing.controlplane install` (binaries only) and
`python -m specc.testing.controlplane up` (start, install CRDs, print KUBECONFIG, run until Ctrl-C).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

import yaml

KUBE_VERSION = "1.20.2"
"""The kube-apiserver version that `ensure_binaries()` builds (the one Debian bookworm packages)."""

ADMIN_USER = "admin"
RESTRICTED_USER = "restricted"

_ENV_CACHE = "SPECC_CACHE_DIR"
_ENV_APISERVER = "SPECC_KUBE_APISERVER"
_ENV_ETCD = "SPECC_ETCD"
_ENV_SHARED_CRDS = "SPECC_SHARED_CRDS"

_APT_DIR = Path("/etc/apt")
_DEB_SRC_NAME = "specc-deb-src"
_CRD_API = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
_STOP_TIMEOUT = 10.0
_LOG_TAIL_LINES = 40


class ControlPlaneError(RuntimeError):
    """The control plane (or its binaries) could not be provided; the message says why and what to do."""


class _PortInUseError(ControlPlaneError):
    """A picked port was taken between picking and binding; start() retries with new ports."""


@dataclass(frozen=True)
class Binaries:
    kube_apiserver: Path
    etcd: Path


class ApiResponse(NamedTuple):
    status: int
    body: Any
    """Decoded JSON; the raw text when the body is not JSON; None when it is empty."""


def _progress(message: str) -> None:
    print(f"[specc controlplane] {message}", file=sys.stderr, flush=True)


def _tail(text: str, lines: int = _LOG_TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-lines:])


# klog fatal lines ("F1121 18:16:14...") and Go crashes: a crash's cause sits above a stack trace far
# longer than any tail, so such lines are quoted on their own.
_FATAL_LINE = re.compile(r"^(F\d{4} |panic: |fatal error: )")


def _file_tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    fatal = [line for line in text.splitlines() if _FATAL_LINE.match(line)][:5]
    quoted = "".join(f"{line}\n" for line in fatal)
    return f"{quoted}...\n{_tail(text, lines)}" if quoted else _tail(text, lines)


# --------------------------------------------------------------------------------------------------
# Binaries


def cache_dir() -> Path:
    """Where built binaries live: outside the repo so that one build serves every checkout."""
    explicit = os.environ.get(_ENV_CACHE)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "specc"


def kube_apiserver_cache_path() -> Path:
    # Keyed by version so that a future version bump builds next to, not over, the old binary.
    return cache_dir() / f"kube-apiserver-{KUBE_VERSION}" / "kube-apiserver"


# Written next to the cached binary once a build succeeds. A binary without it (copied in by hand,
# or built before the reflect2 fix) crashes on custom resources, so it is rebuilt instead of used.
_BUILD_ID = f"kubernetes {KUBE_VERSION} (Debian source) + reflect2 Go 1.18 map iteration fix\n"


def _build_marker(binary: Path) -> Path:
    return binary.with_name(f"{binary.name}.build-id")


def _cached_build_ok(binary: Path) -> bool:
    try:
        return binary.is_file() and _build_marker(binary).read_text() == _BUILD_ID
    except OSError:
        return False


def _explicit_binary(env_name: str) -> Path | None:
    value = os.environ.get(env_name)
    if not value:
        return None
    path = Path(value).expanduser()
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise ControlPlaneError(f"${env_name}={value} is not an executable file")
    return path


def _system_etcd() -> Path | None:
    found = shutil.which("etcd")
    if found:
        return Path(found)
    # Debian installs it to /usr/bin, but a non-login PATH (sudo secure_path, cron) may lack it.
    fallback = Path("/usr/bin/etcd")
    return fallback if fallback.is_file() else None


def ensure_binaries() -> Binaries:
    """Return a kube-apiserver and an etcd binary, installing/building what is missing.

    Warm machine: a few stat() calls, no subprocess. Cold machine: apt-get installs etcd-server and
    the build tools and builds kube-apiserver from the Debian source package (~3-4 min on 2 cores).
    """
    explicit_apiserver = _explicit_binary(_ENV_APISERVER)
    apiserver = explicit_apiserver or kube_apiserver_cache_path()
    etcd = _explicit_binary(_ENV_ETCD) or _system_etcd()
    if (explicit_apiserver or _cached_build_ok(apiserver)) and etcd is not None:
        return Binaries(kube_apiserver=apiserver, etcd=etcd)

    # Serialise installers (parallel pytest workers, two shells): apt holds its own lock and fails
    # instead of waiting, and two builds would waste minutes.
    lock_dir = cache_dir()
    lock_dir.mkdir(parents=True, exist_ok=True)
    with (lock_dir / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        apt = _Apt()
        if etcd is None:
            etcd = _system_etcd()
            if etcd is None:
                _progress("installing etcd (apt-get install etcd-server)")
                apt.install(["etcd-server"])
                etcd = _system_etcd()
                if etcd is None:
                    raise ControlPlaneError("etcd-server was installed but no etcd binary was found")
        if explicit_apiserver is None and not _cached_build_ok(apiserver):
            if apiserver.is_file():
                _progress(f"{apiserver} lacks {_build_marker(apiserver).name} (not built here, or built "
                          "without the reflect2 fix, so it would crash on custom resources): rebuilding")
            _build_kube_apiserver(apiserver, apt)
    return Binaries(kube_apiserver=apiserver, etcd=etcd)


class _Apt:
    """apt-get with root (directly or through sudo).

    `apt-get update` runs once per process and again after any apt source file was written: a new
    deb-src entry is useless until apt has fetched its index (a fresh machine has none).
    """

    def __init__(self) -> None:
        self._prefix: list[str] | None = None
        self._updated = False

    def _root_prefix(self) -> list[str]:
        if self._prefix is None:
            if shutil.which("apt-get") is None:
                raise ControlPlaneError(
                    "apt-get not found: the installer only knows Debian/Ubuntu. Provide kube-apiserver "
                    f"{KUBE_VERSION} and etcd yourself and set ${_ENV_APISERVER} and ${_ENV_ETCD}."
                )
            if os.geteuid() == 0:
                self._prefix = []
            else:
                sudo = shutil.which("sudo")
                if sudo is None:
                    raise ControlPlaneError(
                        "installing packages needs root and sudo is not available: run "
                        "`python -m specc.testing.controlplane install` as root, or set "
                        f"${_ENV_APISERVER} and ${_ENV_ETCD} to existing binaries."
                    )
                self._prefix = [sudo]
        return self._prefix

    def run_root(self, argv: Sequence[str], what: str) -> None:
        # `env` rather than the environment dict: sudo would drop DEBIAN_FRONTEND.
        cmd = [*self._root_prefix(), "env", "DEBIAN_FRONTEND=noninteractive", *argv]
        _run_checked(cmd, what)

    def update(self) -> None:
        if not self._updated:
            _progress("apt-get update")
            self.run_root(["apt-get", "update"], "apt-get update")
            self._updated = True

    def install(self, packages: Sequence[str]) -> None:
        self.update()
        self.run_root(["apt-get", "install", "-y", "--no-install-recommends", *packages],
                      f"apt-get install {' '.join(packages)}")

    def write_root_file(self, path: Path, content: str) -> None:
        # Any file under /etc/apt may change what apt can see: the next update() must really run.
        self._updated = False
        if not self._root_prefix():
            path.write_text(content)
            return
        with tempfile.NamedTemporaryFile("w", suffix=path.suffix, delete=False) as tmp:
            tmp.write(content)
        try:
            _run_checked([*self._root_prefix(), "install", "-m", "0644", tmp.name, str(path)],
                         f"writing {path}")
        finally:
            os.unlink(tmp.name)


def _run_checked(cmd: Sequence[str], what: str, *, cwd: Path | None = None,
                 env: dict[str, str] | None = None, log: Path | None = None) -> None:
    """Run a command with its output captured (to `log` if given); raise with the output's tail."""
    if log is None:
        result = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                                text=True, check=False)
        output = result.stdout + result.stderr
        returncode = result.returncode
    else:
        with log.open("w") as out:
            returncode = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                        stderr=subprocess.STDOUT, check=False).returncode
        output = log.read_text(errors="replace")
    if returncode != 0:
        raise ControlPlaneError(f"{what} failed (exit {returncode}):\n{_tail(output)}")


def _deb822_stanzas(text: str) -> list[list[str]]:
    stanzas: list[list[str]] = []
    current: list[str] = []
    for line in text.splitlines():
        if line.strip():
            current.append(line)
        elif current:
            stanzas.append(current)
            current = []
    if current:
        stanzas.append(current)
    return stanzas


def _deb822_types(stanza: list[str]) -> list[str]:
    for line in stanza:
        match = re.match(r"(?i)types:\s*(.*)$", line)
        if match:
            return match.group(1).split()
    return []


def deb_src_entry(apt_dir: Path = _APT_DIR) -> tuple[Path, str] | None:
    """The (file, content) of a deb-src entry mirroring the machine's Debian `deb` sources.

    None when one is already configured (ours, or deb-src in the machine's own Debian source file).
    Derived from the machine's own sources so the build uses whatever mirror/snapshot it is pinned to.
    """
    parts = apt_dir / "sources.list.d"
    if (parts / f"{_DEB_SRC_NAME}.sources").exists() or (parts / f"{_DEB_SRC_NAME}.list").exists():
        return None
    header = "# Written by specc.testing.controlplane so that `apt-get source kubernetes` works.\n"
    deb822 = parts / "debian.sources"
    if deb822.is_file():
        stanzas = _deb822_stanzas(deb822.read_text())
        if any("deb-src" in _deb822_types(stanza) for stanza in stanzas):
            return None
        converted = [
            "\n".join("Types: deb-src" if re.match(r"(?i)types:", line) else line for line in stanza)
            for stanza in stanzas if "deb" in _deb822_types(stanza)
        ]
        if converted:
            return parts / f"{_DEB_SRC_NAME}.sources", header + "\n\n".join(converted) + "\n"
    one_line = apt_dir / "sources.list"
    if one_line.is_file():
        lines = [line.strip() for line in one_line.read_text().splitlines()]
        if any(line.startswith("deb-src ") for line in lines):
            return None
        converted = ["deb-src " + line.removeprefix("deb ") for line in lines if line.startswith("deb ")]
        if converted:
            return parts / f"{_DEB_SRC_NAME}.list", header + "\n".join(converted) + "\n"
    raise ControlPlaneError(
        f"no Debian apt source found in {deb822} or {one_line}; add a deb-src entry by hand so that "
        f"`apt-get source kubernetes` works, or set ${_ENV_APISERVER} to a kube-apiserver {KUBE_VERSION}"
    )


# --- reflect2 fix -----------------------------------------------------------------------------------
# Kubernetes 1.20 vendors github.com/modern-go/reflect2 v1.0.1, which links to reflect.mapiterinit
# with its pre-Go-1.18 signature (returning a *hiter). Built with Debian bookworm's Go 1.19, the
# apiserver then dies with SIGSEGV ("unexpected fault address 0x0" in aeshashbody) whenever
# json-iterator walks a map, e.g. on the first create of any custom resource. reflect2 v1.0.2 fixed
# it by passing a caller-allocated, full-size hiter; these edits are exactly that fix.
_REFLECT2_DIR = "vendor/github.com/modern-go/reflect2"
_REFLECT2_OLD_MAPITERINIT = """// m escapes into the return value, but the caller of mapiterinit
// doesn't let the return value escape.
//go:noescape
//go:linkname mapiterinit reflect.mapiterinit
func mapiterinit(rtype unsafe.Pointer, m unsafe.Pointer) *hiter

"""
# Matched loosely: its field comments are longer than this file's line limit.
_REFLECT2_OLD_HITER = re.compile(
    r"type hiter struct \{\n\tkey +unsafe\.Pointer[^\n]*\n\tvalue +unsafe\.Pointer[^\n]*\n"
    r"\t// rest fields are ignored\n\}\n"
)
# The Go 1.18/1.19 runtime's hiter layout (bookworm ships 1.19): the caller now allocates it, so
# it must be full size; the pointer fields keep the GC scanning it correctly.
_REFLECT2_NEW_HITER = """type hiter struct {
	key         unsafe.Pointer
	value       unsafe.Pointer
	t           unsafe.Pointer
	h           unsafe.Pointer
	buckets     unsafe.Pointer
	bptr        unsafe.Pointer
	overflow    *[]unsafe.Pointer
	oldoverflow *[]unsafe.Pointer
	startBucket uintptr
	offset      uint8
	wrapped     bool
	B           uint8
	i           uint8
	bucket      uintptr
	checkBucket uintptr
}
"""
_REFLECT2_OLD_ITERATE = """func (type2 *UnsafeMapType) UnsafeIterate(obj unsafe.Pointer) MapIterator {
	return &UnsafeMapIterator{
		hiter:      mapiterinit(type2.rtype, *(*unsafe.Pointer)(obj)),
		pKeyRType:  type2.pKeyRType,
		pElemRType: type2.pElemRType,
	}
}
"""
_REFLECT2_GO118_FILES = {
    "go_above_118.go": """//go:build go1.18
// +build go1.18

package reflect2

import (
	"unsafe"
)

//go:noescape
//go:linkname mapiterinit reflect.mapiterinit
func mapiterinit(rtype unsafe.Pointer, m unsafe.Pointer, it *hiter)

func (type2 *UnsafeMapType) UnsafeIterate(obj unsafe.Pointer) MapIterator {
	var it hiter
	mapiterinit(type2.rtype, *(*unsafe.Pointer)(obj), &it)
	return &UnsafeMapIterator{
		hiter:      &it,
		pKeyRType:  type2.pKeyRType,
		pElemRType: type2.pElemRType,
	}
}
""",
    "go_below_118.go": """//go:build !go1.18
// +build !go1.18

package reflect2

import (
	"unsafe"
)

// m escapes into the return value, but the caller of mapiterinit
// doesn't let the return value escape.
//go:noescape
//go:linkname mapiterinit reflect.mapiterinit
func mapiterinit(rtype unsafe.Pointer, m unsafe.Pointer) *hiter

func (type2 *UnsafeMapType) UnsafeIterate(obj unsafe.Pointer) MapIterator {
	return &UnsafeMapIterator{
		hiter:      mapiterinit(type2.rtype, *(*unsafe.Pointer)(obj)),
		pKeyRType:  type2.pKeyRType,
		pElemRType: type2.pElemRType,
	}
}
""",
}


def patch_reflect2_for_go118(tree: Path) -> bool:
    """Apply reflect2 v1.0.2's Go 1.18 map-iteration fix to a Kubernetes source tree's vendor dir.

    Returns False when the tree already has it. Raises when the vendored files are neither the
    known v1.0.1 text nor already fixed, since building anyway would yield a crashing apiserver.
    """
    reflect2 = tree / _REFLECT2_DIR
    if (reflect2 / "go_above_118.go").exists():
        return False
    link, unsafe_map = reflect2 / "unsafe_link.go", reflect2 / "unsafe_map.go"
    link_text, map_text = link.read_text(), unsafe_map.read_text()
    known = (link_text.count(_REFLECT2_OLD_MAPITERINIT) == 1 and map_text.count(_REFLECT2_OLD_ITERATE) == 1
             and len(_REFLECT2_OLD_HITER.findall(link_text)) == 1)
    if not known:
        raise ControlPlaneError(
            f"{reflect2} is not the reflect2 v1.0.1 this build knows how to fix for Go >= 1.18; "
            f"set ${_ENV_APISERVER} to a working kube-apiserver {KUBE_VERSION} instead"
        )
    link_text = link_text.replace(_REFLECT2_OLD_MAPITERINIT, "")
    link.write_text(_REFLECT2_OLD_HITER.sub(lambda _match: _REFLECT2_NEW_HITER, link_text))
    unsafe_map.write_text(map_text.replace(_REFLECT2_OLD_ITERATE, ""))
    for name, content in _REFLECT2_GO118_FILES.items():
        (reflect2 / name).write_text(content)
    return True


def _build_kube_apiserver(dest: Path, apt: _Apt) -> None:
    entry = deb_src_entry()
    if entry is not None:
        path, content = entry
        _progress(f"adding apt source entries for Debian source packages: {path}")
        apt.write_root_file(path, content)
    # The tools the Debian source tree's Makefile needs; installed only when absent.
    tools = {"go": "golang-go", "rsync": "rsync", "dpkg-source": "dpkg-dev", "make": "make"}
    missing = [package for tool, package in tools.items() if shutil.which(tool) is None]
    # A fresh deb-src entry is useless until apt has fetched its index, even if nothing is missing.
    apt.update()
    if missing:
        _progress(f"installing build tools: {' '.join(missing)}")
        apt.install(missing)

    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="build-kube-apiserver-", dir=cache_dir()))
    # apt-get source as root drops privileges to `_apt` for the download when it can read the dir.
    work.chmod(0o755)
    try:
        _progress(f"downloading the Debian kubernetes source package into {work}")
        _run_checked(["apt-get", "source", "kubernetes"], "apt-get source kubernetes", cwd=work,
                     log=work / "apt-source.log")
        trees = [path for path in work.glob("kubernetes-*") if path.is_dir()]
        if len(trees) != 1:
            raise ControlPlaneError(f"expected one kubernetes-* source tree in {work}, found {trees}")
        tree = trees[0]
        if patch_reflect2_for_go118(tree):
            _progress("patched vendored reflect2 for Go >= 1.18 map iteration (see patch_reflect2_for_go118)")
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
        _progress(f"building kube-apiserver {KUBE_VERSION} from {tree.name} (~3-4 minutes on 2 cores)")
        started = time.monotonic()
        _run_checked(["make", "WHAT=cmd/kube-apiserver"], "make WHAT=cmd/kube-apiserver", cwd=tree,
                     env=env, log=work / "make.log")
        built = sorted(tree.glob("_output/local/bin/*/*/kube-apiserver"))
        if not built:
            raise ControlPlaneError(f"make succeeded but no kube-apiserver under {tree}/_output/local/bin")
        version = subprocess.run([str(built[0]), "--version"], capture_output=True, text=True,
                                 check=False).stdout.strip()
        if f"v{KUBE_VERSION}" not in version.split():
            raise ControlPlaneError(
                f"the Debian source package built {version!r}, not Kubernetes v{KUBE_VERSION}; "
                f"set ${_ENV_APISERVER} to a kube-apiserver {KUBE_VERSION} binary instead"
            )
        # Copy under a temporary name, then rename: readers never see a half-written binary.
        partial = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
        shutil.copy2(built[0], partial)
        partial.chmod(0o755)
        os.replace(partial, dest)
        marker = _build_marker(dest)
        partial_marker = marker.with_name(f".{marker.name}.partial-{os.getpid()}")
        partial_marker.write_text(_BUILD_ID)
        os.replace(partial_marker, marker)
        _progress(f"built {version} in {time.monotonic() - started:.0f}s: {dest}")
    finally:
        _progress(f"removing the build tree {work}")
        _remove_tree(work)


def _remove_tree(path: Path) -> None:
    """rmtree that also removes read-only directories (Go makes its module cache read-only)."""

    def make_writable_and_retry(function: Callable[..., Any], target: str, _exc: object) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(target), 0o755)
            function(target)

    shutil.rmtree(path, onerror=make_writable_and_retry)


# --------------------------------------------------------------------------------------------------
# CRDs


def default_crd_dir() -> Path:
    """`$SPECC_SHARED_CRDS`, else `shared/crds` next to the repository checkout."""
    explicit = os.environ.get(_ENV_SHARED_CRDS)
    if explicit:
        return Path(explicit).expanduser()
    repo_root = Path(__file__).resolve().parents[2]
    return repo_root.parent / "shared" / "crds"


# Directories named `<family>-<version>` (kserve-0.15, kserve-0.20) hold the same CRD names in
# different versions; `seldon-core-v1`/`seldon-core-v2` are different products, not versions.
_VERSIONED_DIR = re.compile(r"^(?P<family>.+?)-(?P<version>\d+(?:\.\d+)*)$")


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def select_crd_files(crd_dir: Path, *, kserve_version: str | None = None) -> list[Path]:
    """The CRD files to install: everything, but only one version directory per family (the newest,
    or `kserve-<kserve_version>` for KServe), since the apiserver keeps one definition per name."""
    if not crd_dir.is_dir():
        raise ControlPlaneError(f"CRD directory {crd_dir} does not exist")
    families: dict[str, dict[str, Path]] = {}
    roots: list[Path] = []
    for child in sorted(crd_dir.iterdir()):
        match = _VERSIONED_DIR.match(child.name) if child.is_dir() else None
        if match:
            families.setdefault(match["family"], {})[match["version"]] = child
        else:
            roots.append(child)
    for family, versions in families.items():
        if family == "kserve" and kserve_version is not None:
            if kserve_version not in versions:
                raise ControlPlaneError(
                    f"no kserve-{kserve_version} in {crd_dir} (have: {', '.join(sorted(versions))})"
                )
            roots.append(versions[kserve_version])
        else:
            roots.append(versions[max(versions, key=_version_key)])
    if kserve_version is not None and "kserve" not in families:
        raise ControlPlaneError(f"kserve_version={kserve_version!r} given but {crd_dir} has no kserve-* dir")
    files: list[Path] = []
    for root in sorted(roots):
        if root.is_dir():
            files.extend(sorted(path for path in root.rglob("*") if path.suffix in (".yaml", ".yml")))
        elif root.suffix in (".yaml", ".yml"):
            files.append(root)
    return files


def strip_empty_string_defaults(text: str) -> str:
    """Drop every line that is exactly `default: ""`.

    kube-apiserver 1.20 rejects such CRDs (KServe, Seldon Core v2, Yatai): its CRD validation sees
    the empty-string default as null ("...properties[name].default: Invalid value: "null": in body
    must be of type string"); newer servers accept them. Only that defaulting is lost, which specc
    does not rely on: it writes the fields it means.
    """
    return "".join(line for line in text.splitlines(keepends=True) if line.strip() != 'default: ""')


def _yaml_documents(text: str) -> Iterator[dict[str, Any]]:
    # The C loader when present: the KServe/Seldon CRDs are 1-2 MB each and the pure-Python loader
    # takes several seconds for them.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for doc in yaml.load_all(text, Loader=loader):
        if isinstance(doc, dict):
            yield doc


# (group, version, kind, plural, scope, short names) for the stand-ins used when no shared CRDs exist.
_MINIMAL_KINDS: tuple[tuple[str, str, str, str, str, tuple[str, ...]], ...] = (
    ("serving.kserve.io", "v1beta1", "InferenceService", "inferenceservices", "Namespaced", ("isvc",)),
    ("serving.kserve.io", "v1alpha1", "ServingRuntime", "servingruntimes", "Namespaced", ()),
    ("serving.kserve.io", "v1alpha1", "ClusterServingRuntime", "clusterservingruntimes", "Cluster", ()),
    ("machinelearning.seldon.io", "v1", "SeldonDeployment", "seldondeployments", "Namespaced", ("sdep",)),
    ("mlops.seldon.io", "v1alpha1", "Model", "models", "Namespaced", ("mlm",)),
    ("mlops.seldon.io", "v1alpha1", "Server", "servers", "Namespaced", ("mls",)),
    ("mlops.seldon.io", "v1alpha1", "Experiment", "experiments", "Namespaced", ("mlx",)),
    ("serving.yatai.ai", "v2alpha1", "BentoDeployment", "bentodeployments", "Namespaced", ()),
    ("resources.yatai.ai", "v1alpha1", "Bento", "bentoes", "Namespaced", ()),
    ("resources.yatai.ai", "v1alpha1", "BentoRequest", "bentorequests", "Namespaced", ()),
)


def minimal_crds() -> list[dict[str, Any]]:
    """Schemaless CRDs for every kind specc emits: the API accepts any spec, so only specc's own
    validation (not the upstream schema) is exercised when the shared CRDs are absent."""
    crds: list[dict[str, Any]] = []
    for group, version, kind, plural, scope, short_names in _MINIMAL_KINDS:
        names: dict[str, Any] = {"kind": kind, "listKind": f"{kind}List", "plural": plural,
                                 "singular": kind.lower()}
        if short_names:
            names["shortNames"] = list(short_names)
        crds.append({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}", "labels": {"specc.dev/minimal-crd": "true"}},
            "spec": {
                "group": group,
                "names": names,
                "scope": scope,
                "versions": [{
                    "name": version,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object",
                                                   "x-kubernetes-preserve-unknown-fields": True}},
                    "subresources": {"status": {}},
                }],
            },
        })
    return crds


# --------------------------------------------------------------------------------------------------
# Control plane


def _free_ports(count: int) -> list[int]:
    # Hold every socket until all are picked so the ports are distinct; another process can still
    # take one before etcd/apiserver bind it, which start() detects and retries.
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


_DATA_DIR_PREFIX = "specc-controlplane-"
_OWNER_FILE = "owner.pid"


def _sweep_stale_data_dirs() -> None:
    """Delete data dirs left by test processes that were killed outright (no atexit, no stop()).

    Only dirs carrying our owner file whose process no longer exists; a live owner's are kept.
    """
    for candidate in Path(tempfile.gettempdir()).glob(f"{_DATA_DIR_PREFIX}*"):
        try:
            owner = int((candidate / _OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        try:
            os.kill(owner, 0)
        except ProcessLookupError:
            shutil.rmtree(candidate, ignore_errors=True)
        except PermissionError:
            continue


def _insecure_ssl_context() -> ssl.SSLContext:
    # The apiserver serves a self-signed certificate it generates at start-up into --cert-dir.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def _message(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("message") or body)
    return str(body)[:2000]


class ControlPlane:
    """etcd + kube-apiserver on loopback. Use as `with ControlPlane() as cp: ...` or start()/stop().

    Each instance gets its own ports, data directory and tokens, so several may run side by side.
    """

    def __init__(self, binaries: Binaries | None = None, *, ready_timeout: float = 60.0) -> None:
        self._binaries = binaries
        self._ready_timeout = ready_timeout
        self._ssl = _insecure_ssl_context()
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._data_dir: Path | None = None
        self._server: str | None = None
        self._kubeconfig: Path | None = None
        self._version: str | None = None
        self._admin_token = ""
        self._restricted_token = ""
        self._atexit_registered = False
        self.crds_source: str | None = None
        """Either "shared" or "minimal" once install_crds() ran, else None."""
        self.installed_crds: list[str] = []
        """Names of the CRDs install_crds() created or found present."""

    # -- lifecycle ---------------------------------------------------------------------------------

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    def start(self) -> ControlPlane:
        """Start etcd and kube-apiserver and wait until the apiserver is ready; returns self."""
        if self._procs or self._data_dir is not None:
            raise ControlPlaneError("control plane already started")
        binaries = self._binaries or ensure_binaries()
        if not self._atexit_registered:
            # A test session that crashes, or forgets stop(), still ends the processes on exit.
            atexit.register(self.stop)
            self._atexit_registered = True
        for attempt in range(3):
            try:
                self._start_once(binaries)
                return self
            except _PortInUseError:
                self._teardown()
                if attempt == 2:
                    raise
            except BaseException:
                self._teardown()
                raise
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """End the processes this instance started and delete its data; safe to call repeatedly."""
        self._teardown()
        if self._atexit_registered:
            atexit.unregister(self.stop)
            self._atexit_registered = False

    def _teardown(self) -> None:
        # The apiserver first: stopping etcd under it makes it log errors and retry for seconds.
        for name in ("kube-apiserver", "etcd"):
            proc = self._procs.pop(name, None)
            if proc is None:
                continue
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=_STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self._procs.clear()
        if self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
            self._data_dir = None
        self._server = None
        self._kubeconfig = None
        self._version = None

    def _start_once(self, binaries: Binaries) -> None:
        started = time.monotonic()
        deadline = started + self._ready_timeout
        _sweep_stale_data_dirs()
        data = Path(tempfile.mkdtemp(prefix=_DATA_DIR_PREFIX))
        self._data_dir = data
        (data / _OWNER_FILE).write_text(f"{os.getpid()}\n")
        etcd_port, peer_port, api_port = _free_ports(3)
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        self._spawn("etcd", [
            str(binaries.etcd),
            "--name=specc",
            f"--data-dir={data / 'etcd'}",
            f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=specc={peer_url}",
            "--initial-cluster-state=new",
            # Headroom: the Seldon v1 CRD is stored at ~1.0 MB, near etcd's default 1.5 MiB request
            # limit, which a newer upstream CRD could cross.
            "--max-request-bytes=16777216",
        ])
        self._wait_until(deadline, "etcd /health", lambda: self._etcd_healthy(etcd_url))

        self._admin_token = secrets.token_hex(16)
        self._restricted_token = secrets.token_hex(16)
        # Token file columns: token,user,uid,"groups". The restricted user has no groups, so RBAC
        # allows it only what every authenticated user may do (discovery, self-reviews).
        (data / "tokens.csv").write_text(
            f'{self._admin_token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n'
            f"{self._restricted_token},{RESTRICTED_USER},{RESTRICTED_USER}\n"
        )
        (data / "tokens.csv").chmod(0o600)
        sa_key = data / "service-account.key"
        _generate_rsa_key(sa_key)

        self._server = f"https://127.0.0.1:{api_port}"
        self._spawn("kube-apiserver", [
            str(binaries.kube_apiserver),
            f"--etcd-servers={etcd_url}",
            f"--secure-port={api_port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--cert-dir={data / 'certs'}",
            f"--token-auth-file={data / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            "--service-cluster-ip-range=10.0.0.0/16",
            f"--service-account-key-file={sa_key}",
            f"--service-account-signing-key-file={sa_key}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--allow-privileged=false",
            # No controller-manager runs, so no namespace ever gets its `default` ServiceAccount;
            # the ServiceAccount admission plugin would then reject every Pod.
            "--disable-admission-plugins=ServiceAccount",
            "--profiling=false",
        ])
        self._wait_until(deadline, "kube-apiserver /readyz", lambda: self._get_status("/readyz") == 200)
        # /readyz does not cover the bootstrap controller creating the `default` namespace.
        self._wait_until(deadline, "namespace default",
                         lambda: self._get_status("/api/v1/namespaces/default") == 200)
        version = self.request("GET", "/version").body
        git_version = version.get("gitVersion", "") if isinstance(version, dict) else ""
        self._version = git_version.removeprefix("v").split("-")[0].split("+")[0] or None
        self._kubeconfig = data / "kubeconfig"
        self._write_kubeconfig(self._kubeconfig)
        self._kubeconfig.chmod(0o600)
        _progress(f"control plane ready at {self._server} in {time.monotonic() - started:.1f}s")

    def _spawn(self, name: str, argv: list[str]) -> None:
        assert self._data_dir is not None
        # pdeathsig: if the test process is killed outright (SIGKILL, OOM) the kernel sends SIGTERM
        # to the children, which atexit cannot do. The signal follows the *thread* that forked, so
        # it is only armed from the main thread, whose end is the process's end.
        setpriv = shutil.which("setpriv")
        if setpriv and threading.current_thread() is threading.main_thread():
            argv = [setpriv, "--pdeathsig", "TERM", "--", *argv]
        with (self._data_dir / f"{name}.log").open("wb") as log:
            # Own session: a Ctrl-C in the terminal reaches only us, and we stop them in order.
            self._procs[name] = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                                 stderr=subprocess.STDOUT, start_new_session=True)

    def _log_path(self, name: str) -> Path:
        assert self._data_dir is not None
        return self._data_dir / f"{name}.log"

    def check_alive(self) -> None:
        """Raise ControlPlaneError (with the log tail) if etcd or kube-apiserver has exited."""
        for name, proc in self._procs.items():
            code = proc.poll()
            if code is not None:
                log = _file_tail(self._log_path(name))
                error = _PortInUseError if "address already in use" in log else ControlPlaneError
                raise error(f"{name} exited with code {code}; last lines of its log:\n{log}")

    def _wait_until(self, deadline: float, what: str, probe: Callable[[], bool]) -> None:
        delay = 0.05
        while True:
            self.check_alive()
            with contextlib.suppress(OSError):
                if probe():
                    return
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- {name} log (tail) ---\n{_file_tail(self._log_path(name))}"
                                 for name in self._procs)
                raise ControlPlaneError(
                    f"timed out after {self._ready_timeout:.0f}s waiting for {what}\n{logs}"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.25)

    @staticmethod
    def _etcd_healthy(url: str) -> bool:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return bool(json.loads(response.read()).get("health") == "true")

    def _get_status(self, path: str) -> int:
        return self.request("GET", path, timeout=5).status

    def _write_kubeconfig(self, path: Path) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "specc", "cluster": {"server": self.server, "insecure-skip-tls-verify": True}},
            ],
            "users": [
                {"name": ADMIN_USER, "user": {"token": self._admin_token}},
                {"name": RESTRICTED_USER, "user": {"token": self._restricted_token}},
            ],
            "contexts": [
                {"name": ADMIN_USER, "context": {"cluster": "specc", "user": ADMIN_USER}},
                {"name": RESTRICTED_USER, "context": {"cluster": "specc", "user": RESTRICTED_USER}},
            ],
            "current-context": ADMIN_USER,
            "preferences": {},
        }
        path.write_text(yaml.safe_dump(config, sort_keys=False))

    # -- properties --------------------------------------------------------------------------------

    def _require(self, value: Any, what: str) -> Any:
        if value is None:
            raise ControlPlaneError(f"control plane not started: no {what}")
        return value

    @property
    def running(self) -> bool:
        return bool(self._procs) and all(proc.poll() is None for proc in self._procs.values())

    @property
    def server(self) -> str:
        return str(self._require(self._server, "server"))

    @property
    def kubeconfig(self) -> Path:
        return Path(self._require(self._kubeconfig, "kubeconfig"))

    @property
    def data_dir(self) -> Path:
        return Path(self._require(self._data_dir, "data dir"))

    @property
    def admin_token(self) -> str:
        return str(self._require(self._admin_token or None, "admin token"))

    @property
    def restricted_token(self) -> str:
        return str(self._require(self._restricted_token or None, "restricted token"))

    @property
    def version(self) -> str:
        """The server's version without the leading v, e.g. "1.20.2"."""
        return str(self._require(self._version, "version"))

    @property
    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self._procs.items()}

    # -- API ---------------------------------------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None, *, token: str | None = None,
                content_type: str = "application/json", timeout: float = 30.0) -> ApiResponse:
        """One HTTP call to the apiserver as admin (or as `token`). HTTP errors are returned, not raised.

        `body`: bytes/str are sent as they are (with `content_type`), anything else as JSON.
        """
        data: bytes | None
        if body is None:
            data = None
        elif isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = json.dumps(body).encode()
        request = urllib.request.Request(f"{self.server}{path}", data=data, method=method)
        request.add_header("Authorization", f"Bearer {token or self._admin_token}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=self._ssl) as response:
                return ApiResponse(response.status, _decode(response.read()))
        except urllib.error.HTTPError as error:
            return ApiResponse(error.code, _decode(error.read()))

    def create_namespace(self, name: str) -> None:
        """Create namespace `name`; an existing one is fine."""
        response = self.request("POST", "/api/v1/namespaces",
                                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        if response.status not in (201, 409):
            raise ControlPlaneError(
                f"creating namespace {name}: HTTP {response.status}: {_message(response.body)}"
            )

    def install_crds(self, crd_dir: Path | None = None, *, kserve_version: str | None = None,
                     minimal: bool = False, timeout: float = 60.0) -> list[str]:
        """Install the serving CRDs and wait until they are served; returns their names.

        `crd_dir` None: `default_crd_dir()`, falling back to the minimal stand-ins when it does not
        exist. An explicit `crd_dir` (or $SPECC_SHARED_CRDS) that does not exist is an error, so a
        typo cannot silently downgrade the tests. `minimal=True` forces the stand-ins.
        `kserve_version` picks `kserve-<version>` when several are present (default: the newest).
        Sets `crds_source` to "shared" or "minimal".
        """
        started = time.monotonic()
        if crd_dir is None and not minimal:
            crd_dir = default_crd_dir()
            if not crd_dir.is_dir() and not os.environ.get(_ENV_SHARED_CRDS):
                minimal = True
        crds: Iterator[tuple[dict[str, Any], str]]
        if minimal:
            crds = ((crd, "specc's minimal CRDs") for crd in minimal_crds())
            source = "minimal"
        else:
            assert crd_dir is not None
            crds = _shared_crds(select_crd_files(crd_dir, kserve_version=kserve_version))
            source = "shared"
        # One worker posts while this thread parses the next multi-megabyte file: the C YAML loader
        # holds the GIL, the HTTP wait does not, and the apiserver digests each CRD meanwhile.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="specc-crds") as pool:
            futures = [pool.submit(self._create_crd, crd, origin) for crd, origin in crds]
            refs = [future.result() for future in futures]
        self._wait_crds_served(refs, time.monotonic() + timeout)
        names = [ref.name for ref in refs]
        self.crds_source = source
        self.installed_crds = sorted(set(self.installed_crds) | set(names))
        _progress(f"installed {len(names)} {source} CRDs in {time.monotonic() - started:.1f}s")
        return names

    def _create_crd(self, crd: dict[str, Any], origin: str) -> _CrdRef:
        ref = _CrdRef.of(crd, origin)
        # A plain create (POST), never client-side apply: that would copy the whole 1-2 MB object into
        # the last-applied annotation, which exceeds the 256 KiB annotation limit. 409: already there
        # (an earlier install_crds call); it is left as it is.
        response = self.request("POST", _CRD_API, crd, timeout=120)
        if response.status in (200, 201, 409):
            return ref
        raise ControlPlaneError(f"creating CRD {ref.name} from {origin}: "
                                f"HTTP {response.status}: {_message(response.body)}")

    def _wait_crds_served(self, refs: list[_CrdRef], deadline: float) -> None:
        """Wait until each CRD is Established and its storage version answers a list request.

        Polls API discovery, which lists a resource only once its CRD is Established and is cheap,
        unlike GETs of the 1-2 MB CRD objects, which would steal the apiserver's CPU from the very
        work being waited for. Each CRD is then checked once: list request, and Established=True.
        """
        pending = {ref.name: ref for ref in refs}
        while True:
            discovered: dict[str, set[str]] = {}
            for ref in list(pending.values()):
                group_version = f"{ref.group}/{ref.version}"
                if group_version not in discovered:
                    discovery = self.request("GET", f"/apis/{group_version}").body
                    resources = discovery.get("resources", []) if isinstance(discovery, dict) else []
                    discovered[group_version] = {resource.get("name") for resource in resources}
                if ref.plural in discovered[group_version] and self._crd_ready(ref):
                    del pending[ref.name]
            if not pending:
                return
            if time.monotonic() > deadline:
                raise ControlPlaneError(
                    f"CRDs not Established and served in time: {', '.join(sorted(pending))}"
                )
            time.sleep(0.1)

    def _crd_ready(self, ref: _CrdRef) -> bool:
        listing = self.request("GET", f"/apis/{ref.group}/{ref.version}/{ref.plural}?limit=1")
        if listing.status != 200:
            return False
        crd = self.request("GET", f"{_CRD_API}/{ref.name}").body
        conditions = (crd.get("status", {}).get("conditions") or []) if isinstance(crd, dict) else []
        return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


class _CrdRef(NamedTuple):
    name: str
    group: str
    version: str
    """The storage version: the one every CRD is sure to serve."""
    plural: str

    @classmethod
    def of(cls, crd: dict[str, Any], origin: str) -> _CrdRef:
        try:
            spec = crd["spec"]
            versions = spec["versions"]
            version = next((v["name"] for v in versions if v.get("storage")), versions[0]["name"])
            return cls(str(crd["metadata"]["name"]), str(spec["group"]), str(version),
                       str(spec["names"]["plural"]))
        except (KeyError, IndexError, TypeError) as error:
            raise ControlPlaneError(f"malformed CRD in {origin}: missing {error}") from None


def _shared_crds(files: list[Path]) -> Iterator[tuple[dict[str, Any], str]]:
    for path in files:
        for doc in _yaml_documents(strip_empty_string_defaults(path.read_text())):
            # Only CRDs: the files are meant for a CRD install, nothing else belongs in the cluster.
            if doc.get("kind") == "CustomResourceDefinition":
                yield doc, str(path)


def _generate_rsa_key(path: Path) -> None:
    """An RSA key for signing/verifying service-account tokens (required flags since 1.20)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise ControlPlaneError("the openssl command is needed to generate the service-account key "
                                "(Debian: apt-get install openssl)")
    _run_checked([openssl, "genrsa", "-out", str(path), "2048"], "openssl genrsa")


# --------------------------------------------------------------------------------------------------
# CLI


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m specc.testing.controlplane", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("install", help="install/build etcd and kube-apiserver into the cache, then exit")
    up = commands.add_parser("up", help="start a control plane with CRDs and run until Ctrl-C")
    up.add_argument("--crds", type=Path, default=None, help="CRD directory (default: shared/crds)")
    up.add_argument("--minimal-crds", action="store_true", help="install the schemaless stand-in CRDs")
    up.add_argument("--no-crds", action="store_true", help="install no CRDs")
    up.add_argument("--kserve-version", default=None, help="which kserve-<version> CRD dir to use")
    args = parser.parse_args(argv)

    try:
        if args.command == "install":
            binaries = ensure_binaries()
            print(f"kube-apiserver: {binaries.kube_apiserver}\netcd: {binaries.etcd}")
            return 0
        return _up(args)
    except ControlPlaneError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _up(args: argparse.Namespace) -> int:
    # SIGTERM (e.g. from a CI runner) should stop the children as cleanly as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    # A shell starts background jobs with SIGINT ignored, and Python keeps it that way; `kill -INT`
    # must still stop `up` as Ctrl-C does.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with ControlPlane() as control_plane:
            if not args.no_crds:
                control_plane.install_crds(args.crds, kserve_version=args.kserve_version,
                                           minimal=args.minimal_crds)
            print(f"server:     {control_plane.server} (Kubernetes v{control_plane.version})")
            print(f"crds:       {control_plane.crds_source or 'none'}")
            print(f"kubeconfig: {control_plane.kubeconfig} (contexts: {ADMIN_USER}, {RESTRICTED_USER})")
            print(f"export KUBECONFIG={control_plane.kubeconfig}", flush=True)
            while True:
                control_plane.check_alive()
                time.sleep(0.5)
    except KeyboardInterrupt:
        # The with-block has stopped the processes by now.
        print("stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
