"""Shapes of node misconfigurations (issue 18 A.2): SEC-NODE-003 ... 005, REL-NODE-006."""

from __future__ import annotations

import base64
import gzip

from policy_builder import res
from shapes import firing
from test_policy_nodes import launch_template, node_class

P3 = "sec-node-003-encrypted-volumes"


@firing(P3, "unencrypted-mapping")
def _():
    return [launch_template("plain", blockDeviceMappings=[{"deviceName": "/dev/xvda", "ebs": {"encrypted": "false"}}])], ["plain"]


@firing(P3, "launch-template-without-mappings")
def _():
    lt = launch_template("bare")
    del lt["inputs"]["blockDeviceMappings"]
    return [lt], ["bare"]


@firing(P3, "node-class-without-mappings")
def _():
    nc = node_class("default-volume")
    del nc["inputs"]["spec"]["blockDeviceMappings"]
    return [nc], ["default-volume"]


@firing(P3, "mapping-without-ebs-settings")
def _():
    return [launch_template("no-ebs", blockDeviceMappings=[{"deviceName": "/dev/xvda"}])], ["no-ebs"]


@firing(P3, "node-group-without-launch-template")
def _():
    return [res("aws:eks/nodeGroup:NodeGroup", "no-lt", {"clusterName": "eks", "instanceTypes": ["m7i.large"]})], ["no-lt"]


@firing(P3, "aws-managed-key-on-a-node-class")
def _():
    return [node_class("managed-key", blockDeviceMappings=[{"deviceName": "/dev/xvda", "ebs": {"encrypted": True}}])], ["managed-key"]


P4 = "sec-node-004-no-public-nodes"


@firing(P4, "public-ip-on-node-class")
def _():
    return [node_class("public-ip", associatePublicIPAddress=True)], ["public-ip"]


@firing(P4, "node-class-selects-public-subnets")
def _():
    return [node_class("public-subnets", subnetSelectorTerms=[{"tags": {"kubernetes.io/role/elb": "1"}}])], ["public-subnets"]


@firing(P4, "node-class-selects-subnets-named-public")
def _():
    return [node_class("named-public", subnetSelectorTerms=[{"tags": {"Name": "crucible-public-*"}}])], ["named-public"]


@firing(P4, "subnet-maps-public-ips")
def _():
    return [res("aws:ec2/subnet:Subnet", "nodes-a", {"vpcId": "vpc-1", "cidrBlock": "10.0.0.0/24", "mapPublicIpOnLaunch": True})], ["nodes-a"]


@firing(P4, "node-group-ssh")
def _():
    return [res("aws:eks/nodeGroup:NodeGroup", "ssh", {"clusterName": "eks", "launchTemplate": {"id": "lt"}, "remoteAccess": {"ec2SshKey": "k"}})], ["ssh"]


P5 = "sec-node-005-no-secrets-in-user-data"
SECRET = "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@firing(P5, "plain-base64")
def _():
    return [launch_template("b64", userData=base64.b64encode(SECRET.encode()).decode())], ["b64"]


@firing(P5, "gzip-inside-base64")
def _():
    return [launch_template("gz", userData=base64.b64encode(gzip.compress(b"#!/bin/bash\nexport DB_PASSWORD=hunter2\n")).decode())], ["gz"]


@firing(P5, "mime-part-in-base64")
def _():
    inner = base64.b64encode(b"#!/bin/bash\nexport SECRETACCESSKEY=abc\n").decode()
    mime = f'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="B"\n\n--B\nContent-Type: text/x-shellscript\nContent-Transfer-Encoding: base64\n\n{inner}\n--B--\n'
    return [node_class("mime", userData=mime)], ["mime"]


@firing(P5, "private-key")
def _():
    return [node_class("key", userData="-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n")], ["key"]


@firing(P5, "github-token")
def _():
    return [node_class("token", userData="git clone https://ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8@github.com/acme/x\n")], ["token"]


P6 = "rel-node-006-pinned-amis"


@firing(P6, "alias-latest")
def _():
    return [node_class("latest", amiSelectorTerms=[{"alias": "al2023@latest"}])], ["latest"]


@firing(P6, "name-pattern")
def _():
    return [node_class("pattern", amiSelectorTerms=[{"name": "amazon-eks-node-al2023-x86_64-standard-1.34-*"}])], ["pattern"]


@firing(P6, "ssm-recommended")
def _():
    return [
        node_class("ssm", amiSelectorTerms=[{"ssmParameter": "/aws/service/eks/optimized-ami/1.34/amazon-linux-2023/x86_64/standard/recommended/image_id"}])
    ], ["ssm"]


