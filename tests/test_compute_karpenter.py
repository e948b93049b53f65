"""Karpenter: identity, node role, interruption handling, chart values, and the order `pulumi destroy` follows."""

import pytest


import json


from helpers import plan, shipped_plan

RELEASE = "kubernetes:helm.sh/v3:Release"
NODEPOOL = "kubernetes:karpenter.sh/v1:NodePool"
NODECLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
POOL = {"name": "gpu", "kind": "gpu", "workload": "serving", "instanceTypes": ["g6.xlarge"], "maxNodes": 2}


@pytest.fixture(scope="module")
def dev():
    return plan("dev", pools=[POOL])


def test_controller_chart_is_pinned_and_its_crds_come_from_the_crd_chart(dev):
    controller, crds = dev.one(RELEASE, "karpenter"), dev.one(RELEASE, "karpenter-crd")
    assert controller.inputs["chart"] == "oci://public.ecr.aws/karpenter/karpenter"
    assert crds.inputs["chart"] == "oci://public.ecr.aws/karpenter/karpenter-crd"
    assert controller.inputs["version"] == crds.inputs["version"] == "1.14.1"
    assert controller.inputs["skipCrds"] is True
    assert crds.urn in controller.dependencies


def test_values_name_the_cluster_and_the_interruption_queue(dev):
    values = dev.one(RELEASE, "karpenter").inputs["values"]
    queue = dev.one("aws:sqs/queue:Queue")
    cluster = dev.one("aws:eks/cluster:Cluster")
    assert values["settings"]["clusterName"] == cluster.inputs["name"]
    assert values["settings"]["interruptionQueue"] == queue.outputs["name"]


def test_controller_is_told_its_region_because_its_pods_cannot_reach_instance_metadata(dev):
    """Karpenter takes its region from the AWS SDK's config (AWS_REGION) and else from IMDS, and exits when IMDS does
    not answer (karpenter-provider-aws v1.14.1 pkg/operator/operator.go NewOperator: `unable to determine region
    from IMDS`). Its nodes' launch template allows one hop (IMDSv2, hop limit 1), so a pod's request never gets the
    token back; Pod Identity sets only the credential variables (AWS SDKs and Tools guide, container credential
    provider). The release would wait on a crash-looping controller and roll back."""
    values = dev.one(RELEASE, "karpenter").inputs["values"]
    template = dev.one("aws:ec2/launchTemplate:LaunchTemplate", "cluster-system")
    assert template.inputs["metadataOptions"]["httpPutResponseHopLimit"] == 1
    assert {"name": "AWS_REGION", "value": "us-west-2"} in values["controller"]["env"]


def test_controller_runs_on_the_system_node_group_never_on_its_own_nodes(dev):
    values = dev.one(RELEASE, "karpenter").inputs["values"]
    assert values["nodeSelector"] == {"crucible.io/pool": "system"}
    terms = values["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert {"key": "karpenter.sh/nodepool", "operator": "DoesNotExist"} in terms[0]["matchExpressions"]


def test_controller_identity_is_pod_identity_for_its_service_account(dev):
    association = dev.one("aws:eks/podIdentityAssociation:PodIdentityAssociation", "karpenter-controller")
    assert (association.inputs["namespace"], association.inputs["serviceAccount"]) == ("karpenter", "karpenter")
    assert dev.one(RELEASE, "karpenter").inputs["namespace"] == "karpenter"
    role = dev.one("aws:iam/role:Role", "karpenter-controller")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    policy = json.loads(dev.one("aws:iam/rolePolicy:RolePolicy", "karpenter-controller").inputs["policy"])
    actions = [a for st in policy["Statement"] for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])]
    assert "*" not in actions and not any(a.endswith(":*") for a in actions)
    queue_statement = next(st for st in policy["Statement"] if st["Sid"] == "AllowInterruptionQueueActions")
    assert queue_statement["Resource"] == dev.one("aws:sqs/queue:Queue").outputs["arn"]


def test_controller_uses_the_node_volume_key_only_through_ec2(dev):
    policy = json.loads(dev.one("aws:iam/rolePolicy:RolePolicy", "karpenter-controller").inputs["policy"])
    statement = next(st for st in policy["Statement"] if st["Sid"] == "AllowNodeVolumeKeyThroughEC2")
    assert statement["Resource"] == dev.one("aws:kms/key:Key", "cluster-node-volumes").outputs["arn"]
    assert statement["Condition"] == {"StringEquals": {"kms:ViaService": "ec2.us-west-2.amazonaws.com"}}


