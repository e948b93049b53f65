"""The pack as a whole: every catalogue rule is there, named and described consistently, configurable per
environment without code branches, and importable without starting a server."""

import json
import re
from pathlib import Path

import pytest
from google.protobuf import empty_pb2
from pulumi_policy import EnforcementLevel, StackValidationPolicy

from policies.offline import CONFIG_DIR, _servicer, load_config, reconcile
from policies.pack import all_policies

PACK_DIR = Path(__file__).resolve().parents[2] / "policies"

# policy-catalogue.md, SEC-EKS-001 ... DATA-PUL-003 (DATA-PUL-004, retainOnDelete, is invisible to CrossGuard).
CATALOGUE = """
SEC-EKS-001 SEC-EKS-002 SEC-EKS-003 SEC-EKS-004 SEC-EKS-005 SEC-EKS-006
SEC-NODE-001 SEC-NODE-002 SEC-NODE-003 SEC-NODE-004 SEC-NODE-005 REL-NODE-006 REL-NODE-007
AI-GPU-001 AI-KARP-001 AI-KARP-002 AI-KARP-003 AI-EFA-001 AI-EFA-002 AI-EFA-003
AI-FSX-001 AI-FSX-002 SEC-FSX-003 DATA-FSX-004
SEC-S3-001 SEC-S3-002 SEC-S3-003 DATA-S3-004 DATA-S3-005 DATA-S3-006 DATA-S3-007 SEC-S3-008
SEC-IAM-001 SEC-IAM-002 SEC-IAM-003 SEC-KMS-001 DATA-KMS-002 SEC-NET-001 SEC-NET-002 SEC-NET-003
SEC-K8S-001 REL-K8S-002 SEC-K8S-003 SEC-JH-001 SEC-JH-002 DATA-JH-003 SEC-RAY-001 SEC-HELM-001
AI-KUEUE-001 AI-KUEUE-002 AI-KUEUE-003 DATA-PUL-001 DATA-PUL-002 DATA-PUL-003
""".split()
# Rules beyond the catalogue, which the stacks showed were needed: SEC-K8S-004, SEC-EKS-007 (issue 12, A1: a private API needs a declared way in),
# SEC-EKS-008 (issue 12, A1 follow-up: and a route back to the network it admits) and SEC-LOG-001 (issue 12, D17: an
# independent scanner flagged the log groups on AWS-owned keys), mandatory in staging and prod, advisory in dev; and
# the ordering relations (policies/rules/ordering.py: a wrong order breaks a dev deploy as surely as a prod one, so
# they are mandatory everywhere).
ORDERING = {"REL-ORD-001", "REL-ORD-002", "REL-ORD-003", "REL-ORD-004", "REL-ORD-005", "REL-ORD-006", "REL-ORD-007", "REL-ORD-008"}
# The delivery identities (policies/rules/delivery.py, issue 19): a GitHub OIDC trust without aud, with a wildcard
# repository or without an environment in sub hands a deploy role around every environment gate, in dev as in prod:
# mandatory everywhere.
DELIVERY = {"SEC-CICD-001", "SEC-CICD-002", "SEC-CICD-003", "SEC-CICD-004"}
# SEC-IAM-004 (issue 19): every role carries the permissions boundary the deploy roles may create roles with;
# mandatory in staging and prod, advisory in dev.
# AI-GPU-002 (a Neuron pool on Bottlerocket whose devices non-root pods cannot open), REL-IAM-005 (a document IAM
# refuses for its size), AI-KARP-004 (a time-sliced pool Karpenter sizes by physical GPUs), REL-K8S-005 (a claim
# the namespace's quota refuses) and REL-K8S-006 (a quota whose claims are judged by its lagging status) break a dev
# stack as surely as a prod one: mandatory everywhere.
WORKS_EVERYWHERE = {"AI-GPU-002", "REL-IAM-005", "AI-KARP-004", "REL-K8S-005", "REL-K8S-006"}
BEYOND_CATALOGUE = {"SEC-K8S-004", "SEC-LOG-001", "SEC-EKS-007", "SEC-EKS-008", "SEC-SRV-001", "SEC-IAM-004"} | ORDERING | DELIVERY | WORKS_EVERYWHERE
# Rules beyond the catalogue that report an explicit override (advisory everywhere): SEC-NET-004, a VPC outside the
# private ranges (crucible:network.allowNonPrivateCidr).
BEYOND_CATALOGUE_ADVISORY = {"SEC-NET-004"}
# Catalogue severity "A": advisory wherever the pack runs.
ADVISORY = {"SEC-EKS-005", "DATA-S3-005", "DATA-S3-007", "SEC-S3-008", "AI-KUEUE-003"} | BEYOND_CATALOGUE_ADVISORY
# Catalogue "M-prod" (and "Dev advisory" notes): mandatory in staging and prod, never mandatory in dev.
PROD_ONLY = {
    "SEC-EKS-003",
    "SEC-EKS-004",
    "SEC-NODE-004",
    "REL-NODE-006",
    "AI-KARP-002",
    "AI-EFA-003",
    "AI-FSX-001",
    "SEC-FSX-003",
    "DATA-FSX-004",
    "SEC-S3-002",
    "DATA-S3-004",
    "DATA-S3-006",
    "SEC-IAM-003",
    "DATA-KMS-002",
    "SEC-NET-002",
    "SEC-NET-003",
    "REL-K8S-002",
    "SEC-JH-001",
    "SEC-JH-002",
    "DATA-JH-003",
    "SEC-RAY-001",
    "SEC-HELM-001",
    "DATA-PUL-001",
    "DATA-PUL-002",
    "DATA-PUL-003",
} | (BEYOND_CATALOGUE - ORDERING - DELIVERY - WORKS_EVERYWHERE)
SCHEMA_KEYWORDS = {"type", "items", "enum", "minimum", "maximum", "default", "description"}
POLICIES = all_policies()


