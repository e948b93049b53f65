"""REL-ORD-001 ... REL-ORD-006: the ordering relations, each with a firing and a passing fixture, and the
dependency closure they are judged on (direct, transitive, through a component, through parents)."""

import pytest

from policy_builder import UNKNOWN, k8s, link, messages, res, run, verdicts
from policies.support.ordering import Graph

SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
LUSTRE = "aws:fsx/lustreFileSystem:LustreFileSystem"
RELEASE = "kubernetes:helm.sh/v3:Release"
COMPONENT = "crucible:test:Component"

LUSTRE_RULES = "rel-ord-001-lustre-after-security-group-rules"
WEBHOOK = "rel-ord-002-webhook-served-after-webhook"
RECONCILED = "rel-ord-003-reconciled-before-controller"
CUSTOM = "rel-ord-004-custom-resources-after-crd-and-operator"
POOLS = "rel-ord-005-karpenter-pools-after-karpenter"
NETWORK = "rel-ord-006-controllers-before-network"


def after(resource: dict, *others: dict) -> dict:
    resource["dependencies"].extend(o["urn"] for o in others)
    return resource


def under(parent: dict, *children: dict) -> None:
    for child in children:
        child["parent"] = parent["urn"]


def release(name: str, chart: str, values: dict | None = None) -> dict:
    return res(RELEASE, name, {"chart": chart, "version": "1.0.0", "values": values or {}})


# --- the closure ---------------------------------------------------------------------------------------------------
def _graph(*resources):
    return Graph.of_plan(list(resources))


def test_closure_is_transitive_over_dependencies_and_property_dependencies():
    a, b, c = res("t:a:A", "a"), res("t:b:B", "b"), res("t:c:C", "c")
    link(b, "x", a)
    after(c, b)
    g = _graph(a, b, c)
    assert g.after(c["urn"], a["urn"]) and g.after(b["urn"], a["urn"]) and not g.after(a["urn"], c["urn"])


def test_a_dependency_on_a_component_is_one_on_everything_under_it():
    component, inner, leaf, x = res(COMPONENT, "comp"), res(COMPONENT, "inner"), res("t:a:A", "leaf"), res("t:x:X", "x")
    under(component, inner)
    under(inner, leaf)
    after(x, component)
    assert _graph(component, inner, leaf, x).after(x["urn"], leaf["urn"])


def test_a_child_waits_for_its_parents_dependencies_but_not_for_its_siblings():
    y, component, child, sibling = res("t:y:Y", "y"), res(COMPONENT, "comp"), res("t:a:A", "child"), res("t:b:B", "sibling")
    after(component, y)
    under(component, child, sibling)
    g = _graph(y, component, child, sibling)
    assert g.after(child["urn"], y["urn"]) and not g.after(child["urn"], sibling["urn"])


# --- REL-ORD-001 ----------------------------------------------------------------------------------------------------
def _lustre_setup():
    fsx_sg, nodes_sg = res(SG, "fsx"), res(SG, "nodes")
    own = link(res(INGRESS_RULE, "fsx-in-988", {"ipProtocol": "tcp", "fromPort": 988, "toPort": 988}), "securityGroupId", fsx_sg)
    link(own, "referencedSecurityGroupId", nodes_sg)
    client = link(res(EGRESS_RULE, "nodes-out-988", {"ipProtocol": "tcp", "fromPort": 988, "toPort": 988}), "securityGroupId", nodes_sg)
    link(client, "referencedSecurityGroupId", fsx_sg)
    unrelated = link(res(INGRESS_RULE, "nodes-in-443", {"ipProtocol": "tcp", "fromPort": 443, "toPort": 443}), "securityGroupId", nodes_sg)
    fs = link(res(LUSTRE, "fs", {"securityGroupIds": [UNKNOWN]}), "securityGroupIds", fsx_sg)
    return fs, [fsx_sg, nodes_sg, own, client, unrelated]


def test_a_file_system_racing_its_rules_fires_naming_both_and_every_missing_rule():
    fs, others = _lustre_setup()
    assert verdicts(LUSTRE_RULES, [fs, *others]) == [("fs", "mandatory")]
    (message,) = messages(LUSTRE_RULES, [fs, *others])
    assert "LustreFileSystem 'fs'" in message
    assert "SecurityGroupIngressRule 'fsx-in-988'" in message and "SecurityGroupEgressRule 'nodes-out-988'" in message
    assert "nodes-in-443" not in message  # a rule that names neither of the file system's groups
    assert verdicts(LUSTRE_RULES, [fs, *others], env="dev") == [("fs", "mandatory")]  # mandatory everywhere


