"""JupyterHub (addons.jupyterhub): one profile per accelerator pool, shared Lustre and dataset mounts. With teams,
each team's members (by hub group) get the team's profiles, which run in the team's namespace and Kueue quota
(stacks/derive/profiles.py team_notebooks); the team namespaces' side (the hub's Role, the notebook
NetworkPolicies) is addons.tenancy's."""

from __future__ import annotations

from typing import Optional

import pulumi

from addons.jupyterhub import JupyterHub, JupyterHubArgs, OAuthArgs, TeamNotebooks
from addons.storage_drivers import LUSTRE_CLAIM
from addons.tenancy import SERVICE_ACCOUNT
from stacks.derive.profiles import notebook_profiles, team_notebooks
from stacks.derive.quotas import plan_queues
from stacks.layers.platform.addon import AddonOutputs, AddonsBelow, Entry
from stacks.layers.platform.shared import shared_storage
from stacks.spec import PlatformSpec


def secret(value: Optional[str]) -> Optional[pulumi.Output]:
    return pulumi.Output.secret(value) if value else None


def teams_of(spec: PlatformSpec) -> list[TeamNotebooks]:
    """The teams' notebooks ([] without teams: everyone chooses among the pool profiles, in the hub namespace)."""
    if not spec.teams:
        return []
    hub = spec.addons.jupyterhub
    return team_notebooks(
        spec.teams,
        spec.pools,
        plan_queues(spec.teams, spec.pools),
        which=hub.accelerator_profiles,
        default_pool=hub.default_pool,
        image=hub.image,
        gpu_image=hub.gpu_image,
        neuron_image=hub.neuron_image,
        service_account=SERVICE_ACCOUNT,
    )


def build(spec: PlatformSpec, below: AddonsBelow, opts: pulumi.ResourceOptions) -> AddonOutputs:
    hub = spec.addons.jupyterhub
    storage = shared_storage(below.storage)
    profiles = notebook_profiles(
        spec.pools,
        which=hub.accelerator_profiles,
        default_pool=hub.default_pool,
        image=hub.image,
        gpu_image=hub.gpu_image,
        neuron_image=hub.neuron_image,
    )
    teams = teams_of(spec)
    o = hub.oauth
    if hub.authenticator is None:  # the spec refuses an enabled hub without one
        raise RuntimeError("addons.jupyterhub.authenticator is unset")
    hub_component = JupyterHub(
        "jupyterhub",
        JupyterHubArgs(
            version=hub.version,
            namespace=hub.namespace,
            system_pool=below.require_cluster().system_node_group_label,
            profiles=profiles,
            authenticator=hub.authenticator,
            oauth=OAuthArgs(
                client_id=o.client_id,
                callback_url=o.callback_url,
                allowed_organizations=o.allowed_organizations,
                authorize_url=o.authorize_url,
                token_url=o.token_url,
                userdata_url=o.userdata_url,
                scope=o.scope,
                username_claim=o.username_claim,
                claim_groups_key=o.claim_groups_key,
                allowed_groups=o.allowed_groups,
                allow_all=o.allow_all,
            )
            if o is not None and hub.authenticator != "dummy"
            else None,
            client_secret=secret(spec.jupyterhub_oauth_client_secret) if hub.authenticator != "dummy" else None,
            exposure=hub.exposure,
            certificate_arn=hub.certificate_arn,
            source_ranges=hub.source_ranges,
            cpu=hub.cpu,
            memory_gib=hub.memory_gib,
            image=hub.image,
            user_storage_class=storage.storage_class,
            user_volume_gib=hub.user_volume_gib,
            lustre=storage.lustre if hub.shared_mounts else None,
            lustre_mount_path=hub.lustre_mount_path,
            read_only_buckets=storage.read_only_buckets if hub.shared_mounts else (),
            datasets_mount_path=hub.datasets_mount_path,
            region=spec.region,
            vpc_cidr=below.require_network().vpc_cidr,
            cull_timeout_seconds=hub.cull_timeout_seconds,
            cull_every_seconds=hub.cull_every_seconds,
            protect=spec.protect,
            load_balancer_controller=below.controller(),
            teams=teams,
            team_lustre_claim=LUSTRE_CLAIM if storage.lustre is not None and hub.shared_mounts else None,
        ),
        opts=opts,
    )
    return AddonOutputs(
        export={
            "namespace": hub.namespace,
            "version": hub.version,
            "authenticator": hub.authenticator,
            "exposure": hub.exposure,
            "profiles": [p.to_json() for p in profiles] if not teams else [p.to_json() for t in teams for p in t.profiles],
            "teams": {t.team: {"namespace": t.namespace, "groups": list(t.groups), "profiles": [p.slug for p in t.profiles]} for t in teams},
        },
        namespaces={hub.namespace: hub_component.namespace},
    )


ENTRY = Entry(
    name="jupyterhub",
    components=("crucible:platform:JupyterHub",),
    enabled=lambda spec: spec.addons.jupyterhub.enabled,
    build=build,
    output="addons",
    key="jupyterhub",
    after=("aws-load-balancer-controller",),
    summary="notebooks, one profile per accelerator pool (with teams: each team's, in its namespace and quota)",
)
