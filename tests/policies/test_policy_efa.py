"""AI-EFA-001 ... AI-EFA-003: EFA node classes / launch templates joined to their security groups and placement
groups by property dependencies (ids are unknown at preview)."""

from policy_builder import UNKNOWN, k8s, link, res, verdicts
from pools import node_pool

EFA_NICS = [
    {"networkCardIndex": 0, "deviceIndex": 0, "interfaceType": "interface"},
    {"networkCardIndex": 0, "deviceIndex": 1, "interfaceType": "efa-only"},
    {"networkCardIndex": 1, "deviceIndex": 0, "interfaceType": "efa-only"},
]


def efa_group(name="efa", self_in=True, self_out=True):
    group = res("aws:ec2/securityGroup:SecurityGroup", name, {"vpcId": UNKNOWN})
    rules = []
    if self_in:
        rules.append(
            link(
                link(
                    res(
                        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
                        f"{name}-in",
                        {"securityGroupId": UNKNOWN, "referencedSecurityGroupId": UNKNOWN, "ipProtocol": "-1"},
                    ),
                    "securityGroupId",
                    group,
                ),
                "referencedSecurityGroupId",
                group,
            )
        )
    if self_out:
        rules.append(
            link(
                link(
                    res(
                        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
                        f"{name}-out",
                        {"securityGroupId": UNKNOWN, "referencedSecurityGroupId": UNKNOWN, "ipProtocol": "-1"},
                    ),
                    "securityGroupId",
                    group,
                ),
                "referencedSecurityGroupId",
                group,
            )
        )
    return group, rules


def placement_group(name="efa-pg", strategy="cluster"):
    return res("aws:ec2/placementGroup:PlacementGroup", name, {"strategy": strategy})


def efa_node_class(name="train", groups=(), pg=None, nics=EFA_NICS):
    spec = {
        "role": "node-role",
        "amiSelectorTerms": [{"alias": "al2023@v20251108"}],
        "networkInterfaces": nics,
        "securityGroupSelectorTerms": [{"id": "sg-cluster"}] + [{"id": UNKNOWN} for _ in groups],
    }
    if pg is not None:
        spec["placementGroupSelector"] = {"name": UNKNOWN}
    nc = k8s("karpenter.k8s.aws/v1", "EC2NodeClass", name, spec)
    return link(nc, "spec", *groups, *([pg] if pg else []))


def efa_launch_template(name="efa-lt", groups=(), pg_name="efa-pg", instance_type="p5.48xlarge", nics=None):
    inputs = {
        "instanceType": instance_type,
        "networkInterfaces": nics or [{"networkCardIndex": 0, "deviceIndex": 0, "interfaceType": "efa", "securityGroups": [UNKNOWN]}],
    }
    if pg_name:
        inputs["placement"] = {"groupName": pg_name}
    return link(res("aws:ec2/launchTemplate:LaunchTemplate", name, inputs), "networkInterfaces", *groups)


# AI-EFA-001
def test_efa_node_class_with_a_self_referencing_group_passes_while_ids_are_unknown():
    group, rules = efa_group()
    assert verdicts("ai-efa-001-efa-security-group", [group, *rules, efa_node_class(groups=[group])]) == []


def test_efa_node_class_whose_group_lacks_self_egress_fires():
    group, rules = efa_group(self_out=False)
    assert verdicts("ai-efa-001-efa-security-group", [group, *rules, efa_node_class(groups=[group])]) == [("train", "mandatory")]


def test_efa_node_class_without_any_group_of_the_stack_fires():
    assert verdicts("ai-efa-001-efa-security-group", [efa_node_class()]) == [("train", "mandatory")]


def test_inline_self_rules_on_a_launch_template_group_pass():
    group = res(
        "aws:ec2/securityGroup:SecurityGroup",
        "inline",
        {"ingress": [{"protocol": "-1", "fromPort": 0, "toPort": 0, "self": True}], "egress": [{"protocol": "-1", "fromPort": 0, "toPort": 0, "self": True}]},
    )
    assert verdicts("ai-efa-001-efa-security-group", [group, efa_launch_template(groups=[group])]) == []


