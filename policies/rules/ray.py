"""Ray: the head node (dashboard 8265, client 10001, GCS) runs arbitrary code for whoever reaches it, so it is
never exposed, token-authenticated where Ray supports it, and the operator is pinned (SEC-RAY-001)."""

from __future__ import annotations

import re
from typing import Optional

from policies.support import helm
from policies.support.rule import Ctx, Res, resource_policy
from policies.support.tokens import HELM_RELEASE, INGRESS, RAY_CLUSTER, RAY_JOB, RAY_SERVICE, any_of, custom_resource, one_of
from policies.support.values import as_dict, as_list, dig, flag, number, text

HEAD_PORTS = {8265, 10001}
AUTH_ANNOTATIONS = ("alb.ingress.kubernetes.io/auth-type", "nginx.ingress.kubernetes.io/auth-url")


def _version(value) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", str(value))[:3])


def _cluster_spec(res: Res) -> dict:
    if RAY_JOB(res.type):
        return as_dict(res.get("spec", "rayClusterSpec"))
    if RAY_SERVICE(res.type):
        return as_dict(res.get("spec", "rayClusterConfig"))
    return as_dict(res.get("spec"))


K8S_SERVICE = one_of("kubernetes:core/v1:Service")
TARGET_GROUP_BINDING = custom_resource("elbv2.k8s.aws", "TargetGroupBinding", ["v1beta1", "v1"])
HEAD_SERVICE_SUFFIX = "-head-svc"  # KubeRay names a cluster's head Service <cluster>-head-svc
HEAD_PORT_NAMES = {"dashboard", "client", "gcs", "gcs-server", "serve"}
INTERNAL_SCHEME = {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal", "service.beta.kubernetes.io/aws-load-balancer-internal": "true"}


def _selects_head(selector: object) -> bool:
    selector = as_dict(selector)
    return selector.get("ray.io/node-type") == "head" or (bool(selector.get("ray.io/cluster")) and selector.get("ray.io/node-type") in (None, "head"))


def _head_port(port: object) -> bool:
    if isinstance(port, dict):
        number_ = number(port.get("number") if "number" in port else port.get("port"))
        target = port.get("targetPort")
        name = text(port.get("name"))
        return (
            (number_ is not None and int(number_) in HEAD_PORTS) or (isinstance(target, (int, float)) and int(target) in HEAD_PORTS) or name in HEAD_PORT_NAMES
        )
    value = number(port)
    return value is not None and int(value) in HEAD_PORTS


def _exposing_service(res: Res) -> Optional[str]:
    """A Service that publishes a Ray head outside the cluster, by selector or by port."""
    service_type = text(res.get("spec", "type")) or "ClusterIP"
    if service_type not in ("LoadBalancer", "NodePort"):
        return None
    annotations = as_dict(res.get("metadata", "annotations"))
    if service_type == "LoadBalancer" and any(str(annotations.get(k, "")).lower() == v for k, v in INTERNAL_SCHEME.items()):
        return None  # internal load balancer: inside the VPC (SEC-NET-001 judges its security groups)
    if _selects_head(res.get("spec", "selector")) or any(_head_port(p) for p in as_list(res.get("spec", "ports"))):
        return f"a {service_type} Service selecting the Ray head"
    return None


def _head(res: Res, ctx: Ctx) -> None:
    if K8S_SERVICE(res.type):
        what = _exposing_service(res)
        if what:
            ctx.violation(res, f"is {what}: anyone who reaches it can run code on the cluster (CVE-2023-48022); use ClusterIP and kubectl port-forward.")
        return
    if TARGET_GROUP_BINDING(res.type):
        service = text(res.get("spec", "serviceRef", "name")) or ""
        if service.endswith(HEAD_SERVICE_SUFFIX) or _head_port(res.get("spec", "serviceRef", "port")):
            ctx.violation(res, f"binds a load balancer target group to the Ray head ({service}); remove it, the head runs code for whoever reaches it.")
        return
    if HELM_RELEASE(res.type):
        if helm.chart_name(res) == "kuberay-operator" and not text(res.get("version")):
            ctx.violation(res, "the KubeRay operator chart version is not pinned; set version (e.g. 1.7.0).")
        return
    if INGRESS(res.type):
        annotations = res.get("metadata", "annotations", default={})
        authenticated = isinstance(annotations, dict) and any(annotations.get(a) for a in AUTH_ANNOTATIONS)
        for rule in as_list(res.get("spec", "rules")):
            for path in as_list(dig(rule, "http", "paths")):
                backend = as_dict(dig(path, "backend", "service"))
                target = text(backend.get("name")) or ""
                if (_head_port(backend.get("port")) or target.endswith(HEAD_SERVICE_SUFFIX)) and not authenticated:
                    ctx.violation(
                        res,
                        f"routes to the Ray head ({target or 'a head port'}) without authentication; anyone who reaches it can "
                        "run code on the cluster. Remove it (use kubectl port-forward) or put authentication in front.",
                    )
        return
    spec = _cluster_spec(res)
    head = as_dict(spec.get("headGroupSpec"))
    service_type = text(head.get("serviceType")) or text(dig(head, "headService", "spec", "type"))
    if service_type in ("LoadBalancer", "NodePort"):
        ctx.violation(
            res,
            f"headGroupSpec.serviceType is {service_type}, exposing the Ray dashboard and job API (remote code execution, CVE-2023-48022); use ClusterIP.",
        )
    if flag(head.get("enableIngress")):
        ctx.violation(res, "headGroupSpec.enableIngress publishes the Ray dashboard; turn it off.")
    ray_version = text(spec.get("rayVersion"))
    minimum = ctx.setting("tokenAuthFromRayVersion")
    if ray_version and _version(ray_version) >= _version(minimum):
        if text(dig(spec, "authOptions", "mode")) != "token":
            ctx.violation(
                res,
                f'Ray {ray_version} supports token authentication but authOptions.mode is not "token"; set it so the '
                "dashboard and job API refuse unauthenticated calls.",
            )


SEC_RAY_001 = resource_policy(
    rule_id="SEC-RAY-001",
    slug="ray-head-not-exposed",
    description="Ray heads are not exposed (no LoadBalancer/NodePort service, no dashboard ingress without "
    "authentication), use token authentication where the Ray version supports it, and the KubeRay operator chart "
    "is pinned.",
    applies_to=any_of(RAY_CLUSTER, RAY_JOB, RAY_SERVICE, INGRESS, HELM_RELEASE, K8S_SERVICE, TARGET_GROUP_BINDING),
    checks=[_head],
    settings={
        "tokenAuthFromRayVersion": {
            "type": "string",
            "default": "2.52",
            "description": "First Ray version whose clusters must use authOptions.mode token.",
        }
    },
    anchor="Ray security docs; CVE-2023-48022, CVE-2023-48023",
)

POLICIES = [SEC_RAY_001]
