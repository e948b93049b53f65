"""Shapes of the endpoint rules (issue 18 A.5, A.6): SEC-EKS-007 (a way in to a private-only API endpoint),
SEC-EKS-008 (its replies routed back), SEC-SRV-001 (an internet-facing model endpoint with TLS and authentication).

Each shape writes the same bad effect another way: no way in however the rules on the cluster security group are
spelled; replies lost whichever route table the subnets actually use; a public endpoint without TLS or a caller check
whichever object makes it public, wherever the listener or the key is (not) declared."""

from __future__ import annotations

from policy_builder import UNKNOWN, k8s, link, res
from shapes import firing
from test_policy_eks import VPN, api_rule, cluster, vpc_with_cluster
from test_policy_serving import CERT, HTTPS, LABELS, ingress, server, service

P7 = "sec-eks-007-api-access-path"


@firing(P7, "no-rule-at-all")
def _():
    return [cluster()], ["eks"]


@firing(P7, "443-over-udp")
def _():
    c = cluster()
    return [c, api_rule(c, "udp", ipProtocol="udp")], ["eks"]


@firing(P7, "egress-instead-of-ingress")
def _():
    c = cluster()
    rule = link(
        res(
            "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
            "out",
            {"securityGroupId": UNKNOWN, "ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIpv4": VPN},
        ),
        "securityGroupId",
        c,
    )
    return [c, rule], ["eks"]


@firing(P7, "legacy-rule-wrong-port-range")
def _():
    c = cluster()
    rule = link(
        res(
            "aws:ec2/securityGroupRule:SecurityGroupRule",
            "legacy",
            {"type": "ingress", "securityGroupId": UNKNOWN, "protocol": "6", "fromPort": 8443, "toPort": 9443, "cidrBlocks": [VPN]},
        ),
        "securityGroupId",
        c,
    )
    return [c, rule], ["eks"]


@firing(P7, "443-from-ranges-no-client-can-be-in")
def _():
    c = cluster()
    loopback = api_rule(c, "loopback", referencedSecurityGroupId=None, cidrIpv4="127.0.0.0/8")
    link_local = api_rule(c, "link-local", referencedSecurityGroupId=None, cidrIpv6="fe80::/10")
    return [c, loopback, link_local], ["eks"]


@firing(P7, "443-on-another-group")
def _():
    c = cluster()
    nodes = res("aws:ec2/securityGroup:SecurityGroup", "nodes", {"vpcId": UNKNOWN})
    rule = link(
        res(api_rule(c)["type"], "on-nodes", {"securityGroupId": UNKNOWN, "ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIpv4": VPN}),
        "securityGroupId",
        nodes,
    )
    return [c, nodes, rule], ["eks"]


P8 = "sec-eks-008-api-return-route"


@firing(P8, "default-route-to-nat-only")
def _():
    return vpc_with_cluster(), ["eks"]


@firing(P8, "route-to-internet-gateway")
def _():
    return vpc_with_cluster({"gatewayId": "igw-0123"}), ["eks"]


@firing(P8, "transit-route-narrower-than-the-admitted-network")
def _():
    return vpc_with_cluster({"transitGatewayId": "tgw-0123456789abcdef0"}, destination="10.100.1.0/24"), ["eks"]


@firing(P8, "transit-route-of-the-other-address-family")
def _():
    resources = vpc_with_cluster({"transitGatewayId": "tgw-0123456789abcdef0"}, destination="fd00::/8")
    return resources, ["eks"]


def unassociated(*routes: dict, main: bool = False) -> list[dict]:
    """A VPC of this stack whose cluster subnet has no explicit association: it uses the VPC's main route table."""
    vpc = res("aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": "10.30.0.0/16"})
    subnet = link(res("aws:ec2/subnet:Subnet", "private-a", {"cidrBlock": "10.30.0.0/18", "vpcId": UNKNOWN}), "vpcId", vpc)
    c = link(cluster(vpcConfig={"endpointPrivateAccess": True, "endpointPublicAccess": False, "subnetIds": [UNKNOWN]}), "vpcConfig", subnet)
    out = [vpc, subnet, c, api_rule(c, "api-from-vpn", referencedSecurityGroupId=None, cidrIpv4=VPN)]
    if main:
        table = res("aws:ec2/routeTable:RouteTable", "main", {"vpcId": UNKNOWN, "routes": list(routes)})
        association = link(
            link(res("aws:ec2/mainRouteTableAssociation:MainRouteTableAssociation", "main", {"vpcId": UNKNOWN}), "vpcId", vpc), "routeTableId", table
        )
        out += [table, association]
    else:
        out += [link(res("aws:ec2/route:Route", f"main-{i}", {"routeTableId": UNKNOWN, **r}), "routeTableId", vpc) for i, r in enumerate(routes)]
    return out


@firing(P8, "subnet-left-on-the-vpc-main-table")
def _():
    return unassociated(), ["eks"]


