"""Legitimate configurations the pack must not refuse (issue 18, A.7): a check that fails good systems is worse
than none."""

import json

from policy_builder import k8s, link, res, verdicts
from test_policy_platform import jupyterhub, with_values
from test_policy_s3 import good_bucket

ACCOUNT = "111122223333"


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


# DSSE-KMS: S3 does not support Bucket Keys with dual-layer encryption (S3 user guide, "Using dual-layer
# server-side encryption with AWS KMS keys (DSSE-KMS)": "S3 Bucket Keys aren't supported for DSSE-KMS").
def test_dsse_kms_without_a_bucket_key_passes():
    resources = good_bucket()
    resources[2]["inputs"]["rules"] = [
        {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms:dsse", "kmsMasterKeyId": "arn:aws:kms:us-east-1:111122223333:key/k"}}
    ]
    assert verdicts("sec-s3-002-kms-encryption", resources) == []


def test_sse_kms_without_a_bucket_key_still_fires():
    resources = good_bucket()
    resources[2]["inputs"]["rules"] = [
        {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": "arn:aws:kms:us-east-1:111122223333:key/k"}}
    ]
    assert verdicts("sec-s3-002-kms-encryption", resources) == [("checkpoints", "mandatory")]


# The AWS-documented key policy statement: Principal "*" limited to one account through one service (KMS
# developer guide, condition keys kms:CallerAccount and kms:ViaService; the default key policy of aws/ebs).
ROOT = {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"}


def via_service(condition):
    return {
        "Sid": "ViaEbs",
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"],
        "Resource": "*",
        "Condition": condition,
    }


def key(name, *statements):
    return res("aws:kms/key:Key", name, {"enableKeyRotation": True, "deletionWindowInDays": 30, "policy": doc(ROOT, *statements)}, protect=True)


def test_principal_everyone_limited_by_caller_account_and_via_service_passes():
    documented = key("ebs", via_service({"StringEquals": {"kms:CallerAccount": ACCOUNT, "kms:ViaService": "ec2.us-east-1.amazonaws.com"}}))
    assert verdicts("sec-kms-001-cmk-hygiene", [documented]) == []


def test_principal_everyone_without_both_limits_fires():
    account_only = key("account-only", via_service({"StringEquals": {"kms:CallerAccount": ACCOUNT}}))
    service_only = key("service-only", via_service({"StringEquals": {"kms:ViaService": "ec2.us-east-1.amazonaws.com"}}))
    any_account = key("any-account", via_service({"StringLike": {"kms:CallerAccount": "*", "kms:ViaService": "ec2.*.amazonaws.com"}}))
    if_exists = key("if-exists", via_service({"StringEqualsIfExists": {"kms:CallerAccount": ACCOUNT, "kms:ViaService": "ec2.us-east-1.amazonaws.com"}}))
    assert verdicts("sec-kms-001-cmk-hygiene", [account_only, service_only, any_account, if_exists]) == [
        ("account-only", "mandatory"),
        ("any-account", "mandatory"),
        ("if-exists", "mandatory"),
        ("service-only", "mandatory"),
    ]


# IMDS blocked by the singleuser NetworkPolicy instead of z2jh's privileged iptables init container.
NETPOL_WAY = {"blockWithIptables": False}


def hub_namespace(enforce):
    labels = {"pod-security.kubernetes.io/enforce": enforce, "pod-security.kubernetes.io/warn": "restricted", "pod-security.kubernetes.io/audit": "restricted"}
    return k8s("v1", "Namespace", "jupyterhub", metadata={"labels": labels}, protect=True)


def test_imds_blocked_by_network_policy_passes_in_a_baseline_or_restricted_namespace():
    hub = jupyterhub(with_values(singleuser__cloudMetadata=NETPOL_WAY))
    assert verdicts("sec-jh-002-jupyterhub-exposure", [hub]) == []
    for level in ("baseline", "restricted"):
        assert verdicts("sec-k8s-001-pod-security-labels", [hub, hub_namespace(level)]) == [], level


def test_the_iptables_way_passes_only_in_a_privileged_namespace():
    hub = jupyterhub()  # blockWithIptables: the chart default (true)
    assert verdicts("sec-jh-002-jupyterhub-exposure", [hub]) == []
    assert verdicts("sec-k8s-001-pod-security-labels", [hub, hub_namespace("privileged")]) == []
    assert verdicts("sec-k8s-001-pod-security-labels", [hub, hub_namespace("restricted")]) == [("jupyterhub", "mandatory")]  # no notebook starts


def test_a_privileged_notebook_namespace_without_the_iptables_container_fires():
    hub = jupyterhub(with_values(singleuser__cloudMetadata=NETPOL_WAY))
    assert verdicts("sec-k8s-001-pod-security-labels", [hub, hub_namespace("privileged")]) == [("jupyterhub", "mandatory")]


def test_imds_reachable_by_any_route_fires_when_iptables_is_off():
    shapes = {
        "allow-rule": {"enabled": True, "egressAllowRules": {"cloudMetadataServer": True}},
        "policy-off": {"enabled": False},
        "extra-ipblock": {"enabled": True, "egress": [{"to": [{"ipBlock": {"cidr": "169.254.0.0/16"}}]}]},
        "every-destination-port-80": {"enabled": True, "egress": [{"ports": [{"port": 80, "protocol": "TCP"}]}]},
    }
    hubs = [jupyterhub(with_values(singleuser__cloudMetadata=NETPOL_WAY, singleuser__networkPolicy=p), name=n) for n, p in shapes.items()]
    fired = verdicts("sec-jh-002-jupyterhub-exposure", hubs)
    assert sorted({n for n, _ in fired}) == sorted(shapes)
    excepted = {"enabled": True, "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}]}]}
    dns_only = {"enabled": True, "egress": [{"ports": [{"port": 53, "protocol": "UDP"}]}]}
    fine = [
        jupyterhub(with_values(singleuser__cloudMetadata=NETPOL_WAY, singleuser__networkPolicy=p), name=n) for n, p in (("except", excepted), ("dns", dns_only))
    ]
    assert verdicts("sec-jh-002-jupyterhub-exposure", fine) == []


def test_an_extra_network_policy_that_reopens_imds_to_notebooks_fires():
    hub = jupyterhub(with_values(singleuser__cloudMetadata=NETPOL_WAY))
    ns = hub_namespace("baseline")
    reopen = link(
        k8s(
            "networking.k8s.io/v1",
            "NetworkPolicy",
            "notebooks-egress",
            {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]},
        ),
        "metadata",
        ns,
    )
    assert verdicts("sec-k8s-001-pod-security-labels", [hub, ns, reopen]) == [("notebooks-egress", "mandatory")]


def test_the_hub_behind_an_internal_alb_ingress_passes():
    ingress = {"enabled": True, "ingressClassName": "alb", "annotations": {"alb.ingress.kubernetes.io/scheme": "internal"}}
    assert verdicts("sec-jh-002-jupyterhub-exposure", [jupyterhub(with_values(ingress=ingress))]) == []
