"""Run a rendered engine container as a local process on loopback, and talk HTTP to it.

Takes a `RenderedEngine`, the artifacts (the files the storage-initializer would download into the
model directory; for a bento, the built bento the image holds at `BENTO_PATH`) and an installed tool
environment; `run_engine` yields a `RunningEngine` and always kills the process group and removes its
directory at the end. Must not change anything about the container but what `DECLARED_REWRITES` lists
(ports and paths that cannot be the same on a shared loopback, the bind address, and Secret values,
which are never read): the differences between the rendered environment and the process's are
computed, not assumed, and an undeclared one is an `EngineError`. Must not print, nor inherit the
caller's environment (the process sees what the container would, plus the `base` variables).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from specc.testing import toolenv
from specc.testing.engines.images import BENTO_PATH, EngineError, ImageFacts, bento_image, mlserver_image
from specc.testing.engines.rendered import RenderedEngine
from specc.testing.process_group import stop_group

SECRET_STAND_IN = "specc-test-stand-in"
LOG_TAIL = 60
PORT_ATTEMPTS = 3
PORT_TAKEN = ("Errno 98", "address already in use", "Address already in use")

# Every change the harness may make between the rendered container and the local process, by kind.
DECLARED_REWRITES = {
    "port": "a port the engine binds moves to a free loopback port (several engines share one machine)",
    "host": "the engine binds 127.0.0.1 instead of 0.0.0.0",
    "path": "a path under a volume mount (the model directory, an emptyDir), BENTO_PATH or the image "
            "user's home moves to a temp dir",
    "secret": "a Secret-backed variable gets a stand-in value: the harness never reads Secrets",
    "base": "what the image's OS gives a process: PATH (here the engine's environment first), HOME and TMPDIR "
            "(temp dirs), LANG; and BENTOML_DO_NOT_TRACK=true, so that tests send no usage reports",
}


@dataclass(frozen=True)
class Rewrite:
    kind: str  # a key of DECLARED_REWRITES
    name: str  # the variable, argument or port
    before: str | None
    after: str


@dataclass(frozen=True)
class HttpAnswer:
    status: int | None  # None: nothing answered (connection refused or timed out)
    body: bytes
    content_type: str

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


@dataclass
class RunningEngine:
    rendered: RenderedEngine
    facts: ImageFacts
    environment: str  # the tool environment's name
    ports: dict[int, int]  # container port -> loopback port
    rewrites: tuple[Rewrite, ...]
    argv: tuple[str, ...]
    log_path: Path
    process: subprocess.Popen[bytes]
    started_in: float = 0.0  # seconds from start to ready (while starting: the start time)

    def url(self, port: int, path: str) -> str:
        """The loopback URL of `path` on the container's `port`; an `EngineError` when nothing in the
        container binds that port (a probe or an annotation naming a port that is not there)."""
        if port not in self.ports:
            raise EngineError(f"port {port} is not bound by {self.rendered.name} (it binds "
                              f"{sorted(self.ports)}): nothing in the pod answers there")
        return f"http://127.0.0.1:{self.ports[port]}{path}"

    @property
    def http_port(self) -> int:
        return next(port for variable, port in self._listen() if variable in ("MLSERVER_HTTP_PORT", "BENTOML_PORT"))

    @property
    def base_url(self) -> str:
        return self.url(self.http_port, "")

    @property
    def metrics_url(self) -> str | None:
        metrics = self.rendered.metrics
        return None if metrics is None else self.url(*metrics)

    def get(self, url: str, timeout: float = 10) -> HttpAnswer:
        return self._request("GET", url, None, timeout)

    def post_json(self, url: str, body: bytes, timeout: float = 30) -> HttpAnswer:
        return self._request("POST", url, body, timeout)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def _listen(self) -> list[tuple[str, int]]:
        return [(variable, _configured_port(self.rendered, variable, default))
                for variable, default in self.facts.listen]

    def _request(self, method: str, url: str, body: bytes | None, timeout: float) -> HttpAnswer:
        request = urllib.request.Request(url, data=body, method=method,
                                         headers={"Content-Type": "application/json"} if body is not None else {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                answer = HttpAnswer(response.status, response.read(), response.headers.get("Content-Type", ""))
        except urllib.error.HTTPError as error:
            answer = HttpAnswer(error.code, error.read(), error.headers.get("Content-Type", ""))
        except (urllib.error.URLError, OSError):
            answer = HttpAnswer(None, b"", "")
        return answer


def image_facts(rendered: RenderedEngine, artifacts: Path | None) -> ImageFacts:
    """The facts of the rendered image; an `EngineError` when the image cannot run what the container asks."""
    if rendered.image.split(":")[0].endswith("seldonio/mlserver"):
        facts = mlserver_image(rendered.image)
        implementation = rendered.env_value("MLSERVER_MODEL_IMPLEMENTATION") or ""
        if facts.runtimes is not None and implementation.split(".")[0] not in facts.runtimes:
            raise EngineError(f"{rendered.image} ships the runtimes {list(facts.runtimes)}; the container asks "
                              f"for {implementation or 'no MLSERVER_MODEL_IMPLEMENTATION'}")
        return facts
    if artifacts is not None and (artifacts / "bento.yaml").is_file():
        # A containerized bento: the image is what `bentoml containerize` makes of this built bento.
        return bento_image(artifacts)
    if rendered.name == "bento" or rendered.env_value("BENTOML_PORT") is not None:
        raise EngineError("a bento image runs the built bento it contains: pass the bento directory")
    raise EngineError(f"no image facts for {rendered.image!r}")


def environment_for(engine: str, version: str) -> str:
    """The tool environment that pins `engine==version` (an `EngineError` when none is defined)."""
    for name, spec in sorted(toolenv.ENVIRONMENTS.items()):
        if f"{engine}=={version}" in spec.requirements:
            return name
    raise EngineError(f"no tool environment pins {engine}=={version}; add one to specc.testing.toolenv")


def installed_version(env: toolenv.ToolEnv, distribution: str) -> str:
    done = subprocess.run([str(env.python), "-c", "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))",
                           distribution], capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise EngineError(f"{distribution} is not installed in {env.path}: {done.stderr.strip()}")
    return done.stdout.strip()


def _configured_port(rendered: RenderedEngine, variable: str, default: int) -> int:
    value = rendered.env_value(variable)
    if variable == "BENTOML_PORT" and rendered.env_value("PORT"):
        value = rendered.env_value("PORT")  # the bento entrypoint lets PORT override BENTOML_PORT
    return int(value) if value else default


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _move_path(value: str, mounts: dict[str, Path]) -> str:
    for mount, local in sorted(mounts.items(), key=lambda m: -len(m[0])):
        if value == mount or value.startswith(mount + "/"):
            return str(local) + value[len(mount):]
    return value


def _expand(value: str, env: dict[str, str]) -> str:
    # Kubernetes expands $(VAR) in command and args from the container's environment; $$ escapes.
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m[0] == "$$" else env.get(m[1], m[0]), value)


def _diff(rendered_env: dict[str, str | None], process_env: dict[str, str]) -> list[tuple[str, str | None, str]]:
    return [(name, rendered_env.get(name), value) for name, value in sorted(process_env.items())
            if rendered_env.get(name) != value]


@contextlib.contextmanager
def run_engine(rendered: RenderedEngine, artifacts: Path | None, *, timeout: float = 180,
               install: bool = False) -> Iterator[RunningEngine]:
    """Start `rendered` locally with `artifacts` laid out where the pod would see them; wait until it is
    ready as the kubelet would see it (`_wait_until_up`); yield it; always stop it."""
    facts = image_facts(rendered, artifacts)
    env_name = environment_for(facts.engine, facts.version)
    env = toolenv.ensure(env_name, install=install)
    installed = installed_version(env, facts.engine)
    if installed != facts.version:
        raise EngineError(f"{rendered.image} runs {facts.engine} {facts.version}; "
                          f"environment {env_name} has {installed}")
    workdir = Path(tempfile.mkdtemp(prefix=f"specc-engine-{rendered.model}-"))
    process: subprocess.Popen[bytes] | None = None
    try:
        mounts: dict[str, Path] = {}
        if facts.engine == "bentoml":
            assert artifacts is not None
            mounts[BENTO_PATH] = workdir / "bento"
            shutil.copytree(artifacts, mounts[BENTO_PATH])
        elif rendered.model_dir is not None:
            mounts[rendered.model_dir] = workdir / "model"
            if artifacts is None:
                raise EngineError(f"{rendered.origin} mounts artifacts at {rendered.model_dir}: pass them")
            shutil.copytree(artifacts, mounts[rendered.model_dir])
        if facts.home is not None:
            mounts[facts.home] = workdir / "image-home"
            mounts[facts.home].mkdir()
        for i, path in enumerate(rendered.scratch):
            mounts[path] = workdir / f"scratch-{i}"
            mounts[path].mkdir()
        (workdir / "home").mkdir()

        rendered_env: dict[str, str | None] = {**dict(facts.env), **dict(rendered.env)}
        for attempt in range(1, PORT_ATTEMPTS + 1):
            launch = _launch(rendered, facts, env, env_name, rendered_env, mounts, workdir, attempt)
            process = launch.process
            try:
                _wait_until_up(launch, timeout)
                break
            except EngineError:
                # A free port can be taken by another process between the probe and the engine's bind
                # (a shared machine): start again on other ports; any other failure is the engine's.
                if attempt == PORT_ATTEMPTS or not any(m in launch.log() for m in PORT_TAKEN):
                    raise
                _stop(process)
        launch.started_in = time.monotonic() - launch.started_in
        yield launch
    finally:
        if process is not None:
            _stop(process)
        shutil.rmtree(workdir, ignore_errors=True)


def _launch(rendered: RenderedEngine, facts: ImageFacts, env: toolenv.ToolEnv, env_name: str,
            rendered_env: dict[str, str | None], mounts: dict[str, Path], workdir: Path,
            attempt: int) -> RunningEngine:
    """Start the engine process on fresh loopback ports, with every change from `rendered_env` declared."""
    process_env: dict[str, str] = {}
    for name, value in rendered_env.items():
        process_env[name] = SECRET_STAND_IN if value is None else _move_path(value, mounts)
    ports: dict[int, int] = {}
    port_rewrites: dict[str, str] = {}
    for variable, default in facts.listen:
        port = _configured_port(rendered, variable, default)
        ports[port] = _free_port()
        port_rewrites[variable] = str(ports[port])
        process_env[variable] = str(ports[port])
        if variable == "BENTOML_PORT" and "PORT" in process_env:
            process_env["PORT"] = str(ports[port])
            port_rewrites["PORT"] = str(ports[port])
    if facts.host_variable:
        process_env[facts.host_variable] = "127.0.0.1"

    rewrites = []
    for name, before, after in _diff(rendered_env, process_env):
        if name in port_rewrites and after == port_rewrites[name]:
            kind = "port"
        elif name == facts.host_variable and after == "127.0.0.1":
            kind = "host"
        elif before is None and after == SECRET_STAND_IN and name in rendered_env:
            kind = "secret"
        elif before is not None and after == _move_path(before, mounts) and after != before:
            kind = "path"
        else:
            raise EngineError(f"undeclared change of {name}: {before!r} -> {after!r}")
        rewrites.append(Rewrite(kind, name, before, after))

    entrypoint = rendered.command if rendered.command is not None else facts.entrypoint
    # Kubernetes: `command` replaces ENTRYPOINT and drops CMD; `args` replaces CMD.
    cmd = rendered.args if rendered.args is not None else (facts.cmd if rendered.command is None else ())
    container_argv = [_expand(a, process_env) for a in (*entrypoint, *cmd)]
    argv = []
    for i, arg in enumerate(container_argv):
        moved = _move_path(arg, mounts)
        if moved != arg:
            rewrites.append(Rewrite("path", f"argv[{i}]", arg, moved))
        argv.append(moved)
    if not argv:
        raise EngineError(f"{rendered.origin}: neither the container nor the image says what to run")

    workdir_in_image = facts.workdir or "/"
    cwd = Path(_move_path(workdir_in_image, mounts))
    if not cwd.is_dir():
        raise EngineError(f"the image's WORKDIR {workdir_in_image} has no local counterpart")
    base = {"PATH": f"{env.path / 'bin'}:/usr/bin:/bin", "HOME": str(workdir / "home"), "LANG": "C.UTF-8",
            "BENTOML_DO_NOT_TRACK": "true", "TMPDIR": str(mounts.get("/tmp", workdir))}
    rewrites += [Rewrite("base", name, None, value) for name, value in sorted(base.items())
                 if name not in process_env]
    log_path = workdir / f"engine-{attempt}.log"
    started = time.monotonic()
    with log_path.open("wb") as log:
        process = subprocess.Popen(argv, cwd=cwd, env={**base, **process_env}, stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return RunningEngine(rendered, facts, env_name, ports, tuple(rewrites), tuple(argv), log_path, process,
                         started_in=started)


def _wait_until_up(running: RunningEngine, timeout: float) -> None:
    """As the kubelet does: the startup probe first, then the readiness probe, each until it answers 200
    (only a ready pod gets traffic). Without an HTTP probe, the engine's own readiness route."""
    targets = [running.url(p.port, p.path) for kind in ("startup", "readiness")
               for p in running.rendered.probes if p.kind == kind and p.path is not None]
    if not targets:  # the kubelet would call the pod ready at once; the harness waits for the model
        name = running.rendered.env_value("MLSERVER_MODEL_NAME")
        targets = [running.url(running.http_port,
                               f"/v2/models/{name}/ready" if running.facts.engine == "mlserver" else "/readyz")]
    deadline = time.monotonic() + timeout
    for target in targets:
        while True:
            if any(marker in running.log() for marker in PORT_TAKEN):  # MLServer keeps running without it
                raise EngineError(f"{running.rendered.origin}: a loopback port was taken before the engine "
                                  f"bound it:\n{_tail(running.log())}")
            if running.process.poll() is not None:
                raise EngineError(f"{running.rendered.origin}: the engine exited with {running.process.returncode} "
                                  f"before {target} answered 200:\n{_tail(running.log())}")
            try:
                with urllib.request.urlopen(target, timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise EngineError(f"{running.rendered.origin}: {target} did not answer 200 within {timeout:.0f}s:\n"
                                  f"{_tail(running.log())}")
            time.sleep(0.25)


def _stop(process: subprocess.Popen[bytes]) -> None:
    stop_group(process, grace=15)


def _tail(text: str) -> str:
    return "\n".join(text.splitlines()[-LOG_TAIL:])
