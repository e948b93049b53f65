"""The policy pack's verdicts in `crucible plan` and `crucible check`: every shipped stack passes every mandatory
rule, a plan edited to break any rule of the pack is caught by name (mandatory in prod: the check fails; advisory in
prod: reported, the check passes), and mandatory violations fail the command."""

from __future__ import annotations

import copy
import json

import pytest

from helpers import report_copy, shipped_report
from policies.pack import all_policies
from stacks.tools.cli import main
from stacks.tools.plan.locate import shipped_stacks


@pytest.mark.parametrize("stack", shipped_stacks())
def test_every_shipped_stack_passes_every_mandatory_policy(stack):
    document, _ = shipped_report(stack)
    verdicts = document["policies"]
    assert verdicts["evaluated"] > 0
    assert [v for v in verdicts["violations"] if v["level"] == "mandatory"] == []


def test_prod_plan_evaluates_the_whole_pack_and_says_so_last():
    document, lines = shipped_report("prod")
    assert document["policies"]["evaluated"] == len(all_policies())
    assert lines[-1].startswith("  ") and "Policies" in lines
    assert f"{len(all_policies())} policies evaluated: 0 mandatory violations" in "\n".join(lines)


def test_plan_exits_1_when_a_mandatory_policy_is_violated(monkeypatch, capsys):
    from stacks.tools.plan import verdicts

    def breaking(resources, env, outputs=None, preview=False):
        urn = next(r["urn"] for r in resources if r["type"] == "aws:eks/cluster:Cluster")
        return {"evaluated": 1, "violations": [{"policy": "sec-eks-002-private-endpoint", "level": "mandatory", "urn": urn, "message": "d\nopen"}]}

    monkeypatch.setattr(verdicts, "evaluate", breaking)
    assert main(["plan", "dev"]) == 1
    assert "mandatory sec-eks-002-private-endpoint" in capsys.readouterr().out


def _resource(document: dict, type_token: str, name: str | None = None) -> dict:
    return next(r for r in document["resources"] if r["type"] == type_token and (name is None or r["name"] == name))


def _nodepool(document: dict, pool: str) -> dict:
    return next(r for r in document["resources"] if r["type"] == "kubernetes:karpenter.sh/v1:NodePool" and r["inputs"]["metadata"]["name"] == pool)


def _nodeclass(document: dict, pool: str) -> dict:
    return _resource(document, "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass", f"pool-{pool}-nodeclass")


def _requirement(pool: dict, key: str) -> dict:
    return next(r for r in pool["inputs"]["spec"]["template"]["spec"]["requirements"] if r["key"] == key)


def _release(document: dict, name: str) -> dict:
    return _resource(document, "kubernetes:helm.sh/v3:Release", name)


def _drop(document: dict, type_token: str, name: str) -> None:
    document["resources"].remove(_resource(document, type_token, name))


def _add_like(document: dict, like: dict, name: str, type_token: str | None = None, inputs: dict | None = None) -> dict:
    """A new resource next to an existing one (same parent, provider and options), as adding it to the program would
    register it: its URN keeps the parent's type chain."""
    type_token = type_token or like["type"]
    head, qualified, _ = like["urn"].rsplit("::", 2)
    parents = qualified.rsplit("$", 1)[0] + "$" if "$" in qualified else ""
    new = copy.deepcopy(like)
    new.update(urn=f"{head}::{parents}{type_token}::{name}", type=type_token, name=name)
    if inputs is not None:
        new["inputs"] = inputs
    document["resources"].append(new)
    return new


def _rewrite_json(inputs: dict, key: str, edit) -> None:
    """Edit a JSON-string input (an IAM document, add-on configuration values) in place."""
    value = json.loads(inputs[key])
    edit(value)
    inputs[key] = json.dumps(value)


# --- one edit per rule, named after what it breaks ------------------------------------------------------------------
# EKS control plane
def _open_endpoint(d):
    _resource(d, "aws:eks/cluster:Cluster")["inputs"]["vpcConfig"]["endpointPublicAccess"] = True


def _no_secrets_encryption(d):
    _resource(d, "aws:eks/cluster:Cluster")["inputs"].pop("encryptionConfig")


def _scheduler_logs_off(d):
    _resource(d, "aws:eks/cluster:Cluster")["inputs"]["enabledClusterLogTypes"].remove("scheduler")


def _creator_keeps_admin(d):
    _resource(d, "aws:eks/cluster:Cluster")["inputs"]["accessConfig"]["bootstrapClusterCreatorAdminPermissions"] = True


