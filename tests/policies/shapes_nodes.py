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
