"""JupyterHub: profiles derived from the pools, real authentication outside dev, private exposure, strict chart values."""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from addons.jupyterhub import JupyterHubArgs, jupyterhub_values
from helpers import addons_program, plan, shared_dir, spec_of
from stacks.derive.profiles import notebook_profiles
from stacks.tools.harness import run_program
from stacks.spec import ConfigError
from upstream import strict

RELEASE = "kubernetes:helm.sh/v3:Release"
GITHUB = {"clientId": "Iv1.abc", "callbackUrl": "https://hub.example.com/hub/oauth_callback", "allowedOrganizations": ["acme"]}
COGNITO = {
    "clientId": "5abc",
    "callbackUrl": "https://hub.internal.example.com/hub/oauth_callback",
    "authorizeUrl": "https://acme.auth.us-east-1.amazoncognito.com/oauth2/authorize",
    "tokenUrl": "https://acme.auth.us-east-1.amazoncognito.com/oauth2/token",
    "userdataUrl": "https://acme.auth.us-east-1.amazoncognito.com/oauth2/userInfo",
    "claimGroupsKey": "cognito:groups",
    "allowedGroups": ["ml-users"],
}
CERT = "arn:aws:acm:us-east-1:111122223333:certificate/12345678-1234-1234-1234-123456789012"
POOLS = [
    {"name": "cpu-nb", "kind": "cpu", "workload": "interactive", "instanceTypes": ["m7i.2xlarge"], "maxNodes": 4},
    {"name": "gpu-nb", "kind": "gpu", "workload": "interactive", "instanceTypes": ["g6e.xlarge"], "maxNodes": 4},
    {"name": "trn-nb", "kind": "neuron", "workload": "interactive", "instanceTypes": ["trn1.2xlarge"], "maxNodes": 2},
    {"name": "train", "kind": "gpu", "workload": "training", "instanceTypes": ["p5.48xlarge"], "maxNodes": 2},
]


# A hub needs a cpu pool for its default profile (the system nodes are tainted for platform pods only).
HUB_POOLS = [{**POOLS[0], "amiVersion": "v20251108"}]
DEV_HUB = {"pools": HUB_POOLS, "addons": {"jupyterhub": {"enabled": True}}}


def prod_hub(**hub) -> dict:
    return {
        "jupyterhubOauthClientSecret": "s3cr3t-client-value",
        "addons": {"jupyterhub": {"enabled": True, "authenticator": "github", "oauth": GITHUB, **hub}},
    }


def prod_hub_plan(**hub) -> dict:
    return {"pools": HUB_POOLS, **prod_hub(**hub)}


def problems(env: str, **overrides) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        spec_of(env, **overrides)
    return {p.path: p.message for p in caught.value.problems}


# ---- the chart's values schema, strictly -------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _schema_and_defaults() -> tuple[dict, dict]:
    root = Path(shared_dir(), "upstream")
    schema = yaml.safe_load((root / "crds/z2jh/values.schema.yaml").read_text())
    defaults = yaml.safe_load((root / "extras/z2jh/values.yaml").read_text())
    return strict(schema), defaults


def helm_merge(defaults: dict, values: dict) -> dict:
    """Helm's rule: maps merge, everything else (lists included) replaces."""
    out = copy.deepcopy(defaults)
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = helm_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def z2jh_errors(values: dict) -> list[str]:
    schema, defaults = _schema_and_defaults()
    merged = helm_merge(defaults, json.loads(json.dumps(values)))
    validator = jsonschema.Draft7Validator(schema)
    return sorted(f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(merged))


def hub_values(run) -> dict:
    return run.one(RELEASE, "jupyterhub").inputs["values"]


def test_the_strict_schema_catches_an_invented_key():
    assert z2jh_errors({}) == []  # the chart's own defaults are valid
    assert any("singleuser" in e for e in z2jh_errors({"singleuser": {"profileLists": []}}))
    assert any("hub.config" in e for e in z2jh_errors({"hub": {"config": {"authenticator_class": "github"}}}))


