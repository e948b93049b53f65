"""Argo Workflows (argo-helm chart `argo-workflows`, pinned): the optional pipeline engine.

The server is never exposed publicly (Service type ClusterIP; reach it with port-forward or an ingress of your own)
and never runs in auth mode `server` (which would act with the server's own service account for every caller):
`client` uses the caller's Kubernetes token, `sso` an OIDC provider whose client secret comes from the Pulumi
secret config into a Secret here. Controller and server run on the system node group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.labels import on_system_nodes, pod_security

CHART, CHART_REPO = "argo-workflows", "https://argoproj.github.io/argo-helm"
SSO_SECRET = "argo-server-sso"


@dataclass(frozen=True)
class ArgoSsoArgs:
    issuer: str
    client_id: str
    redirect_url: str


@dataclass(frozen=True)
class ArgoWorkflowsArgs:
    version: str
    namespace: str
    system_pool: str
    auth_modes: Sequence[str]  # client | sso
    sso: Optional[ArgoSsoArgs] = None
    sso_client_secret: Optional[pulumi.Input[str]] = None  # a secret Output


def argo_values(args: ArgoWorkflowsArgs) -> dict:
    on_system = on_system_nodes(args.system_pool)  # nodeSelector and tolerations
    server: dict = {"enabled": True, "serviceType": "ClusterIP", "authModes": list(args.auth_modes), **on_system}
    if "sso" in args.auth_modes and args.sso is not None:
        server["sso"] = {
            "enabled": True,
            "issuer": args.sso.issuer,
            "clientId": {"name": SSO_SECRET, "key": "client-id"},
            "clientSecret": {"name": SSO_SECRET, "key": "client-secret"},
            "redirectUrl": args.sso.redirect_url,
            "rbac": {"enabled": True},
        }
    return {"controller": dict(on_system), "server": server}


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
            depends.append(
                k8s.core.v1.Secret(
                    f"{name}-sso",
                    metadata=k8s.meta.v1.ObjectMetaArgs(name=SSO_SECRET, namespace=self.namespace.metadata.name),
                    string_data={"client-id": args.sso.client_id, "client-secret": pulumi.Output.secret(args.sso_client_secret)},
                    opts=child,
                )
            )
        self.release = k8s.helm.v3.Release(
            name,
            name="argo-workflows",
            chart=CHART,
            version=args.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CHART_REPO),
            namespace=self.namespace.metadata.name,
            values=argo_values(args),
            atomic=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends),
        )
        self.register_outputs({"version": args.version, "authModes": list(args.auth_modes)})
