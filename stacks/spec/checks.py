"""Value checks shared by several spec sections (CIDRs, AWS ids and ARNs, Kubernetes names, versions, images, paths)."""

from __future__ import annotations

import ipaddress
import re
from typing import Optional

from stacks.spec.schema import show


def ipv4_cidr(min_prefix: int, max_prefix: int):
    def check(value: str) -> Optional[str]:
        try:
            net = ipaddress.ip_network(value, strict=True)
        except ValueError as exc:
            return f"got {show(value)}; not a valid IPv4 CIDR block ({exc})"
        if net.version != 4:
            return f"got {show(value)}; allowed: an IPv4 CIDR block"
        if not min_prefix <= net.prefixlen <= max_prefix:
            return f"got {show(value)}; allowed: prefix length /{min_prefix} to /{max_prefix}"
        return None

    return check


def any_cidr(value: str) -> Optional[str]:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        return f"got {show(value)}; not a valid CIDR block ({exc})"
    return None


def aws_id(prefix: str):
    def check(value: str) -> Optional[str]:
        body = value[len(prefix) :]
        if not value.startswith(prefix) or not body or not all(c in "0123456789abcdef" for c in body):
            return f"got {show(value)}; allowed: an id of the form {prefix}<hex>"
        return None

    return check


# An IAM customer managed policy ARN (IAM identifiers: path /.../ of printable ASCII, name [\w+=,.@-]{1,128}).
_POLICY_ARN = re.compile(r"^arn:(aws|aws-cn|aws-us-gov):iam::\d{12}:policy/([\x21-\x7e]*/)?[\w+=,.@-]{1,128}$")


def iam_policy_arn(value: str) -> Optional[str]:
    if not _POLICY_ARN.match(value):
        return (
            f"got {show(value)}; allowed: a customer managed policy ARN arn:<partition>:iam::<12-digit account>:policy/[<path>/]<name> "
            "(the bootstrap's output permissionsBoundaryArn)"
        )
    return None


_ROLE_ARN = re.compile(r"^arn:aws(-[a-z]+)*:iam::\d{12}:role/[\w+=,.@/-]+$")


def iam_role_arn(value: str) -> Optional[str]:
    if not _ROLE_ARN.match(value):
        return f"got {show(value)}; allowed: an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)"
    return None


CLOUDWATCH_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)


def log_retention_days(value: int) -> Optional[str]:
    if value not in CLOUDWATCH_RETENTION_DAYS:
        return f"got {value}; allowed (CloudWatch Logs): {', '.join(map(str, CLOUDWATCH_RETENTION_DAYS))}"
    return None


_K8S_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
_HTTPS_URL = re.compile(r"^https://[A-Za-z0-9.-]+(:\d+)?(/[^\s]*)?$")
_ACM_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$")
_IMAGE = re.compile(r"^[\w.\-/:@]+$")


def k8s_name(value: str) -> Optional[str]:
    """A Kubernetes object name that is also a DNS label (namespaces, claims, queues)."""
    if not _K8S_NAME.match(value):
        return f"got {show(value)}; allowed: a Kubernetes name (1-63 lowercase letters, digits and '-')"
    return None


def semver(value: str) -> Optional[str]:
    """A pinned release (chart or image version): never a range or `latest`."""
    return None if _VERSION.match(value) else f"got {show(value)}; allowed: a pinned version such as 1.2.3"


def https_url(value: str) -> Optional[str]:
    return None if _HTTPS_URL.match(value) else f"got {show(value)}; allowed: an https:// URL"


def acm_certificate_arn(value: str) -> Optional[str]:
    if not _ACM_ARN.match(value):
        return f"got {show(value)}; allowed: an ACM certificate ARN such as arn:aws:acm:us-east-1:111122223333:certificate/<uuid>"
    return None


def image_ref(value: str) -> Optional[str]:
    """A pinned image: a version tag or a digest; never untagged nor `latest` (both move under a running job)."""
    last = value.rsplit("/", 1)[-1]
    if not _IMAGE.match(value) or (":" not in last and "@" not in value) or ("@" not in value and last.rsplit(":", 1)[-1] == "latest"):
        return f"got {show(value)}; allowed: an image reference pinned to a version tag (not latest) or a digest, e.g. repo/name:1.2.3"
    return None


