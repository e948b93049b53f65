"""Shapes of network and Kubernetes misconfigurations (issue 18 A.5, A.7): SEC-NET-001, SEC-EKS-002,
SEC-K8S-001, SEC-JH-002."""

from __future__ import annotations

from policy_builder import UNKNOWN, k8s, link, res
from shapes import firing
from test_policy_platform import jupyterhub, with_values

SG = "aws:ec2/securityGroup:SecurityGroup"
P1 = "sec-net-001-no-world-ingress"


def group(name, **inputs):
    return res(SG, name, {"vpcId": UNKNOWN, "tags": {}, **inputs})


def ingress(name, sg, port, cidr="0.0.0.0/0", ipv6=None, protocol="tcp", to_port=None):
    inputs = {"securityGroupId": UNKNOWN, "ipProtocol": protocol, "fromPort": port, "toPort": to_port or port}
    inputs.update({"cidrIpv6": ipv6} if ipv6 else {"cidrIpv4": cidr})
    return link(res("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", name, inputs), "securityGroupId", sg)


@firing(P1, "world-v4")
def _():
    sg = group("nodes")
    return [sg, ingress("ssh", sg, 22)], ["ssh"]


@firing(P1, "world-v6")
def _():
    sg = group("nodes")
    return [sg, ingress("kubelet", sg, 10250, ipv6="::/0")], ["kubelet"]


@firing(P1, "split-halves-inline")
def _():
    return [group("halves", ingress=[{"protocol": "tcp", "fromPort": 8265, "toPort": 8265, "cidrBlocks": ["0.0.0.0/1", "128.0.0.0/1"]}])], ["halves"]


@firing(P1, "host-bits-and-zero-padded-prefix")
def _():
    sg = group("nodes")
    return [sg, ingress("padded", sg, 6443, cidr="10.1.2.3/00")], ["padded"]


@firing(P1, "wide-public-block-legacy-rule")
def _():
    rule = res(
        "aws:ec2/securityGroupRule:SecurityGroupRule",
        "legacy",
        {"type": "ingress", "securityGroupId": "sg-0123", "protocol": "tcp", "fromPort": 3000, "toPort": 3000, "cidrBlocks": ["64.0.0.0/2"]},
    )
    return [rule], ["legacy"]


P2 = "sec-eks-002-private-endpoint"


def public_cluster(name, cidrs):
    vpc = {"endpointPrivateAccess": True, "endpointPublicAccess": True, "subnetIds": ["subnet-1"]}
    if cidrs is not None:
        vpc["publicAccessCidrs"] = cidrs
    return res("aws:eks/cluster:Cluster", name, {"version": "1.34", "vpcConfig": vpc})


DEV_PUBLIC = {"sec-eks-002-private-endpoint": {"requirePrivateEndpoint": False}}


# SEC-EKS-002 refuses any public endpoint in prod: its shapes are the prod ones; the CIDR shapes are tested below
@firing(P2, "public-endpoint-default")
def _():
    return [public_cluster("default", None)], ["default"]


@firing(P2, "public-endpoint-restricted-cidr")
def _():
    return [public_cluster("restricted", ["203.0.113.0/24"])], ["restricted"]


@firing(P2, "private-endpoint-off")
def _():
    c = public_cluster("no-private", ["203.0.113.0/24"])
    c["inputs"]["vpcConfig"].update(endpointPublicAccess=False, endpointPrivateAccess=False)
    return [c], ["no-private"]


# SEC-K8S-001: Pod Security that looks right but does not enforce the current standard -------------------------
P3 = "sec-k8s-001-pod-security-labels"
PSA = "pod-security.kubernetes.io"


def namespace(name, **labels):
    base = {f"{PSA}/enforce": "restricted", f"{PSA}/warn": "restricted", f"{PSA}/audit": "restricted", "crucible.io/tenant": name}
    base.update({k.replace("__", "/").replace("_", "-") if k.startswith("pod") else k: v for k, v in labels.items()})
    return k8s("v1", "Namespace", name, metadata={"labels": {k: v for k, v in base.items() if v is not None}})


