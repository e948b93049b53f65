"""Order of creation and destruction (REL-ORD-001 ... REL-ORD-006): a declared table of relations "X is created
after Y and destroyed before it", by resource type and role, judged on the dependency graph the engine orders by
(policies/support/ordering.py: direct or transitive, through parents, a dependency on a component being one on
everything under it).

Mocks and schemas prove what each resource is; they cannot prove that the cloud accepts the order Pulumi creates
and deletes them in, which is decided by these edges alone: two resources without a path between them are created
and deleted in parallel. Each relation below names the upstream behaviour that makes the order matter.

| id | X (waits) | Y (first on create, last on destroy) | why |
|---|---|---|---|
| REL-ORD-001 | FSx for Lustre file system | every rule naming one of its security groups (as group or peer) | FSx validates the groups synchronously at CreateFileSystem |
| REL-ORD-002 | objects a fail-closed webhook serves (the LBC's Services/Ingresses, Kueue's batch Jobs) | the release that serves the webhook | the API server refuses them until the webhook answers |
| REL-ORD-003 | objects a controller reconciles (LoadBalancer Services, Ingresses, TargetGroupBindings, releases asking for them, tenant namespaces) | the controller's release | their finalizers are cleared by the running controller only |
| REL-ORD-004 | custom resources | the CRD (resource or release) and the operator release of their API group | no CRD: the create fails; no operator: nothing reconciles, webhooks refuse |
| REL-ORD-005 | Karpenter NodePools and EC2NodeClasses | the Karpenter CRD and controller releases | the controller drains and terminates their nodes when they are deleted |
| REL-ORD-006 | in-cluster controllers acting on AWS (Karpenter, AWS Load Balancer Controller) | the network and the cluster | on destroy they must clean up through them |
| REL-ORD-007 | EKS add-ons of the stack's cluster (those that run Deployments: after its node groups too) | the cluster (and its node groups) | CreateAddon needs an existing cluster; an add-on's Deployment with no node never gets Ready |
| REL-ORD-008 | PersistentVolumeClaims in a namespace whose ResourceQuota limits claims | that quota | an update raising the quota for a new claim must land before the claim, which quota admission judges against it |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional


from policies.support.helm import chart_name, values
from policies.support.kubernetes import CLAIM_LIMITS
from policies.support.ordering import Graph
from policies.support.rule import Ctx, Res, Stack, stack_policy
from policies.support.tokens import (
    EC2_NODE_CLASS,
    EKS_ADDON,
    EKS_CLUSTER,
    EKS_NODE_GROUP,
    HELM_RELEASE,
    INGRESS,
    LUSTRE,
    NAMESPACE,
    NODE_POOL,
    PERSISTENT_VOLUME_CLAIM,
    RESOURCE_QUOTA,
    SECURITY_GROUP,
    SG_EGRESS_RULE,
    SG_INGRESS_RULE,
    SG_RULE,
    SUBNET,
    VPC,
    any_of,
    one_of,
)
from policies.support.values import dig, known, text, yaml_text

SERVICE = one_of("kubernetes:core/v1:Service")
CRD = one_of("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition")
TARGET_GROUP_BINDING = one_of("kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding", "kubernetes:elbv2.k8s.aws/v1:TargetGroupBinding")
NETWORK_AND_CLUSTER = any_of(
    VPC,
    SUBNET,
    one_of(
        "aws:ec2/internetGateway:InternetGateway",
        "aws:ec2/natGateway:NatGateway",
        "aws:ec2/routeTable:RouteTable",
        "aws:ec2/route:Route",
        "aws:ec2/routeTableAssociation:RouteTableAssociation",
        "aws:ec2/vpcEndpoint:VpcEndpoint",
    ),
    EKS_CLUSTER,
    EKS_NODE_GROUP,
)
ANY_RULE = any_of(SG_INGRESS_RULE, SG_EGRESS_RULE, SG_RULE)
RULE_GROUP_PROPS = ("securityGroupId", "referencedSecurityGroupId", "sourceSecurityGroupId")
TENANT_LABEL = "crucible.io/tenant"
LBC_CHART = "aws-load-balancer-controller"
KARPENTER_CHARTS = ("karpenter-crd", "karpenter")
# In-cluster controllers that create AWS resources in the VPC and must clean them up on destroy.
AWS_CONTROLLERS = ("karpenter", LBC_CHART)
# API group -> the charts that install its CRDs and run its operator (chart name: the last path segment).
# Karpenter's groups are REL-ORD-005's. A CRD declared as a resource of the stack counts too.
OPERATORS: dict[str, tuple[str, ...]] = {
    "kueue.x-k8s.io": ("kueue",),
    "ray.io": ("kuberay-operator",),
    "trainer.kubeflow.org": ("kubeflow-trainer",),
    "jobset.x-k8s.io": ("jobset",),
    "monitoring.coreos.com": ("kube-prometheus-stack",),
    "argoproj.io": ("argo-workflows",),
    "elbv2.k8s.aws": (LBC_CHART,),
}
KARPENTER_GROUPS = ("karpenter.sh", "karpenter.k8s.aws")
# EKS add-ons that run a Deployment (a controller, CoreDNS), which is Ready only once a node runs it: EKS reports such
# an add-on DEGRADED until then, and the provider waits for ACTIVE. The node prerequisites (vpc-cni, kube-proxy,
# eks-pod-identity-agent: DaemonSets a node needs to become Ready or its pods to get credentials) are installed
# before the nodes instead, and DaemonSet-only add-ons (eks-node-monitoring-agent) are Ready with no node.
ADDONS_ON_NODES = (
    "coredns",
    "aws-ebs-csi-driver",
    "aws-efs-csi-driver",
    "aws-fsx-csi-driver",
    "aws-mountpoint-s3-csi-driver",
    "amazon-cloudwatch-observability",
    "snapshot-controller",
    "metrics-server",
    "adot",
)


@dataclass(frozen=True)
class Need:
    """``subject`` must be created after ``before`` and destroyed before it."""

    subject: Res
    before: Res


# A finder lists what must wait for what; it runs each object's judgement in ``with ctx.each():`` so a value unknown
# at preview stops only that object's (the SDK then reports "can't run policy during preview" for it).
Finder = Callable[[Stack, Ctx], Iterable[Need]]


@dataclass(frozen=True)
class Relation:
    rule_id: str
    slug: str
    description: str
    why: str  # the upstream behaviour, said in every violation
    fix: str
    find: Finder
    anchor: str


def _check(relation: Relation) -> Callable[[Stack, Ctx], None]:
    def check(stack: Stack, ctx: Ctx) -> None:
        graph = Graph.of_stack(stack)
        missing: dict[str, tuple[Res, dict[str, Res]]] = {}
        with ctx.each():
            for need in relation.find(stack, ctx):
                if need.subject.urn == need.before.urn or graph.after(need.subject.urn, need.before.urn):
                    continue
                befores = missing.setdefault(need.subject.urn, (need.subject, {}))[1]
                befores[need.before.urn] = need.before
        for subject, befores in missing.values():
            with ctx.each():
                names = ", ".join(sorted(b.label for b in befores.values()))
                them = "it" if len(befores) == 1 else "them"
                ctx.violation(
                    subject,
                    f"must be created after {names} and destroyed before {them}, but does not depend on {them} "
                    f"(directly, through a component, or through its parents): Pulumi creates and deletes them in "
                    f"parallel. {relation.why} {relation.fix}",
                )

    return check


# --- the finders ---------------------------------------------------------------------------------------------------
def _lustre_rules(stack: Stack, ctx: Ctx) -> Iterable[Need]:
    rules = stack.of(ANY_RULE)
    for fs in stack.of(LUSTRE):
        groups = {g.urn for g in stack.linked(fs, "securityGroupIds", SECURITY_GROUP)}
        for rule in rules:
            if any(groups.intersection(rule.property_dependencies.get(p, ())) for p in RULE_GROUP_PROPS):
                yield Need(fs, rule)


def _chart_releases(stack: Stack, charts: Iterable[str]) -> list[Res]:
    wanted = set(charts)
    return [r for r in stack.of(HELM_RELEASE) if chart_name(r) in wanted]


def _fails_closed(policy: Any) -> bool:
    return text(policy) != "Ignore"  # the chart's default is Fail


@dataclass(frozen=True)
class Webhook:
    """A webhook a chart serves with failurePolicy Fail: while its release is not Ready, what it serves is refused."""

    chart: str
    name: str
    enabled: Callable[[dict], bool]  # from the release's values (the chart's defaults applied)
    serves: Callable[[Res, Res, Stack], bool]  # (object, the webhook's release, the stack)


def _service_mutator_on(v: dict) -> bool:
    # chart 3.5.0 values.yaml: enableServiceMutatorWebhook: true, serviceMutatorWebhookConfig.failurePolicy: Fail
    return known(v.get("enableServiceMutatorWebhook", True)) is not False and _fails_closed(dig(v, "serviceMutatorWebhookConfig", "failurePolicy"))


def _ingress_validation_on(v: dict) -> bool:
    # values.yaml: webhookConfig.disableIngressValidation unset, ingressValdationFailurePolicy: Fail (sic)
    return known(dig(v, "webhookConfig", "disableIngressValidation")) is not True and _fails_closed(dig(v, "webhookConfig", "ingressValdationFailurePolicy"))


def _creates_services(obj: Res, webhook_release: Res, stack: Stack) -> bool:
    # A chart's objects are invisible to the plan: any release may create Services (most charts do).
    return SERVICE(obj.type) or HELM_RELEASE(obj.type)


# Kueue 0.19 templates/webhook/manifests.yaml: mjob.kb.io / vjob.kb.io (failurePolicy Fail) on batch Job CREATE in
# the namespaces of managerConfig's managedJobsNamespaceSelector, by default every one but kube-system and the
# release's own. Charts run hook Jobs (kube-prometheus-stack's admission-webhook Jobs): any release may create Jobs.
BATCH_JOB = one_of("kubernetes:batch/v1:Job")
# mpod.kb.io (failurePolicy Fail when the "pod" integration is on) on every Pod CREATE in the same namespaces: what
# makes pods there (a controller retrying with a growing backoff, past Pulumi's 10-minute rollout wait) is refused.
MAKES_PODS = one_of(
    "kubernetes:core/v1:Pod",
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
    "kubernetes:apps/v1:ReplicaSet",
    "kubernetes:batch/v1:Job",
)
NAME_LABEL = "kubernetes.io/metadata.name"


def _kueue_config(chart_values: dict) -> dict:
    """Kueue's Configuration as the chart's values carry it (managerConfig.controllerManagerConfigYaml)."""
    config = known(dig(chart_values, "managerConfig", "controllerManagerConfigYaml"))
    parsed = yaml_text(config) if isinstance(config, str) else None
    return parsed if isinstance(parsed, dict) else {}


def _kueue_pod_integration_on(chart_values: dict) -> bool:
    frameworks = dig(_kueue_config(chart_values), "integrations", "frameworks")
    return isinstance(frameworks, list) and "pod" in frameworks


def _kueue_job_selector(release: Res) -> dict:
    parsed = _kueue_config(values(release))
    if isinstance(parsed.get("managedJobsNamespaceSelector"), dict):
        return parsed["managedJobsNamespaceSelector"]
    own = text(release.get("namespace")) or "default"
    return {"matchExpressions": [{"key": NAME_LABEL, "operator": "NotIn", "values": ["kube-system", own]}]}


def _selects(selector: dict, labels: dict) -> bool:
    """A Kubernetes LabelSelector (matchLabels, matchExpressions In/NotIn/Exists/DoesNotExist) on ``labels``."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or []:
        key, op, vals = e.get("key"), e.get("operator"), list(e.get("values") or [])
        ok = {
            "In": key in labels and labels[key] in vals,
            "NotIn": key not in labels or labels[key] not in vals,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }.get(op, False)
        if not ok:
            return False
    return True


