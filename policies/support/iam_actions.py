"""What IAM statements grant, judged with parliament's copy of the IAM service authorization reference.

Why parliament (PyPI, duo-labs/parliament): it ships the AWS service authorization reference (every service
prefix, action and resource ARN format) as data, expands action wildcards against it (``s3:Get*`` -> the 59 real
actions) and matches ARNs to resource formats; the suite already uses it (tests/test_lbc_policy.py). policyuniverse
carries an older action list and no resource formats; cloudsplaining is a report generator built on top of both
and pulls in a templating stack the pack does not need.

Judging by expansion rather than spelling: ``s3:*``, ``S3:*``, ``s3:*Object*`` + ``s3:*Bucket*`` + ..., ``i?m:*``
and the full list of every S3 action are the same grant when they expand to every action of the service.
"""

from __future__ import annotations

import importlib.util
import json
import re
from fnmatch import fnmatchcase
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

WILDCARD = re.compile(r"[*?]")


@lru_cache(maxsize=None)
def iam_definition() -> list[dict[str, Any]]:
    """parliament's ``iam_definition.json`` (what ``parliament.iam_definition`` loads), read from the installed package
    without importing it: importing parliament imports pkg_resources and its own linting machinery, a third of a
    policy evaluation's start, for a data file."""
    spec = importlib.util.find_spec("parliament")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("parliament is not installed (a dependency of the policy pack: pip install -e .)")
    return json.loads((Path(next(iter(spec.submodule_search_locations))) / "iam_definition.json").read_text())


@lru_cache(maxsize=None)
def _services() -> dict[str, frozenset[str]]:
    """service prefix -> its actions ("svc:action", lower case)."""
    out: dict[str, set[str]] = {}
    for service in iam_definition():
        out.setdefault(service["prefix"], set()).update(f"{service['prefix']}:{p['privilege']}".lower() for p in service["privileges"])
    return {k: frozenset(v) for k, v in out.items() if v}


@lru_cache(maxsize=None)
def every_action() -> frozenset[str]:
    return frozenset(a for actions in _services().values() for a in actions)


@lru_cache(maxsize=4096)
def expand(pattern: str) -> frozenset[str]:
    """The actions an Action entry grants (lower case). An exact name parliament does not know (a newer action)
    stands for itself; a wildcard in the service prefix ("i?m:*", "*:*", "*") is matched against every action."""
    p = str(pattern).strip().lower()
    if p in ("*", "*:*"):
        return every_action()
    prefix = p.split(":", 1)[0] if ":" in p else p
    if ":" not in p or WILDCARD.search(prefix):
        return frozenset(a for a in every_action() if fnmatchcase(a, p))
    actions = _services().get(prefix)
    if actions is None:
        return frozenset() if WILDCARD.search(p) else frozenset({p})
    matched = frozenset(a for a in actions if fnmatchcase(a, p))
    return matched or (frozenset() if WILDCARD.search(p) else frozenset({p}))


def expand_all(patterns: Iterable[str]) -> frozenset[str]:
    out: set[str] = set()
    for p in patterns:
        out |= expand(p)
    return frozenset(out)


def whole_services(actions: frozenset[str]) -> list[str]:
    """Service prefixes every action of which is in ``actions``."""
    return sorted(prefix for prefix, all_of in _services().items() if all_of <= actions)


def is_everything(actions: frozenset[str]) -> bool:
    return every_action() <= actions


def not_action_grant(not_actions: Iterable[str]) -> frozenset[str]:
    """What ``Allow`` + ``NotAction`` grants: every action but those."""
    return every_action() - expand_all(not_actions)


@lru_cache(maxsize=None)
def _type_prefixes(service: str) -> tuple[str, ...]:
    """Literal resource-type prefixes of a service's ARN formats ("role/", "policy/", "instance/" ...)."""
    prefixes = set()
    for svc in iam_definition():
        if svc["prefix"] != service:
            continue
        for resource in svc["resources"]:
            tail = resource["arn"].split(":", 5)[-1] if resource["arn"].count(":") >= 5 else ""
            literal = tail.split("${", 1)[0]
            if literal and literal[-1] in "/:":
                prefixes.add(literal)
    return tuple(sorted(prefixes, key=len, reverse=True))


