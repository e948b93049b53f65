"""JupyterHub notebook profiles, derived from the pools. PURE: no Pulumi calls, no config reads.

A user states a pool once; its notebook profile follows from it:
- one CPU default profile, on the configured default pool (else the first interactive CPU pool, else the first CPU
  pool; a hub without any CPU pool is refused by the spec: the profile would have no node, the system nodes being
  tainted for platform pods only);
- one profile per accelerator pool whose workload is interactive (or every GPU/Neuron pool when asked), requesting
  ONE accelerator of the pool's resource (nvidia.com/gpu, aws.amazon.com/neuron), tolerating the pool's NoSchedule
  taint and selecting the pool's nodes with `karpenter.sh/nodepool: <pool>` (the label Karpenter provisions for,
  as the Kueue ResourceFlavors do).

`Profile.profile_list_entry()` is the z2jh `singleuser.profileList[]` item; its `kubespawner_override` uses
KubeSpawner trait names (extra_resource_limits, node_selector, tolerations, image).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, Sequence

from components.labels import ACCELERATOR_RESOURCE, NODEPOOL_LABEL

ACCELERATOR_NAMES = {"gpu": "NVIDIA GPU", "neuron": "AWS Neuron device"}


@dataclass(frozen=True)
class Profile:
    slug: str
    display_name: str
    description: str
    kind: str  # cpu | gpu | neuron
    pool: Optional[str]
    accelerator_resource: Optional[str]
    accelerators: int
    node_selector: dict = field(default_factory=dict)
    tolerations: tuple = ()
    image: Optional[str] = None
    default: bool = False

    def kubespawner_override(self) -> dict:
        out: dict = {}
        if self.node_selector:
            out["node_selector"] = dict(self.node_selector)
        if self.accelerator_resource:
            out["extra_resource_limits"] = {self.accelerator_resource: str(self.accelerators)}
        if self.tolerations:
            out["tolerations"] = [dict(t) for t in self.tolerations]
        if self.image:
            out["image"] = self.image
        return out

    def profile_list_entry(self) -> dict:
        entry: dict[str, Any] = {"display_name": self.display_name, "slug": self.slug, "description": self.description}
        if self.default:
            entry["default"] = True
        override = self.kubespawner_override()
        if override:
            entry["kubespawner_override"] = override
        return entry

    def to_json(self) -> dict:
        return {
            "slug": self.slug,
            "name": self.display_name,
            "kind": self.kind,
            "pool": self.pool,
            "accelerator": self.accelerator_resource,
            "accelerators": self.accelerators,
            "nodeSelector": dict(self.node_selector),
            "tolerations": [dict(t) for t in self.tolerations],
            "default": self.default,
        }


def toleration(resource: str) -> dict:
    """Accelerator pools carry a NoSchedule taint keyed by their device resource."""
    return {"key": resource, "operator": "Exists", "effect": "NoSchedule"}


def default_cpu_pool(pools: Sequence, wanted: Optional[str] = None) -> Optional[str]:
    if wanted is not None:
        return wanted
    cpu = [p for p in pools if p.kind == "cpu"]
    interactive = [p for p in cpu if p.workload == "interactive"]
    chosen = (interactive or cpu or [None])[0]
    return chosen.name if chosen is not None else None


def accelerator_pools(pools: Iterable, which: str = "interactive") -> list:
    """The accelerator pools that get a profile: interactive ones, or all of them (`which` = "all")."""
    return [p for p in pools if p.kind in ACCELERATOR_RESOURCE and (which == "all" or p.workload == "interactive")]


def notebook_profiles(
    pools: Sequence,
    *,
    which: str = "interactive",
    default_pool: Optional[str] = None,
    image: Optional[str] = None,
    gpu_image: Optional[str] = None,
    neuron_image: Optional[str] = None,
) -> list[Profile]:
    """The profile list for validated pools (stacks.spec.pools.PoolSpec): the CPU default first."""
    cpu_pool = default_cpu_pool(pools, default_pool)
    profiles = [
        Profile(
            slug="cpu",
            display_name="CPU" + (f" ({cpu_pool})" if cpu_pool else ""),
            description="A CPU notebook server" + (f" on pool {cpu_pool}." if cpu_pool else "."),
            kind="cpu",
            pool=cpu_pool,
            accelerator_resource=None,
            accelerators=0,
            node_selector={NODEPOOL_LABEL: cpu_pool} if cpu_pool else {},
            image=image,
            default=True,
        )
    ]
    for pool in accelerator_pools(pools, which):
        resource = ACCELERATOR_RESOURCE[pool.kind]
        kind_image = gpu_image if pool.kind == "gpu" else neuron_image
        profiles.append(
            Profile(
                slug=pool.name,
                display_name=f"1 {ACCELERATOR_NAMES[pool.kind]} ({pool.name})",
                description=f"One {ACCELERATOR_NAMES[pool.kind]} on pool {pool.name} ({', '.join(pool.instance_types)}).",
                kind=pool.kind,
                pool=pool.name,
                accelerator_resource=resource,
                accelerators=1,
                node_selector={NODEPOOL_LABEL: pool.name},
                tolerations=(toleration(resource),),
                image=kind_image or image,
            )
        )
    return profiles
