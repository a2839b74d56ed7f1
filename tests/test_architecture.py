"""The architecture's rules, checked on the source: who may import what, who may print, who may read
files, and that the fast commands never load the Kubernetes client."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

SPECC = ROOT / "specc"
BACKENDS = ROOT / "backends"
REGISTRIES = ROOT / "registries"


def modules(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def calls(path: Path) -> set[str]:
    """Dotted names of everything called in a module (`print`, `click.echo`, `open`, `x.read_text`)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                names.add(func.id)
            elif isinstance(func, ast.Attribute):
                base = func.value.id if isinstance(func.value, ast.Name) else "?"
                names.add(f"{base}.{func.attr}")
                names.add(f".{func.attr}")
    return names


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("path", modules(BACKENDS), ids=relative)
def test_backends_import_only_the_backend_api(path: Path) -> None:
    own = path.relative_to(BACKENDS).parts[0]
    for name in imports(path):
        if name == "specc" or name.startswith("specc."):
            assert name == "specc.backend_api" or name.startswith("specc.backend_api."), \
                f"{relative(path)} imports {name}: backends may import only specc.backend_api"
        assert not (name.startswith("specc_") and not name.startswith(own)), \
            f"{relative(path)} imports another backend ({name})"


def test_only_the_cluster_module_imports_the_kubernetes_client() -> None:
    users = [relative(p) for p in [*modules(SPECC), *modules(BACKENDS)]
             if any(n == "kubernetes" or n.startswith("kubernetes.") for n in imports(p))]
    assert users == ["specc/cluster.py"]


# Test support (`specc/testing/`: the control plane, the cached engine environments) is not part of the
# pipeline: it prints progress of slow installs and manages its own files, so it is exempt below.
TEST_SUPPORT = "specc/testing/"

PRINTERS = {"specc/cli.py"}


@pytest.mark.parametrize("path", [p for p in [*modules(SPECC), *modules(BACKENDS), *modules(REGISTRIES)]
                                  if relative(p) not in PRINTERS and not relative(p).startswith(TEST_SUPPORT)],
                         ids=relative)
def test_only_the_cli_prints(path: Path) -> None:
    called = calls(path)
    assert not called & {"print", "click.echo", "click.secho", "sys.stdout.write", "sys.stderr.write",
                         "pprint"}, f"{relative(path)} prints; return text to the CLI instead"


# Modules allowed to touch the file system, and why.
FILE_READERS = {
    "specc/source.py",  # the loader: the one reader of spec files
    "specc/files.py",  # the one writer of files, and reader of files that are not specs
    "specc/registry_client.py",  # `opener.open` is an HTTP request to a registry, not a file
}


@pytest.mark.parametrize("path", [p for p in [*modules(SPECC), *modules(BACKENDS), *modules(REGISTRIES)]
                                  if relative(p) not in FILE_READERS and not relative(p).startswith(TEST_SUPPORT)],
                         ids=relative)
def test_only_designated_modules_touch_files(path: Path) -> None:
    called = calls(path)
    assert not called & {"open", ".read_text", ".read_bytes", ".write_text", ".write_bytes", ".open",
                         "os.open", ".unlink", ".mkdir"}, f"{relative(path)} does file I/O"


@pytest.mark.parametrize("command", [["validate"], ["render"]])
def test_validate_and_render_do_not_load_the_kubernetes_client(command: list[str]) -> None:
    spec = ROOT / "examples" / "sklearn-kserve" / "serving.yaml"
    probe = ("import sys\nfrom specc.cli import main\n"
             "try:\n    main([*sys.argv[1:]])\nexcept SystemExit as e:\n    code = e.code\n"
             "loaded = sorted(m for m in sys.modules if m == 'kubernetes' or m.startswith('kubernetes.'))\n"
             "sys.stderr.write('LOADED=' + ','.join(loaded) + '\\n')\nsys.exit(code)\n")
    done = subprocess.run([sys.executable, "-c", probe, *command, str(spec)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "LOADED=\n" in done.stderr


# -- model registries ----------------------------------------------------------------------------------

HTTP_CLIENTS = {"urllib.request", "http.client", "requests", "httpx", "urllib3", "aiohttp"}


def test_only_the_registry_client_talks_to_registries() -> None:
    """One module makes HTTP requests to model registries (plugins get it handed as a `JsonApi`);
    the API server is reached only through the Kubernetes client, in `specc.cluster`."""
    users = [relative(p) for p in [*modules(SPECC), *modules(BACKENDS), *modules(REGISTRIES)]
             if imports(p) & HTTP_CLIENTS and not relative(p).startswith("specc/testing/")]
    assert users == ["specc/cluster.py", "specc/registry_client.py"]


@pytest.mark.parametrize("path", modules(REGISTRIES), ids=relative)
def test_registry_plugins_import_only_the_registry_api(path: Path) -> None:
    for name in imports(path):
        if name == "specc" or name.startswith("specc."):
            assert name == "specc.registry_api", f"{relative(path)} imports {name}: registry plugins may " \
                "import only specc.registry_api"


REGISTRY_SPEC = ROOT / "tests" / "cases" / "valid" / "registry-alias-and-version" / "serving.yaml"


def test_validate_of_a_registry_reference_stays_offline() -> None:
    """`specc validate` of a spec with registry references loads no registry code and no network
    client, and needs no tracking URI (it never asks the registry)."""
    probe = ("import sys\nfrom specc.cli import main\n"
             "try:\n    main([*sys.argv[1:]])\nexcept SystemExit as e:\n    code = e.code\n"
             "watched = ('specc.resolve', 'specc.registry_client', 'specc_mlflow', 'urllib.request', 'ssl', "
             "'kubernetes')\n"
             "loaded = sorted(m for m in sys.modules if m in watched)\n"
             "sys.stderr.write('LOADED=' + ','.join(loaded) + '\\n')\nsys.exit(code)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    done = subprocess.run([sys.executable, "-c", probe, "validate", str(REGISTRY_SPEC)], capture_output=True,
                          text=True, timeout=60, check=False, env=env)
    assert done.returncode == 0, done.stderr
    assert "LOADED=\n" in done.stderr