def _private_endpoint_without_a_way_in(d):
    # Drop the 443 rules cluster.apiAccess adds to the cluster security group (and their dependents' references).
    cluster = _resource(d, "aws:eks/cluster:Cluster")["urn"]
    d["resources"] = [
        r
        for r in d["resources"]
        if not (r["type"] == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule" and cluster in r["property_dependencies"].get("securityGroupId", []))
    ]


def _no_route_back_to_the_admitted_network(d):
    # Drop the routes to the transit gateway: 443 stays open to 10.100.0.0/16, but the replies go to the NAT gateway.
    d["resources"] = [r for r in d["resources"] if not (r["type"] == "aws:ec2/route:Route" and r["inputs"].get("transitGatewayId"))]


def _network_policies_not_enforced(d):
    cni = _resource(d, "aws:eks/addon:Addon", "cluster-vpc-cni")["inputs"]
    _rewrite_json(cni, "configurationValues", lambda values: values.pop("enableNetworkPolicy"))


def _unsupported_version(d):
    _resource(d, "aws:eks/cluster:Cluster")["inputs"]["version"] = "1.30"


# Nodes
def _imds_v1(d):
    _resource(d, "aws:ec2/launchTemplate:LaunchTemplate")["inputs"]["metadataOptions"]["httpTokens"] = "optional"


def _imds_three_hops_away(d):
    _resource(d, "aws:ec2/launchTemplate:LaunchTemplate")["inputs"]["metadataOptions"]["httpPutResponseHopLimit"] = 3


def _imds_two_hops_away(d):
    _nodeclass(d, "serve")["inputs"]["spec"]["metadataOptions"]["httpPutResponseHopLimit"] = 2


def _volumes_on_aws_managed_key(d):
    _nodeclass(d, "serve")["inputs"]["spec"]["blockDeviceMappings"][0]["ebs"].pop("kmsKeyID")


def _public_node_ips(d):
    _nodeclass(d, "serve")["inputs"]["spec"]["associatePublicIPAddress"] = True


def _access_key_in_user_data(d):
    _nodeclass(d, "serve")["inputs"]["spec"]["userData"] = "#!/bin/bash\nexport AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n"


def _ami_follows_latest(d):
    _nodeclass(d, "serve")["inputs"]["spec"]["amiSelectorTerms"] = [{"alias": "al2023@latest"}]


def _karpenter_unpinned_from_system_nodes(d):
    _release(d, "karpenter")["inputs"]["values"].pop("nodeSelector")


# Accelerator pools, Karpenter, EFA
def _untainted_gpu_pool(d):
    _nodepool(d, "train")["inputs"]["spec"]["template"]["spec"].pop("taints")


def _neuron_devices_left_to_root(d):
    spec = _nodeclass(d, "inf")["inputs"]["spec"]
    spec["userData"] = spec["userData"].replace("device-ownership-from-security-context = true", "device-ownership-from-security-context = false")


def _karpenter_policy_past_iams_quota(d):
    # the controller's inline policy (about 6,400 characters) grown past a role's 10,240 by a copy of itself
    inline = _resource(d, "aws:iam/rolePolicy:RolePolicy", "karpenter-controller")
    _add_like(d, inline, "karpenter-controller-copy")


def _overlay_claiming_gpus_the_nodes_do_not_advertise(d):
    like = _nodepool(d, "serve")
    spec = {
        "requirements": [{"key": "karpenter.sh/nodepool", "operator": "In", "values": ["serve"]}],
        "capacity": {"nvidia.com/gpu": "4"},
    }
    inputs = {"apiVersion": "karpenter.sh/v1alpha1", "kind": "NodeOverlay", "metadata": {"name": "serve-gpu-4"}, "spec": spec}
    _add_like(d, like, "pool-serve-overlay-4", "kubernetes:karpenter.sh/v1alpha1:NodeOverlay", inputs)


def _team_storage_quota_back_to_the_teams_own_budget(d):
    # prod's llm quota with no storage left for the claims the stack makes there (its 1Gi Lustre claim)
    quota = _resource(d, "kubernetes:core/v1:ResourceQuota", "team-llm-quota")["inputs"]["spec"]["hard"]
    quota["requests.storage"] = "0Gi"


def _quota_not_waited_for(d):
    # prod's llm quota as before REL-K8S-006: created or updated without waiting for its status, which admission reads
    _resource(d, "kubernetes:core/v1:ResourceQuota", "team-llm-quota")["inputs"]["metadata"].pop("annotations")


def _uncapped_gpus(d):
    _nodepool(d, "serve")["inputs"]["spec"]["limits"].pop("nvidia.com/gpu")


def _expiring_training_nodes(d):
    _nodepool(d, "train")["inputs"]["spec"]["template"]["spec"]["expireAfter"] = "720h"


def _no_interruption_queue(d):
    _release(d, "karpenter")["inputs"]["values"]["settings"].pop("interruptionQueue")


def _efa_group_without_egress(d):
    _drop(d, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "pool-train-efa-out")


def _non_efa_type_in_efa_pool(d):
    _requirement(_nodepool(d, "train"), "node.kubernetes.io/instance-type")["values"].append("g6e.xlarge")


def _efa_pool_across_zones(d):
    _requirement(_nodepool(d, "train"), "topology.kubernetes.io/zone")["values"].append("us-east-1b")


# FSx for Lustre (in us-east-1a)
def _training_away_from_lustre(d):
    _requirement(_nodepool(d, "train"), "topology.kubernetes.io/zone")["values"] = ["us-east-1b"]


def _lustre_port_open_to_internet(d):
    rule = _resource(d, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "lustre-in-nodes-988")
    rule["inputs"].pop("referencedSecurityGroupId")
    rule["property_dependencies"].pop("referencedSecurityGroupId")
    rule["inputs"]["cidrIpv4"] = "0.0.0.0/0"


def _lustre_on_aws_managed_key(d):
    _resource(d, "aws:fsx/lustreFileSystem:LustreFileSystem")["inputs"].pop("kmsKeyId")


def _lustre_without_final_backup(d):
    _resource(d, "aws:fsx/lustreFileSystem:LustreFileSystem")["inputs"]["skipFinalBackup"] = True


# S3
def _public_bucket(d):
    block = next(r for r in d["resources"] if r["type"] == "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    block["inputs"]["blockPublicPolicy"] = False


def _no_bucket_key(d):
    encryption = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    _resource(d, encryption, "checkpoints")["inputs"]["rules"][0]["bucketKeyEnabled"] = False


def _plain_http_allowed(d):
    _drop(d, "aws:s3/bucketPolicy:BucketPolicy", "datasets")


def _control_plane_logs_on_an_aws_owned_key(d):
    del _resource(d, "aws:cloudwatch/logGroup:LogGroup", "cluster-control-plane")["inputs"]["kmsKeyId"]


def _versioning_suspended(d):
    versioning = _resource(d, "aws:s3/bucketVersioning:BucketVersioning", "artifacts")["inputs"]
    versioning["versioningConfiguration"]["status"] = "Suspended"


def _incomplete_uploads_kept(d):
    lifecycle = _resource(d, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "checkpoints")["inputs"]
    lifecycle["rules"] = [r for r in lifecycle["rules"] if "abortIncompleteMultipartUpload" not in r]


def _force_destroyed_bucket(d):
    _resource(d, "aws:s3/bucket:Bucket", "datasets")["inputs"]["forceDestroy"] = True


def _as_shipped(d):
    """No edit: prod ships this way, and the rule says so (advisory)."""


# IAM and KMS
def _administrator_attached(d):
    attachment = _resource(d, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "cluster-ebs-csi-AmazonEBSCSIDriverPolicy")
    attachment["inputs"]["policyArn"] = "arn:aws:iam::aws:policy/AdministratorAccess"


def _karpenter_node_role_without_its_boundary(d):
    # the deploy roles cannot create such a role (iam:PermissionsBoundary condition); the plan says so before AWS does
    del _resource(d, "aws:iam/role:Role", "karpenter-node")["inputs"]["permissionsBoundary"]


def _pod_role_also_trusts_ec2(d):
    def trust_ec2_too(document):
        document["Statement"][0]["Principal"]["Service"] = ["pods.eks.amazonaws.com", "ec2.amazonaws.com"]

    _rewrite_json(_resource(d, "aws:iam/role:Role", "karpenter-controller")["inputs"], "assumeRolePolicy", trust_ec2_too)


def _team_reaches_every_prefix(d):
    def whole_buckets(document):
        objects = next(s for s in document["Statement"] if s["Sid"] == "TeamObjects")
        objects["Resource"] = [arn.replace("/llm/*", "/*") for arn in objects["Resource"]]

    _rewrite_json(_resource(d, "aws:iam/rolePolicy:RolePolicy", "team-llm-data")["inputs"], "policy", whole_buckets)


def _unrotated_key(d):
    _resource(d, "aws:kms/key:Key", "cluster-secrets")["inputs"]["enableKeyRotation"] = False


def _unprotected_key(d):
    _resource(d, "aws:kms/key:Key", "storage-key")["protect"] = False


# Network
def _ssh_from_anywhere(d):
    https = _resource(d, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "network-endpoints-https")
    ssh = _add_like(d, https, "network-endpoints-ssh")
    ssh["inputs"].update(description="SSH from anywhere", fromPort=22, toPort=22, cidrIpv4="0.0.0.0/0")


def _no_flow_log(d):
    _drop(d, "aws:ec2/flowLog:FlowLog", "network")


def _public_vpc_cidr(d):
    # as the program registers it with such a range: the VPC, and everything derived from its range (the policies'
    # ipBlocks admitting the VPC, the workloads' address blocks), in one consistent edit
    private = _resource(d, "aws:ec2/vpc:Vpc", "network")["inputs"]["cidrBlock"]
    d.update(json.loads(json.dumps(d).replace(f'"{private}"', '"52.10.0.0/16"')))


def _no_default_deny(d):
    _drop(d, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "team-llm-default-deny")


def _no_tenant_guard(d):
    _drop(d, "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding", "tenant-guard-network-policies")


def _tenant_service_accounts_unguarded(d):
    policy = _resource(d, "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy", "tenant-guard-network-policies")
    validation = policy["inputs"]["spec"]["validations"][0]
    validation["expression"] = validation["expression"].replace('"system:serviceaccounts:', '"x-')


# Kubernetes tenancy and RBAC
def _privileged_tenant_namespace(d):
    labels = _resource(d, "kubernetes:core/v1:Namespace", "team-llm-namespace")["inputs"]["metadata"]["labels"]
    labels["pod-security.kubernetes.io/enforce"] = "privileged"


def _quota_without_gpu_cap(d):
    quota = _resource(d, "kubernetes:core/v1:ResourceQuota", "team-llm-quota")["inputs"]
    quota["spec"]["hard"].pop("requests.nvidia.com/gpu")


def _wildcard_verbs(d):
    role = _resource(d, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", "mpi-operator-role")["inputs"]
    role["rules"][1]["verbs"] = ["*"]


# JupyterHub
def _dummy_authenticator(d):
    _release(d, "jupyterhub")["inputs"]["values"]["hub"]["config"]["JupyterHub"]["authenticator_class"] = "dummy"


def _public_hub(d):
    _release(d, "jupyterhub")["inputs"]["values"]["proxy"]["service"]["type"] = "LoadBalancer"


def _home_volumes_deleted_with_claims(d):
    home = _resource(d, "kubernetes:storage.k8s.io/v1:StorageClass", "shared-volumes-crucible-gp3")["inputs"]
    home["reclaimPolicy"] = "Delete"


# Ray, supply chain
def _ray_head_on_load_balancer(d):
    # prod ships no Ray object: a team adds a RayCluster to its namespace, next to its LocalQueue
    head = {
        "serviceType": "LoadBalancer",
        "rayStartParams": {},
        "template": {"spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.49.0"}]}},
    }
    cluster = {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "llm-ray", "namespace": "llm"},
        "spec": {"rayVersion": "2.49.0", "headGroupSpec": head},
    }
    queue = _resource(d, "kubernetes:kueue.x-k8s.io/v1beta2:LocalQueue", "team-llm-local-queue")
    _add_like(d, queue, "team-llm-ray", "kubernetes:ray.io/v1:RayCluster", cluster)