def absolute_path(value: str) -> Optional[str]:
    if not value.startswith("/") or value == "/" or "//" in value or value.endswith("/") or " " in value:
        return f"got {show(value)}; allowed: an absolute directory such as /datasets (no trailing '/', not the root)"
    return None


# An address SNS can deliver to: local part and domain of RFC 5321 lengths, a dotted domain of DNS labels ending in
# an alphabetic TLD; no display name ("Ops <ops@x>"), no spaces, no quoted local part.
_EMAIL = re.compile(
    r"^(?=.{6,254}$)(?=[^@]{1,64}@)[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)


def email_address(value: str) -> Optional[str]:
    if not _EMAIL.match(value):
        return f"got {show(value)}; allowed: one plain email address such as oncall@example.com (no display name, no spaces)"
    return None


def unique_ignoring_case(values) -> Optional[str]:
    seen: set = set()
    for value in values:
        if value.lower() in seen:
            return f"{show(value)} is listed twice (case does not matter); entries must be unique"
        seen.add(value.lower())
    return None


_HF_MODEL = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[\w.-]{1,96}$")


def hf_model_id(value: str) -> Optional[str]:
    """A Hugging Face model id: <organisation>/<model>."""
    return None if _HF_MODEL.match(value) else f"got {show(value)}; allowed: a Hugging Face model id such as Qwen/Qwen2.5-0.5B"


# ---- private address space ---------------------------------------------------------------------------

# Not routed on the internet, so a VPC there never shadows a public destination: RFC 1918, and RFC 6598's shared
# address space (AWS accepts it for VPCs: CreateVpc's own example is 100.68.0.0/18).
PRIVATE_IPV4_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")


def within(net: ipaddress.IPv4Network | ipaddress.IPv6Network, block: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    """Whether ``net`` lies inside ``block``; never, when they are of different IP versions."""
    if isinstance(net, ipaddress.IPv4Network) and isinstance(block, ipaddress.IPv4Network):
        return net.subnet_of(block)
    if isinstance(net, ipaddress.IPv6Network) and isinstance(block, ipaddress.IPv6Network):
        return net.subnet_of(block)
    return False


def private_cidr(value: str) -> bool:
    """Whether the (valid) IPv4 CIDR ``value`` lies inside one of PRIVATE_IPV4_RANGES."""
    net = ipaddress.ip_network(value, strict=False)
    return any(within(net, ipaddress.ip_network(r)) for r in PRIVATE_IPV4_RANGES)


# ---- AWS tags ------------------------------------------------------------------------------------------
# AWS tagging rules, common to the services Crucible tags (e.g. docs.aws.amazon.com "Tag restrictions"): at most 50
# user tags per resource; keys 1-128 and values 0-256 Unicode characters; letters, numbers, spaces and `+ - = . _ : / @`;
# the `aws:` prefix (any case) is reserved for AWS.

AWS_TAGS_PER_RESOURCE = 50
TAG_KEY_MAX, TAG_VALUE_MAX = 128, 256
TAG_PUNCTUATION = "+-=._:/@"


def _tag_text_problem(text: str) -> Optional[str]:
    import unicodedata

    for ch in text:
        if ch in TAG_PUNCTUATION or unicodedata.category(ch)[0] in "LNZ":
            continue
        return f"character {ch!r} is not allowed (allowed: letters, numbers, spaces and {' '.join(TAG_PUNCTUATION)})"
    return None


def tag_problems(tags, reserved_prefixes: tuple[str, ...] = (), budget: int = AWS_TAGS_PER_RESOURCE) -> list[tuple[Optional[str], str]]:
    """Every way ``tags`` break AWS's tagging rules: (key or None for the whole map, message)."""
    out: list[tuple[Optional[str], str]] = []
    if len(tags) > budget:
        out.append((None, f"got {len(tags)} tags; allowed: at most {budget}"))
    for key, value in tags.items():
        problems = []
        if not key:
            problems.append("the key is empty; allowed: 1-128 characters")
        if len(key) > TAG_KEY_MAX:
            problems.append(f"the key is {len(key)} characters long; allowed: at most {TAG_KEY_MAX}")
        if key.lower().startswith("aws:"):
            problems.append("keys starting with 'aws:' are reserved for AWS")
        for prefix in reserved_prefixes:
            if key.startswith(prefix):
                problems.append(f"keys starting with {prefix!r} are reserved for the tags Crucible, Karpenter and EKS set themselves")
        message = _tag_text_problem(key)
        if message:
            problems.append(f"in the key: {message}")
        if len(value) > TAG_VALUE_MAX:
            problems.append(f"the value is {len(value)} characters long; allowed: at most {TAG_VALUE_MAX}")
        if value.lower().startswith("aws:"):
            problems.append("values starting with 'aws:' are reserved for AWS")
        message = _tag_text_problem(value)
        if message:
            problems.append(f"in the value {show(value)}: {message}")
        out += [(key, m) for m in problems]
    return out


# ---- Kubernetes labels ---------------------------------------------------------------------------------
# apimachinery's validation (IsQualifiedName, IsValidLabelValue): a key is an optional DNS-subdomain prefix
# (at most 253 characters) and '/', then a name of at most 63 characters `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`;
# a value is empty or at most 63 characters of the same form.

_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def label_key_problem(key: str) -> Optional[str]:
    prefix, slash, name = key.rpartition("/")
    if slash and not prefix:
        return f"got {show(key)}; the prefix before '/' is empty"
    if slash and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return f"got {show(key)}; the prefix {show(prefix)} is not a DNS subdomain (lowercase letters, digits, '-' and '.', at most 253 characters)"
    if not name or len(name) > 63 or not _LABEL_NAME.match(name):
        return (
            f"got {show(key)}; the name {show(name)} is not a label name (1-63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit)"
        )
    return None


def label_value_problem(value: str) -> Optional[str]:
    if value == "" or (len(value) <= 63 and _LABEL_NAME.match(value)):
        return None
    return f"got {show(value)}; allowed: empty, or 1-63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit"


# Node labels a NodePool template may carry, as Karpenter decides (sigs.k8s.io/karpenter pkg/apis/v1 labels.go and the
# NodePool CRD's CEL rules on spec.template.metadata.labels): a key whose domain ends with a restricted domain is
# refused unless the domain ends with one of the exceptions. `kubernetes.io/hostname` and `karpenter.sh/nodepool` are
# refused outright; the well-known labels Karpenter allows (zone, region, instance type, arch, os, capacity type)
# are not labels to set here either: Crucible derives them from the pool's zones, instanceTypes and capacityTypes.
KARPENTER_RESTRICTED_LABEL_DOMAINS = ("kubernetes.io", "k8s.io", "karpenter.sh", "karpenter.k8s.aws")
KARPENTER_LABEL_DOMAIN_EXCEPTIONS = ("kops.k8s.io", "node.kubernetes.io", "node-restriction.kubernetes.io", "node-role.kubernetes.io")
DERIVED_NODE_LABELS = {
    "topology.kubernetes.io/zone": "zones",
    "topology.kubernetes.io/region": "crucible:region",
    "node.kubernetes.io/instance-type": "instanceTypes",
    "kubernetes.io/arch": "instanceTypes",
    "kubernetes.io/os": "amiFamily",
    "karpenter.sh/capacity-type": "capacityTypes",
    "karpenter.sh/nodepool": "name",
}


def _domain_matches(domain: str, suffix: str) -> bool:
    return domain == suffix or domain.endswith("." + suffix)


def node_label_key_problem(key: str, crucible_labels: tuple[str, ...] = ()) -> Optional[str]:
    """Why ``key`` cannot be a node label of a Karpenter pool, or None."""
    problem = label_key_problem(key)
    if problem:
        return problem
    if key in crucible_labels:
        return f"got {show(key)}; Crucible sets this label itself on every node of the pool"
    if key in DERIVED_NODE_LABELS:
        return f"got {show(key)}; this label is derived from the pool's `{DERIVED_NODE_LABELS[key]}`: set that instead"
    domain = key.rpartition("/")[0]
    if not domain:
        return None
    restricted = next((d for d in KARPENTER_RESTRICTED_LABEL_DOMAINS if _domain_matches(domain, d)), None)
    if restricted and not any(_domain_matches(domain, e) for e in KARPENTER_LABEL_DOMAIN_EXCEPTIONS):
        return (
            f"got {show(key)}; the label domain {show(restricted)} is restricted (kubelet or Karpenter own it); allowed: "
            f"your own domain, or {', '.join(e + '/' for e in KARPENTER_LABEL_DOMAIN_EXCEPTIONS)}"
        )
    return None
