"""Tenant isolation inside the cluster: default-deny network policies, Pod Security Admission labels, quotas
and limit ranges, least-privilege RBAC, and network policies tenants cannot rewrite (SEC-NET-003,
SEC-K8S-001 ... SEC-K8S-004)."""

from __future__ import annotations

import ipaddress
import json
import re
from fnmatch import fnmatchcase
from typing import Optional

from components.accelerators import DEVICE_RESOURCES
from components.awaits import WAIT_FOR, status_hard
from components.awaits import expressions as await_expressions
from policies.support import cidrs, helm, imds
from policies.support.kubernetes import CLAIM_LIMITS, WORKLOAD_LABEL, is_tenant, objects_in, tenant_namespaces
from policies.support.quantity import parse_quantity
from policies.support.rule import Ctx, Res, Stack, stack_policy
from policies.support.tokens import (
    ADMISSION_POLICY,
    ADMISSION_POLICY_BINDING,
    CLUSTER_ROLE_BINDING,
    EKS_CLUSTER,
    LIMIT_RANGE,
    NAMESPACE,
    NETWORK_POLICY,
    RBAC_ROLE,
    PERSISTENT_VOLUME_CLAIM,
    RESOURCE_QUOTA,
    ROLE_BINDING,
    any_of,
)
from policies.support.values import as_dict, as_list, is_set, known, text

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


_PRIVATE = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")]


def _peer_reaches_other_tenants(peer: object, namespace: Res) -> Optional[str]:
    if not isinstance(peer, dict):
        return None
    block = as_dict(peer.get("ipBlock"))
    if block:
        net = cidrs.parse(known(block.get("cidr")))
        if net is not None and net.version == 4 and any(net.overlaps(p) and net.prefixlen <= 16 for p in _PRIVATE):
            return f"ipBlock {block.get('cidr')} (pod addresses of other namespaces)"
        if net is not None and cidrs.reaches_internet([str(net)]):
            return f"ipBlock {block.get('cidr')}"
        return None
    if "namespaceSelector" not in peer:
        return None  # a podSelector alone stays in this namespace
    selector = as_dict(peer.get("namespaceSelector"))
    labels = as_dict(selector.get("matchLabels"))
    expressions = as_list(selector.get("matchExpressions"))
    if not labels and not expressions:
        return "every namespace (namespaceSelector {})"
    if any(isinstance(e, dict) and known(e.get("key")) == "crucible.io/tenant" and known(e.get("operator")) in ("Exists", "NotIn") for e in expressions):
        return "every tenant namespace (namespaceSelector on crucible.io/tenant)"
    name = labels.get("kubernetes.io/metadata.name")
    tenant = labels.get("crucible.io/tenant")
    if (tenant and tenant != namespace.labels.get("crucible.io/tenant")) or (name and labels.get("crucible.io/tenant") and name != namespace.k8s_name):
        return f"another tenant's namespace ({name or tenant})"
    return None


