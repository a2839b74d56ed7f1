"""A saved plan keeps the cluster it was made on (`cluster.uid`), and a malformed one is refused."""

from __future__ import annotations

from typing import Any

import pytest

from specc.diagnostics import PlanError
from specc.plan import Plan

UID = "0f6c1d2e-8a4b-4c3d-9e5f-a1b2c3d4e5f6"


def plan(cluster_uid: str | None) -> Plan:
    return Plan(spec_name="shop", namespace="ml", applyset_id="applyset-x-v1", target="cluster https://x (context a), "
                "namespace ml", changes=(), cluster_uid=cluster_uid)


def test_the_cluster_uid_survives_saving_and_masking() -> None:
    saved = plan(UID).to_json(include_desired=True)
    assert saved["cluster"] == {"uid": UID}
    assert Plan.from_json(saved).cluster_uid == UID
    assert plan(UID).masked().to_json()["cluster"] == {"uid": UID}


def test_a_plan_without_a_readable_uid_has_no_cluster_key() -> None:
    saved = plan(None).to_json(include_desired=True)
    assert "cluster" not in saved
    assert Plan.from_json(saved).cluster_uid is None


@pytest.mark.parametrize("cluster", [{"uid": 5}, {}, "uid", {"uid": None}])
def test_a_malformed_cluster_is_refused_not_ignored(cluster: Any) -> None:
    saved = plan(UID).to_json(include_desired=True)
    saved["cluster"] = cluster
    with pytest.raises(PlanError) as error:
        Plan.from_json(saved)
    assert error.value.diagnostics[0].code == "P602"
