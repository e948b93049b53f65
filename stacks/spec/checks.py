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
    if not _IMAGE.match(value) or (":" not in value.rsplit("/", 1)[-1] and "@" not in value):
        return f"got {show(value)}; allowed: an image reference with a tag or digest, e.g. repo/name:1.2.3"
    return None


def absolute_path(value: str) -> Optional[str]:
    if not value.startswith("/") or value == "/" or "//" in value or value.endswith("/") or " " in value:
        return f"got {show(value)}; allowed: an absolute directory such as /datasets (no trailing '/', not the root)"
    return None


_HF_MODEL = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[\w.-]{1,96}$")


def hf_model_id(value: str) -> Optional[str]:
    """A Hugging Face model id: <organisation>/<model>."""
    return None if _HF_MODEL.match(value) else f"got {show(value)}; allowed: a Hugging Face model id such as Qwen/Qwen2.5-0.5B"
