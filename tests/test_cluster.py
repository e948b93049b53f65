"""The cluster layer, as registered, per environment."""

from __future__ import annotations

import json

from helpers import plan

CLUSTER = "aws:eks/cluster:Cluster"
KEY = "aws:kms/key:Key"
ADDON = "aws:eks/addon:Addon"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"


def test_secrets_are_envelope_encrypted_with_a_rotating_key():
    run = plan("dev")
    cluster, key = run.one(CLUSTER), run.one(KEY, "cluster-secrets")
    assert cluster.inputs["encryptionConfig"]["resources"] == ["secrets"]
    assert cluster.inputs["encryptionConfig"]["provider"]["keyArn"].startswith("arn:aws:kms:")
    assert key.urn in cluster.property_dependencies["encryptionConfig"]
    assert key.inputs["enableKeyRotation"] is True


def test_key_policy_names_the_account_never_everyone():
    policy = json.loads(plan("dev").one(KEY, "cluster-secrets").inputs["policy"])
    principals = [s["Principal"] for s in policy["Statement"]]
    assert principals == [{"AWS": "arn:aws:iam::123456789012:root"}]


def test_prod_endpoint_is_private_only():
    vpc = plan("prod").one(CLUSTER).inputs["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True and vpc["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in vpc


def test_dev_public_endpoint_is_restricted_to_the_allow_list():
    vpc = plan("dev").one(CLUSTER).inputs["vpcConfig"]
    assert vpc["endpointPublicAccess"] is True and vpc["publicAccessCidrs"] == ["203.0.113.0/24"]


def test_prod_logs_every_control_plane_log_type():
    assert set(plan("prod").one(CLUSTER).inputs["enabledClusterLogTypes"]) == {"api", "audit", "authenticator", "controllerManager", "scheduler"}


def test_prod_grants_admin_through_access_entries_not_to_the_creator():
    admins = ["arn:aws:iam::111122223333:role/A", "arn:aws:iam::111122223333:role/B"]
    run = plan("prod", cluster={"adminRoleArns": admins, "apiAccess": {"deployRoleArn": admins[0]}})  # the deploy role is an admin
    access = run.one(CLUSTER).inputs["accessConfig"]
    assert access == {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False}
    entries = [e for e in run.of_type("aws:eks/accessEntry:AccessEntry") if e.inputs["type"] == "STANDARD"]  # nodes have EC2_LINUX entries
    assert sorted(e.inputs["principalArn"] for e in entries) == ["arn:aws:iam::111122223333:role/A", "arn:aws:iam::111122223333:role/B"]
    associations = run.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    assert {a.inputs["policyArn"] for a in associations} == {"arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"}


def test_prod_protects_and_retains_the_key_and_the_cluster():
    run = plan("prod")
    key, cluster = run.one(KEY, "cluster-secrets"), run.one(CLUSTER)
    assert key.protect and key.retain_on_delete
    assert cluster.protect
    dev = plan("dev")
    assert not dev.one(KEY, "cluster-secrets").protect and not dev.one(CLUSTER).protect


def test_managed_addons_with_network_policy_enforcement():
    addons = {a.inputs["addonName"]: a for a in plan("dev").of_type(ADDON) if a.name.startswith("cluster-")}
    assert set(addons) == {"vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent", "aws-ebs-csi-driver"}
    assert json.loads(addons["vpc-cni"].inputs["configurationValues"])["enableNetworkPolicy"] == "true"
    (association,) = addons["aws-ebs-csi-driver"].inputs["podIdentityAssociations"]
    assert association["serviceAccount"] == "ebs-csi-controller-sa"


def test_addon_versions_can_be_pinned():
    addons = {a.inputs["addonName"]: a for a in plan("dev", cluster={"addonVersions": {"coredns": "v1.12.1-eksbuild.2"}}).of_type(ADDON)}
    assert addons["coredns"].inputs["addonVersion"] == "v1.12.1-eksbuild.2"
    assert "addonVersion" not in addons["vpc-cni"].inputs


def test_cni_comes_before_nodes_and_coredns_after():
    run = plan("dev")
    group = run.one(NODE_GROUP)
    addons = {a.inputs["addonName"]: a for a in run.of_type(ADDON)}
    assert addons["vpc-cni"].urn in group.dependencies
    assert group.urn in addons["coredns"].dependencies


def test_system_node_group_is_on_demand_imdsv2_and_encrypted():
    run = plan("prod")
    group = run.one(NODE_GROUP)
    assert group.inputs["capacityType"] == "ON_DEMAND"
    assert group.inputs["labels"] == {"crucible.io/pool": "system"}
    assert group.inputs["scalingConfig"] == {"minSize": 3, "desiredSize": 3, "maxSize": 6}
    template = run.one("aws:ec2/launchTemplate:LaunchTemplate")
    assert template.inputs["metadataOptions"]["httpTokens"] == "required"
    assert template.inputs["metadataOptions"]["httpPutResponseHopLimit"] == 1
    (disk,) = template.inputs["blockDeviceMappings"]
    assert disk["ebs"]["encrypted"] == "true" and disk["ebs"]["volumeType"] == "gp3"
    assert disk["ebs"]["kmsKeyId"] == run.one(KEY, "cluster-node-volumes").outputs["arn"]


def test_node_volumes_have_their_own_rotating_protected_key():
    run = plan("prod")
    key = run.one(KEY, "cluster-node-volumes")
    assert key.inputs["enableKeyRotation"] is True and key.protect and key.retain_on_delete
    assert key.urn != run.one(KEY, "cluster-secrets").urn


def test_node_volume_key_is_used_by_auto_scaling_and_administered_by_the_account():
    policy = json.loads(plan("dev").one(KEY, "cluster-node-volumes").inputs["policy"])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["AccountAdministersKeyThroughIam"]["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    scaling = "arn:aws:iam::123456789012:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
    assert by_sid["AutoScalingUsesKey"]["Principal"] == {"AWS": scaling}
    assert by_sid["AutoScalingGrantsKeyToVolumes"]["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}
    assert all(s["Principal"] != "*" and s["Principal"] != {"AWS": "*"} for s in policy["Statement"])


def test_kubernetes_provider_and_secret_kubeconfig():
    run = plan("dev")
    assert run.one("pulumi:providers:kubernetes")
    assert run.outputs["kubeconfig"] == "[secret]"
    assert run.outputs["cluster"]["name"] == "crucible-test"
    assert run.outputs["cluster"]["oidcIssuer"].startswith("https://oidc.eks.us-west-2.amazonaws.com/id/")


def test_every_aws_resource_uses_the_stack_provider_with_default_tags():
    run = plan("dev", tags={"cost-center": "ml"})
    provider = run.one("pulumi:providers:aws")
    assert provider.inputs["region"] == "us-west-2"
    default_tags = json.loads(provider.inputs["defaultTags"])  # providers receive nested inputs as JSON text
    assert default_tags["tags"]["cost-center"] == "ml"
    aws_resources = [r for r in run.resources if r.custom and r.type.startswith("aws:")]
    assert aws_resources and all(r.provider.startswith(provider.urn) for r in aws_resources)
