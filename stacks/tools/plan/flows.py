"""The flows the platform needs, and those it must never allow: DATA, read by stacks/tools/plan/reaches.py.

An endpoint is a *role* (resolved over the plan's pods by stacks/tools/plan/reaches.py ``ROLES``), a *system endpoint*
(a pod the platform runs that the plan may not register one by one: `endpoint`), or an *address* (`address`, an IP
range: ``ADDRESSES``). Ports are ``"TCP/443"`` or ``"TCP/1024-65535"``, ``"any"`` (every protocol and port), or a
role-specific list (``"exposed"``, ``"webhook"``, ``"scraped"``: the ports that object declares).

A required flow must be allowed for every (source, destination) pair the roles give; a forbidden one for none of
them, on any port, except what its ``except`` entries list.
"""

from __future__ import annotations

# Pods outside the plan's workloads that flows name. They are added to the analysed cluster when the plan has their
# namespace (or the `when` release) and no rendered chart object already gives a pod with those labels.
SYSTEM_ENDPOINTS = (
    # EKS's CoreDNS add-on: k8s-app=kube-dns in kube-system, serving 53/UDP+TCP.
    {
        "name": "kube-dns",
        "namespace": "kube-system",
        "labels": {"k8s-app": "kube-dns"},
        "ports": [{"name": "dns", "containerPort": 53, "protocol": "UDP"}, {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"}],
    },
    # kube-prometheus-stack's Prometheus (the operator labels its pods app.kubernetes.io/name=prometheus), in the
    # namespace of the kube-prometheus-stack release (addons.observability.namespace).
    {
        "name": "prometheus",
        "namespace": None,
        # the operator's labels on the pods of the Prometheus `kube-prometheus-stack-prometheus`, which its Service selects
        "labels": {"app.kubernetes.io/name": "prometheus", "operator.prometheus.io/name": "kube-prometheus-stack-prometheus"},
        "when": "kube-prometheus-stack",
        # web: Prometheus itself; reloader-web: the operator's config-reloader sidecar (its Service and self-scrape
        # ServiceMonitor name both)
        "ports": [{"name": "web", "containerPort": 9090}, {"name": "reloader-web", "containerPort": 8080}],
    },
    # KEDA's operator (kedacore/charts keda: app.kubernetes.io/name=keda-operator; the chart is not vendored, so never
    # rendered): it runs the ScaledObjects' Prometheus queries (serving.models autoscaling).
    {
        "name": "keda-operator",
        "namespace": "keda",
        "labels": {"app.kubernetes.io/name": "keda-operator"},
        "when": "keda",
        "ports": [{"name": "metrics", "containerPort": 8080}],
    },
    # z2jh's hub and proxy (labels component, app, release: jupyterhub_config.py / the chart's matchLabels), in the
    # namespace of the jupyterhub release (namespace None: wherever the stack installs it).
    {
        "name": "jupyterhub-hub",
        "namespace": None,
        "labels": {"component": "hub", "app": "jupyterhub", "release": "jupyterhub"},
        "when": "jupyterhub",
        "ports": [{"name": "http", "containerPort": 8081}],
    },
    {
        "name": "jupyterhub-proxy",
        "namespace": None,
        "labels": {"component": "proxy", "app": "jupyterhub", "release": "jupyterhub"},
        "when": "jupyterhub",
        "ports": [{"name": "http", "containerPort": 8000}, {"name": "api", "containerPort": 8001}],
    },
    # kuberay-operator chart: app.kubernetes.io/name=kuberay-operator.
    {
        "name": "kuberay-operator",
        "namespace": "kuberay-system",
        "labels": {"app.kubernetes.io/name": "kuberay-operator"},
        "when": "kuberay-operator",
        "ports": [{"name": "http", "containerPort": 8080}],
    },
)

ADDRESSES = {
    # EKS puts the API server's cross-account ENIs in the cluster's subnets: an address of the VPC. Pods reach the
    # API server there after kube-proxy rewrites the `kubernetes` Service's ClusterIP, so NetworkPolicy sees the
    # ENI address (the reason the EKS docs tell you to allow the endpoint addresses, not the Service).
    "api-server": "vpc",
    # ALB/NLB nodes in `target-type: ip` mode send from their addresses in the VPC.
    "load-balancer": "vpc",
    "metadata": "169.254.169.254/32",
}

REQUIRED = (
    {"flow": "DNS", "from": {"role": "pod"}, "to": {"endpoint": "kube-dns"}, "ports": ["UDP/53", "TCP/53"]},
    # Notebooks of a team namespace reach their own team's Ray clusters (dashboard/job API, Ray client) and Ray Serve
    # endpoints; another team's are "team → another team" (forbidden). The hub and the proxy reach every notebook
    # (health checks, user traffic) and every notebook reaches the hub API (auth, activity for the idle culler).
    {"flow": "notebook → Ray head", "from": {"role": "notebook"}, "to": {"role": "own-team-ray-head"}, "ports": ["TCP/8265", "TCP/10001"]},
    {"flow": "notebook → Ray Serve endpoint", "from": {"role": "notebook"}, "to": {"role": "own-team-serve"}, "ports": ["TCP/8000"]},
    {"flow": "notebook → hub API", "from": {"role": "notebook"}, "to": {"endpoint": "jupyterhub-hub"}, "ports": ["TCP/8081"]},
    {"flow": "hub → notebook", "from": {"endpoint": "jupyterhub-hub"}, "to": {"role": "notebook"}, "ports": ["TCP/8888"]},
    {"flow": "proxy → notebook", "from": {"endpoint": "jupyterhub-proxy"}, "to": {"role": "notebook"}, "ports": ["TCP/8888"]},
    {"flow": "notebook → API server", "from": {"role": "notebook"}, "to": {"address": "api-server"}, "ports": ["TCP/443"]},
    {"flow": "load balancer → exposed port", "from": {"address": "load-balancer"}, "to": {"role": "exposed"}, "ports": "exposed"},
    {"flow": "API server → webhook", "from": {"address": "api-server"}, "to": {"role": "webhook"}, "ports": "webhook"},
    {"flow": "Prometheus → exporter", "from": {"endpoint": "prometheus"}, "to": {"role": "exporter"}, "ports": "scraped"},
    # NCCL's bootstrap and socket transport and Ray's object transfers use ports it picks; MPI starts ranks over ssh
    # (22, or 2222 for the non-root launcher images).
    {"flow": "job pod ↔ pod of the same job", "from": {"role": "job-pod"}, "to": {"role": "same-job"}, "ports": ["TCP/1-65535"]},
    {"flow": "KubeRay operator → Ray head", "from": {"endpoint": "kuberay-operator"}, "to": {"role": "ray-head"}, "ports": ["TCP/8265"]},
    # serving.models: KEDA reads the servers' load from Prometheus (vllm:num_requests_waiting, kv-cache use); the
    # scrape itself (Prometheus → vLLM :8000/metrics, a PodMonitor) is "Prometheus → exporter", the leader ↔ workers of a
    # LeaderWorkerSet group "job pod ↔ pod of the same job", the NLB/ALB → server "load balancer → exposed port".
    {"flow": "KEDA → Prometheus", "from": {"endpoint": "keda-operator"}, "to": {"endpoint": "prometheus"}, "ports": ["TCP/9090"]},
)

FORBIDDEN = (
    {"flow": "team → another team", "from": {"role": "tenant"}, "to": {"role": "other-team"}, "ports": "any"},
    # z2jh allows DNS ports to that address by default (GCP's resolver lives there); the instance metadata
    # service (IMDS: HTTP 80) and everything else on it must stay out of reach.
    {
        "flow": "notebook → cloud metadata",
        "from": {"role": "notebook"},
        "to": {"address": "metadata"},
        "ports": "any",
        "except": [{"address": "metadata", "ports": ["UDP/53", "TCP/53"]}],
    },
    # What tenants may reach in system namespaces: DNS only.
    {
        "flow": "tenant → system namespace",
        "from": {"role": "tenant"},
        "to": {"role": "system"},
        "ports": "any",
        # The hub API, for notebooks (addons/tenancy.py allow-notebooks; the hub authenticates every request with the
        # server's token). NetworkPolicy selects pods by labels the tenant writes, so any team pod labelled
        # component=singleuser-server gets this one port too.
        "except": [{"endpoint": "kube-dns", "ports": ["UDP/53", "TCP/53"]}, {"endpoint": "jupyterhub-hub", "ports": ["TCP/8081"]}],
    },
)
