"""What a server-side dry-run apply keeps of compiled objects: applied through specc.cluster and compared
with specc.fielddiff, as the plan compares them."""

from __future__ import annotations

import pytest

from specc.cluster import Cluster
from specc.fielddiff import covers, field_changes
from specc.pipeline import Compiled


def assert_kept_on_dry_run(cluster: Cluster, compiled: Compiled) -> None:
    """Every compiled object is served by this server and stored, by a server-side dry-run apply, with
    every field specc sent (a field the schema prunes or the server drops fails the test)."""
    for obj in compiled.desired:
        resource = cluster.resource(obj.api_version, obj.key.kind)
        assert resource is not None, f"{obj.api_version} {obj.key.kind} is not served by this server"
        stored = cluster.apply(resource, obj.body, dry_run=True)
        if not covers(obj.body, stored):
            dropped = [c.path for c in field_changes(obj.body, stored, shape=obj.body)]
            pytest.fail(f"{obj.key}: the server did not keep {dropped}")