def test_a_file_system_after_its_rules_passes_directly_or_through_a_component():
    fs, others = _lustre_setup()
    own, client = others[2], others[3]
    assert verdicts(LUSTRE_RULES, [after(fs, own, client), *others]) == []
    fs, others = _lustre_setup()
    rules = res(COMPONENT, "rules")
    under(rules, others[2], others[3])
    assert verdicts(LUSTRE_RULES, [after(fs, rules), rules, *others]) == []


# --- REL-ORD-002 ----------------------------------------------------------------------------------------------------
LBC = "oci://example/aws-load-balancer-controller"


def test_services_and_releases_racing_the_default_service_webhook_fire():
    lbc = release("lbc", LBC, {"clusterName": "c"})  # chart default: enableServiceMutatorWebhook true, Fail
    svc = k8s("v1", "Service", "metrics", {"type": "ClusterIP"})
    other = release("kueue", "oci://registry.k8s.io/kueue/charts/kueue")
    assert verdicts(WEBHOOK, [lbc, svc, other]) == [("kueue", "mandatory"), ("metrics", "mandatory")]
    assert "Release 'lbc'" in messages(WEBHOOK, [lbc, svc])[0]


def test_with_the_service_webhook_off_or_after_the_release_services_pass():
    svc = k8s("v1", "Service", "metrics", {"type": "ClusterIP"})
    off = release("lbc", LBC, {"enableServiceMutatorWebhook": False})
    assert verdicts(WEBHOOK, [off, svc]) == []
    lenient = release("lbc", LBC, {"serviceMutatorWebhookConfig": {"failurePolicy": "Ignore"}})
    assert verdicts(WEBHOOK, [lenient, svc]) == []
    on = release("lbc", LBC)
    assert verdicts(WEBHOOK, [on, after(k8s("v1", "Service", "metrics", {"type": "ClusterIP"}), on)]) == []


def test_what_the_webhooks_release_needs_first_is_not_asked_to_wait_for_it():
    role_like = release("cert-manager", "oci://example/cert-manager")
    lbc = after(release("lbc", LBC), role_like)
    assert verdicts(WEBHOOK, [lbc, role_like]) == []


def test_an_ingress_racing_the_ingress_validator_fires_unless_validation_is_off():
    lbc = release("lbc", LBC, {"enableServiceMutatorWebhook": False})
    ingress = k8s("networking.k8s.io/v1", "Ingress", "app", {"ingressClassName": "alb"})
    assert verdicts(WEBHOOK, [lbc, ingress]) == [("app", "mandatory")]
    no_validation = release("lbc", LBC, {"enableServiceMutatorWebhook": False, "webhookConfig": {"disableIngressValidation": True}})
    assert verdicts(WEBHOOK, [no_validation, ingress]) == []


# --- REL-ORD-003 ----------------------------------------------------------------------------------------------------
def _controller():
    return release("lbc", LBC, {"enableServiceMutatorWebhook": False, "ingressClass": "alb"})


def _reconciled():
    return [
        k8s("v1", "Service", "nlb", {"type": "LoadBalancer"}),
        k8s("networking.k8s.io/v1", "Ingress", "alb", {"ingressClassName": "alb"}),
        k8s("elbv2.k8s.aws/v1beta1", "TargetGroupBinding", "tgb", {"serviceRef": {"name": "x", "port": 80}}),
        release("hub", "jupyterhub", {"proxy": {"service": {"type": "LoadBalancer"}}}),
        k8s("v1", "Namespace", "team-a", metadata={"labels": {"crucible.io/tenant": "a"}}),
    ]


def test_what_the_controller_reconciles_but_outlives_it_fires():
    lbc = _controller()
    found = verdicts(RECONCILED, [lbc, *_reconciled()])
    assert found == [(n, "mandatory") for n in sorted(["nlb", "alb", "tgb", "hub", "team-a"])]
    assert all("Release 'lbc'" in m and "finalizers" in m for m in messages(RECONCILED, [lbc, *_reconciled()]))


def test_what_the_controller_reconciles_and_depends_on_it_passes():
    lbc = _controller()
    assert verdicts(RECONCILED, [lbc, *(after(r, lbc) for r in _reconciled())]) == []


