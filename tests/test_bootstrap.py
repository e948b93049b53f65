"""The bootstrap (bootstrap/, its own Pulumi project): what the delivery pipeline needs in an account, planned offline
through the same harness and policy pack as every stack. The trust policies are asserted exactly: GitHub's token names
the job's environment in `sub` (repo:<owner>/<repo>:environment:<env>, GitHub Actions "OpenID Connect reference") and
configure-aws-credentials requests `aud` sts.amazonaws.com."""

from __future__ import annotations

import functools
import json
import re

import pytest
import yaml

from bootstrap import permissions
from bootstrap.config import PROJECT, SETTINGS, load
from helpers import REPO, shipped_report
from stacks.spec import ConfigError
from stacks.tools.cli import main
from stacks.tools.plan.bootstrap import config_of, plan_bootstrap
from stacks.tools.plan.locate import shipped_stacks

ACCOUNT = "123456789012"  # the harness's caller identity
PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
BUCKET = f"crucible-state-{ACCOUNT}-us-east-1-an"


@functools.lru_cache(maxsize=None)
def shipped():
    return plan_bootstrap("bootstrap")


def resources(type_token: str, document=None) -> dict[str, dict]:
    return {r["name"]: r for r in (document or shipped()[0])["resources"] if r["type"] == type_token}


def policy_of(name: str) -> dict:
    return json.loads(resources("aws:iam/policy:Policy")[name]["inputs"]["policy"])


def actions(document: dict, effect: str = "Allow") -> list[str]:
    found = []
    for st in document["Statement"]:
        if st["Effect"] == effect:
            found += [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
    return found


def trust(environment: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "GitHubActionsOneEnvironment",
                "Effect": "Allow",
                "Principal": {"Federated": PROVIDER},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                        "token.actions.githubusercontent.com:sub": f"repo:acme/crucible:environment:{environment}",
                    }
                },
            }
        ],
    }


def test_plans_offline_with_zero_policy_violations():
    """Issue 19's done-when: the deploy roles write IAM only for roles bounded by the platform boundary (SEC-IAM-001
    judges them bounded), and the state bucket's access is logged into a bucket of its own (SEC-S3-008)."""
    document, lines = shipped()
    assert document["policies"]["violations"] == []
    assert document["policies"]["evaluated"] == 79
    assert "0 mandatory violations, 0 advisory" in "\n".join(lines)


