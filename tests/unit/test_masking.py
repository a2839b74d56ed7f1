"""Masking in plans and diffs (`specc.fielddiff`, `specc.report.plan`): by name in container `env` and
BentoDeployment `envs` (resources.yatai.ai/v2alpha1 `spec.envs[].{name,value}`), by value shape in any
field, everything with `masked()` (`--mask-all`), and every printed line escaped."""

from __future__ import annotations

import json

from specc.fielddiff import ABSENT, MASK, FieldChange, field_changes
from specc.objects import ObjectKey
from specc.plan import Action, Change, Plan
from specc.report.plan import plan_json, plan_markdown, plan_text

BENTO = {"apiVersion": "serving.yatai.ai/v2alpha1", "kind": "BentoDeployment",
         "metadata": {"name": "svc", "namespace": "ml"},
         "spec": {"envs": [{"name": "DB_PASSWORD", "value": "s3cr3t-one"},
                           {"name": "SENTRY_DSN", "value": "s3cr3t-two"},
                           {"name": "FEATURES", "value": "postgres://u:s3cr3t-three@db/x"},
                           {"name": "LOG_LEVEL", "value": "info"}]}}


def plan_of(fields: tuple[FieldChange, ...], notes: tuple[str, ...] = ()) -> Plan:
    key = ObjectKey("serving.yatai.ai", "BentoDeployment", "ml", "svc")
    change = Change(key, "svc", "bentoml", Action.CREATE, "serving.yatai.ai/v2alpha1", fields, notes=notes)
    return Plan(spec_name="s", namespace="ml", applyset_id="a", target="directory out", changes=(change,))


def test_bentodeployment_envs_are_masked_by_name_and_by_value() -> None:
    changes = {c.path: c for c in field_changes(ABSENT, BENTO, kind="BentoDeployment")}
    assert changes["spec.envs[name=DB_PASSWORD].value"].sensitive
    assert changes["spec.envs[name=SENTRY_DSN].value"].sensitive
    assert changes["spec.envs[name=FEATURES].value"].sensitive  # a URL with a password, whatever its name
    assert not changes["spec.envs[name=LOG_LEVEL].value"].sensitive
    plan = plan_of(tuple(changes.values()))
    for text in (plan_text(plan), plan_json(plan), plan_markdown(plan)):
        assert "s3cr3t" not in text
        assert "info" in text
    fields = {f["path"]: f for f in json.loads(plan_json(plan))["changes"][0]["fields"]}
    assert fields["spec.envs[name=DB_PASSWORD].value"] == {**fields["spec.envs[name=DB_PASSWORD].value"],
                                                           "sensitive": True, "after": MASK}


def test_a_changed_secret_stays_visible_as_a_change() -> None:
    before = {**BENTO, "spec": {"envs": [{"name": "DB_PASSWORD", "value": "s3cr3t-old"}]}}
    after = {**BENTO, "spec": {"envs": [{"name": "DB_PASSWORD", "value": "s3cr3t-new"}]}}
    (change,) = field_changes(before, after, kind="BentoDeployment")
    assert change.sensitive and change.shown() == (MASK, MASK)
    assert plan_text(plan_of((change,))).count("(changed)") == 1


def test_mask_all_hides_every_value_but_keeps_the_paths() -> None:
    plan = plan_of(tuple(field_changes(ABSENT, BENTO, kind="BentoDeployment"))).masked()
    text = plan_text(plan)
    assert "info" not in text and "svc" in text
    assert "spec.envs[name=LOG_LEVEL].value = (sensitive value)" in text
    assert all(f["sensitive"] for f in json.loads(plan_json(plan))["changes"][0]["fields"])


def test_every_printed_line_is_escaped() -> None:
    hostile = FieldChange('metadata.annotations["x\x1b[2J"]', ABSENT, "a\u202eb")
    plan = plan_of((hostile,), notes=("note \x9b31m\u2066",))
    for text in (plan_text(plan, colour=True), plan_markdown(plan)):
        assert not any(c in text for c in "\x9b\u202e\u2066") and "\x1b[2J" not in text
    assert "\\x1b[2J" in plan_text(plan)
