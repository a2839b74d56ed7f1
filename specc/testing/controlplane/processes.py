"""The running control plane: etcd + kube-apiserver (+ kube-controller-manager on 1.36) on loopback.

Takes `Binaries` (default: `ensure_binaries(release)`); returns a `ControlPlane` (context manager)
with fresh ports, data directory and tokens, exposing a kubeconfig path, the server URL and two bearer
tokens: `admin` (group system:masters) and `restricted` (no groups: 403 on any list). On 1.36 the
controller-manager runs every controller (`--controllers=*`: garbage collector, deployment, replicaset,
namespace, serviceaccount, endpoints, ...), so Deployments get ReplicaSets and pods, foreground
deletes complete and namespaces delete; there is no kubelet and no scheduler (see
`specc.testing.node_standin` for a node). On 1.20 nothing reconciles: objects are stored and
validated only.

Must not: leave processes or temp dirs behind (stop() and an atexit hook end exactly the processes it
started), touch the repository tree, or use the `kubernetes` Python client.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from specc.testing.controlplane import crds, kubeconfig
from specc.testing.controlplane.api import ApiResponse, insecure_ssl_context, message, request
from specc.testing.controlplane.commands import file_tail, progress
from specc.testing.controlplane.errors import ControlPlaneError, PortInUseError
from specc.testing.controlplane.installer import Binaries, ensure_binaries
from specc.testing.controlplane.keys import Tokens, generate_rsa_key, write_tokens

_STOP_TIMEOUT = 10.0
_DATA_DIR_PREFIX = "specc-controlplane-"
_OWNER_FILE = "owner.pid"
# Stopped in this order: the controller-manager first (it would log errors against a dying
# apiserver), then the apiserver (stopping etcd under it makes it log errors and retry for seconds).
_STOP_ORDER = ("kube-controller-manager", "kube-apiserver", "etcd")


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


def _parse_version(git_version: str) -> str | None:
    return git_version.removeprefix("v").split("-")[0].split("+")[0] or None


class ControlPlane:
    """etcd + kube-apiserver (+ controller-manager). `with ControlPlane() as cp: ...` or start()/stop().

    `release`: "1.36" or "1.20" (see `installer`); None picks 1.36 when ../shared/kube is there.
    Each instance gets its own ports, data directory and tokens, so several may run side by side.
    """

    def __init__(self, binaries: Binaries | None = None, *, release: str | None = None,
                 ready_timeout: float = 90.0) -> None:
        self._binaries = binaries
        self._release = release
        self._ready_timeout = ready_timeout
        self._ssl = insecure_ssl_context()
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._data_dir: Path | None = None
        self._server: str | None = None
        self._kubeconfig: Path | None = None
        self._version: str | None = None
        self._tokens = Tokens("", "")
        self._atexit_registered = False
        self.crds_source: str | None = None
        """Either "shared" or "minimal" once install_crds() ran, else None."""
        self.installed_crds: list[str] = []
        """Names of the CRDs install_crds() created or found present."""
        self.has_controllers = False
        """Whether a kube-controller-manager runs (1.36), so objects get reconciled."""

    # -- lifecycle ---------------------------------------------------------------------------------

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    def start(self) -> ControlPlane:
        """Start the processes and wait until the apiserver (and the controllers) are ready; returns self."""
        if self._procs or self._data_dir is not None:
            raise ControlPlaneError("control plane already started")
        binaries = self._binaries or ensure_binaries(self._release)
        if not self._atexit_registered:
            # A test session that crashes, or forgets stop(), still ends the processes on exit.
            atexit.register(self.stop)
            self._atexit_registered = True
        for attempt in range(3):
            try:
                self._start_once(binaries)
                return self
            except PortInUseError:
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
        for name in _STOP_ORDER:
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
        self.has_controllers = False

    def _start_once(self, binaries: Binaries) -> None:
        started = time.monotonic()
        deadline = started + self._ready_timeout
        _sweep_stale_data_dirs()
        data = Path(tempfile.mkdtemp(prefix=_DATA_DIR_PREFIX))
        self._data_dir = data
        (data / _OWNER_FILE).write_text(f"{os.getpid()}\n")
        etcd_port, peer_port, api_port, manager_port = _free_ports(4)
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

        tokens_file, self._tokens = write_tokens(data)
        sa_key = data / "service-account.key"
        generate_rsa_key(sa_key)
        controllers = binaries.kube_controller_manager is not None
        self._server = f"https://127.0.0.1:{api_port}"
        argv = [
            str(binaries.kube_apiserver),
            f"--etcd-servers={etcd_url}",
            f"--secure-port={api_port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--cert-dir={data / 'certs'}",
            f"--token-auth-file={tokens_file}",
            "--authorization-mode=RBAC",
            "--service-cluster-ip-range=10.96.0.0/16",
            f"--service-account-key-file={sa_key}",
            f"--service-account-signing-key-file={sa_key}",
            "--service-account-issuer=https://kubernetes.default.svc",
            "--allow-privileged=false",
            "--profiling=false",
        ]
        if not controllers:
            # No controller-manager runs, so no namespace ever gets its `default` ServiceAccount;
            # the ServiceAccount admission plugin would then reject every Pod.
            argv.append("--disable-admission-plugins=ServiceAccount")
        self._spawn("kube-apiserver", argv)
        self._wait_until(deadline, "kube-apiserver /readyz", lambda: self._get_status("/readyz") == 200)
        # /readyz does not cover the bootstrap controller creating the `default` namespace.
        self._wait_until(deadline, "namespace default",
                         lambda: self._get_status("/api/v1/namespaces/default") == 200)
        version = self.request("GET", "/version").body
        self._version = _parse_version(version.get("gitVersion", "") if isinstance(version, dict) else "")
        self._kubeconfig = data / "kubeconfig"
        kubeconfig.write(self._kubeconfig, self._server, self._tokens)
        if binaries.kube_controller_manager is not None:
            self._start_controller_manager(binaries.kube_controller_manager, data, sa_key, manager_port,
                                           deadline)
        self.has_controllers = controllers
        progress(f"control plane v{self._version} ready at {self._server} "
                 f"({'with' if controllers else 'without'} controllers) in {time.monotonic() - started:.1f}s")

    def _start_controller_manager(self, binary: Path, data: Path, sa_key: Path, port: int,
                                  deadline: float) -> None:
        # The flags PROVENANCE.txt of ../shared/kube records as working with these binaries.
        assert self._kubeconfig is not None
        self._spawn("kube-controller-manager", [
            str(binary),
            f"--kubeconfig={self._kubeconfig}",
            f"--authentication-kubeconfig={self._kubeconfig}",
            f"--authorization-kubeconfig={self._kubeconfig}",
            "--controllers=*",
            "--leader-elect=false",
            "--use-service-account-credentials=false",
            f"--service-account-private-key-file={sa_key}",
            f"--root-ca-file={data / 'certs' / 'apiserver.crt'}",
            "--bind-address=127.0.0.1",
            f"--secure-port={port}",
            f"--cert-dir={data / 'manager-certs'}",
            "--profiling=false",
        ])
        manager = f"https://127.0.0.1:{port}"
        self._wait_until(deadline, "kube-controller-manager /healthz",
                         lambda: self._url_status(f"{manager}/healthz") == 200)
        # The serviceaccount controller's first act: pods (ServiceAccount admission) need it.
        self._wait_until(deadline, "the default ServiceAccount (serviceaccount controller)",
                         lambda: self._get_status("/api/v1/namespaces/default/serviceaccounts/default") == 200)

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
        """Raise ControlPlaneError (with the log tail) if any of its processes has exited."""
        for name, proc in self._procs.items():
            code = proc.poll()
            if code is not None:
                log = file_tail(self._log_path(name))
                error = PortInUseError if "address already in use" in log else ControlPlaneError
                raise error(f"{name} exited with code {code}; last lines of its log:\n{log}")

    def _wait_until(self, deadline: float, what: str, probe: Callable[[], bool]) -> None:
        delay = 0.05
        while True:
            self.check_alive()
            with contextlib.suppress(OSError):
                if probe():
                    return
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- {name} log (tail) ---\n{file_tail(self._log_path(name))}"
                                 for name in self._procs)
                raise ControlPlaneError(f"timed out after {self._ready_timeout:.0f}s waiting for {what}\n{logs}")
            time.sleep(delay)
            delay = min(delay * 1.5, 0.25)

    @staticmethod
    def _etcd_healthy(url: str) -> bool:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return bool(json.loads(response.read()).get("health") == "true")

    def _url_status(self, url: str) -> int:
        try:
            with urllib.request.urlopen(url, timeout=2, context=self._ssl) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    def _get_status(self, path: str) -> int:
        return self.request("GET", path, timeout=5).status

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
        return str(self._require(self._tokens.admin or None, "admin token"))

    @property
    def restricted_token(self) -> str:
        return str(self._require(self._tokens.restricted or None, "restricted token"))

    @property
    def version(self) -> str:
        """The server's version without the leading v, e.g. "1.36.2"."""
        return str(self._require(self._version, "version"))

    @property
    def minor_version(self) -> tuple[int, int]:
        major, minor = self.version.split(".")[:2]
        return int(major), int(minor)

    @property
    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self._procs.items()}

    # -- API ---------------------------------------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None, *, token: str | None = None,
                content_type: str = "application/json", timeout: float = 30.0) -> ApiResponse:
        """One HTTP call to the apiserver as admin (or as `token`). HTTP errors are returned, not raised.

        `body`: bytes/str are sent as they are (with `content_type`), anything else as JSON.
        """
        return request(self.server, token or self._tokens.admin, method, path, body, content_type=content_type,
                       timeout=timeout, context=self._ssl)

    def create_namespace(self, name: str, labels: dict[str, str] | None = None) -> None:
        """Create namespace `name` (with `labels`); an existing one is fine."""
        metadata: dict[str, Any] = {"name": name}
        if labels:
            metadata["labels"] = labels
        response = self.request("POST", "/api/v1/namespaces",
                                {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata})
        if response.status not in (201, 409):
            raise ControlPlaneError(f"creating namespace {name}: HTTP {response.status}: {message(response.body)}")

    def install_crds(self, crd_dir: Path | None = None, *, kserve_version: str | None = None,
                     minimal: bool = False, timeout: float = 60.0) -> list[str]:
        """Install the serving CRDs (see `crds.install`) and wait until they are served; returns their names.

        Sets `crds_source` to "shared" or "minimal". The shared files go to 1.36 unmodified; 1.20
        gets them without their `default: ""` lines, which it rejects.
        """
        installed = crds.install(self.request, crd_dir, kserve_version=kserve_version, minimal=minimal,
                                 strip_empty_defaults=self.minor_version < (1, 21), timeout=timeout)
        self.crds_source = installed.source
        self.installed_crds = sorted(set(self.installed_crds) | set(installed.names))
        return installed.names
