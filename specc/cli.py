"""The command line: parses arguments, runs the pipeline, prints what the reporters return.

The only module (with `specc.report`) that prints, and the one place that catches `SpeccError` and
turns it into an exit code: 0 success, 1 error, 2 changes present (`--detailed-exitcode`), 3 refused
before any write (lock held, wrong lock id). Heavy modules (the Kubernetes client, plan and apply)
are imported inside the commands that need them, so `validate` and `render` start fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from specc import __version__
from specc.diagnostics import Diagnostic, SpeccError
from specc.report.diagnostics import diagnostics_text

F = TypeVar("F", bound=Callable[..., Any])


def _kube_version(_: click.Context, __: click.Parameter, value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        major, minor = value.removeprefix("v").split(".")[:2]
        return int(major), int(minor)
    except ValueError:
        raise click.BadParameter(f"expected MAJOR.MINOR such as 1.30, got {value!r}") from None


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
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@kube_version_option
def validate(files: Sequence[str], fmt: str, kube_version: tuple[int, int] | None) -> None:
    """Check spec files; every problem is reported as FILE:LINE:COL with its path."""
    from specc.pipeline import compile_file
    from specc.report.diagnostics import validation_json

    results: list[tuple[str, list[Diagnostic]]] = []
    failed = False
    for file in files:
        try:  # each file is reported on its own, so one bad file does not hide the others' problems
            diagnostics = list(compile_file(file, kube_version=kube_version).warnings)
        except SpeccError as error:
            diagnostics, failed = list(error.diagnostics), True
        results.append((file, diagnostics))
    if fmt == "json":
        click.echo(validation_json(results), nl=False)
    else:
        for file, diagnostics in results:
            _echo_err(diagnostics_text(diagnostics))
            ok = not any(d.severity == "error" for d in diagnostics)
            if ok:
                click.echo(f"{file}: valid")
    if failed:
        sys.exit(1)


@cli.command()
def schema() -> None:
    """Print the JSON Schema of serving.yaml (with the installed backends' options)."""
    from specc.registry import load_registry
    from specc.schema import schema_text

    registry = load_registry()
    _echo_err(diagnostics_text(registry.warnings))
    click.echo(schema_text({n: b.Options for n, b in registry.backends.items()}), nl=False)


@cli.command()
def backends() -> None:
    """List the installed backend plugins."""
    from specc.registry import load_registry

    registry = load_registry()
    _echo_err(diagnostics_text(registry.warnings))
    width = max((len(n) for n in registry.names()), default=0)
    for name in registry.names():
        backend = registry.backends[name]
        formats = ", ".join(sorted(backend.formats))
        click.echo(f"{name:<{width}}  {backend.summary}\n{'':<{width}}  formats: {formats}")


@cli.command()
@click.argument("file", type=click.Path(allow_dash=True))
@click.option("--backend", "backend", metavar="NAME", help="Compile every model for this backend.")
@click.option("-o", "--output-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write one file per object into this directory instead of printing.")
@click.option("--namespace", "-n", help="Override metadata.namespace of the spec.")
@kube_version_option
@registry_timeout_option
def render(file: str, backend: str | None, output_dir: Path | None, namespace: str | None,
           kube_version: tuple[int, int] | None, registry_timeout: float) -> None:
    """Compile a spec into Kubernetes objects (multi-document YAML, byte-identical on every run)."""
    from specc.manifest_yaml import dump, dump_all
    from specc.objects import file_name
    from specc.pipeline import compile_file

    compiled = compile_file(file, kube_version=kube_version, backend=backend, namespace=namespace,
                            resolve=_resolve_options(registry_timeout))
    _echo_err(diagnostics_text(compiled.warnings))
    if output_dir is None:
        click.echo(dump_all(o.body for o in compiled.desired), nl=False)
        return
    output_dir.mkdir(parents=True, exist_ok=True)
    for obj in compiled.desired:
        (output_dir / file_name(obj.key)).write_text(dump(obj.body), encoding="utf-8")
    click.echo(f"wrote {len(compiled.desired)} objects to {output_dir}")


# -- plan and apply -------------------------------------------------------------------------------------

def cluster_options(f: F) -> F:
    f = click.option("--kubeconfig", type=click.Path(dir_okay=False), envvar="KUBECONFIG",
                     help="Kubeconfig file (default: $KUBECONFIG or ~/.kube/config).")(f)
    f = click.option("--context", help="Kubeconfig context to use.")(f)
    f = click.option("--namespace", "-n", help="Override metadata.namespace of the spec.")(f)
    f = click.option("--target", "target_spec", default="cluster", show_default=True, metavar="cluster|dir:PATH",
                     help="Where the objects live: the cluster, or a GitOps directory (one file per object).")(f)
    f = click.option("--request-timeout", type=float, default=30.0, show_default=True,
                     help="Seconds to wait for each API request.")(f)
    return f


def _directory(target_spec: str) -> Path | None:
    if target_spec == "cluster":
        return None
    if target_spec.startswith("dir:") and len(target_spec) > 4:
        return Path(target_spec[4:])
    raise click.BadParameter("expected 'cluster' or 'dir:PATH'", param_hint="--target")


def _connection(kubeconfig: str | None, context: str | None, namespace: str | None, timeout: float) -> Any:
    from specc.workflow import Connection

    return Connection(kubeconfig, context, namespace, timeout)


def _print_plan(plan: Any, fmt: str, colour: bool) -> None:
    from specc.report.plan import plan_json, plan_markdown, plan_text

    if fmt == "json":
        click.echo(plan_json(plan), nl=False)
    elif fmt == "markdown":
        click.echo(plan_markdown(plan), nl=False)
    else:
        click.echo(plan_text(plan, colour=colour), nl=False)


def _save_plan(plan: Any, path: Path) -> None:
    import json

    # The saved plan holds the objects to apply, unmasked (like Terraform's plan file): owner-only.
    text = json.dumps(plan.to_json(include_desired=True), indent=2, sort_keys=True) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def _load_saved_plan(path: str) -> Any | None:
    """A saved plan if `path` is one (JSON with a formatVersion), else None (a spec file)."""
    import json

    from specc.plan import Plan

    if not path.endswith(".json"):
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or "formatVersion" not in data:
        return None
    return Plan.from_json(data)


@cli.command()
@click.argument("file", type=click.Path(allow_dash=True))
@cluster_options
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 with no changes, 2 with changes, 1 on error.")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Save the plan for `specc apply PLAN` (contains the objects unmasked; written 0600).")
@click.option("--force-conflicts", is_flag=True, help="Preview taking over fields owned by other managers.")
@click.option("--destroy", is_flag=True, help="Plan the deletion of every object of the spec.")
@click.option("--kube-version", callback=_kube_version, metavar="X.Y",
              help="For --target dir: compile for this version.")
