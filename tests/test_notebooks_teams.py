"""Notebooks inside team quotas (issue 16 item 5) and IMDS blocked by NetworkPolicy (issue 18 A.7): each team's
members, by hub group, get the team's profiles; the pods run in the team's namespace, are admitted by its
LocalQueue through Kueue's pod integration, land on its pools and reach what notebooks need; the hub namespace
enforces Pod Security restricted."""

from __future__ import annotations

import functools

import pytest

from addons.jupyterhub import profile_entries
from addons.tenancy import SPAWNER_ROLE
from helpers import plan, shipped_report, spec_of
from hub_config import HTTPError, hub_config, spawner
from stacks.spec import ConfigError
from test_notebooks import z2jh_errors

RELEASE = "kubernetes:helm.sh/v3:Release"
POOLS = [
    {"name": "cpu-nb", "kind": "cpu", "workload": "interactive", "instanceTypes": ["m7i.2xlarge"], "maxNodes": 4},
    {"name": "gpu-nb", "kind": "gpu", "workload": "interactive", "instanceTypes": ["g6e.xlarge"], "maxNodes": 4},
]
# vision has no share of the GPU pool: a pool some team names goes to those teams only.
TEAMS = [
    {"name": "nlp", "memberGroups": ["nlp-users"], "notebookGroups": ["hub-nlp"], "shares": {"gpu-nb": 100, "cpu-nb": 50}},
    {"name": "vision", "memberGroups": ["vision-users"], "shares": {"cpu-nb": 50}},
]
CONFIG = dict(pools=POOLS, teams=TEAMS, addons={"jupyterhub": {"enabled": True}})


@functools.lru_cache(maxsize=None)
def _run():
    return plan("dev", **CONFIG)


def _values() -> dict:
    return next(r for r in _run().of_type(RELEASE) if r.inputs["chart"] == "jupyterhub").inputs["values"]


def _profiles(team: str) -> dict[str, dict]:
    return {e["slug"]: e for t, e in profile_entries(_values()) if t == team}


def _problems(env: str = "dev", **overrides) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        spec_of(env, **overrides)
    return {p.path: p.message for p in caught.value.problems}


# ---- profiles per team --------------------------------------------------------------------------------------------


def test_each_team_profile_runs_in_the_team_namespace_labelled_with_its_local_queue():
    for team in ("nlp", "vision"):
        for slug, entry in _profiles(team).items():
            override = entry["kubespawner_override"]
            assert override["namespace"] == team, slug
            # the team's LocalQueue, and z2jh's default singleuser label (the override replaces singleuser.extraLabels)
            assert override["extra_labels"] == {"kueue.x-k8s.io/queue-name": "default", "hub.jupyter.org/network-access-hub": "true"}, slug
            assert override["service_account"] == "workload", slug  # the team's Pod Identity role, its S3 prefixes only


def test_a_team_without_gpu_quota_sees_no_gpu_profile():
    assert set(_profiles("nlp")) == {"nlp-cpu", "nlp-gpu-nb"}
    assert set(_profiles("vision")) == {"vision-cpu"}
    gpu = _profiles("nlp")["nlp-gpu-nb"]["kubespawner_override"]
    assert gpu["extra_resource_limits"] == {"nvidia.com/gpu": "1"} and gpu["node_selector"] == {"karpenter.sh/nodepool": "gpu-nb"}


def test_nobody_chooses_among_a_profile_list_for_everyone():
    values = _values()
    assert "profileList" not in values["singleuser"]
    teams = {t["name"]: t for t in values["custom"]["crucible"]["teams"]}
    assert teams["nlp"]["groups"] == ["hub-nlp"]  # notebookGroups
    assert teams["vision"]["groups"] == ["vision-users"]  # default: adminGroups + memberGroups


def test_values_with_teams_validate_strictly_against_the_z2jh_schema():
    assert z2jh_errors(_values()) == []


def test_notebooks_reach_the_hub_api_by_its_cluster_name():
    config = _values()["hub"]["config"]
    assert config["JupyterHub"]["hub_connect_url"] == "http://hub.jupyterhub.svc.cluster.local:8081"


