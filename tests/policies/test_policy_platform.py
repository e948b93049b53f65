"""SEC-JH-001 ... DATA-JH-003, SEC-RAY-001, SEC-HELM-001."""

from policy_builder import UNKNOWN, k8s, res, verdicts
from pools import cpu_pool

RELEASE = "kubernetes:helm.sh/v3:Release"
SAFE_HUB = {
    "hub": {"config": {"JupyterHub": {"authenticator_class": "generic-oauth"}}},
    "proxy": {"service": {"type": "ClusterIP"}},
    "singleuser": {"storage": {"dynamic": {"storageClass": "crucible-gp3"}}},
}


def jupyterhub(values=None, name="jupyterhub", namespace="jupyterhub", version="4.4.0"):
    return res(
        RELEASE,
        name,
        {
            "chart": "jupyterhub",
            "version": version,
            "namespace": namespace,
            "repositoryOpts": {"repo": "https://hub.jupyter.org/helm-chart/"},
            "values": SAFE_HUB if values is None else values,
        },
    )


def with_values(**overrides):
    values = {k: dict(v) for k, v in SAFE_HUB.items()}
    for path, value in overrides.items():
        node = values
        keys = path.split("__")
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    return values


# SEC-JH-001
def test_jupyterhub_with_a_real_authenticator_passes():
    assert verdicts("sec-jh-001-jupyterhub-authenticator", [jupyterhub()]) == []


def test_jupyterhub_with_the_chart_default_or_a_dummy_authenticator_fires():
    default = jupyterhub({"proxy": {"service": {"type": "ClusterIP"}}}, name="default")
    dummy = jupyterhub(with_values(hub__config__JupyterHub__authenticator_class="DummyAuthenticator.DummyAuthenticator".lower()), name="dummy")
    shared = jupyterhub(with_values(hub__config__JupyterHub__authenticator_class="shared-password"), name="shared")
    assert verdicts("sec-jh-001-jupyterhub-authenticator", [default, dummy, shared]) == [
        ("default", "mandatory"),
        ("dummy", "mandatory"),
        ("shared", "mandatory"),
    ]
    assert verdicts("sec-jh-001-jupyterhub-authenticator", [default], env="dev") == [("default", "advisory")]


def test_other_releases_are_not_judged_as_jupyterhub():
    other = res(RELEASE, "kueue", {"chart": "oci://registry.k8s.io/kueue/charts/kueue", "version": "0.19.2", "values": {}})
    assert verdicts("sec-jh-001-jupyterhub-authenticator", [other]) == []


# SEC-JH-002
def test_jupyterhub_behind_cluster_ip_or_an_internal_load_balancer_passes():
    internal = jupyterhub(
        with_values(proxy__service={"type": "LoadBalancer", "annotations": {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"}}),
        name="internal",
    )
    assert verdicts("sec-jh-002-jupyterhub-exposure", [jupyterhub(), internal]) == []


def test_jupyterhub_exposure_and_metadata_access_fire():
    public = jupyterhub(with_values(proxy__service={}), name="public")  # chart default: LoadBalancer
    imds = jupyterhub(
        with_values(
            singleuser__cloudMetadata={"blockWithIptables": False},
            singleuser__networkPolicy={"enabled": True, "egressAllowRules": {"cloudMetadataServer": True}},
        ),
        name="imds",
    )
    # one effect (IMDS reachable), however many settings open it: one finding naming them all
    assert verdicts("sec-jh-002-jupyterhub-exposure", [public, imds]) == [("imds", "mandatory"), ("public", "mandatory")]


def _network_policy_way(egress):
    return with_values(singleuser__cloudMetadata={"blockWithIptables": False}, singleuser__networkPolicy={"enabled": True, "egress": egress})


def test_imds_blocked_by_network_policy_instead_of_the_privileged_init_container_passes():
    # z2jh: blockWithIptables false + the singleuser NetworkPolicy (its nonPrivateIPs rule excepts 169.254.169.254);
    # extra egress rules that do not reach the metadata address, written several ways.
    shapes = {
        "no-extra-rules": [],
        "https-anywhere": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 443, "protocol": "TCP"}]}],
        "anywhere-but-imds": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}]}],
        "pods-only": [{"to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"ray.io/node-type": "head"}}}]}],
    }
    hubs = [jupyterhub(_network_policy_way(egress), name=name) for name, egress in shapes.items()]
    assert verdicts("sec-jh-002-jupyterhub-exposure", hubs) == []


def test_imds_reached_by_an_extra_notebook_egress_rule_fires():
    shapes = {
        "link-local": [{"to": [{"ipBlock": {"cidr": "169.254.0.0/16"}}]}],
        "everything": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 80}]}],
        "no-destination": [{"ports": [{"port": 1, "endPort": 1024, "protocol": "TCP"}]}],
        "host-route": [{"to": [{"ipBlock": {"cidr": "169.254.169.254/32"}}], "ports": [{"port": 80, "protocol": "TCP"}]}],
    }
    hubs = [jupyterhub(_network_policy_way(egress), name=name) for name, egress in shapes.items()]
    assert verdicts("sec-jh-002-jupyterhub-exposure", hubs) == sorted((name, "mandatory") for name in shapes)


