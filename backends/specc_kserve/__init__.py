"""The KServe backend (`kserve`): one InferenceService (serving.kserve.io/v1beta1) per model.

Takes one model; returns its InferenceService, and nothing else: KServe's controller makes the
Deployment/Knative Service, Service, autoscaler and ingress. Imports only the backend API.

What the InferenceService says, explicitly wherever KServe would otherwise fill in a default (a
default filled in by a webhook or a cluster ConfigMap is a diff on every plan, and some defaults are
traps):

- the `model:` form (`modelFormat`, `runtime` when an engine is named, `protocolVersion`,
  `storageUri`, resources, env), never the legacy per-framework keys, which the webhook rewrites;
  `image:` models (formats `custom` and `bento`) are a custom predictor container;
- the `serving.kserve.io/deploymentMode` annotation in the spelling of the targeted KServe version
  (`options.kserve.version`: 0.15 says RawDeployment/Serverless, 0.16+ Standard/Knative) and the
  autoscaler class (`serving.kserve.io/autoscalerClass: hpa` in Standard mode, Knative's
  `autoscaling.knative.dev/class` in Knative mode, HPA for cpu/memory and KPA otherwise);
- min/max replicas, scale metric and target; CPU is limited at its request because KServe merges
  the runtime's own CPU limit (1 core) into a container that has none, and a request above that
  limit makes the Deployment invalid;
- a canary: in Knative mode `canaryTrafficPercent` on a predictor that serves the canary's
  artifacts (Knative splits between that new revision and the last one rolled out); in Standard
  mode on KServe 0.20+ a `spec.canary[]` predictor named `canary`; before 0.20 Standard mode ignores
  canaries, so `check` refuses them;
- the serving user (1000 for runtime images, some of which default to root; 1034 for Bentos): on
  the pod in Standard mode, on the container in Knative mode, whose field mask refuses pod-level
  users by default.

`check` also refuses what KServe would reject at admission or fail at reconcile: protocols the
runtime cannot speak, HPA metrics and scale-to-zero outside Knative's KPA, utilization targets
above 100, and names too long for the names KServe derives from them. It warns where the result
differs from what the spec says: a declared ingress host (KServe names hosts itself), secretEnv
that the storage-initializer will not see, and Knative's revision-based canary.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Annotated, Any, Literal

from pydantic import Field

from specc.backend_api import (
    Backend,
    BackendOptions,
    CustomKind,
    Manifest,
    ModelIR,
    PodSite,
    Problem,
    Readiness,
    Severity,
    StorageRef,
    Target,
    artifact_locations,
    condition,
    container_env,
    container_resources,
    logged_provenance,
    provenance_annotations,
    track_model,
)
from specc.backend_api.workload import (
    BENTO_PORT,
    BENTO_UID,
    STORAGE_ENV,
    is_storage_credential,
    track_replicas,
)
from specc_kserve.runtimes import (
    AUTO_SELECTED,
    ENGINE_RUNTIMES,
    artifact_layout,
    engine_runtime,
    metrics_endpoint,
    on_mlserver,
    protocol,
    runtime_env,
    runtime_labels,
    runtime_name,
)

GROUP, VERSION = "serving.kserve.io", "v1beta1"
KIND = "InferenceService"
MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
AUTOSCALER_CLASS_ANNOTATION = "serving.kserve.io/autoscalerClass"
KNATIVE_CLASS_ANNOTATION = "autoscaling.knative.dev/class"
KNATIVE_KPA, KNATIVE_HPA = "kpa.autoscaling.knative.dev", "hpa.autoscaling.knative.dev"
SCRAPE_ANNOTATION = "serving.kserve.io/enable-prometheus-scraping"
PROMETHEUS_SCRAPE, PROMETHEUS_PORT, PROMETHEUS_PATH = (
    "prometheus.io/scrape", "prometheus.io/port", "prometheus.io/path")
# KServe 0.18+ admission refuses these in any container (pkg/validation/env_policy.go,
# DefaultBlockedEnvVars @v0.20.0); 0.15-0.17 have no such policy.
BLOCKED_ENV = ("PYTHONPATH",)
BLOCKED_ENV_SINCE = (0, 18)
CONTAINER = "kserve-container"  # KServe's name for the serving container of a custom predictor
CANARY = "canary"
CUSTOM_PORT = 8080  # KServe's default port for custom predictors
ENGINE_UID = 1000  # the non-root user of KServe's runtime images; TF Serving and Triton default to root
MAX_LABEL = 63
KNATIVE_REVISION_SUFFIX = "-00001"  # Knative names revisions <ksvc>-<5 digits>
VERSIONS = ("0.15", "0.16", "0.17", "0.18", "0.19", "0.20")
# The first release whose logger has metadataAnnotations (absent from the 0.15 CRD, present in 0.20's;
# the releases in between are not assumed to have it).
METADATA_ANNOTATIONS_SINCE = (0, 20)
HPA_METRICS = ("cpu", "memory")
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


class KServeOptions(BackendOptions):
    version: Literal["0.15", "0.16", "0.17", "0.18", "0.19", "0.20"] = Field(
        "0.20", description="The KServe release targeted: 0.15 spells the modes RawDeployment/Serverless, "
        "0.16+ Standard/Knative; 0.20 adds canaries (spec.canary) in Standard mode. Quote it: \"0.20\".")
    deployment_mode: Literal["Standard", "Knative", "RawDeployment", "Serverless"] = Field(
        "Standard", alias="deploymentMode",
        description="Standard (raw Deployment + HPA; RawDeployment before 0.16) or Knative (Serverless "
        "before 0.16). Either spelling is accepted; the targeted version's is written.")
    run_as_user: Annotated[int, Field(ge=1, le=2147483647)] | None = Field(
        None, alias="runAsUser", description="Numeric non-root user for images whose USER is a name.")


def version_tuple(version: str) -> tuple[int, int]:
    major, minor = version.split(".")
    return int(major), int(minor)


def is_knative(options: KServeOptions) -> bool:
    return options.deployment_mode in ("Knative", "Serverless")


def mode_value(options: KServeOptions) -> str:
    """The deploymentMode annotation in the targeted version's spelling. 0.16+ rewrites the legacy
    values in its webhook, so writing them there would be a diff on every plan."""
    legacy = version_tuple(options.version) < (0, 16)
    if is_knative(options):
        return "Serverless" if legacy else "Knative"
    return "RawDeployment" if legacy else "Standard"


class KServeBackend(Backend):
    name = "kserve"
    summary = "KServe InferenceService (Standard or Knative mode): MLServer, Triton, TF Serving, TorchServe"
    formats = frozenset({*AUTO_SELECTED, "custom", "bento"})
    kinds = (CustomKind(GROUP, VERSION, KIND, "inferenceservices"),)
    Options = KServeOptions

    # -- check ------------------------------------------------------------------------------------

    def check(self, model: ModelIR, target: Target) -> Iterator[Problem]:
        options = _options(model)
        if model.image is not None:
            yield from self._image_problems(model)
        else:
            yield from self._runtime_problems(model)
            for storage, path in artifact_locations(model):
                credentials = [e.name for e in model.secret_env if is_storage_credential(e.name)]
                if storage.scheme not in ("pvc", "oci") and credentials:
                    # KServe builds the initializer's credentials from the service account's Secrets
                    # (kserve#4400); the predictor's env reaches only the model server. Other secretEnv
                    # (an API token for the model's own code) is where it belongs.
                    yield Problem(
                        path, f"secretEnv {', '.join(credentials)} reaches the model server, not KServe's "
                        "storage-initializer: "
                        f"credentials to download {storage.scheme}:// artifacts must come from a Secret "
                        "attached to the service account",
                        "attach the Secret to serviceAccount, or use a ClusterStorageContainer",
                        severity=Severity.WARNING)
            yield from self._storage_env_problems(model)
        yield from self._blocked_env_problems(model, options)
        yield from self._metrics_problems(model)
        yield from self._scaling_problems(model, options)
        yield from self._canary_problems(model, options)
        yield from self._logger_problems(model, options)
        yield from self._name_problems(model, options)
        if model.ingress is not None:
            yield Problem(
                ("ingress",), f"KServe names the InferenceService's host itself from its domain template "
                f"(such as {model.name}-{model.namespace}.<domain>); the host '{model.ingress.host}' and "
                "path are not used",
                "configure the domain in KServe's inferenceservice-config, or use backend kubernetes for "
                "an exact host", severity=Severity.WARNING)

    @staticmethod
    def _storage_env_problems(model: ModelIR) -> Iterator[Problem]:
        # The pod webhook injects the storage-initializer with the credentials of the service
        # account's Secrets and their serving.kserve.io/s3-* annotations (kserve pkg/credentials/s3/
        # s3_secret.go @v0.15.0); the predictor's env reaches only the model server.
        if not any(s.scheme not in ("pvc", "oci") for s, _ in artifact_locations(model)):
            return
        for name in sorted(n for n, _ in model.env if n in STORAGE_ENV):
            yield Problem(
                ("env", name), f"{name} reaches the model server, not KServe's storage-initializer, which "
                "takes its storage settings from the service account's Secret and its annotations",
                "set it on that Secret (e.g. serving.kserve.io/s3-endpoint, s3-region, s3-verifyssl, "
                "s3-usehttps annotations), or use backend kubernetes, whose initializer gets it",
                severity=Severity.WARNING)

    @staticmethod
    def _blocked_env_problems(model: ModelIR, options: KServeOptions) -> Iterator[Problem]:
        if version_tuple(options.version) < BLOCKED_ENV_SINCE:
            return
        for name in BLOCKED_ENV:
            where: tuple[str | int, ...] | None = None
            if name in dict(model.env):
                where = ("env", name)
            elif any(secret.name == name for secret in model.secret_env):
                where = ("secretEnv",)
            if where is not None:
                yield Problem(where, f"KServe {options.version}'s admission webhook refuses {name} in every "
                              f"container (\"setting {name} in container ... is not allowed for security "
                              "reasons\")", f"remove {name}: install the code into the serving image's own "
                              "Python path instead")

    @staticmethod
    def _metrics_problems(model: ModelIR) -> Iterator[Problem]:
        if model.metrics and model.image is None and runtime_name(model) == "kserve-torchserve":
            # kserve-torchserve runs TorchServe with the artifact's own config/config.properties;
            # TorchServe's metrics_mode defaults to log (pytorch/serve ConfigManager.java @v0.12.0).
            yield Problem(("monitoring", "metrics"), "kserve-torchserve reads its settings from "
                          "<storageUri>/config/config.properties: TorchServe serves Prometheus metrics on "
                          "8082 only if that file sets metrics_mode=prometheus",
                          "set metrics_mode=prometheus (and enable_envvars_config=true for TS_* env) there",
                          severity=Severity.WARNING)
        if model.metrics and model.image is None and metrics_endpoint(model) is None:
            yield Problem(("monitoring", "metrics"), f"{runtime_name(model)} exports no Prometheus metrics "
                          "(TF Serving needs --monitoring_config_file, which the runtime does not pass)",
                          "use engine triton for a TensorFlow model with metrics, or backend kubernetes "
                          "(specc configures TF Serving's monitoring there)", severity=Severity.WARNING)

    @staticmethod
    def _image_problems(model: ModelIR) -> Iterator[Problem]:
        if model.engine is not None:
            yield Problem(("engine",), f"format '{model.format}' runs its own image; 'engine' does not apply")
        if model.format == "bento" and model.protocol is not None:
            yield Problem(("protocol",), "BentoML services speak neither v1 nor v2 (their API is "
                          "POST /<api name>)", "remove 'protocol'")

    @staticmethod
    def _runtime_problems(model: ModelIR) -> Iterator[Problem]:
        runtime = engine_runtime(model)
        if runtime is not None:
            if model.format not in runtime.formats:
                able = sorted(n for n, r in ENGINE_RUNTIMES.items() if model.format in r.formats)
                yield Problem(("engine",), f"runtime {runtime.name} (engine '{model.engine}') cannot load "
                              f"format '{model.format}'",
                              f"engines for {model.format}: {', '.join(able)}" if able
                              else "remove 'engine' to let KServe choose the runtime")
                return
            if model.protocol is not None and model.protocol not in runtime.protocols:
                yield Problem(("protocol",), f"runtime {runtime.name} speaks only protocol "
                              f"{' and '.join(runtime.protocols)}",
                              f"use protocol {runtime.protocols[0]}, or another engine")
            return
        speaks, runtimes = AUTO_SELECTED[model.format]
        if model.protocol is not None and model.protocol not in speaks:
            yield Problem(("protocol",), f"no built-in KServe runtime serves format '{model.format}' over "
                          f"protocol {model.protocol}: {runtimes}", f"use protocol {speaks[0]}")

    @staticmethod
    def _scaling_problems(model: ModelIR, options: KServeOptions) -> Iterator[Problem]:
        knative = is_knative(options)
        metric = model.autoscaling.metric if model.autoscaling else None
        if not knative and metric in ("concurrency", "rps"):
            yield Problem(("autoscaling", "metric"), f"Standard mode scales with a HorizontalPodAutoscaler, "
                          f"which cannot scale on {metric}",
                          "use cpu or memory, or options.kserve.deploymentMode Knative")
        if knative and metric == "memory":
            # Knative's HPA class reads a memory target as MiB per pod, not as a utilization percent.
            yield Problem(("autoscaling", "metric"), "in Knative mode a memory target is MiB per pod, not "
                          "the utilization percent specc means",
                          "use cpu, concurrency or rps, or Standard mode")
        if model.autoscaling is not None and metric in HPA_METRICS and model.autoscaling.target > 100:
            yield Problem(("autoscaling", "target"), f"KServe accepts a {metric} utilization target of 1 to "
                          f"100, not {model.autoscaling.target}")
        if (not knative or metric in HPA_METRICS) and model.min_replicas == 0:
            hint = ("scale to zero needs Knative's KPA: scale on concurrency or rps" if knative
                    else "set replicas.min to 1 or more, or use options.kserve.deploymentMode Knative")
            yield Problem(("replicas", "min"), "a HorizontalPodAutoscaler cannot scale to zero", hint)

    @staticmethod
    def _canary_problems(model: ModelIR, options: KServeOptions) -> Iterator[Problem]:
        if model.canary is None:
            return
        if is_knative(options):
            yield Problem(
                ("canary",), "in Knative mode KServe splits the traffic between the newest revision (the "
                "canary) and the last revision rolled out at 100%, which is the model's storageUri or "
                "image only if that is what runs now; a new InferenceService sends everything to the canary",
                "roll the model out without a canary first", severity=Severity.WARNING)
        elif version_tuple(options.version) < (0, 20):
            yield Problem(("canary",), f"KServe {options.version} ignores canary traffic in Standard mode",
                          "set options.kserve.version to \"0.20\" (spec.canary), or deploymentMode Knative")
        else:
            yield from KServeBackend._standard_canary_problems(model)

    @staticmethod
    def _standard_canary_problems(model: ModelIR) -> Iterator[Problem]:
        (stable_pods, _), (canary_pods, _) = track_replicas(model)
        if stable_pods + canary_pods > model.min_replicas:
            yield Problem(("replicas", "min"), f"with a canary {stable_pods + canary_pods} pods run, not "
                          f"{model.min_replicas}: the stable and the canary predictor keep at least one pod "
                          "each", f"set replicas.min to {stable_pods + canary_pods} or more to say so",
                          severity=Severity.WARNING)
        if model.max_replicas > model.min_replicas:
            yield Problem(("replicas", "max"), f"only the stable predictor scales: KServe 0.20 refuses "
                          f"maxReplicas, scaleMetric and scaleTarget on a canary predictor, so the canary "
                          f"runs a fixed {canary_pods} pod{'s' if canary_pods > 1 else ''}",
                          "promote the canary, or use deploymentMode Knative to scale both",
                          severity=Severity.WARNING)

    @staticmethod
    def _logger_problems(model: ModelIR, options: KServeOptions) -> Iterator[Problem]:
        log = model.inference_log
        if log is not None and log.percent != 100:
            yield Problem(("inferenceLog", "percent"), "KServe's logger (spec.predictor.logger) logs every "
                          "request; it cannot sample", "remove percent, or use backend seldon version v2")
        if log is not None and log.provenance and model.provenance is not None \
                and version_tuple(options.version) < METADATA_ANNOTATIONS_SINCE:
            yield Problem(("inferenceLog", "provenance"), f"KServe {options.version}'s logger has no "
                          "metadataAnnotations: logged events name the InferenceService, namespace, "
                          "component and endpoint (default or canary), not the provenance",
                          "set options.kserve.version to \"0.20\" to send the provenance with every event",
                          severity=Severity.WARNING)
        canary = model.canary
        if canary is not None and model.provenance is not None and not is_knative(options) \
                and version_tuple(options.version) >= (0, 20):  # before 0.20 the canary is refused anyway
            missing = sorted(set(provenance_annotations(model.provenance))
                             - set(provenance_annotations(canary.provenance)))
            if missing:
                # predictor.go buildObjectMeta: pod annotations = runtime's, then the
                # InferenceService's, then the predictor's; the canary's pods get the first two too.
                where: tuple[str, ...] = ("canary", "provenance") if canary.provenance else ("canary",)
                fields = ", ".join(m.removeprefix("provenance.specc.dev/") for m in missing)
                yield Problem(where, "KServe copies the InferenceService's annotations into the canary's "
                              f"pods, so without its own {fields} the canary would claim the model's",
                              "give the canary its own provenance with the same fields as the model's")

    @staticmethod
    def _name_problems(model: ModelIR, options: KServeOptions) -> Iterator[Problem]:
        if is_knative(options):
            # Knative names the predictor's revisions <isvc>-predictor-<5 digits>: DNS labels.
            revision = f"{model.name}-predictor{KNATIVE_REVISION_SUFFIX}"
            if len(revision) > MAX_LABEL:
                yield Problem(("name",), f"KServe and Knative derive the revision name '{revision}' "
                              f"({len(revision)} characters); names are limited to {MAX_LABEL}",
                              f"shorten the model name to at most "
                              f"{MAX_LABEL - len(revision) + len(model.name)} characters")
            return
        # Standard mode builds the host label <isvc>-<predictor>-<namespace> and fails to reconcile when
        # it is longer than a DNS label (kserve#4807); the canary predictor's is longer still.
        predictors = ["predictor"]
        if model.canary is not None:
            predictors.append(f"{CANARY}-predictor")
        for predictor in predictors:
            host = f"{model.name}-{predictor}-{model.namespace}"
            if len(host) > MAX_LABEL:
                yield Problem(("name",), f"KServe derives the host label '{host}' ({len(host)} characters); "
                              f"DNS labels are limited to {MAX_LABEL}",
                              f"shorten the model name to at most "
                              f"{MAX_LABEL - len(host) + len(model.name)} characters, or use a shorter "
                              "namespace")
                return

    # -- compile ----------------------------------------------------------------------------------

    def compile(self, model: ModelIR, target: Target) -> Sequence[Manifest]:
        options = _options(model)
        knative = is_knative(options)
        metric = model.autoscaling.metric if model.autoscaling else None
        annotations = {MODE_ANNOTATION: mode_value(options)}
        if knative:
            annotations[KNATIVE_CLASS_ANNOTATION] = KNATIVE_HPA if metric in HPA_METRICS else KNATIVE_KPA
        else:
            annotations[AUTOSCALER_CLASS_ANNOTATION] = "hpa"
        spec: Manifest = {}
        canary_model = track_model(model, CANARY)  # the canary's engine reports the canary's version
        if model.canary is None:
            spec["predictor"] = self._predictor(model, options, storage=model.storage, image=model.image,
                                                low=model.min_replicas, high=model.max_replicas)
            _add_logger(spec["predictor"], model, options, None)
        elif knative:
            # The predictor is the newest revision, the canary; Knative keeps routing to the previous one.
            predictor = self._predictor(canary_model, options, storage=model.canary.storage,
                                        image=model.canary.image, low=model.min_replicas,
                                        high=model.max_replicas)
            predictor["canaryTrafficPercent"] = model.canary.traffic
            _add_logger(predictor, model, options, CANARY)
            spec["predictor"] = predictor
        else:
            # KServe 0.20 (components/predictor.go) runs stable.minReplicas - canary.minReplicas stable
            # pods, so the stable predictor's minReplicas counts both tracks; its validation refuses a
            # canary minReplicas above the stable one and any maxReplicas/scaleMetric/scaleTarget on a
            # canary predictor, so the canary is fixed at its share.
            (stable_low, _), (canary_low, _) = track_replicas(model)
            stable_min = stable_low + canary_low
            spec["predictor"] = self._predictor(model, options, storage=model.storage, image=model.image,
                                                low=stable_min,
                                                high=max(stable_min, model.max_replicas - canary_low))
            _add_logger(spec["predictor"], model, options, None)
            canary = {"name": CANARY, **self._predictor(
                canary_model, options, storage=model.canary.storage, image=model.canary.image,
                low=canary_low, high=None)}
            _add_logger(canary, model, options, CANARY)
            if "model" in canary:
                # The 0.20 CRD requires the canary model's container name; the webhook refuses one on
                # the stable predictor ("the 'name' field is not allowed in standard predictor").
                canary["model"] = {"name": CONTAINER, **canary["model"]}
            spec["canary"] = [{"trafficPercent": model.canary.traffic, "predictor": canary}]
        metadata: Manifest = {"name": model.name, "annotations": annotations}
        labels = runtime_labels(model) if model.image is None else {}
        if labels:
            metadata["labels"] = labels
        return [{"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "metadata": metadata, "spec": spec}]

    def _predictor(self, model: ModelIR, options: KServeOptions, *, storage: StorageRef | None,
                   image: str | None, low: int, high: int | None) -> Manifest:
        """A predictor; `high` None is a canary predictor of Standard mode, which may set only
        minReplicas."""
        predictor: Manifest = {"minReplicas": low}
        if high is not None:
            predictor["maxReplicas"] = high
        if model.autoscaling is not None and high is not None:
            predictor["scaleMetric"] = model.autoscaling.metric
            predictor["scaleTarget"] = model.autoscaling.target
            if not is_knative(options):
                # specc's cpu/memory targets are utilization percents; say so rather than rely on the
                # version-dependent default of scaleMetricType.
                predictor["scaleMetricType"] = "Utilization"
        if model.service_account:
            predictor["serviceAccountName"] = model.service_account
        # Model servers never call the Kubernetes API; cloud identity (IRSA, workload identity) does
        # not depend on this token.
        predictor["automountServiceAccountToken"] = False
        if model.resources.gpu:
            predictor["tolerations"] = [dict(GPU_TOLERATION)]
        if image is None:
            user: int | None = options.run_as_user or ENGINE_UID
        elif model.format == "bento":
            user = options.run_as_user or BENTO_UID
        else:
            user = options.run_as_user
        if image is not None:
            port = _image_port(model)
            serving = self._image_container(model, image, port)
            predictor["containers"] = [serving]
            endpoint: tuple[int, str] | None = (port, "/metrics")
        else:
            serving = predictor["model"] = self._model_spec(model, storage)
            endpoint = metrics_endpoint(model)
        if model.metrics and endpoint is not None:
            # With enable-prometheus-scraping "true" the pod webhook overwrites prometheus.io/port
            # with queue-proxy's 9091 (kserve pkg/webhook/admission/pod/metrics_aggregate_injector.go),
            # which does not exist in Standard mode and in Knative mode serves queue-proxy's own
            # metrics, not the engine's. "false" (on the pod, where the webhook reads it) leaves
            # the annotations alone, so Prometheus scrapes the engine's metrics port in both modes.
            predictor["annotations"] = {SCRAPE_ANNOTATION: "false", PROMETHEUS_SCRAPE: "true",
                                        PROMETHEUS_PORT: str(endpoint[0]), PROMETHEUS_PATH: endpoint[1]}
        if user is not None:
            if is_knative(options):
                # Knative's field mask admits a container's runAsUser but, by default, no pod-level
                # user, group or fsGroup.
                serving["securityContext"] = {"runAsUser": user}
            else:
                predictor["securityContext"] = {"runAsUser": user, "runAsGroup": user, "fsGroup": user}
        return predictor

    @staticmethod
    def _model_spec(model: ModelIR, storage: StorageRef | None) -> Manifest:
        spec: Manifest = {"modelFormat": {"name": model.format}}
        runtime = engine_runtime(model)
        if runtime is not None:
            spec["runtime"] = runtime.name
        spec["protocolVersion"] = protocol(model)
        if storage is not None:
            spec["storageUri"] = storage.uri
        resources = _resources(model)
        if resources:
            spec["resources"] = resources
        env = container_env(model, runtime_env(model))
        if env:
            spec["env"] = env
        if on_mlserver(model):
            # Without a probe KServe's raw reconciler gives kserve-container a TCP readiness probe on 8080
            # (pkg/controller/v1beta1/inferenceservice/reconcilers/deployment/deployment_reconciler.go,
            # setDefaultPodSpec), which MLServer passes once its HTTP server binds: before the model is
            # loaded, and after it failed to. Ask for the model (kserve-mlserver's MLSERVER_HTTP_PORT 8080).
            spec["readinessProbe"] = {"httpGet": {"path": f"/v2/models/{model.name}/ready", "port": 8080},
                                      "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 3}
        return spec

    @staticmethod
    def _image_container(model: ModelIR, image: str, port: int) -> Manifest:
        container: Manifest = {
            "name": CONTAINER,
            "image": image,
            "ports": [{"containerPort": port, "protocol": "TCP"}],
        }
        extra: tuple[tuple[str, str], ...] = ()
        if model.format == "bento":
            extra = (("BENTOML_PORT", str(port)),)
            container["readinessProbe"] = {"httpGet": {"path": "/readyz", "port": port},
                                           "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 3}
            container["livenessProbe"] = {"httpGet": {"path": "/livez", "port": port},
                                          "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 6}
        else:
            if model.protocol is not None:
                extra = (("PROTOCOL", model.protocol),)  # how KServe learns a custom container's protocol
            container["readinessProbe"] = {"tcpSocket": {"port": port}, "periodSeconds": 10,
                                           "failureThreshold": 3}
        resources = _resources(model)
        if resources:
            container["resources"] = resources
        env = container_env(model, extra)
        if env:
            container["env"] = env
        return container

    # -- hooks for the finishing pass and apply ----------------------------------------------------

    def pod_sites(self, obj: Manifest) -> list[PodSite]:
        if obj.get("kind") != KIND:
            return super().pod_sites(obj)
        spec = obj.setdefault("spec", {})
        mode = ((obj.get("metadata") or {}).get("annotations") or {}).get(MODE_ANNOTATION, "")
        knative = mode in ("Knative", "Serverless")
        stable = spec.setdefault("predictor", {})
        # In Knative mode a predictor with canaryTrafficPercent is the canary's new revision.
        predictors = [(stable, CANARY if "canaryTrafficPercent" in stable else None)]
        predictors += [(c["predictor"], CANARY) for c in spec.get("canary") or []
                       if isinstance(c.get("predictor"), dict)]
        sites = []
        for predictor, track in predictors:
            containers = [predictor["model"]] if isinstance(predictor.get("model"), dict) else []
            containers += [*predictor.get("initContainers", []), *predictor.get("containers", [])]
            # The predictor's labels/annotations are the pod's; the predictor inlines a PodSpec. In
            # Knative mode the pod-level securityContext is refused by Knative's field masks unless
            # `kubernetes.podspec-securitycontext` is enabled, so only containers get the settings there
            # (runAsNonRoot and seccompProfile are container fields too).
            pod_spec = None if knative else predictor
            sites.append(PodSite(predictor.setdefault("labels", {}),
                                 predictor.setdefault("annotations", {}), pod_spec, containers, track))
        return sites

    def track(self, obj: Manifest) -> str | None:
        """An InferenceService whose predictor has canaryTrafficPercent (Knative mode) describes the
        canary; its annotations are the canary's. In Standard mode it is the stable model's."""
        predictor = (obj.get("spec") or {}).get("predictor") or {}
        return CANARY if obj.get("kind") == KIND and "canaryTrafficPercent" in predictor else None

    def readiness(self, obj: Manifest) -> Readiness:
        """`Ready` condition; a model KServe cannot load or whose spec it refuses is failed."""
        ready = condition(obj, "Ready")
        if ready.ready or not _observed(obj):
            return ready
        model_status = (obj.get("status") or {}).get("modelStatus") or {}
        if model_status.get("transitionStatus") in ("BlockedByFailedLoad", "InvalidSpec"):
            failure = model_status.get("lastFailureInfo") or {}
            detail = ": ".join(str(p) for p in (failure.get("reason"), failure.get("message")) if p)
            reason = str(model_status["transitionStatus"]) + (f" ({detail})" if detail else "")
            return Readiness(False, reason, failed=True)
        return ready

    def artifact_layout(self, model: ModelIR) -> frozenset[str] | None:
        return artifact_layout(model) if model.image is None else None

    def replace_paths(self, obj: Manifest) -> Sequence[tuple[str | int, ...]]:
        # KServe's webhook refuses to change the deployment mode of an existing InferenceService.
        return [("metadata", "annotations", MODE_ANNOTATION)] if obj.get("kind") == KIND else []


def _add_logger(predictor: Manifest, model: ModelIR, options: KServeOptions, track: str | None) -> None:
    """`logger` (PredictorExtensionSpec.Logger, both CRDs): mode and url (without one the agent
    logs to the `logger.defaultUrl` of KServe's inferenceservice-config). From 0.20 on,
    `metadataAnnotations` names the pod annotations the agent sends as each event's `annotations`
    attribute (agent_injector.go looks them up on the pod; pkg/logger/worker.go sends them): the
    track's provenance annotations, which the finishing pass puts on the predictor's pods."""
    log = model.inference_log
    if log is None:
        return
    logger: Manifest = {"mode": log.mode}
    if log.url is not None:
        logger["url"] = log.url
    keys = sorted(logged_provenance(model, track))
    if keys and version_tuple(options.version) >= METADATA_ANNOTATIONS_SINCE:
        logger["metadataAnnotations"] = keys
    predictor["logger"] = logger


def _resources(model: ModelIR) -> dict[str, dict[str, Any]]:
    resources = container_resources(model.resources)
    if model.resources.cpu:
        resources.setdefault("limits", {})["cpu"] = model.resources.cpu
    return resources


def _image_port(model: ModelIR) -> int:
    return model.port or (BENTO_PORT if model.format == "bento" else CUSTOM_PORT)


def _observed(obj: Manifest) -> bool:
    generation = (obj.get("metadata") or {}).get("generation")
    observed = (obj.get("status") or {}).get("observedGeneration")
    return generation is None or observed is None or observed >= generation


def _options(model: ModelIR) -> KServeOptions:
    options = model.options
    return options if isinstance(options, KServeOptions) else KServeOptions()


backend = KServeBackend()