@click.option("--no-color", is_flag=True, help="Plain text output.")
@registry_timeout_option
def plan(file: str, kubeconfig: str | None, context: str | None, namespace: str | None, target_spec: str,
         request_timeout: float, fmt: str, detailed_exitcode: bool, out: Path | None, force_conflicts: bool,
         destroy: bool, kube_version: tuple[int, int] | None, no_color: bool, registry_timeout: float) -> None:
    """Show what apply would change: + create, ~ update, - delete, -/+ replace."""
    from specc.source import read_spec
    from specc.workflow import plan_cluster, plan_directory

    document = read_spec(file)
    directory = _directory(target_spec)
    if directory is not None:
        result, _ = plan_directory(document, directory, kube_version=kube_version, namespace=namespace,
                                   destroy=destroy, resolve=None if destroy else _resolve_options(registry_timeout))
    else:
        cluster = _connection(kubeconfig, context, namespace, request_timeout).connect()
        result = plan_cluster(document, cluster, namespace=namespace, force_conflicts=force_conflicts,
                              destroy=destroy, resolve=None if destroy else _resolve_options(registry_timeout)).plan
    _print_plan(result, fmt, colour=not no_color)
    if out is not None:
        _save_plan(result, out)
        click.echo(f"Saved the plan to {out}; apply it with: specc apply {out}", err=True)
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


