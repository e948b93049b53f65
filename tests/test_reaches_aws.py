"""Reaches, the AWS side (stacks/tools/plan/reaches_aws.py): what prod's security groups let through, each way of
writing a rule, and `crucible check` failing an edited saved plan naming the flow."""

from __future__ import annotations

import copy
import json

import pytest

from helpers import shipped_report
from stacks.tools.cli import main
from stacks.tools.plan.reaches_aws import SG, Party, rules_of

VPC = "10.30.0.0/16"


def _prod() -> dict:
    return shipped_report("prod")[0]


def _flows() -> list[dict]:
    return _prod()["workloads"]["flows"]["reaches (security groups)"]


@pytest.mark.parametrize(
    "flow, ports",
    [
        ("nodes → Lustre", {"TCP/988", "TCP/1018-1023"}),
        ("Lustre → nodes", {"TCP/988", "TCP/1018-1023"}),
        ("Lustre → Lustre", {"TCP/988", "TCP/1018-1023"}),
        ("nodes → control plane", {"TCP/443"}),
        ("control plane → nodes", {"TCP/443"}),
        ("EFA group ↔ itself", {"all"}),
        ("deploy network → API", {"TCP/443"}),
    ],
)
def test_prod_security_groups_allow_the_required_flow(flow, ports):
    found = [f for f in _flows() if f["flow"] == flow]
    assert found and {f["ports"] for f in found} == ports
    assert all(f["ok"] for f in found), [f for f in found if not f["ok"]]


def test_every_pool_and_the_system_node_group_are_checked_against_lustre():
    sources = {f["from"] for f in _flows() if f["flow"] == "nodes → Lustre"}
    assert sources == {"nodes of pool cpu", "nodes of pool inf", "nodes of pool serve", "nodes of pool train", "nodes of node group cluster-system"}


def test_the_deploy_network_is_the_declared_api_access():
    # prod declares a connected network (cluster.apiAccess.sourceCidrs, routed through its transit gateway)
    assert {f["from"] for f in _flows() if f["flow"] == "deploy network → API"} == {"deploy network 10.100.0.0/16"}


# ---- every way of writing a rule --------------------------------------------------------------------------------


def _res(token, name, **inputs):
    return {"type": token, "name": name, "inputs": inputs}


def _allowed_both_ways(resources, a, b, port):
    from stacks.tools.plan.reaches_aws import allowed

    rules = rules_of(resources)
    return allowed(rules, a, b, "tcp", port) and allowed(rules, b, a, "tcp", port)


A = Party("a", frozenset({"sg-a"}), None)
B = Party("b", frozenset({"sg-b"}), None)


def test_inline_rules_with_security_groups():
    resources = [
        _res(
            SG,
            "a",
            id="sg-a",
            egress=[{"protocol": "tcp", "fromPort": 988, "toPort": 988, "securityGroups": ["sg-b"]}],
            ingress=[{"protocol": "tcp", "fromPort": 988, "toPort": 988, "securityGroups": ["sg-b"]}],
        ),
        _res(
            SG,
            "b",
            id="sg-b",
            egress=[{"protocol": "-1", "fromPort": 0, "toPort": 0, "securityGroups": ["sg-a"]}],
            ingress=[{"protocol": "6", "fromPort": 900, "toPort": 1000, "securityGroups": ["sg-a"]}],
        ),
    ]
    assert _allowed_both_ways(resources, A, B, 988)
    assert not _allowed_both_ways(resources, A, B, 1018)


def test_security_group_rule_resources_with_self_and_source_group():
    resources = [
        _res(
            "aws:ec2/securityGroupRule:SecurityGroupRule", "a-self-in", type="ingress", securityGroupId="sg-a", protocol="-1", fromPort=0, toPort=0, self=True
        ),
        _res(
            "aws:ec2/securityGroupRule:SecurityGroupRule", "a-self-out", type="egress", securityGroupId="sg-a", protocol="all", fromPort=0, toPort=0, self=True
        ),
        _res(
            "aws:ec2/securityGroupRule:SecurityGroupRule",
            "a-from-b",
            type="ingress",
            securityGroupId="sg-a",
            protocol="tcp",
            fromPort=443,
            toPort=443,
            sourceSecurityGroupId="sg-b",
        ),
    ]
    from stacks.tools.plan.reaches_aws import allowed

    rules = rules_of(resources)
    assert allowed(rules, A, A, "udp", 4791)  # all traffic to and from itself
    assert not allowed(rules, B, A, "tcp", 443)  # b has no egress rule
    assert allowed(
        [
            *rules,
            *rules_of(
                [
                    _res(
                        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
                        "b-out",
                        securityGroupId="sg-b",
                        ipProtocol="tcp",
                        fromPort=443,
                        toPort=443,
                        referencedSecurityGroupId="sg-a",
                    )
                ]
            ),
        ],
        B,
        A,
        "tcp",
        443,
    )


def test_cidr_rules_cover_parties_inside_the_range():
    from stacks.tools.plan.reaches_aws import allowed

    resources = [
        _res(
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            "b-in",
            securityGroupId="sg-b",
            ipProtocol="tcp",
            fromPort=443,
            toPort=443,
            cidrIpv4="10.0.0.0/8",
        ),
        _res("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "a-out", securityGroupId="sg-a", ipProtocol="-1", cidrIpv4="0.0.0.0/0"),
    ]
    inside, outside = Party("a", frozenset({"sg-a"}), VPC), Party("a", frozenset({"sg-a"}), "192.168.0.0/16")
    b = Party("b", frozenset({"sg-b"}), VPC)
    assert allowed(rules_of(resources), inside, b, "tcp", 443)
    assert not allowed(rules_of(resources), outside, b, "tcp", 443)


# ---- crucible check on an edited saved plan -----------------------------------------------------------------------


def _check(tmp_path, drop) -> int:
    document = copy.deepcopy(_prod())
    document["resources"] = [r for r in document["resources"] if r.get("name") not in drop]
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(document, default=str))
    return main(["check", str(path)])


@pytest.mark.parametrize(
    "drop, expected",
    [
        (
            {"lustre-in-nodes-988"},
            "mandatory reaches (security groups): nodes → Lustre: nodes of pool train → Lustre lustre TCP/988 — no egress rule of the source and ingress rule of the destination admit it",
        ),
        ({"pool-train-efa-in"}, "mandatory reaches (security groups): EFA group ↔ itself: EFA group sg-ff4933550000000 (pool train)"),
        ({"cluster-api-from-10.100.0.0-16"}, "mandatory reaches (security groups): deploy network → API: deploy network 10.100.0.0/16 → control plane TCP/443"),
    ],
)
def test_check_fails_a_saved_plan_missing_a_security_group_rule(tmp_path, capsys, drop, expected):
    document = copy.deepcopy(_prod())
    assert {r.get("name") for r in document["resources"]} >= drop
    assert _check(tmp_path, drop) == 1
    assert expected in capsys.readouterr().out


def test_a_split_stack_reaches_the_control_plane_through_the_cluster_security_group_of_its_core_stack():
    """prod-platform registers no VPC and no cluster: its nodes carry the core stack's cluster security group, whose
    EKS default rules (all from itself, all egress to 0.0.0.0/0) carry the 443 flows though no VPC range is known."""
    from stacks.tools.plan.reaches_aws import aws_flows

    document, _ = shipped_report("prod-platform")
    control = [f for f in aws_flows(document["resources"]) if "control plane" in (f["from"], f["to"])]
    assert control and all(f["ok"] for f in control), [f for f in control if not f["ok"]]
