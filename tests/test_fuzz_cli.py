"""A fuzz target over the command line's options (hypothesis): any combination of commands, hostile
numbers and durations, names, targets, output paths and flags, run in-process in a scratch directory
holding the planted-secret spec of tests/cases/cli, a FIFO, a symlink out of the directory and a
hand-written file. Whatever the combination:

- no traceback and no "internal error": every misuse is a message;
- the exit code is 0, 1, 2 or 3;
- no planted secret in stdout or stderr (except `render`'s stdout, which is the objects themselves,
  as `kubectl apply -f` needs them);
- no file outside what specc may write (the `out/` directory target or render directory, and `p.json`
  as a saved plan) is created, changed or removed, and nothing is written through the symlink.

Cluster commands get no reachable cluster (no kubeconfig, or a broken one), so they end at the
option checks or at the kubeconfig: the point is the options, not a server.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import CASES

PLANTED = "s3cr3t"
ALLOWED = ("out", "p.json")  # what specc may create or change here

NUMBERS = st.sampled_from(["0", "-1", "nan", "inf", "-inf", "1e12", "1e309", "0.05", "0.5", "3", "86401",
                           "3600", "abc", "", " 5", "0x10", "1_000", "١"])
NAMES = st.sampled_from(["ml-prod", "other", "../x", "A", "", "a" * 64, "kube-system", "x\x1b[2J", "-n"])
TARGETS = st.sampled_from(["dir:out", "dir:out", "dir:", "cluster", "dir:/proc/specc-fuzz", "dir:serving.yaml",
                           "dir:link-out", "dir:pipe", "s3://x", "dir:out/../out"])
PATHS = st.sampled_from(["p.json", "p.json", "serving.yaml", "notes.txt", "link.json", "pipe", "/proc/x",
                         "notes.txt/sub", "out", ""])
FILES = st.sampled_from(["serving.yaml", "serving.yaml", "p.json", "pipe", "missing.yaml", "notes.txt", "-",
                         "out", "link.json"])
OPTIONS = st.one_of(
    st.tuples(st.sampled_from(["--request-timeout", "--timeout", "--lock-timeout"]), NUMBERS),
    st.tuples(st.just("--kube-version"), st.sampled_from(["1.30", "1.20", "2.0", "1", "v1.29", "1.x", "1.999"])),
    st.tuples(st.sampled_from(["-n", "--namespace", "--context"]), NAMES),
    st.tuples(st.just("--target"), TARGETS),
    st.tuples(st.sampled_from(["-o", "--out", "--output-dir"]), PATHS),
    st.tuples(st.just("--kubeconfig"), st.sampled_from(["missing", "notes.txt", "pipe", "empty", "out"])),
    st.tuples(st.just("--format"), st.sampled_from(["text", "json", "markdown", "github", "yaml"])),
    st.tuples(st.just("--backend"), st.sampled_from(["kserve", "seldon", "bentoml", "bogus", "KSERVE"])),
    st.tuples(st.just("--base"), st.sampled_from(["--all", "-p", "main", "HEAD~999"])),
    st.sampled_from([("--auto-approve",), ("--mask-all",), ("--destroy",), ("--force-conflicts",),
                     ("--create-namespace",), ("--no-wait",), ("--wait",), ("--detailed-exitcode",),
                     ("--no-color",), ("-h",), ("--bogus",)]),
)
COMMANDS = st.sampled_from(["validate", "render", "plan", "plan", "apply", "apply", "destroy", "diff",
                            "force-unlock", "schema", "backends"])


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    command = draw(COMMANDS)
    args = [command]
    if command not in ("schema", "backends"):
        args.append(draw(FILES))
    if command == "force-unlock":
        args.append(draw(st.sampled_from(["holder", "", "-x"])))
    if command == "diff" and draw(st.booleans()):
        args.append(draw(FILES))
    if command in ("plan", "apply", "destroy") and draw(st.booleans()):
        args += ["--target", "dir:out"]
    for option in draw(st.lists(OPTIONS, max_size=4)):
        args.extend(option)
    return args


def scratch(directory: Path) -> None:
    (directory / "serving.yaml").write_bytes((CASES / "cli" / "serving.yaml").read_bytes())
    (directory / "notes.txt").write_text("hand-written\n", encoding="utf-8")
    (directory / "empty").write_text("", encoding="utf-8")
    (directory / "victim").mkdir()
    (directory / "victim" / "keep.txt").write_text("keep\n", encoding="utf-8")
    os.symlink("victim/keep.txt", directory / "link.json")
    os.symlink("victim", directory / "link-out")
    os.mkfifo(directory / "pipe")


def tree(directory: Path) -> dict[str, tuple[str, bytes, int]]:
    """Every entry outside what specc may write: its kind, content (files) or target (links), mode."""
    found: dict[str, tuple[str, bytes, int]] = {}
    for root, dirs, files in os.walk(directory, followlinks=False):
        for name in [*dirs, *files]:
            path = Path(root) / name
            relative = path.relative_to(directory).as_posix()
            if relative.split("/")[0] in ALLOWED:
                continue
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                found[relative] = ("link", os.readlink(path).encode(), 0)
            elif stat.S_ISREG(info.st_mode):
                found[relative] = ("file", path.read_bytes(), stat.S_IMODE(info.st_mode))
            else:
                found[relative] = ("other", b"", stat.S_IMODE(info.st_mode))
    return found


@contextlib.contextmanager
def environment(directory: Path) -> Iterator[None]:
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    for key in ("KUBECONFIG", "SPECC_DEBUG", "SPECC_MASK_ALL"):
        os.environ.pop(key, None)
    os.environ["HOME"] = str(directory)
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


def run_in_process(args: list[str]) -> tuple[int, str, str]:
    from specc.cli import main

    out, err = io.StringIO(), io.StringIO()
    stdin = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(b""))  # never a terminal: apply without --auto-approve refuses
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(args)
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
            else:  # pragma: no cover - main always exits
                code = 0
    finally:
        sys.stdin = stdin
    return code, out.getvalue(), err.getvalue()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(command_lines())
def test_any_command_line_ends_with_a_message_and_touches_only_its_output(args: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="specc-fuzz-") as name:
        directory = Path(name)
        scratch(directory)
        before = tree(directory)
        with environment(directory):
            code, stdout, stderr = run_in_process(args)
        output = stdout + stderr
        assert code in (0, 1, 2, 3), (args, output)
        assert "Traceback" not in output and "internal error" not in output, (args, output)
        shown = stderr if args[0] == "render" else output
        assert PLANTED not in shown, (args, shown)
        assert tree(directory) == before, args
