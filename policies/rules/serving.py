"""Serving endpoints: a load balancer facing the internet carries TLS and authentication (SEC-SRV-001).

An OpenAI-compatible server answers anyone who reaches it (vLLM checks no caller unless started with `--api-key`),
and every request burns accelerator time; so an internet-facing ALB (Ingress `alb.ingress.kubernetes.io/scheme:
internet-facing`) or NLB (Service `service.beta.kubernetes.io/aws-load-balancer-scheme: internet-facing`) must

- terminate TLS with an ACM certificate and listen on HTTPS only (ALB: `certificate-arn` and `listen-ports` without
  an HTTP listener; NLB: `aws-load-balancer-ssl-cert`), and
- authenticate in front of the server: the ALB's own authentication (`auth-type` oidc or cognito), or an API key
  every server behind it demands (the pods the backend Services select set `VLLM_API_KEY` or pass `--api-key`).

Load balancer annotations: AWS Load Balancer Controller docs (ingress/annotations: scheme, listen-ports,
certificate-arn, auth-type; service/annotations: aws-load-balancer-scheme, aws-load-balancer-ssl-cert); vLLM
OpenAI server: `--api-key` / `VLLM_API_KEY` (docs.vllm.ai serving/openai_compatible_server).
"""

from __future__ import annotations

import json

from policies.support.rule import Ctx, Res, Stack, stack_policy
from policies.support.tokens import INGRESS, one_of
from policies.support.values import as_dict, as_list, dig, text

SERVICE = one_of("kubernetes:core/v1:Service")
POD_OWNERS = one_of(
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet",
)
ALB_AUTH = {"oidc", "cognito"}
API_KEY_ENV = "VLLM_API_KEY"


def _annotations(res: Res) -> dict:
    found = res.get("metadata", "annotations", default={})
    return found if isinstance(found, dict) else {}


def _templates(owner: Res) -> list[dict]:
    spec = as_dict(owner.get("spec"))
    if "leaderWorkerTemplate" in spec:
        lwt = as_dict(spec.get("leaderWorkerTemplate"))
        return [as_dict(t) for t in (lwt.get("leaderTemplate"), lwt.get("workerTemplate")) if t]
    return [as_dict(spec.get("template"))] if spec.get("template") else []


def _demands_api_key(template: dict) -> bool:
    containers = as_list(dig(template, "spec", "containers"))
    for c in containers:
        if not isinstance(c, dict):
            continue
        if any(isinstance(e, dict) and e.get("name") == API_KEY_ENV for e in as_list(c.get("env"))):
            return True
        if any("--api-key" in str(a) for a in [*as_list(c.get("command")), *as_list(c.get("args"))]):
            return True
    return False


def _selected(stack: Stack, service: Res) -> list[dict]:
    """The pod templates of the workloads in the Service's namespace whose labels its selector matches."""
    selector = as_dict(service.get("spec", "selector"))
    if not selector:
        return []
    out = []
    for owner in stack.of(POD_OWNERS):
        if owner.k8s_namespace != service.k8s_namespace:
            continue
        for template in _templates(owner):
            labels = as_dict(dig(template, "metadata", "labels"))
            if all(labels.get(k) == v for k, v in selector.items()):
                out.append(template)
    return out


def _api_key_behind(stack: Stack, services: list[Res]) -> bool:
    templates = [t for s in services for t in _selected(stack, s)]
    return bool(templates) and all(_demands_api_key(t) for t in templates)


def _backends(stack: Stack, ingress: Res) -> list[Res]:
    names = set()
    for rule in as_list(ingress.get("spec", "rules")):
        for path in as_list(dig(rule, "http", "paths")):
            name = text(dig(path, "backend", "service", "name"))
            if name:
                names.add(name)
    default = text(ingress.get("spec", "defaultBackend", "service", "name"))
    if default:
        names.add(default)
    return [s for s in stack.of(SERVICE) if s.k8s_namespace == ingress.k8s_namespace and s.k8s_name in names]


def _http_listener(listen_ports: str) -> bool:
    if not listen_ports:
        return True  # the controller's default listener is HTTP:80
    try:
        ports = json.loads(listen_ports)
    except (TypeError, ValueError):
        return True
    return any(isinstance(p, dict) and "HTTP" in p for p in ports)


def _public_endpoints(stack: Stack, ctx: Ctx) -> None:
    for ingress in stack.of(INGRESS):
        a = _annotations(ingress)
        if text(a.get("alb.ingress.kubernetes.io/scheme")) != "internet-facing":
            continue
        with ctx.each():
            problems = []
            if not text(a.get("alb.ingress.kubernetes.io/certificate-arn")):
                problems.append("no ACM certificate (alb.ingress.kubernetes.io/certificate-arn)")
            if _http_listener(text(a.get("alb.ingress.kubernetes.io/listen-ports")) or ""):
                problems.append('a plain HTTP listener (alb.ingress.kubernetes.io/listen-ports must be [{"HTTPS": 443}] only)')
            if text(a.get("alb.ingress.kubernetes.io/auth-type")) not in ALB_AUTH and not _api_key_behind(stack, _backends(stack, ingress)):
                problems.append(
                    f"no authentication: neither alb.ingress.kubernetes.io/auth-type oidc|cognito nor {API_KEY_ENV}/--api-key on every server behind it"
                )
            if problems:
                ctx.violation(ingress, f"Ingress {ingress.k8s_name!r} is internet-facing with " + "; ".join(problems) + ". Keep it internal, or add them.")
    for service in stack.of(SERVICE):
        a = _annotations(service)
        if text(service.get("spec", "type")) != "LoadBalancer" or text(a.get("service.beta.kubernetes.io/aws-load-balancer-scheme")) != "internet-facing":
            continue
        with ctx.each():
            problems = []
            if not text(a.get("service.beta.kubernetes.io/aws-load-balancer-ssl-cert")):
                problems.append("no TLS listener (service.beta.kubernetes.io/aws-load-balancer-ssl-cert)")
            if not _api_key_behind(stack, [service]):
                problems.append(f"no authentication ({API_KEY_ENV} or --api-key on every server it selects; an NLB authenticates nobody)")
            if problems:
                ctx.violation(
                    service, f"Service {service.k8s_name!r} is an internet-facing NLB with " + "; ".join(problems) + ". Keep it internal, or add them."
                )


SEC_SRV_001 = stack_policy(
    rule_id="SEC-SRV-001",
    slug="public-endpoint-tls-and-auth",
    description="An internet-facing load balancer (ALB Ingress or NLB Service) terminates TLS with an ACM certificate, "
    "listens on HTTPS only and authenticates in front of the server (ALB OIDC/Cognito, or an API key every server behind it demands).",
    check=_public_endpoints,
    anchor="AWS Load Balancer Controller annotations (scheme, listen-ports, certificate-arn, auth-type, aws-load-balancer-ssl-cert); vLLM --api-key",
)

POLICIES = [SEC_SRV_001]