@firing(P6, "tags-only")
def _():
    return [node_class("tags", amiSelectorTerms=[{"tags": {"team": "platform"}}])], ["tags"]


@firing(P6, "launch-template-resolve-ssm")
def _():
    return [launch_template("lt-ssm", imageId="resolve:ssm:/aws/service/eks/optimized-ami/1.34/amazon-linux-2023/x86_64/standard/recommended/image_id")], [
        "lt-ssm"
    ]


# SEC-NODE-001 / 002: IMDS reachable by IMDSv1 or through extra hops ----------------------------------------------
P1 = "sec-node-001-imdsv2-required"


@firing(P1, "node-class-optional-tokens")
def _():
    return [node_class("optional", metadataOptions={"httpTokens": "optional"})], ["optional"]


@firing(P1, "launch-template-tokens-unset")
def _():
    return [launch_template("unset", metadataOptions={"httpPutResponseHopLimit": 1})], ["unset"]


@firing(P1, "launch-template-metadata-options-omitted")
def _():
    lt = launch_template("omitted")
    del lt["inputs"]["metadataOptions"]
    return [lt], ["omitted"]


P2 = "sec-node-002-imds-hop-limit"


@firing(P2, "node-class-hop-limit")
def _():
    return [node_class("hops", metadataOptions={"httpTokens": "required", "httpPutResponseHopLimit": 3})], ["hops"]


@firing(P2, "launch-template-hop-limit")
def _():
    return [launch_template("lt-hops", metadataOptions={"httpTokens": "required", "httpPutResponseHopLimit": 64})], ["lt-hops"]


@firing(P2, "hop-limit-as-a-string")
def _():
    return [launch_template("string-hops", metadataOptions={"httpTokens": "required", "httpPutResponseHopLimit": "4"})], ["string-hops"]


# SEC-EKS-005: a version outside the supported list, in any spelling ---------------------------------------------
P7 = "sec-eks-005-supported-version"


@firing(P7, "unpinned")
def _():
    return [res("aws:eks/cluster:Cluster", "unpinned", {})], ["unpinned"]


@firing(P7, "old-minor")
def _():
    return [res("aws:eks/cluster:Cluster", "old", {"version": "1.27"})], ["old"]


@firing(P7, "yaml-float-version")
def _():
    return [res("aws:eks/cluster:Cluster", "float", {"version": 1.3})], ["float"]  # `version: 1.30` read as a number


# SEC-FSX-003: Lustre without a customer managed key -------------------------------------------------------------
P8 = "sec-fsx-003-lustre-cmk"


def _lustre(name, **inputs):
    from test_policy_fsx import lustre

    return lustre(name, **inputs)


@firing(P8, "scratch")
def _():
    return [_lustre("scratch", deploymentType="SCRATCH_2")], ["scratch"]


@firing(P8, "key-unset")
def _():
    return [_lustre("no-key", kmsKeyId=None)], ["no-key"]


@firing(P8, "aws-managed-alias")
def _():
    return [_lustre("aws-key", kmsKeyId="arn:aws:kms:us-east-1:111122223333:alias/aws/fsx")], ["aws-key"]


# SEC-LOG-001: a log group CloudWatch Logs cannot use its key for -----------------------------------------------------
P9 = "sec-log-001-log-group-cmk"


def _logs():
    from test_policy_logs import LOGS, group, key

    return LOGS, group, key


@firing(P9, "no-key")
def _():
    _, group, _key = _logs()
    return [group("plain")], ["plain"]


@firing(P9, "key-without-a-logs-statement")
def _():
    _, group, key = _logs()
    k = key("bare")
    return [k, group("bare-group", k)], ["bare-group"]


@firing(P9, "logs-statement-without-the-context-condition")
def _():
    logs, group, key = _logs()
    k = key("open", {a: b for a, b in logs.items() if a != "Condition"})
    return [k, group("open-group", k)], ["open-group"]


@firing(P9, "logs-statement-that-denies")
def _():
    logs, group, key = _logs()
    k = key("deny", {**logs, "Effect": "Deny"})
    return [k, group("deny-group", k)], ["deny-group"]


P10 = "sec-node-002-imds-hop-limit-exceptions"


@firing(P10, "node-class-hop-two")
def _():
    return [node_class("two", metadataOptions={"httpTokens": "required", "httpPutResponseHopLimit": 2})], ["two"]


@firing(P10, "launch-template-hop-two")
def _():
    return [launch_template("lt-two", metadataOptions={"httpTokens": "required", "httpPutResponseHopLimit": 2})], ["lt-two"]


@firing(P10, "hop-two-as-a-string")
def _():
    return [launch_template("str-two", metadataOptions={"httpTokens": "required", "httpPutResponseHopLimit": "2"})], ["str-two"]
