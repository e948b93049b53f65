"""Address ranges judged by what they cover, not how they are spelled.

``0.0.0.0/0``, ``::/0``, ``0.0.0.0/1`` + ``128.0.0.0/1``, ``0.0.0.0/0`` written as ``0.0.0.0/00`` or with a host part
(``1.2.3.4/0``): each admits the internet. ``reaches_internet`` measures the *public* addresses a set of blocks
covers (private, shared, loopback, link-local and reserved space removed, overlaps counted once) and calls it the
internet when that is at least a /8's worth of public IPv4 addresses or a /16's worth of global IPv6 addresses:
no bastion, VPN or company egress range is that wide, and a rule judged on "is it 0.0.0.0/0" would miss the
split spellings.
"""

from __future__ import annotations

import ipaddress
from typing import Iterable, Optional, Union

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

# Space that is not routed on the internet (RFC 6890 special-purpose registries, the parts a VPC may use).
_NOT_PUBLIC_V4 = [
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/3",
    )
]
_GLOBAL_V6 = ipaddress.ip_network("2000::/3")  # global unicast
INTERNET_V4_ADDRESSES = 2**24  # a /8 of public IPv4 space
INTERNET_V6_ADDRESSES = 2**112  # a /16 of global unicast IPv6 space
IMDS = (ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"))


def parse(cidr: object) -> Optional[Network]:
    """A network from any spelling AWS and Kubernetes accept (host bits set, zero-padded prefix); None if not one."""
    if not isinstance(cidr, str):
        return None
    text = cidr.strip()
    if "/" in text:
        address, prefix = text.split("/", 1)
        text = f"{address}/{int(prefix)}" if prefix.isdigit() else text
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _public_v4(net: ipaddress.IPv4Network) -> list[ipaddress.IPv4Network]:
    parts = [net]
    for excluded in _NOT_PUBLIC_V4:
        next_parts: list[ipaddress.IPv4Network] = []
        for part in parts:
            if part.subnet_of(excluded):
                continue
            if excluded.subnet_of(part):
                next_parts.extend(part.address_exclude(excluded))
            else:
                next_parts.append(part)
        parts = next_parts
    return parts


def public_addresses(cidrs: Iterable[object]) -> tuple[int, int]:
    """(public IPv4 addresses, global IPv6 addresses) the blocks cover together, overlaps counted once."""
    v4: list[ipaddress.IPv4Network] = []
    v6: list[ipaddress.IPv6Network] = []
    for cidr in cidrs:
        net = parse(cidr)
        if isinstance(net, ipaddress.IPv4Network):
            v4.extend(_public_v4(net))
        elif isinstance(net, ipaddress.IPv6Network):
            if net.overlaps(_GLOBAL_V6):
                v6.append(_GLOBAL_V6 if _GLOBAL_V6.subnet_of(net) else net)
    return (
        sum(n.num_addresses for n in ipaddress.collapse_addresses(v4)),
        sum(n.num_addresses for n in ipaddress.collapse_addresses(v6)),
    )


def reaches_internet(cidrs: Iterable[object]) -> bool:
    v4, v6 = public_addresses(cidrs)
    return v4 >= INTERNET_V4_ADDRESSES or v6 >= INTERNET_V6_ADDRESSES


def covers(cidr: object, address: Union[ipaddress.IPv4Address, ipaddress.IPv6Address], excepted: Iterable[object] = ()) -> bool:
    """Whether ``cidr`` (less the ``excepted`` blocks, as a NetworkPolicy ipBlock's ``except``) contains ``address``."""
    net = parse(cidr)
    if net is None or net.version != address.version or address not in net:
        return False
    for other in excepted:
        hole = parse(other)
        if hole is not None and hole.version == address.version and address in hole:
            return False
    return True
