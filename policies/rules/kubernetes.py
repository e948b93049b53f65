"""Tenant isolation inside the cluster: default-deny network policies, Pod Security Admission labels, quotas
and limit ranges, least-privilege RBAC, and network policies tenants cannot rewrite (SEC-NET-003,
SEC-K8S-001 ... SEC-K8S-004)."""

from __future__ import annotations

from fnmatch import fnmatchcase

from components.accelerators import DEVICE_RESOURCES
from policies.support.kubernetes import WORKLOAD_LABEL, is_tenant, objects_in, tenant_namespaces
from policies.support.rule import Ctx, Res, Stack, resource_policy, stack_policy
from policies.support.tokens import (
    ADMISSION_POLICY,
    ADMISSION_POLICY_BINDING,
    CLUSTER_ROLE_BINDING,
    LIMIT_RANGE,
    NAMESPACE,
    NETWORK_POLICY,
    RBAC_ROLE,
    RESOURCE_QUOTA,
    ROLE_BINDING,
    any_of,
)
from policies.support.values import as_dict, as_list, known, text

PSA = "pod-security.kubernetes.io"
LEVELS = ["privileged", "baseline", "restricted"]
TENANT_ESCALATION_VERBS = {"escalate", "bind", "impersonate"}


# SEC-NET-003 ---------------------------------------------------------------------------------------------------
def _is_default_deny(policy: Res) -> bool:
    spec = as_dict(policy.get("spec"))
    selector = as_dict(spec.get("podSelector"))
    types = {known(t) for t in as_list(spec.get("policyTypes"))}
    return (
        not any(selector.get(k) for k in ("matchLabels", "matchExpressions"))
        and {"Ingress", "Egress"} <= types
        and not as_list(spec.get("ingress"))
        and not as_list(spec.get("egress"))
    )


def _allows_dns(policy: Res) -> bool:
    for rule in as_list(policy.get("spec", "egress")):
        for port in as_list(rule.get("ports") if isinstance(rule, dict) else None):
            if not isinstance(port, dict):
                continue
            value = known(port.get("port"))  # a number (the wire has only doubles) or a named port
            if (isinstance(value, (int, float)) and value == 53) or value in ("53", "dns", "dns-tcp"):
                return True
    return False


def _default_deny(stack: Stack, ctx: Ctx) -> None:
    for ns in tenant_namespaces(stack):
        with ctx.each():
            policies = objects_in(stack, ns, NETWORK_POLICY)
            missing = []
            if not any(_is_default_deny(p) for p in policies):
                missing.append("a default-deny NetworkPolicy (podSelector {}, policyTypes [Ingress, Egress], no rules)")
            if not any(_allows_dns(p) for p in policies):
                missing.append("a NetworkPolicy allowing DNS egress (port 53 to kube-dns)")
            if missing:
                ctx.violation(
                    ns,
                    f"tenant namespace lacks {' and '.join(missing)}; without them any pod reaches any other tenant.",
                )


SEC_NET_003 = stack_policy(
    rule_id="SEC-NET-003",
    slug="default-deny-network-policy",
    description="Every tenant namespace starts from a default-deny NetworkPolicy (ingress and egress) plus an "
    "explicit DNS egress allowance, so tenants cannot reach each other by default.",
    check=_default_deny,
    anchor="EKS BPG security/network: default deny, allow DNS; CKV2_K8S_6; Kyverno add-network-policy",
)


# SEC-K8S-001 ---------------------------------------------------------------------------------------------------
PURPOSE_LABEL = "crucible.io/purpose"  # "notebooks" on the hub's namespace


def _rank(level) -> int:
    return LEVELS.index(level) if level in LEVELS else -1


def _pod_security(ns: Res, ctx: Ctx) -> None:
    labels = ns.labels
    enforce, warn, audit = (known(labels.get(f"{PSA}/{mode}")) for mode in ("enforce", "warn", "audit"))
    if enforce not in LEVELS:
        ctx.violation(
            ns,
            f"label {PSA}/enforce is {('set to ' + repr(enforce)) if enforce else 'missing'}; every namespace states "
            "its Pod Security level (restricted for tenants, privileged only for system namespaces).",
        )
        return
    if labels.get(PURPOSE_LABEL) == "notebooks" and not is_tenant(ns):
        # The hub's namespace (addons/jupyterhub.py): IMDS is blocked by NetworkPolicy, so nothing there needs more.
        minimum = ctx.setting("tenantMinimum")
        if _rank(enforce) < _rank(minimum):
            ctx.violation(
                ns,
                f"notebook namespace enforces Pod Security {enforce!r}; set {PSA}/enforce to at least {minimum!r} (block IMDS "
                "with the notebook NetworkPolicy, singleuser.cloudMetadata.blockWithIptables: false, instead of the privileged init container).",
            )
        return
    if not is_tenant(ns):
        return
    training = labels.get(WORKLOAD_LABEL) == "training"
    minimum = ctx.setting("trainingMinimum" if training else "tenantMinimum")
    what = "training" if training else "tenant"
    if _rank(enforce) < _rank(minimum):
        ctx.violation(
            ns,
            f"{what} namespace enforces Pod Security {enforce!r}; set {PSA}/enforce to at least {minimum!r}.",
        )
    if _rank(enforce) < _rank("restricted") and (warn != "restricted" or audit != "restricted"):
        ctx.violation(
            ns,
            f"{what} namespace enforces {enforce!r}; set {PSA}/warn and {PSA}/audit to 'restricted' so every deviation from restricted is visible.",
        )