def _namespace_of(obj: Res) -> Optional[str]:
    return text(obj.get("namespace")) if HELM_RELEASE(obj.type) else text(obj.get("metadata", "namespace"))


def _namespace_labels(stack: Stack, name: str) -> dict:
    """The labels the API server sees on namespace ``name``: its Namespace resource's (if this stack has one) and
    kubernetes.io/metadata.name."""
    for ns in stack.of(NAMESPACE):
        if ns.k8s_name == name:
            return {**ns.labels, NAME_LABEL: name}
    return {NAME_LABEL: name}


def _in_kueue_namespaces(obj: Res, kueue: Res, stack: Stack) -> bool:
    return _selects(_kueue_job_selector(kueue), _namespace_labels(stack, _namespace_of(obj) or "default"))


def _runs_jobs_kueue_intercepts(obj: Res, kueue: Res, stack: Stack) -> bool:
    return (BATCH_JOB(obj.type) or HELM_RELEASE(obj.type)) and _in_kueue_namespaces(obj, kueue, stack)


def _makes_pods_kueue_intercepts(obj: Res, kueue: Res, stack: Stack) -> bool:
    return (MAKES_PODS(obj.type) or HELM_RELEASE(obj.type)) and _in_kueue_namespaces(obj, kueue, stack)