def _undoes_default_deny(policy: Res, namespace: Res) -> list[str]:
    """Rules of a tenant namespace's NetworkPolicy that open it to other tenants or everyone on every port."""
    found = []
    spec = as_dict(policy.get("spec"))
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        for index, rule in enumerate(as_list(spec.get(direction))):
            if not isinstance(rule, dict) or as_list(rule.get("ports")):
                continue  # port-scoped allowances are the platform's curated openings
            peers = as_list(rule.get(peers_key))
            if not peers:
                found.append(f"{direction}[{index}] admits every peer")
                continue
            for peer in peers:
                reach = _peer_reaches_other_tenants(peer, namespace)
                if reach:
                    found.append(f"{direction}[{index}] admits {reach}")
    return found


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
            for policy in policies:
                for opening in _undoes_default_deny(policy, ns):
                    ctx.violation(
                        policy,
                        f"{opening} on every port: NetworkPolicies add up, so this undoes the tenant namespace's "
                        "default deny; name the ports and the peers it needs.",
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


def _pod_security(ns: Res, ctx: Ctx, cluster_minor: Optional[int] = None) -> None:
    labels = ns.labels
    enforce, warn, audit = (known(labels.get(f"{PSA}/{mode}")) for mode in ("enforce", "warn", "audit"))
    if enforce not in LEVELS:
        ctx.violation(
            ns,
            f"label {PSA}/enforce is {('set to ' + repr(enforce)) if enforce else 'missing'}; every namespace states "
            "its Pod Security level (restricted for tenants, privileged only for system namespaces).",
        )
        return
    version = known(labels.get(f"{PSA}/enforce-version"))
    if enforce != "privileged" and version is not None and version != "latest":
        minor = _minor(version)
        if minor is None or (cluster_minor is not None and minor < cluster_minor):
            ctx.violation(
                ns,
                f"label {PSA}/enforce-version is {version!r}: the namespace enforces the {enforce!r} standard of "
                + (f"an older Kubernetes than the cluster's 1.{cluster_minor}" if minor is not None else "no valid version")
                + ", without the checks added since; remove the label (the default is latest) or set it to 'latest'.",
            )
    if labels.get(PURPOSE_LABEL) == "notebooks" and not is_tenant(ns):
        # The hub's namespace (addons/jupyterhub.py labels it): IMDS is blocked by NetworkPolicy and every pod there
        # (hub, proxy, user-scheduler, notebooks with KubeSpawner's security contexts) is restricted-compliant.
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
    key = "`crucible:teams[].podSecurity`"
    if _rank(enforce) < _rank(minimum):
        ctx.violation(
            ns,
            f"{what} namespace enforces Pod Security {enforce!r}; set {PSA}/enforce to at least {minimum!r} ({key}).",
        )
    if _rank(enforce) < _rank("restricted") and (warn != "restricted" or audit != "restricted"):
        ctx.violation(
            ns,
            f"{what} namespace enforces {enforce!r}; set {PSA}/warn and {PSA}/audit to 'restricted' so every deviation from restricted is visible.",
        )


def _minor(version: object) -> Optional[int]:
    match = re.fullmatch(r"v1\.(\d+)", str(version))
    return int(match.group(1)) if match else None


def _cluster_minor(stack: Stack) -> Optional[int]:
    versions = [_minor(f"v{text(c.get('version'))}") for c in stack.of(EKS_CLUSTER) if isinstance(c.get("version"), str)]
    known_versions = [v for v in versions if v is not None]
    return min(known_versions) if known_versions else None


def _selects_notebooks(policy: Res) -> bool:
    """Whether a NetworkPolicy's podSelector can select z2jh's singleuser pods (component: singleuser-server)."""
    selector = as_dict(policy.get("spec", "podSelector"))
    labels = as_dict(selector.get("matchLabels"))
    if any(k != "component" and k not in ("app", "release", "hub.jupyter.org/network-access-hub") for k in labels):
        return False
    return labels.get("component", "singleuser-server") == "singleuser-server" and not selector.get("matchExpressions")


def _notebook_namespaces(stack: Stack, ctx: Ctx) -> None:
    minimum = ctx.setting("notebookMinimum")
    for release in helm.releases(stack, "jupyterhub"):
        with ctx.each():
            values = helm.values(release)
            name = text(release.get("namespace")) or "default"
            for ns in (n for n in stack.of(NAMESPACE) if n.k8s_name == name):
                enforce = known(ns.labels.get(f"{PSA}/enforce"))
                if imds.uses_iptables(values):
                    if enforce in LEVELS and enforce != "privileged":
                        ctx.violation(
                            ns,
                            f"notebook namespace enforces {enforce!r}, but the hub blocks IMDS with z2jh's privileged "
                            "iptables init container (singleuser.cloudMetadata.blockWithIptables), which that level "
                            "refuses: no notebook starts. Block IMDS with the singleuser NetworkPolicy instead.",
                        )
                    continue
                if ns.labels.get(PURPOSE_LABEL) == "notebooks":
                    pass  # Crucible's hub namespace: held to the tenants' minimum above (_pod_security)
                elif enforce in LEVELS and _rank(enforce) < _rank(minimum):
                    ctx.violation(
                        ns,
                        f"notebook namespace enforces Pod Security {enforce!r} although no privileged init container "
                        f"needs it (IMDS is blocked by NetworkPolicy); set {PSA}/enforce to at least {minimum!r}.",
                    )
                for policy in objects_in(stack, ns, NETWORK_POLICY):
                    if not _selects_notebooks(policy):
                        continue
                    admitting = imds.egress_admitting(as_list(policy.get("spec", "egress")))
                    if admitting:
                        ctx.violation(
                            policy,
                            f"admits notebook pods to the instance metadata service ({', '.join(admitting)}): "
                            "NetworkPolicies add up, so this undoes the hub's IMDS block; except 169.254.169.254/32.",
                        )


def _pod_security_levels(stack: Stack, ctx: Ctx) -> None:
    cluster_minor = _cluster_minor(stack)
    for ns in stack.of(NAMESPACE):
        with ctx.each():
            _pod_security(ns, ctx, cluster_minor)
    _notebook_namespaces(stack, ctx)


SEC_K8S_001 = stack_policy(
    rule_id="SEC-K8S-001",
    slug="pod-security-labels",
    description="Every namespace carries an explicit Pod Security Admission level of the current standard (no "
    "enforce-version older than the cluster): tenant namespaces restricted, training namespaces at least baseline "
    "(EFA/NCCL images and MPI sshd run as root) with warn/audit restricted, Crucible's hub namespace (crucible.io/purpose: "
    "notebooks) as strict as tenants, another hub's namespace at least baseline when IMDS is blocked by NetworkPolicy "
    "(privileged only for z2jh's iptables init container), system namespaces explicitly privileged.",
    check=_pod_security_levels,
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
        "notebookMinimum": {
            "type": "string",
            "enum": LEVELS,
            "default": "baseline",
            "description": "Lowest enforce level for the JupyterHub namespace when IMDS is blocked by NetworkPolicy.",
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


def _tenant_subjects(stack: Stack) -> dict[str, str]:
    """Subjects that act for a tenant ("Group:name" / "ServiceAccount:ns/name" / the namespace's SA group) -> the
    tenant namespace: groups bound in a tenant namespace, and that namespace's service accounts."""
    out: dict[str, str] = {}
    for ns in tenant_namespaces(stack):
        name = ns.k8s_name or ns.name
        out[f"Group:system:serviceaccounts:{name}"] = name
        for binding in objects_in(stack, ns, ROLE_BINDING):
            for subject in as_list(binding.get("subjects")):
                if isinstance(subject, dict) and text(subject.get("kind")) == "Group" and text(subject.get("name")):
                    out[f"Group:{text(subject.get('name'))}"] = name
    return out


def _who(subject: dict, binding: Res) -> str:
    kind, name = text(subject.get("kind")) or "", text(subject.get("name")) or ""
    if kind == "ServiceAccount":
        return f"ServiceAccount:{text(subject.get('namespace')) or binding.k8s_namespace or ''}/{name}"
    return f"{kind}:{name}"


def _role_dangers(role: Res) -> list[str]:
    found = set()
    for rule in as_list(role.get("rules")):
        if not isinstance(rule, dict):
            continue
        verbs = {known(v) for v in as_list(rule.get("verbs"))}
        resources = {known(r) for r in as_list(rule.get("resources"))}
        found |= verbs & TENANT_ESCALATION_VERBS
        if "*" in verbs or "*" in resources:
            found.add("a wildcard")
    return sorted(found)


def _tenant_rbac(stack: Stack, ctx: Ctx) -> None:
    """Tenants judged by who is bound, not by how the binding is labelled."""
    tenants = _tenant_subjects(stack)
    roles = stack.of(RBAC_ROLE)
    for binding in stack.of(any_of(CLUSTER_ROLE_BINDING, ROLE_BINDING)):
        names = [n for n in (binding.name, binding.k8s_name) if n]
        if binding.labels.get("crucible.io/tenant") or any(fnmatchcase(n, p) for n in names for p in ctx.setting("exemptRoles")):
            continue  # judged by _rbac already, or a reviewed upstream binding
        with ctx.each():
            subjects = [_who(s, binding) for s in as_list(binding.get("subjects")) if isinstance(s, dict)]
            namespaces = {tenants[s] for s in subjects if s in tenants}
            namespaces |= {
                s.split(":", 1)[1].split("/", 1)[0]
                for s in subjects
                if s.startswith("ServiceAccount:") and s.split(":", 1)[1].split("/", 1)[0] in tenants.values()
            }
            if not namespaces:
                continue
            if CLUSTER_ROLE_BINDING(binding.type):
                ctx.violation(
                    binding,
                    f"binds subjects of tenant namespace(s) {', '.join(sorted(namespaces))} cluster-wide "
                    f"({text(binding.get('roleRef', 'name'))}); bind tenants with RoleBindings in their namespaces.",
                )
                continue
            wanted = text(binding.get("roleRef", "name"))
            kind = text(binding.get("roleRef", "kind")) or "Role"
            for role in roles:
                same_kind = role.type.endswith(f":{kind}")
                if role.k8s_name != wanted or not same_kind or (kind == "Role" and role.k8s_namespace not in (None, binding.k8s_namespace)):
                    continue
                dangers = _role_dangers(role)
                if dangers:
                    ctx.violation(
                        binding,
                        f"gives tenant namespace(s) {', '.join(sorted(namespaces))} {kind} {wanted!r}, which carries "
                        f"{', '.join(dangers)} (unlabelled, so the tenant-role check never saw it); remove them.",
                    )


def _rbac_stack(stack: Stack, ctx: Ctx) -> None:
    for res in stack.of(any_of(CLUSTER_ROLE_BINDING, ROLE_BINDING, RBAC_ROLE)):
        with ctx.each():
            _rbac(res, ctx)
    _tenant_rbac(stack, ctx)


SEC_K8S_003 = stack_policy(
    rule_id="SEC-K8S-003",
    slug="rbac-least-privilege",
    description="RBAC is least-privilege: no wildcard verbs or resources, cluster-admin bound only cluster-wide to "
    "named platform subjects (never in a namespace), tenants -- whoever the binding's subjects are, labelled or not -- "
    "bound only in their namespaces and never given escalate/bind/impersonate.",
    check=_rbac_stack,
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
            # Reviewed: `crucible verify`'s ClusterRoleBinding (addons/verify.py) gives the platform group crucible:verify
            # read-only cluster scope (list nodes, get nodepools and ec2nodeclasses). The group is also bound in every
            # team namespace (to submit its sample Job through the team's LocalQueue), which makes it look like a
            # tenant's group to the who-is-bound judgement; it is not a tenant's (no team config names it).
            "default": ["verify-cluster-binding"],
            "description": "Glob patterns (Pulumi or Kubernetes name) of reviewed operator roles/bindings to skip "
            "(default: crucible verify's read-only cluster binding).",
        },
    },
    anchor="CKV_K8S_49, CKV_K8S_155-158, CKV2_K8S_1-5; EKS BPG iam",
)

# SEC-K8S-004 ---------------------------------------------------------------------------------------------------
# Built-in ClusterRoles whose holders may write NetworkPolicies in the namespace they are bound in.
NETWORK_POLICY_WRITERS = ("admin", "edit", "cluster-admin")
WRITES = {"CREATE", "UPDATE", "DELETE"}


def _selector_matches(selector: object, labels: dict) -> bool:
    """A Kubernetes label selector (matchLabels + matchExpressions) against a namespace's labels; unset matches all."""
    selector = as_dict(selector)
    for key, value in as_dict(selector.get("matchLabels")).items():
        if labels.get(key) != value:
            return False
    for expression in as_list(selector.get("matchExpressions")):
        if not isinstance(expression, dict):
            continue
        key, op = known(expression.get("key")), known(expression.get("operator"))
        values = [known(v) for v in as_list(expression.get("values"))]
        present = key in labels
        if (op == "In" and labels.get(key) not in values) or (op == "NotIn" and present and labels.get(key) in values):
            return False
        if (op == "Exists" and not present) or (op == "DoesNotExist" and present):
            return False
    return True


def _rule_covers_network_policy_writes(rule: dict) -> bool:
    operations = {known(o) for o in as_list(rule.get("operations"))}
    resources = {known(r) for r in as_list(rule.get("resources"))}
    groups = {known(g) for g in as_list(rule.get("apiGroups"))}
    versions = {known(v) for v in as_list(rule.get("apiVersions"))}
    return (
        ("networkpolicies" in resources or "*" in resources)
        and ("*" in operations or WRITES <= operations)
        and bool(groups & {"networking.k8s.io", "*"})
        and (not versions or bool(versions & {"v1", "*"}))
    )


def _guard_problems(policy: Res, binding: Res, namespace: Res, cluster_minor: Optional[int]) -> list[str]:
    """Why a bound admission policy cannot refuse NetworkPolicy writes in ``namespace`` (empty: it can)."""
    problems = []
    spec, bspec = as_dict(policy.get("spec")), as_dict(binding.get("spec"))
    constraints = as_dict(spec.get("matchConstraints"))
    rules = [r for r in as_list(constraints.get("resourceRules")) if isinstance(r, dict)]
    if not any(_rule_covers_network_policy_writes(r) for r in rules):
        problems.append("its resourceRules do not match every write of networking.k8s.io/v1 networkpolicies")
    if any(_rule_covers_network_policy_writes({**r, "operations": ["*"]}) for r in as_list(constraints.get("excludeResourceRules")) if isinstance(r, dict)):
        problems.append("its excludeResourceRules take networkpolicies out again")
    labels = namespace.labels | ({"kubernetes.io/metadata.name": namespace.k8s_name} if namespace.k8s_name else {})
    if not _selector_matches(constraints.get("namespaceSelector"), labels):
        problems.append("its namespaceSelector does not select the namespace")
    if not _selector_matches(as_dict(bspec.get("matchResources")).get("namespaceSelector"), labels):
        problems.append("its binding's matchResources.namespaceSelector does not select the namespace")
    if is_set(spec.get("paramKind")) and not is_set(bspec.get("paramRef")):
        problems.append("it declares paramKind but its binding has no paramRef")
    if cluster_minor is not None and cluster_minor < 30:
        problems.append(f"the cluster runs Kubernetes 1.{cluster_minor}, before ValidatingAdmissionPolicy v1 (1.30)")
    return problems


def _guards(stack: Stack, namespace: Res, cluster_minor: Optional[int]) -> tuple[list[str], list[str]]:
    """(CEL expressions of admission policies that take effect on NetworkPolicy writes in ``namespace``, why the
    other bound ones do not)."""
    expressions, ineffective = [], []
    for binding in stack.of(ADMISSION_POLICY_BINDING):
        if "Deny" not in [known(a) for a in as_list(binding.get("spec", "validationActions"))]:
            continue
        for policy in (p for p in stack.of(ADMISSION_POLICY) if p.k8s_name == text(binding.get("spec", "policyName"))):
            if not any(_rule_covers_network_policy_writes(r) for r in as_list(policy.get("spec", "matchConstraints", "resourceRules")) if isinstance(r, dict)):
                continue  # another guard (e.g. pod placement): not about NetworkPolicies
            problems = _guard_problems(policy, binding, namespace, cluster_minor)
            if problems:
                ineffective.append(f"{policy.k8s_name} ({'; '.join(problems)})")
            else:
                expressions.extend(text(v.get("expression")) or "" for v in as_list(policy.get("spec", "validations")) if isinstance(v, dict))
    return expressions, ineffective


def _network_policy_guard(stack: Stack, ctx: Ctx) -> None:
    cluster_minor = _cluster_minor(stack)
    for ns in tenant_namespaces(stack):
        with ctx.each():
            expressions, ineffective = _guards(stack, ns, cluster_minor)
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
                    "deny), and no ValidatingAdmissionPolicy bound with Deny refuses them NetworkPolicy writes"
                    + (f" (bound but without effect here: {', '.join(ineffective)})" if ineffective else "")
                    + "; keep the tenant guard (addons/tenancy.py TenantGuard, from `crucible:teams`).",
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

# REL-K8S-005 ---------------------------------------------------------------------------------------------------
# The API server's ResourceQuota admission counts every claim created in the namespace, static ones included, against
# `persistentvolumeclaims` and `requests.storage`: the claim that goes over is refused ("exceeded quota"), and what
# depends on it (a served model's Deployment) is never created.
GI = 2**30


def _claims_fit(stack: Stack, ctx: Ctx) -> None:
    for ns in stack.of(NAMESPACE):
        with ctx.each():
            quotas = [q for q in objects_in(stack, ns, RESOURCE_QUOTA) if not as_list(q.get("spec", "scopes")) and not q.get("spec", "scopeSelector")]
            claims = objects_in(stack, ns, PERSISTENT_VOLUME_CLAIM)
            if not quotas or not claims:
                continue
            requested = sum((parse_quantity(known(c.get("spec", "resources", "requests", "storage"))) or 0) for c in claims)
            for quota in quotas:
                hard = as_dict(quota.get("spec", "hard"))
                storage = parse_quantity(known(hard.get("requests.storage"))) if "requests.storage" in hard else None
                count = parse_quantity(known(hard.get("persistentvolumeclaims"))) if "persistentvolumeclaims" in hard else None
                names = ", ".join(sorted(c.k8s_name or c.name for c in claims))
                if storage is not None and requested > storage:
                    ctx.violation(
                        quota,
                        f"namespace {ns.k8s_name!r}: its claims ({names}) request {requested / GI:g}Gi together but the quota allows "
                        f"requests.storage {storage / GI:g}Gi: the API server refuses the claim that goes over. Raise "
                        "`crucible:teams[].storageGib` or let static claims request a token amount (they bind their volume whatever they ask).",
                    )
                if count is not None and len(claims) > count:
                    ctx.violation(
                        quota,
                        f"namespace {ns.k8s_name!r}: {len(claims)} claims ({names}) but the quota allows persistentvolumeclaims "
                        f"{count:g}; raise `crucible:teams[].volumes`.",
                    )


REL_K8S_005 = stack_policy(
    rule_id="REL-K8S-005",
    slug="claims-within-quota",
    description="The PersistentVolumeClaims a stack creates in a namespace fit that namespace's ResourceQuota "
    "(requests.storage, persistentvolumeclaims): the API server refuses the claim that goes over.",
    check=_claims_fit,
    anchor="Kubernetes Resource Quotas: storage resource quota (ResourceQuota admission)",
)


# REL-K8S-006 ---------------------------------------------------------------------------------------------------
# Quota admission judges a request by the quota's status.hard, which the quota controller copies from spec.hard after
# each write (kubernetes staging/src/k8s.io/apiserver/pkg/admission/plugin/resourcequota/controller.go checkRequest).
# REL-ORD-008 creates the claims after the quota; this makes the quota's create or update end only once its status
# holds the new limits, so a claim an update made room for is not judged by the old ones.
def _quota_waits(stack: Stack, ctx: Ctx) -> None:
    for ns in stack.of(NAMESPACE):
        with ctx.each():
            if not objects_in(stack, ns, PERSISTENT_VOLUME_CLAIM):
                continue
            for quota in objects_in(stack, ns, RESOURCE_QUOTA):
                hard = as_dict(quota.get("spec", "hard"))
                waits = set(await_expressions(as_dict(quota.get("metadata", "annotations"))))
                missing, unpredictable = [], []
                for key in CLAIM_LIMITS:
                    value = known(hard.get(key)) if key in hard else None
                    if value is None:
                        continue
                    try:
                        wanted = status_hard(key, str(value))
                    except ValueError as error:
                        unpredictable.append(f"{key}: {error}")
                        continue
                    if wanted not in waits:
                        missing.append(wanted)
                if unpredictable:
                    ctx.violation(
                        quota,
                        f"namespace {ns.k8s_name!r}: no wait can name the stored form of {'; '.join(unpredictable)}; write the "
                        "limit in normal form (e.g. 2000Gi, 20).",
                    )
                if missing:
                    ctx.violation(
                        quota,
                        f"namespace {ns.k8s_name!r} has claims this quota judges by its status, which lags its spec after every "
                        f"update; the quota does not wait for it: add to its {WAIT_FOR} annotation (a JSON list) {json.dumps(missing)} "
                        "(components/awaits.py quota_synced).",
                    )


REL_K8S_006 = stack_policy(
    rule_id="REL-K8S-006",
    slug="quota-waits-for-status",
    description="A ResourceQuota of a namespace where the stack creates PersistentVolumeClaims waits (pulumi.com/waitFor) "
    "until its status holds each claim limit it sets, as the API server stores it: quota admission judges claims by "
    "the status, which lags the spec after every update.",
    check=_quota_waits,
    anchor="Kubernetes Resource Quotas (quota admission uses status.hard); pulumi-kubernetes waitFor annotation",
)

POLICIES = [SEC_NET_003, SEC_K8S_001, REL_K8S_002, SEC_K8S_003, SEC_K8S_004, REL_K8S_005, REL_K8S_006]
