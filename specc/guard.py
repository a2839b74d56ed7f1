"""Guards before the first write: the intended cluster, and the rights to change it.

Takes a `Cluster` and what is about to happen (the spec's `metadata.cluster.uid` pin, a plan, the
kinds it touches); raises `WrongCluster` (exit 3) when the cluster is not certainly the intended one,
or a `ClusterError` listing every missing permission at once (exit 1, kapp-style preflight). It asks
the server only through `specc.cluster` (the kube-system UID, SelfSubjectAccessReviews) and must not
print or write anything.

The rules (reliability notes §3.3, §3.4):
- several kubeconfig contexts and no `--context`: `apply`, `destroy` and `force-unlock` are refused,
  unless the spec pins the cluster's UID (or a saved plan recorded it), which identifies the cluster
  better than a context name does; `plan` is allowed (its header names server, context, namespace);
- a pin is compared with the live kube-system namespace UID (kubernetes/kubernetes#77487: the
  de-facto cluster id); a mismatch is refused naming both UIDs; a pin that cannot be read (403) is
  refused for writes and a warning for `plan`;
- before the lock (the first write), every (verb, group, resource, namespace) the plan needs is
  asked with a SelfSubjectAccessReview; server-side apply is authorised as `patch` and, when it
  creates the object, also as `create`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from specc.cluster import Access, Cluster, Resource
from specc.diagnostics import ClusterError, Diagnostic, Severity, WrongCluster
from specc.lock import LEASE
from specc.plan import Action, Plan
from specc.targets import NAMESPACE, PARENT

UID_HINT = "kubectl get namespace kube-system -o jsonpath='{.metadata.uid}'"


def check_context(cluster: Cluster, *, pinned: bool, command: str) -> None:
    """Refuse a write chosen by the kubeconfig's current-context among several."""
    if cluster.contexts > 1 and not cluster.context_given and not pinned:
        raise WrongCluster([Diagnostic(
            "K521", f"refusing to {command}: the kubeconfig has {cluster.contexts} contexts and no --context "
            f"was given (the current-context is '{cluster.context}', server {cluster.server}); nothing was "
            "written",
            hint=f"pass --context {cluster.context} to act on it, or pin the cluster in the spec: "
            f"metadata.cluster.uid ({UID_HINT})")])


def check_pin(cluster: Cluster, pin: str | None, *, writing: bool) -> tuple[str | None, list[Diagnostic]]:
    """The live cluster UID (None when it cannot be read) and warnings; refuses a mismatching pin,
    and for a write a pin that cannot be checked."""
    live = cluster.cluster_uid()
    if pin is None:
        return live, []
    if live is None:
        message = (f"metadata.cluster.uid pins cluster {pin}, but this user may not read namespace kube-system "
                   f"on {cluster.server} (context {cluster.context}), so the pin cannot be checked")
        hint = ("grant `get` on namespaces/kube-system (examples/rbac/cluster-uid.yaml), or remove the pin; "
                "nothing was written")
        if writing:
            raise WrongCluster([Diagnostic("K523", f"refusing to write: {message}", hint=hint)])
        return None, [Diagnostic("K523", message, hint=hint, severity=Severity.WARNING)]
    if live != pin:
        raise WrongCluster([Diagnostic(
            "K522", f"wrong cluster: metadata.cluster.uid pins cluster {pin}, but {cluster.server} (context "
            f"{cluster.context}) is cluster {live} (its kube-system namespace UID); nothing was written",
            hint="choose the pinned cluster with --context, or change the pin if the spec moved")])
    return live, []


def check_saved_plan_cluster(cluster: Cluster, recorded: str | None) -> None:
    """A saved plan that recorded its cluster's UID applies only to that cluster."""
    if recorded is None:
        return
    live = cluster.cluster_uid()
    if live is None:
        raise WrongCluster([Diagnostic(
            "K523", f"refusing to apply the saved plan: it was made on cluster {recorded}, and this user may not "
            f"read namespace kube-system on {cluster.server} to check that this is the same cluster",
            hint="apply it as the user that made it, or plan again; nothing was written")])
    if live != recorded:
        raise WrongCluster([Diagnostic(
            "K524", f"wrong cluster: the saved plan was made on cluster {recorded}, but {cluster.server} (context "
            f"{cluster.context}) is cluster {live}; nothing was written",
            hint="apply it with the --context it was made for, or plan again against this cluster")])