# ---- profiles follow group membership (the hub's own profile_list callable, executed) ------------------------------


def test_profiles_follow_group_membership():
    profile_list = hub_config(_values()).KubeSpawner.profile_list
    assert [p["slug"] for p in profile_list(spawner("hub-nlp"))] == ["nlp-cpu", "nlp-gpu-nb"]
    assert [p["slug"] for p in profile_list(spawner("vision-users", "unrelated"))] == ["vision-cpu"]
    both = profile_list(spawner("hub-nlp", "vision-users"))
    assert [p["slug"] for p in both] == ["nlp-cpu", "nlp-gpu-nb", "vision-cpu"]
    assert [p["default"] for p in both] == [True, False, False]  # one default, the first team's CPU profile


def test_a_user_in_no_team_group_is_refused_rather_than_spawned_outside_every_quota():
    profile_list = hub_config(_values()).KubeSpawner.profile_list
    with pytest.raises(HTTPError) as refused:
        profile_list(spawner("nlp-users"))  # a Kubernetes group of the team, but not its hub group
    assert refused.value.status == 403


def test_github_teams_become_hub_groups_named_org_colon_team():
    run = plan(
        "dev",
        pools=POOLS,
        teams=[{"name": "nlp", "memberGroups": ["nlp-users"], "notebookGroups": ["acme:nlp"]}],
        jupyterhubOauthClientSecret="s3cr3t",
        addons={"jupyterhub": {"enabled": True, "authenticator": "github", "oauth": {**GITHUB, "allowedOrganizations": ["acme"]}}},
    )
    values = next(r for r in run.of_type(RELEASE) if r.inputs["chart"] == "jupyterhub").inputs["values"]
    github = values["hub"]["config"]["GitHubOAuthenticator"]
    assert github["populate_teams_in_auth_state"] is True and github["manage_groups"] is True and "read:org" in github["scope"]
    groups_of = hub_config(values).GitHubOAuthenticator.auth_state_groups_key
    auth_state = {"teams": [{"slug": "nlp", "organization": {"login": "acme"}}, {"slug": "infra", "organization": {"login": "other"}}]}
    assert groups_of(auth_state) == ["acme:nlp", "other:infra"]
    assert [p["slug"] for p in hub_config(values).KubeSpawner.profile_list(spawner(*groups_of(auth_state)))] == ["nlp-cpu", "nlp-gpu-nb"]


GITHUB = {"clientId": "Iv1.abc", "callbackUrl": "https://hub.example.com/hub/oauth_callback"}


def test_github_hub_groups_must_be_teams_of_an_allowed_organization():
    hub = {"jupyterhub": {"enabled": True, "authenticator": "github", "oauth": {**GITHUB, "allowedOrganizations": ["acme"]}}}
    problems = _problems(
        teams=[
            {"name": "nlp", "memberGroups": ["nlp-users"]},
            {"name": "cv", "memberGroups": ["cv-users"], "notebookGroups": ["acme:cv", "elsewhere:cv"]},
            {"name": "ok", "memberGroups": ["ok-users"], "notebookGroups": ["acme:ok"]},
        ],
        addons=hub,
    )
    assert "'nlp-users' (the default: adminGroups + memberGroups)" in problems["crucible:teams[0].notebookGroups"]
    assert "allowed: <org>:<team slug> with org one of acme" in problems["crucible:teams[1].notebookGroups[1]"]
    assert not any(key.startswith("crucible:teams[2]") for key in problems)


def test_generic_oauth_with_teams_needs_the_groups_claim():
    oauth = {
        "clientId": "5abc",
        "callbackUrl": "https://hub.example.com/hub/oauth_callback",
        "authorizeUrl": "https://acme.auth.us-east-1.amazoncognito.com/oauth2/authorize",
        "tokenUrl": "https://acme.auth.us-east-1.amazoncognito.com/oauth2/token",
        "userdataUrl": "https://acme.auth.us-east-1.amazoncognito.com/oauth2/userInfo",
        "allowAll": True,
    }
    problems = _problems(
        teams=[{"name": "nlp", "memberGroups": ["nlp-users"]}], addons={"jupyterhub": {"enabled": True, "authenticator": "generic-oauth", "oauth": oauth}}
    )
    assert "teams[].notebookGroups" in problems["crucible:addons.jupyterhub.oauth.claimGroupsKey"]


