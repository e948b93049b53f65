"""Value checks shared by several spec sections (CIDRs, AWS ids and ARNs)."""

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