# DATA-JH-003
def storage_class(name="crucible-gp3", **inputs):
    sc = k8s("storage.k8s.io/v1", "StorageClass", name)
    sc["inputs"].update(
        {
            "provisioner": "ebs.csi.aws.com",
            "reclaimPolicy": "Retain",
            "volumeBindingMode": "WaitForFirstConsumer",
            "parameters": {"type": "gp3", "encrypted": "true"},
            **inputs,
        }
    )
    return sc


def hub_namespace(protect=True):
    return k8s("v1", "Namespace", "jupyterhub", protect=protect)


def test_home_volumes_on_a_retained_encrypted_class_in_a_protected_namespace_pass():
    notebooks = cpu_pool("notebooks", workload="interactive", zones=("us-east-1a", "us-east-1b"))
    other = cpu_pool("serving", zones=("us-east-1a", "us-east-1b"))
    assert verdicts("data-jh-003-jupyterhub-home-volumes", [jupyterhub(), storage_class(), hub_namespace(), notebooks, other]) == []


def test_home_volumes_on_a_deleting_class_or_in_an_unprotected_namespace_fire():
    deleting = storage_class(reclaimPolicy="Delete")
    assert verdicts("data-jh-003-jupyterhub-home-volumes", [jupyterhub(), deleting, hub_namespace(protect=False)]) == [
        ("crucible-gp3", "mandatory"),
        ("jupyterhub", "mandatory"),
    ]


def test_home_volumes_on_the_default_class_or_a_namespace_the_stack_does_not_own_fire():
    default_class = jupyterhub(with_values(singleuser__storage={}))
    assert verdicts("data-jh-003-jupyterhub-home-volumes", [default_class]) == [("jupyterhub", "mandatory")] * 2


def test_notebook_pool_missing_a_zone_fires_and_dev_advises():
    notebooks = cpu_pool("notebooks", workload="interactive", zones=("us-east-1a",))
    other = cpu_pool("serving", zones=("us-east-1a", "us-east-1b"))
    resources = [jupyterhub(), storage_class(), hub_namespace(), notebooks, other]
    assert verdicts("data-jh-003-jupyterhub-home-volumes", resources) == [("notebooks", "mandatory")]
    assert verdicts("data-jh-003-jupyterhub-home-volumes", resources, env="dev") == [("notebooks", "advisory")]


# SEC-RAY-001
def ray_cluster(name="ray", service_type="ClusterIP", version="2.49.0", **spec):
    head = {"serviceType": service_type, "rayStartParams": {}, "template": {"spec": {"containers": [{"name": "head", "image": f"rayproject/ray:{version}"}]}}}
    return k8s("ray.io/v1", "RayCluster", name, {"rayVersion": version, "headGroupSpec": head, **spec})


