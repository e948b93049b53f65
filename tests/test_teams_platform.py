"""Team tenancy and Kueue as registered: three teams over three pools in prod (one plan, shared by the tests)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from helpers import REPO, plan, shared_dir, spec_of
from stacks.tools.harness import PlanRun

POOLS = [
    {"name": "train", "kind": "gpu", "workload": "training", "instanceTypes": ["p5.48xlarge"], "efa": True, "maxNodes": 4, "amiVersion": "v20251108"},
    {"name": "serve", "kind": "gpu", "workload": "serving", "instanceTypes": ["g6e.xlarge", "g6e.2xlarge"], "maxNodes": 5, "amiVersion": "v20251108"},
    {"name": "inf", "kind": "neuron", "workload": "serving", "instanceTypes": ["inf2.xlarge"], "maxNodes": 3, "amiVersion": "v20251108"},
]
TEAMS = [
    {"name": "llm", "adminGroups": ["llm-admins"], "memberGroups": ["llm-users"], "shares": {"train": 50, "serve": 20}},
    {
        "name": "vision",
        "adminGroups": ["vision-admins"],
        "memberGroups": ["vision-users"],
        "shares": {"train": 30, "serve": 30},
        "borrowing": {"borrowingLimit": 25},
    },
    {"name": "search", "memberGroups": ["search-users"], "shares": {"train": 20, "serve": 50}, "borrowing": {"lendingLimit": False}},
]
KUEUE = "kubernetes:kueue.x-k8s.io/v1beta2:"


@pytest.fixture(scope="module")
def run() -> PlanRun:
    return plan("prod", pools=POOLS, teams=TEAMS)


def manifest(r) -> dict:
    api, kind = r.type.split(":")[1], r.type.split(":")[2]
    return {"apiVersion": api, "kind": kind, **{k: v for k, v in r.inputs.items() if k not in ("apiVersion", "kind")}}


def tenant_namespaces(run: PlanRun) -> dict[str, dict]:
    return {
        n.inputs["metadata"]["name"]: n
        for n in run.of_type("kubernetes:core/v1:Namespace")
        if (n.inputs["metadata"].get("labels") or {}).get("crucible.io/tenant")
    }


def in_namespace(run: PlanRun, token: str, namespace: str) -> list:
    return [r for r in run.of_type(token) if (r.inputs.get("metadata") or {}).get("namespace") == namespace]


def qty(value: str) -> Decimal:
    for suffix, factor in (("Gi", 1), ("Mi", 1), ("m", Decimal("0.001"))):
        if str(value).endswith(suffix):
            return Decimal(str(value)[: -len(suffix)]) * factor
    return Decimal(str(value))


def test_every_kueue_object_validates_strictly_against_upstream(run):
    shared_dir()
    from upstream import assert_valid

    objects = [r for r in run.resources if r.type.startswith("kubernetes:kueue.x-k8s.io/")]
    kinds = {r.type.rsplit(":", 1)[-1] for r in objects}
    assert kinds == {"ResourceFlavor", "Cohort", "ClusterQueue", "LocalQueue", "WorkloadPriorityClass"}
    for r in objects:
        assert_valid(manifest(r))


def test_kueue_is_the_pinned_chart_on_the_system_nodes_with_the_integrations_and_fair_sharing(run):
    import yaml

    release = next(r for r in run.of_type("kubernetes:helm.sh/v3:Release") if r.inputs.get("chart", "").endswith("/kueue"))
    assert release.inputs["chart"] == "oci://registry.k8s.io/kueue/charts/kueue"
    sources = (Path(shared_dir()) / "upstream" / "SOURCES.md").read_text()
    assert f"| kubernetes-sigs/kueue | v{release.inputs['version']} |" in sources  # the release the CRDs come from
    values = release.inputs["values"]
    assert values["controllerManager"]["nodeSelector"] == {"crucible.io/pool": "system"}
    config = yaml.safe_load(values["managerConfig"]["controllerManagerConfigYaml"])
    assert config["apiVersion"] == "config.kueue.x-k8s.io/v1beta2"
    assert set(config["integrations"]["frameworks"]) == {
        "batch/job",
        "pod",  # notebook pods (KubeSpawner creates bare pods) admitted by the team's LocalQueue
        "leaderworkerset.x-k8s.io/leaderworkerset",  # a multi-node served model's group admitted whole (test_kueue_pod_integration)
        "ray.io/rayjob",
        "ray.io/raycluster",
        "ray.io/rayservice",
        "kubeflow.org/mpijob",
        "trainer.kubeflow.org/trainjob",
        "jobset.x-k8s.io/jobset",
    }
    assert config["fairSharing"]["preemptionStrategies"]


def test_kueue_values_use_only_keys_the_chart_declares(run):
    from upstream import unknown_value_keys, values_file

    path = Path(shared_dir()) / "upstream" / "extras" / "kueue" / "values.yaml"
    if not path.exists():
        pytest.skip("the Kueue chart's values.yaml is not in shared/upstream (extras/kueue/values.yaml): keys not checked")
    release = next(r for r in run.of_type("kubernetes:helm.sh/v3:Release") if r.inputs.get("chart", "").endswith("/kueue"))
    assert unknown_value_keys(release.inputs["values"], values_file("extras/kueue/values.yaml")) == []


def test_kueue_objects_wait_for_the_release_that_installs_their_crds(run):
    release = next(r for r in run.of_type("kubernetes:helm.sh/v3:Release") if r.inputs.get("chart", "").endswith("/kueue"))
    for r in run.resources:
        if r.type.startswith("kubernetes:kueue.x-k8s.io/"):
            assert release.urn in r.dependencies, r.name


def test_cluster_queue_quotas_add_up_to_each_pools_capacity(run):
    """Done when: three teams over three pools; each pool's NodePool limits are exactly shared out."""
    limits = {p.inputs["metadata"]["name"]: p.inputs["spec"]["limits"] for p in run.of_type("kubernetes:karpenter.sh/v1:NodePool")}
    queues = run.of_type(KUEUE + "ClusterQueue")
    assert sorted(q.inputs["metadata"]["name"] for q in queues) == ["llm", "search", "vision"]
    for pool, limit in limits.items():
        for resource, amount in limit.items():
            total = sum(
                qty(r["nominalQuota"])
                for q in queues
                for f in q.inputs["spec"]["resourceGroups"][0]["flavors"]
                if f["name"] == pool
                for r in f["resources"]
                if r["name"] == resource
            )
            assert total == qty(amount), (pool, resource)


