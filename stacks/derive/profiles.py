"""JupyterHub notebook profiles, derived from the pools. PURE: no Pulumi calls, no config reads.

A user states a pool once; its notebook profile follows from it:
- one CPU default profile, on the configured default pool (else the first interactive CPU pool, else the first CPU
  pool; a hub without any CPU pool is refused by the spec: the profile would have no node, the system nodes being
  tainted for platform pods only);
- one profile per accelerator pool whose workload is interactive (or every GPU/Neuron pool when asked), requesting
  ONE accelerator of the pool's resource (nvidia.com/gpu, aws.amazon.com/neuron), tolerating the pool's NoSchedule
  taint and selecting the pool's nodes with `karpenter.sh/nodepool: <pool>` (the label Karpenter provisions for,
  as the Kueue ResourceFlavors do).

`Profile` (addons/jupyterhub.py) and its `profile_list_entry()`: the z2jh `singleuser.profileList[]` item; its `kubespawner_override` uses
KubeSpawner trait names (extra_resource_limits, node_selector, tolerations, image).
"""

from __future__ import annotations

from typing import Iterable, Optional, Sequence

from addons.jupyterhub import Profile  # the hub's argument type: what a profile is, this module says which there are
from components.accelerators import accelerator
from components.labels import NODEPOOL_LABEL


def default_cpu_pool(pools: Sequence, wanted: Optional[str] = None) -> Optional[str]:
    if wanted is not None:
        return wanted
    cpu = [p for p in pools if p.kind == "cpu"]
    interactive = [p for p in cpu if p.workload == "interactive"]
    chosen = (interactive or cpu or [None])[0]
    return chosen.name if chosen is not None else None


def accelerator_pools(pools: Iterable, which: str = "interactive") -> list:
    """The accelerator pools that get a profile: interactive ones, or all of them (`which` = "all")."""
    return [p for p in pools if accelerator(p.kind).accelerated and (which == "all" or p.workload == "interactive")]


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
        device = accelerator(pool.kind)
        resource = device.resource
        kind_image = gpu_image if pool.kind == "gpu" else neuron_image
        profiles.append(
            Profile(
                slug=pool.name,
                display_name=f"1 {device.unit} ({pool.name})",
                description=f"One {device.unit} on pool {pool.name} ({', '.join(pool.instance_types)}).",
                kind=pool.kind,
                pool=pool.name,
                accelerator_resource=resource,
                accelerators=1,
                node_selector={NODEPOOL_LABEL: pool.name},
                tolerations=(device.toleration,),  # the pool's NoSchedule taint (components/node_pool.py)
                image=kind_image or image,
            )
        )
    return profiles
