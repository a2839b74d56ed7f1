"""What Argo CD tells a config management plugin, as render settings.

Takes the environment of a `generate` run (a mapping; the CLI passes `os.environ`) and returns
`ArgoSettings`. Pure: reads nothing else and prints nothing.

Argo CD's repo server runs the plugin's `generate` command in the application's source directory
with (argoproj/argo-cd reposerver/repository/repository.go `getPluginEnvs` and
`getPluginParamEnvs`, docs/user-guide/build-environment.md, docs/operator-manual/
config-management-plugins.md; pkg/apis/application/v1alpha1/types.go
`ApplicationSourcePluginParameters.Environ`; argo-cd v3 as read):

- `KUBE_VERSION`: the destination's version, `text.SemVer` of the cluster's server version ("1.30",
  "1.30.2", a `+` removed: "1.30+" -> "1.30"); `KUBE_API_VERSIONS`: the destination's served
  `group/version` and `group/version/Kind` entries, comma-separated;
- `ARGOCD_APP_NAMESPACE`: the Application's destination namespace (empty when it sets none);
- application parameters as `PARAM_<NAME>` (the name upper-cased, every other character than
  A-Z 0-9 _ turned into `_`) and all of them as JSON in `ARGOCD_APP_PARAMETERS`;
- the Application's `spec.source.plugin.env` entries as `ARGOCD_ENV_<NAME>`.

specc reads the version (the API versions it emits), the served kinds (a kind the destination does
not serve is an error naming the backend to install), the namespace (it overrides
`metadata.namespace`, so one spec deploys to the namespace each Application chooses), and one
setting, the backend every model is compiled for: parameter `backend` (`PARAM_BACKEND`), else plugin
env `SPECC_BACKEND` (`ARGOCD_ENV_SPECC_BACKEND`), else the spec's own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from specc.diagnostics import Diagnostic, InvalidSpec

_VERSION = re.compile(r"^v?(\d+)\.(\d+)")


@dataclass(frozen=True)
class ArgoSettings:
    kube_version: tuple[int, int] | None
    api_versions: frozenset[str] | None
    namespace: str | None
    backend: str | None


def settings_from_environment(env: Mapping[str, str]) -> ArgoSettings:
    """The render settings Argo CD's environment asks for; unset or empty variables ask nothing."""
    problems: list[Diagnostic] = []
    kube_version = None
    raw_version = env.get("KUBE_VERSION", "").strip()
    if raw_version:
        match = _VERSION.match(raw_version)
        if match is None:
            problems.append(Diagnostic("L120", f"KUBE_VERSION {raw_version!r} is not a Kubernetes version",
                                       hint="Argo CD sets it from the destination cluster, e.g. 1.30 or 1.30.2"))
        else:
            kube_version = (int(match[1]), int(match[2]))
    raw_apis = env.get("KUBE_API_VERSIONS", "").strip()
    api_versions = frozenset(v.strip() for v in raw_apis.split(",") if v.strip()) if raw_apis else None
    namespace = env.get("ARGOCD_APP_NAMESPACE", "").strip() or None
    backend = (env.get("PARAM_BACKEND", "").strip() or env.get("ARGOCD_ENV_SPECC_BACKEND", "").strip()
               or None)
    if problems:
        raise InvalidSpec(problems)
    return ArgoSettings(kube_version, api_versions, namespace, backend)