def test_node_role_joins_through_an_ec2_linux_access_entry(dev):
    node_role = dev.one("aws:iam/role:Role", "karpenter-node")
    entry = dev.one("aws:eks/accessEntry:AccessEntry", "karpenter-node")
    assert entry.inputs["type"] == "EC2_LINUX"
    assert entry.inputs["principalArn"] == node_role.outputs["arn"]
    attached = {
        a.inputs["policyArn"].rsplit("/", 1)[-1]
        for a in dev.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if a.name.startswith("karpenter-node-")
    }
    assert attached == {"AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryPullOnly", "AmazonSSMManagedInstanceCore"}
    node_class = dev.one(NODECLASS)
    assert node_class.inputs["spec"]["role"] == node_role.outputs["name"]


def test_interruption_queue_is_encrypted_short_lived_and_tls_only(dev):
    queue = dev.one("aws:sqs/queue:Queue")
    assert queue.inputs["sqsManagedSseEnabled"] is True
    assert queue.inputs["messageRetentionSeconds"] == 300
    policy = json.loads(dev.one("aws:sqs/queuePolicy:QueuePolicy").inputs["policy"])
    deny = [st for st in policy["Statement"] if st["Effect"] == "Deny"]
    assert deny and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} and deny[0]["Principal"] == "*"
    allow = next(st for st in policy["Statement"] if st["Effect"] == "Allow")
    assert "events.amazonaws.com" in allow["Principal"]["Service"] and allow["Action"] == "sqs:SendMessage"


def test_eventbridge_rules_feed_every_interruption_event_to_the_queue(dev):
    patterns = {}
    for rule in dev.of_type("aws:cloudwatch/eventRule:EventRule"):
        pattern = json.loads(rule.inputs["eventPattern"])
        patterns[pattern["detail-type"][0]] = pattern["source"][0]
    assert patterns == {
        "EC2 Spot Instance Interruption Warning": "aws.ec2",
        "EC2 Instance Rebalance Recommendation": "aws.ec2",
        "EC2 Instance State-change Notification": "aws.ec2",
        "AWS Health Event": "aws.health",
        "EC2 Capacity Reservation Instance Interruption Warning": "aws.ec2",
    }
    queue_arn = dev.one("aws:sqs/queue:Queue").outputs["arn"]
    targets = dev.of_type("aws:cloudwatch/eventTarget:EventTarget")
    assert len(targets) == 5 and all(t.inputs["arn"] == queue_arn for t in targets)


def test_destroy_removes_pools_before_karpenter_and_karpenter_before_cluster_and_network(dev):
    """Pulumi deletes a resource before the resources it depends on: pools → controller → cluster/network."""
    release = dev.one(RELEASE, "karpenter")
    for cr in dev.of_type(NODEPOOL) + dev.of_type(NODECLASS):
        assert release.urn in cr.dependencies, f"{cr.name} does not depend on the Karpenter release"
    cluster = dev.one("aws:eks/cluster:Cluster")
    node_group = dev.one("aws:eks/nodeGroup:NodeGroup")
    assert cluster.urn in release.dependencies and node_group.urn in release.dependencies
    for network_type in ("aws:ec2/vpc:Vpc", "aws:ec2/natGateway:NatGateway", "aws:ec2/subnet:Subnet", "aws:ec2/route:Route"):
        for r in dev.of_type(network_type):
            assert r.urn in release.dependencies, f"the Karpenter release does not outlive {r.type} {r.name}"
    # The NodePool goes before its node class (which waits for the nodes to be gone).
    node_pool, node_class = dev.one(NODEPOOL), dev.one(NODECLASS)
    assert node_class.urn in node_pool.dependencies


def test_split_stack_reads_the_cluster_from_its_core_stack():
    planned = shipped_plan("prod-platform")
    run = planned.run
    assert not run.of_type("aws:eks/cluster:Cluster")
    values = run.one(RELEASE, "karpenter").inputs["values"]
    core = shipped_plan("prod-core").run.raw_outputs["cluster"]
    assert values["settings"]["clusterName"] == core["name"] == "crucible-prod-split"
    assert values["settings"]["clusterEndpoint"] == core["endpoint"]
    node_class = run.of_type(NODECLASS)[0]
    assert {"id": core["clusterSecurityGroupId"]} in node_class.inputs["spec"]["securityGroupSelectorTerms"]
    subnets = shipped_plan("prod-core").run.raw_outputs["network"]["privateSubnetIds"]
    assert all(term["id"] in subnets for term in node_class.inputs["spec"]["subnetSelectorTerms"])
    assert run.one("aws:eks/accessEntry:AccessEntry", "karpenter-node").inputs["clusterName"] == core["name"]
