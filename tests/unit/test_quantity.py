"""Canonical quantities, as the API server spells them (checked against the real server in
tests/cluster/test_client.py)."""

import pytest

from specc.quantity import canonical_quantity


@pytest.mark.parametrize(("given", "stored"), [
    ("0.5", "500m"), ("1", "1"), ("1000m", "1"), ("1500m", "1500m"), ("1.5", "1500m"), ("2.5", "2500m"),
    ("2Gi", "2Gi"), ("2048Mi", "2Gi"), ("0.5Gi", "512Mi"), ("1.5Gi", "1536Mi"), ("1024Ki", "1Mi"),
    ("0.5Ki", "512"), ("2000", "2k"), ("1500", "1500"), ("1e3", "1e3"), ("0.1m", "100u"), ("0", "0"),
    ("100Mi", "100Mi"), ("1023Ki", "1023Ki"),
])
def test_canonical_spelling(given: str, stored: str) -> None:
    assert canonical_quantity(given) == stored