@pytest.mark.parametrize(
    "env, overrides",
    [
        ("dev", DEV_HUB),
        ("prod", prod_hub_plan()),
        ("prod", prod_hub_plan(exposure="public", certificateArn=CERT, sourceRanges=["198.51.100.0/24"])),
        ("prod", {**prod_hub_plan(exposure="internal-lb", authenticator="generic-oauth", oauth=COGNITO)}),
    ],
    ids=["dev-dummy", "prod-github-private", "prod-public-tls", "prod-cognito-internal-lb"],
)
def test_values_validate_strictly_against_the_z2jh_schema(env, overrides):
    run = plan(env, **overrides)
    assert z2jh_errors(hub_values(run)) == []


def test_values_with_accelerator_profiles_validate_strictly():
    spec = spec_of("dev", pools=POOLS, addons={"jupyterhub": {"enabled": True, "gpuImage": "quay.io/jupyter/pytorch-notebook:cuda12-2026-01-01"}})
    profiles = notebook_profiles(spec.pools, which="all", gpu_image=spec.addons.jupyterhub.gpu_image)
    values = jupyterhub_values(JupyterHubArgs(version="4.4.0", namespace="jupyterhub", system_pool="system", profiles=profiles, authenticator="dummy"))
    assert len(values["singleuser"]["profileList"]) == 4
    assert z2jh_errors(values) == []


# ---- profiles land on their pools -----------------------------------------------------------------------


