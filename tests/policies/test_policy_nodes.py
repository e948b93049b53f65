"""SEC-NODE-001 ... SEC-NODE-005, REL-NODE-006, REL-NODE-007."""

import base64

from policy_builder import UNKNOWN, k8s, res, verdicts

LT = "aws:ec2/launchTemplate:LaunchTemplate"


def node_class(name="gpu", **spec):
    base = {
        "role": "node-role",
        "amiSelectorTerms": [{"alias": "al2023@v20251108"}],
        "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1},
        "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": True, "kmsKeyID": "arn:aws:kms:k"}}],
        "associatePublicIPAddress": False,
    }
    base.update(spec)
    return k8s("karpenter.k8s.aws/v1", "EC2NodeClass", name, base, metadata={"labels": {"crucible.io/pool": name}})


def launch_template(name="system", **inputs):
    base = {
        "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1},
        "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true", "kmsKeyId": "arn:aws:kms:k"}}],
    }
    base.update(inputs)
    return res(LT, name, base)


# SEC-NODE-001
def test_imdsv2_passes_when_required_and_for_node_classes_left_at_karpenter_default():
    default = node_class("default", metadataOptions={})
    assert verdicts("sec-node-001-imdsv2-required", [launch_template(), node_class(), default]) == []


def test_imdsv2_fires_for_optional_tokens_and_for_launch_templates_left_at_the_ec2_default():
    optional = node_class("optional", metadataOptions={"httpTokens": "optional"})
    unset = launch_template("unset", metadataOptions={})
    assert verdicts("sec-node-001-imdsv2-required", [optional, unset]) == [("optional", "mandatory"), ("unset", "mandatory")]


# SEC-NODE-002
def test_hop_limit_above_two_fires_and_one_or_two_pass():
    three = launch_template("three", metadataOptions={"httpTokens": "required", "httpPutResponseHopLimit": 3})
    two = node_class("two", metadataOptions={"httpTokens": "required", "httpPutResponseHopLimit": 2})
    assert verdicts("sec-node-002-imds-hop-limit", [three, two, node_class()]) == [("three", "mandatory")]


def test_hop_limit_two_is_advised_against_unless_the_pool_is_an_exception():
    two = node_class("serving", metadataOptions={"httpTokens": "required", "httpPutResponseHopLimit": 2})
    assert verdicts("sec-node-002-imds-hop-limit-exceptions", [two, node_class()]) == [("serving", "advisory")]
    exception = {"sec-node-002-imds-hop-limit-exceptions": {"exceptionPools": ["serving"]}}
    assert verdicts("sec-node-002-imds-hop-limit-exceptions", [two], config=exception) == []


# SEC-NODE-003
def test_encrypted_volumes_pass_with_a_customer_key():
    assert verdicts("sec-node-003-encrypted-volumes", [launch_template(), node_class()]) == []


def test_unencrypted_volumes_fire_in_every_environment():
    lt = launch_template("lt", blockDeviceMappings=[{"deviceName": "/dev/xvda", "ebs": {"encrypted": "false"}}])
    nc = node_class("nc", blockDeviceMappings=[{"deviceName": "/dev/xvda", "ebs": {"volumeSize": "100Gi"}}])
    expected = [("lt", "mandatory"), ("nc", "mandatory")]
    assert verdicts("sec-node-003-encrypted-volumes", [lt, nc]) == expected
    assert verdicts("sec-node-003-encrypted-volumes", [lt, nc], env="dev") == expected


def test_aws_managed_key_fires_in_prod_only():
    nc = node_class("nc", blockDeviceMappings=[{"deviceName": "/dev/xvda", "ebs": {"encrypted": True}}])
    assert verdicts("sec-node-003-encrypted-volumes", [nc]) == [("nc", "mandatory")]
    assert verdicts("sec-node-003-encrypted-volumes", [nc], env="dev") == []


def test_turning_off_ebs_encryption_by_default_fires():
    off = res("aws:ebs/encryptionByDefault:EncryptionByDefault", "off", {"enabled": False})
    on = res("aws:ebs/encryptionByDefault:EncryptionByDefault", "on", {"enabled": True})
    assert verdicts("sec-node-003-encrypted-volumes", [off, on]) == [("off", "mandatory")]


# SEC-NODE-004
def test_public_node_exposure_fires_on_each_spelling():
    subnet = res("aws:ec2/subnet:Subnet", "private-a", {"mapPublicIpOnLaunch": True, "tags": {}})
    nc = node_class("nc", associatePublicIPAddress=True)
    lt = launch_template("lt", networkInterfaces=[{"associatePublicIpAddress": "true", "deviceIndex": 0}])
    group = res("aws:eks/nodeGroup:NodeGroup", "system", {"remoteAccess": {"ec2SshKey": "ops"}})
    assert verdicts("sec-node-004-no-public-nodes", [subnet, nc, lt, group]) == [
        ("lt", "mandatory"),
        ("nc", "mandatory"),
        ("private-a", "mandatory"),
        ("system", "mandatory"),
    ]