# -- what a run needs -----------------------------------------------------------------------------------

LOCK_VERBS = ("get", "create", "update", "delete")  # lock.py: read, create, renew/take over (PUT), release


def _on(resource: Resource, namespace: str, *verbs: str) -> list[Access]:
    where = namespace if resource.namespaced else ""
    return [Access(verb, resource.group, resource.plural, where) for verb in verbs]


def apply_needs(plan: Plan, resources: Mapping[str, Resource], *, parent_exists: bool, namespace_exists: bool,
                create_namespace: bool, destroy: bool) -> list[Access]:
    """Every permission applying `plan` uses (sorted, unique): reads, writes per action, the ApplySet
    parent, the lock and, with --create-namespace, the namespace."""
    ns = plan.namespace
    needs: list[Access] = [*_on(LEASE, ns, *LOCK_VERBS), *_on(PARENT, ns, "get", "list")]
    if destroy:
        needs += _on(PARENT, ns, "delete") if parent_exists else []
    else:
        needs += _on(PARENT, ns, "patch") + ([] if parent_exists else _on(PARENT, ns, "create"))
    if create_namespace and not namespace_exists:
        needs += _on(NAMESPACE, ns, "get", "patch", "create")
    for change in plan.changes:
        resource = resources.get(change.key.group_kind)
        if resource is None:
            continue  # a kind the cluster does not serve was refused by the plan already
        needs += _on(resource, ns, "get", "list")
        if change.action is Action.CREATE:
            needs += _on(resource, ns, "patch", "create")
        elif change.action is Action.UPDATE:
            needs += _on(resource, ns, "patch")
        elif change.action is Action.REPLACE:
            needs += _on(resource, ns, "delete", "patch", "create")
        elif change.action is Action.DELETE:
            needs += _on(resource, ns, "delete")
    return sorted(set(needs))


def worst_case_needs(namespace: str, resources: Iterable[Resource], *, create_namespace: bool) -> list[Access]:
    """What an apply creating every object of these kinds would need: asked when even the reads of
    the first look were forbidden, so that one answer names everything to grant."""
    needs: list[Access] = [*_on(LEASE, namespace, *LOCK_VERBS), *_on(PARENT, namespace, "get", "list", "patch",
                                                                          "create")]
    if create_namespace:
        needs += _on(NAMESPACE, namespace, "get", "patch", "create")
    for resource in resources:
        needs += _on(resource, namespace, "get", "list", "patch", "create")
    return sorted(set(needs))


def unlock_needs(namespace: str) -> list[Access]:
    return _on(LEASE, namespace, "get", "delete")


def preflight(cluster: Cluster, needs: Sequence[Access]) -> None:
    """Ask for every permission at once; raise one error naming each denied one (nothing written)."""
    try:
        answers = cluster.allowed(needs)
    except ClusterError as error:
        raise ClusterError([Diagnostic(
            "K526", "cannot check permissions before writing: the API server refused a SelfSubjectAccessReview: "
            f"{error.diagnostics[0].message if error.diagnostics else 'unknown error'}",
            hint="every authenticated user may create SelfSubjectAccessReviews (ClusterRole system:basic-user); "
            "nothing was written")]) from None
    denied = [need for need, ok in zip(needs, answers, strict=True) if not ok]
    if denied:
        diagnostics = [Diagnostic("K525", f"permission missing: {need}") for need in denied]
        diagnostics.append(Diagnostic(
            "K525", f"refusing to write: {len(denied)} permission(s) missing for context '{cluster.context}' "
            f"on {cluster.server}; nothing was written",
            hint="grant them (the minimal Role: examples/rbac/role.yaml, README \"Least privilege\"), then run again"))
        raise ClusterError(diagnostics)
