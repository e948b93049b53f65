"""The storage layer as registered: buckets, the storage key, the Lustre file system, its S3 links, its security
group, the CSI add-ons and their roles, and the shared volumes."""

import json

import pytest

from helpers import plan
from stacks.tools.harness import ACCOUNT_ID

BUCKET = "aws:s3/bucket:Bucket"
SIDE = {
    "aws:s3/bucketVersioning:BucketVersioning",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketPolicy:BucketPolicy",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
}
KEY = "aws:kms/key:Key"
FS = "aws:fsx/lustreFileSystem:LustreFileSystem"
DRA = "aws:fsx/dataRepositoryAssociation:DataRepositoryAssociation"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
ADDON = "aws:eks/addon:Addon"
PV = "kubernetes:core/v1:PersistentVolume"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"


@pytest.fixture(scope="module")
def dev():
    return plan("dev")


@pytest.fixture(scope="module")
def prod():
    return plan("prod")


def side_of(run, bucket, token):
    (found,) = [r for r in run.of_type(token) if bucket.urn in r.property_dependencies.get("bucket", [])]
    return found


def test_default_bucket_names_are_the_accounts_own(dev):
    # S3 names are global per partition: a default name carries the caller's account id and lives in the account
    # regional namespace (<prefix>-<account id>-<region>-an), which no other account can create buckets in.
    buckets = dev.of_type(BUCKET)
    assert sorted(b.inputs["bucket"] for b in buckets) == [
        f"crucible-test-artifacts-{ACCOUNT_ID}-us-west-2-an",
        f"crucible-test-checkpoints-{ACCOUNT_ID}-us-west-2-an",
        f"crucible-test-datasets-{ACCOUNT_ID}-us-west-2-an",
    ]
    assert {b.inputs["bucketNamespace"] for b in buckets} == {"account-regional"}


def test_two_accounts_with_the_same_stack_get_different_bucket_names(dev):
    other = plan("dev", account_id="111122223333")
    names = {b.inputs["bucket"] for b in dev.of_type(BUCKET)}
    others = {b.inputs["bucket"] for b in other.of_type(BUCKET)}
    assert len(names) == len(others) == 3 and not names & others
    assert all("-111122223333-us-west-2-an" in n for n in others)