WEBHOOKS = (
    # aws-load-balancer-controller 3.5.0 templates/webhook.yaml: mservice.elbv2.k8s.aws on every Service CREATE.
    Webhook(LBC_CHART, "mservice.elbv2.k8s.aws", _service_mutator_on, _creates_services),
    # vingress.elbv2.k8s.aws on every Ingress CREATE/UPDATE.
    Webhook(LBC_CHART, "vingress.elbv2.k8s.aws", _ingress_validation_on, lambda obj, _, __: INGRESS(obj.type)),
    Webhook("kueue", "mjob.kb.io", lambda v: True, _runs_jobs_kueue_intercepts),
    Webhook("kueue", "mpod.kb.io", _kueue_pod_integration_on, _makes_pods_kueue_intercepts),
)


def _webhook_served(stack: Stack, ctx: Ctx) -> Iterable[Need]:
    graph = Graph.of_stack(stack)
    needs: list[Need] = []
    for webhook in WEBHOOKS:
        for release in _chart_releases(stack, [webhook.chart]):
            with ctx.each():
                if not webhook.enabled(values(release)):
                    continue
                first = graph.waits_for(release.urn)  # what the webhook's release itself needs exists before it
                for obj in stack.resources:
                    with ctx.each():
                        if obj.urn != release.urn and obj.urn not in first and webhook.serves(obj, release, stack):
                            needs.append(Need(obj, release))
    return needs


