"""AI-FSX-001, AI-FSX-002, SEC-FSX-003, DATA-FSX-004."""

from policy_builder import UNKNOWN, link, res, verdicts
from pools import node_pool

LUSTRE = "aws:fsx/lustreFileSystem:LustreFileSystem"


def subnet(name="private-a", zone="us-east-1a"):
    return res("aws:ec2/subnet:Subnet", name, {"availabilityZone": zone, "vpcId": UNKNOWN})


def lustre(name="fsx", subnet_res=None, groups=(), **inputs):
    base = {
        "deploymentType": "PERSISTENT_2",
        "storageCapacity": 1200,
        "subnetIds": UNKNOWN,
        "kmsKeyId": UNKNOWN,
        "automaticBackupRetentionDays": 7,
        "skipFinalBackup": False,
        "securityGroupIds": [UNKNOWN for _ in groups],
    }
    base.update(inputs)
    fs = res(LUSTRE, name, base)
    if subnet_res:
        link(fs, "subnetIds", subnet_res)
    if groups:
        link(fs, "securityGroupIds", *groups)
    return fs


def dra(fs, events=("NEW", "CHANGED"), bucket=None, name="datasets"):
    link_ = res(
        "aws:fsx/dataRepositoryAssociation:DataRepositoryAssociation",
        name,
        {"fileSystemId": UNKNOWN, "fileSystemPath": "/datasets", "dataRepositoryPath": UNKNOWN, "s3": {"autoExportPolicy": {"events": list(events)}}},
    )
    link(link_, "fileSystemId", fs)
    if bucket:
        link(link_, "dataRepositoryPath", bucket)
    return link_


# AI-FSX-001
def test_lustre_in_the_training_zone_passes():
    sn = subnet()
    assert verdicts("ai-fsx-001-lustre-in-training-zone", [sn, lustre(subnet_res=sn), node_pool()]) == []


def test_lustre_in_another_zone_than_the_training_pool_fires_and_dev_advises():
    sn = subnet("private-b", "us-east-1b")
    resources = [sn, lustre(subnet_res=sn), node_pool()]
    assert verdicts("ai-fsx-001-lustre-in-training-zone", resources) == [("fsx", "mandatory")]
    assert verdicts("ai-fsx-001-lustre-in-training-zone", resources, env="dev") == [("fsx", "advisory")]


def test_lustre_whose_subnet_lives_in_another_stack_is_not_judged():
    assert verdicts("ai-fsx-001-lustre-in-training-zone", [lustre(), node_pool(zones=("us-east-1b",))]) == []


# AI-FSX-002
def lustre_group(name="fsx-sg", cidr="10.0.0.0/16", ports=((988, 988), (1018, 1023))):
    group = res("aws:ec2/securityGroup:SecurityGroup", name, {"vpcId": UNKNOWN})
    rules = [
        link(
            res(
                "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
                f"{name}-{low}",
                {"securityGroupId": UNKNOWN, "ipProtocol": "tcp", "fromPort": low, "toPort": high, "cidrIpv4": cidr},
            ),
            "securityGroupId",
            group,
        )
        for low, high in ports
    ]
    return group, rules


def test_lustre_group_open_to_private_cidrs_passes():
    group, rules = lustre_group()
    assert verdicts("ai-fsx-002-lustre-security-group", [group, *rules, lustre(groups=[group])]) == []


def test_lustre_group_open_to_the_internet_fires_on_the_rules():
    group, rules = lustre_group(cidr="0.0.0.0/0")
    assert verdicts("ai-fsx-002-lustre-security-group", [group, *rules, lustre(groups=[group])]) == [("fsx-sg-1018", "mandatory"), ("fsx-sg-988", "mandatory")]


def test_lustre_group_missing_the_lustre_ports_fires_on_the_file_system():
    group, rules = lustre_group(ports=((988, 988),))
    assert verdicts("ai-fsx-002-lustre-security-group", [group, *rules, lustre(groups=[group])]) == [("fsx", "mandatory")]


def test_cidr_computed_from_the_vpc_is_private_and_an_unexplained_one_cannot_be_judged():
    vpc = res("aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": "10.0.0.0/16"})
    group, rules = lustre_group(cidr=UNKNOWN)
    from_vpc = [link(r, "cidrIpv4", vpc) for r in rules]
    assert verdicts("ai-fsx-002-lustre-security-group", [vpc, group, *from_vpc, lustre(groups=[group])]) == []
    group, rules = lustre_group(cidr=UNKNOWN)
    assert verdicts("ai-fsx-002-lustre-security-group", [group, *rules, lustre(groups=[group])]) == [("", "advisory")]


# SEC-FSX-003
def test_lustre_with_a_customer_key_passes_and_without_fires():
    no_key = lustre("no-key", kmsKeyId=None)
    scratch = lustre("scratch", deploymentType="SCRATCH_2", kmsKeyId=None)
    assert verdicts("sec-fsx-003-lustre-cmk", [lustre(), no_key, scratch]) == [("no-key", "mandatory"), ("scratch", "mandatory")]
    assert verdicts("sec-fsx-003-lustre-cmk", [no_key], env="dev") == [("no-key", "advisory")]


# DATA-FSX-004
def test_durable_lustre_with_an_export_link_passes():
    fs = lustre()
    assert verdicts("data-fsx-004-lustre-durability", [fs, dra(fs)]) == []


def test_scratch_lustre_fires_in_prod_but_not_in_dev():
    fs = lustre(deploymentType="SCRATCH_2", automaticBackupRetentionDays=None, skipFinalBackup=None)
    assert verdicts("data-fsx-004-lustre-durability", [fs, dra(fs)]) == [("fsx", "mandatory")]
    assert verdicts("data-fsx-004-lustre-durability", [fs], env="dev") == []


def test_persistent_lustre_without_backups_final_backup_or_export_fires_each():
    fs = lustre(automaticBackupRetentionDays=None, skipFinalBackup=None)
    assert verdicts("data-fsx-004-lustre-durability", [fs]) == [("fsx", "mandatory")] * 3


def test_export_link_without_changed_events_or_deleting_into_an_unversioned_bucket_fires():
    fs = lustre()
    bucket = res("aws:s3/bucket:Bucket", "datasets", {})
    partial = dra(fs, events=("NEW",), name="partial")
    deletes = dra(fs, events=("NEW", "CHANGED", "DELETED"), bucket=bucket, name="deletes")
    assert verdicts("data-fsx-004-lustre-durability", [fs, bucket, partial, deletes]) == [("deletes", "mandatory"), ("partial", "mandatory")]
    versioning = link(
        res("aws:s3/bucketVersioning:BucketVersioning", "datasets", {"bucket": UNKNOWN, "versioningConfiguration": {"status": "Enabled"}}), "bucket", bucket
    )
    assert verdicts("data-fsx-004-lustre-durability", [fs, bucket, versioning, dra(fs, events=("NEW", "CHANGED", "DELETED"), bucket=bucket)]) == []