def _public_model_without_authentication(d):
    # prod ships no model: a team exposes a server through an internet-facing ALB with TLS but no authentication
    queue = _resource(d, "kubernetes:kueue.x-k8s.io/v1beta2:LocalQueue", "team-llm-local-queue")
    labels = {"app.kubernetes.io/name": "vllm", "crucible.io/model": "chat"}
    server = {
        "metadata": {"name": "chat", "namespace": "llm"},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "vllm", "image": "vllm/vllm-openai:v0.10.2"}]}},
        },
    }
    _add_like(d, queue, "team-llm-chat", "kubernetes:apps/v1:Deployment", server)
    _add_like(
        d,
        queue,
        "team-llm-chat-service",
        "kubernetes:core/v1:Service",
        {"metadata": {"name": "chat", "namespace": "llm"}, "spec": {"selector": labels, "ports": [{"port": 80}]}},
    )
    annotations = {
        "alb.ingress.kubernetes.io/scheme": "internet-facing",
        "alb.ingress.kubernetes.io/certificate-arn": "arn:aws:acm:us-east-1:111122223333:certificate/12345678-1234-1234-1234-123456789012",
        "alb.ingress.kubernetes.io/listen-ports": '[{"HTTPS": 443}]',
    }
    backend = {"service": {"name": "chat", "port": {"number": 80}}}
    ingress = {
        "metadata": {"name": "chat", "namespace": "llm", "annotations": annotations},
        "spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}]},
    }
    _add_like(d, queue, "team-llm-chat-ingress", "kubernetes:networking.k8s.io/v1:Ingress", ingress)


