"""Worker nodes: IMDS, volume encryption, exposure, user data, AMI pinning and where the Karpenter controller
runs (SEC-NODE-001 ... SEC-NODE-005, REL-NODE-006, REL-NODE-007).

Nodes come from launch templates (managed node groups) and Karpenter EC2NodeClasses; the same field has a
different spelling in each (``ebs.encrypted`` is the string "true" in a launch template, a boolean in an
EC2NodeClass) and a different default (an EC2NodeClass defaults to IMDSv2 and hop limit 1, a launch template
leaves IMDSv1 on).
"""

from __future__ import annotations

import base64
import binascii
import gzip
import re

from pulumi_policy import EnforcementLevel

from policies.support import helm
from policies.support.rule import Ctx, Res, Stack, resource_policy, stack_policy
from policies.support.tokens import (
    EBS_ENCRYPTION_BY_DEFAULT,
    EC2_NODE_CLASS,
    EKS_CLUSTER,
    EKS_FARGATE_PROFILE,
    EKS_NODE_GROUP,
    LAUNCH_TEMPLATE,
    SUBNET,
    any_of,
)
from policies.support.values import as_dict, as_list, dig, flag, is_set, known, number, text

NODE_TEMPLATES = any_of(LAUNCH_TEMPLATE, EC2_NODE_CLASS)
POOL_LABEL = "crucible.io/pool"
PUBLIC_LB_SUBNET_TAG = "kubernetes.io/role/elb"


def _metadata_options(node: Res) -> dict:
    path = ("spec", "metadataOptions") if EC2_NODE_CLASS(node.type) else ("metadataOptions",)
    return as_dict(node.get(*path))


def _pool_name(node: Res) -> str:
    """The pool a node template belongs to: its ``crucible.io/pool`` label or tag, else its own name."""
    for candidate in (node.labels.get(POOL_LABEL), node.get("spec", "tags", POOL_LABEL), node.tags.get(POOL_LABEL)):
        if isinstance(candidate, str):
            return candidate
    return node.k8s_name or node.name


# SEC-NODE-001 --------------------------------------------------------------------------------------------------
def _imdsv2(node: Res, ctx: Ctx) -> None:
    tokens = text(_metadata_options(node).get("httpTokens"))
    if EC2_NODE_CLASS(node.type):
        if tokens not in (None, "required"):  # Karpenter's default is "required"
            ctx.violation(node, f'spec.metadataOptions.httpTokens is {tokens!r}; set it to "required" (IMDSv2 only).')
    elif tokens != "required":
        ctx.violation(
            node,
            f'metadataOptions.httpTokens is {tokens or "unset (EC2 then allows IMDSv1)"}; set it to "required" so '
            "the node's role credentials are only reachable with IMDSv2 session tokens.",
        )


SEC_NODE_001 = resource_policy(
    rule_id="SEC-NODE-001",
    slug="imdsv2-required",
    description="Nodes require IMDSv2 session tokens, closing the SSRF path to the node role's credentials that IMDSv1 leaves open.",
    applies_to=NODE_TEMPLATES,
    checks=[_imdsv2],
    anchor="CKV_AWS_79; EKS BPG security/iam: restrict access to the instance profile",
)


# SEC-NODE-002 --------------------------------------------------------------------------------------------------
def _hop_limit(node: Res) -> float:
    value = number(_metadata_options(node).get("httpPutResponseHopLimit"))
    return 1.0 if value is None else value  # both EC2NodeClass and launch template default to 1


def _hop_limit_max(node: Res, ctx: Ctx) -> None:
    limit = _hop_limit(node)
    if limit > 2:
        ctx.violation(
            node,
            f"the IMDS hop limit is {limit:g}, which lets every pod reach the node role's credentials; set "
            "`crucible:pools[].imdsHopLimit` to 1 (or 2 for a pool whose pods must call IMDS).",
        )


