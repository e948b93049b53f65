"""SEC-NET-003, SEC-K8S-001, REL-K8S-002, SEC-K8S-003, SEC-K8S-004."""

import json

from policy_builder import UNKNOWN, k8s, link, verdicts

PSA = "pod-security.kubernetes.io"


def namespace(name="vision", tenant="vision", enforce="restricted", warn=None, audit=None, **labels):
    all_labels = dict(labels)
    if tenant:
        all_labels["crucible.io/tenant"] = tenant
    for mode, level in (("enforce", enforce), ("warn", warn), ("audit", audit)):
        if level:
            all_labels[f"{PSA}/{mode}"] = level
    return k8s("v1", "Namespace", name, metadata={"labels": all_labels})


def in_ns(obj, ns):
    obj["inputs"]["metadata"]["namespace"] = ns["inputs"]["metadata"]["name"]
    return link(obj, "metadata", ns)


def deny_all(ns):
    return in_ns(k8s("networking.k8s.io/v1", "NetworkPolicy", f"{ns['name']}-deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}), ns)


def allow_dns(ns):
    return in_ns(
        k8s(
            "networking.k8s.io/v1",
            "NetworkPolicy",
            f"{ns['name']}-dns",
            {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                    }
                ],
            },
        ),
        ns,
    )


# SEC-NET-003
def test_tenant_namespace_with_default_deny_and_dns_passes():
    ns = namespace()
    assert verdicts("sec-net-003-default-deny-network-policy", [ns, deny_all(ns), allow_dns(ns)]) == []


def test_tenant_namespace_without_default_deny_fires_and_system_namespaces_are_not_asked():
    ns = namespace()
    system = namespace("karpenter", tenant=None, enforce="privileged")
    assert verdicts("sec-net-003-default-deny-network-policy", [ns, allow_dns(ns), system]) == [("vision", "mandatory")]
    assert verdicts("sec-net-003-default-deny-network-policy", [ns, deny_all(ns)], env="dev") == [("vision", "advisory")]


def test_policies_of_another_namespace_do_not_count():
    ns, other = namespace(), namespace("nlp", tenant="nlp")
    assert verdicts("sec-net-003-default-deny-network-policy", [ns, other, deny_all(other), allow_dns(other)]) == [("vision", "mandatory")]


# SEC-K8S-001
def test_namespaces_with_the_right_pod_security_level_pass():
    tenant = namespace()
    training = namespace("train", tenant="vision", enforce="baseline", warn="restricted", audit="restricted", **{"crucible.io/workload": "training"})
    system = namespace("kube-addons", tenant=None, enforce="privileged")
    assert verdicts("sec-k8s-001-pod-security-labels", [tenant, training, system]) == []


def test_missing_or_weak_pod_security_fires():
    unlabelled = namespace("unlabelled", tenant=None, enforce=None)
    weak = namespace("weak", enforce="baseline", warn="restricted", audit="restricted")
    quiet = namespace("quiet", enforce="baseline", **{"crucible.io/workload": "training"})
    assert verdicts("sec-k8s-001-pod-security-labels", [unlabelled, weak, quiet]) == [
        ("quiet", "mandatory"),
        ("unlabelled", "mandatory"),
        ("weak", "mandatory"),
    ]


def test_the_notebook_namespace_enforces_restricted_and_privileged_or_baseline_fires():
    # The hub's namespace (crucible.io/purpose: notebooks): IMDS is blocked by NetworkPolicy, nothing there needs more.
    notebooks = {"crucible.io/purpose": "notebooks"}
    restricted = namespace("jupyterhub", tenant=None, enforce="restricted", **notebooks)
    privileged = namespace("hub-privileged", tenant=None, enforce="privileged", **notebooks)
    baseline = namespace("hub-baseline", tenant=None, enforce="baseline", warn="restricted", audit="restricted", **notebooks)
    assert verdicts("sec-k8s-001-pod-security-labels", [restricted, privileged, baseline]) == [("hub-baseline", "mandatory"), ("hub-privileged", "mandatory")]


def test_dev_accepts_baseline_tenants_that_warn_and_audit_restricted():
    ns = namespace(enforce="baseline", warn="restricted", audit="restricted")
    assert verdicts("sec-k8s-001-pod-security-labels", [ns], env="dev") == []


# REL-K8S-002
QUOTA = {
    "hard": {
        "requests.nvidia.com/gpu": "16",
        "requests.aws.amazon.com/neuron": "0",
        "persistentvolumeclaims": "20",
        "requests.storage": "2Ti",
        "requests.cpu": "256",
    }
}


