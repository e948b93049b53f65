"""SEC-NET-001, SEC-NET-002: security-group rules inline or as separate resources, joined by URN."""

from policy_builder import UNKNOWN, link, res, verdicts

SG = "aws:ec2/securityGroup:SecurityGroup"


def group(name, tags=None, **inputs):
    return res(SG, name, {"vpcId": UNKNOWN, "tags": tags or {}, **inputs})


def ingress(name, sg, port, cidr="0.0.0.0/0", to_port=None, protocol="tcp"):
    rule = res(
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        name,
        {"securityGroupId": UNKNOWN, "ipProtocol": protocol, "fromPort": port, "toPort": to_port or port, "cidrIpv4": cidr},
    )
    return link(rule, "securityGroupId", sg) if sg else rule


def test_world_ingress_on_ssh_rdp_http_and_all_ports_fires():
    sg = group("nodes")
    rules = [ingress("ssh", sg, 22), ingress("rdp", sg, 3389), ingress("http", sg, 80), ingress("everything", sg, -1, protocol="-1")]
    inline = group("inline", ingress=[{"protocol": "tcp", "fromPort": 0, "toPort": 65535, "ipv6CidrBlocks": ["::/0"]}])
    assert verdicts("sec-net-001-no-world-ingress", [sg, *rules, inline]) == [
        ("everything", "mandatory"),
        ("http", "mandatory"),
        ("inline", "mandatory"),
        ("rdp", "mandatory"),
        ("ssh", "mandatory"),
    ]


def test_https_from_the_world_private_ssh_and_http_on_a_public_alb_group_pass():
    sg = group("nodes")
    alb = group("alb", tags={"crucible.io/exposure": "public"})
    rules = [ingress("https", sg, 443), ingress("ssh-vpn", sg, 22, cidr="10.8.0.0/16"), ingress("alb-http", alb, 80)]
    assert verdicts("sec-net-001-no-world-ingress", [sg, alb, *rules]) == []


def test_public_alb_tag_does_not_excuse_ssh():
    alb = group("alb", tags={"crucible.io/exposure": "public"})
    assert verdicts("sec-net-001-no-world-ingress", [alb, ingress("ssh", alb, 22)]) == [("ssh", "mandatory")]


def test_rules_of_groups_from_another_stack_are_judged_too():
    assert verdicts("sec-net-001-no-world-ingress", [ingress("orphan-ssh", None, 22)]) == [("orphan-ssh", "mandatory")]


def test_default_security_group_must_have_no_rules():
    closed = res("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "closed", {"vpcId": UNKNOWN})
    open_ = res(
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        "open",
        {"vpcId": UNKNOWN, "egress": [{"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]}]},
    )
    assert verdicts("sec-net-001-no-world-ingress", [closed, open_]) == [("open", "mandatory")]


def test_world_cidr_computed_at_preview_cannot_be_judged():
    sg = group("nodes")
    assert verdicts("sec-net-001-no-world-ingress", [sg, ingress("ssh", sg, 22, cidr=UNKNOWN)]) == [("", "advisory")]


def test_vpc_with_a_flow_log_passes_and_without_fires():
    logged = res("aws:ec2/vpc:Vpc", "logged", {"cidrBlock": "10.0.0.0/16"})
    flow_log = link(res("aws:ec2/flowLog:FlowLog", "logged", {"vpcId": UNKNOWN, "trafficType": "ALL"}), "vpcId", logged)
    silent = res("aws:ec2/vpc:Vpc", "silent", {"cidrBlock": "10.1.0.0/16"})
    assert verdicts("sec-net-002-vpc-flow-logs", [logged, flow_log, silent]) == [("silent", "mandatory")]
    assert verdicts("sec-net-002-vpc-flow-logs", [silent], env="dev") == [("silent", "advisory")]


def test_vpc_outside_the_private_ranges_is_reported():
    public = res("aws:ec2/vpc:Vpc", "public", {"cidrBlock": "52.10.0.0/16"})
    straddling = res("aws:ec2/vpc:Vpc", "straddling", {"cidrBlock": "100.0.0.0/8"})  # wider than 100.64.0.0/10
    assert verdicts("sec-net-004-private-vpc-cidr", [public, straddling]) == [("public", "advisory"), ("straddling", "advisory")]


def test_vpcs_in_private_ranges_or_in_allowed_ranges_pass():
    vpcs = [res("aws:ec2/vpc:Vpc", f"vpc{i}", {"cidrBlock": c}) for i, c in enumerate(["10.0.0.0/16", "172.31.0.0/16", "192.168.0.0/20", "100.64.0.0/16"])]
    assert verdicts("sec-net-004-private-vpc-cidr", vpcs) == []
    owned = res("aws:ec2/vpc:Vpc", "owned", {"cidrBlock": "52.10.0.0/16"})
    config = {"sec-net-004-private-vpc-cidr": {"allowedRanges": ["10.0.0.0/8", "52.10.0.0/16"]}}
    assert verdicts("sec-net-004-private-vpc-cidr", [owned], config=config) == []