SEC_NODE_002 = resource_policy(
    rule_id="SEC-NODE-002",
    slug="imds-hop-limit",
    description="The IMDS response hop limit is at most 2, so containers cannot reach the instance metadata service through extra network hops.",
    applies_to=NODE_TEMPLATES,
    checks=[_hop_limit_max],
    anchor="CKV_AWS_341; EKS BPG security/iam",
)


def _hop_limit_exceptions(node: Res, ctx: Ctx) -> None:
    if _hop_limit(node) == 2 and _pool_name(node) not in ctx.setting("exceptionPools"):
        ctx.violation(
            node,
            f"pool {_pool_name(node)!r} uses IMDS hop limit 2, so its pods can reach the node role's credentials; "
            "set `crucible:pools[].imdsHopLimit: 1`, or list the pool in this policy's exceptionPools if its pods "
            "really need IMDS.",
        )


SEC_NODE_002_EXCEPTIONS = resource_policy(
    rule_id="SEC-NODE-002",
    slug="imds-hop-limit-exceptions",
    description="A hop limit of 2 (pods can reach IMDS) is an explicit, named exception; every other pool keeps hop limit 1.",
    applies_to=NODE_TEMPLATES,
    checks=[_hop_limit_exceptions],
    level=EnforcementLevel.ADVISORY,
    settings={
        "exceptionPools": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": "Pools (crucible.io/pool) allowed hop limit 2.",
        }
    },
    anchor="CKV_AWS_341",
)


# SEC-NODE-003 --------------------------------------------------------------------------------------------------
def _volumes_encrypted(node: Res, ctx: Ctx) -> None:
    if EBS_ENCRYPTION_BY_DEFAULT(node.type):
        if flag(node.get("enabled")) is False:
            ctx.violation(node, "account-wide EBS encryption by default is being turned off; set enabled = true.")
        return
    if EKS_NODE_GROUP(node.type):
        if not is_set(node.get("launchTemplate")):
            ctx.violation(
                node,
                "has no launch template, so its volumes take EKS's default template: unencrypted unless the account "
                "encrypts EBS by default, never with a customer managed key; give it a launch template with "
                "encrypted blockDeviceMappings.",
            )
        return
    is_node_class = EC2_NODE_CLASS(node.type)
    raw_mappings = node.get("spec", "blockDeviceMappings") if is_node_class else node.get("blockDeviceMappings")
    known(raw_mappings)
    mappings = as_list(raw_mappings)
    key_field = "kmsKeyID" if is_node_class else "kmsKeyId"
    if not mappings:
        # The block the rule inspects is absent: the defaults decide, and they are not what production needs.
        if not is_node_class:
            ctx.violation(
                node,
                "states no blockDeviceMappings, so the root volume takes the AMI's mapping: unencrypted unless the "
                'account encrypts EBS by default; set blockDeviceMappings[].ebs.encrypted = "true" and kmsKeyId.',
            )
        elif ctx.setting("requireCmk"):
            ctx.violation(
                node,
                "states no spec.blockDeviceMappings, so Karpenter's default root volume is encrypted with the AWS "
                "managed key; this environment requires a customer managed key: set blockDeviceMappings[].ebs.kmsKeyID.",
            )
        return
    for mapping in mappings:
        if not isinstance(mapping, dict):
            continue
        device = text(mapping.get("deviceName")) or "?"
        ebs = as_dict(mapping.get("ebs"))
        if not ebs:
            if not is_set(mapping.get("virtualName")) and not is_set(mapping.get("noDevice")) and not is_node_class:
                ctx.violation(node, f"block device {device} has no ebs settings, so it takes the AMI's (unencrypted) ones; set ebs.encrypted.")
            continue  # instance store
        if flag(ebs.get("encrypted")) is not True:
            ctx.violation(
                node,
                f"EBS volume {device} is not encrypted; set blockDeviceMappings[].ebs.encrypted = "
                + ("true." if is_node_class else '"true" (the launch template takes a string).'),
            )
        elif ctx.setting("requireCmk") and not is_set(ebs.get(key_field)):
            ctx.violation(
                node,
                f"EBS volume {device} is encrypted with the AWS managed key; this environment requires a customer "
                f"managed key: set blockDeviceMappings[].ebs.{key_field}.",
            )