def rule_id(name: str) -> str:
    return "-".join(name.split("-")[:3]).upper()


def levels(env: str) -> dict:
    servicer = _servicer()
    return {name: level for name, (level, _) in reconcile(servicer.GetAnalyzerInfo(empty_pb2.Empty(), None), load_config(env)).items()}


def test_every_catalogue_rule_is_a_policy_and_nothing_else_is_unaccounted_for():
    # one policy per id (SEC-NODE-002 has two: the rule and its exceptions): 55 catalogue policies, SEC-K8S-004,
    # SEC-EKS-007, SEC-EKS-008, SEC-LOG-001, SEC-NET-004, SEC-SRV-001 (public serving endpoints), the eight ordering
    # relations, the four delivery rules (SEC-CICD-001 ... 004), SEC-IAM-004 (permissions boundaries), AI-GPU-002
    # (Neuron devices for non-root pods), REL-IAM-005 (IAM size quotas), AI-KARP-004 (time-sliced pools as Karpenter
    # simulates them), REL-K8S-005 (claims within quota) and REL-K8S-006 (quotas wait for their status), 79 in all; a
    # new rule changes this count on purpose
    assert len(POLICIES) == len(CATALOGUE) + len(BEYOND_CATALOGUE) + len(BEYOND_CATALOGUE_ADVISORY) + 1 == 79
    assert sorted({rule_id(p.name) for p in POLICIES}) == sorted({*CATALOGUE, *BEYOND_CATALOGUE, *BEYOND_CATALOGUE_ADVISORY})


def test_names_are_unique_readable_and_carry_the_catalogue_id():
    names = [p.name for p in POLICIES]
    assert len(set(names)) == len(names)
    for name in names:
        assert re.fullmatch(r"(sec|rel|ai|data)-[a-z0-9]+-\d{3}(-[a-z0-9]+)+", name), name


def test_descriptions_say_what_and_why():
    for policy in POLICIES:
        assert len(policy.description) > 60 and policy.description.endswith("."), policy.name


