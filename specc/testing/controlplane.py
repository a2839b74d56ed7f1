"""A real Kubernetes control plane (etcd + kube-apiserver 1.20.2) on loopback, for specc's test suite.

Takes: nothing but the machine. `ensure_binaries()` returns the paths of a kube-apiserver and an etcd
binary, installing/building them once per machine into a cache outside the repository
(`$SPECC_CACHE_DIR`, else `${XDG_CACHE_HOME:-~/.cache}/specc`); `$SPECC_KUBE_APISERVER` and
`$SPECC_ETCD` point it at existing binaries instead. On Debian it apt-installs etcd-server and the
build tools, adds a deb-src entry derived from the machine's own apt sources, builds kube-apiserver
from the Debian `kubernetes` source package and drops the build tree afterwards.

Returns: a `ControlPlane` (context manager) that runs etcd and kube-apiserver on free loopback
ports with fresh temporary data, exposing a kubeconfig path, the server URL and two bearer tokens:
`admin` (group system:masters) and `restricted` (no groups, so RBAC forbids it nearly everything).
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


def _file_tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        return _tail(path.read_text(errors="replace"), lines)
    except OSError as exc:
        return f"(cannot read {path}: {exc})"


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
    apiserver = _explicit_binary(_ENV_APISERVER) or kube_apiserver_cache_path()
    etcd = _explicit_binary(_ENV_ETCD) or _system_etcd()
    if apiserver.is_file() and etcd is not None:
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
        if not apiserver.is_file():
            _build_kube_apiserver(apiserver, apt)
    return Binaries(kube_apiserver=apiserver, etcd=etcd)


class _Apt:
    """apt-get with root (directly or through sudo), running `apt-get update` once per process."""

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
        env = {
            **os.environ,
            # Everything Go writes goes under the work dir, which is deleted afterwards.
            "HOME": str(work / "home"),
            "GOPATH": str(work / "gopath"),
            "GOCACHE": str(work / "gocache"),
            # providerless drops the in-tree cloud providers: they are irrelevant here and their
            # vendored SDKs are most of the build time.
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
        _progress(f"built {version} in {time.monotonic() - started:.0f}s: {dest}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


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

    kube-apiserver 1.20 rejects such CRDs (KServe, Seldon Core v2, Yatai) when validating the
    structural schema's defaults; newer servers accept them. Only the defaulting is lost, which
    specc never relies on since it always writes the fields it means.
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
        """"shared" or "minimal" once install_crds() ran, else None."""
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
        data = Path(tempfile.mkdtemp(prefix="specc-controlplane-"))
        self._data_dir = data
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
            # The default 1.5 MiB request limit is below what the biggest upstream CRDs (KServe,
            # Seldon) weigh once stored with their managedFields.
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
            "--service-cluster-ip-range=10.0.0.0/24",
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
            delay = min(delay * 1.5, 0.5)

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
        names: list[str] = []
        if minimal:
            for crd in minimal_crds():
                names.append(self._create_crd(crd, crd["metadata"]["name"]))
            source = "minimal"
        else:
            assert crd_dir is not None
            for path in select_crd_files(crd_dir, kserve_version=kserve_version):
                for doc in _yaml_documents(strip_empty_string_defaults(path.read_text())):
                    if doc.get("kind") == "CustomResourceDefinition":
                        names.append(self._create_crd(doc, str(path)))
            source = "shared"
        self._wait_crds_served(names, time.monotonic() + timeout)
        self.crds_source = source
        self.installed_crds = sorted(set(self.installed_crds) | set(names))
        _progress(f"installed {len(names)} {source} CRDs in {time.monotonic() - started:.1f}s")
        return names

    def _create_crd(self, crd: dict[str, Any], origin: str) -> str:
        # A plain create (POST), never client-side apply: that would copy the whole 1-2 MB object into
        # the last-applied annotation, which exceeds the 256 KiB annotation limit.
        response = self.request("POST", _CRD_API, crd, timeout=120)
        if response.status in (200, 201, 409):
            return str(crd["metadata"]["name"])
        raise ControlPlaneError(f"creating CRD {crd.get('metadata', {}).get('name')} from {origin}: "
                                f"HTTP {response.status}: {_message(response.body)}")

    def _wait_crds_served(self, names: list[str], deadline: float) -> None:
        pending = list(dict.fromkeys(names))
        while pending:
            still: list[str] = []
            for name in pending:
                response = self.request("GET", f"{_CRD_API}/{name}")
                if response.status != 200 or not _crd_served(self, response.body):
                    still.append(name)
            pending = still
            if not pending:
                return
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"CRDs not Established in time: {', '.join(pending)}")
            time.sleep(0.1)


def _crd_served(control_plane: ControlPlane, crd: Any) -> bool:
    """Established=True, and the storage version's list endpoint answers (the condition can lead
    the handler by a moment)."""
    if not isinstance(crd, dict):
        return False
    conditions = crd.get("status", {}).get("conditions") or []
    if not any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
        return False
    spec = crd["spec"]
    version = next((v["name"] for v in spec["versions"] if v.get("storage")), spec["versions"][0]["name"])
    plural = spec["names"]["plural"]
    listing = control_plane.request("GET", f"/apis/{spec['group']}/{version}/{plural}?limit=1")
    return listing.status == 200


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
    with ControlPlane() as control_plane:
        if not args.no_crds:
            control_plane.install_crds(args.crds, kserve_version=args.kserve_version,
                                       minimal=args.minimal_crds)
        print(f"server:     {control_plane.server} (Kubernetes v{control_plane.version})")
        print(f"crds:       {control_plane.crds_source or 'none'}")
        print(f"kubeconfig: {control_plane.kubeconfig} (contexts: {ADMIN_USER}, {RESTRICTED_USER})")
        print(f"export KUBECONFIG={control_plane.kubeconfig}", flush=True)
        try:
            while True:
                control_plane.check_alive()
                time.sleep(0.5)
        except KeyboardInterrupt:
            print("stopping", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