def test_the_cli_plans_the_bootstrap_and_exits_0(capsys, tmp_path):
    out = tmp_path / "bootstrap.json"
    assert main(["plan", "bootstrap", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["project"] == PROJECT
    assert "crucible-deploy-prod: sub=repo:acme/crucible:environment:prod" in capsys.readouterr().out


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_each_deploy_role_trusts_exactly_its_own_environment(environment):
    role = resources("aws:iam/role:Role")[f"deploy-{environment}"]["inputs"]
    assert json.loads(role["assumeRolePolicy"]) == trust(environment)
    assert role["name"] == f"crucible-deploy-{environment}" and role["path"] == "/crucible-bootstrap/"
    assert role["maxSessionDuration"] == 3 * 3600  # a prod `pulumi up` outlasts the 1 h default


ENVIRONMENTS = ("dev", "staging", "prod")


def key_arns() -> dict[str, str]:
    """alias name -> the ARN of the key it names (the harness's key ARNs: arn:aws:kms:<region>:<account>:key/<id>)."""
    return {a["inputs"]["name"]: f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{a['inputs']['targetKeyId']}" for a in resources("aws:kms/alias:Alias").values()}


def secrets_key(environment: str) -> str:
    return key_arns()[f"alias/crucible-secrets-{environment}"]


def statements_of(name: str) -> dict[str, dict]:
    return {st["Sid"]: st for st in policy_of(name)["Statement"]}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_preview_role_trusts_exactly_its_own_preview_environment(environment):
    """Defect 1 of issue 19's review: one preview role for every environment, trusted from one open GitHub
    environment, let any branch read prod. Each environment now has its own, trusted only from preview-<env>."""
    role = resources("aws:iam/role:Role")[f"preview-{environment}"]["inputs"]
    assert json.loads(role["assumeRolePolicy"]) == trust(f"preview-{environment}")
    assert role["name"] == f"crucible-preview-{environment}" and role["path"] == "/crucible-bootstrap/"
    assert role["maxSessionDuration"] == 3600
    attached = {a["name"] for a in resources("aws:iam/rolePolicyAttachment:RolePolicyAttachment").values()}
    assert {n for n in attached if n.startswith(f"preview-{environment}")} == {f"preview-{environment}-read"}


def test_there_is_no_preview_role_shared_by_the_environments():
    previews = {n: r["inputs"] for n, r in resources("aws:iam/role:Role").items() if n.startswith("preview")}
    assert sorted(previews) == ["preview-dev", "preview-prod", "preview-staging"]
    subjects = [
        json.loads(r["assumeRolePolicy"])["Statement"][0]["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"] for r in previews.values()
    ]
    assert len(set(subjects)) == 3 and not any(s.endswith(":environment:preview") for s in subjects)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_a_preview_role_reads_and_never_changes_anything_but_its_own_stack_lock(environment):
    document = policy_of(f"preview-{environment}-read")
    assert actions(document, "Deny") == []
    read_verbs = ("Describe", "Get", "List")
    for st in document["Statement"]:
        for action in [st["Action"]] if isinstance(st["Action"], str) else st["Action"]:
            verb = action.split(":", 1)[1]
            if st["Sid"] == "TakeOwnStackLock":
                assert action in ("s3:PutObject", "s3:DeleteObject") and st["Resource"] == f"arn:aws:s3:::{BUCKET}/{environment}/.pulumi/locks/*"
            elif action in ("kms:Decrypt", "kms:GenerateDataKey"):
                assert st["Sid"] in ("StateKeyThroughS3", "DecryptOwnSecrets") and ":kms:" in st["Resource"]
                assert action == "kms:Decrypt" or st["Sid"] == "StateKeyThroughS3"  # a data key only for S3's lock-file write
            else:
                assert verb.startswith(read_verbs), action


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_a_preview_role_reads_only_its_own_environments_state(environment):
    statements = statements_of(f"preview-{environment}-read")
    assert statements["ReadOwnState"] == {
        "Sid": "ReadOwnState",
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{BUCKET}/{environment}/*",
    }
    assert statements["ListOwnState"]["Resource"] == f"arn:aws:s3:::{BUCKET}"
    assert statements["ListOwnState"]["Condition"] == {"StringLike": {"s3:prefix": [f"{environment}/*"]}}
    s3_objects = [
        r
        for st in statements.values()
        for r in ([st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"])
        if r.startswith(f"arn:aws:s3:::{BUCKET}/")
    ]
    assert s3_objects and all(r.startswith(f"arn:aws:s3:::{BUCKET}/{environment}/") for r in s3_objects), s3_objects


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_a_preview_role_decrypts_only_its_own_environments_secrets_key(environment):
    """Pulumi's awskms provider wraps each stack's data key with the KMS key and passes no encryption context (stack
    settings `encryptedkey`; Go CDK awskms keeper URL), so the key itself is the boundary: one per environment."""
    statements = statements_of(f"preview-{environment}-read")
    keys = key_arns()
    assert statements["DecryptOwnSecrets"]["Resource"] == secrets_key(environment)
    crypto = ("kms:Decrypt", "kms:Encrypt", "kms:ReEncrypt", "kms:GenerateDataKey", "kms:CreateGrant", "kms:*")
    kms = {
        st["Resource"]
        for st in statements.values()
        if any(str(a).startswith(crypto) for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"]))
    }
    assert kms == {secrets_key(environment), keys["alias/crucible-state"]}  # decrypt and data keys: these two keys only
    others = {secrets_key(e) for e in ENVIRONMENTS if e != environment}
    assert not others & set(json.dumps(policy_of(f"preview-{environment}-read")).split('"'))
    # the state key only as S3 uses it for this bucket (bucket key: the context is the bucket's ARN)
    assert statements["StateKeyThroughS3"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com", "kms:EncryptionContext:aws:s3:arn": f"arn:aws:s3:::{BUCKET}"}
    }


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_a_preview_role_reads_only_public_ssm_parameters(environment):
    statement = statements_of(f"preview-{environment}-read")["PublicParameters"]
    assert statement["Resource"] == "arn:aws:ssm:*::parameter/aws/service/*"
    assert not any(a.startswith("ssm:") for a in statements_of(f"preview-{environment}-read")["DescribeWhatCrucibleCreates"]["Action"])


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_a_deploy_role_decrypts_only_its_own_environments_secrets_and_changes_no_key(environment):
    statements = statements_of(f"deploy-{environment}-delivery")
    assert statements["StateAndSecretsKeys"]["Resource"] == [key_arns()["alias/crucible-state"], secrets_key(environment)]
    assert set(statements["NoChangeToTheStateKeys"]["Resource"]) == set(key_arns().values())  # every key, its own and the others'


def test_the_boundary_denies_every_key_of_the_backend():
    boundary = {st["Sid"]: st for st in policy_of("platform-boundary")["Statement"]}
    denied = {r for st in boundary.values() if st["Effect"] == "Deny" for r in ([st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"])}
    assert set(key_arns().values()) <= denied


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_a_deploy_role_reaches_only_its_own_state_and_never_the_delivery_identities(environment):
    document = policy_of(f"deploy-{environment}-delivery")
    statements = {st["Sid"]: st for st in document["Statement"]}
    assert statements["OwnStatePrefix"]["Resource"] == f"arn:aws:s3:::{BUCKET}/{environment}/*"
    assert statements["ListOwnStatePrefix"]["Condition"] == {"StringLike": {"s3:prefix": [f"{environment}/*"]}}
    protected = statements["NoChangeToTheDeliveryIdentities"]
    assert protected["Effect"] == "Deny" and PROVIDER in protected["Resource"]
    assert f"arn:aws:iam::{ACCOUNT}:role/crucible-bootstrap/*" in protected["Resource"]
    assert {"iam:UpdateAssumeRolePolicy", "iam:AttachRolePolicy", "iam:PutRolePolicy", "iam:PassRole"} <= set(protected["Action"])
    admin = statements["NoAdministratorPolicies"]
    assert admin["Effect"] == "Deny" and "arn:aws:iam::aws:policy/AdministratorAccess" in admin["Condition"]["ArnEquals"]["iam:PolicyARN"]
    backend = statements["NoChangeToTheStateBackend"]
    assert backend["Effect"] == "Deny" and {"s3:PutBucketPolicy", "s3:DeleteBucket", "s3:PutBucketVersioning"} <= set(backend["Action"])
    keys = statements["NoChangeToTheStateKeys"]
    assert keys["Effect"] == "Deny" and {"kms:ScheduleKeyDeletion", "kms:PutKeyPolicy"} <= set(keys["Action"])
    passed = statements["PassPlatformRolesToTheirServices"]["Condition"]["StringEquals"]["iam:PassedToService"]
    assert "eks.amazonaws.com" in passed and "ec2.amazonaws.com" in passed


def test_no_deploy_policy_grants_a_whole_service_or_every_action():
    # the boundary grants nothing (it bounds): its wildcards are held to reads above
    for name in set(resources("aws:iam/policy:Policy")) - {"platform-boundary"}:
        for action in actions(policy_of(name)):
            assert action != "*" and not action.endswith(":*"), (name, action)


def test_the_state_bucket_is_versioned_kms_encrypted_tls_only_private_and_protected():
    bucket = resources("aws:s3/bucket:Bucket")["state"]
    assert bucket["inputs"]["bucket"] == BUCKET and bucket["inputs"]["bucketNamespace"] == "account-regional"
    assert bucket["protect"] and bucket["retain_on_delete"] and bucket["inputs"]["forceDestroy"] is False
    versioning = resources("aws:s3/bucketVersioning:BucketVersioning")["state"]["inputs"]
    assert versioning["versioningConfiguration"]["status"] == "Enabled"
    sse = resources("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")["state"]["inputs"]
    rule = sse["rules"][0]["applyServerSideEncryptionByDefault"]
    state_key = resources("aws:kms/key:Key")["pulumi-state-state"]
    assert rule["sseAlgorithm"] == "aws:kms" and rule["kmsMasterKeyId"].startswith(f"arn:aws:kms:us-east-1:{ACCOUNT}:key/")
    assert state_key["protect"]
    block = resources("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")["state"]["inputs"]
    assert all(block[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    tls = json.loads(resources("aws:s3/bucketPolicy:BucketPolicy")["state"]["inputs"]["policy"])["Statement"][0]
    assert tls["Effect"] == "Deny" and tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_environments_secrets_key_rotates_is_protected_and_named_in_the_outputs(environment):
    key = resources("aws:kms/key:Key")[f"pulumi-state-secrets-{environment}"]
    assert key["inputs"]["enableKeyRotation"] is True and key["inputs"]["deletionWindowInDays"] == 30
    assert key["protect"] and key["retain_on_delete"]
    assert f"alias/crucible-secrets-{environment}" in key_arns()
    outputs = shipped()[0]["outputs"]
    assert outputs["secretsProviders"][environment] == f"awskms://alias/crucible-secrets-{environment}?region=us-east-1"
    assert outputs["backendUrls"][environment] == f"s3://{BUCKET}/{environment}?region=us-east-1"
    variables = outputs["githubVariables"]
    assert variables[environment] == {"AWS_ROLE_ARN": outputs["deployRoleArns"][environment]}
    assert variables[f"preview-{environment}"] == {"AWS_ROLE_ARN": outputs["previewRoleArns"][environment]}
    assert outputs["previewRoleArns"][environment] == f"arn:aws:iam::{ACCOUNT}:role/crucible-bootstrap/crucible-preview-{environment}"
    assert outputs["deployRoleArns"][environment] == f"arn:aws:iam::{ACCOUNT}:role/crucible-bootstrap/crucible-deploy-{environment}"


def test_the_github_variables_name_every_environment_and_no_shared_preview():
    variables = shipped()[0]["outputs"]["githubVariables"]
    assert set(variables) == {"repository", "dev", "staging", "prod", "preview-dev", "preview-staging", "preview-prod"}
    assert variables["repository"]["PULUMI_STATE_BUCKET"] == BUCKET


def test_the_github_oidc_provider_is_created_once_and_protected():
    provider = resources("aws:iam/openIdConnectProvider:OpenIdConnectProvider")["github-oidc"]
    assert provider["inputs"]["url"] == "https://token.actions.githubusercontent.com"
    assert provider["inputs"]["clientIdLists"] == ["sts.amazonaws.com"]
    assert provider["protect"]


def _config(**overrides) -> dict[str, str]:
    config = config_of(REPO / "bootstrap" / "Pulumi.bootstrap.yaml")
    for key, value in overrides.items():
        full = key if ":" in key else f"{PROJECT}:{key}"
        if value is None:
            config.pop(full, None)
        else:
            config[full] = value if isinstance(value, str) else json.dumps(value)
    return config


def _parsed(value: str):
    try:
        return json.loads(value)
    except ValueError:
        return value


def test_an_existing_oidc_provider_is_trusted_and_none_is_created(tmp_path):
    existing = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    path = tmp_path / "Pulumi.other.yaml"
    config = _config(existingOidcProviderArn=existing, environments=["prod"])
    path.write_text(yaml.safe_dump({"config": {k: _parsed(v) for k, v in config.items()}}))
    document, _ = plan_bootstrap(str(path))
    assert resources("aws:iam/openIdConnectProvider:OpenIdConnectProvider", document) == {}
    roles = resources("aws:iam/role:Role", document)
    assert set(roles) == {"deploy-prod", "preview-prod"}
    assert json.loads(roles["deploy-prod"]["inputs"]["assumeRolePolicy"])["Statement"][0]["Principal"] == {"Federated": existing}


def test_bad_config_is_refused_with_every_problem_before_any_resource():
    config = _config(
        repository="acme/*",
        environments=["dev", "qa", "dev"],
        previewEnvironment="preview",
        stateBucketPrefix="State_",
        sessionHours=24,
        existingOidcProviderArn="arn:aws:iam::1:oidc-provider/example.com",
        surprise="x",
    )
    with pytest.raises(ConfigError) as caught:
        load(config)
    text = caught.value.render()
    for words in (
        "crucible-bootstrap:repository: got 'acme/*'",
        "crucible-bootstrap:environments[1]: got 'qa'; allowed: dev, staging, prod",
        "crucible-bootstrap:environments[2]: got 'dev' twice",
        "crucible-bootstrap:previewEnvironment: removed: one GitHub environment served every environment's previews",
        "crucible-bootstrap:stateBucketPrefix: got 'State_'",
        "crucible-bootstrap:sessionHours: got 24; must be an integer from 1 to 12",
        "crucible-bootstrap:existingOidcProviderArn: got",
        "crucible-bootstrap:surprise: unknown setting",
    ):
        assert words in text, words
    assert len(caught.value.problems) == 8


def test_the_repository_is_required():
    with pytest.raises(ConfigError, match="crucible-bootstrap:repository: required"):
        load(_config(repository=None))


@pytest.mark.parametrize("stack", shipped_stacks())
def test_every_aws_resource_a_shipped_stack_creates_has_deploy_permissions(stack):
    """The whole class: a resource type the program registers whose service the deploy role cannot call fails its
    first real `pulumi up` halfway; this fails here first."""
    granted = {a.split(":", 1)[0] for actions_ in permissions.DEPLOY_ACTIONS.values() for a in actions_} | {"iam"}
    document, _ = shipped_report(stack)
    for resource in document["resources"]:
        if not resource["type"].startswith("aws:"):
            continue
        services = permissions.services_of(resource["type"])
        assert services, f"{stack}: {resource['type']} has no IAM service in bootstrap.permissions.SERVICES"
        assert set(services) <= granted, f"{stack}: {resource['type']} needs {services}; the deploy role grants {sorted(granted)}"
        assert set(services) <= set(permissions.READ_ACTIONS), f"{stack}: the preview role cannot read {resource['type']}"


def test_the_readme_real_path_begins_with_the_bootstrap_and_ends_with_the_reviewed_prod_deploy():
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Deploying for real") : readme.index("### Teardown")]
    ups = [line for line in section.splitlines() if re.match(r"^pulumi up\b", line)]
    assert ups[0].startswith("pulumi up --policy-pack ../policies --policy-pack-config ../policies/config/bootstrap.json")
    assert section.index("cd bootstrap") < section.index(ups[0])
    steps = re.findall(r"^\*\*(\d+)\. ([^*]+)\*\*", section, re.M)
    assert [int(n) for n, _ in steps] == list(range(1, len(steps) + 1))
    assert steps[1][1].startswith("The bootstrap") and steps[-1][1] == "The reviewed production deploy."
    last = section[section.index("**10. The reviewed production deploy.**") :]
    for words in ("reviewers", "self-review is prevented", "pulumi up --plan", "crucible-deploy-prod", "core first"):
        assert words in last, words


def test_every_local_pulumi_preview_and_up_in_the_readme_names_the_environment_policy_config():
    readme = (REPO / "README.md").read_text()
    for line in readme.splitlines():
        if re.match(r"^pulumi (preview|up)\b", line):
            assert re.search(r"--policy-pack (\.\./)?policies --policy-pack-config (\.\./)?policies/config/(dev|staging|prod|bootstrap)\.json", line), line


@pytest.mark.parametrize(
    "policy, condition",
    [
        ("sec-cicd-001-github-oidc-audience", {"StringEquals": {"token.actions.githubusercontent.com:sub": "repo:acme/crucible:environment:prod"}}),
        (
            "sec-cicd-002-github-oidc-repository",
            {
                "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
                "StringLike": {"token.actions.githubusercontent.com:sub": "repo:acme/*"},
            },
        ),
        (
            "sec-cicd-003-github-oidc-environment",
            {
                "StringEquals": {
                    "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                    "token.actions.githubusercontent.com:sub": "repo:acme/crucible:pull_request",
                }
            },
        ),
    ],
)
def test_crucible_check_catches_an_edited_bootstrap_trust_by_policy_name(policy, condition, tmp_path, capsys):
    document = json.loads(json.dumps(shipped()[0]))
    role = next(r for r in document["resources"] if r["type"] == "aws:iam/role:Role" and r["name"] == "deploy-prod")
    trust = json.loads(role["inputs"]["assumeRolePolicy"])
    trust["Statement"][0]["Condition"] = condition
    role["inputs"]["assumeRolePolicy"] = json.dumps(trust)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(document))
    assert main(["check", str(path)]) == 1
    assert f"mandatory {policy} [deploy-prod]" in capsys.readouterr().out


def test_the_bootstrap_is_a_pulumi_project_of_its_own_beside_the_main_one():
    project = yaml.safe_load((REPO / "bootstrap" / "Pulumi.yaml").read_text())
    assert project["name"] == PROJECT != yaml.safe_load((REPO / "Pulumi.yaml").read_text())["name"]
    assert project["main"] == "." and (REPO / "bootstrap" / "__main__.py").is_file()
    assert project["runtime"]["options"]["virtualenv"] == "../.venv"  # the repository's one virtualenv
    assert "from bootstrap.program import main" in (REPO / "bootstrap" / "__main__.py").read_text()
    stack = yaml.safe_load((REPO / "bootstrap" / "Pulumi.bootstrap.yaml").read_text())["config"]
    assert {k for k in stack if k.startswith(f"{PROJECT}:")} <= {f"{PROJECT}:{k}" for k in SETTINGS}


BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/crucible-boundary/crucible-platform-boundary"
LOGS = f"crucible-state-logs-{ACCOUNT}-us-east-1-an"


def test_the_boundary_is_a_managed_policy_of_its_own_path_and_its_arn_is_an_output():
    policy = resources("aws:iam/policy:Policy")["platform-boundary"]["inputs"]
    assert (policy["path"], policy["name"]) == ("/crucible-boundary/", "crucible-platform-boundary")
    assert shipped()[0]["outputs"]["permissionsBoundaryArn"] == BOUNDARY
    attached = {a["inputs"]["policyArn"] for a in resources("aws:iam/rolePolicyAttachment:RolePolicyAttachment").values()}
    assert not any("crucible-boundary" in arn for arn in attached)  # a boundary, not a permissions policy of anyone


def test_the_boundary_is_within_iams_size_limit_for_a_managed_policy():
    """IAM User Guide, "IAM and AWS STS quotas": a managed policy holds at most 6,144 characters, whitespace not
    counted; CreatePolicy refuses a larger one (LimitExceeded), and every deploy policy and stack depends on it."""
    text = resources("aws:iam/policy:Policy")["platform-boundary"]["inputs"]["policy"]
    assert len(re.sub(r"\s", "", text)) <= 6144


def _iam_definition() -> dict[str, dict[str, str]]:
    """service prefix -> {action: access level}, from parliament's copy of the Service Authorization Reference."""
    parliament = pytest.importorskip("parliament", reason="parliament (the test extra) holds the IAM action list")
    return {s["prefix"]: {p["privilege"]: p["access_level"] for p in s["privileges"]} for s in parliament.iam_definition}


def test_the_boundarys_wildcards_cover_every_needed_action_and_add_only_reads_or_load_balancer_trust_stores():
    """The boundary is written with wildcards to fit IAM's size limit (bootstrap/boundary.py WILDCARDS): every action
    Crucible's roles use is still allowed, and what a wildcard adds beyond them is of access level List or Read,
    or a trust-store call of Elastic Load Balancing (the controller owns the load balancers): never permissions
    management, never a write of another service."""
    from fnmatch import fnmatchcase

    from bootstrap.boundary import WILDCARDS, allowed_actions, needed_actions

    allowed = [a.lower() for a in allowed_actions()]
    assert [a for a in needed_actions() if not any(fnmatchcase(a.lower(), p) for p in allowed)] == []
    definition, needed = _iam_definition(), {a.lower() for a in needed_actions()}
    added: dict[str, str] = {}
    for wildcard in WILDCARDS:
        service, _, pattern = wildcard.partition(":")
        assert service in definition, wildcard
        matched = {f"{service}:{a}": level for a, level in definition[service].items() if fnmatchcase(a.lower(), pattern.lower())}
        assert matched, f"{wildcard} matches no action"
        added |= {a: level for a, level in matched.items() if a.lower() not in needed and not any(fnmatchcase(a.lower(), n) for n in needed)}
    writes = {a: level for a, level in added.items() if level not in ("List", "Read")}
    assert writes and all(a.startswith("elasticloadbalancing:") and "TrustStore" in a and level == "Write" for a, level in writes.items()), writes


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_a_deploy_role_writes_roles_only_with_the_boundary_and_can_neither_strip_nor_change_it(environment):
    """IAM User Guide, "Permissions boundaries for IAM entities" (delegating responsibility): CreateRole and the role
    policy writes only with iam:PermissionsBoundary = the boundary; DeleteRolePermissionsBoundary denied; the boundary
    policy's versions and deletion denied."""
    statements = {st["Sid"]: st for st in policy_of(f"deploy-{environment}-delivery")["Statement"]}
    bounded = statements["BoundedPlatformRoles"]
    assert set(bounded["Action"]) == {
        "iam:CreateRole",
        "iam:PutRolePermissionsBoundary",
        "iam:AttachRolePolicy",
        "iam:DetachRolePolicy",
        "iam:PutRolePolicy",
        "iam:DeleteRolePolicy",
    }
    assert bounded["Condition"] == {"StringEquals": {"iam:PermissionsBoundary": BOUNDARY}}
    assert statements["NoRemovingABoundary"] == {
        "Sid": "NoRemovingABoundary",
        "Effect": "Deny",
        "Action": "iam:DeleteRolePermissionsBoundary",
        "Resource": "*",
    }
    change = statements["NoChangeToTheBoundary"]
    assert change["Effect"] == "Deny" and change["Resource"] == BOUNDARY
    assert {"iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion", "iam:SetDefaultPolicyVersion"} <= set(change["Action"])
    granted = set(actions(policy_of(f"deploy-{environment}-delivery"))) | set(actions(policy_of(f"deploy-{environment}-platform")))
    # no trust rewrite (IAM has no condition limiting it to bounded roles), and none of what the program never creates
    for action in ("iam:UpdateAssumeRolePolicy", "iam:CreatePolicy", "iam:CreatePolicyVersion", "iam:CreateInstanceProfile", "iam:CreateOpenIDConnectProvider"):
        assert action not in granted, action


def test_the_state_bucket_logs_its_access_into_a_log_bucket_of_its_own():
    logging = resources("aws:s3/bucketLogging:BucketLogging")["pulumi-state-access-logs"]
    by_urn = {r["urn"]: r for r in shipped()[0]["resources"]}
    assert by_urn[logging["property_dependencies"]["bucket"][0]]["name"] == "state"
    assert by_urn[logging["property_dependencies"]["targetBucket"][0]]["name"] == "pulumi-state-access-logs"
    assert logging["inputs"]["targetPrefix"] == "state/"


def test_the_log_bucket_is_sse_s3_versioned_private_owner_enforced_tls_only_and_expires_its_logs():
    """S3 server access logging delivers only to a target with SSE-S3 default encryption (S3 User Guide, "Enabling
    Amazon S3 server access logging"): the one bucket the pack's SEC-S3-002 is told to exempt."""
    name = "pulumi-state-access-logs"
    bucket = resources("aws:s3/bucket:Bucket")[name]
    assert bucket["inputs"]["bucket"] == LOGS and bucket["inputs"]["bucketNamespace"] == "account-regional" and bucket["protect"]
    sse = resources("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")[name]["inputs"]
    assert sse["rules"] == [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]
    assert resources("aws:s3/bucketVersioning:BucketVersioning")[name]["inputs"]["versioningConfiguration"]["status"] == "Enabled"
    block = resources("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")[name]["inputs"]
    assert all(block[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    ownership = resources("aws:s3/bucketOwnershipControls:BucketOwnershipControls")[name]["inputs"]
    assert ownership["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    rule = resources("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")[name]["inputs"]["rules"][0]
    assert rule["status"] == "Enabled" and rule["expiration"] == {"days": 365}
    tls, delivery = json.loads(resources("aws:s3/bucketPolicy:BucketPolicy")[name]["inputs"]["policy"])["Statement"]
    assert tls["Effect"] == "Deny" and tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert delivery == {
        "Sid": "S3ServerAccessLogsOfTheStateBucket",
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{LOGS}/state/*",
        "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{BUCKET}"}, "StringEquals": {"aws:SourceAccount": ACCOUNT}},
    }


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_no_deploy_role_can_change_or_delete_the_log_bucket_or_its_logs(environment):
    statements = {st["Sid"]: st for st in policy_of(f"deploy-{environment}-delivery")["Statement"]}
    backend = statements["NoChangeToTheStateBackend"]
    assert {f"arn:aws:s3:::{LOGS}", f"arn:aws:s3:::{LOGS}/*"} <= set(backend["Resource"])
    assert {"s3:DeleteBucket", "s3:PutBucketPolicy", "s3:PutLifecycleConfiguration", "s3:PutBucketLogging"} <= set(backend["Action"])
    logs = statements["NoChangeToTheStateAccessLogs"]
    assert logs["Effect"] == "Deny" and logs["Resource"] == [f"arn:aws:s3:::{LOGS}/*"] and "s3:DeleteObject" in logs["Action"]


def test_the_bootstraps_policy_config_is_prods_with_three_exemptions_each_for_its_reason():
    from policies.offline import CONFIG_DIR

    prod = json.loads((CONFIG_DIR / "prod.json").read_text())
    bootstrap = json.loads((CONFIG_DIR / "bootstrap.json").read_text())
    differing = {k for k in {*prod, *bootstrap} if prod.get(k) != bootstrap.get(k)}
    assert differing == {"sec-s3-002-kms-encryption", "sec-iam-001-no-admin-wildcards", "sec-iam-004-permissions-boundary"}
    # the log bucket: S3 delivers server access logs to SSE-S3 targets only
    assert bootstrap["sec-s3-002-kms-encryption"] == {**prod["sec-s3-002-kms-encryption"], "exemptBuckets": ["pulumi-state-access-logs"]}
    # the boundary bounds, it grants nothing
    assert bootstrap["sec-iam-001-no-admin-wildcards"] == {"boundaryPolicies": ["/crucible-boundary/*"]}
    # the delivery identities bound the platform's roles; an administrator creates them
    assert bootstrap["sec-iam-004-permissions-boundary"] == {**prod["sec-iam-004-permissions-boundary"], "exemptRoles": ["/crucible-bootstrap/*"]}
    readme = (REPO / "README.md").read_text()
    assert "policies/config/bootstrap.json" in readme and "SSE-S3" in readme


def _edited_deploy_policy(tmp_path, edit) -> str:
    document = json.loads(json.dumps(shipped()[0]))
    policy = next(r for r in document["resources"] if r["type"] == "aws:iam/policy:Policy" and r["name"] == "deploy-prod-delivery")
    inner = json.loads(policy["inputs"]["policy"])
    edit(inner["Statement"])
    policy["inputs"]["policy"] = json.dumps(inner)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(document))
    return str(path)


def _any_boundary(statements):
    next(st for st in statements if st["Sid"] == "BoundedPlatformRoles")["Condition"] = {"StringLike": {"iam:PermissionsBoundary": "*"}}


def _boundary_removable(statements):
    statements[:] = [st for st in statements if st["Sid"] != "NoRemovingABoundary"]


def _boundary_changeable(statements):
    statements[:] = [st for st in statements if st["Sid"] != "NoChangeToTheBoundary"]


@pytest.mark.parametrize("edit", [_any_boundary, _boundary_removable, _boundary_changeable])
def test_crucible_check_refuses_a_deploy_role_whose_boundary_bounds_nothing(edit, tmp_path, capsys):
    assert main(["check", _edited_deploy_policy(tmp_path, edit)]) == 1
    assert "mandatory sec-iam-001-no-admin-wildcards [deploy-prod]" in capsys.readouterr().out


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_a_preview_role_reaches_neither_the_log_bucket_nor_the_boundary(environment):
    text = json.dumps(policy_of(f"preview-{environment}-read"))
    assert LOGS not in text and "crucible-boundary" not in text


# ---- the shipped stacks name what the bootstrap creates (issue 19 review, defect 2) ------------------------------

SHIPPED_ACCOUNT = "111122223333"  # the example account of every shipped stack config


@functools.lru_cache(maxsize=None)
def bootstrap_outputs_in_the_example_account() -> dict:
    """The shipped bootstrap planned with the shipped stacks' account as its caller identity: the ARNs it exports there."""
    from bootstrap.program import main as bootstrap_main
    from stacks.tools.harness import run_program

    run = run_program(bootstrap_main, stack="bootstrap", project=PROJECT, config=_config(), region="us-east-1", account_id=SHIPPED_ACCOUNT)
    return run.outputs


@pytest.mark.parametrize("stack", shipped_stacks())
def test_every_shipped_stack_names_the_roles_and_boundary_the_bootstrap_creates_for_its_environment(stack):
    """The shipped configs named role/crucible-deploy and role/crucible-preview, which no bootstrap creates: CI's
    deploy role (role/crucible-bootstrap/crucible-deploy-<env>) got no access entry and stopped at the first
    Kubernetes object. Each stack names exactly the ARNs the bootstrap exports for the stack's environment (EKS access
    entries take a role ARN with its path: EKS User Guide, "Create access entries")."""
    from stacks.spec.loader import load_stack_file
    from stacks.tools.plan.locate import config_path

    spec, _, _ = load_stack_file(config_path(stack))
    outputs = bootstrap_outputs_in_the_example_account()
    access = spec.cluster.api_access
    assert spec.permissions_boundary == outputs["permissionsBoundaryArn"]
    if spec.environment != "dev" and spec.stack_reference is None:  # it builds its cluster: CI deploys and previews it
        assert access.deploy_role_arn is not None and access.preview_role_arn is not None, stack
    if access.deploy_role_arn is not None:
        assert access.deploy_role_arn == outputs["deployRoleArns"][spec.environment]
    if access.preview_role_arn is not None:
        assert access.preview_role_arn == outputs["previewRoleArns"][spec.environment]


@pytest.mark.parametrize("subject", ["repo:acme/crucible:environment:preview-prod", "repo:acme/crucible:environment:dev"])
def test_crucible_check_refuses_a_preview_role_trusted_from_another_environment_than_its_own(subject, tmp_path, capsys):
    """SEC-CICD-004 on the bootstrap's own plan: crucible-preview-dev (tag crucible:github-environment preview-dev)
    trusted from preview-prod, or from dev's deploy environment."""
    document = json.loads(json.dumps(shipped()[0]))
    role = next(r for r in document["resources"] if r["type"] == "aws:iam/role:Role" and r["name"] == "preview-dev")
    assert role["inputs"]["tags"]["crucible:github-environment"] == "preview-dev"
    trust = json.loads(role["inputs"]["assumeRolePolicy"])
    trust["Statement"][0]["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"] = subject
    role["inputs"]["assumeRolePolicy"] = json.dumps(trust)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(document))
    assert main(["check", str(path)]) == 1
    assert "mandatory sec-cicd-004-github-oidc-one-environment [preview-dev]" in capsys.readouterr().out


def test_every_delivery_role_is_tagged_with_the_one_environment_it_trusts():
    from bootstrap.program import ENVIRONMENT_TAG
    from policies.rules import delivery

    assert ENVIRONMENT_TAG == delivery.ENVIRONMENT_TAG  # the bootstrap does not import the policy pack
    for name, role in resources("aws:iam/role:Role").items():
        subject = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"][0]["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"]
        assert subject == f"repo:acme/crucible:environment:{role['inputs']['tags'][ENVIRONMENT_TAG]}", name
