"""Ray: the head node (dashboard 8265, client 10001, GCS) runs arbitrary code for whoever reaches it, so it is
never exposed, token-authenticated where Ray supports it, and the operator is pinned (SEC-RAY-001)."""

from __future__ import annotations

import re

from policies.support import helm
from policies.support.rule import Ctx, Res, resource_policy
from policies.support.tokens import HELM_RELEASE, INGRESS, RAY_CLUSTER, RAY_JOB, RAY_SERVICE, any_of
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


def _head(res: Res, ctx: Ctx) -> None:
    if HELM_RELEASE(res.type):
        if helm.chart_name(res) == "kuberay-operator" and not text(res.get("version")):
            ctx.violation(res, "the KubeRay operator chart version is not pinned; set version (e.g. 1.7.0).")
        return
    if INGRESS(res.type):
        annotations = res.get("metadata", "annotations", default={})
        authenticated = isinstance(annotations, dict) and any(annotations.get(a) for a in AUTH_ANNOTATIONS)
        for rule in as_list(res.get("spec", "rules")):
            for path in as_list(dig(rule, "http", "paths")):
                port = number(dig(path, "backend", "service", "port", "number"))
                if port is not None and int(port) in HEAD_PORTS and not authenticated:
                    ctx.violation(
                        res,
                        f"routes to a Ray head port ({int(port)}) without authentication; anyone who reaches it can "
                        "run code on the cluster. Remove it (use kubectl port-forward) or put authentication in front.",
                    )
        return
    spec = _cluster_spec(res)
    head = as_dict(spec.get("headGroupSpec"))
    service_type = text(head.get("serviceType"))
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
    applies_to=any_of(RAY_CLUSTER, RAY_JOB, RAY_SERVICE, INGRESS, HELM_RELEASE),
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