SEC_NODE_003 = resource_policy(
    rule_id="SEC-NODE-003",
    slug="encrypted-volumes",
    description="Node EBS volumes (root, data, image cache) are encrypted -- with a customer managed key in "
    "production -- and account-wide encryption by default stays on.",
    applies_to=any_of(NODE_TEMPLATES, EBS_ENCRYPTION_BY_DEFAULT, EKS_NODE_GROUP),
    checks=[_volumes_encrypted],
    settings={
        "requireCmk": {
            "type": "boolean",
            "default": True,
            "description": "Require a customer managed KMS key on node volumes (prod).",
        }
    },
    anchor="CKV_AWS_8, CKV_AWS_3, CKV_AWS_106, CKV_AWS_189",
)


# SEC-NODE-004 --------------------------------------------------------------------------------------------------
def _not_public(node: Res, ctx: Ctx) -> None:
    if SUBNET(node.type):
        if flag(node.get("mapPublicIpOnLaunch")) and str(node.tags.get(PUBLIC_LB_SUBNET_TAG, "")) != "1":
            ctx.violation(
                node,
                "instances launched here get public IPs (mapPublicIpOnLaunch = true); node subnets must be private: "
                "set mapPublicIpOnLaunch = false (only public load-balancer subnets, tagged kubernetes.io/role/elb, "
                "may differ).",
            )
    elif EC2_NODE_CLASS(node.type):
        if flag(node.get("spec", "associatePublicIPAddress")):
            ctx.violation(node, "spec.associatePublicIPAddress is true; set it to false (nodes live in private subnets).")
        for index, term in enumerate(as_list(node.get("spec", "subnetSelectorTerms"))):
            tags = as_dict(term.get("tags")) if isinstance(term, dict) else {}
            public = [f"{k}: {v}" for k, v in tags.items() if k == PUBLIC_LB_SUBNET_TAG or "public" in f"{k}={v}".lower()]
            # An id term cannot be a wildcard: the CRD's pattern subnet-[0-9a-z]+ refuses "*" (karpenter.k8s.aws_ec2nodeclasses
            # .yaml), and an id computed from a Subnet resource is unknown at first preview -- reading it would make the rule
            # say it "can't run" for nothing.
            if public or tags.get("*") == "*":
                ctx.violation(
                    node,
                    f"subnetSelectorTerms[{index}] selects public subnets ({', '.join(public) or 'every subnet'}); "
                    "select the private subnets by id or by their own tag.",
                )
    elif LAUNCH_TEMPLATE(node.type):
        for nic in as_list(node.get("networkInterfaces")):
            if isinstance(nic, dict) and flag(nic.get("associatePublicIpAddress")):
                ctx.violation(node, 'a network interface sets associatePublicIpAddress = "true"; remove it (private nodes).')
                break
    elif EKS_NODE_GROUP(node.type):
        if is_set(node.get("remoteAccess")):
            ctx.violation(
                node,
                "remoteAccess opens SSH to the nodes; remove it and use SSM Session Manager (AmazonSSMManagedInstanceCore) for break-glass access.",
            )


SEC_NODE_004 = resource_policy(
    rule_id="SEC-NODE-004",
    slug="no-public-nodes",
    description="Worker nodes are not reachable from the internet: private subnets, no public IPs, no SSH remote access on node groups.",
    applies_to=any_of(SUBNET, LAUNCH_TEMPLATE, EC2_NODE_CLASS, EKS_NODE_GROUP),
    checks=[_not_public],
    anchor="CKV_AWS_130, CKV_AWS_88, CKV_AWS_100; EKS BPG security/hosts",
)