def test_one_queue_never_admits_more_than_its_pool(run):
    limits = {p.inputs["metadata"]["name"]: p.inputs["spec"]["limits"] for p in run.of_type("kubernetes:karpenter.sh/v1:NodePool")}
    for q in run.of_type(KUEUE + "ClusterQueue"):
        assert q.inputs["spec"]["cohortName"] == "teams"
        # search lends nothing (lendingLimit false): it has nothing out to reclaim (stacks/derive/admission.py preemption)
        lends = q.inputs["metadata"]["name"] != "search"
        assert q.inputs["spec"]["preemption"]["reclaimWithinCohort"] == ("Any" if lends else "Never")
        assert q.inputs["spec"]["preemption"]["withinClusterQueue"] == "LowerPriority"
        for f in q.inputs["spec"]["resourceGroups"][0]["flavors"]:
            for r in f["resources"]:
                if r["name"] in limits[f["name"]]:
                    assert qty(r["nominalQuota"]) + qty(r["borrowingLimit"]) <= qty(limits[f["name"]][r["name"]])


def test_flavors_match_their_pools_labels_and_taints(run):
    pools = {p.inputs["metadata"]["name"]: p.inputs["spec"]["template"] for p in run.of_type("kubernetes:karpenter.sh/v1:NodePool")}
    flavors = {f.inputs["metadata"]["name"]: f.inputs["spec"] for f in run.of_type(KUEUE + "ResourceFlavor")}
    assert set(flavors) == set(pools)
    for name, spec in flavors.items():
        assert spec["nodeLabels"] == {"karpenter.sh/nodepool": name}
        taints = pools[name]["spec"].get("taints", [])
        # the pool's taints, stated: Kueue admits there only pod sets that tolerate them (CPU work never)
        assert spec.get("nodeTaints", []) == taints and "tolerations" not in spec
    assert flavors["inf"]["nodeTaints"][0]["key"] == "aws.amazon.com/neuron"


