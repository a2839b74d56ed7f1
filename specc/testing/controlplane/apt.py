"""apt-get as root (directly or through sudo), and the deb-src entry the Debian build needs.

Takes a `Runner` (the real one runs commands; a test's records them) and the machine's /etc/apt;
returns nothing (`Apt`) or the entry to write (`deb_src_entry`). Must not hard-code a mirror: the
deb-src entry is derived from the machine's own `deb` sources, so the build uses whatever mirror or
snapshot the machine is pinned to.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from specc.testing.controlplane.commands import Runner, progress, run_checked
from specc.testing.controlplane.errors import ControlPlaneError
from specc.testing.controlplane.locations import ENV_APISERVER, ENV_ETCD

APT_DIR = Path("/etc/apt")
DEB_SRC_NAME = "specc-deb-src"


class Apt:
    """apt-get with root (directly or through sudo).

    `apt-get update` runs once per process and again after any apt source file was written: a new
    deb-src entry is useless until apt has fetched its index (a fresh machine has none).
    `root_prefix` None: found out from the effective uid and sudo on first use.
    """

    def __init__(self, run: Runner = run_checked, *, root_prefix: Sequence[str] | None = None,
                 which: Callable[[str], str | None] = shutil.which) -> None:
        self._run = run
        self._which = which
        self._prefix: list[str] | None = None if root_prefix is None else list(root_prefix)
        self._updated = False

    def _root_prefix(self) -> list[str]:
        if self._prefix is None:
            if self._which("apt-get") is None:
                raise ControlPlaneError(
                    "apt-get not found: the installer only knows Debian/Ubuntu. Provide kube-apiserver "
                    f"and etcd yourself and set ${ENV_APISERVER} and ${ENV_ETCD}."
                )
            if os.geteuid() == 0:
                self._prefix = []
            else:
                sudo = self._which("sudo")
                if sudo is None:
                    raise ControlPlaneError(
                        "installing packages needs root and sudo is not available: run "
                        "`python -m specc.testing.controlplane install` as root, or set "
                        f"${ENV_APISERVER} and ${ENV_ETCD} to existing binaries."
                    )
                self._prefix = [sudo]
        return self._prefix

    def run_root(self, argv: Sequence[str], what: str) -> None:
        # `env` rather than the environment dict: sudo would drop DEBIAN_FRONTEND.
        self._run([*self._root_prefix(), "env", "DEBIAN_FRONTEND=noninteractive", *argv], what)

    def update(self) -> None:
        if not self._updated:
            progress("apt-get update")
            self.run_root(["apt-get", "update"], "apt-get update")
            self._updated = True

    def install(self, packages: Sequence[str]) -> None:
        self.update()
        self.run_root(["apt-get", "install", "-y", "--no-install-recommends", *packages],
                      f"apt-get install {' '.join(packages)}")

    def write_root_file(self, path: Path, content: str) -> None:
        # Any file under /etc/apt may change what apt can see: the next update() must really run.
        self._updated = False
        prefix = self._root_prefix()
        with tempfile.NamedTemporaryFile("w", suffix=path.suffix, delete=False) as tmp:
            tmp.write(content)
        try:
            # `install` (coreutils) rather than a Python write: it works through sudo and sets the
            # mode a source file needs (apt's unprivileged `_apt` user must read it).
            self._run([*prefix, "install", "-m", "0644", tmp.name, str(path)], f"writing {path}")
        finally:
            os.unlink(tmp.name)



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


def deb_src_entry(apt_dir: Path = APT_DIR) -> tuple[Path, str] | None:
    """The (file, content) of a deb-src entry mirroring the machine's Debian `deb` sources.

    None when one is already configured (ours, or deb-src in the machine's own Debian source file).
    Derived from the machine's own sources so the build uses whatever mirror/snapshot it is pinned to.
    """
    parts = apt_dir / "sources.list.d"
    if (parts / f"{DEB_SRC_NAME}.sources").exists() or (parts / f"{DEB_SRC_NAME}.list").exists():
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
            return parts / f"{DEB_SRC_NAME}.sources", header + "\n\n".join(converted) + "\n"
    one_line = apt_dir / "sources.list"
    if one_line.is_file():
        lines = [line.strip() for line in one_line.read_text().splitlines()]
        if any(line.startswith("deb-src ") for line in lines):
            return None
        converted = ["deb-src " + line.removeprefix("deb ") for line in lines if line.startswith("deb ")]
        if converted:
            return parts / f"{DEB_SRC_NAME}.list", header + "\n".join(converted) + "\n"
    raise ControlPlaneError(
        f"no Debian apt source found in {deb822} or {one_line}; add a deb-src entry by hand so that "
        f"`apt-get source kubernetes` works, or set ${ENV_APISERVER} to a kube-apiserver 1.20"
    )