def test_what_the_controller_does_not_reconcile_is_not_asked_to_wait():
    lbc = _controller()
    others = [
        k8s("v1", "Service", "internal", {"type": "ClusterIP"}),
        k8s("v1", "Service", "other-lb", {"type": "LoadBalancer", "loadBalancerClass": "example.com/other"}),
        k8s("networking.k8s.io/v1", "Ingress", "nginx", {"ingressClassName": "nginx"}),
        release("hub", "jupyterhub", {"proxy": {"service": {"type": "ClusterIP"}}}),
        k8s("v1", "Namespace", "monitoring"),
    ]
    assert verdicts(RECONCILED, [lbc, *others]) == []


# --- REL-ORD-004 ----------------------------------------------------------------------------------------------------
def test_a_custom_resource_racing_its_operator_or_its_crd_fires():
    kueue = release("kueue", "oci://registry.k8s.io/kueue/charts/kueue")
    queue = k8s("kueue.x-k8s.io/v1beta2", "LocalQueue", "default", {"clusterQueue": "a"})
    crd = res("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition", "mpijobs", {"spec": {"group": "kubeflow.org", "names": {"kind": "MPIJob"}}})
    job = k8s("kubeflow.org/v2beta1", "MPIJob", "allreduce", {})
    assert verdicts(CUSTOM, [kueue, queue, crd, job]) == [("allreduce", "mandatory"), ("default", "mandatory")]


def test_a_custom_resource_after_its_operator_and_crd_passes_and_one_installed_elsewhere_is_not_judged():
    kueue = release("kueue", "oci://registry.k8s.io/kueue/charts/kueue")
    queue = after(k8s("kueue.x-k8s.io/v1beta2", "LocalQueue", "default", {"clusterQueue": "a"}), kueue)
    crd = res("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition", "mpijobs", {"spec": {"group": "kubeflow.org", "names": {"kind": "MPIJob"}}})
    job = after(k8s("kubeflow.org/v2beta1", "MPIJob", "allreduce", {}), crd)
    elsewhere = k8s("ray.io/v1", "RayCluster", "rc", {})  # no KubeRay release in this stack
    assert verdicts(CUSTOM, [kueue, queue, crd, job, elsewhere]) == []


# --- REL-ORD-005 ----------------------------------------------------------------------------------------------------
def _karpenter():
    crds = release("karpenter-crd", "oci://public.ecr.aws/karpenter/karpenter-crd")
    controller = after(release("karpenter", "oci://public.ecr.aws/karpenter/karpenter"), crds)
    return crds, controller


def test_a_pool_racing_the_karpenter_release_fires_naming_it():
    crds, controller = _karpenter()
    pool = k8s("karpenter.sh/v1", "NodePool", "train", {})
    node_class = after(k8s("karpenter.k8s.aws/v1", "EC2NodeClass", "train-class", {}), crds)  # CRDs only: not enough
    assert verdicts(POOLS, [crds, controller, pool, node_class]) == [("train", "mandatory"), ("train-class", "mandatory")]
    assert "Release 'karpenter'" in messages(POOLS, [crds, controller, node_class])[0]


def test_a_pool_after_karpenter_passes_through_its_parent_component():
    crds, controller = _karpenter()
    component = after(res(COMPONENT, "pool-train"), controller)
    pool, node_class = k8s("karpenter.sh/v1", "NodePool", "train", {}), k8s("karpenter.k8s.aws/v1", "EC2NodeClass", "train-class", {})
    under(component, pool, node_class)
    assert verdicts(POOLS, [crds, controller, component, pool, node_class]) == []


# --- REL-ORD-006 ----------------------------------------------------------------------------------------------------
def _network():
    vpc = res("aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": "10.0.0.0/16"})
    nat = res("aws:ec2/natGateway:NatGateway", "nat-a", {})
    cluster = res("aws:eks/cluster:Cluster", "cluster", {})
    return vpc, nat, cluster


@pytest.mark.parametrize("chart", ["oci://public.ecr.aws/karpenter/karpenter", LBC])
def test_a_controller_that_would_outlive_the_network_fires_naming_what_it_needs(chart):
    vpc, nat, cluster = _network()
    controller = after(release("controller", chart, {"enableServiceMutatorWebhook": False}), cluster)
    assert verdicts(NETWORK, [vpc, nat, cluster, controller]) == [("controller", "mandatory")]
    (message,) = messages(NETWORK, [vpc, nat, cluster, controller])
    assert "NatGateway 'nat-a'" in message and "Vpc 'vpc'" in message and "Cluster 'cluster'" not in message