# SEC-NODE-005 --------------------------------------------------------------------------------------------------
_SECRETS = (
    ("an AWS access key id", re.compile(r"(?<![A-Z0-9])(AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")),
    ("an AWS secret access key", re.compile(r"(?i)(aws_secret_access_key|secretaccesskey|aws[_-]?secret[_-]?key|aws_session_token)")),
    ("a password", re.compile(r"(?i)(\b|_)(password|passwd|pwd)\s*['\"]?\s*[=:]")),
    ("a private key", re.compile(r"-----BEGIN ([A-Z]+ )?PRIVATE KEY-----")),
    ("a token", re.compile(r"(?i)\b(gh[pousr]_[A-Za-z0-9]{30,}|xox[abpr]-[A-Za-z0-9-]{10,}|(api|auth|bearer)[_-]?token\s*['\"]?\s*[=:])")),
)


def _decoded(user_data: str) -> str:
    """User data as the instance reads it: base64 (launch templates), gzip inside it, and base64 MIME parts."""
    try:
        data = base64.b64decode(user_data, validate=True)
    except (binascii.Error, ValueError):
        data = user_data.encode()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except OSError:
            pass
    content = data.decode("utf-8", errors="replace")
    parts = re.findall(r"(?is)Content-Transfer-Encoding:\s*base64\s*\n\s*\n([A-Za-z0-9+/=\s]+)", content)
    for part in parts:
        try:
            content += "\n" + base64.b64decode("".join(part.split())).decode("utf-8", errors="replace")
        except (binascii.Error, ValueError):
            pass
    return content


def _user_data(node: Res, ctx: Ctx) -> None:
    raw = text(node.get("spec", "userData") if EC2_NODE_CLASS(node.type) else node.get("userData"))
    if not raw:
        return
    content = _decoded(raw) + "\n" + raw
    found = [what for what, pattern in _SECRETS if pattern.search(content)]
    if found:
        ctx.violation(
            node,
            f"user data contains {' and '.join(found)}; user data is readable by anyone who can describe the "
            "instance or reach IMDS -- fetch secrets at boot from Secrets Manager/SSM with the node role instead.",
        )


SEC_NODE_005 = resource_policy(
    rule_id="SEC-NODE-005",
    slug="no-secrets-in-user-data",
    description="Node user data carries no credentials (access keys, secret keys, passwords): it is readable through the EC2 API and IMDS.",
    applies_to=NODE_TEMPLATES,
    checks=[_user_data],
    anchor="CKV_AWS_46",
)


# REL-NODE-006 --------------------------------------------------------------------------------------------------
def _unpinned_term(term: object) -> str | None:
    """Why an amiSelectorTerms entry follows new AMI releases (None: it names one release)."""
    if not isinstance(term, dict):
        return None
    alias = text(term.get("alias"))
    if alias is not None:
        return None if "@" in alias and not alias.endswith("@latest") else f"alias {alias!r} follows every release"
    if is_set(term.get("id")) and "*" not in str(term.get("id")):
        return None
    name = text(term.get("name"))
    if name and ("*" in name or "?" in name):
        return f"name pattern {name!r} picks the newest matching AMI"
    ssm = text(term.get("ssmParameter"))
    if ssm and ("recommended" in ssm or "latest" in ssm):
        return f"SSM parameter {ssm!r} moves with every release"
    if is_set(term.get("tags")) and not name:
        return "a tag selector picks the newest AMI carrying the tags"
    return None


def _pinned_ami(node: Res, ctx: Ctx) -> None:
    if LAUNCH_TEMPLATE(node.type):
        image = text(node.get("imageId")) or ""
        if image.startswith("resolve:ssm:") and ("recommended" in image or "latest" in image):
            ctx.violation(node, f"imageId {image!r} resolves to the newest AMI at every update; pin an AMI id.")
        return
    for term in as_list(node.get("spec", "amiSelectorTerms")):
        why = _unpinned_term(term)
        if why:
            ctx.violation(
                node,
                f"amiSelectorTerms {why}, so nodes drift (and are replaced) whenever AWS publishes one; pin a "
                "release with `crucible:pools[].amiVersion` (e.g. al2023@v20251108) or an AMI id.",
            )


