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