def test_catalogue_advisory_rules_default_to_advisory_and_the_rest_to_mandatory():
    for policy in POLICIES:
        advisory = rule_id(policy.name) in ADVISORY or policy.name == "sec-node-002-imds-hop-limit-exceptions"
        assert policy.enforcement_level == (EnforcementLevel.ADVISORY if advisory else EnforcementLevel.MANDATORY), policy.name


def test_config_schemas_declare_a_default_and_use_keywords_the_offline_validator_knows():
    for policy in POLICIES:
        for key, schema in policy.config_schema.properties.items() if policy.config_schema else []:
            assert {"default", "description", "type"} <= set(schema), (policy.name, key)
            assert set(schema) <= SCHEMA_KEYWORDS, (policy.name, key)


def test_schema_defaults_validate_against_their_own_schemas():
    servicer = _servicer()
    reconcile(servicer.GetAnalyzerInfo(empty_pb2.Empty(), None), {})


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_environment_configs_are_valid_policy_pack_configs(env):
    config = json.loads((CONFIG_DIR / f"{env}.json").read_text())
    assert config["all"] == "mandatory"
    assert set(levels(env)) == {p.name for p in POLICIES}


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_catalogue_advisory_rules_stay_advisory_everywhere(env):
    for name, level in levels(env).items():
        if rule_id(name) in ADVISORY or name == "sec-node-002-imds-hop-limit-exceptions":
            assert level in ("advisory", "disabled"), (env, name)


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_staging_and_prod_enforce_everything_but_the_advisory_rules(env):
    for name, level in levels(env).items():
        advisory = rule_id(name) in ADVISORY or name == "sec-node-002-imds-hop-limit-exceptions"
        assert level == ("advisory" if advisory else "mandatory"), (env, name)


def test_dev_relaxes_exactly_the_prod_only_rules():
    relaxed = {rule_id(n) for n, level in levels("dev").items() if level != "mandatory"}
    assert relaxed - ADVISORY - {"SEC-NODE-002"} == PROD_ONLY


def test_prod_thresholds_are_the_strict_ones():
    prod, dev = load_config("prod"), load_config("dev")
    assert prod["sec-eks-002-private-endpoint"]["requirePrivateEndpoint"] is True
    assert dev["sec-eks-002-private-endpoint"]["requirePrivateEndpoint"] is False
    assert len(prod["sec-eks-003-control-plane-logs"]["requiredLogTypes"]) == 5
    assert prod["sec-kms-001-cmk-hygiene"]["minDeletionWindowDays"] == 30


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_delivery_identity_rules_are_mandatory_everywhere(env):
    assert {rule_id(n): level for n, level in levels(env).items() if rule_id(n) in DELIVERY} == {r: "mandatory" for r in DELIVERY}


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_ordering_relations_are_mandatory_everywhere(env):
    assert {rule_id(n): level for n, level in levels(env).items() if rule_id(n) in ORDERING} == {r: "mandatory" for r in ORDERING}


def test_stack_rules_are_the_catalogue_joins():
    stack_rules = {rule_id(p.name) for p in POLICIES if isinstance(p, StackValidationPolicy)}
    assert {"SEC-EKS-006", "AI-KARP-003", "AI-EFA-001", "SEC-S3-001", "AI-KUEUE-001", "SEC-NET-002"} <= stack_rules


def test_only_the_entry_point_builds_the_policy_pack():
    builders = [p.relative_to(PACK_DIR) for p in PACK_DIR.rglob("*.py") if "PolicyPack(" in p.read_text()]
    assert builders == [Path("__main__.py")]


def test_pulumi_policy_project_file_runs_python_in_a_virtualenv():
    import yaml

    project = yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text())
    assert project["runtime"] == {"name": "python", "options": {"virtualenv": "venv"}}
    assert project["description"]
    requirements = (PACK_DIR / "requirements.txt").read_text()
    assert "pulumi-policy" in requirements and re.search(r"^pulumi[><=]", requirements, re.M)