def eks():
    return res("aws:eks/cluster:Cluster", "eks", {"version": "1.34"})


@firing(P3, "enforce-missing")
def _():
    ns = namespace("vision")
    del ns["inputs"]["metadata"]["labels"][f"{PSA}/enforce"]
    return [ns], ["vision"]


@firing(P3, "enforce-misspelled-level")
def _():
    ns = namespace("vision")
    ns["inputs"]["metadata"]["labels"][f"{PSA}/enforce"] = "Restricted"
    return [ns], ["vision"]


@firing(P3, "enforce-version-older-than-the-cluster")
def _():
    ns = namespace("vision")
    ns["inputs"]["metadata"]["labels"][f"{PSA}/enforce-version"] = "v1.22"
    return [eks(), ns], ["vision"]


@firing(P3, "tenant-below-minimum")
def _():
    ns = namespace("vision")
    ns["inputs"]["metadata"]["labels"][f"{PSA}/enforce"] = "baseline"
    return [ns], ["vision"]


@firing(P3, "notebook-namespace-privileged-without-iptables")
def _():
    hub = jupyterhub(with_values(singleuser__cloudMetadata={"blockWithIptables": False}))
    labels = {f"{PSA}/enforce": "privileged", f"{PSA}/warn": "restricted", f"{PSA}/audit": "restricted"}
    return [hub, k8s("v1", "Namespace", "jupyterhub", metadata={"labels": labels})], ["jupyterhub"]


# SEC-JH-002: notebooks reach IMDS, by any route, with the iptables block off --------------------------------
P4 = "sec-jh-002-jupyterhub-exposure"
OFF = {"blockWithIptables": False}


@firing(P4, "imds-allow-rule")
def _():
    return [jupyterhub(with_values(singleuser__cloudMetadata=OFF, singleuser__networkPolicy={"egressAllowRules": {"cloudMetadataServer": True}}))], [
        "jupyterhub"
    ]


@firing(P4, "imds-policy-off")
def _():
    return [jupyterhub(with_values(singleuser__cloudMetadata=OFF, singleuser__networkPolicy={"enabled": False}))], ["jupyterhub"]


@firing(P4, "imds-extra-egress-ipblock")
def _():
    egress = [{"to": [{"ipBlock": {"cidr": "169.254.169.254/32"}}], "ports": [{"port": 80}]}]
    return [jupyterhub(with_values(singleuser__cloudMetadata=OFF, singleuser__networkPolicy={"egress": egress}))], ["jupyterhub"]


@firing(P4, "public-proxy")
def _():
    return [jupyterhub(with_values(proxy__service={"type": "NodePort"}))], ["jupyterhub"]


# SEC-NET-003: an extra permissive NetworkPolicy undoes a tenant namespace's default deny -------------------------
P5 = "sec-net-003-default-deny-network-policy"


def tenant_with(policy_spec, name="open"):
    ns = namespace("vision")
    deny = k8s("networking.k8s.io/v1", "NetworkPolicy", "deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}, metadata={"namespace": "vision"})
    dns = k8s(
        "networking.k8s.io/v1",
        "NetworkPolicy",
        "dns",
        {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"ports": [{"port": 53, "protocol": "UDP"}]}]},
        metadata={"namespace": "vision"},
    )
    extra = k8s("networking.k8s.io/v1", "NetworkPolicy", name, {"podSelector": {}, **policy_spec}, metadata={"namespace": "vision"})
    return [ns, deny, dns, extra]


@firing(P5, "ingress-from-every-peer")
def _():
    return tenant_with({"policyTypes": ["Ingress"], "ingress": [{}]}), ["open"]


@firing(P5, "egress-to-every-namespace")
def _():
    return tenant_with({"policyTypes": ["Egress"], "egress": [{"to": [{"namespaceSelector": {}}]}]}), ["open"]