def test_each_team_namespace_has_a_local_queue_default_for_its_cluster_queue(run):
    local = run.of_type(KUEUE + "LocalQueue")
    for team in ("llm", "vision", "search"):
        (queue,) = [q for q in local if q.inputs["metadata"]["namespace"] == team]
        assert queue.inputs["metadata"]["name"] == "default"
        assert queue.inputs["spec"]["clusterQueue"] == team
    assert spec_of("prod").training.examples.queue == "default"


def test_namespaces_carry_tenant_pod_security_and_training_labels(run):
    namespaces = tenant_namespaces(run)
    assert set(namespaces) == {"llm", "vision", "search"}
    for name, ns in namespaces.items():
        labels = ns.inputs["metadata"]["labels"]
        assert labels["crucible.io/tenant"] == name
        assert labels["pod-security.kubernetes.io/warn"] == labels["pod-security.kubernetes.io/audit"] == "restricted"
        assert ns.protect and ns.retain_on_delete
        # every team here has a share of the EFA training pool: baseline (root training images, MPI sshd), labelled training
        assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
        assert labels["crucible.io/workload"] == "training"
        assert labels["crucible.io/checkpointing"] == "enabled"


def test_teams_without_a_training_pool_share_get_restricted_namespaces():
    run = plan("dev", pools=[POOLS[1]], teams=[{"name": "apps", "memberGroups": ["apps"]}])
    labels = tenant_namespaces(run)["apps"].inputs["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["crucible.io/workload"] == "interactive"
    assert not tenant_namespaces(run)["apps"].protect  # dev does not protect


def test_network_policies_deny_by_default_and_allow_only_what_pods_need(run):
    vpc = run.one("aws:ec2/vpc:Vpc").inputs["cidrBlock"]
    for team in ("llm", "vision", "search"):
        policies = {p.inputs["metadata"]["name"]: p.inputs["spec"] for p in in_namespace(run, "kubernetes:networking.k8s.io/v1:NetworkPolicy", team)}
        deny = policies["default-deny"]
        assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
        assert "ingress" not in deny and "egress" not in deny
        dns = policies["allow-dns"]["egress"][0]
        assert {p["port"] for p in dns["ports"]} == {53} and {p["protocol"] for p in dns["ports"]} == {"UDP", "TCP"}
        assert dns["to"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "kube-system"}
        assert policies["allow-same-namespace"]["ingress"] == [{"from": [{"podSelector": {}}]}]
        lustre = policies["allow-lustre"]["egress"][0]
        assert lustre["to"] == [{"ipBlock": {"cidr": vpc}}]
        assert {(p["port"], p.get("endPort")) for p in lustre["ports"]} == {(988, None), (1018, 1023)}
        https = policies["allow-aws-egress"]["egress"]
        assert {p["port"] for rule in https for p in rule["ports"]} == {443, 80}
        platform = {
            rule["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]: [p["port"] for p in rule.get("ports", [])]
            for rule in policies["allow-platform-ingress"]["ingress"]
        }
        # observability (any port) is on by default in prod; the KubeRay operator reads each Ray head's dashboard
        # API (job status, Serve applications); JupyterHub is off here
        assert platform == {"monitoring": [], "kuberay-system": [8265, 8000]}


def test_quota_and_limit_range_in_every_team_namespace(run):
    for team in ("llm", "vision", "search"):
        (quota,) = in_namespace(run, "kubernetes:core/v1:ResourceQuota", team)
        hard = quota.inputs["spec"]["hard"]
        for key in (
            "requests.nvidia.com/gpu",
            "requests.aws.amazon.com/neuron",
            "persistentvolumeclaims",
            "requests.storage",
            "requests.vpc.amazonaws.com/efa",
        ):
            assert key in hard
        # no node offers huge pages (Karpenter models none): the API server refuses a pod asking for them at once
        assert hard["requests.hugepages-2Mi"] == "0"
        assert in_namespace(run, "kubernetes:core/v1:LimitRange", team)
    (vision,) = in_namespace(run, "kubernetes:core/v1:ResourceQuota", "vision")
    # vision: 30% of 32 train GPUs (9.6: 9 + the largest rounding remainder) + 25% of 32 borrowable;
    # 30% of 5 serve GPUs (1.5: 1 + the remainder, tied with search, first in config order) + 25% of 5 (1.25: 1)
    assert vision.inputs["spec"]["hard"]["requests.nvidia.com/gpu"] == str(10 + 8 + 2 + 1)


def test_each_quota_is_waited_for_until_its_status_holds_every_limit_as_the_api_server_stores_it(run):
    """Quota admission judges claims and pods by status.hard (the quota controller's copy of spec.hard): the quota's
    create and every update wait, through pulumi.com/waitFor, for each limit in its canonical form there."""
    from components.awaits import WAIT_FOR
    from components.quantity import canonical

    for team in ("llm", "vision", "search"):
        (quota,) = in_namespace(run, "kubernetes:core/v1:ResourceQuota", team)
        hard = quota.inputs["spec"]["hard"]
        expressions = json.loads(quota.inputs["metadata"]["annotations"][WAIT_FOR])
        assert sorted(expressions) == sorted(f"jsonpath={{.status.hard['{key}']}}={canonical(value)}" for key, value in hard.items())
        assert f"jsonpath={{.status.hard['requests.storage']}}={canonical(hard['requests.storage'])}" in expressions  # dotted keys: RFC 9535 brackets


def test_every_team_namespace_has_its_own_lustre_claim_bound_to_a_protected_volume(run):
    from addons.storage_drivers import LUSTRE_CLAIM

    (fs,) = run.of_type("aws:fsx/lustreFileSystem:LustreFileSystem")
    for team in ("llm", "vision", "search"):
        (pvc,) = in_namespace(run, "kubernetes:core/v1:PersistentVolumeClaim", team)
        pv = next(v for v in run.of_type("kubernetes:core/v1:PersistentVolume") if v.inputs["metadata"]["name"] == f"{team}-lustre")
        assert pvc.inputs["metadata"]["name"] == LUSTRE_CLAIM and pvc.inputs["spec"]["volumeName"] == f"{team}-lustre"
        assert pvc.inputs["spec"]["accessModes"] == ["ReadWriteMany"]
        # a token request: the file system's size is not charged to the team's volume budget
        quota = in_namespace(run, "kubernetes:core/v1:ResourceQuota", team)[0].inputs["spec"]["hard"]
        assert pvc.inputs["spec"]["resources"]["requests"]["storage"] == "1Gi" and int(quota["requests.storage"].removesuffix("Gi")) >= 1
        assert pv.inputs["spec"]["claimRef"] == {"namespace": team, "name": LUSTRE_CLAIM}
        assert pv.inputs["spec"]["csi"]["driver"] == "fsx.csi.aws.com"
        assert pv.inputs["spec"]["csi"]["volumeAttributes"] == {"dnsname": fs.outputs["dnsName"], "mountname": fs.outputs["mountName"]}
        assert pv.inputs["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
        assert pv.protect and pv.retain_on_delete and pvc.protect


def test_the_example_jobs_mount_the_claim_every_team_namespace_has():
    from addons.storage_drivers import LUSTRE_CLAIM

    assert spec_of("prod").training.examples.checkpoint_claim == LUSTRE_CLAIM


def test_teams_get_no_lustre_claim_when_the_stack_has_no_file_system():
    bare = plan("dev", pools=POOLS[1:], teams=[{"name": "llm", "memberGroups": ["llm-users"]}], storage={"lustre": {"enabled": False}})
    assert in_namespace(bare, "kubernetes:core/v1:PersistentVolumeClaim", "llm") == []
    assert not [p for p in bare.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy") if p.inputs["metadata"]["name"] == "allow-lustre"]


def test_role_bindings_grant_admin_and_edit_in_the_namespace_never_cluster_admin(run):
    bindings = [
        b for b in run.of_type("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding") if b.inputs["metadata"].get("namespace") in ("llm", "vision", "search")
    ]
    assert {b.inputs["roleRef"]["name"] for b in bindings} == {"admin", "edit"}
    for b in bindings:
        assert b.inputs["roleRef"]["kind"] == "ClusterRole"
        assert all(s["kind"] == "Group" for s in b.inputs["subjects"])
    crb = [
        b
        for b in run.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding")
        if (b.inputs["metadata"].get("labels") or {}).get("crucible.io/tenant")
    ]
    assert crb == []
    search = [b for b in bindings if b.inputs["metadata"]["namespace"] == "search"]
    assert [b.inputs["roleRef"]["name"] for b in search] == ["edit"]  # no admin groups given


def test_team_roles_reach_only_their_prefixes(run):
    roles = {r.inputs["tags"]["crucible.io/team"]: r for r in run.of_type("aws:iam/role:Role") if "crucible.io/team" in (r.inputs.get("tags") or {})}
    assert set(roles) == {"llm", "vision", "search"}
    policies = run.of_type("aws:iam/rolePolicy:RolePolicy")
    for team, role in roles.items():
        (inline,) = [p for p in policies if role.urn in p.property_dependencies.get("role", [])]
        statements = json.loads(inline.inputs["policy"])["Statement"]
        for st in statements:
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
            assert "*" not in resources and not any(a in ("*", "s3:*") for a in actions)
            for resource in resources:
                if resource.startswith("arn:aws:s3:::") and "/" in resource:
                    assert resource.split("/", 1)[1] == f"{team}/*"
            if "s3:ListBucket" in actions:
                assert all(p.startswith(f"{team}/") for p in st["Condition"]["StringLike"]["s3:prefix"])
            if any(a.startswith("kms:") for a in actions):
                assert st["Condition"]["StringEquals"]["kms:ViaService"].startswith("s3.")
    associations = {a.inputs["namespace"]: a.inputs["serviceAccount"] for a in run.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")}
    assert all(associations[t] == "workload" for t in roles)


def test_tenancy_passes_every_mandatory_policy(run):
    from policies.offline import evaluate

    report = evaluate([r.to_json() for r in run.resources], "prod")
    tenancy = ("crucible:platform:Team", "crucible:platform:Kueue")
    mine = [v for v in report.mandatory_violations if any(t in v.urn for t in tenancy)]
    assert mine == []
    for rule in ("sec-net-003", "rel-k8s-002", "sec-iam-003", "ai-kueue-001", "ai-kueue-002", "ai-kueue-003"):
        assert [v for v in report.violations if v.policy.startswith(rule)] == [], rule


def test_the_plan_lists_every_team_with_its_queue_and_quota_per_pool(run):
    from stacks.tools.plan.locate import Planned
    from stacks.tools.plan.model import PlanModel
    from stacks.tools.plan.report import teams_section

    spec = spec_of("prod", pools=POOLS, teams=TEAMS)
    section = teams_section(PlanModel.of(Planned(spec=spec, run=run, path=REPO / "x", config={}, secret_keys=[])))
    assert section.key == "teams"
    assert set(section.data) == {"llm", "vision", "search"}
    llm = section.data["llm"]
    assert (llm["namespace"], llm["podSecurity"], llm["localQueue"], llm["clusterQueue"]) == ("llm", "baseline", "default", "llm")
    assert llm["quotas"]["train"]["nominal"]["nvidia.com/gpu"] == "16"
    text = "\n".join(section.lines)
    assert "default -> llm" in text and "16 gpu" in text and "neuron" in text
    header = section.lines[0].split()
    assert header[:5] == ["team", "namespace", "PSA", "queue", "pool"]


def test_the_teams_table_names_each_teams_volumes_groups_and_the_notebook_profiles():
    from stacks.tools.plan.locate import Planned
    from stacks.tools.plan.model import PlanModel
    from addons.jupyterhub import profile_entries
    from stacks.tools.plan.report import teams_section

    cpu = {"name": "cpu", "kind": "cpu", "workload": "interactive", "instanceTypes": ["m7i.xlarge"], "maxNodes": 4}  # the default profile's pool
    config = dict(pools=[*POOLS, cpu], teams=TEAMS, addons={"jupyterhub": {"enabled": True, "acceleratorProfiles": "all"}})
    run = plan("dev", **config)
    section = teams_section(PlanModel.of(Planned(spec=spec_of("dev", **config), run=run, path=REPO / "x", config={}, secret_keys=[])))
    hub = next(r for r in run.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == "jupyterhub")
    slugs = [entry["slug"] for team, entry in profile_entries(hub.inputs["values"]) if team == "llm"]
    llm = section.data["llm"]
    # the team's own profiles: cpu + one per accelerator pool it has nominal quota on (no shares: an even split of every pool)
    assert llm["claims"] == ["lustre"] and llm["notebookProfiles"] == slugs and len(slugs) == 1 + len(POOLS)
    assert llm["groups"] == {"admin": ["llm-admins"], "edit": ["llm-users"]}  # groups only: not the hub's spawner binding
    text = "\n".join(section.lines)
    assert "llm: volumes lustre; groups admin: llm-admins; edit: llm-users" in text
    assert f"llm: notebook profiles (in its namespace and quota): {', '.join(slugs)}" in text


@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "prod-platform"])
def test_shipped_stacks_plan_their_teams_within_every_mandatory_tenancy_policy(stack):
    from policies.offline import evaluate
    from helpers import shipped_plan
    from stacks.tools.plan.model import PlanModel
    from stacks.tools.plan.report import teams_section

    planned = shipped_plan(stack)
    assert planned.spec.teams, f"{stack} ships no teams"
    section = teams_section(PlanModel.of(planned))
    assert set(section.data) == {t.name for t in planned.spec.teams}
    report = evaluate([r.to_json() for r in planned.run.resources], planned.spec.environment)
    tenancy = ("crucible:platform:Team", "crucible:platform:Kueue")
    assert [v.message for v in report.mandatory_violations if any(t in v.urn for t in tenancy)] == []


def _guard_allows(expression: str, groups: list[str] | None, username: str = "someone") -> bool:
    """Evaluate the admission policy's CEL expression as the API server would for a request by ``username`` in
    ``groups`` (None: a request whose userInfo has no groups)."""
    import celpy

    env = celpy.Environment()
    user = {"username": username, **({"groups": groups} if groups is not None else {})}
    return bool(env.program(env.compile(expression)).evaluate({"request": celpy.json_to_cel({"userInfo": user})}))


def _as_service_account(namespace: str, name: str) -> dict:
    """What the API server puts in userInfo for a ServiceAccount token (or `kubectl --as=system:serviceaccount:...`)."""
    return {
        "username": f"system:serviceaccount:{namespace}:{name}",
        "groups": ["system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"],
    }


def _network_policy_guard(run, kind: str = "ValidatingAdmissionPolicy"):
    """The NetworkPolicy guard (beside it: the placement guard, tests/test_examples_run.py)."""
    (found,) = [
        r for r in run.of_type(f"kubernetes:admissionregistration.k8s.io/v1:{kind}") if r.inputs["metadata"]["name"] == "crucible-tenant-network-policies"
    ]
    return found


@pytest.fixture(scope="module")
def guard(run) -> str:
    policy = _network_policy_guard(run)
    (validation,) = policy.inputs["spec"]["validations"]
    return validation["expression"]


def test_tenants_cannot_write_network_policies_in_team_namespaces_but_the_platform_can(run, guard):
    policy = _network_policy_guard(run)
    binding = _network_policy_guard(run, "ValidatingAdmissionPolicyBinding")
    spec = policy.inputs["spec"]
    assert binding.inputs["spec"] == {"policyName": policy.inputs["metadata"]["name"], "validationActions": ["Deny"]}
    assert spec["failurePolicy"] == "Fail"
    assert spec["matchConstraints"]["namespaceSelector"] == {"matchExpressions": [{"key": "crucible.io/tenant", "operator": "Exists"}]}
    (rule,) = spec["matchConstraints"]["resourceRules"]
    assert rule["resources"] == ["networkpolicies"] and set(rule["operations"]) == {"CREATE", "UPDATE", "DELETE"}
    for team in TEAMS:
        for group in (*team.get("adminGroups", []), *team["memberGroups"]):
            assert not _guard_allows(guard, [group, "system:authenticated"]), group
    assert _guard_allows(guard, ["platform-admins", "system:authenticated"])
    assert _guard_allows(guard, None)


def test_a_team_cannot_write_network_policies_by_acting_as_one_of_its_service_accounts(guard):
    # `admin`/`edit` let a team bind `edit` to a ServiceAccount of its namespace and mint its token (or impersonate
    # it): the request then carries the service account groups, not the team's.
    for team in TEAMS:
        for account in ("workload", "default", "ci-bot"):
            user = _as_service_account(team["name"], account)
            assert not _guard_allows(guard, user["groups"], user["username"]), user["username"]


def test_the_platform_identities_still_write_network_policies(guard):
    deployer = "arn:aws:sts::111122223333:assumed-role/crucible-deployer/pulumi"  # EKS access entry: no groups
    assert _guard_allows(guard, ["system:authenticated"], deployer)
    assert _guard_allows(guard, ["system:masters", "system:authenticated"], "kubernetes-admin")
    for namespace, account in (("kube-system", "generic-garbage-collector"), ("kube-system", "namespace-controller"), ("kuberay", "kuberay-operator")):
        user = _as_service_account(namespace, account)
        assert _guard_allows(guard, user["groups"], user["username"]), user["username"]


def test_no_tenant_guard_without_teams():
    assert plan("dev").of_type("kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy") == []


def test_the_team_quota_adds_the_claims_the_platform_makes_in_the_namespace():
    # inference: two served models read their weights from S3 through 1200Gi static claims in the serving namespace;
    # the quota admission counts them (REL-K8S-005), so the team's 2000Gi and 20 claims stay its own
    from helpers import shipped_report

    resources = shipped_report("inference")[0]["resources"]
    (quota,) = [r["inputs"]["spec"]["hard"] for r in resources if r["type"] == "kubernetes:core/v1:ResourceQuota" and r["name"] == "team-serving-quota"]
    weights = [r for r in resources if r["type"] == "kubernetes:core/v1:PersistentVolumeClaim" and r["inputs"]["metadata"]["name"].endswith("-weights")]
    assert len(weights) == 2
    assert quota["requests.storage"] == f"{2000 + 2 * 1200}Gi" and quota["persistentvolumeclaims"] == str(20 + 2)
