"""The control plane's one error type (and the port race start() retries on).

Takes nothing; defines exceptions only. Must not import any other module of the package.
"""

from __future__ import annotations


class ControlPlaneError(RuntimeError):
    """The control plane (or its binaries) could not be provided; the message says why and what to do."""


class PortInUseError(ControlPlaneError):
    """A picked port was taken between picking and binding; start() retries with new ports."""