def test_private_nodes_and_public_load_balancer_subnets_pass():
    lb_subnet = res("aws:ec2/subnet:Subnet", "public-a", {"mapPublicIpOnLaunch": True, "tags": {"kubernetes.io/role/elb": "1"}})
    private = res("aws:ec2/subnet:Subnet", "private-a", {"mapPublicIpOnLaunch": False})
    group = res("aws:eks/nodeGroup:NodeGroup", "system", {"instanceTypes": ["m7i.xlarge"]})
    assert verdicts("sec-node-004-no-public-nodes", [lb_subnet, private, group, node_class(), launch_template()]) == []


def test_public_nodes_are_advisory_in_dev():
    nc = node_class("nc", associatePublicIPAddress=True)
    assert verdicts("sec-node-004-no-public-nodes", [nc], env="dev") == [("nc", "advisory")]


# SEC-NODE-005
def test_credentials_in_user_data_fire_base64_or_plain():
    script = "#!/bin/bash\nexport AWS_ACCESS_KEY_ID=AKIAABCDEFGHIJKLMNOP\n"
    lt = launch_template("lt", userData=base64.b64encode(script.encode()).decode())
    nc = node_class("nc", userData="[settings]\npassword = hunter2\n")
    assert verdicts("sec-node-005-no-secrets-in-user-data", [lt, nc]) == [("lt", "mandatory"), ("nc", "mandatory")]


def test_ordinary_user_data_passes():
    script = "#!/bin/bash\n/etc/eks/bootstrap.sh crucible --kubelet-extra-args '--max-pods=110'\n"
    lt = launch_template("lt", userData=base64.b64encode(script.encode()).decode())
    assert verdicts("sec-node-005-no-secrets-in-user-data", [lt, node_class()]) == []


def test_user_data_computed_at_preview_cannot_be_judged():
    assert verdicts("sec-node-005-no-secrets-in-user-data", [launch_template("lt", userData=UNKNOWN)]) == [("lt", "advisory")]


# REL-NODE-006
def test_latest_ami_alias_fires_in_prod_and_is_advisory_in_dev():
    latest = node_class("latest", amiSelectorTerms=[{"alias": "al2023@latest"}])
    assert verdicts("rel-node-006-pinned-amis", [latest, node_class()]) == [("latest", "mandatory")]
    assert verdicts("rel-node-006-pinned-amis", [latest], env="dev") == [("latest", "advisory")]


# REL-NODE-007
KARPENTER_VALUES = {"settings": {"clusterName": "c"}, "nodeSelector": {"crucible.io/pool": "system"}}


def karpenter(values=None, name="karpenter"):
    return res(
        "kubernetes:helm.sh/v3:Release",
        name,
        {
            "chart": "oci://public.ecr.aws/karpenter/karpenter",
            "version": "1.14.1",
            "namespace": "karpenter",
            "values": KARPENTER_VALUES if values is None else values,
        },
    )


def system_group(labels=None):
    return res("aws:eks/nodeGroup:NodeGroup", "system", {"nodeGroupName": "system", "labels": labels or {"crucible.io/pool": "system"}})


CLUSTER = res("aws:eks/cluster:Cluster", "eks", {"version": "1.34"})


def test_karpenter_pinned_to_the_system_node_group_passes():
    assert verdicts("rel-node-007-karpenter-off-karpenter-nodes", [CLUSTER, system_group(), karpenter()]) == []


def test_karpenter_not_pinned_to_any_node_group_fires():
    unpinned = karpenter({"settings": {}})
    assert verdicts("rel-node-007-karpenter-off-karpenter-nodes", [CLUSTER, system_group(), unpinned]) == [("karpenter", "mandatory")]


def test_karpenter_in_a_cluster_without_node_group_or_fargate_fires_and_fargate_passes():
    assert verdicts("rel-node-007-karpenter-off-karpenter-nodes", [CLUSTER, karpenter()]) == [("karpenter", "mandatory")]
    fargate = res("aws:eks/fargateProfile:FargateProfile", "karpenter", {"selectors": [{"namespace": "karpenter"}]})
    assert verdicts("rel-node-007-karpenter-off-karpenter-nodes", [CLUSTER, fargate, karpenter({})]) == []


def test_split_stack_only_needs_the_release_kept_off_karpenter_nodes():
    off_karpenter = karpenter(
        {
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [{"matchExpressions": [{"key": "karpenter.sh/nodepool", "operator": "DoesNotExist"}]}]
                    }
                }
            }
        }
    )
    assert verdicts("rel-node-007-karpenter-off-karpenter-nodes", [off_karpenter]) == []
    assert verdicts("rel-node-007-karpenter-off-karpenter-nodes", [karpenter({})]) == [("karpenter", "mandatory")]


def test_karpenter_values_computed_at_preview_cannot_be_judged():
    assert verdicts("rel-node-007-karpenter-off-karpenter-nodes", [CLUSTER, system_group(), karpenter(UNKNOWN)]) == [("", "advisory")]