def test_tenant_namespace_with_quota_and_limit_range_passes():
    ns = namespace()
    quota = in_ns(k8s("v1", "ResourceQuota", "vision-quota", QUOTA), ns)
    limits = in_ns(k8s("v1", "LimitRange", "vision-limits", {"limits": [{"type": "Container", "default": {"cpu": "1"}}]}), ns)
    assert verdicts("rel-k8s-002-tenant-quotas", [ns, quota, limits]) == []


def test_tenant_namespace_without_gpu_quota_or_limit_range_fires():
    ns = namespace()
    quota = in_ns(k8s("v1", "ResourceQuota", "vision-quota", {"hard": {"requests.cpu": "256"}}), ns)
    assert verdicts("rel-k8s-002-tenant-quotas", [ns, quota]) == [("vision", "mandatory")] * 2
    assert verdicts("rel-k8s-002-tenant-quotas", [ns], env="dev") == [("vision", "advisory")] * 2


# SEC-K8S-003
def role(kind, name, rules, tenant=False):
    labels = {"crucible.io/tenant": "vision"} if tenant else {}
    obj = k8s("rbac.authorization.k8s.io/v1", kind, name, metadata={"labels": labels})
    obj["inputs"]["rules"] = rules
    return obj


def binding(name, role_name, subjects, tenant=False, kind="ClusterRoleBinding"):
    labels = {"crucible.io/tenant": "vision"} if tenant else {}
    metadata = {"labels": labels, **({"namespace": "vision"} if kind == "RoleBinding" else {})}
    obj = k8s("rbac.authorization.k8s.io/v1", kind, name, metadata=metadata)
    obj["inputs"].update({"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name}, "subjects": subjects})
    return obj


def test_least_privilege_rbac_passes():
    reader = role("ClusterRole", "node-reader", [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]}])
    viewer = binding("view-nodes", "node-reader", [{"kind": "Group", "name": "platform-viewers"}])
    tenant = role("Role", "vision-dev", [{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get"]}], tenant=True)
    assert verdicts("sec-k8s-003-rbac-least-privilege", [reader, viewer, tenant]) == []


def test_wildcards_cluster_admin_bindings_and_tenant_escalation_fire():
    wildcard = role("ClusterRole", "everything", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get"]}])
    admin = binding("admins", "cluster-admin", [{"kind": "Group", "name": "developers"}])
    escalation = role("Role", "vision-rbac", [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["bind"]}], tenant=True)
    tenant_wide = binding("vision-wide", "view", [{"kind": "Group", "name": "vision"}], tenant=True)
    assert verdicts("sec-k8s-003-rbac-least-privilege", [wildcard, admin, escalation, tenant_wide]) == [
        ("admins", "mandatory"),
        ("everything", "mandatory"),
        ("vision-rbac", "mandatory"),
        ("vision-wide", "mandatory"),
    ]


def test_a_tenant_bound_to_admin_in_its_namespace_passes_and_to_cluster_admin_fires():
    admins = binding("vision-admins", "admin", [{"kind": "Group", "name": "vision-admins"}], tenant=True, kind="RoleBinding")
    assert verdicts("sec-k8s-003-rbac-least-privilege", [admins]) == []
    everything = binding("vision-root", "cluster-admin", [{"kind": "Group", "name": "vision-admins"}], tenant=True, kind="RoleBinding")
    assert verdicts("sec-k8s-003-rbac-least-privilege", [admins, everything]) == [("vision-root", "mandatory")]


def test_cluster_admin_for_a_configured_platform_subject_passes():
    admin = binding("platform", "cluster-admin", [{"kind": "Group", "name": "platform-admins"}])
    config = {"sec-k8s-003-rbac-least-privilege": {"clusterAdminSubjects": ["Group:platform-admins"]}}
    assert verdicts("sec-k8s-003-rbac-least-privilege", [admin], config=config) == []


def test_reviewed_upstream_operator_roles_can_be_exempted_by_name():
    upstream = role("ClusterRole", "mpi-operator", [{"apiGroups": ["kubeflow.org"], "resources": ["mpijobs"], "verbs": ["*"]}])
    assert verdicts("sec-k8s-003-rbac-least-privilege", [upstream]) == [("mpi-operator", "mandatory")]
    config = {"sec-k8s-003-rbac-least-privilege": {"exemptRoles": ["mpi-operator*"]}}
    assert verdicts("sec-k8s-003-rbac-least-privilege", [upstream], config=config) == []


def test_objects_join_their_namespace_by_urn_when_its_name_is_unknown_at_preview():
    ns = namespace()
    quota = k8s("v1", "ResourceQuota", "vision-quota", QUOTA, metadata={"namespace": UNKNOWN})
    limits = k8s("v1", "LimitRange", "vision-limits", {"limits": []}, metadata={"namespace": UNKNOWN})
    joined = [link(quota, "metadata", ns), link(limits, "metadata", ns)]
    assert verdicts("rel-k8s-002-tenant-quotas", [ns, *joined]) == []
    unjoined = [
        k8s("v1", "ResourceQuota", "q", QUOTA, metadata={"namespace": UNKNOWN}),
        k8s("v1", "LimitRange", "l", {"limits": []}, metadata={"namespace": UNKNOWN}),
    ]
    assert verdicts("rel-k8s-002-tenant-quotas", [ns, *unjoined]) == [("vision", "mandatory")] * 2


# SEC-K8S-004
def team_admins(ns, group="vision-admins", role_name="admin"):
    obj = k8s("rbac.authorization.k8s.io/v1", "RoleBinding", f"{ns['name']}-admins", metadata={"labels": {"crucible.io/tenant": "vision"}})
    obj["inputs"].update(
        {
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name},
            "subjects": [{"kind": "Group", "name": group, "apiGroup": "rbac.authorization.k8s.io"}],
        }
    )
    return in_ns(obj, ns)


def guard(groups, operations=("CREATE", "UPDATE", "DELETE"), actions=("Deny",)):
    policy = k8s(
        "admissionregistration.k8s.io/v1",
        "ValidatingAdmissionPolicy",
        "guard",
        {
            "matchConstraints": {
                "resourceRules": [{"apiGroups": ["networking.k8s.io"], "apiVersions": ["*"], "operations": list(operations), "resources": ["networkpolicies"]}]
            },
            "validations": [{"expression": f"!request.userInfo.groups.exists(g, g in {json.dumps(groups)})"}],
        },
    )
    binding = k8s("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding", "guard", {"policyName": "guard", "validationActions": list(actions)})
    return [policy, binding]


def test_tenant_writers_refused_network_policy_writes_by_an_admission_policy_pass():
    ns = namespace()
    writers = ["vision-admins", "vision-users", f"system:serviceaccounts:{ns['inputs']['metadata']['name']}"]
    assert verdicts("sec-k8s-004-tenant-network-policy-guard", [ns, team_admins(ns), *guard(writers)]) == []
    viewers = team_admins(ns, group="vision-viewers", role_name="view")  # view cannot write NetworkPolicies
    assert verdicts("sec-k8s-004-tenant-network-policy-guard", [ns, viewers]) == []


def test_tenant_writers_without_a_guard_or_with_a_partial_one_fire():
    ns = namespace()
    admins = team_admins(ns)
    assert verdicts("sec-k8s-004-tenant-network-policy-guard", [ns, admins]) == [("vision", "mandatory")]
    assert verdicts("sec-k8s-004-tenant-network-policy-guard", [ns, admins, *guard(["someone-else"])]) == [("vision", "mandatory")]
    assert verdicts("sec-k8s-004-tenant-network-policy-guard", [ns, admins, *guard(["vision-admins"], operations=("CREATE",))]) == [("vision", "mandatory")]
    assert verdicts("sec-k8s-004-tenant-network-policy-guard", [ns, admins, *guard(["vision-admins"], actions=("Warn",))]) == [("vision", "mandatory")]
    assert verdicts("sec-k8s-004-tenant-network-policy-guard", [ns, admins], env="dev") == [("vision", "advisory")]


def test_a_guard_that_lets_the_teams_service_accounts_through_fires():
    # a team admin binds `edit` to a ServiceAccount of the namespace and acts as it: the request carries
    # system:serviceaccounts:<namespace>, not the team's groups
    ns = namespace()
    assert verdicts("sec-k8s-004-tenant-network-policy-guard", [ns, team_admins(ns), *guard(["vision-admins"])]) == [("vision", "mandatory")]


# REL-K8S-005
CLAIMS = "rel-k8s-005-claims-within-quota"


def quota_in(ns: dict, storage: str = "2000Gi", claims: str = "20") -> dict:
    quota = k8s("v1", "ResourceQuota", f"{ns['inputs']['metadata']['name']}-quota", {"hard": {"requests.storage": storage, "persistentvolumeclaims": claims}})
    quota["inputs"]["metadata"]["namespace"] = ns["inputs"]["metadata"]["name"]
    return link(quota, "metadata", ns)


def waiting(quota: dict, expressions=None) -> dict:
    """``quota`` with the waitFor annotation components/awaits.py gives it (or the ``expressions`` given)."""
    from components.awaits import WAIT_FOR, quota_synced

    hard = quota["inputs"]["spec"]["hard"]
    annotation = quota_synced(hard) if expressions is None else {WAIT_FOR: json.dumps(expressions)}
    quota["inputs"]["metadata"]["annotations"] = annotation
    return quota


def claim_in(ns: dict, name: str, storage: str) -> dict:
    spec = {"accessModes": ["ReadOnlyMany"], "storageClassName": "", "resources": {"requests": {"storage": storage}}}
    claim = k8s("v1", "PersistentVolumeClaim", name, spec)
    claim["inputs"]["metadata"]["namespace"] = ns["inputs"]["metadata"]["name"]
    return link(claim, "metadata", ns)


def test_claims_that_fit_the_namespace_quota_pass():
    ns = namespace("serving", "serving")
    assert verdicts(CLAIMS, [ns, quota_in(ns), claim_in(ns, "lustre", "1Gi"), claim_in(ns, "weights", "1200Gi")]) == []


def test_claims_that_request_more_storage_than_the_quota_allows_fire_on_the_quota():
    # the inference preset before its fix: two served models' 1200Gi weight claims and the team's 1Gi Lustre claim
    ns = namespace("serving", "serving")
    resources = [ns, quota_in(ns), claim_in(ns, "lustre", "1Gi"), claim_in(ns, "a-weights", "1200Gi"), claim_in(ns, "b-weights", "1200Gi")]
    assert verdicts(CLAIMS, resources) == [("serving-quota", "mandatory")]


def test_more_claims_than_the_quota_counts_fire():
    ns = namespace("serving", "serving")
    assert verdicts(CLAIMS, [ns, quota_in(ns, claims="1"), claim_in(ns, "a", "1Gi"), claim_in(ns, "b", "1Gi")]) == [("serving-quota", "mandatory")]


def test_claims_of_another_namespace_do_not_count():
    ns, other = namespace("serving", "serving"), namespace("vision", "vision")
    assert verdicts(CLAIMS, [ns, other, quota_in(ns, storage="1Gi"), claim_in(ns, "lustre", "1Gi"), claim_in(other, "big", "1200Gi")]) == []


# REL-K8S-006
WAITS = "rel-k8s-006-quota-waits-for-status"


def test_a_quota_that_waits_for_each_claim_limit_in_its_stored_form_passes():
    ns = namespace("serving", "serving")
    assert verdicts(WAITS, [ns, waiting(quota_in(ns, storage="2048Gi")), claim_in(ns, "weights", "1200Gi")]) == []


def test_a_quota_judging_the_stacks_claims_without_a_wait_fires():
    ns = namespace("serving", "serving")
    assert verdicts(WAITS, [ns, quota_in(ns), claim_in(ns, "weights", "1200Gi")]) == [("serving-quota", "mandatory")]


def test_a_wait_for_the_value_as_written_not_as_stored_fires():
    # 2048Gi is stored as 2Ti: a wait for "2048Gi" would never hold
    ns = namespace("serving", "serving")
    written = ["jsonpath={.status.hard['requests.storage']}=2048Gi", "jsonpath={.status.hard['persistentvolumeclaims']}=20"]
    assert verdicts(WAITS, [ns, waiting(quota_in(ns, storage="2048Gi"), written), claim_in(ns, "w", "1Gi")]) == [("serving-quota", "mandatory")]


def test_a_quota_of_a_namespace_without_claims_need_not_wait():
    ns = namespace("serving", "serving")
    assert verdicts(WAITS, [ns, quota_in(ns)]) == []


def test_a_claim_limit_the_api_server_would_keep_as_written_fires_whatever_the_wait():
    # "02000Gi" is stored as written (ParseQuantity reuses strings whose digits look canonical): no canonical wait holds
    ns = namespace("serving", "serving")
    quota = quota_in(ns, storage="02000Gi")
    quota["inputs"]["metadata"]["annotations"] = {"pulumi.com/waitFor": json.dumps(["jsonpath={.status.hard['persistentvolumeclaims']}=20"])}
    assert verdicts(WAITS, [ns, quota, claim_in(ns, "w", "1Gi")]) == [("serving-quota", "mandatory")]