def _asks_for_load_balancer(value: Any, ingress_class: str) -> bool:
    """Chart values that ask for a Service of type LoadBalancer, or an Ingress of the controller's class."""
    if isinstance(value, dict):
        if value.get("type") == "LoadBalancer":
            return True
        if any(value.get(k) == ingress_class for k in ("ingressClassName", "className")):
            return True
        return any(_asks_for_load_balancer(v, ingress_class) for v in value.values())
    if isinstance(value, list):
        return any(_asks_for_load_balancer(v, ingress_class) for v in value)
    return False


def _reconciled_by(obj: Res, ingress_class: str) -> bool:
    if SERVICE(obj.type):
        cls = known(obj.get("spec", "loadBalancerClass"))
        return known(obj.get("spec", "type")) == "LoadBalancer" and (cls is None or cls == "service.k8s.aws/nlb")
    if INGRESS(obj.type):
        cls = known(obj.get("spec", "ingressClassName")) or known(dig(obj.get("metadata", "annotations", default={}), "kubernetes.io/ingress.class"))
        return cls is None or cls == ingress_class
    if TARGET_GROUP_BINDING(obj.type):
        return True
    if NAMESPACE(obj.type):
        return TENANT_LABEL in obj.labels  # teams apply their Ingresses and Services there (crucible examples)
    if HELM_RELEASE(obj.type) and chart_name(obj) not in AWS_CONTROLLERS:
        return _asks_for_load_balancer(known(obj.get("values", default={})), ingress_class)
    return False


