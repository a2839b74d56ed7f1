"""A real Kubernetes control plane on loopback for specc's test suite (and `up`, to try specc by hand).

Two releases (see `installer`): **1.36** from `../shared/kube` (verified against its SHA256SUMS,
unpacked once into the per-machine cache `$SPECC_CACHE_DIR`, else `${XDG_CACHE_HOME:-~/.cache}/specc`),
run as etcd + kube-apiserver + kube-controller-manager with every controller; and **1.20** (kube-apiserver
built once from Debian's `kubernetes` source package, no controllers) for the old-cluster checks. Without
`../shared/kube` the default falls back to 1.20. `$SPECC_KUBE_APISERVER` and `$SPECC_ETCD` point the 1.20
release at existing binaries.

Modules: `apt` (apt-get as root, the deb-src entry), `debian_build` + `reflect2` (the 1.20 build and the
vendored-reflect2 fix it needs with Go >= 1.18), `shared_kube` (the 1.36 binaries), `installer` (which
binaries, installing what is missing), `keys` (tokens, service-account key), `kubeconfig`, `crds` (the
serving CRDs), `api` (plain HTTP to the apiserver), `processes` (`ControlPlane`), `__main__` (the CLI:
`python -m specc.testing.controlplane install|up`).

Must not use the `kubernetes` Python client (that belongs to specc's own cluster module; this package
speaks plain HTTP so that a bug there cannot hide behind the fixture), or leave processes behind.
"""

from specc.testing.controlplane.api import ApiResponse
from specc.testing.controlplane.apt import deb_src_entry
from specc.testing.controlplane.crds import minimal_crds, select_crd_files, strip_empty_string_defaults
from specc.testing.controlplane.debian_build import KUBE_VERSION as OLD_KUBE_VERSION
from specc.testing.controlplane.errors import ControlPlaneError
from specc.testing.controlplane.installer import (
    CURRENT,
    OLD,
    Binaries,
    current_available,
    default_release,
    ensure_binaries,
    install_all,
)
from specc.testing.controlplane.keys import ADMIN_USER, RESTRICTED_USER
from specc.testing.controlplane.locations import cache_dir, default_crd_dir, default_kube_dir
from specc.testing.controlplane.processes import ControlPlane
from specc.testing.controlplane.reflect2 import patch_reflect2_for_go118
from specc.testing.controlplane.shared_kube import KUBE_VERSION as CURRENT_KUBE_VERSION

__all__ = [
    "ADMIN_USER",
    "CURRENT",
    "CURRENT_KUBE_VERSION",
    "OLD",
    "OLD_KUBE_VERSION",
    "RESTRICTED_USER",
    "ApiResponse",
    "Binaries",
    "ControlPlane",
    "ControlPlaneError",
    "cache_dir",
    "current_available",
    "deb_src_entry",
    "default_crd_dir",
    "default_kube_dir",
    "default_release",
    "ensure_binaries",
    "install_all",
    "minimal_crds",
    "patch_reflect2_for_go118",
    "select_crd_files",
    "strip_empty_string_defaults",
]