REL_NODE_006 = resource_policy(
    rule_id="REL-NODE-006",
    slug="pinned-amis",
    description="Karpenter node classes pin their AMI release instead of following @latest, so AMI changes "
    "roll out deliberately and not as unplanned drift replacements.",
    applies_to=any_of(EC2_NODE_CLASS, LAUNCH_TEMPLATE),
    checks=[_pinned_ami],
    anchor="EKS BPG autoscaling/karpenter: lock down AMIs in production clusters",
)


# REL-NODE-007 --------------------------------------------------------------------------------------------------
def _node_selection(values: dict) -> tuple[dict, list[dict]]:
    selector = known(values.get("nodeSelector") or {})
    terms = as_list(dig(values, "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms"))
    expressions = [e for t in terms if isinstance(t, dict) for e in as_list(t.get("matchExpressions")) if isinstance(e, dict)]
    return (selector if isinstance(selector, dict) else {}), expressions


def _group_labels(group: Res) -> dict:
    labels = dict(as_dict(group.get("labels")))
    name = group.get("nodeGroupName")
    if isinstance(name, str):
        labels["eks.amazonaws.com/nodegroup"] = name
    return labels


def _selects(selector: dict, expressions: list[dict], labels: dict) -> bool:
    if selector and all(labels.get(k) == known(v) for k, v in selector.items()):
        return True
    positive = [e for e in expressions if known(e.get("operator")) == "In"]
    return bool(positive) and all(labels.get(known(e.get("key"))) in [known(v) for v in as_list(e.get("values"))] for e in positive)


def _karpenter_placement(stack: Stack, ctx: Ctx) -> None:
    groups = stack.of(EKS_NODE_GROUP)
    profiles = stack.of(EKS_FARGATE_PROFILE)
    for release in helm.releases(stack, "karpenter"):
        with ctx.each():
            namespace = text(release.get("namespace")) or "default"
            if any(isinstance(s, dict) and s.get("namespace") == namespace for p in profiles for s in as_list(p.get("selectors"))):
                continue
            selector, expressions = _node_selection(helm.values(release))
            if groups:
                if not any(_selects(selector, expressions, _group_labels(g)) for g in groups):
                    names = ", ".join(g.name for g in groups)
                    ctx.violation(
                        release,
                        f"the controller is not pinned to a managed node group ({names}); set values.nodeSelector "
                        f"to a label of that group (Crucible: crucible.io/pool: <crucible:cluster.systemNodeGroup's "
                        "label, 'system'>), so Karpenter never runs on nodes it can drain.",
                    )
            elif stack.has(EKS_CLUSTER):
                ctx.violation(
                    release,
                    "the cluster has no managed node group and no Fargate profile for namespace "
                    f"{namespace!r}, so the controller would run on nodes it manages itself; keep "
                    "`crucible:cluster.systemNodeGroup` (or add a Fargate profile for the namespace).",
                )
            elif not selector and not any(known(e.get("key")) == "karpenter.sh/nodepool" and known(e.get("operator")) == "DoesNotExist" for e in expressions):
                ctx.violation(
                    release,
                    "the controller may be scheduled onto Karpenter-managed nodes; set values.nodeSelector to the "
                    "system node group's label (crucible.io/pool: system) or require karpenter.sh/nodepool "
                    "DoesNotExist in values.affinity.",
                )


REL_NODE_007 = stack_policy(
    rule_id="REL-NODE-007",
    slug="karpenter-off-karpenter-nodes",
    description="The Karpenter controller runs on a managed node group (or Fargate), pinned there by its Helm "
    "values -- never on nodes it provisions and may drain.",
    check=_karpenter_placement,
    anchor="EKS BPG karpenter: run the controller on Fargate or a node group",
)

POLICIES = [
    SEC_NODE_001,
    SEC_NODE_002,
    SEC_NODE_002_EXCEPTIONS,
    SEC_NODE_003,
    SEC_NODE_004,
    SEC_NODE_005,
    REL_NODE_006,
    REL_NODE_007,
]
