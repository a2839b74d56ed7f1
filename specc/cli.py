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
@kube_version_option
def render(file: str, backend: str | None, output_dir: Path | None, kube_version: tuple[int, int] | None) -> None:
    """Compile a spec into Kubernetes objects (multi-document YAML, byte-identical on every run)."""
    from specc.manifest_yaml import dump, dump_all
    from specc.objects import file_name
    from specc.pipeline import compile_file

    compiled = compile_file(file, kube_version=kube_version, backend=backend)
    _echo_err(diagnostics_text(compiled.warnings))
    if output_dir is None:
        click.echo(dump_all(o.body for o in compiled.desired), nl=False)
        return
    output_dir.mkdir(parents=True, exist_ok=True)
    for obj in compiled.desired:
        (output_dir / file_name(obj.key)).write_text(dump(obj.body), encoding="utf-8")
    click.echo(f"wrote {len(compiled.desired)} objects to {output_dir}")


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Entry point: the single place where specc errors become messages and exit codes."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="specc", standalone_mode=False)
    except SpeccError as error:
        _echo_err(diagnostics_text(error.diagnostics))
        sys.exit(error.exit_code)
    except click.exceptions.Abort:
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