def test_a_controller_depending_on_the_network_component_passes():
    vpc, nat, cluster = _network()
    network = res("crucible:network:Network", "network")
    under(network, vpc, nat)
    controller = after(release("karpenter", "oci://public.ecr.aws/karpenter/karpenter"), network, cluster)
    assert verdicts(NETWORK, [network, vpc, nat, cluster, controller]) == []


# --- values unknown at preview -------------------------------------------------------------------------------------
def test_controller_values_computed_at_preview_stop_only_what_needs_them():
    lbc = release("lbc", LBC)
    lbc["inputs"]["values"] = UNKNOWN
    svc = k8s("v1", "Service", "metrics", {"type": "ClusterIP"})
    hub = release("hub", "jupyterhub", UNKNOWN)
    tenant = k8s("v1", "Namespace", "team-a", metadata={"labels": {"crucible.io/tenant": "a"}})
    resources = [lbc, svc, hub, tenant]
    # whether the Service webhook is on cannot be known: the SDK's advisory "can't run policy ... during preview"
    (webhook,) = [v for v in run(resources).violations if v.policy == WEBHOOK]
    assert webhook.level == "advisory" and "during preview" in webhook.message
    # the tenant namespace is still judged (mandatory); the hub, whose values are unknown, is the advisory part
    found = run(resources).of(RECONCILED)
    assert sorted((v.urn.rsplit("::", 1)[-1], v.level) for v in found) == [("", "advisory"), ("team-a", "mandatory")]


# --- REL-ORD-002: Kueue's batch Job webhook ------------------------------------------------------------------------
KUEUE = "oci://registry.k8s.io/kueue/charts/kueue"
TENANTS_ONLY = "managedJobsNamespaceSelector:\n  matchExpressions:\n  - {key: crucible.io/tenant, operator: Exists}\n"
QUEUED_ONLY = "managedJobsNamespaceSelector:\n  matchLabels: {crucible.io/queued: 'true'}\n"
WITH_PODS = QUEUED_ONLY + "integrations:\n  frameworks: [batch/job, pod]\n"


def kueue_release(config: str = "apiVersion: config.kueue.x-k8s.io/v1beta2\nkind: Configuration\n") -> dict:
    kueue = release("kueue", KUEUE, {"managerConfig": {"controllerManagerConfigYaml": config}})
    kueue["inputs"]["namespace"] = "kueue-system"
    return kueue


def in_namespace(resource: dict, namespace: str) -> dict:
    resource["inputs"]["namespace"] = namespace
    return resource


def test_releases_racing_kueues_default_job_webhook_fire_outside_kube_system():
    kueue = kueue_release()
    monitoring = in_namespace(release("monitoring", "kube-prometheus-stack"), "monitoring")  # hook Jobs
    plugin = in_namespace(release("nvidia-device-plugin", "nvidia-device-plugin"), "kube-system")
    assert verdicts(WEBHOOK, [kueue, monitoring, plugin]) == [("monitoring", "mandatory")]
    assert "Release 'kueue'" in messages(WEBHOOK, [kueue, monitoring])[0]


def test_with_kueues_jobs_narrowed_to_team_namespaces_only_their_jobs_wait():
    kueue = kueue_release(TENANTS_ONLY)
    monitoring = in_namespace(release("monitoring", "kube-prometheus-stack"), "monitoring")
    team = k8s("v1", "Namespace", "team-a", metadata={"labels": {"crucible.io/tenant": "a"}})
    job = k8s("batch/v1", "Job", "etl", {"template": {}}, metadata={"namespace": "team-a"})
    assert verdicts(WEBHOOK, [kueue, monitoring, team, job]) == [("etl", "mandatory")]
    assert verdicts(WEBHOOK, [kueue, monitoring, team, after(job, kueue)]) == []


def _team_deployment() -> tuple[dict, dict]:
    team = k8s("v1", "Namespace", "team-a", metadata={"labels": {"crucible.io/tenant": "a", "crucible.io/queued": "true"}})
    return team, k8s("apps/v1", "Deployment", "server", {"template": {}}, metadata={"namespace": "team-a"})


def test_with_kueues_pod_integration_what_makes_pods_in_its_namespaces_waits_for_it():
    # kueue 0.19.2 templates/webhook/manifests.yaml: mpod.kb.io, failurePolicy Fail when "pod" is a framework
    kueue, (team, server) = kueue_release(WITH_PODS), _team_deployment()
    assert verdicts(WEBHOOK, [kueue, team, server]) == [("server", "mandatory")]
    assert verdicts(WEBHOOK, [kueue, team, after(server, kueue)]) == []


