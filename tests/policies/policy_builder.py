"""Tiny builders for resources in the plan JSON shape that `policies.offline.evaluate` takes, and a verdict
helper that runs the real pack (through the SDK's analyzer servicer) and returns one policy's findings."""

from __future__ import annotations

import copy
from typing import Any, Iterable, Mapping, Optional

from policies.offline import PolicyReport, evaluate

STACK = "test"
PROJECT = "crucible"
UNKNOWN = "[unknown]"  # the plan JSON marker for a value unknown at preview


def urn_of(type_: str, name: str) -> str:
    return f"urn:pulumi:{STACK}::{PROJECT}::{type_}::{name}"


def res(
    type_: str,
    name: str,
    inputs: Optional[Mapping[str, Any]] = None,
    *,
    protect: bool = False,
    delete_before_replace: bool = False,
    parent: str = "",
    deps: Iterable[str] = (),
    prop_deps: Optional[Mapping[str, Iterable[str]]] = None,
) -> dict:
    return {
        "urn": urn_of(type_, name),
        "type": type_,
        "name": name,
        "parent": parent,
        "inputs": copy.deepcopy(dict(inputs or {})),
        "protect": protect,
        "retain_on_delete": protect,
        "delete_before_replace": delete_before_replace,
        "ignore_changes": [],
        "aliases": [],
        "dependencies": list(deps),
        "property_dependencies": {k: list(v) for k, v in (prop_deps or {}).items()},
        "provider": "",
        "custom": True,
    }


def k8s(api_version: str, kind: str, name: str, spec: Optional[Mapping] = None, *, metadata: Optional[Mapping] = None, **options: Any) -> dict:
    """A Kubernetes object (custom resources: `kubernetes:<apiVersion>:<kind>`, core: `kubernetes:core/v1:<kind>`)."""
    group_version = api_version if "/" in api_version else f"core/{api_version}"
    inputs: dict = {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, **dict(metadata or {})}}
    if spec is not None:
        inputs["spec"] = spec
    return res(f"kubernetes:{group_version}:{kind}", name, inputs, **options)


def link(resource: dict, prop: str, *targets: dict) -> dict:
    """Record that ``resource``'s property ``prop`` was computed from ``targets`` (as `bucket=b.id` does)."""
    resource["property_dependencies"].setdefault(prop, []).extend(t["urn"] for t in targets)
    for t in targets:
        if t["urn"] not in resource["dependencies"]:
            resource["dependencies"].append(t["urn"])
    return resource


def run(resources: Iterable[dict], env: str = "prod", config: Optional[Mapping] = None) -> PolicyReport:
    return evaluate(list(resources), env, config)


def verdicts(policy: str, resources: Iterable[dict], env: str = "prod", config: Optional[Mapping] = None) -> list[tuple[str, str]]:
    """(resource name, level) for every finding of ``policy``, sorted; the name is '' for stack-wide findings."""
    report = run(resources, env, config)
    return sorted((v.urn.rsplit("::", 1)[-1] if v.urn else "", v.level) for v in report.of(policy))


def messages(policy: str, resources: Iterable[dict], env: str = "prod", config: Optional[Mapping] = None) -> list[str]:
    return [v.message for v in run(resources, env, config).of(policy)]