SEC_K8S_001 = resource_policy(
    rule_id="SEC-K8S-001",
    slug="pod-security-labels",
    description="Every namespace carries an explicit Pod Security Admission level: tenant and notebook "
    "namespaces restricted, training namespaces at least baseline (EFA/NCCL images and MPI sshd run as root) with warn/audit "
    "restricted, system namespaces explicitly privileged.",
    applies_to=NAMESPACE,
    checks=[_pod_security],
    settings={
        "tenantMinimum": {
            "type": "string",
            "enum": LEVELS,
            "default": "restricted",
            "description": "Lowest enforce level for tenant namespaces (dev: baseline).",
        },
        "trainingMinimum": {
            "type": "string",
            "enum": LEVELS,
            "default": "baseline",
            "description": "Lowest enforce level for tenant training namespaces.",
        },
    },
    anchor="Pod Security Standards; EKS BPG security/pods; CIS EKS 4.2.x",
)


# REL-K8S-002 ---------------------------------------------------------------------------------------------------
def _quotas(stack: Stack, ctx: Ctx) -> None:
    required = list(ctx.setting("requiredQuotaKeys"))
    for ns in tenant_namespaces(stack):
        with ctx.each():
            quotas = objects_in(stack, ns, RESOURCE_QUOTA)
            hard = {k for q in quotas for k in as_dict(q.get("spec", "hard"))}
            if not quotas:
                ctx.violation(ns, f"tenant namespace has no ResourceQuota; add one limiting {', '.join(required)}.")
            else:
                missing = [k for k in required if k not in hard]
                if missing:
                    ctx.violation(ns, f"tenant namespace's ResourceQuota does not limit {', '.join(missing)}.")
            if not objects_in(stack, ns, LIMIT_RANGE):
                ctx.violation(
                    ns,
                    "tenant namespace has no LimitRange, so containers without requests escape the quota's accounting; add default requests and limits.",
                )


REL_K8S_002 = stack_policy(
    rule_id="REL-K8S-002",
    slug="tenant-quotas",
    description="Every tenant namespace has a ResourceQuota (accelerators, PVC count and storage) and a "
    "LimitRange, so one team cannot take the cluster's GPUs or volumes.",
    check=_quotas,
    settings={
        "requiredQuotaKeys": {
            "type": "array",
            "items": {"type": "string"},
            "default": [*(f"requests.{r}" for r in DEVICE_RESOURCES), "persistentvolumeclaims", "requests.storage"],
            "description": "spec.hard keys every tenant ResourceQuota must set.",
        }
    },
    anchor="EKS BPG reliability/dataplane and multitenancy: quotas; CKV_K8S_10-13",
)


# SEC-K8S-003 ---------------------------------------------------------------------------------------------------
def _rbac(res: Res, ctx: Ctx) -> None:
    names = [n for n in (res.name, res.k8s_name) if n]
    if any(fnmatchcase(n, pattern) for n in names for pattern in ctx.setting("exemptRoles")):
        return
    tenant = bool(res.labels.get("crucible.io/tenant"))
    if ROLE_BINDING(res.type):
        if text(res.get("roleRef", "name")) == "cluster-admin":
            ctx.violation(
                res,
                "binds cluster-admin in its namespace: its subjects could raise the namespace's ResourceQuota and "
                "LimitRange (which the built-in `admin` and `edit` ClusterRoles only read); bind one of those.",
            )
        return
    if CLUSTER_ROLE_BINDING(res.type):
        if tenant:
            ctx.violation(res, "binds a tenant cluster-wide; bind tenants with namespaced RoleBindings.")
        if text(res.get("roleRef", "name")) == "cluster-admin":
            allowed = set(ctx.setting("clusterAdminSubjects"))
            for subject in as_list(res.get("subjects")):
                if isinstance(subject, dict):
                    who = f"{known(subject.get('kind'))}:{known(subject.get('name'))}"
                    if who not in allowed:
                        ctx.violation(
                            res,
                            f"grants cluster-admin to {who}; cluster admin goes through EKS access entries for the "
                            "platform roles (`crucible:cluster.adminRoleArns`).",
                        )
        return
    for index, rule in enumerate(as_list(res.get("rules"))):
        if not isinstance(rule, dict):
            continue
        verbs = {known(v) for v in as_list(rule.get("verbs"))}
        resources = {known(r) for r in as_list(rule.get("resources"))}
        if "*" in verbs or "*" in resources:
            ctx.violation(res, f'rules[{index}] uses a wildcard ({"verbs" if "*" in verbs else "resources"}: "*"); list them.')
        if tenant and verbs & TENANT_ESCALATION_VERBS:
            ctx.violation(
                res,
                f"rules[{index}] gives a tenant {', '.join(sorted(verbs & TENANT_ESCALATION_VERBS))}, which lets it "
                "grant itself more than it has; remove them.",
            )


