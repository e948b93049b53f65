"""Argo Workflows (argo-helm chart `argo-workflows`, pinned): the optional pipeline engine.

The server is never exposed publicly (Service type ClusterIP; reach it with port-forward or an ingress of your own)
and never runs in auth mode `server` (which would act with the server's own service account for every caller):
`client` uses the caller's Kubernetes token, `sso` an OIDC provider whose client secret comes from the Pulumi
secret config into a Secret here. Controller and server run on the system node group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components import versions
from components.helm_addon import HelmChart, helm_release, merge_values, on_system_nodes_at
from components.labels import pod_security

PIN = versions.chart("argo-workflows")
RELEASE = "argo-workflows"
SSO_SECRET = "argo-server-sso"
SYSTEM_PODS = (("controller",), ("server",))  # the value paths of the pods that run on the system node group


@dataclass(frozen=True)
class ArgoSsoArgs:
    issuer: str
    client_id: str
    redirect_url: str


@dataclass(frozen=True)
class ArgoWorkflowsArgs:
    namespace: str
    system_pool: str
    auth_modes: Sequence[str]  # client | sso
    version: str = field(default=PIN.version, kw_only=True)  # the chart version (default: the pin)
    sso: Optional[ArgoSsoArgs] = None
    sso_client_secret: Optional[pulumi.Input[str]] = None  # a secret Output


def argo_values(args: ArgoWorkflowsArgs) -> dict:
    server: dict = {"enabled": True, "serviceType": "ClusterIP", "authModes": list(args.auth_modes)}
    if "sso" in args.auth_modes and args.sso is not None:
        server["sso"] = {
            "enabled": True,
            "issuer": args.sso.issuer,
            "clientId": {"name": SSO_SECRET, "key": "client-id"},
            "clientSecret": {"name": SSO_SECRET, "key": "client-secret"},
            "redirectUrl": args.sso.redirect_url,
            "rbac": {"enabled": True},
        }
    return merge_values({"server": server}, on_system_nodes_at(args.system_pool, *SYSTEM_PODS))


class ArgoWorkflows(pulumi.ComponentResource):
    def __init__(self, name: str, args: ArgoWorkflowsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:platform:ArgoWorkflows", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.namespace,
                labels={"crucible.io/purpose": "pipelines", **pod_security("baseline")},
            ),
            opts=child,
        )
        depends: list[pulumi.Resource] = []
        if args.sso is not None and "sso" in args.auth_modes:
            if args.sso_client_secret is None:
                raise ValueError("ArgoWorkflowsArgs: auth mode sso needs sso_client_secret (the OIDC client's secret)")
            depends.append(
                k8s.core.v1.Secret(
                    f"{name}-sso",
                    metadata=k8s.meta.v1.ObjectMetaArgs(name=SSO_SECRET, namespace=self.namespace.metadata.name),
                    string_data={"client-id": args.sso.client_id, "client-secret": pulumi.Output.secret(args.sso_client_secret)},
                    opts=child,
                )
            )
        chart = HelmChart.of(PIN, release=RELEASE, namespace=self.namespace.metadata.name, version=args.version)
        self.release = helm_release(self, name, chart, argo_values(args), depends_on=depends)
        self.register_outputs({"version": args.version, "authModes": list(args.auth_modes)})