def _unpinned_chart(d):
    _release(d, "dcgm-exporter")["inputs"].pop("version")


# Kueue
def _pool_shrunk_under_its_quotas(d):
    _nodepool(d, "train")["inputs"]["spec"]["limits"]["nvidia.com/gpu"] = "16"


def _flavor_without_taints(d):
    flavor = _resource(d, "kubernetes:kueue.x-k8s.io/v1beta2:ResourceFlavor", "kueue-flavor-serve")["inputs"]
    flavor["spec"].pop("nodeTaints")


def _preempted_without_checkpointing(d):
    labels = _resource(d, "kubernetes:core/v1:Namespace", "team-llm-namespace")["inputs"]["metadata"]["labels"]
    labels.pop("crucible.io/checkpointing")


# Pulumi resource options
def _unprotected_file_system(d):
    _resource(d, "aws:fsx/lustreFileSystem:LustreFileSystem")["protect"] = False


def _bucket_deleted_before_replacement(d):
    _resource(d, "aws:s3/bucket:Bucket", "checkpoints")["delete_before_replace"] = True


def _unprotected_bucket(d):
    _resource(d, "aws:s3/bucket:Bucket", "checkpoints")["protect"] = False


# Order of creation and destruction: one dependency edge (or the webhook switch) taken away
def _forget(d, subject: dict, *befores: dict) -> None:
    gone = {b["urn"] for b in befores}
    subject["dependencies"] = [u for u in subject["dependencies"] if u not in gone]