def _progress_printer(colour: bool) -> Callable[[Any], None]:
    symbols = {"applied": "✓", "deleted": "✗", "waiting": "…", "ready": "✓", "failed": "!", "info": "·"}

    def show(event: Any) -> None:
        where = f"{event.model}: " if event.model else ""
        obj = f"{event.key} " if event.key is not None else ""
        line = f"  {symbols.get(event.kind, '-')} {where}{obj}{event.message}"
        if colour and event.kind == "failed":
            line = click.style(line, fg="red")
        click.echo(line, err=True)

    return show


@cli.command()
@click.argument("file", type=click.Path(allow_dash=True))
@cluster_options
@click.option("--auto-approve", is_flag=True, help="Apply without asking.")
@click.option("--force-conflicts", is_flag=True, help="Take over fields that other field managers own.")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait until the models are ready.")
@click.option("--timeout", type=float, default=600.0, show_default=True, help="Seconds to wait for readiness.")
@click.option("--lock-timeout", type=float, default=0.0, show_default=True,
              help="Seconds to wait for another apply to release the lock.")
@click.option("--create-namespace", is_flag=True, help="Create the namespace if it does not exist.")
@click.option("--kube-version", callback=_kube_version, metavar="X.Y",
              help="For --target dir: compile for this version.")
@click.option("--no-color", is_flag=True, help="Plain text output.")
@registry_timeout_option
def apply(file: str, kubeconfig: str | None, context: str | None, namespace: str | None, target_spec: str,
          request_timeout: float, auto_approve: bool, force_conflicts: bool, wait: bool, timeout: float,
          lock_timeout: float, create_namespace: bool, kube_version: tuple[int, int] | None, no_color: bool,
          registry_timeout: float) -> None:
    """Apply a spec (plan, confirm, apply) or a saved plan (exactly that plan, if nothing changed since)."""
    _run_apply(file, kubeconfig, context, namespace, target_spec, request_timeout, auto_approve, force_conflicts,
               wait, timeout, lock_timeout, create_namespace, kube_version, no_color, destroy=False,
               registry_timeout=registry_timeout)


@cli.command()
@click.argument("file", type=click.Path(allow_dash=True))
@cluster_options
@click.option("--auto-approve", is_flag=True, help="Delete without asking.")
@click.option("--lock-timeout", type=float, default=0.0, show_default=True)
@click.option("--kube-version", callback=_kube_version, metavar="X.Y",
              help="For --target dir: compile for this version.")
@click.option("--no-color", is_flag=True, help="Plain text output.")
def destroy(file: str, kubeconfig: str | None, context: str | None, namespace: str | None, target_spec: str,
            request_timeout: float, auto_approve: bool, lock_timeout: float,
            kube_version: tuple[int, int] | None, no_color: bool) -> None:
    """Delete every object this spec owns (and its ApplySet parent)."""
    _run_apply(file, kubeconfig, context, namespace, target_spec, request_timeout, auto_approve, False, False,
               600.0, lock_timeout, False, kube_version, no_color, destroy=True)


