"""SEC-SRV-001: an internet-facing load balancer carries TLS and authentication."""

from policy_builder import k8s, verdicts

POLICY = "sec-srv-001-public-endpoint-tls-and-auth"
CERT = "arn:aws:acm:us-east-1:111122223333:certificate/12345678-1234-1234-1234-123456789012"
LABELS = {"app.kubernetes.io/name": "vllm", "crucible.io/model": "chat"}


def server(api_key=False):
    env = [{"name": "VLLM_API_KEY", "valueFrom": {"secretKeyRef": {"name": "chat-api-key", "key": "key"}}}] if api_key else []
    template = {"metadata": {"labels": LABELS}, "spec": {"containers": [{"name": "vllm", "image": "vllm/vllm-openai:v0.10.2", "env": env}]}}
    return k8s("apps/v1", "Deployment", "chat", {"selector": {"matchLabels": LABELS}, "template": template}, metadata={"namespace": "llm"})


def service(name="chat", **spec):
    return k8s("v1", "Service", name, {"selector": LABELS, "ports": [{"port": 80, "targetPort": 8000}], **spec}, metadata={"namespace": "llm"})


def ingress(**annotations):
    base = {"alb.ingress.kubernetes.io/scheme": "internet-facing", "alb.ingress.kubernetes.io/target-type": "ip"}
    spec = {
        "ingressClassName": "alb",
        "rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "chat", "port": {"number": 80}}}}]}}],
    }
    return k8s("networking.k8s.io/v1", "Ingress", "chat", spec, metadata={"namespace": "llm", "annotations": {**base, **annotations}})


HTTPS = {"alb.ingress.kubernetes.io/certificate-arn": CERT, "alb.ingress.kubernetes.io/listen-ports": '[{"HTTPS": 443}]'}


def test_a_public_alb_with_tls_and_oidc_passes():
    assert verdicts(POLICY, [server(), service(), ingress(**HTTPS, **{"alb.ingress.kubernetes.io/auth-type": "oidc"})]) == []


def test_a_public_alb_with_tls_in_front_of_api_key_servers_passes():
    assert verdicts(POLICY, [server(api_key=True), service(), ingress(**HTTPS)]) == []


def test_a_public_alb_without_authentication_fires_mandatory_in_prod_and_advisory_in_dev():
    # dev relaxes it like every rule beyond the catalogue; the spec refuses such an endpoint in every environment
    resources = [server(), service(), ingress(**HTTPS)]
    assert verdicts(POLICY, resources) == [("chat", "mandatory")]
    assert verdicts(POLICY, resources, env="dev") == [("chat", "advisory")]


def test_a_public_alb_without_a_certificate_or_with_an_http_listener_fires():
    no_cert = ingress(**{"alb.ingress.kubernetes.io/listen-ports": '[{"HTTPS": 443}]', "alb.ingress.kubernetes.io/auth-type": "oidc"})
    assert verdicts(POLICY, [server(), service(), no_cert]) == [("chat", "mandatory")]
    plain = ingress(**{**HTTPS, "alb.ingress.kubernetes.io/listen-ports": '[{"HTTP": 80}, {"HTTPS": 443}]', "alb.ingress.kubernetes.io/auth-type": "oidc"})
    assert verdicts(POLICY, [server(), service(), plain]) == [("chat", "mandatory")]


def test_an_internal_load_balancer_is_not_asked():
    internal = ingress(**{"alb.ingress.kubernetes.io/scheme": "internal"})
    nlb = service("chat-internal", type="LoadBalancer")
    nlb["inputs"]["metadata"]["annotations"] = {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"}
    assert verdicts(POLICY, [server(), service(), internal, nlb]) == []


def test_a_public_nlb_needs_tls_and_an_api_key_behind_it():
    def nlb(**annotations):
        svc = service("chat-public", type="LoadBalancer")
        svc["inputs"]["metadata"]["annotations"] = {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing", **annotations}
        return svc

    assert verdicts(POLICY, [server(), nlb()]) == [("chat-public", "mandatory")]
    assert verdicts(POLICY, [server(api_key=True), nlb(**{"service.beta.kubernetes.io/aws-load-balancer-ssl-cert": CERT})]) == []


def test_the_class_parameters_decide_the_scheme_and_may_carry_the_certificate():
    from shapes_endpoints import public_class

    by_class = ingress(**{"alb.ingress.kubernetes.io/listen-ports": '[{"HTTPS": 443}]', "alb.ingress.kubernetes.io/auth-type": "oidc"})
    by_class["inputs"]["spec"]["ingressClassName"] = "public-alb"
    assert verdicts(POLICY, [server(), service(), by_class, *public_class(certificateArn=[CERT])]) == []
    internal = public_class()
    internal[1]["inputs"]["spec"]["scheme"] = "internal"  # wins over the Ingress's internet-facing annotation
    assert verdicts(POLICY, [server(), service(), by_class, *internal]) == []


def test_an_nlb_with_tls_on_every_port_in_front_of_key_demanding_servers_passes():
    from shapes_endpoints import NLB_TLS, keyed_server, nlb

    ports = [{"name": "https", "port": 443, "targetPort": 8000}]
    key_in_shell = keyed_server([{"name": "vllm", "image": "vllm/vllm-openai:v0.10.2", "command": ["sh", "-c", "vllm serve m --api-key $(cat /key)"]}])
    assert verdicts(POLICY, [key_in_shell, nlb(ports=ports, **NLB_TLS, **{"service.beta.kubernetes.io/aws-load-balancer-ssl-ports": "https"})]) == []
    server_keyed = keyed_server(
        [
            {"name": "vllm", "image": "vllm/vllm-openai:v0.10.2", "ports": [{"containerPort": 8000}], "env": [{"name": "VLLM_API_KEY", "valueFrom": {}}]},
            {"name": "metrics", "image": "exporter:1", "ports": [{"containerPort": 9100}]},
        ]
    )
    server_keyed["inputs"]["spec"]["template"]["spec"]["containers"][0]["env"][0]["valueFrom"] = {"secretKeyRef": {"name": "k", "key": "key"}}
    assert verdicts(POLICY, [server_keyed, nlb(**NLB_TLS)]) == []