def test_one_profile_per_interactive_accelerator_pool_and_a_cpu_default():
    profiles = notebook_profiles(spec_of("dev", pools=POOLS).pools)
    assert [p.slug for p in profiles] == ["cpu", "gpu-nb", "trn-nb"]  # the training pool gets none
    cpu, gpu, trn = (p.profile_list_entry() for p in profiles)
    assert cpu["default"] is True and cpu["kubespawner_override"] == {"node_selector": {"karpenter.sh/nodepool": "cpu-nb"}}
    assert gpu["kubespawner_override"] == {
        "node_selector": {"karpenter.sh/nodepool": "gpu-nb"},
        "extra_resource_limits": {"nvidia.com/gpu": "1"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    }
    assert trn["kubespawner_override"] == {
        "node_selector": {"karpenter.sh/nodepool": "trn-nb"},
        "extra_resource_limits": {"aws.amazon.com/neuron": "1"},
        "tolerations": [{"key": "aws.amazon.com/neuron", "operator": "Exists", "effect": "NoSchedule"}],
    }
    assert "default" not in gpu and "default" not in trn


def test_every_accelerator_pool_gets_a_profile_when_asked():
    profiles = notebook_profiles(spec_of("dev", pools=POOLS).pools, which="all")
    train = next(p for p in profiles if p.pool == "train")
    assert train.accelerator_resource == "nvidia.com/gpu" and train.accelerators == 1


def test_the_default_profile_uses_the_configured_cpu_pool_and_refuses_an_accelerator_pool():
    pools = POOLS + [{"name": "cpu-batch", "kind": "cpu", "workload": "training", "instanceTypes": ["c7i.4xlarge"], "maxNodes": 2}]
    spec = spec_of("dev", pools=pools, addons={"jupyterhub": {"enabled": True, "defaultPool": "cpu-batch"}})
    assert notebook_profiles(spec.pools, default_pool=spec.addons.jupyterhub.default_pool)[0].node_selector == {"karpenter.sh/nodepool": "cpu-batch"}
    found = problems("dev", pools=POOLS, addons={"jupyterhub": {"enabled": True, "defaultPool": "gpu-nb"}})
    assert "a cpu pool" in found["crucible:addons.jupyterhub.defaultPool"]


def test_the_wiring_puts_the_derived_profiles_in_the_release():

    spec = spec_of("dev", pools=POOLS, addons={"jupyterhub": {"enabled": True}})

    run = run_program(addons_program(spec), stack="test", config={})
    entries = hub_values(run)["singleuser"]["profileList"]
    assert [e["slug"] for e in entries] == [p.slug for p in notebook_profiles(spec.pools)]
    assert entries[1]["kubespawner_override"]["node_selector"] == {"karpenter.sh/nodepool": "gpu-nb"}


# ---- what every hub gets -------------------------------------------------------------------------------


def test_hub_release_is_pinned_private_culled_and_on_the_system_nodes():
    run = plan("dev", pools=HUB_POOLS, addons={"jupyterhub": {"enabled": True, "cullTimeoutSeconds": 900}})
    release = run.one(RELEASE, "jupyterhub")
    assert (release.inputs["chart"], release.inputs["version"]) == ("jupyterhub", "4.4.0")
    assert release.inputs["repositoryOpts"]["repo"] == "https://hub.jupyter.org/helm-chart/"
    values = release.inputs["values"]
    assert values["proxy"]["service"] == {"type": "ClusterIP"}
    assert values["cull"] == {"enabled": True, "timeout": 900, "every": 600}
    # IMDS is blocked the NetworkPolicy way (the chart's nonPrivateIPs rule excepts it), not by a privileged init container
    assert values["singleuser"]["cloudMetadata"]["blockWithIptables"] is False
    assert values["singleuser"]["networkPolicy"]["enabled"] is True
    assert values["singleuser"]["networkPolicy"]["egressAllowRules"]["cloudMetadataServer"] is False
    for where in (values["hub"], values["proxy"]["chp"], values["scheduling"]["userScheduler"]):
        assert where["nodeSelector"] == {"crucible.io/pool": "system"}
        assert {"key": "CriticalAddonsOnly", "operator": "Exists", "effect": "NoSchedule"} in where["tolerations"]


def test_user_volumes_use_the_retain_storage_class_and_shared_data_is_mounted():
    run = plan("dev", **DEV_HUB)
    storage = hub_values(run)["singleuser"]["storage"]
    classes = {r.inputs["metadata"]["name"]: r.inputs for r in run.of_type("kubernetes:storage.k8s.io/v1:StorageClass")}
    assert classes[storage["dynamic"]["storageClass"]]["reclaimPolicy"] == "Retain"
    assert hub_values(run)["hub"]["db"]["pvc"]["storageClassName"] == storage["dynamic"]["storageClass"]
    mounts = {m["name"]: m for m in storage["extraVolumeMounts"]}
    assert mounts["shared-lustre"]["mountPath"] == "/fsx" and not mounts["shared-lustre"].get("readOnly")
    datasets = [m for m in mounts.values() if m["name"].startswith("dataset-")]
    assert datasets and all(m["readOnly"] is True and m["mountPath"].startswith("/datasets/") for m in datasets)
    claims = {
        r.inputs["metadata"]["name"]: r for r in run.of_type("kubernetes:core/v1:PersistentVolumeClaim") if r.inputs["metadata"]["namespace"] == "jupyterhub"
    }
    for volume in storage["extraVolumes"]:
        assert volume["persistentVolumeClaim"]["claimName"] in claims
    lustre_pv = next(r for r in run.of_type("kubernetes:core/v1:PersistentVolume") if r.name == "jupyterhub-lustre")
    assert lustre_pv.inputs["spec"]["csi"]["driver"] == "fsx.csi.aws.com"
    assert lustre_pv.inputs["spec"]["claimRef"] == {"namespace": "jupyterhub", "name": "shared-lustre"}


def test_the_hub_namespace_is_protected_in_prod():
    run = plan("prod", **prod_hub_plan())
    ns = run.one("kubernetes:core/v1:Namespace", "jupyterhub-namespace")
    assert ns.protect and ns.retain_on_delete


# ---- authentication ------------------------------------------------------------------------------------


def test_github_authenticator_uses_class_names_and_the_secret_stays_secret():
    run = plan("prod", **prod_hub_plan())
    config = hub_values(run)["hub"]["config"]
    assert config["JupyterHub"]["authenticator_class"] == "github"
    assert config["GitHubOAuthenticator"]["client_id"] == "Iv1.abc"
    assert config["GitHubOAuthenticator"]["allowed_organizations"] == ["acme"]
    assert "client_secret" not in config["GitHubOAuthenticator"]  # read from the Secret through OAUTH_CLIENT_SECRET
    secret = run.one("kubernetes:core/v1:Secret", "jupyterhub-oauth")
    assert secret.inputs["stringData"] == "[secret]"
    ref = hub_values(run)["hub"]["extraEnv"]["OAUTH_CLIENT_SECRET"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": secret.inputs["metadata"]["name"], "key": "client-secret"}
    assert "s3cr3t-client-value" not in json.dumps(run.to_json())


def test_generic_oauth_for_cognito():
    run = plan("prod", **prod_hub_plan(authenticator="generic-oauth", oauth=COGNITO))
    config = hub_values(run)["hub"]["config"]
    assert config["JupyterHub"]["authenticator_class"] == "generic-oauth"
    generic = config["GenericOAuthenticator"]
    assert generic["token_url"] == COGNITO["tokenUrl"] and generic["userdata_url"] == COGNITO["userdataUrl"]
    assert generic["allowed_groups"] == ["ml-users"] and generic["claim_groups_key"] == "cognito:groups"
    assert generic["scope"] == ["openid", "email", "profile"]


def test_prod_refuses_the_dummy_authenticator():
    found = problems("prod", addons={"jupyterhub": {"enabled": True, "authenticator": "dummy"}})
    assert "refused in prod" in found["crucible:addons.jupyterhub.authenticator"]


def test_staging_requires_an_authenticator():
    found = problems("prod", environment="staging", addons={"jupyterhub": {"enabled": True}})
    assert "required" in found["crucible:addons.jupyterhub.authenticator"]


def test_oauth_needs_its_client_secret_and_provider_settings():
    found = problems("prod", addons={"jupyterhub": {"enabled": True, "authenticator": "github", "oauth": GITHUB}})
    assert "pulumi config set --secret" in found["crucible:jupyterhubOauthClientSecret"]
    found = problems("prod", **prod_hub(oauth={**GITHUB, "allowedOrganizations": []}))
    assert "crucible:addons.jupyterhub.oauth.allowedOrganizations" in found
    found = problems("prod", **prod_hub(authenticator="generic-oauth", oauth={k: v for k, v in COGNITO.items() if k != "tokenUrl"}))
    assert "crucible:addons.jupyterhub.oauth.tokenUrl" in found


# ---- exposure ------------------------------------------------------------------------------------------


def test_a_public_proxy_without_tls_is_refused():
    found = problems("prod", **prod_hub(exposure="public"))
    assert "TLS" in found["crucible:addons.jupyterhub.certificateArn"]


def test_internal_lb_is_an_internal_nlb():
    service = hub_values(plan("prod", **prod_hub_plan(exposure="internal-lb")))["proxy"]["service"]
    assert service["type"] == "LoadBalancer"
    assert service["annotations"]["service.beta.kubernetes.io/aws-load-balancer-scheme"] == "internal"


def test_public_exposure_terminates_tls_at_the_nlb():
    values = hub_values(plan("prod", **prod_hub_plan(exposure="public", certificateArn=CERT)))
    service = values["proxy"]["service"]
    assert service["annotations"]["service.beta.kubernetes.io/aws-load-balancer-scheme"] == "internet-facing"
    assert service["annotations"]["service.beta.kubernetes.io/aws-load-balancer-ssl-cert"] == CERT
    assert service["disableHttpPort"] is True
    assert values["proxy"]["https"] == {"enabled": True, "type": "offload"}


def test_jupyterhub_is_a_toggle():
    assert not plan("dev").of_type("crucible:platform:JupyterHub")


# ---- crucible plan --------------------------------------------------------------------------------------


def test_plan_json_has_a_notebooks_section_read_from_the_release():
    from helpers import shipped_report

    document = json.loads(json.dumps(shipped_report("staging")[0], default=str))  # as `crucible plan staging --json` writes it
    hub = document["notebooks"]["jupyterhub"]
    assert hub["authenticator"] == "generic-oauth"
    assert hub["exposure"] == "LoadBalancer (internal)"
    # staging has teams: the first team's CPU profile on staging's cpu pool (never unplaced: the system nodes are for
    # platform pods only), in its namespace and LocalQueue, for its hub groups
    assert hub["profiles"][0] == {
        "name": "llm: CPU (cpu)",
        "slug": "llm-cpu",
        "pool": "cpu",
        "accelerator": None,
        "accelerators": 0,
        "nodeSelector": {"karpenter.sh/nodepool": "cpu"},
        "default": True,
        "team": "llm",
        "namespace": "llm",
        "queue": "default",
        "groups": ["llm-admins", "llm-users"],
    }
    assert "[secret]" not in json.dumps(document["notebooks"])  # secrets live in Secrets, values stay readable


def test_the_notebooks_section_lists_accelerator_profiles():
    from stacks.tools.plan.locate import Planned
    from stacks.tools.plan.model import PlanModel
    from stacks.tools.plan.report import notebooks_section

    spec = spec_of("dev", pools=POOLS, addons={"jupyterhub": {"enabled": True}})

    run = run_program(addons_program(spec), stack="test", config={})
    section = notebooks_section(PlanModel.of(Planned(spec=spec, run=run, path=Path("Pulumi.test.yaml"), config={}, secret_keys=[])))
    rows = {p["slug"]: p for p in section.data["jupyterhub"]["profiles"]}
    assert rows["gpu-nb"]["pool"] == "gpu-nb" and rows["gpu-nb"]["accelerator"] == "nvidia.com/gpu"
    assert rows["trn-nb"]["nodeSelector"] == {"karpenter.sh/nodepool": "trn-nb"}
    assert any("gpu-nb" in line and "1 x nvidia.com/gpu" in line for line in section.lines)


def test_the_whole_program_gives_each_interactive_accelerator_pool_its_profile():
    pools = [{**p, "amiVersion": "v20251108"} for p in POOLS]
    run = plan("prod", pools=pools, **prod_hub())
    entries = {e["slug"]: e for e in hub_values(run)["singleuser"]["profileList"]}
    node_pools = {r.inputs["metadata"]["name"] for r in run.of_type("kubernetes:karpenter.sh/v1:NodePool")}
    for slug in ("gpu-nb", "trn-nb"):
        assert entries[slug]["kubespawner_override"]["node_selector"]["karpenter.sh/nodepool"] in node_pools
    assert "train" not in entries


# ---- what notebooks reach (defect: z2jh 4.4.0 refuses private addresses to user pods) -------------------------


def _chart_egress(values: dict) -> list[dict]:
    """The singleuser NetworkPolicy's egress as z2jh 4.4.0 renders it (templates/_helpers-netpol.tpl,
    `jupyterhub.networkPolicy.renderEgressRules`), from the chart defaults overlaid with our values."""
    netpol = helm_merge(_schema_and_defaults()[1], values)["singleuser"]["networkPolicy"]
    allow, metadata = netpol["egressAllowRules"], "169.254.169.254/32"
    private = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
    rules: list[dict] = []
    if allow["dnsPortsCloudMetadataServer"] or allow["dnsPortsKubeSystemNamespace"] or allow["dnsPortsPrivateIPs"]:
        to = [{"ipBlock": {"cidr": metadata}}] if allow["dnsPortsCloudMetadataServer"] else []
        to += [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}] if allow["dnsPortsKubeSystemNamespace"] else []
        to += [{"ipBlock": {"cidr": c}} for c in private] if allow["dnsPortsPrivateIPs"] else []
        rules.append({"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}], "to": to})
    if allow["nonPrivateIPs"]:
        rules.append({"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": [*private, metadata]}}]})
    if allow["privateIPs"]:
        rules.append({"to": [{"ipBlock": {"cidr": c}} for c in private]})
    if allow["cloudMetadataServer"]:
        rules.append({"to": [{"ipBlock": {"cidr": metadata}}]})
    return rules + list(netpol["egress"])