SEC_K8S_003 = resource_policy(
    rule_id="SEC-K8S-003",
    slug="rbac-least-privilege",
    description="RBAC is least-privilege: no wildcard verbs or resources, cluster-admin bound only cluster-wide to "
    "named platform subjects (never in a namespace), tenants bound only in their namespaces and never given escalate/bind/impersonate.",
    applies_to=any_of(CLUSTER_ROLE_BINDING, ROLE_BINDING, RBAC_ROLE),
    checks=[_rbac],
    settings={
        "clusterAdminSubjects": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": "Subjects (Kind:name, e.g. Group:platform-admins) allowed a cluster-admin ClusterRoleBinding.",
        },
        "exemptRoles": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": "Glob patterns (Pulumi or Kubernetes name) of reviewed upstream operator roles/bindings to skip.",
        },
    },
    anchor="CKV_K8S_49, CKV_K8S_155-158, CKV2_K8S_1-5; EKS BPG iam",
)

# SEC-K8S-004 ---------------------------------------------------------------------------------------------------
# Built-in ClusterRoles whose holders may write NetworkPolicies in the namespace they are bound in.
NETWORK_POLICY_WRITERS = ("admin", "edit", "cluster-admin")
WRITES = {"CREATE", "UPDATE", "DELETE"}


def _guarding_expressions(stack: Stack) -> list[str]:
    """CEL expressions of admission policies that are bound with Deny and match every NetworkPolicy write."""
    bound = {
        text(b.get("spec", "policyName"))
        for b in stack.of(ADMISSION_POLICY_BINDING)
        if "Deny" in [known(a) for a in as_list(b.get("spec", "validationActions"))]
    }
    out = []
    for policy in stack.of(ADMISSION_POLICY):
        if policy.k8s_name not in bound:
            continue
        rules = as_list(policy.get("spec", "matchConstraints", "resourceRules"))
        for rule in (r for r in rules if isinstance(r, dict)):
            operations = {known(o) for o in as_list(rule.get("operations"))}
            resources = {known(r) for r in as_list(rule.get("resources"))}
            if ("networkpolicies" in resources or "*" in resources) and ("*" in operations or WRITES <= operations):
                out.extend(text(v.get("expression")) or "" for v in as_list(policy.get("spec", "validations")) if isinstance(v, dict))
    return out


def _network_policy_guard(stack: Stack, ctx: Ctx) -> None:
    expressions = _guarding_expressions(stack)
    for ns in tenant_namespaces(stack):
        with ctx.each():
            writers = sorted(
                {
                    text(subject.get("name"))
                    for binding in objects_in(stack, ns, ROLE_BINDING)
                    if text(binding.get("roleRef", "name")) in NETWORK_POLICY_WRITERS
                    for subject in as_list(binding.get("subjects"))
                    if isinstance(subject, dict) and text(subject.get("kind")) == "Group" and text(subject.get("name"))
                }
            )
            # admin/edit also create RoleBindings, ServiceAccount tokens and impersonate ServiceAccounts in the
            # namespace: a team acting as one of its ServiceAccounts carries system:serviceaccounts:<ns> instead.
            accounts = [f"system:serviceaccounts:{ns.k8s_name}"] if writers and ns.k8s_name else []
            required = [*writers, *accounts]
            unguarded = [g for g in required if not any(f'"{g}"' in e or f"'{g}'" in e for e in expressions)]
            if unguarded:
                ctx.violation(
                    ns,
                    f"groups {', '.join(unguarded)} hold admin/edit here (directly, or as a ServiceAccount a team admin "
                    "binds and acts as), which includes writing NetworkPolicies (one allow-all policy undoes the default "
                    "deny), and no ValidatingAdmissionPolicy bound with Deny refuses them NetworkPolicy writes; keep the "
                    "tenant guard (addons/tenancy.py TenantGuard, from crucible:teams).",
                )


SEC_K8S_004 = stack_policy(
    rule_id="SEC-K8S-004",
    slug="tenant-network-policy-guard",
    description="Groups bound to admin/edit in a tenant namespace, and the namespace's ServiceAccounts (which those "
    "groups can bind and act as), cannot write its NetworkPolicies: a ValidatingAdmissionPolicy, bound with Deny, "
    "refuses them (RBAC cannot subtract the write from admin/edit).",
    check=_network_policy_guard,
    anchor="EKS BPG multitenancy: network policies; Kubernetes ValidatingAdmissionPolicy (GA 1.30)",
)

POLICIES = [SEC_NET_003, SEC_K8S_001, REL_K8S_002, SEC_K8S_003, SEC_K8S_004]
