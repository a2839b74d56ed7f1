"""The kubeconfig a control plane hands to clients (specc, kubectl, the controller-manager).

Takes the server URL and the tokens; writes a 0600 file with contexts `admin` and `restricted`.
Must not verify TLS against anything: the apiserver's certificate is self-signed at start-up.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from specc.testing.controlplane.keys import ADMIN_USER, RESTRICTED_USER, Tokens


def write(path: Path, server: str, tokens: Tokens) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "specc", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
        "users": [
            {"name": ADMIN_USER, "user": {"token": tokens.admin}},
            {"name": RESTRICTED_USER, "user": {"token": tokens.restricted}},
        ],
        "contexts": [
            {"name": ADMIN_USER, "context": {"cluster": "specc", "user": ADMIN_USER}},
            {"name": RESTRICTED_USER, "context": {"cluster": "specc", "user": RESTRICTED_USER}},
        ],
        "current-context": ADMIN_USER,
        "preferences": {},
    }
    path.touch(mode=0o600)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
