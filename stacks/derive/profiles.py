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
KubeSpawner trait names (extra_resource_limits, node_selector, tolerations, image; for team profiles namespace,
extra_labels, service_account).

With teams (:func:`team_notebooks`), the same rules give each team its own profiles, in its namespace and quota.
"""

from __future__ import annotations

from typing import Iterable, Optional, Sequence

from addons.jupyterhub import Profile, TeamNotebooks  # the hub's argument types: what a profile is, this module says which there are
from components.accelerators import accelerator
from components.labels import NODEPOOL_LABEL, QUEUE_LABEL


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


def team_notebooks(
    teams: Sequence,
    pools: Sequence,
    plan,
    *,
    which: str = "interactive",
    default_pool: Optional[str] = None,
    image: Optional[str] = None,
    gpu_image: Optional[str] = None,
    neuron_image: Optional[str] = None,
    service_account: Optional[str] = None,
) -> list[TeamNotebooks]:
    """Per team (stacks.spec.teams.TeamSpec), the notebook profiles its members see, by hub group
    (``team.hub_groups``). ``plan`` is the teams' Kueue plan (stacks.derive.quotas.plan_queues): a team gets a
    profile on a pool only where its ClusterQueue has *nominal* quota for what the profile asks (cpu on the CPU
    pool, the accelerator on an accelerator pool). Borrowed quota is reclaimed by its lender through preemption,
    which kills a notebook's kernels: a team without GPU quota sees no GPU profile.

    Each profile runs in the team's namespace, labelled with the team's LocalQueue (Kueue's pod integration
    admits the pod against that quota) and under the team's workload service account (its S3 prefixes)."""
    from stacks.derive.quotas import LOCAL_QUEUE

    out = []
    cpu_pools = [p for p in pools if p.kind == "cpu"]
    preferred = default_cpu_pool(pools, default_pool)
    for team in teams:
        quotas = plan.quotas[team.name]

        def nominal(pool: str, resource: str) -> int:
            q = quotas.get(pool)
            return int(q.nominal.get(resource, 0)) if q is not None else 0

        # KubeSpawner's extra_labels override replaces singleuser.extraLabels, whose z2jh default is this label: kept.
        labels = {QUEUE_LABEL: LOCAL_QUEUE, "hub.jupyter.org/network-access-hub": "true"}
        common = {"team": team.name, "namespace": team.namespace, "labels": labels, "service_account": service_account}
        profiles: list[Profile] = []
        cpu_choice = [p.name for p in cpu_pools if p.name == preferred] + [p.name for p in cpu_pools if p.name != preferred]
        cpu_pool = next((name for name in cpu_choice if nominal(name, "cpu") > 0), None)
        if cpu_pool is not None:
            profiles.append(
                Profile(
                    slug=f"{team.name}-cpu",
                    display_name=f"{team.name}: CPU ({cpu_pool})",
                    description=f"A CPU notebook server of team {team.name} on pool {cpu_pool}, in its quota.",
                    kind="cpu",
                    pool=cpu_pool,
                    accelerator_resource=None,
                    accelerators=0,
                    node_selector={NODEPOOL_LABEL: cpu_pool},
                    image=image,
                    default=True,
                    **common,
                )
            )
        for pool in accelerator_pools(pools, which):
            device = accelerator(pool.kind)
            if device.resource is None or nominal(pool.name, device.resource) <= 0:
                continue
            kind_image = gpu_image if pool.kind == "gpu" else neuron_image
            profiles.append(
                Profile(
                    slug=f"{team.name}-{pool.name}",
                    display_name=f"{team.name}: 1 {device.unit} ({pool.name})",
                    description=f"One {device.unit} of team {team.name} on pool {pool.name} ({', '.join(pool.instance_types)}), in its quota.",
                    kind=pool.kind,
                    pool=pool.name,
                    accelerator_resource=device.resource,
                    accelerators=1,
                    node_selector={NODEPOOL_LABEL: pool.name},
                    tolerations=(device.toleration,),
                    image=kind_image or image,
                    **common,
                )
            )
        out.append(TeamNotebooks(team=team.name, namespace=team.namespace, groups=tuple(team.hub_groups), profiles=tuple(profiles)))
    return out
