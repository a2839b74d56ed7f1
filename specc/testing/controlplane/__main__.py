"""The control plane's CLI: `install` (binaries of every release into the cache) and `up` (run one).

Takes argv; returns an exit code (0, 1 on a ControlPlaneError with its message, 130 on Ctrl-C). `up`
starts a control plane with the serving CRDs (and, with controllers, the node stand-in so pods become
Ready), prints `export KUBECONFIG=...` and runs until Ctrl-C or SIGTERM. Must not print a traceback for
an expected failure, or any token.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from specc.testing.controlplane import installer
from specc.testing.controlplane.errors import ControlPlaneError
from specc.testing.controlplane.keys import ADMIN_USER, RESTRICTED_USER
from specc.testing.controlplane.processes import ControlPlane


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m specc.testing.controlplane",
                                     description=sys.modules["specc.testing.controlplane"].__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("install", help="prepare etcd and every Kubernetes release (1.36 from ../shared/kube, "
                                        "1.20 built from Debian's source) in the cache, then exit")
    up = commands.add_parser("up", help="start a control plane with CRDs and run until Ctrl-C")
    up.add_argument("--kube", choices=installer.RELEASES, default=None,
                    help="Kubernetes release (default: 1.36 when ../shared/kube exists, else 1.20)")
    up.add_argument("--crds", type=Path, default=None, help="CRD directory (default: shared/crds)")
    up.add_argument("--minimal-crds", action="store_true", help="install the schemaless stand-in CRDs")
    up.add_argument("--no-crds", action="store_true", help="install no CRDs")
    up.add_argument("--kserve-version", default=None, help="which kserve-<version> CRD dir to use")
    up.add_argument("--no-node", action="store_true", help="do not run the node stand-in (pods stay Pending)")
    args = parser.parse_args(argv)

    try:
        if args.command == "install":
            for binaries in installer.install_all():
                print(f"Kubernetes {binaries.release}: kube-apiserver {binaries.kube_apiserver}")
                if binaries.kube_controller_manager is not None:
                    print(f"Kubernetes {binaries.release}: kube-controller-manager {binaries.kube_controller_manager}")
            print(f"etcd: {binaries.etcd}")
            if not installer.current_available():
                print("Kubernetes 1.36: not prepared (no ../shared/kube); tests that need controllers will skip")
            return 0
        return _up(args)
    except ControlPlaneError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _up(args: argparse.Namespace) -> int:
    from specc.testing.node_standin import NodeStandIn

    # SIGTERM (e.g. from a CI runner) should stop the children as cleanly as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    # A shell starts background jobs with SIGINT ignored, and Python keeps it that way; `kill -INT`
    # must still stop `up` as Ctrl-C does.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with ControlPlane(release=args.kube) as control_plane:
            if not args.no_crds:
                control_plane.install_crds(args.crds, kserve_version=args.kserve_version, minimal=args.minimal_crds)
            node = None
            if control_plane.has_controllers and not args.no_node:
                node = NodeStandIn(control_plane.server, control_plane.admin_token).start()
            try:
                print(f"server:     {control_plane.server} (Kubernetes v{control_plane.version}, "
                      f"{'controllers' if control_plane.has_controllers else 'no controllers'})")
                print(f"node:       {node.name + ' (stand-in: binds pods and makes them Ready)' if node else 'none'}")
                print(f"crds:       {control_plane.crds_source or 'none'}")
                print(f"kubeconfig: {control_plane.kubeconfig} (contexts: {ADMIN_USER}, {RESTRICTED_USER})")
                print(f"export KUBECONFIG={control_plane.kubeconfig}", flush=True)
                while True:
                    control_plane.check_alive()
                    if node is not None:
                        node.check_alive()
                    time.sleep(0.5)
            finally:
                if node is not None:
                    node.stop()
    except KeyboardInterrupt:
        # The with-block has stopped the processes by now.
        print("stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