def test_non_efa_node_classes_need_no_efa_group():
    plain = k8s("karpenter.k8s.aws/v1", "EC2NodeClass", "cpu", {"role": "r", "amiSelectorTerms": [{"alias": "al2023@v1"}]})
    assert verdicts("ai-efa-001-efa-security-group", [plain]) == []


# AI-EFA-002
def test_efa_pool_on_efa_capable_types_passes():
    assert verdicts("ai-efa-002-efa-capable-types", [efa_node_class(), node_pool(node_class="train")]) == []


def test_efa_pool_with_a_type_without_efa_fires():
    pool = node_pool(types=("p5.48xlarge", "g6.xlarge"), node_class="train")
    assert verdicts("ai-efa-002-efa-capable-types", [efa_node_class(), pool]) == [("gpu-train", "mandatory")]


def test_efa_pool_selecting_by_family_fires():
    pool = node_pool(node_class="train", labels={"crucible.io/efa": "true"})
    pool["inputs"]["spec"]["template"]["spec"]["requirements"] = [{"key": "karpenter.k8s.aws/instance-family", "operator": "In", "values": ["p5"]}]
    assert verdicts("ai-efa-002-efa-capable-types", [pool]) == [("gpu-train", "mandatory")]


def test_efa_only_primary_interface_or_two_efa_on_one_card_fire():
    primary = efa_node_class("primary", nics=[{"networkCardIndex": 0, "deviceIndex": 0, "interfaceType": "efa-only"}])
    crowded = efa_node_class(
        "crowded",
        nics=[{"networkCardIndex": 0, "deviceIndex": 0, "interfaceType": "efa"}, {"networkCardIndex": 0, "deviceIndex": 1, "interfaceType": "efa-only"}],
    )
    assert verdicts("ai-efa-002-efa-capable-types", [primary, crowded]) == [("crowded", "mandatory"), ("primary", "mandatory")]


def test_efa_launch_template_and_its_node_group_types_are_checked():
    lt = efa_launch_template()
    group = link(
        res("aws:eks/nodeGroup:NodeGroup", "efa-group", {"instanceTypes": ["p5.48xlarge", "m7i.large"], "launchTemplate": {"id": UNKNOWN, "version": "1"}}),
        "launchTemplate",
        lt,
    )
    assert verdicts("ai-efa-002-efa-capable-types", [lt, group]) == [("efa-lt", "mandatory")]
    assert verdicts("ai-efa-002-efa-capable-types", [lt]) == []


def test_the_allow_list_is_configurable():
    config = {"ai-efa-002-efa-capable-types": {"efaInstanceTypes": ["p4d.24xlarge"]}}
    assert verdicts("ai-efa-002-efa-capable-types", [efa_node_class(), node_pool(node_class="train")], config=config) == [("gpu-train", "mandatory")]


# AI-EFA-003
def test_single_zone_efa_pool_and_cluster_placement_group_pass():
    pg = placement_group()
    resources = [pg, efa_node_class(pg=pg), node_pool(node_class="train"), efa_launch_template(), link(efa_launch_template("lt2"), "placement", pg)]
    assert verdicts("ai-efa-003-efa-colocation", resources) == []


def test_multi_zone_efa_pool_fires_and_is_advisory_in_dev():
    pool = node_pool(node_class="train", zones=("us-east-1a", "us-east-1b"))
    assert verdicts("ai-efa-003-efa-colocation", [efa_node_class(), pool]) == [("gpu-train", "mandatory")]
    assert verdicts("ai-efa-003-efa-colocation", [efa_node_class(), pool], env="dev") == [("gpu-train", "advisory")]


def test_spread_placement_group_or_none_fires():
    spread = placement_group("spread", strategy="spread")
    nc = efa_node_class(pg=spread)
    no_pg = efa_launch_template("no-pg", pg_name=None)
    assert verdicts("ai-efa-003-efa-colocation", [spread, nc, node_pool(node_class="train"), no_pg]) == [("no-pg", "mandatory"), ("train", "mandatory")]