def test_without_kueues_pod_integration_a_deployment_does_not_meet_its_webhooks():
    team, server = _team_deployment()
    assert verdicts(WEBHOOK, [kueue_release(QUEUED_ONLY), team, server]) == []


# --- REL-ORD-007 ----------------------------------------------------------------------------------------------------
ADDONS = "rel-ord-007-eks-addons-after-cluster-and-nodes"


def _cluster_and_nodes():
    cluster = res("aws:eks/cluster:Cluster", "cluster", {"name": "crucible-prod"})
    nodes = link(res("aws:eks/nodeGroup:NodeGroup", "system", {"clusterName": "crucible-prod"}), "clusterName", cluster)
    return cluster, nodes


def addon(name: str, cluster_name: str = "crucible-prod") -> dict:
    return res("aws:eks/addon:Addon", name, {"clusterName": cluster_name, "addonName": name})


def test_an_addon_naming_the_cluster_by_a_plain_string_fires_as_it_would_be_created_before_the_cluster():
    cluster, nodes = _cluster_and_nodes()
    logs = after(addon("amazon-cloudwatch-observability"), res("aws:iam/role:Role", "logs-role"))
    assert verdicts(ADDONS, [cluster, nodes, logs]) == [("amazon-cloudwatch-observability", "mandatory")]
    (message,) = messages(ADDONS, [cluster, nodes, logs])
    assert "Cluster 'cluster'" in message and "NodeGroup 'system'" in message


def test_an_addon_that_runs_a_deployment_waits_for_the_node_groups_a_node_prerequisite_does_not():
    cluster, nodes = _cluster_and_nodes()
    coredns = link(addon("coredns"), "clusterName", cluster)
    cni = link(addon("vpc-cni"), "clusterName", cluster)
    assert verdicts(ADDONS, [cluster, nodes, coredns, cni]) == [("coredns", "mandatory")]
    assert "NodeGroup 'system'" in messages(ADDONS, [cluster, nodes, coredns, cni])[0]
    assert verdicts(ADDONS, [cluster, nodes, after(coredns, nodes), cni]) == []


def test_an_addon_after_the_cluster_component_passes_and_one_of_another_stacks_cluster_is_not_judged():
    cluster, nodes = _cluster_and_nodes()
    component = res("crucible:cluster:Cluster", "cluster-component")
    under(component, cluster, nodes)
    logs = after(addon("amazon-cloudwatch-observability"), component)
    elsewhere = addon("coredns", cluster_name="crucible-core")  # a split stack's cluster: created by the stack below
    assert verdicts(ADDONS, [component, cluster, nodes, logs, elsewhere]) == []


# --- REL-ORD-008 ----------------------------------------------------------------------------------------------------
QUOTA_FIRST = "rel-ord-008-claims-after-quota"


def quota(namespace: str, hard: dict) -> dict:
    return k8s("v1", "ResourceQuota", f"{namespace}-quota", {"hard": hard}, metadata={"namespace": namespace})


def claim(name: str, namespace: str) -> dict:
    return k8s("v1", "PersistentVolumeClaim", name, {"resources": {"requests": {"storage": "1200Gi"}}}, metadata={"namespace": namespace})


def test_a_claim_created_in_parallel_with_the_quota_that_counts_it_fires():
    limits = quota("serving", {"requests.storage": "2000Gi", "requests.nvidia.com/gpu": "8"})
    assert verdicts(QUOTA_FIRST, [limits, claim("weights", "serving")]) == [("weights", "mandatory")]
    assert "ResourceQuota 'serving-quota'" in messages(QUOTA_FIRST, [limits, claim("weights", "serving")])[0]


def test_a_claim_after_its_quota_passes_directly_or_through_the_team_component():
    limits = quota("serving", {"persistentvolumeclaims": "10"})
    assert verdicts(QUOTA_FIRST, [limits, after(claim("weights", "serving"), limits)]) == []
    team = res("crucible:platform:Team", "team-serving")
    under(team, limits)
    assert verdicts(QUOTA_FIRST, [team, limits, after(claim("weights", "serving"), team)]) == []


def test_a_quota_that_does_not_count_claims_or_lives_elsewhere_orders_nothing():
    compute = quota("serving", {"requests.cpu": "64"})
    elsewhere = quota("research", {"requests.storage": "500Gi"})
    assert verdicts(QUOTA_FIRST, [compute, elsewhere, claim("weights", "serving")]) == []