def _selects(selector: dict | None, labels: dict) -> bool:
    if selector is None:
        return True
    ok = all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())
    for e in selector.get("matchExpressions") or []:
        present = e["key"] in labels
        ok &= {
            "Exists": present,
            "DoesNotExist": not present,
            "In": labels.get(e["key"]) in e.get("values", []),
            "NotIn": labels.get(e["key"]) not in e.get("values", []),
        }[e["operator"]]
    return ok


def _egress_allows(rules: list[dict], port: int, *, ip: str, namespace: dict | None = None, pod: dict | None = None) -> bool:
    """NetworkPolicy egress semantics: some rule whose ports admit ``port``/TCP and one of whose peers matches the
    destination (an ipBlock by address, a namespace/pod selector by the labels of a pod destination)."""
    import ipaddress

    for rule in rules:
        ports = rule.get("ports")
        if ports and not any(p.get("protocol", "TCP") == "TCP" and p["port"] <= port <= p.get("endPort", p["port"]) for p in ports):
            continue
        for peer in rule.get("to") or [{}]:
            if "ipBlock" in peer:
                block = peer["ipBlock"]
                addr = ipaddress.ip_address(ip)
                if addr in ipaddress.ip_network(block["cidr"]) and not any(addr in ipaddress.ip_network(c) for c in block.get("except", [])):
                    return True
            elif pod is not None and (peer.get("namespaceSelector") is not None or peer.get("podSelector") is not None):
                ns_ok = (
                    _selects(peer["namespaceSelector"], namespace)
                    if "namespaceSelector" in peer
                    else namespace.get("kubernetes.io/metadata.name") == "jupyterhub"
                )
                if ns_ok and _selects(peer.get("podSelector"), pod):
                    return True
            elif not peer:
                return True
    return False