def _lustre_races_a_client_rule(d):
    _forget(
        d,
        _resource(d, "aws:fsx/lustreFileSystem:LustreFileSystem"),
        _resource(d, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "lustre-nodes-in-988"),
    )


def _service_webhook_back_on(d):
    _release(d, "aws-load-balancer-controller")["inputs"]["values"]["enableServiceMutatorWebhook"] = True


def _tenant_namespace_outlives_the_controller(d):
    _forget(d, _resource(d, "kubernetes:core/v1:Namespace", "team-llm-namespace"), _release(d, "aws-load-balancer-controller"))


def _flavor_races_kueue(d):
    _forget(d, _resource(d, "kubernetes:kueue.x-k8s.io/v1beta2:ResourceFlavor", "kueue-flavor-serve"), _release(d, "kueue"))


def _node_class_races_karpenter(d):
    _forget(d, _nodeclass(d, "serve"), _release(d, "karpenter"))


def _karpenter_outlives_the_network(d):
    network = _resource(d, "crucible:network:Network")
    under_network = [r for r in d["resources"] if r["parent"] == network["urn"]]
    for name in ("karpenter", "karpenter-crd"):
        _forget(d, _release(d, name), network, *under_network)


def _addon_named_by_string(d):
    """The CloudWatch observability add-on as it was: the cluster named by a plain string, no edge to the cluster."""
    addon = next(r for r in d["resources"] if r["type"] == "aws:eks/addon:Addon" and r["inputs"].get("addonName") == "amazon-cloudwatch-observability")
    cluster = _resource(d, "crucible:cluster:Cluster")
    network = _resource(d, "crucible:network:Network")
    _forget(d, addon, cluster, network, *[r for r in d["resources"] if r["parent"] in (cluster["urn"], network["urn"])])


def _claim_races_its_quota(d):
    """A team's Lustre claim as it was: created in parallel with the quota that counts it."""
    quotas = [r for r in d["resources"] if r["type"] == "kubernetes:core/v1:ResourceQuota"]
    for kind in ("PersistentVolumeClaim", "PersistentVolume"):  # the claim waits for its volume too
        _forget(d, _resource(d, f"kubernetes:core/v1:{kind}", "team-llm-lustre"), *quotas)


def _github_deploy_role(d, condition):
    """A deploy role added to the prod plan with a trust copied from a blog post (the bootstrap's roles are judged
    the same way: tests/test_bootstrap.py)."""
    role = copy.deepcopy(_resource(d, "aws:iam/role:Role", "cluster-control-plane"))
    role["name"], role["urn"] = "copied-deploy", role["urn"].rsplit("::", 1)[0] + "::copied-deploy"
    provider = "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"
    role["inputs"]["assumeRolePolicy"] = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Federated": provider}, "Action": "sts:AssumeRoleWithWebIdentity", "Condition": condition}],
        }
    )
    d["resources"].append(role)


def _github_trust_without_audience(d):
    _github_deploy_role(d, {"StringEquals": {"token.actions.githubusercontent.com:sub": "repo:acme/crucible:environment:prod"}})


def _github_trust_for_every_repository_of_the_org(d):
    _github_deploy_role(
        d,
        {
            "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
            "StringLike": {"token.actions.githubusercontent.com:sub": "repo:acme/*"},
        },
    )


def _github_trust_for_a_branch_not_an_environment(d):
    _github_deploy_role(
        d,
        {
            "StringEquals": {
                "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                "token.actions.githubusercontent.com:sub": "repo:acme/crucible:ref:refs/heads/main",
            }
        },
    )