def _run_apply(file: str, kubeconfig: str | None, context: str | None, namespace: str | None, target_spec: str,
               request_timeout: float, auto_approve: bool, force_conflicts: bool, wait: bool, timeout: float,
               lock_timeout: float, create_namespace: bool, kube_version: tuple[int, int] | None, no_color: bool,
               *, destroy: bool, registry_timeout: float = 10.0) -> None:
    from specc.apply import ApplyOptions
    from specc.registry import load_registry
    from specc.report.plan import plan_text
    from specc.source import read_spec
    from specc.workflow import (
        apply_cluster,
        apply_directory,
        plan_cluster,
        plan_directory,
        reread_for_saved_plan,
        run_locked,
    )

    colour = not no_color
    resolve = _resolve_options(registry_timeout)
    saved = None if destroy else _load_saved_plan(file)
    directory = _directory(target_spec)
    question = ("Do you really want to delete every object of this spec?" if destroy
                else "Do you want to perform these actions?")
    if directory is not None:
        if saved is not None:
            raise click.UsageError("saved plans apply to clusters; for --target dir apply the spec file")
        result, target = plan_directory(read_spec(file), directory, kube_version=kube_version, namespace=namespace,
                                        destroy=destroy, resolve=None if destroy else resolve)
        click.echo(plan_text(result, colour=colour), nl=False)
        if not result.has_changes or not _confirm(auto_approve, question):
            return
        written, removed = apply_directory(result, target)
        click.echo(f"Apply complete: {written} file(s) written, {removed} removed in {directory}.")
        return

    registry = load_registry()
    connection = _connection(kubeconfig, context, namespace, request_timeout)
    cluster = connection.connect()
    options = ApplyOptions(force_conflicts=force_conflicts, wait=wait, timeout=timeout,
                           create_namespace=create_namespace)
    progress = _progress_printer(colour)
    lock_name = "destroy" if destroy else "apply"
    if saved is not None:
        def apply_saved(lock: Any) -> None:
            planned = reread_for_saved_plan(saved, cluster, registry, resolve)
            result = apply_cluster(planned, registry, options, progress, lock)
            click.echo(_done(result))

        run_locked(cluster, saved.namespace, saved.spec_name, lock_timeout, apply_saved, lock_name)
        return

    document = read_spec(file)
    # A first look without the lock and without previews: an apply with nothing to do writes nothing,
    # not even the lock.
    first = plan_cluster(document, cluster, namespace=namespace, registry=registry, destroy=destroy, preview=False,
                         resolve=None if destroy else resolve)
    if not first.plan.has_changes and (first.read.parent is not None or destroy):
        click.echo(plan_text(first.plan, colour=colour), nl=False)
        click.echo("Apply complete: nothing to do.")
        return
    if create_namespace and not first.read.namespace_exists:
        _ensure_namespace(cluster, first.plan.namespace)

    def locked(lock: Any) -> None:
        # Planned again under the lock: no other specc run can change the set between plan and apply.
        planned = plan_cluster(document, cluster, namespace=namespace, registry=registry,
                               force_conflicts=force_conflicts, destroy=destroy, preview_creates=False,
                               compiled=first.compiled)
        click.echo(plan_text(planned.plan, colour=colour), nl=False)
        if not planned.plan.has_changes and planned.read.parent is not None:
            click.echo("Apply complete: nothing to do.")
            return
        if not _confirm(auto_approve, question):
            click.echo("Apply cancelled.")
            return
        result = apply_cluster(planned, registry, options, progress, lock, destroy=destroy)
        click.echo(_done(result))

    run_locked(cluster, first.plan.namespace, first.plan.spec_name, lock_timeout, locked, lock_name)


def _done(result: Any) -> str:
    ready = f", {len(result.ready)} ready" if result.ready else ""
    return f"Apply complete: {len(result.applied)} applied, {len(result.deleted)} deleted{ready}."


def _identity(saved: Any, document: Any, namespace: str | None) -> tuple[str, str]:
    if saved is not None:
        return saved.spec_name, saved.namespace
    from specc.pipeline import compile_document

    compiled = compile_document(document, namespace=namespace)
    return compiled.desired.spec_name, compiled.desired.namespace


