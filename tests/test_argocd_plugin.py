"""The Argo CD Config Management Plugin files, checked against Argo CD's own types and rules, and the
environment `specc render --argocd` reads.

Argo CD reads plugin.yaml into `PluginConfig` (argoproj/argo-cd cmpserver/plugin/config.go, v3 module
path `github.com/argoproj/argo-cd/v3`) with `configUtil.UnmarshalLocalFile`, which is YAML -> JSON ->
`encoding/json`: an unknown or misspelt field is silently ignored, so a typo would turn the plugin
off without an error. The schema below is written from the Go struct fields (json tags) of that file
and of `ParameterAnnouncement` (reposerver/apiclient, repository.proto: name, title, tooltip,
required, itemType, collectionType, string, array, map) and refuses anything else;
`ValidatePluginConfig` adds: metadata.name non-empty, kind ConfigManagementPlugin, a non-empty
generate command (and in the newest sources spec.version is refused, so the file sets none).
"""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
import yaml

from specc.argocd import settings_from_environment
from specc.diagnostics import InvalidSpec

from .conftest import ROOT

PLUGIN_DIR = ROOT / "integrations" / "argocd"

_STRINGS = {"type": "array", "items": {"type": "string"}}
_COMMAND = {"type": "object", "additionalProperties": False,  # type Command struct
            "properties": {"command": _STRINGS, "args": _STRINGS}}
PLUGIN_CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {  # type PluginConfig struct: metav1.TypeMeta inline, Metadata, Spec
        "apiVersion": {"const": "argoproj.io/v1alpha1"},
        "kind": {"const": "ConfigManagementPlugin"},
        "metadata": {
            "type": "object", "required": ["name"],
            # metav1.ObjectMeta: only the fields a plugin file has any use for.
            "properties": {"name": {"type": "string", "minLength": 1},
                           "labels": {"type": "object"}, "annotations": {"type": "object"}},
            "additionalProperties": False,
        },
        "spec": {
            "type": "object", "additionalProperties": False, "required": ["generate"],
            "not": {"required": ["version"]},  # refused by the newest ValidatePluginConfig
            "properties": {  # type PluginConfigSpec struct
                "version": {"type": "string"},
                "init": _COMMAND,
                "generate": {**_COMMAND, "required": ["command"],
                             "properties": {"command": {**_STRINGS, "minItems": 1}, "args": _STRINGS}},
                "discover": {  # type Discover struct
                    "type": "object", "additionalProperties": False,
                    "properties": {
                        "fileName": {"type": "string"},
                        "find": {"type": "object", "additionalProperties": False,  # Find: Command + glob
                                 "properties": {"command": _STRINGS, "args": _STRINGS, "glob": {"type": "string"}}},
                    },
                },
                "parameters": {  # type Parameters struct
                    "type": "object", "additionalProperties": False,
                    "properties": {
                        "static": {"type": "array", "items": {
                            "type": "object", "additionalProperties": False, "required": ["name"],
                            "properties": {
                                "name": {"type": "string", "minLength": 1}, "title": {"type": "string"},
                                "tooltip": {"type": "string"}, "required": {"type": "boolean"},
                                "itemType": {"type": "string"},
                                "collectionType": {"enum": ["", "string", "array", "map"]},
                                "string": {"type": "string"}, "array": _STRINGS,
                                "map": {"type": "object", "additionalProperties": {"type": "string"}},
                            }}},
                        "dynamic": _COMMAND,
                    },
                },
                "preserveFileMode": {"type": "boolean"},
                "provideGitCreds": {"type": "boolean"},
            },
        },
    },
}


def plugin() -> Any:
    return yaml.safe_load((PLUGIN_DIR / "plugin.yaml").read_text(encoding="utf-8"))


def test_plugin_file_matches_argo_cds_plugin_config_type() -> None:
    jsonschema.validate(plugin(), PLUGIN_CONFIG_SCHEMA)


@pytest.mark.parametrize("broken", [
    {"spec": {"generate": {"command": ["specc"]}, "discovery": {"fileName": "serving.yaml"}}},  # typo: ignored by Go
    {"spec": {"generate": {"command": []}}},
    {"spec": {"version": "v1", "generate": {"command": ["specc"]}}},
    {"kind": "ConfigManagementPlugins"},
])
def test_the_schema_refuses_what_argo_cd_would_ignore_or_refuse(broken: dict[str, Any]) -> None:
    document = {**plugin(), **broken}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, PLUGIN_CONFIG_SCHEMA)