@firing(P5, "ingress-from-the-pod-range")
def _():
    return tenant_with({"policyTypes": ["Ingress"], "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]}), ["open"]


@firing(P5, "ingress-from-every-tenant")
def _():
    selector = {"namespaceSelector": {"matchExpressions": [{"key": "crucible.io/tenant", "operator": "Exists"}]}}
    return tenant_with({"policyTypes": ["Ingress"], "ingress": [{"from": [selector]}]}), ["open"]


@firing(P5, "no-default-deny")
def _():
    resources = tenant_with({"policyTypes": ["Ingress"], "ingress": [{"ports": [{"port": 8080}], "from": [{"podSelector": {}}]}]})
    return [r for r in resources if r["name"] != "deny"], ["vision"]


# SEC-K8S-003: tenants given cluster scope or escalation verbs, labelled or not -------------------------------------
P6 = "sec-k8s-003-rbac-least-privilege"
RBAC = "rbac.authorization.k8s.io/v1"


def tenant_namespace_with_admins():
    ns = namespace("vision")
    admins = k8s(
        RBAC,
        "RoleBinding",
        "vision-admins",
        metadata={"namespace": "vision", "labels": {"crucible.io/tenant": "vision"}},
    )
    admins["inputs"].update(roleRef={"kind": "ClusterRole", "name": "admin"}, subjects=[{"kind": "Group", "name": "vision-admins"}])
    return [ns, admins]


def binding(kind, name, role_kind, role, subjects, namespace_=None, labels=None):
    b = k8s(RBAC, kind, name, metadata={**({"namespace": namespace_} if namespace_ else {}), **({"labels": labels} if labels else {})})
    b["inputs"].update(roleRef={"kind": role_kind, "name": role}, subjects=subjects)
    return b


@firing(P6, "labelled-tenant-cluster-binding")
def _():
    crb = binding(
        "ClusterRoleBinding", "labelled", "ClusterRole", "view", [{"kind": "Group", "name": "vision-admins"}], labels={"crucible.io/tenant": "vision"}
    )
    return [*tenant_namespace_with_admins(), crb], ["labelled"]


@firing(P6, "unlabelled-cluster-binding-of-a-tenant-group")
def _():
    crb = binding("ClusterRoleBinding", "unlabelled", "ClusterRole", "view", [{"kind": "Group", "name": "vision-admins"}])
    return [*tenant_namespace_with_admins(), crb], ["unlabelled"]


@firing(P6, "cluster-binding-of-a-tenant-service-account")
def _():
    crb = binding("ClusterRoleBinding", "sa", "ClusterRole", "view", [{"kind": "ServiceAccount", "name": "runner", "namespace": "vision"}])
    return [*tenant_namespace_with_admins(), crb], ["sa"]


@firing(P6, "unlabelled-role-with-escalation-verbs")
def _():
    role = k8s(RBAC, "Role", "binder", metadata={"namespace": "vision"})
    role["inputs"]["rules"] = [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"], "verbs": ["create", "bind"]}]
    rb = binding("RoleBinding", "uses-binder", "Role", "binder", [{"kind": "Group", "name": "vision-admins"}], namespace_="vision")
    return [*tenant_namespace_with_admins(), role, rb], ["uses-binder"]


@firing(P6, "wildcard-verbs")
def _():
    role = k8s(RBAC, "ClusterRole", "everything")
    role["inputs"]["rules"] = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}]
    return [role], ["everything"]


# SEC-JH-001: an authenticator configured to admit everyone ---------------------------------------------------
P7 = "sec-jh-001-jupyterhub-authenticator"


def hub_with(authenticator, **sections):
    config = {"JupyterHub": {"authenticator_class": authenticator}, **sections}
    return [jupyterhub(with_values(hub__config=config))]


@firing(P7, "chart-default-dummy")
def _():
    return [jupyterhub({"proxy": {"service": {"type": "ClusterIP"}}})], ["jupyterhub"]


@firing(P7, "oauth-allow-all")
def _():
    return hub_with("github", GitHubOAuthenticator={"client_id": "x", "allow_all": True}), ["jupyterhub"]


@firing(P7, "allow-all-on-the-base-class")
def _():
    return hub_with("generic-oauth", OAuthenticator={"allow_all": True}), ["jupyterhub"]


@firing(P7, "native-open-signup")
def _():
    return hub_with("nativeauthenticator.NativeAuthenticator", NativeAuthenticator={"open_signup": True}), ["jupyterhub"]


@firing(P7, "tmp-authenticator")
def _():
    return hub_with("tmp"), ["jupyterhub"]


# SEC-RAY-001: a Ray head exposed by any route --------------------------------------------------------------------
P8 = "sec-ray-001-ray-head-not-exposed"


def ray(name, **head):
    spec = {
        "rayVersion": "2.49.0",
        "headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [{"name": "head", "image": "rayproject/ray:2.49.0"}]}}, **head},
    }
    return k8s("ray.io/v1", "RayCluster", name, spec)


@firing(P8, "head-service-type")
def _():
    return [ray("lb", serviceType="LoadBalancer")], ["lb"]


@firing(P8, "head-service-override")
def _():
    return [ray("override", headService={"spec": {"type": "NodePort"}})], ["override"]


@firing(P8, "separate-service-selecting-the-head")
def _():
    svc = k8s(
        "v1",
        "Service",
        "ray-public",
        {"type": "LoadBalancer", "selector": {"ray.io/cluster": "ray", "ray.io/node-type": "head"}, "ports": [{"port": 80, "targetPort": 8265}]},
    )
    return [ray("ray"), svc], ["ray-public"]


@firing(P8, "ingress-by-port-name")
def _():
    backend = {"service": {"name": "ray-head-svc", "port": {"name": "dashboard"}}}
    ingress = k8s("networking.k8s.io/v1", "Ingress", "by-name", {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}]})
    return [ingress], ["by-name"]