@firing(P8, "main-table-made-by-association-without-the-route")
def _():
    return unassociated({"cidrBlock": "0.0.0.0/0", "natGatewayId": "nat-1"}, main=True), ["eks"]


P_SRV = "sec-srv-001-public-endpoint-tls-and-auth"


@firing(P_SRV, "alb-annotation-without-authentication")
def _():
    return [server(), service(), ingress(**HTTPS)], ["chat"]


@firing(P_SRV, "alb-http-listener-beside-https")
def _():
    plain = ingress(**{**HTTPS, "alb.ingress.kubernetes.io/listen-ports": '[{"HTTP": 80}, {"HTTPS": 443}]', "alb.ingress.kubernetes.io/auth-type": "oidc"})
    return [server(api_key=True), service(), plain], ["chat"]


def public_class(default: bool = False, **params) -> list[dict]:
    annotations = {"ingressclass.kubernetes.io/is-default-class": "true"} if default else {}
    klass = k8s(
        "networking.k8s.io/v1",
        "IngressClass",
        "public-alb",
        {"controller": "ingress.k8s.aws/alb", "parameters": {"apiGroup": "elbv2.k8s.aws", "kind": "IngressClassParams", "name": "public-alb"}},
        metadata={"annotations": annotations},
    )
    return [klass, k8s("elbv2.k8s.aws/v1beta1", "IngressClassParams", "public-alb", {"scheme": "internet-facing", **params})]


@firing(P_SRV, "alb-scheme-from-ingress-class-params")
def _():
    quiet = ingress(**{"alb.ingress.kubernetes.io/scheme": "internal", "alb.ingress.kubernetes.io/listen-ports": '[{"HTTPS": 443}]'})
    quiet["inputs"]["spec"]["ingressClassName"] = "public-alb"
    return [server(), service(), quiet, *public_class(certificateArn=[CERT])], ["chat"]


@firing(P_SRV, "alb-scheme-from-the-default-class")
def _():
    bare = ingress(**HTTPS)
    del bare["inputs"]["metadata"]["annotations"]["alb.ingress.kubernetes.io/scheme"]
    del bare["inputs"]["spec"]["ingressClassName"]
    return [server(), service(), bare, *public_class(default=True)], ["chat"]


def nlb(name="chat-public", ports=None, **annotations) -> dict:
    svc = service(name, type="LoadBalancer")
    svc["inputs"]["metadata"]["annotations"] = annotations
    if ports is not None:
        svc["inputs"]["spec"]["ports"] = ports
    return svc


NLB_TLS = {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing", "service.beta.kubernetes.io/aws-load-balancer-ssl-cert": CERT}


@firing(P_SRV, "nlb-without-tls")
def _():
    return [server(api_key=True), nlb(**{"service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing"})], ["chat-public"]


@firing(P_SRV, "nlb-public-through-the-deprecated-internal-false")
def _():
    return [server(), nlb(**{"service.beta.kubernetes.io/aws-load-balancer-internal": "false"})], ["chat-public"]


@firing(P_SRV, "nlb-tls-on-one-port-plain-on-another")
def _():
    ports = [{"name": "https", "port": 443, "targetPort": 8000}, {"name": "http", "port": 80, "targetPort": 8000}]
    return [server(api_key=True), nlb(ports=ports, **NLB_TLS, **{"service.beta.kubernetes.io/aws-load-balancer-ssl-ports": "443"})], ["chat-public"]


def keyed_server(containers: list[dict]) -> dict:
    template = {"metadata": {"labels": LABELS}, "spec": {"containers": containers}}
    return k8s("apps/v1", "Deployment", "chat", {"selector": {"matchLabels": LABELS}, "template": template}, metadata={"namespace": "llm"})


@firing(P_SRV, "api-key-set-empty")
def _():
    empty_env = keyed_server([{"name": "vllm", "image": "vllm/vllm-openai:v0.10.2", "env": [{"name": "VLLM_API_KEY", "value": ""}]}])
    return [empty_env, nlb(**NLB_TLS)], ["chat-public"]


@firing(P_SRV, "api-key-flag-without-a-value")
def _():
    flag_only = keyed_server([{"name": "vllm", "image": "vllm/vllm-openai:v0.10.2", "args": ["--model", "m", "--api-key="]}])
    return [flag_only, nlb(**NLB_TLS)], ["chat-public"]


@firing(P_SRV, "api-key-on-a-sidecar-not-the-server")
def _():
    containers = [
        {"name": "vllm", "image": "vllm/vllm-openai:v0.10.2", "ports": [{"containerPort": 8000}]},
        {"name": "metrics", "image": "exporter:1", "ports": [{"containerPort": 9100}], "env": [{"name": "VLLM_API_KEY", "value": "scrape"}]},
    ]
    return [keyed_server(containers), nlb(**NLB_TLS)], ["chat-public"]