def test_an_explicit_bucket_prefix_is_kept_as_given():
    # Stacks that name their buckets keep exactly the names and inputs they had: no namespace input appears.
    buckets = plan("dev", storage={"bucketPrefix": "acme-ml-research"}).of_type(BUCKET)
    assert sorted(b.inputs["bucket"] for b in buckets) == ["acme-ml-research-artifacts", "acme-ml-research-checkpoints", "acme-ml-research-datasets"]
    assert not any("bucketNamespace" in b.inputs for b in buckets)


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_bucket_carries_every_protection(env, dev, prod):
    run = {"dev": dev, "prod": prod}[env]
    storage_key = run.one(KEY, "storage-key")
    for bucket in run.of_type(BUCKET):
        assert bucket.inputs.get("forceDestroy", False) is False
        pab = side_of(run, bucket, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
        assert all(pab[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
        assert side_of(run, bucket, "aws:s3/bucketVersioning:BucketVersioning").inputs["versioningConfiguration"]["status"] == "Enabled"
        sse = side_of(run, bucket, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
        (rule,) = sse.inputs["rules"]
        assert rule["bucketKeyEnabled"] is True
        assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
        assert storage_key.urn in sse.property_dependencies["rules"]
        policy = json.loads(side_of(run, bucket, "aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
        (deny,) = policy["Statement"]
        assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert deny["Resource"] == [f"arn:aws:s3:::{bucket.inputs['bucket']}", f"arn:aws:s3:::{bucket.inputs['bucket']}/*"]
        rules = {r["id"]: r for r in side_of(run, bucket, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs["rules"]}
        assert rules["abort-incomplete-multipart-uploads"]["abortIncompleteMultipartUpload"]["daysAfterInitiation"] == 7
        assert rules["expire-noncurrent-versions"]["noncurrentVersionExpiration"]["noncurrentDays"] == (7 if env == "dev" else 90)


def test_side_resources_hang_off_the_bucket_urn(dev):
    for bucket in dev.of_type(BUCKET):
        linked = {r.type for r in dev.resources if bucket.urn in r.property_dependencies.get("bucket", [])}
        assert linked == SIDE


def test_lifecycle_age_is_configurable():
    run = plan(
        "dev",
        storage={
            "buckets": [{"name": "datasets", "noncurrentVersionDays": 30, "abortIncompleteUploadDays": 2}],
            "lustre": {"repositories": [{"path": "/datasets", "bucket": "datasets"}]},
        },
    )
    (lifecycle,) = run.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    rules = {r["id"]: r for r in lifecycle.inputs["rules"]}
    assert rules["expire-noncurrent-versions"]["noncurrentVersionExpiration"]["noncurrentDays"] == 30
    assert rules["abort-incomplete-multipart-uploads"]["abortIncompleteMultipartUpload"]["daysAfterInitiation"] == 2


def test_storage_key_rotates_with_an_explicit_policy(prod):
    key = prod.one(KEY, "storage-key")
    assert key.inputs["enableKeyRotation"] is True and key.inputs["deletionWindowInDays"] == 30
    statements = json.loads(key.inputs["policy"])["Statement"]
    assert [s["Principal"] for s in statements] == [{"AWS": "arn:aws:iam::123456789012:root"}]


def test_prod_stateful_resources_are_protected_and_retained(prod):
    stateful = prod.of_type(BUCKET) + [prod.one(KEY, "storage-key"), prod.one(FS)] + prod.of_type(DRA)
    stateful += [r for t in SIDE for r in prod.of_type(t)]
    stateful += prod.of_type(PV) + prod.of_type(PVC) + [prod.one("kubernetes:core/v1:Namespace", "shared-volumes-namespace")]
    assert stateful and all(r.protect and r.retain_on_delete for r in stateful), [r.name for r in stateful if not (r.protect and r.retain_on_delete)]
    assert not any(r.delete_before_replace for r in stateful)


def test_dev_stateful_resources_are_not_protected(dev):
    assert not any(r.protect or r.retain_on_delete for r in dev.of_type(BUCKET) + dev.of_type(FS))


def test_prod_file_system_is_persistent_encrypted_backed_up(prod):
    fs = prod.one(FS)
    i = fs.inputs
    assert (i["deploymentType"], i["storageCapacity"], i["perUnitStorageThroughput"]) == ("PERSISTENT_2", 1200, 250)
    assert i["fileSystemTypeVersion"] == "2.15" and i["storageType"] == "SSD"
    assert i["metadataConfiguration"] == {"mode": "AUTOMATIC"}
    assert i["automaticBackupRetentionDays"] == 14 and i["skipFinalBackup"] is False and i["copyTagsToBackups"] is True
    assert prod.one(KEY, "storage-key").urn in fs.property_dependencies["kmsKeyId"]
    assert "efaEnabled" not in i
    assert fs.protect and fs.retain_on_delete


def test_dev_file_system_is_scratch_without_backups(dev):
    i = dev.one(FS).inputs
    assert i["deploymentType"] == "SCRATCH_2" and i["storageCapacity"] == 1200
    for absent in ("perUnitStorageThroughput", "automaticBackupRetentionDays", "skipFinalBackup", "metadataConfiguration", "kmsKeyId"):
        assert absent not in i
    assert "importPath" not in i and "exportPath" not in i  # linked through associations on Lustre 2.15, as in prod


@pytest.fixture(scope="module")
def efa():
    return plan("prod", storage={"lustre": {"efa": True, "storageCapacityGib": 19200, "metadataMode": "USER_PROVISIONED", "metadataIops": 12000}})


def _rules_between(run, group_urn, peer_urn):
    """{(direction, protocol, from, to)} of the rules on ``group_urn`` that reference ``peer_urn``."""
    found = set()
    for token, direction in ((INGRESS, "in"), (EGRESS, "out")):
        for r in run.of_type(token):
            if group_urn in r.property_dependencies["securityGroupId"] and peer_urn in r.property_dependencies.get("referencedSecurityGroupId", []):
                found.add((direction, r.inputs["ipProtocol"], r.inputs.get("fromPort"), r.inputs.get("toPort")))
    return found


LUSTRE_BOTH_WAYS = {(d, "tcp", low, high) for d in ("in", "out") for low, high in ((988, 988), (1018, 1023))}
ALL_BOTH_WAYS = {("in", "-1", None, None), ("out", "-1", None, None)}


def test_efa_file_system_needs_persistent_2_and_opens_all_traffic_to_itself_and_the_nodes(efa):
    fs = efa.one(FS)
    assert fs.inputs["efaEnabled"] is True
    assert fs.inputs["metadataConfiguration"] == {"mode": "USER_PROVISIONED", "iops": 12000}
    sg = efa.one("aws:ec2/securityGroup:SecurityGroup", "lustre-lustre")
    cluster = efa.one("aws:eks/cluster:Cluster")
    # FSx guide (cannot-create-fs.html): an EFA file system's group allows all traffic to and from itself and the
    # clients' group; the clients' group allows all traffic to and from the file system's group.
    assert _rules_between(efa, sg.urn, sg.urn) == LUSTRE_BOTH_WAYS | ALL_BOTH_WAYS
    assert _rules_between(efa, sg.urn, cluster.urn) == LUSTRE_BOTH_WAYS | ALL_BOTH_WAYS
    assert _rules_between(efa, cluster.urn, sg.urn) == LUSTRE_BOTH_WAYS | ALL_BOTH_WAYS


def test_nodes_security_group_admits_the_lustre_servers_and_reaches_them(prod):
    # FSx guide, "Lustre client VPC security group rules": clients admit TCP 988 and 1018-1023 from the file system's
    # group and send to it on the same ports (LNet connections are opened from both ends).
    sg = prod.one("aws:ec2/securityGroup:SecurityGroup", "lustre-lustre")
    cluster = prod.one("aws:eks/cluster:Cluster")  # its cluster security group is the one every node carries
    assert _rules_between(prod, cluster.urn, sg.urn) == LUSTRE_BOTH_WAYS
    for pool in prod.of_type("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"):
        assert cluster.urn in pool.property_dependencies["spec"]  # Karpenter nodes select the cluster security group


@pytest.mark.parametrize("which", ["prod", "efa"])
def test_file_system_waits_for_every_rule_of_both_sides(which, prod, efa):
    run = {"prod": prod, "efa": efa}[which]
    sg = run.one("aws:ec2/securityGroup:SecurityGroup", "lustre-lustre")
    rules = [
        r.urn
        for token in (INGRESS, EGRESS)
        for r in run.of_type(token)
        if sg.urn in r.property_dependencies["securityGroupId"] + r.property_dependencies.get("referencedSecurityGroupId", [])
    ]
    assert len(rules) == (12 if which == "prod" else 18)
    assert set(rules) <= set(run.one(FS).dependencies)


def test_repository_associations_link_paths_to_buckets_with_import_and_export_events(prod):
    fs = prod.one(FS)
    buckets = {b.inputs["tags"]["crucible:bucket"]: b for b in prod.of_type(BUCKET)}
    links = {d.inputs["fileSystemPath"]: d for d in prod.of_type(DRA)}
    assert set(links) == {"/datasets", "/checkpoints"}
    for path, dra in links.items():
        bucket = buckets[path.strip("/")]
        assert dra.inputs["dataRepositoryPath"] == f"s3://{bucket.inputs['bucket']}/"
        assert fs.urn in dra.property_dependencies["fileSystemId"] and bucket.urn in dra.property_dependencies["dataRepositoryPath"]
        assert dra.inputs["s3"]["autoImportPolicy"]["events"] == ["NEW", "CHANGED", "DELETED"]
        assert dra.inputs["s3"]["autoExportPolicy"]["events"] == ["NEW", "CHANGED", "DELETED"]
        assert dra.inputs["deleteDataInFilesystem"] is False


def test_events_and_prefix_are_configurable():
    run = plan(
        "prod",
        storage={
            "lustre": {"repositories": [{"path": "/ckpt", "bucket": "checkpoints", "prefix": "runs/", "importEvents": [], "exportEvents": ["NEW", "CHANGED"]}]}
        },
    )
    (dra,) = run.of_type(DRA)
    assert dra.inputs["dataRepositoryPath"] == f"s3://crucible-test-checkpoints-{ACCOUNT_ID}-us-east-1-an/runs/"
    assert "autoImportPolicy" not in dra.inputs["s3"] and dra.inputs["s3"]["autoExportPolicy"]["events"] == ["NEW", "CHANGED"]


def test_deleted_events_are_exported_only_to_versioned_buckets():
    from components.storage import export_events_allowed

    assert export_events_allowed(["NEW", "CHANGED", "DELETED"], bucket_versioned=True) is None
    assert "versioned bucket" in export_events_allowed(["DELETED"], bucket_versioned=False)
    assert export_events_allowed(["NEW", "CHANGED"], bucket_versioned=False) is None


def test_fsx_can_use_the_storage_key_through_a_grant_to_its_s3_role(prod):
    grant = prod.one("aws:kms/grant:Grant")
    assert grant.inputs["granteePrincipal"].startswith(
        "arn:aws:iam::123456789012:role/aws-service-role/s3.data-source.lustre.fsx.amazonaws.com/AWSServiceRoleForFSxS3Access_fs-"
    )
    assert {d.urn for d in prod.of_type(DRA)} <= set(grant.dependencies)


def test_security_group_allows_lustre_ports_from_the_nodes_and_itself_only(prod):
    sg = prod.one("aws:ec2/securityGroup:SecurityGroup", "lustre-lustre")
    fs = prod.one(FS)
    assert sg.urn in fs.property_dependencies["securityGroupIds"]
    cluster = prod.one("aws:eks/cluster:Cluster")
    for token in (INGRESS, EGRESS):
        rules = [r for r in prod.of_type(token) if sg.urn in r.property_dependencies["securityGroupId"]]
        assert sorted((r.inputs["fromPort"], r.inputs["toPort"]) for r in rules) == [(988, 988), (988, 988), (1018, 1023), (1018, 1023)]
        assert all(r.inputs["ipProtocol"] == "tcp" and "cidrIpv4" not in r.inputs and "cidrIpv6" not in r.inputs for r in rules)
        sources = [r.property_dependencies["referencedSecurityGroupId"] for r in rules]
        assert sorted(s[0] == sg.urn for s in sources) == [False, False, True, True]
        assert all(s[0] in (sg.urn, cluster.urn) for s in sources)  # itself, or the cluster security group


def test_file_system_sits_in_the_private_subnet_of_its_zone(prod):
    fs = prod.one(FS)
    (subnet_urn,) = fs.property_dependencies["subnetIds"]
    subnet = prod.by_urn(subnet_urn)
    assert subnet.inputs["availabilityZone"] == "us-east-1a" and subnet.inputs.get("mapPublicIpOnLaunch") is not True
    zone_b = plan("prod", storage={"lustre": {"zone": "us-east-1b"}})
    (subnet_b,) = zone_b.one(FS).property_dependencies["subnetIds"]
    assert zone_b.by_urn(subnet_b).inputs["availabilityZone"] == "us-east-1b"


def test_csi_addons_with_pod_identity_roles(prod):
    addons = {a.inputs["addonName"]: a for a in prod.of_type(ADDON)}
    fsx, s3 = addons["aws-fsx-csi-driver"], addons["aws-mountpoint-s3-csi-driver"]
    assert [a["serviceAccount"] for a in fsx.inputs["podIdentityAssociations"]] == ["fsx-csi-controller-sa"]
    assert [a["serviceAccount"] for a in s3.inputs["podIdentityAssociations"]] == ["s3-csi-driver-sa"]
    assert json.loads(s3.inputs["configurationValues"]) == {"node": {"tolerateAllTaints": True}}
    roles = {r.name: r for r in prod.of_type("aws:iam/role:Role")}
    for name in ("storage-drivers-fsx-csi", "storage-drivers-s3-csi"):
        trust = json.loads(roles[name].inputs["assumeRolePolicy"])
        assert trust["Statement"][0]["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    # associated through the add-ons, not separately
    assert not [p for p in prod.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation") if "csi" in p.name]


def test_driver_policies_are_least_privilege(prod):
    policies = {p.name: json.loads(p.inputs["policy"]) for p in prod.of_type("aws:iam/rolePolicy:RolePolicy")}
    fsx = policies["storage-drivers-fsx-csi"]["Statement"]
    assert [s["Action"] for s in fsx] == [["fsx:DescribeFileSystems"]]
    s3 = {s["Sid"]: s for s in policies["storage-drivers-s3-csi"]["Statement"]}
    datasets = f"arn:aws:s3:::crucible-test-datasets-{ACCOUNT_ID}-us-east-1-an"
    assert s3["ListMountedBuckets"]["Resource"] == [datasets] and s3["ListMountedBuckets"]["Action"] == ["s3:ListBucket"]
    assert s3["ReadMountedObjects"]["Resource"] == [f"{datasets}/*"] and s3["ReadMountedObjects"]["Action"] == ["s3:GetObject"]
    assert s3["DecryptWithStorageKey"]["Resource"].startswith("arn:aws:kms:") and s3["DecryptWithStorageKey"]["Action"] == ["kms:Decrypt"]
    assert not any("*" in str(s.get("Action")) for s in s3.values())


def test_lustre_volume_and_claim(prod):
    pv = next(r for r in prod.of_type(PV) if r.inputs["metadata"]["name"] == "crucible-lustre")
    spec = pv.inputs["spec"]
    fs = prod.one(FS)
    assert spec["accessModes"] == ["ReadWriteMany"] and spec["persistentVolumeReclaimPolicy"] == "Retain"
    assert spec["storageClassName"] == "" and spec["capacity"] == {"storage": "1200Gi"}
    assert spec["csi"]["driver"] == "fsx.csi.aws.com" and spec["csi"]["volumeHandle"].startswith("fs-")
    assert spec["csi"]["volumeAttributes"] == {"dnsname": fs.outputs["dnsName"], "mountname": fs.outputs["mountName"]}
    assert spec["claimRef"] == {"namespace": "crucible-data", "name": "lustre"}
    pvc = next(r for r in prod.of_type(PVC) if r.inputs["metadata"]["name"] == "lustre")
    assert pvc.inputs["metadata"]["namespace"] == "crucible-data"
    assert pvc.inputs["spec"] == {
        "accessModes": ["ReadWriteMany"],
        "storageClassName": "",
        "volumeName": "crucible-lustre",
        "resources": {"requests": {"storage": "1200Gi"}},
    }
    addons = {a.inputs["addonName"]: a.urn for a in prod.of_type(ADDON)}
    assert addons["aws-fsx-csi-driver"] in pv.dependencies


def test_read_only_s3_dataset_volume(prod):
    pv = next(r for r in prod.of_type(PV) if r.inputs["metadata"]["name"] == "crucible-s3-datasets")
    spec = pv.inputs["spec"]
    assert spec["accessModes"] == ["ReadOnlyMany"] and spec["csi"]["driver"] == "s3.csi.aws.com" and spec["csi"]["readOnly"] is True
    assert spec["csi"]["volumeAttributes"] == {"bucketName": f"crucible-test-datasets-{ACCOUNT_ID}-us-east-1-an"}
    assert "read-only" in spec["mountOptions"] and "region us-east-1" in spec["mountOptions"]
    pvc = next(r for r in prod.of_type(PVC) if r.inputs["metadata"]["name"] == "s3-datasets")
    assert pvc.inputs["spec"]["accessModes"] == ["ReadOnlyMany"] and pvc.inputs["spec"]["volumeName"] == "crucible-s3-datasets"


def test_user_volume_storage_class(prod):
    sc = prod.one("kubernetes:storage.k8s.io/v1:StorageClass")
    i = sc.inputs
    assert i["metadata"]["name"] == "crucible-gp3" and i["provisioner"] == "ebs.csi.aws.com"
    assert i["parameters"]["type"] == "gp3" and i["parameters"]["encrypted"] == "true"
    assert i["reclaimPolicy"] == "Retain" and i["volumeBindingMode"] == "WaitForFirstConsumer"


def test_outputs_tell_the_platform_layer_how_to_mount(prod):
    out = prod.outputs["storage"]
    assert out["namespace"] == "crucible-data" and out["storageClassName"] == "crucible-gp3"
    assert out["lustre"]["fileSystemId"].startswith("fs-") and out["lustre"]["pvName"] == "crucible-lustre" and out["lustre"]["pvcName"] == "lustre"
    assert out["lustre"]["dnsName"] and out["lustre"]["mountName"] and out["lustre"]["zone"] == "us-east-1a"
    assert set(out["buckets"]) == {"datasets", "checkpoints", "artifacts"}
    assert out["buckets"]["datasets"]["arn"] == f"arn:aws:s3:::crucible-test-datasets-{ACCOUNT_ID}-us-east-1-an"
    assert out["readOnlyClaims"] == {"datasets": "s3-datasets"}
    assert out["lustreStartupTaint"] == {"key": "fsx.csi.aws.com/agent-not-ready", "effect": "NoExecute"}


def test_storage_components_are_top_level_storage_layer_components(prod):
    tops = {r.type for r in prod.resources if r.type.startswith("crucible:storage:")}
    assert tops == {
        "crucible:storage:EncryptionKey",
        "crucible:storage:Buckets",
        "crucible:storage:Lustre",
        "crucible:storage:StorageDrivers",
        "crucible:storage:SharedVolumes",
    }


def test_without_lustre_no_file_system_no_fsx_driver():
    run = plan("dev", storage={"lustre": {"enabled": False}})
    assert not run.of_type(FS) and not run.of_type(DRA)
    assert "aws-fsx-csi-driver" not in {a.inputs["addonName"] for a in run.of_type(ADDON)}
    assert "lustre" not in run.outputs["storage"]


def test_growing_the_file_system_replaces_no_claim_bound_to_it():
    """A larger storageCapacityGib (or another throughput tier) updates the file system in place; the static claims
    bound to it (shared, hub, team) keep the size they were created with: Kubernetes refuses to resize a claim without
    a StorageClass ("only dynamically provisioned pvc can be resized"), pulumi-kubernetes would replace it on a spec
    change (stacks/tools/plan/replacement.py), and a protected claim cannot be replaced. The PersistentVolume's
    capacity follows the file system (mutable in place)."""
    from stacks.tools.plan.diff import diff_plans

    def planned(capacity: int) -> dict:
        return plan(
            "dev",
            pools=[
                {"name": "train", "kind": "gpu", "workload": "training", "instanceTypes": ["p5.48xlarge"], "efa": True, "zones": ["us-west-2a"], "maxNodes": 2},
                {"name": "cpu", "kind": "cpu", "workload": "interactive", "instanceTypes": ["m7i.2xlarge"], "maxNodes": 2},
            ],
            teams=[{"name": "research", "adminGroups": ["research-admins"], "memberGroups": ["research-users"], "shares": {"train": 100}}],
            addons={"jupyterhub": {"enabled": True}},
            storage={"lustre": {"deploymentType": "PERSISTENT_2", "storageCapacityGib": capacity, "perUnitStorageThroughput": 250}},
        ).to_json()

    before, after = planned(2400), planned(4800)
    changes = diff_plans(before, after).changes
    assert [(c.type, c.name, c.replaces) for c in changes if c.kind in ("removed", "replaced")] == []
    volumes = {c.name: c for c in changes if c.type == "kubernetes:core/v1:PersistentVolume"}
    assert volumes and all(c.kind == "updated" and c.fields == ["spec.capacity.storage"] for c in volumes.values())