@firing(P8, "target-group-binding")
def _():
    tgb = k8s(
        "elbv2.k8s.aws/v1beta1",
        "TargetGroupBinding",
        "ray-tg",
        {"serviceRef": {"name": "ray-head-svc", "port": 8265}, "targetGroupARN": "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/ray/1"},
    )
    return [tgb], ["ray-tg"]


@firing(P4, "chart-ingress-internet-facing")
def _():
    ingress = {"enabled": True, "ingressClassName": "alb", "annotations": {"alb.ingress.kubernetes.io/scheme": "internet-facing"}}
    return [jupyterhub(with_values(ingress=ingress))], ["jupyterhub"]


@firing(P4, "hub-service-load-balancer")
def _():
    return [jupyterhub(with_values(hub__service={"type": "LoadBalancer"}))], ["jupyterhub"]


# SEC-K8S-004: an admission guard that exists but cannot take effect --------------------------------------------
P9 = "sec-k8s-004-tenant-network-policy-guard"
WRITERS = ["vision-admins", "system:serviceaccounts:vision"]


def guarded(policy_extra=None, binding_extra=None, rule=None, cluster_version=None):
    from test_policy_kubernetes import guard, namespace as tenant_namespace, team_admins

    ns = tenant_namespace()
    policy, binding = guard(WRITERS)
    if rule is not None:
        policy["inputs"]["spec"]["matchConstraints"]["resourceRules"] = [rule]
    policy["inputs"]["spec"].update(policy_extra or {})
    binding["inputs"]["spec"].update(binding_extra or {})
    extra = [res("aws:eks/cluster:Cluster", "eks", {"version": cluster_version})] if cluster_version else []
    return [ns, team_admins(ns), policy, binding, *extra], [ns["name"]]


@firing(P9, "no-guard")
def _():
    resources, expected = guarded()
    return resources[:2], expected


