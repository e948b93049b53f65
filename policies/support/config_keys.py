"""Which `crucible:` config key controls what each rule judges (issue 18 A.8): a finding tells the user the key
to change, not only the resource field the program derived from it.

``KEYS[rule_id]`` is the key that controls the rule's subject, or ``None`` when no config key does (the
components always set it, or it is an upstream default the program fixes). ``Ctx.violation`` appends the key to
any message that does not already name one, and says so when no key controls the thing. Messages of rules whose
subject several keys control name the right key themselves. tests/policies/test_policy_config_keys.py checks
that every key here is a key of the spec (stacks/spec, the README's configuration reference).
"""

from __future__ import annotations

import re
from typing import Optional

KEYS: dict[str, Optional[str]] = {
    "SEC-EKS-001": None,
    "SEC-EKS-002": "cluster.endpointPublicAccess",
    "SEC-EKS-003": "cluster.logTypes",
    "SEC-EKS-004": "cluster.adminRoleArns",
    "SEC-EKS-005": "cluster.version",
    "SEC-EKS-006": None,
    "SEC-EKS-007": "cluster.apiAccess",
    "SEC-EKS-008": "network.transitGatewayId",
    "SEC-IAM-001": None,
    "SEC-IAM-002": None,
    "SEC-IAM-003": "teams[].bucketPrefixes",
    "REL-IAM-005": None,
    "SEC-IAM-004": "permissionsBoundary",
    "SEC-KMS-001": None,
    "DATA-KMS-002": "protect",
    "SEC-S3-001": None,
    "SEC-S3-002": None,
    "SEC-S3-003": None,
    "DATA-S3-004": None,
    "DATA-S3-005": "storage.buckets[].abortIncompleteUploadDays",
    "DATA-S3-006": "protect",
    "DATA-S3-007": None,
    "SEC-S3-008": None,
    "SEC-NET-001": None,
    "SEC-NET-002": "network.flowLogs",
    "SEC-NET-003": None,
    "SEC-NET-004": "network.vpcCidr",
    "SEC-K8S-001": None,
    "SEC-K8S-003": None,
    "SEC-K8S-004": None,
    "REL-K8S-002": None,
    "REL-K8S-005": "teams[].storageGib",
    "REL-K8S-006": None,
    "SEC-NODE-001": None,
    "SEC-NODE-002": "pools[].imdsHopLimit",
    "SEC-NODE-003": None,
    "SEC-NODE-004": None,
    "SEC-NODE-005": None,
    "REL-NODE-006": "pools[].amiVersion",
    "REL-NODE-007": "cluster.systemNodeGroup",
    "AI-GPU-001": "pools[].kind",
    "AI-GPU-002": None,
    "AI-KARP-001": "pools[].maxNodes",
    "AI-KARP-002": "pools[].workload",
    "AI-KARP-003": "pools[].capacityTypes",
    "AI-KARP-004": "pools[].gpuSharing",
    "AI-EFA-001": "pools[].efa",
    "AI-EFA-002": "pools[].instanceTypes",
    "AI-EFA-003": "pools[].efa",
    "AI-FSX-001": "storage.lustre.zone",
    "AI-FSX-002": None,
    "SEC-FSX-003": None,
    "DATA-FSX-004": "storage.lustre.backupRetentionDays",
    "AI-KUEUE-001": "teams[].shares",
    "AI-KUEUE-002": None,
    "AI-KUEUE-003": None,
    "SEC-JH-001": "addons.jupyterhub.authenticator",
    "SEC-JH-002": "addons.jupyterhub.exposure",
    "DATA-JH-003": "storage.storageClassName",
    "SEC-RAY-001": None,
    "SEC-SRV-001": "serving.models[].exposure",
    "SEC-HELM-001": None,
    "SEC-LOG-001": None,
    "SEC-CICD-001": None,
    "SEC-CICD-002": None,
    "SEC-CICD-003": None,
    "SEC-CICD-004": None,
    "REL-ORD-001": None,
    "REL-ORD-002": None,
    "REL-ORD-003": None,
    "REL-ORD-004": None,
    "REL-ORD-005": None,
    "REL-ORD-006": None,
    "REL-ORD-007": None,
    "REL-ORD-008": None,
    "DATA-PUL-001": "protect",
    "DATA-PUL-002": None,
    "DATA-PUL-003": "protect",
}

NAMES_A_KEY = re.compile(r"`crucible:[A-Za-z]|no crucible: key")


def with_key(rule_id: str, message: str) -> str:
    """``message`` naming the config key that controls it (unchanged when it already names one)."""
    if not rule_id or NAMES_A_KEY.search(message):
        return message
    key = KEYS.get(rule_id)
    end = "" if message.endswith((".", ")")) else "."
    if key:
        return f"{message}{end} Config key: `crucible:{key}`."
    return f"{message}{end} (no crucible: key controls this; it is what the program or its components always set.)"