def _ingress_class(controller: Res) -> str:
    """The controller's IngressClass (values ``ingressClass``; the chart's default ``alb``, also when the values are
    computed during preview: the class only decides which Ingresses it takes)."""
    raw = controller.get("values", default={})
    value = raw.get("ingressClass") if isinstance(raw, dict) else None
    return value if isinstance(value, str) and value else "alb"


def _reconciled(stack: Stack, ctx: Ctx) -> Iterable[Need]:
    needs: list[Need] = []
    for controller in _chart_releases(stack, [LBC_CHART]):
        ingress_class = _ingress_class(controller)
        for obj in stack.resources:
            with ctx.each():
                if obj.urn != controller.urn and _reconciled_by(obj, ingress_class):
                    needs.append(Need(obj, controller))
    return needs


def _api_group(token: str) -> Optional[tuple[str, str]]:
    """``kubernetes:kueue.x-k8s.io/v1beta2:LocalQueue`` -> (``kueue.x-k8s.io``, ``LocalQueue``)."""
    parts = token.split(":")
    if len(parts) != 3 or parts[0] != "kubernetes" or "/" not in parts[1]:
        return None
    group = parts[1].split("/", 1)[0]
    return group, parts[2]


def _custom_resources(stack: Stack, ctx: Ctx) -> Iterable[Need]:
    crds = {}
    for crd in stack.of(CRD):
        group, kind = crd.get("spec", "group"), crd.get("spec", "names", "kind")
        if isinstance(group, str) and isinstance(kind, str):
            crds.setdefault((group, kind), []).append(crd)
    for obj in stack.resources:
        found = _api_group(obj.type)
        if found is None or found[0] in KARPENTER_GROUPS:
            continue
        group, kind = found
        for before in [*crds.get((group, kind), []), *_chart_releases(stack, OPERATORS.get(group, ()))]:
            yield Need(obj, before)


def _karpenter_pools(stack: Stack, ctx: Ctx) -> Iterable[Need]:
    releases = _chart_releases(stack, KARPENTER_CHARTS)
    for pool in [*stack.of(NODE_POOL), *stack.of(EC2_NODE_CLASS)]:
        for release in releases:
            yield Need(pool, release)


def _controllers_before_network(stack: Stack, ctx: Ctx) -> Iterable[Need]:
    below = stack.of(NETWORK_AND_CLUSTER)
    for controller in _chart_releases(stack, AWS_CONTROLLERS):
        for resource in below:
            yield Need(controller, resource)


def _of_cluster(stack: Stack, res: Res, cluster: Res) -> bool:
    """Whether ``res`` names ``cluster`` in its clusterName: through the cluster's output, or by the same name."""
    if cluster in stack.linked(res, "clusterName", EKS_CLUSTER):
        return True
    name = text(res.get("clusterName"))
    return bool(name) and name == text(cluster.get("name"))