def test_a_notebook_group_name_is_checked():
    problems = _problems(teams=[{"name": "nlp", "memberGroups": ["nlp-users"], "notebookGroups": ["has space"]}])
    assert "item [0]: got 'has space'; allowed: a JupyterHub group name" in problems["crucible:teams[0].notebookGroups"]


# ---- the team namespace's side: the hub's Role, the notebook NetworkPolicy ---------------------------------------


def _one(type_token: str, name: str) -> dict:
    return _run().one(type_token, name).inputs


def test_the_hub_spawns_in_team_namespaces_with_a_least_privilege_role_and_no_cluster_role():
    role = _one("kubernetes:rbac.authorization.k8s.io/v1:Role", f"team-nlp-{SPAWNER_ROLE}")
    assert role["metadata"]["namespace"] == "nlp"
    rules = {tuple(r["resources"]): sorted(r["verbs"]) for r in role["rules"]}
    assert rules == {
        ("pods",): ["create", "delete", "get", "list", "watch"],
        ("persistentvolumeclaims",): ["create", "delete", "get"],
        ("events",): ["get", "list", "watch"],
    }
    assert all(r["apiGroups"] == [""] for r in role["rules"])  # no secrets, services, namespaces: nothing else
    binding = _one("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", f"team-nlp-{SPAWNER_ROLE}")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": SPAWNER_ROLE}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "hub", "namespace": "jupyterhub"}]
    cluster_bindings = _run().of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding")
    assert not any(s.get("name") == "hub" for b in cluster_bindings for s in b.inputs.get("subjects") or [])
    # KubeSpawner 7 without enable_user_namespaces watches each namespace it spawns into on its own (no ClusterRole)
    assert "enable_user_namespaces" not in _values()["hub"]["config"].get("KubeSpawner", {})


def test_the_team_namespace_admits_the_hub_and_proxy_to_notebooks_and_notebooks_to_the_hub_api():
    spec = _one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "team-nlp-allow-notebooks")["spec"]
    assert spec["podSelector"] == {"matchLabels": {"component": "singleuser-server"}}
    (ingress,) = spec["ingress"]
    assert ingress["ports"] == [{"protocol": "TCP", "port": 8888}]
    (peer,) = ingress["from"]
    assert peer["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "jupyterhub"}}
    assert peer["podSelector"]["matchExpressions"] == [{"key": "component", "operator": "In", "values": ["hub", "proxy"]}]
    (egress,) = spec["egress"]
    assert egress["ports"] == [{"protocol": "TCP", "port": 8081}]
    assert egress["to"][0]["podSelector"] == {"matchLabels": {"component": "hub"}}


def test_team_pods_https_egress_excepts_the_instance_metadata_address():
    spec = _one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "team-nlp-allow-aws-egress")["spec"]
    https = next(rule for rule in spec["egress"] if rule["ports"] == [{"protocol": "TCP", "port": 443}])
    assert https["to"] == [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}]


def test_the_hub_namespace_no_longer_reaches_into_team_namespaces_for_ray():
    spec = _one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "team-nlp-allow-platform-ingress")["spec"] if _has_platform_ingress() else {"ingress": []}
    assert not any(
        p.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name") == "jupyterhub" for r in spec["ingress"] for p in r["from"]
    )