def test_ray_cluster_behind_cluster_ip_passes():
    token = ray_cluster("token", version="2.52.0", authOptions={"mode": "token"})
    operator = res(RELEASE, "kuberay", {"chart": "kuberay-operator", "version": "1.7.0", "values": {}})
    assert verdicts("sec-ray-001-ray-head-not-exposed", [ray_cluster(), token, operator]) == []


def test_exposed_head_missing_token_auth_and_unpinned_operator_fire():
    exposed = ray_cluster("exposed", service_type="LoadBalancer")
    no_token = ray_cluster("no-token", version="2.52.1")
    service = k8s("ray.io/v1", "RayService", "serve", {"rayClusterConfig": ray_cluster(service_type="NodePort")["inputs"]["spec"]})
    operator = res(RELEASE, "kuberay", {"chart": "kuberay-operator", "values": {}})
    ingress = k8s(
        "networking.k8s.io/v1",
        "Ingress",
        "dashboard",
        {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "ray-head-svc", "port": {"number": 8265}}}}]}}]},
    )
    assert verdicts("sec-ray-001-ray-head-not-exposed", [exposed, no_token, service, operator, ingress]) == [
        ("dashboard", "mandatory"),
        ("exposed", "mandatory"),
        ("kuberay", "mandatory"),
        ("no-token", "mandatory"),
        ("serve", "mandatory"),
    ]
    assert verdicts("sec-ray-001-ray-head-not-exposed", [exposed], env="dev") == [("exposed", "advisory")]


# SEC-HELM-001
def test_pinned_releases_images_and_immutable_scanned_repositories_pass():
    release = res(
        RELEASE,
        "nvidia",
        {"chart": "nvidia-device-plugin", "version": "0.20.0", "values": {"image": {"repository": "nvcr.io/nvidia/k8s-device-plugin", "tag": "v0.18.0"}}},
    )
    job = k8s("batch/v1", "Job", "nccl", {"template": {"spec": {"containers": [{"name": "t", "image": "public.ecr.aws/x/nccl@sha256:abc"}]}}})
    repo = res("aws:ecr/repository:Repository", "models", {"imageTagMutability": "IMMUTABLE", "imageScanningConfiguration": {"scanOnPush": True}})
    computed = k8s("batch/v1", "Job", "computed", {"template": {"spec": {"containers": [{"name": "t", "image": UNKNOWN}]}}})
    assert verdicts("sec-helm-001-supply-chain-pinning", [release, job, repo, computed]) == []


def test_unpinned_versions_latest_or_untagged_images_and_mutable_repositories_fire():
    unpinned = res(RELEASE, "unpinned", {"chart": "kueue", "version": "^0.19", "values": {}})
    latest = res(RELEASE, "latest", {"chart": "x", "version": "1.0.0", "values": {"image": {"repository": "r", "tag": "latest"}}})
    job = k8s(
        "kubeflow.org/v2beta1",
        "MPIJob",
        "nccl-tests",
        {
            "mpiReplicaSpecs": {
                "Launcher": {
                    "template": {
                        "spec": {"containers": [{"name": "l", "image": "public.ecr.aws/hpc-cloud/nccl-tests:latest"}, {"name": "u", "image": "busybox"}]}
                    }
                }
            }
        },
    )
    repo = res("aws:ecr/repository:Repository", "models", {})
    assert verdicts("sec-helm-001-supply-chain-pinning", [unpinned, latest, job, repo]) == [
        ("latest", "mandatory"),
        ("models", "mandatory"),
        ("models", "mandatory"),
        ("nccl-tests", "mandatory"),
        ("nccl-tests", "mandatory"),
        ("unpinned", "mandatory"),
    ]
    assert verdicts("sec-helm-001-supply-chain-pinning", [unpinned], env="dev") == [("unpinned", "advisory")]