def _one_preview_role_for_every_environment(d):
    subjects = [f"repo:acme/crucible:environment:preview-{e}" for e in ("dev", "staging", "prod")]
    _github_deploy_role(
        d, {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com", "token.actions.githubusercontent.com:sub": subjects}}
    )


# Every rule that is mandatory in prod, and an edit of the prod plan that breaks it.
EDITS = {
    "sec-eks-001-secrets-encryption": _no_secrets_encryption,
    "sec-eks-002-private-endpoint": _open_endpoint,
    "sec-eks-003-control-plane-logs": _scheduler_logs_off,
    "sec-eks-004-access-entries": _creator_keeps_admin,
    "sec-eks-007-api-access-path": _private_endpoint_without_a_way_in,
    "sec-eks-008-api-return-route": _no_route_back_to_the_admitted_network,
    "sec-eks-006-network-policy-enforcement": _network_policies_not_enforced,
    "sec-node-001-imdsv2-required": _imds_v1,
    "sec-node-002-imds-hop-limit": _imds_three_hops_away,
    "sec-node-003-encrypted-volumes": _volumes_on_aws_managed_key,
    "sec-node-004-no-public-nodes": _public_node_ips,
    "sec-node-005-no-secrets-in-user-data": _access_key_in_user_data,
    "rel-node-006-pinned-amis": _ami_follows_latest,
    "rel-node-007-karpenter-off-karpenter-nodes": _karpenter_unpinned_from_system_nodes,
    "ai-gpu-001-accelerator-taints": _untainted_gpu_pool,
    "rel-k8s-005-claims-within-quota": _team_storage_quota_back_to_the_teams_own_budget,
    "rel-k8s-006-quota-waits-for-status": _quota_not_waited_for,
    "ai-karp-004-time-sliced-pools-simulated": _overlay_claiming_gpus_the_nodes_do_not_advertise,
    "rel-iam-005-policy-size-quotas": _karpenter_policy_past_iams_quota,
    "ai-gpu-002-neuron-devices-for-non-root": _neuron_devices_left_to_root,
    "ai-karp-001-pool-limits": _uncapped_gpus,
    "ai-karp-002-training-disruption": _expiring_training_nodes,
    "ai-karp-003-spot-interruption-handling": _no_interruption_queue,
    "ai-efa-001-efa-security-group": _efa_group_without_egress,
    "ai-efa-002-efa-capable-types": _non_efa_type_in_efa_pool,
    "ai-efa-003-efa-colocation": _efa_pool_across_zones,
    "ai-fsx-001-lustre-in-training-zone": _training_away_from_lustre,
    "ai-fsx-002-lustre-security-group": _lustre_port_open_to_internet,
    "sec-fsx-003-lustre-cmk": _lustre_on_aws_managed_key,
    "data-fsx-004-lustre-durability": _lustre_without_final_backup,
    "sec-s3-001-public-access-block": _public_bucket,
    "sec-s3-002-kms-encryption": _no_bucket_key,
    "sec-s3-003-tls-only": _plain_http_allowed,
    "data-s3-004-versioning": _versioning_suspended,
    "data-s3-006-no-force-destroy": _force_destroyed_bucket,
    "sec-iam-001-no-admin-wildcards": _administrator_attached,
    "sec-iam-002-scoped-trust": _pod_role_also_trusts_ec2,
    "sec-iam-003-tenant-data-scope": _team_reaches_every_prefix,
    "sec-iam-004-permissions-boundary": _karpenter_node_role_without_its_boundary,
    "sec-kms-001-cmk-hygiene": _unrotated_key,
    "data-kms-002-protect-keys": _unprotected_key,
    "sec-log-001-log-group-cmk": _control_plane_logs_on_an_aws_owned_key,
    "sec-net-001-no-world-ingress": _ssh_from_anywhere,
    "sec-net-002-vpc-flow-logs": _no_flow_log,
    "sec-net-003-default-deny-network-policy": _no_default_deny,
    "sec-k8s-001-pod-security-labels": _privileged_tenant_namespace,
    "rel-k8s-002-tenant-quotas": _quota_without_gpu_cap,
    "sec-k8s-003-rbac-least-privilege": _wildcard_verbs,
    "sec-k8s-004-tenant-network-policy-guard": _no_tenant_guard,
    "sec-jh-001-jupyterhub-authenticator": _dummy_authenticator,
    "sec-jh-002-jupyterhub-exposure": _public_hub,
    "data-jh-003-jupyterhub-home-volumes": _home_volumes_deleted_with_claims,
    "sec-ray-001-ray-head-not-exposed": _ray_head_on_load_balancer,
    "sec-srv-001-public-endpoint-tls-and-auth": _public_model_without_authentication,
    "sec-helm-001-supply-chain-pinning": _unpinned_chart,
    "ai-kueue-001-quota-fits-pool-limits": _pool_shrunk_under_its_quotas,
    "ai-kueue-002-flavor-matches-pool": _flavor_without_taints,
    "data-pul-001-protect-stateful": _unprotected_file_system,
    "data-pul-002-no-delete-before-replace": _bucket_deleted_before_replacement,
    "data-pul-003-protect-named-stateful": _unprotected_bucket,
    "rel-ord-001-lustre-after-security-group-rules": _lustre_races_a_client_rule,
    "rel-ord-002-webhook-served-after-webhook": _service_webhook_back_on,
    "rel-ord-003-reconciled-before-controller": _tenant_namespace_outlives_the_controller,
    "rel-ord-004-custom-resources-after-crd-and-operator": _flavor_races_kueue,
    "rel-ord-005-karpenter-pools-after-karpenter": _node_class_races_karpenter,
    "rel-ord-006-controllers-before-network": _karpenter_outlives_the_network,
    "rel-ord-007-eks-addons-after-cluster-and-nodes": _addon_named_by_string,
    "rel-ord-008-claims-after-quota": _claim_races_its_quota,
    "sec-cicd-001-github-oidc-audience": _github_trust_without_audience,
    "sec-cicd-002-github-oidc-repository": _github_trust_for_every_repository_of_the_org,
    "sec-cicd-003-github-oidc-environment": _github_trust_for_a_branch_not_an_environment,
    "sec-cicd-004-github-oidc-one-environment": _one_preview_role_for_every_environment,
}

# Rules the catalogue keeps advisory even in prod (policies/config/prod.json): reported by name, never failing.
ADVISORY_EDITS = {
    "sec-eks-005-supported-version": _unsupported_version,
    "sec-node-002-imds-hop-limit-exceptions": _imds_two_hops_away,
    "data-s3-005-lifecycle": _incomplete_uploads_kept,
    "data-s3-007-object-lock": _as_shipped,  # prod's artifacts bucket has no Object Lock
    "sec-s3-008-access-logging": _as_shipped,  # prod's buckets have no access logging
    "sec-net-004-private-vpc-cidr": _public_vpc_cidr,
    "ai-kueue-003-preemption-checkpoint-contract": _preempted_without_checkpointing,
}

# Rules no edit of a plan can break, one line each with the reason (none today: every rule of the pack judges plan
# inputs or options that a plan document carries).
EXCUSED: dict[str, str] = {}


def _checked(tmp_path, edit) -> tuple[int, dict]:
    """`crucible check` on an edited copy of the prod plan: the exit code and the verdicts JSON."""
    document = report_copy("prod")
    edit(document)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(document))
    out_json = tmp_path / "verdicts.json"
    code = main(["check", str(path), "--json", str(out_json)])
    return code, json.loads(out_json.read_text())


