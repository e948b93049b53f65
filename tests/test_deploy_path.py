"""The real run of every shipped stack: where CI runs it, how it reaches the API, and the secrets it needs
(issue 12, A1-A3)."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from helpers import REPO, shipped_report, stack_config
from stacks.tools.cli import main
from stacks.tools.plan.locate import shipped_stacks
from stacks.spec import ConfigError, load_spec
from stacks.spec.loader import load_stack_file
from test_workflows import load

SHIPPED = shipped_stacks()
GRAFANA = {"addons": {"observability": {"grafana": True}}}


def runner_of(stack: str, capsys) -> tuple[str, list[str]]:
    assert main(["runner", stack]) == 0
    name, kind, labels = capsys.readouterr().out.split()
    return kind, labels.split(",")


def labels_of(capsys, *stacks: str) -> dict:
    assert main(["runner", *stacks, "--labels"]) == 0
    return json.loads(capsys.readouterr().out)


def stack_file(tmp_path, source: str, edit) -> str:
    document = yaml.safe_load((REPO / "stacks" / f"Pulumi.{source}.yaml").read_text())
    edit(document["config"])
    path = tmp_path / f"Pulumi.{source}.yaml"
    path.write_text(yaml.safe_dump(document))
    return str(path)


# ---- where CI runs each stack ----------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", SHIPPED)
def test_the_runner_is_the_one_of_the_stack_that_builds_the_cluster(stack, capsys):
    spec, _, _ = load_stack_file(REPO / "stacks" / f"Pulumi.{stack}.yaml")
    if not spec.builds("cluster"):  # a split stack deploys from where its core stack does (same VPC, same runner)
        spec, _, _ = load_stack_file(REPO / "stacks" / f"Pulumi.{spec.stack_reference.rsplit('/', 1)[-1]}.yaml")
    expected = list(spec.cluster.api_access.runner_labels) or ["self-hosted", f"crucible-{spec.stack}"]
    assert runner_of(stack, capsys) == ("self-hosted" if "self-hosted" in expected else "hosted", expected)


def test_staging_and_prod_run_on_different_runners(capsys):
    # Different VPCs in different regions: one runner cannot reach both private endpoints.
    labels = labels_of(capsys, "staging", "prod")
    assert labels == {"staging": ["self-hosted", "crucible-staging"], "prod": ["self-hosted", "crucible-prod"]}


def test_a_split_stack_runs_where_its_core_stack_runs(capsys):
    labels = labels_of(capsys, "prod-core", "prod-platform")
    assert labels["prod-platform"] == labels["prod-core"] == ["self-hosted", "crucible-prod-core"]


def test_the_labels_are_json_arrays_for_runs_on(capsys):
    # `runs-on: ${{ fromJSON(needs.route.outputs.runners)[matrix.stack] }}` takes an array of labels, each one name
    # ("self-hosted,vpc" would be one label no runner has, and the job would queue forever).
    labels = labels_of(capsys, *SHIPPED)
    assert set(labels) == set(SHIPPED)
    for stack, value in labels.items():
        assert isinstance(value, list) and value and all(isinstance(v, str) and re.fullmatch(r"[\w.-]+", v) for v in value), stack


def test_dev_is_not_routed_to_a_hosted_runner_its_allow_list_never_admits(capsys):
    # dev's allow-list (203.0.113.0/24, a documentation range) admits no GitHub-hosted runner's egress address.
    assert runner_of("dev", capsys) == ("self-hosted", ["self-hosted", "crucible-dev"])


def test_hosted_labels_named_in_the_config_route_a_public_stack_to_hosted_runners(tmp_path, capsys):
    # e.g. a GitHub larger runner with a static egress range that publicAccessCidrs admits
    path = stack_file(tmp_path, "dev", lambda c: c["crucible:cluster"].update(apiAccess={"runnerLabels": ["crucible-static-ip"]}))
    assert runner_of(path, capsys) == ("hosted", ["crucible-static-ip"])


def test_a_runner_label_per_stack_is_configurable(tmp_path, capsys):
    path = stack_file(tmp_path, "prod", lambda c: c["crucible:cluster"]["apiAccess"].update(runnerLabels=["self-hosted", "vpc-prod-use1"]))
    assert labels_of(capsys, path) == {"prod": ["self-hosted", "vpc-prod-use1"]}


def test_hosted_labels_for_a_private_endpoint_are_refused():
    config = stack_config("prod", cluster={"apiAccess": {"runnerLabels": ["ubuntu-latest"]}})
    with pytest.raises(ConfigError) as caught:
        load_spec(config, "prod")
    (problem,) = caught.value.problems
    assert problem.path == "crucible:cluster.apiAccess.runnerLabels" and "cannot reach a private-only endpoint" in problem.message


@pytest.mark.parametrize("label", ["self-hosted,vpc", "self-hosted vpc", "", "-x"])
def test_a_runner_label_that_is_not_one_name_is_refused(label):
    config = stack_config("prod", cluster={"apiAccess": {"runnerLabels": ["self-hosted", label]}})
    with pytest.raises(ConfigError) as caught:
        load_spec(config, "prod")
    assert any(p.path.startswith("crucible:cluster.apiAccess.runnerLabels") and "one runner label per list item" in p.message for p in caught.value.problems)


def _routed(router: dict) -> tuple[list[str], dict]:
    (step,) = [s for s in router["steps"] if "crucible runner" in s.get("run", "")]
    assert router["outputs"]["runners"] == f"${{{{ steps.{step['id']}.outputs.runners }}}}"
    return re.search(r"crucible runner ([\w -]+?) --labels", step["run"]).group(1).split(), step


def test_previews_run_each_stack_where_its_config_says():
    document = load(REPO / ".github" / "workflows" / "pull-request.yml")
    target, router = document["jobs"]["preview"], document["jobs"]["route"]
    assert "route" in target["needs"]
    assert target["runs-on"] == "${{ fromJSON(needs.route.outputs.runners)[matrix.stack] }}"
    stacks, _ = _routed(router)
    assert stacks == [entry["stack"] for entry in target["strategy"]["matrix"]["include"]]  # every stack previewed is routed
    assert "CRUCIBLE_PRIVATE_RUNNER_LABEL" not in yaml.safe_dump(document)


def test_deploy_stages_run_where_their_stacks_config_says():
    document = load(REPO / ".github" / "workflows" / "deploy.yml")
    stacks, _ = _routed(document["jobs"]["route"])
    deployed = []
    for name, job in document["jobs"].items():
        if "uses" not in job:
            continue
        assert "route" in job["needs"]
        first = json.loads(job["with"]["stacks"])[0]
        accessor = f".{first}" if re.fullmatch(r"[a-z]+", first) else f"['{first}']"
        assert job["with"]["runs-on"] == f"${{{{ toJSON(fromJSON(needs.route.outputs.runners){accessor}) }}}}", name
        deployed += json.loads(job["with"]["stacks"])
    assert sorted(stacks) == sorted(deployed)  # every stack deployed is routed
    stage = load(REPO / ".github" / "workflows" / "deploy-stage.yml")
    assert {job["runs-on"] for job in stage["jobs"].values()} == {"${{ fromJSON(inputs.runs-on) }}"}
    assert "CRUCIBLE_PRIVATE_RUNNER_LABEL" not in yaml.safe_dump(document)


def test_one_virtualenv_for_the_quick_start_pulumi_and_ci():
    assert yaml.safe_load((REPO / "Pulumi.yaml").read_text())["runtime"]["options"]["virtualenv"] == ".venv"
    readme = (REPO / "README.md").read_text()
    assert "python3 -m venv .venv && .venv/bin/pip install -e ." in readme
    for text in [readme, *(p.read_text() for p in (REPO / ".github" / "workflows").glob("*.yml"))]:
        assert not re.search(r"(?<![\w./])venv/bin", text) and "-m venv venv" not in text


# ---- what the plan says about the real run ----------------------------------------------------------------------


@pytest.mark.parametrize("stack", SHIPPED)
def test_every_shipped_plan_shows_its_deploy_path_and_secrets(stack):
    document, lines = shipped_report(stack)
    deploy = document["deploy"]
    assert deploy["waysIn"] and deploy["runner"] in ("hosted", "self-hosted")
    if deploy["endpoint"] == "private only":
        assert deploy["apiIngress"], "a private endpoint with no network admitted on 443"
    assert deploy["deployRole"] or deploy["creatorAdmin"], "nobody the deploy can act as"
    text = "\n".join(lines)
    assert "Deploy path" in text and "Secrets the real run needs" in text
    assert isinstance(document["secrets"], list)


def test_the_plan_warns_of_a_documentation_range_in_the_allow_list():
    document, lines = shipped_report("dev")
    (warning,) = [n for n in document["deploy"]["networkNotes"] if "203.0.113.0/24" in n]
    assert "documentation range" in warning and "replace with your network's egress" in warning
    assert any(warning in line for line in lines)
    assert not [n for n in shipped_report("prod")[0]["deploy"]["networkNotes"] if "documentation range" in n]


@pytest.mark.parametrize("stack, where", [("prod", "this stack"), ("prod-platform", "stack acme/crucible/prod-core")])
def test_the_plan_names_the_network_teams_side_of_the_transit_gateway(stack, where):
    document, _ = shipped_report(stack)
    (note,) = [n for n in document["deploy"]["networkNotes"] if "transit gateway" in n]
    assert note.startswith(f"transit gateway tgw-0123456789abcdef0: {where} attaches") and "10.100.0.0/16" in note
    for words in ("route table", "propagates the VPC CIDR", "RAM", "accepted"):
        assert words in note
    assert document["deploy"]["runnerLabels"] == ["self-hosted", "crucible-prod" if stack == "prod" else "crucible-prod-core"]


def test_prod_plans_offline_without_its_secrets_and_names_the_commands():
    document, lines = shipped_report("prod")
    by_key = {s["key"]: s for s in document["secrets"]}
    assert set(by_key) == {"crucible:jupyterhubOauthClientSecret", "crucible:grafanaAdminPassword"}
    for key, secret in by_key.items():
        assert secret["state"] == "missing" and secret["command"] == f"pulumi config set --secret {key} -s prod"
        assert any(secret["command"] in line for line in lines)


def test_an_encrypted_secret_in_a_stack_file_counts_as_set(tmp_path):
    source = yaml.safe_load((REPO / "stacks" / "Pulumi.staging.yaml").read_text())
    source["config"]["crucible:jupyterhubOauthClientSecret"] = {"secure": "v1:ciphertext-of-this-stack"}
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(yaml.safe_dump(source))
    from stacks.tools.plan.locate import plan_stack
    from stacks.tools.plan.report import build_report

    document, _ = build_report(plan_stack(str(path)))
    assert [(s["key"], s["state"]) for s in document["secrets"]] == [("crucible:jupyterhubOauthClientSecret", "set")]


def test_no_shipped_file_carries_a_ciphertext():
    for path in [*REPO.glob("stacks/**/*.yaml"), *REPO.glob("policies/**/*.yaml"), *REPO.glob("*.yaml")]:
        assert "secure:" not in path.read_text(), f"{path.relative_to(REPO)} ships a `secure:` value no secrets provider can decrypt"


def test_a_plain_text_secret_in_a_stack_file_is_refused(tmp_path):
    source = yaml.safe_load((REPO / "stacks" / "Pulumi.staging.yaml").read_text())
    source["config"]["crucible:jupyterhubOauthClientSecret"] = "not-encrypted"
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(yaml.safe_dump(source))
    with pytest.raises(ConfigError) as caught:
        load_stack_file(path)
    (problem,) = caught.value.problems
    assert problem.path == "crucible:jupyterhubOauthClientSecret" and "plain text" in problem.message
    assert "pulumi config set --secret crucible:jupyterhubOauthClientSecret -s staging" in problem.message
    assert "not-encrypted" not in str(caught.value)  # the value never appears in an error


# ---- under the engine: the program stops before any resource ----------------------------------------------------


def engine_run(config: dict[str, str], secret_keys: list[str], monkeypatch) -> tuple[list, Exception]:
    """Run the program under the mocks; record whether it got as far as building any resource."""
    import stacks.program
    from stacks.tools.harness import run_program

    built = []
    monkeypatch.setattr(stacks.program, "build", lambda spec: built.append(spec))
    with pytest.raises(Exception) as caught:
        run_program(stacks.program.main, stack="prod", config=config, secret_keys=secret_keys)
    return built, caught.value


def test_under_the_engine_a_missing_secret_stops_before_any_resource_with_the_command(monkeypatch):
    built, error = engine_run(stack_config("prod", **GRAFANA), [], monkeypatch)
    assert built == []
    assert "pulumi config set --secret crucible:grafanaAdminPassword -s prod" in str(error)


def test_under_the_engine_a_secret_given_as_plain_text_is_refused(monkeypatch):
    config = stack_config("prod", grafanaAdminPassword="plain-text-password", **GRAFANA)
    built, error = engine_run(config, [], monkeypatch)
    assert built == [] and "crucible:grafanaAdminPassword: given as plain text" in str(error)
    assert "plain-text-password" not in str(error)


def test_under_the_engine_a_secret_held_as_a_secret_is_accepted():
    config = stack_config("prod", grafanaAdminPassword="from-the-secrets-provider", **GRAFANA)
    spec = load_spec(config, "prod", secret_keys={"crucible:grafanaAdminPassword"})
    assert spec.grafana_admin_password == "from-the-secrets-provider"


# ---- the account preflight: EC2 quotas (issue 12, A3) -----------------------------------------------------------


def test_prod_plan_names_each_quota_with_the_vcpus_its_pools_reach():
    quotas = {q["code"]: q for q in shipped_report("prod")[0]["deploy"]["quotas"]}
    assert quotas["L-417A185B"]["vcpusAtMax"] == 8 * 192 and quotas["L-417A185B"]["for"] == ["pool train"]  # 8 x p5.48xlarge
    assert quotas["L-417A185B"]["command"] == "aws service-quotas get-service-quota --service-code ec2 --quota-code L-417A185B --region us-east-1"
    # serve runs spot and on demand: Karpenter may put all of it on either, so both quotas must hold it
    assert quotas["L-DB2E81BA"]["vcpusAtMax"] == quotas["L-3819A6DF"]["vcpusAtMax"] > 0
    assert "system node group" in quotas["L-1216C47A"]["for"]


def test_trainium_counts_against_the_trn_quotas():
    quotas = {q["code"]: q for q in shipped_report("trainium")[0]["deploy"]["quotas"]}
    assert set(quotas["L-2C3B7624"]["for"]) == {"pool trn2-train", "pool trn1-train"}
    assert quotas["L-6B0D517C"]["for"] == ["pool trn1-train"]  # the only Trn pool allowed on spot


def test_the_readme_quota_preflight_is_the_table_the_plan_uses():
    from stacks.derive.ec2_quotas import QUOTAS

    readme = (REPO / "README.md").read_text()
    listed = dict(re.findall(r"^q (L-[0-9A-F]{8}) +# (.+)$", readme, re.M))
    known = {code: name for pair in QUOTAS.values() for code, name in pair}
    assert set(listed) == set(known)
    for code, comment in listed.items():
        assert comment.startswith(known[code]), f"README names {code} {comment!r}; Service Quotas: {known[code]!r}"


def test_the_readme_real_path_is_a_checklist_with_the_commands_that_work():
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Deploying for real") : readme.index("## Verify a deployed stack")]
    for env in ("prod",):
        assert f"pulumi preview --policy-pack policies --policy-pack-config policies/config/{env}.json" in section
        assert f"pulumi up --policy-pack policies --policy-pack-config policies/config/{env}.json" in section
        assert (REPO / "policies" / "config" / f"{env}.json").is_file()
    pack_venv = yaml.safe_load((REPO / "policies" / "PulumiPolicy.yaml").read_text())["runtime"]["options"]["virtualenv"]
    # the pack's own virtualenv, from its hashed lock (issue 19: every install from a lock, --require-hashes)
    assert f"python3 -m venv policies/{pack_venv} && policies/{pack_venv}/bin/pip install --require-hashes -r policies/requirements.lock" in section
    for words in (
        "aws iam create-service-linked-role --aws-service-name autoscaling.amazonaws.com",
        "aws iam create-service-linked-role --aws-service-name spot.amazonaws.com",
        "crucible:cluster.createServiceLinkedRoles",
        "aws ec2 describe-capacity-block-offerings",
        "pulumi state unprotect",
        "pulumi destroy -s prod-platform",
        "AWS-StartPortForwardingSessionToRemoteHost",
        "pulumi config set --secret crucible:",
    ):
        assert words in section, words
    assert section.index("pulumi destroy -s prod-platform") < section.index("pulumi destroy -s prod-core")


@pytest.mark.parametrize("workflow", ["deploy-stage.yml", "pull-request.yml"])
def test_jobs_with_the_policy_pack_install_its_virtualenv(workflow):
    pack_venv = yaml.safe_load((REPO / "policies" / "PulumiPolicy.yaml").read_text())["runtime"]["options"]["virtualenv"]
    install = (REPO / ".github" / "scripts" / "install.sh").read_text()
    assert f'python3 -m venv "$dir/policies/{pack_venv}"' in install
    assert f'"$dir/policies/{pack_venv}/bin/pip" install --require-hashes --no-deps -r "$dir/policies/requirements.lock"' in install
    stage = (REPO / ".github" / "scripts" / "pulumi-stage.sh").read_text()
    with_pack = 0
    for job in load(REPO / ".github" / "workflows" / workflow)["jobs"].values():
        runs = " ".join(s.get("run", "") for s in job.get("steps", []))
        if "--policy-pack policies" in runs or ("pulumi-stage.sh" in runs and "--policy-pack policies" in stage):
            with_pack += 1
            assert ".github/scripts/install.sh . --policy-pack" in runs
    assert with_pack > 0


def test_the_readme_ways_in_are_the_ones_that_work_on_the_first_deploy():
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("### Ways into the cluster") : readme.index("## Verify a deployed stack")]
    # EKS publishes a private-only endpoint's private IPs under its public DNS name (AWS knowledge center
    # "eks-private-cluster-endpoint-vpc"): the name resolves outside the VPC too.
    assert "resolves only inside the VPC" not in readme and "publishes the endpoint's private IP addresses" in readme
    for words in (
        "network.transitGatewayId",
        "network.existing",
        "InvalidGroup.NotFound",
        "AWS-StartPortForwardingSessionToRemoteHost",
        "documentation range",
        "First-deploy order",
        "RAM",
        "runnerLabels",
        "fromJSON",
    ):
        assert words in section, words
    assert "CRUCIBLE_PRIVATE_RUNNER_LABEL" not in readme