def _ensure_namespace(cluster: Any, name: str) -> None:
    from specc.targets import NAMESPACE

    if cluster.get(NAMESPACE, None, name) is None:
        cluster.apply(NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        click.echo(f"Created namespace {name}.", err=True)


@cli.command("force-unlock")
@click.argument("file", type=click.Path(allow_dash=True))
@click.argument("lock_id")
@cluster_options
def force_unlock(file: str, lock_id: str, kubeconfig: str | None, context: str | None, namespace: str | None,
                 target_spec: str, request_timeout: float) -> None:
    """Remove the apply lock of a spec whose holder is gone; LOCK_ID must name that holder."""
    from specc import lock as locking
    from specc.source import read_spec

    cluster = _connection(kubeconfig, context, namespace, request_timeout).connect()
    name, spec_namespace = _identity(None, read_spec(file), namespace)
    info = locking.force_unlock(cluster, spec_namespace, name, lock_id)
    click.echo(f"Removed the lock held by {info.holder} on {spec_namespace}/{name}.")


@cli.command()
@click.argument("old")
@click.argument("new", required=False)
@click.option("--base", metavar="REV", help="Compare FILE at the merge base with REV (e.g. origin/main) "
              "against the work tree: `specc diff serving.yaml --base origin/main`.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 with no changes, 2 with changes, 1 on error.")
@kube_version_option
@click.option("--no-color", is_flag=True, help="Plain text output.")
def diff(old: str, new: str | None, base: str | None, fmt: str, detailed_exitcode: bool,
         kube_version: tuple[int, int] | None, no_color: bool) -> None:
    """Review a spec change without a cluster: OLD and NEW spec files, or FILE with --base REV."""
    from specc.pipeline import compile_document
    from specc.registry import load_registry
    from specc.report.review import review_json, review_markdown, review_text
    from specc.review import diff_specs
    from specc.source import read_spec, read_spec_at_revision

    if (new is None) == (base is None):
        raise click.UsageError("give OLD and NEW files, or one FILE with --base REV")
    registry = load_registry()
    if base is not None:
        before_doc, after_doc = read_spec_at_revision(old, base), read_spec(old)
    else:
        assert new is not None
        before_doc, after_doc = read_spec(old), read_spec(new)
    before = compile_document(before_doc, kube_version=kube_version, registry=registry)
    after = compile_document(after_doc, kube_version=kube_version, registry=registry)
    _echo_err(diagnostics_text(after.warnings))  # the new spec's warnings, as `validate` would show
    replace = {o.key: registry.backends[o.backend].replace_paths(o.body) for o in after.desired
               if o.backend in registry.backends}
    review = diff_specs(before_doc.name, before.validated.ir.models, before.desired,
                        after_doc.name, after.validated.ir.models, after.desired, replace)
    if fmt == "json":
        click.echo(review_json(review), nl=False)
    elif fmt == "markdown":
        click.echo(review_markdown(review), nl=False)
    else:
        click.echo(review_text(review, colour=not no_color), nl=False)
    if detailed_exitcode and review.has_changes:
        sys.exit(2)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Entry point: the single place where specc errors become messages and exit codes."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="specc", standalone_mode=False)
    except SpeccError as error:
        _echo_err(diagnostics_text(error.diagnostics))
        sys.exit(error.exit_code)
    except click.exceptions.Abort as abort:
        if isinstance(abort.__context__, KeyboardInterrupt):  # click turns Ctrl-C into Abort
            click.echo("interrupted", err=True)
            sys.exit(130)
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as error:
        error.show()
        sys.exit(1 if error.exit_code == 2 else error.exit_code)  # usage errors: 1, like other errors
    except click.exceptions.Exit as exit_:
        sys.exit(exit_.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as error:  # never a traceback for a user; SPECC_DEBUG=1 shows it
        if os.environ.get("SPECC_DEBUG"):
            raise
        click.echo(f"specc: internal error: {type(error).__name__}: {error} "
                   "(set SPECC_DEBUG=1 for details and please report it)", err=True)
        sys.exit(1)
    sys.exit(0)
