"""Whether notebook pods can reach the instance metadata service (IMDS, 169.254.169.254 port 80), whichever of
z2jh's two mechanisms blocks it.

- ``singleuser.cloudMetadata.blockWithIptables`` (chart default true): a privileged init container adds an
  iptables rule in the pod's network namespace; it needs ``privileged``, so the namespace must enforce the
  ``privileged`` Pod Security level.
- The chart's singleuser NetworkPolicy (``singleuser.networkPolicy.enabled``, default true): its egress never
  admits 169.254.169.254 unless ``egressAllowRules.cloudMetadataServer`` is true (``nonPrivateIPs`` excepts it) or
  an extra rule of ``singleuser.networkPolicy.egress`` (or another NetworkPolicy selecting the pods: policies add
  up) admits it. With the NetworkPolicy way the namespace can enforce ``baseline`` or ``restricted``.

z2jh 4.x values reference: singleuser.cloudMetadata, singleuser.networkPolicy.egressAllowRules.
"""

from __future__ import annotations

from typing import Any, Iterable

from policies.support.cidrs import IMDS, covers
from policies.support.values import as_dict, as_list, dig, flag, known, number

IMDS_PORT = 80


def uses_iptables(values: dict) -> bool:
    return flag(dig(values, "singleuser", "cloudMetadata", "blockWithIptables")) is not False


def _port_admits(ports: list, port: int) -> bool:
    if not ports:
        return True
    for entry in ports:
        if not isinstance(entry, dict):
            continue
        protocol = str(known(entry.get("protocol")) or "TCP").upper()
        if protocol != "TCP":
            continue
        value = known(entry.get("port"))
        if value is None:
            return True  # protocol only: every port
        low = number(value) if not isinstance(value, str) or value.isdigit() else None
        if value == "http":
            return True
        if low is None:
            continue
        high = number(known(entry.get("endPort"))) or low
        if low <= port <= high:
            return True
    return False


def egress_admitting(rules: Iterable[Any], port: int = IMDS_PORT) -> list[str]:
    """Descriptions of the egress rules (NetworkPolicy ``spec.egress`` entries) that admit IMDS."""
    found = []
    for index, rule in enumerate(rules):
        if not isinstance(rule, dict) or not _port_admits(as_list(known(rule.get("ports"))), port):
            continue
        peers = as_list(known(rule.get("to")))
        if not peers:
            found.append(f"egress[{index}] (every destination)")
            continue
        for peer in peers:
            block = as_dict(peer.get("ipBlock")) if isinstance(peer, dict) else {}
            cidr = known(block.get("cidr"))
            if cidr and any(covers(cidr, address, as_list(known(block.get("except")))) for address in IMDS):
                found.append(f"egress[{index}] (ipBlock {cidr})")
    return found


def chart_policy_admits(values: dict) -> list[str]:
    """Why the chart's own singleuser NetworkPolicy lets notebooks reach IMDS (empty: it does not)."""
    policy = as_dict(dig(values, "singleuser", "networkPolicy"))
    if flag(policy.get("enabled")) is False:
        return ["singleuser.networkPolicy.enabled is false (no egress restriction at all)"]
    reasons = []
    if flag(dig(policy, "egressAllowRules", "cloudMetadataServer")) is True:
        reasons.append("singleuser.networkPolicy.egressAllowRules.cloudMetadataServer is true")
    reasons += [f"singleuser.networkPolicy.{r}" for r in egress_admitting(as_list(known(policy.get("egress"))))]
    return reasons