def _addons_after_cluster(stack: Stack, ctx: Ctx) -> Iterable[Need]:
    clusters, groups = stack.of(EKS_CLUSTER), stack.of(EKS_NODE_GROUP)
    for addon in stack.of(EKS_ADDON):
        for cluster in clusters:
            if not _of_cluster(stack, addon, cluster):
                continue
            yield Need(addon, cluster)
            if text(addon.get("addonName")) in ADDONS_ON_NODES:
                yield from (Need(addon, group) for group in groups if _of_cluster(stack, group, cluster))


def _claims_after_quota(stack: Stack, ctx: Ctx) -> Iterable[Need]:
    quotas: dict[str, list[Res]] = {}
    for quota in stack.of(RESOURCE_QUOTA):
        with ctx.each():
            hard = quota.get("spec", "hard")
            if isinstance(hard, dict) and any(limit in hard for limit in CLAIM_LIMITS):
                quotas.setdefault(_namespace_of(quota) or "default", []).append(quota)
    for claim in stack.of(PERSISTENT_VOLUME_CLAIM):
        with ctx.each():
            yield from (Need(claim, quota) for quota in quotas.get(_namespace_of(claim) or "default", ()))


ORDERING = (
    Relation(
        "REL-ORD-001",
        "lustre-after-security-group-rules",
        "An FSx for Lustre file system depends on every security-group rule that names one of its security groups "
        "(as the group or as the peer: the clients' side too), so the rules exist when FSx validates them.",
        why="FSx checks the file system's security groups synchronously at CreateFileSystem: a rule still being "
        "created gives 400 InvalidNetworkSettings (port 988) or, for EFA, 'Insufficient security group permissions'.",
        fix="Pass the rules in the file system's depends_on (components/storage.py Lustre does).",
        find=_lustre_rules,
        anchor="FSx Lustre guide: File system access control with Amazon VPC; Creating a file system fails",
    ),
    Relation(
        "REL-ORD-002",
        "webhook-served-after-webhook",
        "Objects that a fail-closed admission webhook serves are created after the release that serves it (the AWS "
        "Load Balancer Controller's Service mutator and Ingress validator, Kueue's batch Job webhook and, with its pod "
        "integration, its Pod webhook in the namespaces it manages), or the webhook does not select them.",
        why="With failurePolicy Fail the API server refuses every object the webhook selects until the controller "
        "behind it is Ready, and atomic Helm releases roll back (chart aws-load-balancer-controller 3.5.0 enables its "
        "Service mutator on every Service CREATE by default; Kueue's chart takes the batch Jobs -- other charts' hook Jobs -- and, with the pod "
        "integration, the Pods of every namespace but kube-system and its own unless managedJobsNamespaceSelector "
        "narrows it; a controller refused its pods retries with a backoff that outgrows Pulumi's 10-minute wait).",
        fix="Turn the webhook off or narrow it (the controller's enableServiceMutatorWebhook: false, annotating the "
        "Services it must take; Kueue's managedJobsNamespaceSelector: the namespaces it queues), or make the object "
        "depend on the release.",
        find=_webhook_served,
        anchor="aws-load-balancer-controller 3.5.0 and kueue 0.19.2 charts: values.yaml, templates/webhook*",
    ),
    Relation(
        "REL-ORD-003",
        "reconciled-before-controller",
        "Objects the AWS Load Balancer Controller reconciles (LoadBalancer Services, Ingresses, TargetGroupBindings, "
        "releases whose values ask for them, and the tenant namespaces teams apply them to) depend on its release, so "
        "Pulumi deletes them before the controller.",
        why="Their finalizers (service.k8s.aws/resources, ingress.k8s.aws/resources) are cleared only by the running "
        "controller when it has deleted the load balancer; uninstalled first, the NLB/ALB, its security group and "
        "ENIs stay and block the VPC's deletion (DependencyViolation).",
        fix="Make the object depend on the controller release.",
        find=_reconciled,
        anchor="AWS Load Balancer Controller: finalizers; pulumi-kubernetes awaits deletion",
    ),
    Relation(
        "REL-ORD-004",
        "custom-resources-after-crd-and-operator",
        "Custom resources are created after the CRD of their kind and the release of the operator that serves their API group (and destroyed before them).",
        why="Without the CRD the create fails (no matches for kind); without the operator its webhooks refuse the "
        "object or nothing reconciles it, and on destroy its finalizers are never cleared.",
        fix="Make the custom resource depend on the release (or CustomResourceDefinition) that installs it.",
        find=_custom_resources,
        anchor="Kubernetes CustomResourceDefinitions; operator charts install CRDs and webhooks",
    ),
    Relation(
        "REL-ORD-005",
        "karpenter-pools-after-karpenter",
        "Karpenter NodePools and EC2NodeClasses depend on the Karpenter CRD and controller releases, so they are created after them and deleted first.",
        why="Karpenter drains and terminates a pool's nodes when the pool is deleted; with the controller gone first "
        "the instances keep running (and billing), their ENIs blocking the subnets.",
        fix="Make the pool's custom resources depend on the Karpenter release (components/node_pool.py does).",
        find=_karpenter_pools,
        anchor="Karpenter v1: NodePool/EC2NodeClass finalizers (karpenter.sh/termination)",
    ),
    Relation(
        "REL-ORD-006",
        "controllers-before-network",
        "In-cluster controllers that create AWS resources in the VPC (Karpenter, the AWS Load Balancer Controller) "
        "depend on the network and the cluster, so on destroy they go first.",
        why="On destroy they must still run on the cluster and reach the AWS APIs (NAT gateways, endpoints, routes) to "
        "terminate their instances and delete their load balancers; a network deleted first strands them.",
        fix="Make the controller's release depend on the network and cluster components (stacks/layers/platform/load_balancer.py: below.foundation).",
        find=_controllers_before_network,
        anchor="EKS best practices: delete in-cluster load balancers and nodes before the VPC",
    ),
    Relation(
        "REL-ORD-007",
        "eks-addons-after-cluster-and-nodes",
        "An EKS add-on of the stack's cluster depends on the cluster, and one that runs a Deployment (CoreDNS, the "
        "CSI drivers' controllers, the CloudWatch agent's operator) on the cluster's node groups too.",
        why="CreateAddon needs the cluster to exist (ResourceNotFoundException while CreateCluster still runs, about "
        "ten minutes); an add-on whose Deployment has no node to run on stays DEGRADED and the create times out. "
        "Naming the cluster by a plain string instead of its output is what loses the edge.",
        fix="Pass the cluster's name output, or the cluster component in depends_on (stacks/layers/platform: below.foundation).",
        find=_addons_after_cluster,
        anchor="Amazon EKS API: CreateAddon; EKS user guide, add-on health (DEGRADED)",
    ),
    Relation(
        "REL-ORD-008",
        "claims-after-quota",
        "A PersistentVolumeClaim in a namespace whose ResourceQuota limits claims (requests.storage, "
        "persistentvolumeclaims) depends on that quota, so an update that adds a claim raises the quota first.",
        why="The API server's ResourceQuota admission judges each new claim against the quota as it stands: created in "
        "parallel with the update that raises the quota for it (a new served model's weight claim), the claim is "
        "refused ('exceeded quota') and the update fails.",
        fix="Pass the namespace's quota in the claim's depends_on (stacks/layers/platform/serving.py: below.quotas).",
        find=_claims_after_quota,
        anchor="Kubernetes ResourceQuota admission (apiserver plugin/resourcequota); Resource Quotas: storage",
    ),
)


def _policy(relation: Relation):
    return stack_policy(
        rule_id=relation.rule_id,
        slug=relation.slug,
        description=relation.description,
        check=_check(relation),
        anchor=relation.anchor,
    )


POLICIES = [_policy(r) for r in ORDERING]
