"""The command line as a shell user meets it: every --help ends with real examples, and the
completion scripts complete commands, options, backend names and model names.

Completion is click's mechanism (click.shell_completion): the script calls `specc` back with
`_SPECC_COMPLETE=bash_complete`, `COMP_WORDS` and `COMP_CWORD`. The bash test sources the script
that `specc completion bash` prints into a real bash, sets COMP_WORDS/COMP_CWORD as bash's
programmable completion would, calls the completion function and reads COMPREPLY.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from specc.cli import EXAMPLES, cli, main

from .conftest import ROOT

COMMANDS = sorted(cli.commands)
# Examples that need a cluster, a git history or a shell pipeline are shown, not run here.
RUNNABLE = ("validate", "render", "schema", "backends", "diff", "completion")


def help_text(*names: str) -> str:
    result = subprocess.run([sys.executable, "-m", "specc", *names, "--help"], cwd=ROOT, capture_output=True,
                            text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def examples_of(text: str) -> list[str]:
    head, _, tail = text.rpartition("\n  Examples:\n\n")
    assert head, "no Examples section"
    return [line.strip() for line in tail.splitlines() if line.strip()]


def test_every_command_is_covered() -> None:
    assert set(EXAMPLES) == {"", *COMMANDS}


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_ends_with_two_or_three_examples(command: str) -> None:
    text = help_text(*([command] if command else []))
    examples = examples_of(text)
    assert 2 <= len(examples) <= 3, examples
    assert all("specc " in e for e in examples)
    assert text.rstrip().endswith(examples[-1])  # at the very end, after the options
    # Every option an example uses exists on the command it calls.
    for example in examples:
        for call in re.findall(r"specc [^|>&#)\"]*", example):  # each specc call, without the shell around it
            check_options(example, shlex.split(call))


def check_options(example: str, words: list[str]) -> None:
    sub = cli.commands.get(words[1]) if len(words) > 1 else None
    if sub is not None:
        known = {o for p in sub.params for o in [*getattr(p, "opts", []), *getattr(p, "secondary_opts", [])]}
        for word in words:
            if word.startswith("-") and word != "-":
                assert word.split("=")[0] in known, f"{example}: {word} is not an option of {sub.name}"


def runnable() -> list[str]:
    out = []
    for command in RUNNABLE:
        for example in EXAMPLES[command]:
            words = example.split()
            files = [w for w in words if w.endswith(".yaml")]
            if example.startswith("specc ") and not any(c in example for c in "|>&$#") and \
                    all(glob.glob(str(ROOT / f)) for f in files):  # `serving.yaml` stands for the user's
                out.append(example)
    return sorted(set(out))


@pytest.mark.parametrize("example", runnable())
def test_the_examples_run(example: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    words = []
    for word in shlex.split(example)[1:]:
        words += sorted(glob.glob(word)) if "*" in word else [word]
    with pytest.raises(SystemExit) as exited:
        main(words)
    out, err = capsys.readouterr()
    assert exited.value.code in (0, None), err
    assert out or "--format github" in example  # annotations only for problems: none for a valid file


# -- completion --------------------------------------------------------------------------------------

def bash_complete(words: list[str], tmp_path: Path) -> list[str]:
    """COMPREPLY after bash completes the last of `words` with the script `specc completion bash` prints."""
    script = _script("bash", tmp_path)
    quoted = " ".join(shlex.quote(w) for w in words)
    program = (f"source {shlex.quote(str(script))}\n"
               f"COMP_WORDS=({quoted})\nCOMP_CWORD={len(words) - 1}\n"
               "_specc_completion specc\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n")
    env = {**os.environ, "PATH": _shim_path(tmp_path)}
    done = subprocess.run(["bash", "--norc", "--noprofile", "-c", program], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if line]


def test_bash_completes_commands(tmp_path: Path) -> None:
    assert bash_complete(["specc", "re"], tmp_path) == ["render"]
    assert set(bash_complete(["specc", ""], tmp_path)) >= {"validate", "render", "plan", "apply", "completion"}


def test_bash_completes_options(tmp_path: Path) -> None:
    assert "--backend" in bash_complete(["specc", "render", "serving.yaml", "--b"], tmp_path)


def test_bash_completes_backend_names(tmp_path: Path) -> None:
    from specc.registry import load_registry

    names = load_registry().names()
    assert bash_complete(["specc", "render", "x.yaml", "--backend", ""], tmp_path) == names
    assert bash_complete(["specc", "render", "x.yaml", "--backend", "ks"], tmp_path) == ["kserve"]


def test_bash_completes_model_names_from_the_spec_on_the_line(tmp_path: Path) -> None:
    spec = "examples/mixed-backends/serving.yaml"
    assert bash_complete(["specc", "render", spec, "--model", ""], tmp_path) == \
        ["candidate-gen", "embedder", "explainer-svc", "ranker"]
    assert bash_complete(["specc", "render", spec, "--model", "r"], tmp_path) == ["ranker"]
    # A file that cannot be read completes nothing, quietly.
    assert bash_complete(["specc", "render", "missing.yaml", "--model", ""], tmp_path) == []


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_command_prints_clicks_script(shell: str, capsys: pytest.CaptureFixture[str]) -> None:
    from click.shell_completion import get_completion_class

    with pytest.raises(SystemExit) as exited:
        main(["completion", shell])
    assert exited.value.code in (0, None)
    out = capsys.readouterr().out
    completer = get_completion_class(shell)
    assert completer is not None
    assert out == completer(cli, {}, "specc", "_SPECC_COMPLETE").source() + "\n"
    assert "_SPECC_COMPLETE" in out


def test_the_environment_variable_mechanism_gives_the_same_script() -> None:
    env = {**os.environ, "_SPECC_COMPLETE": "bash_source"}
    via_env = subprocess.run([sys.executable, "-m", "specc"], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=30, check=False)
    via_command = subprocess.run([sys.executable, "-m", "specc", "completion", "bash"], cwd=ROOT,
                                 capture_output=True, text=True, timeout=30, check=False)
    assert via_env.returncode == 0 and via_env.stdout.strip() == via_command.stdout.strip()
    assert isinstance(cli, click.Group)


def _script(shell: str, tmp_path: Path) -> Path:
    path = tmp_path / f"specc.{shell}"
    path.write_text(subprocess.run([sys.executable, "-m", "specc", "completion", shell], cwd=ROOT,
                                   capture_output=True, text=True, timeout=30, check=True).stdout, encoding="utf-8")
    return path


def _shim_path(tmp_path: Path) -> str:
    """PATH with a `specc` first: the scripts call `specc` back by name, as an installed one would be."""
    shim = tmp_path / "bin" / "specc"
    shim.parent.mkdir(exist_ok=True)
    shim.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m specc \"$@\"\n", encoding="utf-8")
    shim.chmod(0o755)
    return f"{shim.parent}{os.pathsep}{os.environ.get('PATH', '')}"


def test_fish_completes_with_the_script(tmp_path: Path) -> None:
    # fish's own `complete -C LINE` prints the candidates fish would offer for LINE.
    if shutil.which("fish") is None:
        pytest.skip("fish is not installed (apt-get install fish); bash is tested above")
    script = _script("fish", tmp_path)

    def complete(line: str) -> list[str]:
        program = f"source {shlex.quote(str(script))}; complete -C {shlex.quote(line)}"
        done = subprocess.run(["fish", "--no-config", "-c", program], cwd=ROOT,
                              env={**os.environ, "PATH": _shim_path(tmp_path)}, capture_output=True, text=True,
                              timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        return [line.split("\t")[0] for line in done.stdout.splitlines()]

    assert complete("specc render examples/mixed-backends/serving.yaml --model ") == \
        ["candidate-gen", "embedder", "explainer-svc", "ranker"]
    assert complete("specc render x.yaml --backend ks") == ["kserve"]
    assert "render" in complete("specc re")


def test_zsh_completes_with_the_script(tmp_path: Path) -> None:
    # Outside an interactive completion widget zsh has no compsys: `compdef`, `_describe` and
    # `compadd` are stubbed to print what the script hands them; the rest is the script as printed.
    if shutil.which("zsh") is None:
        pytest.skip("zsh is not installed (apt-get install zsh); bash is tested above")
    script = _script("zsh", tmp_path)
    program = (
        "compdef() { : }\n_describe() { local name=$3; print -l -- ${(P)name} }\n"
        "compadd() { local name=${@[-1]}; print -l -- ${(P)name} }\n"
        f"source {shlex.quote(str(script))}\n"
        "words=(specc render examples/mixed-backends/serving.yaml --model '')\nCURRENT=5\n_specc_completion\n"
        "print -- ---\nwords=(specc render x.yaml --backend ks)\nCURRENT=5\n_specc_completion\n")
    done = subprocess.run(["zsh", "-f", "-c", program], cwd=ROOT, env={**os.environ, "PATH": _shim_path(tmp_path)},
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    models, backends = done.stdout.split("---\n")
    assert models.split() == ["candidate-gen", "embedder", "explainer-svc", "ranker"]
    assert [line.split(":")[0] for line in backends.splitlines()] == ["kserve"]