def _reported(verdicts: dict, level: str) -> set[str]:
    return {v["policy"] for v in verdicts["violations"] if v["level"] == level}


def test_every_policy_of_the_pack_has_an_edit_or_an_excuse():
    names = {p.name for p in all_policies()}
    covered = [*EDITS, *ADVISORY_EDITS, *EXCUSED]
    assert len(covered) == len(set(covered)), "a policy is listed twice"
    assert set(covered) == names, f"no fixture: {sorted(names - set(covered))}; not in the pack: {sorted(set(covered) - names)}"


@pytest.mark.parametrize("policy", sorted(EDITS))
def test_check_catches_an_edited_plan_by_policy_name(policy, tmp_path, capsys):
    code, verdicts = _checked(tmp_path, EDITS[policy])
    assert code == 1
    assert f"mandatory {policy}" in capsys.readouterr().out
    assert policy in _reported(verdicts, "mandatory")


# Subtler breaks of rules that once let them through (a review found each passing every policy).
def _team_role_bounded_by_another_policy(d):
    # a boundary, but one the bootstrap did not create (prod allows policy/crucible-boundary/* only)
    _resource(d, "aws:iam/role:Role", "team-llm-data")["inputs"]["permissionsBoundary"] = "arn:aws:iam::111122223333:policy/PowerUserBoundary"


def _team_objects_on_wildcard_buckets(d):
    def wildcard(document):
        next(s for s in document["Statement"] if s["Sid"] == "TeamObjects")["Resource"] = "arn:aws:s3:::crucible-prod-us-east-1-datasets*"

    _rewrite_json(_resource(d, "aws:iam/rolePolicy:RolePolicy", "team-llm-data")["inputs"], "policy", wildcard)


def _plain_http_deny_only_for_uploads(d):
    def narrow(document):
        for statement in document["Statement"]:
            if statement["Effect"] == "Deny":
                statement["Action"] = "s3:PutObject"

    _rewrite_json(_resource(d, "aws:s3/bucketPolicy:BucketPolicy", "datasets")["inputs"], "policy", narrow)


