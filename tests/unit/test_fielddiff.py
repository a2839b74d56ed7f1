"""Field-level comparison: no-op detection, owned fields, and diffs restricted to what specc manages."""

from specc.fielddiff import ABSENT, covers, field_changes, removed_fields

DESIRED = {
    "metadata": {"labels": {"a": "1"}},
    "spec": {"template": {"spec": {"containers": [
        {"name": "server", "image": "img:1", "env": [{"name": "API_TOKEN", "value": "s3cr3t"}]}]}}},
}


def live_with(**overrides: object) -> dict:  # type: ignore[type-arg]
    live = {
        "metadata": {"labels": {"a": "1", "added-by-other": "x"}, "resourceVersion": "7",
                     "managedFields": [{"manager": "specc", "operation": "Apply", "fieldsV1": {
                         "f:metadata": {"f:labels": {"f:a": {}}},
                         "f:spec": {"f:template": {"f:spec": {"f:containers": {
                             'k:{"name":"server"}': {".": {}, "f:name": {}, "f:image": {},
                                                     "f:env": {'k:{"name":"API_TOKEN"}': {".": {}, "f:name": {},
                                                                                           "f:value": {}}}}}}}}}}]},
        "spec": {"template": {"spec": {"containers": [
            {"name": "server", "image": "img:1", "imagePullPolicy": "IfNotPresent",
             "env": [{"name": "API_TOKEN", "value": "s3cr3t"}]}]}}},
        "status": {"replicas": 1},
    }
    live.update(overrides)
    return live


def test_live_object_with_server_defaults_covers_the_desired_one() -> None:
    assert covers(DESIRED, live_with())


def test_a_changed_value_is_not_covered() -> None:
    changed = {**DESIRED, "metadata": {"labels": {"a": "2"}}}
    assert not covers(changed, live_with())


def test_list_length_matters() -> None:
    assert not covers({"x": [1]}, {"x": [1, 2]})
    assert not covers({"x": 1}, {"x": True})


def test_only_the_named_managers_fields_count() -> None:
    without_label = {**DESIRED, "metadata": {"labels": {}}}
    assert removed_fields(without_label, live_with(), "kubectl") == []


def test_a_field_specc_owned_and_no_longer_sends_is_a_removal() -> None:
    without_label = {**DESIRED, "metadata": {"labels": {}}}
    assert removed_fields(without_label, live_with(), "specc") == [(("f", "metadata"), ("f", "labels"), ("f", "a"))]
    assert removed_fields(DESIRED, live_with(), "specc") == []


def test_diff_is_restricted_to_the_shape_and_aligns_named_items() -> None:
    after = live_with()
    after["spec"]["template"]["spec"]["containers"][0]["image"] = "img:2"
    after["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "Always"  # not ours: hidden
    changes = field_changes(live_with(), after, shape=DESIRED)
    assert [(c.path, c.before, c.after) for c in changes] == [
        ("spec.template.spec.containers[name=server].image", "img:1", "img:2")]


def test_secret_looking_env_values_are_masked_but_still_shown_as_changed() -> None:
    after = live_with()
    after["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = "n3w"
    (change,) = field_changes(live_with(), after, shape=DESIRED)
    assert change.sensitive
    assert change.shown() == ("(sensitive value)", "(sensitive value)")
    assert "s3cr3t" not in repr(change.shown()) and "n3w" not in repr(change.shown())


def test_created_object_lists_every_leaf() -> None:
    changes = field_changes(ABSENT, {"spec": {"replicas": 2, "ports": [{"name": "http", "port": 80}]}})
    assert [(c.path, c.after) for c in changes] == [
        ("spec.ports[name=http].name", "http"), ("spec.ports[name=http].port", 80), ("spec.replicas", 2)]
    assert all(c.kind == "add" for c in changes)