def unscoped(resource: str, service: str) -> bool:
    """Whether a Resource entry reaches every resource of ``service`` (or of one of its resource types): ``*``,
    ``arn:*``, ``arn:aws:s3:::*``, ``arn:aws:iam::123456789012:role/*``. The partition, region and account segments
    scope nothing here (a stack lives in one account), so only the resource part counts."""
    text = str(resource).strip()
    if not WILDCARD.sub("", text).strip(":/"):
        return True
    parts = text.split(":", 5)
    if parts[0].lower() != "arn":
        return False
    if len(parts) < 6:
        return bool(WILDCARD.search(parts[-1])) and parts[-1].endswith("*")  # "arn:*", "arn:aws:*"
    arn_service = parts[2].lower()
    if arn_service != service and not (WILDCARD.search(arn_service) and fnmatchcase(service, arn_service)):
        return False
    rest = parts[5]
    for prefix in _type_prefixes(service):
        if rest.lower().startswith(prefix.lower()):
            rest = rest[len(prefix) :]
            break
    return not WILDCARD.sub("", rest).strip(":/")


# Privilege escalation without any "*": each set of actions lets a principal give itself (or a role it can use)
# more than it holds. From Rhino Security Labs' "AWS IAM Privilege Escalation - Methods and Mitigation" (the
# 21 methods) and Bishop Fox's "5 privesc attack vectors in AWS"; parliament's community auditor flags the same.
ESCALATIONS: dict[str, tuple[str, ...]] = {
    "create a new default version of a managed policy": ("iam:createpolicyversion",),
    "switch a managed policy to another of its versions": ("iam:setdefaultpolicyversion",),
    "attach any managed policy to a user": ("iam:attachuserpolicy",),
    "attach any managed policy to a group": ("iam:attachgrouppolicy",),
    "attach any managed policy to a role": ("iam:attachrolepolicy",),
    "write an inline policy on a user": ("iam:putuserpolicy",),
    "write an inline policy on a group": ("iam:putgrouppolicy",),
    "write an inline policy on a role": ("iam:putrolepolicy",),
    "add a user to any group": ("iam:addusertogroup",),
    "rewrite a role's trust policy and assume it": ("iam:updateassumerolepolicy",),
    "create access keys for another user": ("iam:createaccesskey",),
    "give another user a console password": ("iam:createloginprofile",),
    "reset another user's console password": ("iam:updateloginprofile",),
    "pass any role to a new EC2 instance": ("iam:passrole", "ec2:runinstances"),
    "pass any role to a new Lambda function": ("iam:passrole", "lambda:createfunction"),
    "pass any role to a CloudFormation stack": ("iam:passrole", "cloudformation:createstack"),
    "pass any role to a Glue development endpoint": ("iam:passrole", "glue:createdevendpoint"),
    "pass any role to a Data Pipeline": ("iam:passrole", "datapipeline:createpipeline"),
    "pass any role to a SageMaker notebook": ("iam:passrole", "sagemaker:createnotebookinstance"),
    "pass any role to an ECS task": ("iam:passrole", "ecs:runtask"),
    "replace the code of a Lambda function running with its role": ("lambda:updatefunctioncode",),
    "take over a Glue development endpoint and its role": ("glue:updatedevendpoint",),
}
# What bounds an IAM write (a permissions boundary the principal cannot strip or change, a fixed list of policies):
# policies/rules/iam.py, SEC-IAM-001.


@lru_cache(maxsize=None)
def _resource_types() -> dict[str, frozenset[str]]:
    """ "svc:action" -> the resource types it acts on ("object", "bucket", ...; required ones carry no '*' here)."""
    out = {}
    for service in iam_definition():
        for privilege in service["privileges"]:
            types = frozenset(t["resource_type"].rstrip("*") for t in privilege["resource_types"] if t["resource_type"])
            out[f"{service['prefix']}:{privilege['privilege']}".lower()] = types
    return out


def acts_on(pattern: str, resource_type: str) -> bool:
    """Whether any action an Action entry grants acts on ``resource_type``; an action parliament does not know
    counts as acting on it (judged strictly)."""
    types = _resource_types()
    return any(resource_type in types.get(action, frozenset({resource_type})) for action in expand(pattern))
