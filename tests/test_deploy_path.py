"""The real run of every shipped stack: where CI runs it, how it reaches the API, and the secrets it needs
(issue 12, A1-A3)."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from helpers import REPO, shipped_report, stack_config
from stacks.cli import main
from stacks.plan.locate import shipped_stacks
from stacks.spec import ConfigError, load_spec
from stacks.spec.loader import load_stack_file
from test_workflows import load

SHIPPED = shipped_stacks()
PRIVATE_LABEL = "CRUCIBLE_PRIVATE_RUNNER_LABEL"
GRAFANA = {"addons": {"observability": {"grafana": True}}}


def runner_of(stack: str, capsys) -> str:
    assert main(["runner", stack]) == 0
    name, kind = capsys.readouterr().out.split()
    return kind


# ---- where CI runs each stack ----------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", SHIPPED)
def test_the_runner_follows_the_endpoint_of_the_stack_that_builds_the_cluster(stack, capsys):
    spec, _, _ = load_stack_file(REPO / "stacks" / f"Pulumi.{stack}.yaml")
    if not spec.builds("cluster"):  # a split stack deploys from where its core stack does
        spec, _, _ = load_stack_file(REPO / "stacks" / f"Pulumi.{spec.stack_reference.rsplit('/', 1)[-1]}.yaml")
    assert runner_of(stack, capsys) == ("hosted" if spec.cluster.endpoint_public_access else "self-hosted")


def test_private_stacks_run_on_the_labelled_self_hosted_runner(capsys, monkeypatch):
    monkeypatch.setenv(PRIVATE_LABEL, "crucible-vpc")
    assert main(["runner", "dev", "staging", "prod", "prod-platform", "--labels"]) == 0
    assert json.loads(capsys.readouterr().out) == {"dev": "ubuntu-latest", "staging": "crucible-vpc", "prod": "crucible-vpc", "prod-platform": "crucible-vpc"}


def test_a_private_stack_without_the_runner_label_is_refused(capsys, monkeypatch):
    monkeypatch.delenv(PRIVATE_LABEL, raising=False)
    assert main(["runner", "prod", "--labels"]) == 2
    assert PRIVATE_LABEL in capsys.readouterr().err


@pytest.mark.parametrize("workflow, job, route", [("deploy.yml", "up", "route"), ("pull-request.yml", "preview", "route")])
def test_workflows_run_each_stack_where_its_config_says(workflow, job, route):
    document = load(REPO / ".github" / "workflows" / workflow)
    target, router = document["jobs"][job], document["jobs"][route]
    assert route in ([target["needs"]] if isinstance(target["needs"], str) else target["needs"])
    assert target["runs-on"] == f"${{{{ fromJSON(needs.{route}.outputs.runners)[matrix.stack] }}}}"
    (step,) = [s for s in router["steps"] if "crucible runner" in s.get("run", "")]
    stacks = re.search(r"crucible runner ([\w -]+?) --labels", step["run"]).group(1).split()
    assert stacks == target["strategy"]["matrix"]["stack"]  # every stack the job runs is routed
    assert step["env"][PRIVATE_LABEL] == f"${{{{ vars.{PRIVATE_LABEL} }}}}"
    assert router["outputs"]["runners"] == f"${{{{ steps.{step['id']}.outputs.runners }}}}"


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
    from stacks.plan.locate import plan_stack
    from stacks.plan.report import build_report

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
    from stacks.harness import run_program

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
    assert f"python3 -m venv policies/{pack_venv} && policies/{pack_venv}/bin/pip install -r policies/requirements.txt" in section
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


@pytest.mark.parametrize("workflow", ["deploy.yml", "pull-request.yml"])
def test_jobs_with_the_policy_pack_install_its_virtualenv(workflow):
    pack_venv = yaml.safe_load((REPO / "policies" / "PulumiPolicy.yaml").read_text())["runtime"]["options"]["virtualenv"]
    for job in load(REPO / ".github" / "workflows" / workflow)["jobs"].values():
        if any(s.get("with", {}).get("policyPacks") == "policies" for s in job["steps"]):
            runs = " ".join(s.get("run", "") for s in job["steps"])
            assert f"python3 -m venv policies/{pack_venv} && policies/{pack_venv}/bin/pip install -r policies/requirements.txt" in runs
