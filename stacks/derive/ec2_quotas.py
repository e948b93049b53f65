"""The EC2 vCPU quotas a stack's capacity draws on at its limits. PURE: no Pulumi calls.

EC2 limits running instances per region by vCPU, per instance family group and purchase option (Service Quotas,
service code `ec2`). AWS decides the values; a preflight compares them with what the pools (and the system node
group) can reach: `aws service-quotas get-service-quota --service-code ec2 --quota-code <code> --region <region>`.
Capacity reserved ahead (On-Demand Capacity Reservations, Capacity Blocks for ML) is bought separately and is
listed as such.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

# Family group -> ((on-demand quota code, name), (spot quota code, name)); Service Quotas names as listed for ec2.
_STANDARD = (
    ("L-1216C47A", "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances"),
    ("L-34B43A08", "All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests"),
)
QUOTAS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "p": (("L-417A185B", "Running On-Demand P instances"), ("L-7212CCBC", "All P Spot Instance Requests")),
    "g": (("L-DB2E81BA", "Running On-Demand G and VT instances"), ("L-3819A6DF", "All G and VT Spot Instance Requests")),
    "vt": (("L-DB2E81BA", "Running On-Demand G and VT instances"), ("L-3819A6DF", "All G and VT Spot Instance Requests")),
    "trn": (("L-2C3B7624", "Running On-Demand Trn instances"), ("L-6B0D517C", "All Trn Spot Instance Requests")),
    "inf": (("L-1945791B", "Running On-Demand Inf instances"), ("L-B5D1601B", "All Inf Spot Instance Requests")),
    **{letter: _STANDARD for letter in "acdhimrtz"},
}
_FAMILY = re.compile(r"^([a-z]+?)(?=\d)")


def family_group(instance_type: str) -> Optional[str]:
    """p5en.48xlarge -> p, trn2.48xlarge -> trn, g6e.xlarge -> g, m7i.xlarge -> m; None where this table has no
    quota (DL, HPC, X, F and high-memory types have quotas of their own)."""
    match = _FAMILY.match(instance_type)
    if not match:
        return None
    letters = match.group(1)
    if letters in QUOTAS:
        return letters
    return "i" if letters in ("im", "is") else None  # im4gn, is4gen: storage-optimized, in the Standard group


@dataclass
class QuotaNeed:
    code: str
    name: str
    vcpus_at_max: int = 0
    users: list[str] = field(default_factory=list)

    def command(self, region: str) -> str:
        return f"aws service-quotas get-service-quota --service-code ec2 --quota-code {self.code} --region {region}"

    def to_json(self, region: str) -> dict:
        return {"code": self.code, "name": self.name, "vcpusAtMax": self.vcpus_at_max, "for": self.users, "command": self.command(region)}


def quota_needs(spec) -> tuple[list[QuotaNeed], list[str]]:
    """(quota needs, notes) of what ``spec`` builds: per quota, the vCPUs its users reach at their limits. A pool
    that may run on demand and on spot needs its vCPUs in both quotas (Karpenter may launch all of it either way)."""
    from components.catalog import select
    from stacks.derive.capacity import pool_capacity

    needs: dict[str, QuotaNeed] = {}
    notes: list[str] = []

    def need(quota: tuple[str, str], vcpus: int, user: str) -> None:
        entry = needs.setdefault(quota[0], QuotaNeed(quota[0], quota[1]))
        entry.vcpus_at_max += vcpus
        if user not in entry.users:
            entry.users.append(user)

    if spec.builds("cluster"):
        group = spec.cluster.system_node_group
        largest = max(select(group.instance_types), key=lambda t: t.vcpu)
        quotas = QUOTAS.get(family_group(largest.name) or "")
        if quotas:
            need(quotas[0], group.max_size * largest.vcpu, "system node group")
    if spec.builds("compute"):
        for pool in spec.pools:
            capacity = pool_capacity(pool)
            groups = {family_group(t) for t in capacity.instance_types}
            for group in sorted(g for g in groups if g):
                vcpus = max(t.vcpu for t in capacity.types if family_group(t.instance_type) == group)
                on_demand, spot = QUOTAS[group]
                if "on-demand" in pool.capacity_types:
                    need(on_demand, vcpus, f"pool {pool.name}")
                if "spot" in pool.capacity_types:
                    need(spot, vcpus, f"pool {pool.name}")
            if None in groups:
                notes.append(
                    f"pool {pool.name}: no quota code known for some of {', '.join(capacity.instance_types)}; check them in the Service Quotas console"
                )
            if "reserved" in pool.capacity_types:
                notes.append(
                    f"pool {pool.name}: reserved capacity (On-Demand Capacity Reservation or Capacity Block for ML) is bought ahead: "
                    f"aws ec2 describe-capacity-reservations --region {spec.region}"
                )
    return sorted(needs.values(), key=lambda n: n.code), notes