def _has_platform_ingress() -> bool:
    return any(r.name == "team-nlp-allow-platform-ingress" for r in _run().of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy"))


# ---- IMDS by NetworkPolicy, the hub namespace restricted -----------------------------------------------------------


def test_the_hub_namespace_enforces_restricted_and_notebook_containers_are_restricted():
    labels = _one("kubernetes:core/v1:Namespace", "jupyterhub-namespace")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    values = _values()
    assert values["singleuser"]["cloudMetadata"]["blockWithIptables"] is False  # no privileged init container
    spawner = values["hub"]["config"]["KubeSpawner"]
    assert spawner["container_security_context"] == {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert spawner["pod_security_context"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}


# ---- the shipped presets: notebook pods land, are admitted and reach ------------------------------------------------


@pytest.mark.parametrize("stack", ["research", "dev"])
def test_every_notebook_profile_of_the_preset_lands_is_admitted_by_its_team_queue_and_reaches(stack):
    document, _ = shipped_report(stack)
    notebooks = [w for w in document["workloads"]["workloads"] if w["kind"] == "NotebookProfile"]
    assert notebooks and all(w["team"] for w in notebooks)
    for w in notebooks:
        checks = w["checks"]
        assert checks["lands"]["ok"], (w["name"], checks["lands"])
        assert checks["admitted"]["ok"] and checks["admitted"]["clusterQueue"] == w["team"] == w["namespaces"][0], (w["name"], checks["admitted"])
        assert checks["admitted"]["summary"].endswith("as Pod")  # Kueue's pod integration: the pod is the workload
        assert checks["podSecurity"]["ok"] and "restricted" in checks["podSecurity"]["summary"], (w["name"], checks["podSecurity"])
        assert checks["reaches"]["ok"], (w["name"], checks["reaches"])
        checked = {f["flow"]: f for f in checks["reaches"]["flows"]}
        for flow in ("notebook → hub API", "hub → notebook", "proxy → notebook", "notebook → cloud metadata"):
            assert checked[flow]["checked"] >= 1 and not checked[flow]["failed"], (w["name"], flow)


def test_research_notebooks_of_one_team_do_not_reach_another_team():
    document, _ = shipped_report("research")
    for w in (w for w in document["workloads"]["workloads"] if w["kind"] == "NotebookProfile"):
        flow = next(f for f in w["checks"]["reaches"]["flows"] if f["flow"] == "team → another team")
        assert flow["checked"] > 0 and not flow["failed"], w["name"]


def test_the_notebooks_section_says_where_each_teams_profiles_run():
    _, lines = shipped_report("research")
    text = "\n".join(lines)
    assert "notebooks run in the team namespaces, admitted by each team's LocalQueue" in text
    assert "profile nlp-notebooks-gpu" in text and "ns nlp, queue default, groups acme-research:nlp" in text
    assert "nlp: notebook profiles (in its namespace and quota): nlp-cpu, nlp-notebooks-gpu" in text


# ---- the chart's own hub and proxy NetworkPolicies, as Helm renders them ------------------------------------------


@pytest.mark.parametrize("stack", ["research", "prod"])
def test_the_charts_hub_and_proxy_network_policies_are_on_with_the_team_notebook_rules(stack):
    """On by the chart's defaults (z2jh 4.4.0 values.yaml: hub.networkPolicy.enabled and proxy.chp.networkPolicy.enabled
    are true; Crucible does not restate them), and with teams the hub admits team notebooks on its API and the hub
    and proxy reach them on 8888 (addons.jupyterhub hub_ingress_from_teams / egress_to_team_notebooks)."""
    from addons.jupyterhub import egress_to_team_notebooks, hub_ingress_from_teams
    from rendered import objects, release_of

    hub = release_of(stack, "jupyterhub")
    assert hub.release.values["custom"]["crucible"]["teams"]  # a stack with team notebooks
    (hub_policy,) = objects(hub, "NetworkPolicy", "hub")
    (proxy_policy,) = objects(hub, "NetworkPolicy", "proxy")
    assert all(rule in hub_policy["spec"]["ingress"] for rule in hub_ingress_from_teams())
    assert all(rule in hub_policy["spec"]["egress"] for rule in egress_to_team_notebooks())
    assert all(rule in proxy_policy["spec"]["egress"] for rule in egress_to_team_notebooks())
    # the chart's own rules are still there (its policies were not replaced): the proxy admits the hub on its API
    assert len(proxy_policy["spec"]["ingress"]) > 1 and len(hub_policy["spec"]["ingress"]) > 1
