"""The control plane's credentials: bearer tokens for its two users and the service-account key.

Takes the data directory; writes `tokens.csv` (0600) and `service-account.key` there and returns the
tokens. Must not write them anywhere else, or log them.
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path
from typing import NamedTuple

from specc.testing.controlplane.commands import run_checked
from specc.testing.controlplane.errors import ControlPlaneError

ADMIN_USER = "admin"
RESTRICTED_USER = "restricted"


class Tokens(NamedTuple):
    admin: str
    restricted: str


def write_tokens(data: Path) -> tuple[Path, Tokens]:
    """`admin` (group system:masters) and `restricted` (no groups, so RBAC forbids it nearly everything)."""
    tokens = Tokens(secrets.token_hex(16), secrets.token_hex(16))
    path = data / "tokens.csv"
    # Token file columns: token,user,uid,"groups". The restricted user has no groups, so RBAC
    # allows it only what every authenticated user may do (discovery, self-reviews).
    path.touch(mode=0o600)
    path.write_text(
        f'{tokens.admin},{ADMIN_USER},{ADMIN_USER},"system:masters"\n'
        f"{tokens.restricted},{RESTRICTED_USER},{RESTRICTED_USER}\n"
    )
    return path, tokens


def generate_rsa_key(path: Path) -> None:
    """An RSA key for signing/verifying service-account tokens (required flags since 1.20)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise ControlPlaneError("the openssl command is needed to generate the service-account key "
                                "(Debian: apt-get install openssl)")
    run_checked([openssl, "genrsa", "-out", str(path), "2048"], "openssl genrsa")
    path.chmod(0o600)
