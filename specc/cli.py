"""The command line: parses arguments, runs the pipeline, prints what the reporters return.

The only module (with `specc.report`) that prints, and the one place that catches `SpeccError` and
turns it into an exit code: 0 success, 1 error, 2 changes present (`--detailed-exitcode`), 3 refused
before any write (lock held, wrong lock id, not certainly the intended cluster). Heavy modules (the
Kubernetes client, plan and apply) are imported inside the commands that need them, so `validate` and
`render` start fast.
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from specc import __version__
from specc.credentials import redact
from specc.diagnostics import Diagnostic, SpeccError, did_you_mean, printable
from specc.report.diagnostics import diagnostics_text

F = TypeVar("F", bound=Callable[..., Any])


def colour_wanted(no_color: bool = False) -> bool:
    """Colour unless --no-color or the NO_COLOR convention (https://no-color.org: set and not empty)."""
    return not no_color and not os.environ.get("NO_COLOR")


def _diagnostics(diagnostics: Sequence[Diagnostic]) -> str:
    """Diagnostics for stderr: each with its source line and a caret, coloured on a terminal."""
    from specc.source import source_line

    return diagnostics_text(diagnostics, source_line, colour=colour_wanted() and sys.stderr.isatty())


def _kube_version(_: click.Context, __: click.Parameter, value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        major, minor = value.removeprefix("v").split(".")[:2]
        version = int(major), int(minor)
    except ValueError:
        raise click.BadParameter("expected MAJOR.MINOR such as 1.30") from None
    if version[0] != 1 or not 0 <= version[1] <= 99:
        raise click.BadParameter("expected a Kubernetes version 1.X such as 1.30")
    return version


class Seconds(click.ParamType):  # type: ignore[type-arg]
    """A duration in seconds, bounded before use: finite, within [low, high] (no nan, inf, 1e12)."""

    name = "SECONDS"

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, float):
            number = value
        else:
            try:
                number = float(str(value).strip())
            except ValueError:
                self.fail("expected a number of seconds", param, ctx)
        if not math.isfinite(number) or not self.low <= number <= self.high:
            self.fail(f"must be a number of seconds from {self.low:g} to {self.high:g}", param, ctx)
        return number


REQUEST_SECONDS = Seconds(0.1, 3600)
WAIT_SECONDS = Seconds(0, 86400)


class OutputPath(click.Path):
    """A path specc writes to: an empty one (an unset shell variable, `-o ""`) is refused rather than read
    as the current directory."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail("is empty: name the file or directory to write", param, ctx)
        return super().convert(value, param, ctx)


def _namespace(_: click.Context, __: click.Parameter, value: str | None) -> str | None:
    from specc.spec import DNS1123_LABEL

    if value is not None and (len(value) > 63 or not re.fullmatch(DNS1123_LABEL, value)):
        raise click.BadParameter("must be a namespace name (a DNS-1123 label: lowercase letters, digits and '-', "
                                 "at most 63 characters)")
    return value


def complete_backends(_: click.Context, __: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion of --backend: the installed backend plugins, with their summaries."""
    from click.shell_completion import CompletionItem

    from specc.registry import load_registry

    registry = load_registry()
    return [CompletionItem(name, help=registry.backends[name].summary) for name in registry.names()
            if name.startswith(incomplete)]


def complete_models(ctx: click.Context, _: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion of a model name: the models of the spec given earlier on the command line."""
    from click.shell_completion import CompletionItem

    from specc.source import read_spec

    # While the option's value is still being typed, click's resilient parse leaves the positional
    # arguments unassigned in ctx.args: the spec is the first of them.
    file = ctx.params.get("file") or next((a for a in ctx.args if not a.startswith("-")), None)
    if not isinstance(file, str) or file == "-":
        return []
    try:
        data = read_spec(file).data
    except SpeccError:  # an unreadable or broken spec completes nothing; validate says why
        return []
    models = data.get("models") if isinstance(data, dict) else None
    names = sorted({m["name"] for m in models or [] if isinstance(m, dict) and isinstance(m.get("name"), str)})
    return [CompletionItem(name) for name in names if name.startswith(incomplete)]


def kube_version_option(f: F) -> F:
    return click.option(
        "--kube-version", callback=_kube_version, metavar="X.Y",
        help="Kubernetes version to compile for (default 1.30; plan/apply ask the cluster).")(f)


def _registry_timeout(_: click.Context, __: click.Parameter, value: float) -> float:
    # NaN compares false with everything, so `not 0 < value` also refuses it.
    if not 0 < value <= 600 or value != value:  # noqa: PLR0124 - the NaN test
        raise click.BadParameter(f"must be a number of seconds greater than 0 and at most 600, got {value!r}")
    return value


def registry_timeout_option(f: F) -> F:
    return click.option(
        "--registry-timeout", type=float, default=10.0, show_default=True, callback=_registry_timeout,
        help="Seconds to wait for each model-registry request (registry: references).")(f)


def _resolve_options(timeout: float) -> Any:
    from specc.resolve import ResolveOptions

    return ResolveOptions(timeout=timeout)


def _echo_err(text: str) -> None:
    if text:
        click.echo(text, err=True, nl=False)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, "--version", prog_name="specc", message="%(prog)s %(version)s")
def cli() -> None:
    """specc: validate, compile, plan and apply ML model serving specs (serving.yaml) on Kubernetes."""


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=True, allow_dash=True))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text", show_default=True,
              help="text: each problem with its source line; json: for tools; github: GitHub Actions annotations.")
@kube_version_option
def validate(files: Sequence[str], fmt: str, kube_version: tuple[int, int] | None) -> None:
    """Check spec files; every problem is reported as FILE:LINE:COL with its path."""
    from specc.pipeline import compile_file
    from specc.report.diagnostics import diagnostics_github, validation_json
    from specc.source import source_line

    results: list[tuple[str, list[Diagnostic]]] = []
    texts: list[str] = []
    failed = False
    for file in files:
        try:  # each file is reported on its own, so one bad file does not hide the others' problems
            diagnostics = list(compile_file(file, kube_version=kube_version).warnings)
        except SpeccError as error:
            diagnostics, failed = list(error.diagnostics), True
        results.append((file, diagnostics))
        # Formatted now, while the file's text is still remembered (for excerpts and masking).
        if fmt == "text":
            texts.append(_diagnostics(diagnostics))
        elif fmt == "github":
            texts.append(diagnostics_github([(file, diagnostics)], source_line))
    if fmt == "json":
        click.echo(validation_json(results), nl=False)
    elif fmt == "github":  # annotations go to stdout, where the runner reads workflow commands
        click.echo("".join(texts), nl=False)
    else:
        for (file, diagnostics), text in zip(results, texts, strict=True):
            _echo_err(text)
            ok = not any(d.severity == "error" for d in diagnostics)
            if ok:
                click.echo(printable(f"{file}: valid"))
    if failed:
        sys.exit(1)


@cli.command()
def schema() -> None:
    """Print the JSON Schema of serving.yaml (with the installed backends' options)."""
    from specc.registry import load_registry
    from specc.schema import schema_text

    registry = load_registry()
    _echo_err(_diagnostics(registry.warnings))
    click.echo(schema_text({n: b.Options for n, b in registry.backends.items()}), nl=False)


@cli.command()
def backends() -> None:
    """List the installed backend plugins."""
    from specc.registry import load_registry

    registry = load_registry()
    _echo_err(_diagnostics(registry.warnings))
    width = max((len(n) for n in registry.names()), default=0)
    for name in registry.names():
        backend = registry.backends[name]
        formats = ", ".join(sorted(backend.formats))
        click.echo(f"{name:<{width}}  {backend.summary}\n{'':<{width}}  formats: {formats}")


@cli.command()
@click.argument("file", type=click.Path(allow_dash=True))
@click.option("--backend", "backend", metavar="NAME", shell_complete=complete_backends,
              help="Compile every model for this backend.")
@click.option("-o", "--output-dir", type=OutputPath(file_okay=False, path_type=Path),
              help="Write one file per object into this directory instead of printing.")
@click.option("--namespace", "-n", callback=_namespace, help="Override metadata.namespace of the spec.")
@kube_version_option
@registry_timeout_option
@click.option("--model", "models", multiple=True, metavar="NAME", shell_complete=complete_models,
              help="Only this model's objects (repeatable).")
@click.option("--argocd", is_flag=True, help="Run as an Argo CD config management plugin: compile for the "
              "destination's KUBE_VERSION, KUBE_API_VERSIONS and ARGOCD_APP_NAMESPACE, with the application's "
              "parameters (see integrations/argocd).")
def render(file: str, backend: str | None, output_dir: Path | None, namespace: str | None,
           kube_version: tuple[int, int] | None, registry_timeout: float, models: tuple[str, ...],
           argocd: bool) -> None:
    """Compile a spec into Kubernetes objects (multi-document YAML, byte-identical on every run)."""
    from specc.manifest_yaml import dump, dump_all
    from specc.objects import file_name
    from specc.pipeline import compile_file

    kube_version, namespace, backend, api_versions = _render_inputs(argocd, kube_version, namespace, backend)
    compiled = compile_file(file, kube_version=kube_version, backend=backend, namespace=namespace,
                            resolve=_resolve_options(registry_timeout), api_versions=api_versions)
    _echo_err(_diagnostics(compiled.warnings))
    desired = _only_models(compiled, models, file)
    if output_dir is None:
        click.echo(dump_all(o.body for o in desired), nl=False)
        return
    from specc.files import make_directory, write_file
    from specc.targets import rendered_by_specc

    make_directory(output_dir)
    for obj in desired:
        write_file(output_dir / file_name(obj.key), dump(obj.body), owned=rendered_by_specc, within=output_dir,
                   hint="render into an empty directory, or remove the file")
    click.echo(printable(f"wrote {len(desired)} objects to {output_dir}"))


def _render_inputs(argocd: bool, kube_version: tuple[int, int] | None, namespace: str | None,
                   backend: str | None) -> tuple[tuple[int, int] | None, str | None, str | None, frozenset[str] | None]:
    """With --argocd, what Argo CD's environment asks for fills what the command line left unset."""
    if not argocd:
        return kube_version, namespace, backend, None
    from specc.argocd import settings_from_environment

    settings = settings_from_environment(os.environ)
    return (kube_version or settings.kube_version, namespace or settings.namespace, backend or settings.backend,
            settings.api_versions)


def _only_models(compiled: Any, models: Sequence[str], file: str) -> list[Any]:
    """The objects of the models named by --model (all of them without it)."""
    if not models:
        return list(compiled.desired)
    known = {m.name for m in compiled.validated.ir.models}
    for name in models:
        if name not in known:
            hint = did_you_mean(name, known)
            raise click.BadParameter(f"no model {name!r} in {file}" + (f"; {hint}" if hint else ""),
                                     param_hint="--model")
    return [o for o in compiled.desired if o.model in models]


# -- plan and apply -------------------------------------------------------------------------------------

def cluster_options(f: F) -> F:
    f = click.option("--kubeconfig", type=click.Path(dir_okay=False), envvar="KUBECONFIG",
                     help="Kubeconfig file (default: $KUBECONFIG or ~/.kube/config).")(f)
    f = click.option("--context", help="Kubeconfig context to use (apply, destroy and force-unlock require it "
                     "when the kubeconfig has several).")(f)
    f = click.option("--namespace", "-n", callback=_namespace, help="Override metadata.namespace of the spec.")(f)
    f = click.option("--target", "target_spec", default="cluster", show_default=True, metavar="cluster|dir:PATH",
                     help="Where the objects live: the cluster, or a GitOps directory (one file per object).")(f)
    f = click.option("--request-timeout", type=REQUEST_SECONDS, default=30.0, show_default=True,
                     help="Seconds to wait for each API request, retries included (0.1 to 3600).")(f)
    return f


def mask_option(f: F) -> F:
    return click.option("--mask-all", is_flag=True, envvar="SPECC_MASK_ALL",
                        help="Mask every field value, not only secrets (for output posted publicly).")(f)


def _directory(target_spec: str) -> Path | None:
    if target_spec == "cluster":
        return None
    if target_spec.startswith("dir:") and len(target_spec) > 4 and "\0" not in target_spec:
        return Path(target_spec[4:])
    raise click.BadParameter("expected 'cluster' or 'dir:PATH'", param_hint="--target")


def _refuse(option: str, reason: str) -> NoReturn:
    """An option that would be silently ignored here: refused, with the reason."""
    raise click.UsageError(f"{option} {reason}")


# Options that act only on one kind of target; given on the command line for the other, they are refused.
_CLUSTER_ONLY = ("kubeconfig", "context", "request_timeout", "force_conflicts", "create_namespace", "wait",
                 "timeout", "lock_timeout")
_DIR_ONLY = ("kube_version",)


def _check_target_options(directory: Path | None) -> None:
    from click.core import ParameterSource

    ctx = click.get_current_context()
    given = [p for p in ctx.command.params
             if p.name and ctx.get_parameter_source(p.name) is ParameterSource.COMMANDLINE]
    for param in given:
        flag = param.opts[0] if param.opts else str(param.name)
        if directory is not None and param.name in _CLUSTER_ONLY:
            _refuse(flag, "applies to a cluster, not to --target dir:")
        if directory is None and param.name in _DIR_ONLY:
            _refuse(flag, "applies only to --target dir: (a cluster is asked its version)")


def _connection(kubeconfig: str | None, context: str | None, namespace: str | None, timeout: float) -> Any:
    from specc.workflow import Connection

    return Connection(kubeconfig, context, namespace, timeout)


def _print_plan(plan: Any, fmt: str, colour: bool, mask_all: bool = False) -> None:
    from specc.report.plan import plan_json, plan_markdown, plan_text

    plan = plan.masked() if mask_all else plan
    if fmt == "json":
        click.echo(plan_json(plan), nl=False)
    elif fmt == "markdown":
        click.echo(plan_markdown(plan), nl=False)
    else:
        click.echo(plan_text(plan, colour=colour), nl=False)


def _save_plan(plan: Any, path: Path) -> None:
    import json

    from specc.files import write_file
    from specc.plan import is_saved_plan

    # The saved plan holds the objects to apply, unmasked (like Terraform's plan file): owner-only. It
    # replaces only an earlier saved plan: never the spec, another file, or anything through a symlink.
    text = json.dumps(plan.to_json(include_desired=True), indent=2, sort_keys=True) + "\n"
    write_file(path, text, owned=is_saved_plan, mode=0o600, code="F805", hint=_PLAN_FILE_HINT)


_PLAN_FILE_HINT = "choose a new file name for the plan (e.g. plan.json)"


def _load_saved_plan(path: str) -> Any | None:
    """A saved plan if `path` is one (JSON with a formatVersion, whatever its name), else None."""
    from specc.files import FileRefused, read_regular
    from specc.plan import Plan, saved_plan_data

    if path == "-" or os.path.isdir(path):
        return None
    try:
        raw = read_regular(path, follow=True)
    except FileRefused:
        return None  # reading it as a spec reports why
    data = saved_plan_data(raw)
    return Plan.from_json(data) if data is not None else None


@cli.command()
@click.argument("file", type=click.Path(allow_dash=True))
@cluster_options
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 with no changes, 2 with changes, 1 on error.")
@click.option("-o", "--out", type=OutputPath(dir_okay=False, path_type=Path),
              help="Save the plan for `specc apply PLAN` (contains the objects unmasked; written 0600).")
@click.option("--force-conflicts", is_flag=True, help="Preview taking over fields owned by other managers.")
@click.option("--destroy", is_flag=True, help="Plan the deletion of every object of the spec.")
@click.option("--kube-version", callback=_kube_version, metavar="X.Y",
              help="For --target dir: compile for this version.")
@click.option("--no-color", is_flag=True, help="Plain text output.")
@mask_option
@registry_timeout_option
def plan(file: str, kubeconfig: str | None, context: str | None, namespace: str | None, target_spec: str,
         request_timeout: float, fmt: str, detailed_exitcode: bool, out: Path | None, force_conflicts: bool,
         destroy: bool, kube_version: tuple[int, int] | None, no_color: bool, mask_all: bool,
         registry_timeout: float) -> None:
    """Show what apply would change: + create, ~ update, - delete, -/+ replace."""
    from specc.source import read_spec
    from specc.workflow import plan_cluster, plan_directory

    directory = _directory(target_spec)
    _check_target_options(directory)
    if out is not None and directory is not None:
        _refuse("-o/--out", "saves a plan for a cluster; for --target dir: run `specc apply FILE --target "
                "dir:PATH`, which plans again and writes the files")
    if out is not None:  # refused before any cluster request, not after the plan was made
        from specc.files import check_replaceable
        from specc.plan import is_saved_plan

        check_replaceable(out, is_saved_plan, code="F805", hint=_PLAN_FILE_HINT)
    document = read_spec(file)
    if directory is not None:
        result, _ = plan_directory(document, directory, kube_version=kube_version, namespace=namespace,
                                   destroy=destroy, resolve=None if destroy else _resolve_options(registry_timeout))
    else:
        cluster = _connection(kubeconfig, context, namespace, request_timeout).connect()
        result = plan_cluster(document, cluster, namespace=namespace, force_conflicts=force_conflicts,
                              destroy=destroy, resolve=None if destroy else _resolve_options(registry_timeout)).plan
    _print_plan(result, fmt, colour=colour_wanted(no_color), mask_all=mask_all)
    if out is not None:
        _save_plan(result, out)
        click.echo(printable(f"Saved the plan to {out}; apply it with: specc apply {out}"), err=True)
    if detailed_exitcode and result.has_changes:
        sys.exit(2)


def _confirm(auto_approve: bool, question: str) -> bool:
    if auto_approve:
        return True
    if not sys.stdin.isatty():
        raise click.UsageError("refusing to apply without confirmation: stdin is not a terminal; "
                               "pass --auto-approve")
    answer = click.prompt(f"{question}\n  Only 'yes' will be accepted", default="", show_default=False)
    return str(answer).strip() == "yes"


def live_progress_wanted() -> bool:
    """The live view needs a terminal that moves its cursor; CI logs and pipes get plain lines."""
    ci = os.environ.get("CI", "").strip().lower()
    return sys.stderr.isatty() and ci in ("", "0", "false") and os.environ.get("TERM") != "dumb"


class Progress:
    """Renders `specc.apply` events on stderr: the live per-model view on a terminal (redrawn by a
    ticker thread between events, so waits visibly move), plain lines elsewhere. A context manager:
    the ticker stops and the view's last frame stays on screen when the apply ends, however it ends."""

    TICK = 0.25

    def __init__(self, colour: bool) -> None:
        import shutil
        import threading

        from specc.report.progress import LiveView

        self.colour = colour and sys.stderr.isatty()
        self.live = LiveView(width=shutil.get_terminal_size().columns, colour=self.colour) \
            if live_progress_wanted() else None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if self.live is not None:
            self._thread = threading.Thread(target=self._tick, name="specc-progress", daemon=True)

    def __call__(self, event: Any) -> None:
        import time

        from specc.report.progress import plain_line

        with self._lock:
            text = self.live.event(event, time.monotonic()) if self.live is not None \
                else plain_line(event, colour=self.colour) + "\n"
            _echo_err(text)

    def _tick(self) -> None:
        import time

        while not self._stop.wait(self.TICK):
            with self._lock:
                if self.live is not None:
                    _echo_err(self.live.tick(time.monotonic()))

    def __enter__(self) -> Progress:
        if self._thread is not None:
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        import time

        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.live is not None:
            with self._lock:
                _echo_err(self.live.finish(time.monotonic()))


@cli.command()
@click.argument("file", type=click.Path(allow_dash=True))
@cluster_options
@click.option("--auto-approve", is_flag=True, help="Apply without asking.")
@click.option("--force-conflicts", is_flag=True, help="Take over fields that other field managers own.")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait until the models are ready.")
@click.option("--timeout", type=WAIT_SECONDS, default=600.0, show_default=True,
              help="Seconds to wait for readiness (0 to 86400).")
@click.option("--lock-timeout", type=WAIT_SECONDS, default=0.0, show_default=True,
              help="Seconds to wait for another apply to release the lock (0 to 86400).")
@click.option("--create-namespace", is_flag=True, help="Create the namespace if it does not exist.")
@click.option("--kube-version", callback=_kube_version, metavar="X.Y",
              help="For --target dir: compile for this version.")
@click.option("--no-color", is_flag=True, help="Plain text output.")
@mask_option
@registry_timeout_option
def apply(file: str, kubeconfig: str | None, context: str | None, namespace: str | None, target_spec: str,
          request_timeout: float, auto_approve: bool, force_conflicts: bool, wait: bool, timeout: float,
          lock_timeout: float, create_namespace: bool, kube_version: tuple[int, int] | None, no_color: bool,
          mask_all: bool, registry_timeout: float) -> None:
    """Apply a spec (plan, confirm, apply) or a saved plan (exactly that plan, if nothing changed since)."""
    _run_apply(file, kubeconfig, context, namespace, target_spec, request_timeout, auto_approve, force_conflicts,
               wait, timeout, lock_timeout, create_namespace, kube_version, no_color, destroy=False,
               mask_all=mask_all, registry_timeout=registry_timeout)


@cli.command()
@click.argument("file", type=click.Path(allow_dash=True))
@cluster_options
@click.option("--auto-approve", is_flag=True, help="Delete without asking.")
@click.option("--lock-timeout", type=WAIT_SECONDS, default=0.0, show_default=True,
              help="Seconds to wait for another run to release the lock (0 to 86400).")
@click.option("--kube-version", callback=_kube_version, metavar="X.Y",
              help="For --target dir: compile for this version.")
@click.option("--no-color", is_flag=True, help="Plain text output.")
@mask_option
def destroy(file: str, kubeconfig: str | None, context: str | None, namespace: str | None, target_spec: str,
            request_timeout: float, auto_approve: bool, lock_timeout: float,
            kube_version: tuple[int, int] | None, no_color: bool, mask_all: bool) -> None:
    """Delete every object this spec owns (and its ApplySet parent)."""
    _run_apply(file, kubeconfig, context, namespace, target_spec, request_timeout, auto_approve, False, False,
               600.0, lock_timeout, False, kube_version, no_color, destroy=True, mask_all=mask_all)


def _run_apply(file: str, kubeconfig: str | None, context: str | None, namespace: str | None, target_spec: str,
               request_timeout: float, auto_approve: bool, force_conflicts: bool, wait: bool, timeout: float,
               lock_timeout: float, create_namespace: bool, kube_version: tuple[int, int] | None, no_color: bool,
               *, destroy: bool, mask_all: bool = False, registry_timeout: float = 10.0) -> None:
    from specc.apply import ApplyOptions
    from specc.registry import load_registry
    from specc.report.plan import plan_text
    from specc.source import read_spec
    from specc.workflow import (
        apply_cluster,
        apply_directory,
        check_saved_plan,
        first_look,
        plan_cluster,
        plan_directory,
        preflight_apply,
        require_namespace,
        reread_for_saved_plan,
        run_locked,
    )

    colour = colour_wanted(no_color)
    resolve = _resolve_options(registry_timeout)

    def shown(plan: Any) -> str:
        return plan_text(plan.masked() if mask_all else plan, colour=colour)

    saved = _load_saved_plan(file)
    directory = _directory(target_spec)
    if saved is not None:
        if destroy:
            raise click.UsageError(f"{file} is a saved plan; `specc destroy` takes the spec file (or save a "
                                   "destroy plan with `specc plan --destroy -o PLAN` and apply that)")
        if directory is not None:
            raise click.UsageError("saved plans apply to clusters; for --target dir apply the spec file")
        # A saved plan is applied exactly as it was made: options that would change what it does are refused.
        if namespace is not None and namespace != saved.namespace:
            _refuse("-n/--namespace", f"cannot change a saved plan's namespace (it was made for namespace "
                    f"{saved.namespace}); plan again with -n {namespace}")
        if create_namespace:
            _refuse("--create-namespace", "cannot be used with a saved plan; give it to `specc plan`'s run "
                    "of apply, or create the namespace first")
        if kube_version is not None:
            _refuse("--kube-version", "cannot be used with a saved plan: it was compiled when it was made")
        if force_conflicts:
            _refuse("--force-conflicts", "cannot be used with a saved plan; plan again with --force-conflicts")
    else:
        _check_target_options(directory)
    question = ("Do you really want to delete every object of this spec?" if destroy
                else "Do you want to perform these actions?")
    if directory is not None:
        result, target = plan_directory(read_spec(file), directory, kube_version=kube_version, namespace=namespace,
                                        destroy=destroy, resolve=None if destroy else resolve)
        click.echo(shown(result), nl=False)
        if not result.has_changes and not target.kustomization_current():
            target.sync_kustomization()  # bookkeeping, like the cluster's ApplySet parent: no question
            click.echo(printable(f"Updated {directory / 'kustomization.yaml'}."))
        if not result.has_changes or not _confirm(auto_approve, question):
            return
        written, removed = apply_directory(result, target)
        click.echo(printable(f"Apply complete: {written} file(s) written, {removed} removed in {directory}."))
        return

    registry = load_registry()
    connection = _connection(kubeconfig, context, namespace, request_timeout)
    cluster = connection.connect()
    options = ApplyOptions(force_conflicts=force_conflicts, wait=wait, timeout=timeout,
                           create_namespace=create_namespace)
    progress = Progress(colour)
    lock_name = "destroy" if destroy else "apply"
    if saved is not None:
        check_saved_plan(saved, cluster)  # the right cluster, and the rights, before anything else
        # --create-namespace is refused with a saved plan above: the hint says what to do instead.
        require_namespace(cluster, saved.namespace, create=False,
                          hint="create it first, or apply the spec file (not the saved plan) with --create-namespace")

        def apply_saved(lock: Any) -> None:
            planned = reread_for_saved_plan(saved, cluster, registry, resolve)
            with progress:
                result = apply_cluster(planned, registry, options, progress, lock)
            click.echo(_done(result))

        run_locked(cluster, saved.namespace, saved.spec_name, lock_timeout, apply_saved, lock_name)
        return

    document = read_spec(file)
    # A first look without the lock and without previews: an apply with nothing to do writes nothing,
    # not even the lock.
    first = first_look(document, cluster, namespace=namespace, registry=registry, destroy=destroy,
                       command=lock_name, create_namespace=create_namespace, resolve=None if destroy else resolve)
    if not first.plan.has_changes and (first.read.parent is not None or destroy):
        click.echo(shown(first.plan), nl=False)
        click.echo("Apply complete: nothing to do.")
        return
    preflight_apply(first, create_namespace=create_namespace, destroy=destroy)  # before the first write
    if not destroy and require_namespace(cluster, first.plan.namespace, create=create_namespace,
                                         exists=first.read.namespace_exists):
        click.echo(f"Created namespace {first.plan.namespace}.", err=True)

    def locked(lock: Any) -> None:
        # Planned again under the lock: no other specc run can change the set between plan and apply.
        planned = plan_cluster(document, cluster, namespace=namespace, registry=registry,
                               force_conflicts=force_conflicts, destroy=destroy, preview_creates=False,
                               compiled=first.compiled, writing=True)
        click.echo(shown(planned.plan), nl=False)
        if not planned.plan.has_changes and planned.read.parent is not None:
            click.echo("Apply complete: nothing to do.")
            return
        if not _confirm(auto_approve, question):
            click.echo("Apply cancelled.")
            return
        with progress:
            result = apply_cluster(planned, registry, options, progress, lock, destroy=destroy)
        click.echo(_done(result))

    run_locked(cluster, first.plan.namespace, first.plan.spec_name, lock_timeout, locked, lock_name)


def _done(result: Any) -> str:
    ready = f", {len(result.ready)} ready" if result.ready else ""
    return f"Apply complete: {len(result.applied)} applied, {len(result.deleted)} deleted{ready}."


@cli.command("force-unlock")
@click.argument("file", type=click.Path(allow_dash=True))
@click.argument("lock_id")
@cluster_options
def force_unlock(file: str, lock_id: str, kubeconfig: str | None, context: str | None, namespace: str | None,
                 target_spec: str, request_timeout: float) -> None:
    """Remove the apply lock of a spec whose holder is gone; LOCK_ID must name that holder."""
    from specc.source import read_spec
    from specc.workflow import unlock

    if _directory(target_spec) is not None:
        _refuse("--target dir:", "has no lock: only applies to a cluster take one (nothing was removed)")
    _check_target_options(None)
    cluster = _connection(kubeconfig, context, namespace, request_timeout).connect()
    info, spec_namespace, name = unlock(read_spec(file), cluster, namespace=namespace, lock_id=lock_id)
    click.echo(printable(f"Removed the lock held by {info.holder} on {spec_namespace}/{name}."))


@cli.command()
@click.argument("old")
@click.argument("new", required=False)
@click.option("--base", metavar="REV", help="Compare FILE at the merge base with REV (e.g. origin/main) "
              "against the work tree: `specc diff serving.yaml --base origin/main`.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 with no changes, 2 with changes, 1 on error.")
@kube_version_option
@click.option("--no-color", is_flag=True, help="Plain text output.")
@mask_option
def diff(old: str, new: str | None, base: str | None, fmt: str, detailed_exitcode: bool,
         kube_version: tuple[int, int] | None, no_color: bool, mask_all: bool) -> None:
    """Review a spec change without a cluster: OLD and NEW spec files, or FILE with --base REV."""
    from specc.objects import DesiredSet
    from specc.pipeline import compile_document
    from specc.registry import load_registry
    from specc.report.review import review_json, review_markdown, review_text
    from specc.review import diff_specs
    from specc.source import read_spec, read_spec_at_revision

    if (new is None) == (base is None):
        raise click.UsageError("give OLD and NEW files, or one FILE with --base REV")
    if base is not None and (base.startswith("-") or not base.strip()):
        _refuse("--base", "must name a git revision (a branch, tag or commit), not an option")
    registry = load_registry()
    if base is not None:
        before_doc, after_doc = read_spec_at_revision(old, base), read_spec(old)
    else:
        assert new is not None
        before_doc, after_doc = read_spec(old), read_spec(new)
    after = compile_document(after_doc, kube_version=kube_version, registry=registry)
    _echo_err(_diagnostics(after.warnings))  # the new spec's warnings, as `validate` would show
    replace = {o.key: registry.backends[o.backend].replace_paths(o.body) for o in after.desired
               if o.backend in registry.backends}
    if before_doc is None:  # new in this change: everything is added
        before_name = f"{base}:{old} (absent)"
        before_models: tuple[Any, ...] = ()
        before_desired = DesiredSet(after.desired.spec_name, after.desired.namespace, ())
    else:
        before = compile_document(before_doc, kube_version=kube_version, registry=registry)
        before_name, before_models, before_desired = before_doc.name, before.validated.ir.models, before.desired
    review = diff_specs(before_name, before_models, before_desired,
                        after_doc.name, after.validated.ir.models, after.desired, replace,
                        layout_of=registry.artifact_layout)
    if mask_all:
        review = review.masked()
    if fmt == "json":
        click.echo(review_json(review), nl=False)
    elif fmt == "markdown":
        click.echo(review_markdown(review), nl=False)
    else:
        click.echo(review_text(review, colour=colour_wanted(no_color)), nl=False)
    if detailed_exitcode and review.has_changes:
        sys.exit(2)


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL (commands, options, backend and model names)."""
    from click.shell_completion import get_completion_class

    completer = get_completion_class(shell)
    assert completer is not None  # click ships all three
    # The same script click prints for `_SPECC_COMPLETE={shell}_source specc`.
    click.echo(completer(cli, {}, "specc", "_SPECC_COMPLETE").source())


# -- examples at the end of every --help ----------------------------------------------------------------
# Real commands: the ones that need no cluster run as written from the repository root (tests/test_cli_help.py).
EXAMPLES: dict[str, tuple[str, ...]] = {
    "": ("specc validate examples/*/serving.yaml",
         "specc render examples/sklearn-kserve/serving.yaml --backend kubernetes",
         "specc plan serving.yaml --format markdown --detailed-exitcode"),
    "validate": ("specc validate examples/*/serving.yaml",
                 "specc validate --format github examples/sklearn-kserve/serving.yaml",
                 "specc validate --format json serving.yaml | jq '.files[].diagnostics'"),
    "schema": ("specc schema",
               "specc schema > serving.schema.json  # for `# yaml-language-server: $schema=...`"),
    "backends": ("specc backends",
                 "specc render examples/sklearn-kserve/serving.yaml --backend seldon"),
    "render": ("specc render examples/sklearn-kserve/serving.yaml",
               "specc render examples/sklearn-kserve/serving.yaml --backend kubernetes --kube-version 1.22",
               "specc render examples/mixed-backends/serving.yaml --model ranker -n ml-staging"),
    "plan": ("specc plan serving.yaml --context prod",
             "specc plan serving.yaml --format markdown --detailed-exitcode > plan.md",
             "specc plan serving.yaml -o plan.json && specc apply plan.json"),
    "apply": ("specc apply serving.yaml",
              "specc apply serving.yaml --auto-approve --timeout 900 --lock-timeout 120",
              "specc apply serving.yaml --target dir:deploy/ml-prod --auto-approve"),
    "destroy": ("specc destroy serving.yaml",
                "specc destroy serving.yaml --auto-approve --context staging"),
    "force-unlock": ("specc force-unlock serving.yaml ci@runner-7:4242:1f2e3d4c",
                     "specc apply serving.yaml --lock-timeout 300  # or wait for the holder instead"),
    "diff": ("specc diff serving.yaml --base origin/main",
             "specc diff examples/sklearn-kserve/serving.yaml examples/mixed-backends/serving.yaml",
             "specc diff serving.yaml --base origin/main --format markdown > review.md"),
    "completion": ('eval "$(specc completion bash)"  # in ~/.bashrc',
                   'specc completion zsh > "${fpath[1]}/_specc"',
                   "specc completion fish > ~/.config/fish/completions/specc.fish"),
}


def _add_examples() -> None:
    for name, lines in EXAMPLES.items():
        command = cli if not name else cli.commands[name]
        # \b keeps click from re-wrapping the lines of the paragraph that follows it.
        command.epilog = "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in lines)


_add_examples()


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Entry point: the single place where specc errors become messages and exit codes."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="specc", standalone_mode=False)
    except SpeccError as error:
        _echo_err(_diagnostics(error.diagnostics))
        sys.exit(error.exit_code)
    except click.exceptions.Abort as abort:
        if isinstance(abort.__context__, KeyboardInterrupt):  # click turns Ctrl-C into Abort
            click.echo("interrupted", err=True)
            sys.exit(130)
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as error:
        # Shown like click's own messages, but escaped and redacted: an option's value is user input.
        message = printable(redact(error.format_message()))
        ctx = getattr(error, "ctx", None)
        if isinstance(error, click.UsageError) and ctx is not None:
            click.echo(ctx.get_usage(), err=True)
            click.echo(f"Try '{ctx.command_path} {ctx.help_option_names[0]}' for help.\n", err=True)
        click.echo(f"Error: {message}", err=True)
        sys.exit(1 if error.exit_code == 2 else error.exit_code)  # usage errors: 1, like other errors
    except click.exceptions.Exit as exit_:
        sys.exit(exit_.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as error:  # never a traceback for a user; SPECC_DEBUG=1 shows it
        if os.environ.get("SPECC_DEBUG"):
            raise
        click.echo(f"specc: internal error: {type(error).__name__}: {printable(redact(str(error)))} "
                   "(set SPECC_DEBUG=1 for details and please report it)", err=True)
        sys.exit(1)
    sys.exit(0)