def _tenant_admins_get_cluster_admin(d):
    _resource(d, "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "team-llm-admins")["inputs"]["roleRef"]["name"] = "cluster-admin"


def _role_allows_everything_but_iam(d):
    def not_action(document):
        document["Statement"].append({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})

    _rewrite_json(_resource(d, "aws:iam/rolePolicy:RolePolicy", "team-llm-data")["inputs"], "policy", not_action)


def _kueue_takes_every_namespaces_jobs(d):
    import yaml

    values = _release(d, "kueue")["inputs"]["values"]["managerConfig"]
    config = yaml.safe_load(values["controllerManagerConfigYaml"])
    config.pop("managedJobsNamespaceSelector")  # back to the chart's default: every namespace but kube-system
    values["controllerManagerConfigYaml"] = yaml.safe_dump(config)


def _notebook_egress_reaches_imds(d):
    # The NetworkPolicy way of blocking IMDS (blockWithIptables false), undone by one extra notebook egress rule.
    singleuser = _release(d, "jupyterhub")["inputs"]["values"]["singleuser"]
    singleuser["networkPolicy"]["egress"].append({"to": [{"ipBlock": {"cidr": "169.254.0.0/16"}}]})


def _privileged_notebook_namespace(d):
    labels = _resource(d, "kubernetes:core/v1:Namespace", "jupyterhub-namespace")["inputs"]["metadata"]["labels"]
    labels["pod-security.kubernetes.io/enforce"] = "privileged"


SUBTLE_EDITS = [
    ("sec-jh-002-jupyterhub-exposure", _notebook_egress_reaches_imds),
    ("sec-k8s-001-pod-security-labels", _privileged_notebook_namespace),
    ("sec-iam-003-tenant-data-scope", _team_objects_on_wildcard_buckets),
    ("sec-s3-003-tls-only", _plain_http_deny_only_for_uploads),
    ("sec-k8s-003-rbac-least-privilege", _tenant_admins_get_cluster_admin),
    ("sec-iam-001-no-admin-wildcards", _role_allows_everything_but_iam),
    ("sec-iam-004-permissions-boundary", _team_role_bounded_by_another_policy),
    ("rel-ord-002-webhook-served-after-webhook", _kueue_takes_every_namespaces_jobs),
    ("sec-k8s-004-tenant-network-policy-guard", _tenant_service_accounts_unguarded),
]


@pytest.mark.parametrize("policy, edit", SUBTLE_EDITS, ids=[e.__name__ for _, e in SUBTLE_EDITS])
def test_check_catches_subtle_breaks_by_policy_name(policy, edit, tmp_path, capsys):
    code, verdicts = _checked(tmp_path, edit)
    assert code == 1 and policy in _reported(verdicts, "mandatory")


@pytest.mark.parametrize("policy", sorted(ADVISORY_EDITS))
def test_check_reports_advisory_rules_as_advisory_in_prod(policy, tmp_path):
    code, verdicts = _checked(tmp_path, ADVISORY_EDITS[policy])
    assert code == 0
    assert policy in _reported(verdicts, "advisory")
    assert policy not in _reported(verdicts, "mandatory")


def test_check_names_both_resources_when_one_dependency_edge_is_removed_from_a_saved_plan(tmp_path, capsys):
    # `crucible plan prod --json p.json`, then drop the edge "the file system waits for the nodes' Lustre rule"
    saved = tmp_path / "p.json"
    assert main(["plan", "prod", "--json", str(saved)]) == 0
    document = json.loads(saved.read_text())
    fs = _resource(document, "aws:fsx/lustreFileSystem:LustreFileSystem")
    rule = _resource(document, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "lustre-nodes-in-988")
    assert rule["urn"] in fs["dependencies"]
    fs["dependencies"].remove(rule["urn"])
    saved.write_text(json.dumps(document))
    capsys.readouterr()
    assert main(["check", str(saved)]) == 1
    (line,) = [ln for ln in capsys.readouterr().out.splitlines() if "rel-ord-001" in ln]
    assert line.strip().startswith("mandatory rel-ord-001-lustre-after-security-group-rules")
    assert "LustreFileSystem 'lustre'" in line and "SecurityGroupIngressRule 'lustre-nodes-in-988'" in line
    assert "lustre-nodes-in-1018-1023" not in line  # only the edge that was removed


def test_check_passes_the_unedited_plan(tmp_path):
    path = tmp_path / "prod.json"
    path.write_text(json.dumps(shipped_report("prod")[0]))
    assert main(["check", str(path)]) == 0


def test_check_takes_the_environment_from_the_flag(tmp_path, capsys):
    # a public endpoint restricted to an allow-list: allowed in dev, never in prod
    document = report_copy("prod")
    vpc = _resource(document, "aws:eks/cluster:Cluster")["inputs"]["vpcConfig"]
    vpc.update(endpointPublicAccess=True, publicAccessCidrs=["203.0.113.0/24"])
    path = tmp_path / "p.json"
    path.write_text(json.dumps(document))
    assert main(["check", str(path), "--env", "prod"]) == 1
    assert "mandatory sec-eks-002-private-endpoint" in capsys.readouterr().out
    main(["check", str(path), "--env", "dev"])
    assert "sec-eks-002-private-endpoint" not in capsys.readouterr().out


def test_check_refuses_what_is_not_a_plan(tmp_path, capsys):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"stack": "x"}))
    assert main(["check", str(path), "--env", "prod"]) == 2
    assert "resources" in capsys.readouterr().err


def test_advisories_are_grouped_by_policy_and_mandatory_ones_listed_each():
    from stacks.tools.plan.verdicts import render

    def v(policy, level, name):
        return {"policy": policy, "level": level, "urn": f"urn:pulumi:s::p::t::{name}", "message": f"description\n{name} is wrong"}

    verdicts = {"evaluated": 3, "violations": [v("a", "mandatory", "x"), v("a", "mandatory", "y")] + [v("b", "advisory", n) for n in "pqrst"]}
    lines = render(verdicts)
    assert lines[0] == "3 policies evaluated: 2 mandatory violations, 5 advisory"
    assert lines[1:3] == ["mandatory a [x] x is wrong", "mandatory a [y] y is wrong"]
    assert lines[3:] == ["advisory  b [p, q, r +2] p is wrong"]
