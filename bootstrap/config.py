"""The bootstrap's settings, validated in one pass: every problem is reported together, naming the key, the bad value
and what is allowed, before any resource is registered."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from components.partitions import known_region
from stacks.spec.schema import ENVIRONMENTS, ConfigError, Problem

PROJECT = "crucible-bootstrap"
GITHUB_ISSUER = "token.actions.githubusercontent.com"
# GitHub: owner names are letters, digits and single hyphens; repository names letters, digits, '.', '-', '_'.
_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
_REPO = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_PREFIX = re.compile(r"^[a-z0-9][a-z0-9-]{1,19}[a-z0-9]$")
_PROVIDER_ARN = re.compile(rf"^arn:aws(-cn|-us-gov)?:iam::\d{{12}}:oidc-provider/{re.escape(GITHUB_ISSUER)}$")

# Settings that were and are no more: the reason, said instead of "unknown setting".
REMOVED: dict[str, str] = {
    "previewEnvironment": "removed: one GitHub environment served every environment's previews, so a branch read prod's state and "
    "secrets; each environment's previews now run in GitHub environment preview-<env> with role crucible-preview-<env> (README step 3)",
}
PREVIEW_PREFIX = "preview-"  # GitHub environment preview-<env>: the previews and saved plans of <env>

# key (without the project prefix) -> (default, meaning); `repository` has no default.
SETTINGS: dict[str, tuple[Any, str]] = {
    "repository": (None, "owner/name of the GitHub repository whose workflows assume the roles, exactly as GitHub spells it"),
    "environments": (
        list(ENVIRONMENTS),
        "environments (dev, staging, prod) that get a deploy role each (GitHub environment <env>) and a read-only preview role, "
        "state prefix and secrets key each (GitHub environment preview-<env>)",
    ),
    "existingOidcProviderArn": (None, "the account's GitHub OIDC provider when it exists already (an account holds one per URL)"),
    "stateBucketPrefix": ("crucible-state", "state bucket name: <prefix>-<account id>-<region>-an (S3 account regional namespace)"),
    "noncurrentVersionDays": (365, "days S3 keeps a superseded state file version"),
    "accessLogDays": (365, "days S3 keeps the state bucket's server access logs (bucket <prefix>-logs-<account id>-<region>-an)"),
    "keyDeletionWindowDays": (30, "KMS deletion window of the state and secrets keys (7-30)"),
    "sessionHours": (3, "maximum session of the deploy roles, hours (1-12): a prod `pulumi up` outlasts the 1 h default"),
    "protect": (True, "protect (and retain) the bucket and keys: deleting the secrets key makes every stack's secrets unreadable"),
}


@dataclass(frozen=True)
class BootstrapSpec:
    region: str
    owner: str
    repository: str  # owner/name
    environments: tuple[str, ...]
    existing_oidc_provider_arn: Optional[str]
    state_bucket_prefix: str
    noncurrent_version_days: int
    access_log_days: int
    key_deletion_window_days: int
    session_hours: int
    protect: bool

    def state_bucket(self, account: str) -> str:
        """<prefix>-<account id>-<region>-an: a name of this account's regional namespace (S3 account regional namespace)."""
        return f"{self.state_bucket_prefix}-{account}-{self.region}-an"

    def log_bucket(self, account: str) -> str:
        """The state bucket's server access log bucket, in the same namespace."""
        return f"{self.state_bucket_prefix}-logs-{account}-{self.region}-an"

    @staticmethod
    def preview_environment(environment: str) -> str:
        """The GitHub environment of ``environment``'s previews and saved plans: preview-<env>, gated apart from <env>
        (preview-prod has required reviewers, so a branch's prod preview waits for a maintainer)."""
        return f"{PREVIEW_PREFIX}{environment}"

    def subject(self, environment: str) -> str:
        """The `sub` claim of this repository's jobs in ``environment`` (GitHub OIDC reference, example subjects)."""
        return f"repo:{self.repository}:environment:{environment}"


