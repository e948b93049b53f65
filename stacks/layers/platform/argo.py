"""Argo Workflows (addons.argo)."""

from __future__ import annotations

import pulumi

from addons.argo import ArgoSsoArgs, ArgoWorkflows, ArgoWorkflowsArgs
from stacks.layers.platform.addon import AddonOutputs, AddonsBelow, Entry
from stacks.layers.platform.notebooks import secret
from stacks.spec import PlatformSpec


def build(spec: PlatformSpec, below: AddonsBelow, opts: pulumi.ResourceOptions) -> AddonOutputs:
    argo = spec.addons.argo
    ArgoWorkflows(
        "argo-workflows",
        ArgoWorkflowsArgs(
            version=argo.version,
            namespace=argo.namespace,
            system_pool=below.require_cluster().system_node_group_label,
            auth_modes=argo.auth_modes,
            sso=ArgoSsoArgs(argo.sso.issuer, argo.sso.client_id, argo.sso.redirect_url) if argo.sso is not None else None,
            sso_client_secret=secret(spec.argo_sso_client_secret),
        ),
        opts=opts,
    )
    return AddonOutputs(export={"namespace": argo.namespace, "version": argo.version, "authModes": list(argo.auth_modes)})


ENTRY = Entry(
    name="argo-workflows",
    components=("crucible:platform:ArgoWorkflows",),
    enabled=lambda spec: spec.addons.argo.enabled,
    build=build,
    output="addons",
    key="argo",
    summary="pipelines (Workflow, CronWorkflow)",
)