@firing(P9, "guard-binding-excludes-the-namespace")
def _():
    return guarded(binding_extra={"matchResources": {"namespaceSelector": {"matchLabels": {"crucible.io/guarded": "true"}}}})


@firing(P9, "guard-matches-another-api-group")
def _():
    return guarded(rule={"apiGroups": [""], "apiVersions": ["*"], "operations": ["*"], "resources": ["networkpolicies"]})


@firing(P9, "guard-needs-params-it-is-not-given")
def _():
    return guarded(policy_extra={"paramKind": {"apiVersion": "v1", "kind": "ConfigMap"}})


@firing(P9, "guard-on-a-cluster-without-admission-policies")
def _():
    return guarded(cluster_version="1.29")


# SEC-EKS-001 / 003: control-plane settings omitted, narrowed or emptied ------------------------------------------
def cluster_with(name, **overrides):
    from test_policy_eks import cluster

    return cluster(name, **overrides)


P10 = "sec-eks-001-secrets-encryption"


@firing(P10, "encryption-config-omitted")
def _():
    return [cluster_with("bare", encryptionConfig=None)], ["bare"]


@firing(P10, "other-resources-only")
def _():
    return [cluster_with("configmaps", encryptionConfig={"resources": ["configmaps"], "provider": {"keyArn": "arn:aws:kms:us-east-1:1:key/k"}})], ["configmaps"]


@firing(P10, "no-key")
def _():
    return [cluster_with("keyless", encryptionConfig={"resources": ["secrets"]})], ["keyless"]


P11 = "sec-eks-003-control-plane-logs"


@firing(P11, "log-types-omitted")
def _():
    return [cluster_with("default", enabledClusterLogTypes=None)], ["default"]


@firing(P11, "log-types-empty")
def _():
    return [cluster_with("empty", enabledClusterLogTypes=[])], ["empty"]


@firing(P11, "audit-missing")
def _():
    return [cluster_with("no-audit", enabledClusterLogTypes=["api", "authenticator", "controllerManager", "scheduler"])], ["no-audit"]


# DATA-JH-003: home volumes that do not survive --------------------------------------------------------------------
P12 = "data-jh-003-jupyterhub-home-volumes"


def _hub_storage():
    import test_policy_platform as t

    return t


@firing(P12, "default-storage-class")
def _():
    t = _hub_storage()
    return [t.jupyterhub(with_values(singleuser__storage={})), t.hub_namespace()], ["jupyterhub"]


@firing(P12, "class-that-deletes")
def _():
    t = _hub_storage()
    return [t.jupyterhub(), t.storage_class(reclaimPolicy="Delete"), t.hub_namespace()], ["crucible-gp3"]


@firing(P12, "class-unencrypted")
def _():
    t = _hub_storage()
    return [t.jupyterhub(), t.storage_class(parameters={"type": "gp3"}), t.hub_namespace()], ["crucible-gp3"]


@firing(P12, "namespace-unprotected")
def _():
    t = _hub_storage()
    return [t.jupyterhub(), t.storage_class(), t.hub_namespace(protect=False)], ["jupyterhub"]


# SEC-EKS-006: NetworkPolicies nobody enforces ----------------------------------------------------------------------
P13 = "sec-eks-006-network-policy-enforcement"


def _eks():
    import test_policy_eks as e

    return e


@firing(P13, "no-cni-add-on")
def _():
    e = _eks()
    return [e.cluster(), e.NETPOL], ["eks"]


@firing(P13, "cni-without-the-setting")
def _():
    e = _eks()
    return [e.cluster(), e.cni('{"env": {}}'), e.NETPOL], ["vpc-cni"]


@firing(P13, "cni-setting-off")
def _():
    e = _eks()
    return [e.cluster(), e.cni('{"enableNetworkPolicy": "false"}'), e.NETPOL], ["vpc-cni"]


@firing(P13, "cni-configuration-unparsable")
def _():
    e = _eks()
    return [e.cluster(), e.cni("enableNetworkPolicy=true"), e.NETPOL], ["vpc-cni"]
