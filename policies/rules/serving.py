"""Serving endpoints: a load balancer facing the internet carries TLS and authentication (SEC-SRV-001).

An OpenAI-compatible server answers anyone who reaches it (vLLM checks no caller unless started with `--api-key`),
and every request burns accelerator time; so an internet-facing ALB (Ingress `alb.ingress.kubernetes.io/scheme:
internet-facing`, or the `scheme` of the IngressClassParams its class, or the default class, names: that wins over
the annotation) or NLB (Service `service.beta.kubernetes.io/aws-load-balancer-scheme: internet-facing`, or without
it the deprecated `aws-load-balancer-internal: "false"`) must

- terminate TLS with an ACM certificate and listen on HTTPS only (ALB: `certificate-arn` and `listen-ports` without
  an HTTP listener; NLB: `aws-load-balancer-ssl-cert`), and
- authenticate in front of the server: the ALB's own authentication (`auth-type` oidc or cognito), or an API key
  every server behind it demands (the pods the backend Services select set `VLLM_API_KEY` or pass `--api-key`,
  with a value: an empty key checks nobody; in the container that declares the Service's target port, not a
  sidecar). An NLB's `aws-load-balancer-ssl-ports` (default every port) must leave no port plain.

Load balancer annotations: AWS Load Balancer Controller docs (ingress/annotations: scheme, listen-ports,
certificate-arn, auth-type; service/annotations: aws-load-balancer-scheme, aws-load-balancer-ssl-cert); vLLM
OpenAI server: `--api-key` / `VLLM_API_KEY` (docs.vllm.ai serving/openai_compatible_server).
"""

from __future__ import annotations

import json

from policies.support.rule import Ctx, Res, Stack, stack_policy
from policies.support.tokens import INGRESS, one_of
from policies.support.values import as_dict, as_list, dig, is_set, text

SERVICE = one_of("kubernetes:core/v1:Service")
INGRESS_CLASS = one_of("kubernetes:networking.k8s.io/v1:IngressClass")
INGRESS_CLASS_PARAMS = one_of("kubernetes:elbv2.k8s.aws/v1beta1:IngressClassParams")
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


def _key_given(env: dict) -> bool:
    """An env entry that sets the key: from a Secret/ConfigMap, or a non-empty literal (vLLM checks no caller when
    the key is empty: `--api-key ""` and `VLLM_API_KEY=""` leave the server open)."""
    if is_set(env.get("valueFrom")):
        return True
    value = env.get("value")
    return not isinstance(value, str) or bool(value.strip())


def _arg_key_given(words: list[str]) -> bool:
    for i, word in enumerate(words):
        if word.startswith("--api-key="):
            if word.split("=", 1)[1].strip().strip("'\""):
                return True
        elif word == "--api-key" and i + 1 < len(words) and words[i + 1].strip().strip("'\"") and not words[i + 1].startswith("--"):
            return True
    return False


def _container_demands_key(c: dict) -> bool:
    if any(isinstance(e, dict) and e.get("name") == API_KEY_ENV and _key_given(e) for e in as_list(c.get("env"))):
        return True
    words = [w for a in [*as_list(c.get("command")), *as_list(c.get("args"))] for w in str(a).split()]  # `sh -c "vllm serve ..."` too
    return _arg_key_given(words)


def _serving_containers(template: dict, target_ports: set) -> list[dict]:
    """The containers that answer the Service: those declaring one of its target ports (number or name); when none
    declares a port, every container (any of them may listen, so each must demand the key)."""
    containers = [c for c in as_list(dig(template, "spec", "containers")) if isinstance(c, dict)]
    serving = [c for c in containers if any(isinstance(p, dict) and ({p.get("containerPort"), p.get("name")} & target_ports) for p in as_list(c.get("ports")))]
    return serving or containers


def _demands_api_key(template: dict, target_ports: set) -> bool:
    serving = _serving_containers(template, target_ports)
    return bool(serving) and all(_container_demands_key(c) for c in serving)


def _target_ports(service: Res) -> set:
    ports = set()
    for port in as_list(service.get("spec", "ports")):
        if isinstance(port, dict):
            target = port.get("targetPort", port.get("port"))
            ports.add(int(target) if isinstance(target, (int, float)) or (isinstance(target, str) and target.isdigit()) else target)
    return ports


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
    behind = [(t, _target_ports(s)) for s in services for t in _selected(stack, s)]
    return bool(behind) and all(_demands_api_key(t, ports) for t, ports in behind)


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


def _class_params(stack: Stack, ingress: Res) -> dict:
    """The spec of the IngressClassParams the Ingress's class names (its scheme and certificateArn apply to every
    Ingress of the class and win over the Ingress's annotations); an Ingress without a class takes the default class."""
    name = text(ingress.get("spec", "ingressClassName")) or text(_annotations(ingress).get("kubernetes.io/ingress.class"))
    classes = stack.of(INGRESS_CLASS)
    if name:
        chosen = [c for c in classes if c.k8s_name == name]
    else:
        chosen = [c for c in classes if text(_annotations(c).get("ingressclass.kubernetes.io/is-default-class")) == "true"]
    for ingress_class in chosen:
        ref = as_dict(ingress_class.get("spec", "parameters"))
        if ref.get("kind") != "IngressClassParams":
            continue
        for params in stack.of(INGRESS_CLASS_PARAMS):
            if params.k8s_name == ref.get("name"):
                return as_dict(params.get("spec"))
    return {}


def _nlb_internet_facing(annotations: dict) -> bool:
    """The scheme annotation, else the deprecated aws-load-balancer-internal: "false" (LBC service annotations: the
    scheme defaults to internal; internal=false asks for internet-facing)."""
    scheme = text(annotations.get("service.beta.kubernetes.io/aws-load-balancer-scheme"))
    if scheme:
        return scheme == "internet-facing"
    return str(text(annotations.get("service.beta.kubernetes.io/aws-load-balancer-internal")) or "").strip().lower() == "false"


def _plain_ports(service: Res, annotations: dict) -> list[str]:
    """Service ports without a TLS listener: aws-load-balancer-ssl-ports (default "*": every port) names the TLS ones."""
    raw = text(annotations.get("service.beta.kubernetes.io/aws-load-balancer-ssl-ports"))
    tls = {p.strip() for p in str(raw).split(",") if p.strip()} if raw else {"*"}
    if "*" in tls:
        return []
    out = []
    for port in as_list(service.get("spec", "ports")):
        if isinstance(port, dict) and not ({str(port.get("port")), str(port.get("name"))} & tls):
            out.append(str(port.get("port")))
    return out


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
        params = _class_params(stack, ingress)
        if (text(params.get("scheme")) or text(a.get("alb.ingress.kubernetes.io/scheme"))) != "internet-facing":
            continue
        with ctx.each():
            problems = []
            if not text(a.get("alb.ingress.kubernetes.io/certificate-arn")) and not as_list(params.get("certificateArn")):
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
        if text(service.get("spec", "type")) != "LoadBalancer" or not _nlb_internet_facing(a):
            continue
        with ctx.each():
            problems = []
            if not text(a.get("service.beta.kubernetes.io/aws-load-balancer-ssl-cert")):
                problems.append("no TLS listener (service.beta.kubernetes.io/aws-load-balancer-ssl-cert)")
            elif _plain_ports(service, a):
                problems.append(
                    f"plain listeners on port(s) {', '.join(_plain_ports(service, a))} (service.beta.kubernetes.io/aws-load-balancer-ssl-ports leaves them out)"
                )
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