def test_plugin_discovers_serving_yaml_and_generates_with_specc_render() -> None:
    spec = plugin()["spec"]
    assert spec["discover"] == {"fileName": "serving.yaml"}
    assert spec["generate"]["command"][:3] == ["specc", "render", "--argocd"]
    announced = [p["name"] for p in spec["parameters"]["static"]]
    assert announced == ["backend"]  # the one parameter settings_from_environment reads


def test_sidecar_configmap_carries_the_same_plugin_file() -> None:
    configmap = yaml.safe_load((PLUGIN_DIR / "cmp-plugin-configmap.yaml").read_text(encoding="utf-8"))
    assert configmap["kind"] == "ConfigMap"
    assert yaml.safe_load(configmap["data"]["plugin.yaml"]) == plugin()


def test_repo_server_patch_sets_the_sidecar_up_as_argo_cd_documents() -> None:
    patch = yaml.safe_load((PLUGIN_DIR / "repo-server-patch.yaml").read_text(encoding="utf-8"))
    assert (patch["kind"], patch["metadata"]["name"]) == ("Deployment", "argocd-repo-server")
    pod = patch["spec"]["template"]["spec"]
    [sidecar] = pod["containers"]
    # docs/operator-manual/config-management-plugins.md: argocd-cmp-server as entrypoint, user 999,
    # the plugin file at /home/argocd/cmp-server/config/plugin.yaml, its own /tmp.
    assert sidecar["command"] == ["/var/run/argocd/argocd-cmp-server"]
    assert sidecar["securityContext"]["runAsUser"] == 999
    mounts = {m["mountPath"]: m for m in sidecar["volumeMounts"]}
    assert mounts["/home/argocd/cmp-server/config/plugin.yaml"]["subPath"] == "plugin.yaml"
    assert {"/var/run/argocd", "/home/argocd/cmp-server/plugins", "/tmp"} <= set(mounts)
    volumes = {v["name"]: v for v in pod["volumes"]}
    configmap = yaml.safe_load((PLUGIN_DIR / "cmp-plugin-configmap.yaml").read_text(encoding="utf-8"))
    assert volumes[mounts["/home/argocd/cmp-server/config/plugin.yaml"]["name"]]["configMap"]["name"] == \
        configmap["metadata"]["name"]
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]  # not the repo server's /tmp


def test_example_application_names_the_plugin() -> None:
    app = yaml.safe_load((PLUGIN_DIR / "application.yaml").read_text(encoding="utf-8"))
    assert app["spec"]["source"]["plugin"]["name"] == plugin()["metadata"]["name"]


@pytest.mark.parametrize(("value", "expected"), [
    ("1.30", (1, 30)), ("1.30.2", (1, 30)), ("v1.31.0", (1, 31)), ("1.29", (1, 29)), ("", None),
])
def test_kube_version_forms_argo_cd_sends(value: str, expected: tuple[int, int] | None) -> None:
    # text.SemVer removes '+' (a minor of "30+" arrives as "30"); newer releases send the full version.
    assert settings_from_environment({"KUBE_VERSION": value}).kube_version == expected


def test_settings_from_the_environment() -> None:
    env = {"KUBE_VERSION": "1.20", "KUBE_API_VERSIONS": "apps/v1,apps/v1/Deployment,v1,v1/Service",
           "ARGOCD_APP_NAMESPACE": "team-a", "ARGOCD_ENV_SPECC_BACKEND": "seldon", "PARAM_BACKEND": "kserve"}
    settings = settings_from_environment(env)
    assert settings.kube_version == (1, 20) and settings.namespace == "team-a"
    assert settings.api_versions == frozenset({"apps/v1", "apps/v1/Deployment", "v1", "v1/Service"})
    assert settings.backend == "kserve"  # the parameter wins over the plugin env
    assert settings_from_environment({"ARGOCD_ENV_SPECC_BACKEND": "seldon"}).backend == "seldon"
    nothing = settings_from_environment({})
    assert (nothing.kube_version, nothing.api_versions, nothing.namespace, nothing.backend) == (None,) * 4


def test_a_bad_kube_version_is_a_diagnostic() -> None:
    with pytest.raises(InvalidSpec) as raised:
        settings_from_environment({"KUBE_VERSION": "latest"})
    assert raised.value.diagnostics[0].code == "L120"


def test_plugin_files_are_where_the_readme_says() -> None:
    readme = (PLUGIN_DIR / "README.md").read_text(encoding="utf-8")
    for name in ("plugin.yaml", "cmp-plugin-configmap.yaml", "repo-server-patch.yaml", "application.yaml"):
        assert (PLUGIN_DIR / name).exists() and name in readme