@pytest.fixture(scope="module")
def notebook_egress_rules() -> tuple[list[dict], str]:
    config = dict(pools=POOLS, teams=[{"name": "llm", "memberGroups": ["llm-users"]}], addons={"jupyterhub": {"enabled": True}})
    run = plan("dev", **config)
    vpc_cidr = spec_of("dev", **config).network.vpc_cidr
    return _chart_egress(hub_values(run)), vpc_cidr


TEAM_NS = {"kubernetes.io/metadata.name": "llm", "crucible.io/tenant": "llm"}
RAY_HEAD = {"ray.io/node-type": "head", "ray.io/cluster": "ray-trainium"}


@pytest.mark.parametrize("port", [8265, 10001])
def test_notebooks_reach_ray_heads_in_team_namespaces(notebook_egress_rules, port):
    rules, _ = notebook_egress_rules
    assert _egress_allows(rules, port, ip="10.0.37.12", namespace=TEAM_NS, pod=RAY_HEAD)


def test_notebooks_reach_the_api_server_on_its_private_endpoint(notebook_egress_rules):
    import ipaddress

    rules, vpc_cidr = notebook_egress_rules
    endpoint_eni = str(next(ipaddress.ip_network(vpc_cidr).hosts()) + 200)  # an address in the cluster's subnets
    assert _egress_allows(rules, 443, ip=endpoint_eni)
    assert _egress_allows(rules, 443, ip="172.20.0.1")  # `kubernetes.default`, before kube-proxy's rewrite
    assert not _egress_allows(rules, 443, ip="172.20.0.10")  # another Service of the cluster


def test_notebooks_reach_nothing_else_private_and_never_the_metadata_endpoint(notebook_egress_rules):
    rules, vpc_cidr = notebook_egress_rules
    assert not _egress_allows(rules, 80, ip="169.254.169.254")
    assert not _egress_allows(rules, 443, ip="169.254.169.254")
    assert not _egress_allows(rules, 6379, ip="10.0.37.12", namespace=TEAM_NS, pod=RAY_HEAD)  # GCS: not a notebook flow
    assert not _egress_allows(rules, 8265, ip="10.0.37.13", namespace=TEAM_NS, pod={"ray.io/node-type": "worker"})
    assert not _egress_allows(rules, 8265, ip="10.0.37.14", namespace={"kubernetes.io/metadata.name": "kube-system"}, pod=RAY_HEAD)
    assert not _egress_allows(rules, 5432, ip="10.0.40.9")
    assert hub_values(plan("dev", **DEV_HUB))["singleuser"]["networkPolicy"]["egressAllowRules"]["privateIPs"] is False