def _value(raw: Optional[str]) -> Any:
    """Engine config values are strings; structured ones are JSON (as the engine passes them)."""
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def load(config: Mapping[str, str], source: str = "bootstrap config") -> BootstrapSpec:
    problems: list[Problem] = []

    def problem(key: str, message: str) -> None:
        problems.append(Problem(key, message))

    known = {f"{PROJECT}:{k}" for k in SETTINGS}
    for key in sorted(config):
        if key.startswith(f"{PROJECT}:") and key.split(":", 1)[1] in REMOVED:
            problem(key, REMOVED[key.split(":", 1)[1]])
        elif key.startswith(f"{PROJECT}:") and key not in known:
            problem(key, f"unknown setting; allowed: {', '.join(sorted(SETTINGS))}")

    def get(key: str) -> Any:
        raw = config.get(f"{PROJECT}:{key}")
        return SETTINGS[key][0] if raw is None else _value(raw)

    region = config.get("aws:region") or ""
    if not known_region(region):
        problem("aws:region", f"got {region!r}; must be a region of the partition table (components/partitions.py)")

    repository = get("repository")
    owner = ""
    key = f"{PROJECT}:repository"
    if not isinstance(repository, str) or not repository:
        problem(key, "required: owner/name of the GitHub repository (e.g. acme/crucible)")
        repository = ""
    elif (
        repository.count("/") != 1
        or not _OWNER.match(repository.split("/")[0])
        or not _REPO.match(repository.split("/")[1])
        or repository.split("/")[1] in (".", "..")
    ):
        problem(key, f"got {repository!r}; must be exactly one repository, owner/name (letters, digits, '-', '.', '_'; no wildcard)")
    else:
        owner = repository.split("/")[0]

    environments = get("environments")
    key = f"{PROJECT}:environments"
    if not isinstance(environments, list) or not environments or not all(isinstance(e, str) for e in environments):
        problem(key, f"got {environments!r}; must be a non-empty list of {', '.join(ENVIRONMENTS)}")
        environments = []
    else:
        for i, env in enumerate(environments):
            if env not in ENVIRONMENTS:
                problem(f"{key}[{i}]", f"got {env!r}; allowed: {', '.join(ENVIRONMENTS)} (each has a policy pack config)")
            elif environments.index(env) != i:
                problem(f"{key}[{i}]", f"got {env!r} twice; one deploy role per environment")

    provider = get("existingOidcProviderArn")
    key = f"{PROJECT}:existingOidcProviderArn"
    if provider is not None and (not isinstance(provider, str) or not _PROVIDER_ARN.match(provider)):
        problem(key, f"got {provider!r}; must be arn:<partition>:iam::<account id>:oidc-provider/{GITHUB_ISSUER}")

    prefix = get("stateBucketPrefix")
    key = f"{PROJECT}:stateBucketPrefix"
    if not isinstance(prefix, str) or not _PREFIX.match(prefix):
        problem(key, f"got {prefix!r}; must be 3-21 lowercase letters, digits or '-' (the name adds -<account>-<region>-an)")

    def integer(name: str, low: int, high: int) -> int:
        value = get(name)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            problem(f"{PROJECT}:{name}", f"got {value!r}; must be an integer from {low} to {high}")
            return low
        return value

    noncurrent = integer("noncurrentVersionDays", 1, 3650)
    access_logs = integer("accessLogDays", 1, 3650)
    window = integer("keyDeletionWindowDays", 7, 30)
    hours = integer("sessionHours", 1, 12)
    protect = get("protect")
    if not isinstance(protect, bool):
        problem(f"{PROJECT}:protect", f"got {protect!r}; must be true or false")

    if problems:
        raise ConfigError(problems, source)
    return BootstrapSpec(
        region=region,
        owner=owner,
        repository=repository,
        environments=tuple(environments),
        existing_oidc_provider_arn=provider,
        state_bucket_prefix=prefix,
        noncurrent_version_days=noncurrent,
        access_log_days=access_logs,
        key_deletion_window_days=window,
        session_hours=hours,
        protect=protect,
    )
