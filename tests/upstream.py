"""Validate what Crucible emits against the real upstream schemas in ../shared/upstream, STRICTLY.

CRD schemas leave objects open unless they say otherwise; here every schema object that lists `properties`
and neither sets `additionalProperties` nor `x-kubernetes-preserve-unknown-fields` gets
`additionalProperties: false`, so a misspelt or invented field is an error, as the API server's field
validation (`kubectl apply --validate=strict`) would report it.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from helpers import shared_dir


def strict(schema: Any) -> Any:
    """A copy of ``schema`` with `additionalProperties: false` wherever an object lists its properties."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items()}
    if "properties" in out and "additionalProperties" not in out and not out.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# CRDs of charts that are not vendored, recorded under tests/data/crds (its SOURCES.md names project, tag, commit and
# license), beside those the tools read from shared/upstream (stacks/tools/plan/transitions.py CRD_FOLDERS).
RECORDED_CRDS = Path(__file__).parent / "data" / "crds"


def _crds_of_group(group: str) -> dict[tuple[str, str, str], dict]:
    from stacks.tools.plan.transitions import crds_of_group

    return crds_of_group(group, str(Path(shared_dir(), "upstream")), (str(RECORDED_CRDS),))


def _crds_for(api_version: str) -> dict[tuple[str, str, str], dict]:
    return _crds_of_group(api_version.rpartition("/")[0])


@functools.lru_cache(maxsize=None)
def crd_schema(api_version: str, kind: str) -> dict:
    group, _, version = api_version.rpartition("/")
    key = (group, version, kind)
    crds = _crds_for(api_version)
    if key not in crds:
        raise LookupError(f"no upstream CRD for {api_version} {kind} in shared/upstream/crds")
    return strict(copy.deepcopy(crds[key]))


def errors(manifest: dict) -> list[str]:
    """Every schema violation of ``manifest`` (a custom resource), as `path: message` strings."""
    schema = crd_schema(manifest["apiVersion"], manifest["kind"])
    validator = jsonschema.Draft7Validator(schema)
    return sorted(f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in validator.iter_errors(manifest))


def assert_valid(manifest: dict) -> None:
    problems = errors(manifest)
    name = manifest.get("metadata", {}).get("name")
    assert not problems, f"{manifest['kind']} {name!r} is not valid upstream:\n  " + "\n  ".join(problems)


def has_crd(api_version: str, kind: str) -> bool:
    group, _, version = api_version.rpartition("/")
    return "/" in api_version and (group, version, kind) in _crds_for(api_version)


def values_file(relative: str) -> Any:
    """A chart's values.yaml from shared/upstream (e.g. extras/eks-charts/aws-efa-k8s-device-plugin.values.yaml)."""
    return yaml.load(Path(shared_dir(), "upstream", relative).read_text(), Loader=_Loader)


def unknown_value_keys(values: Any, defaults: Any, path: str = "") -> list[str]:
    """Key paths set in ``values`` that the chart's values.yaml does not have. A values.yaml is not a schema:
    a key the chart declares empty (`{}`, `[]`) takes anything below it; lists are not walked."""
    if not isinstance(values, dict) or not isinstance(defaults, dict) or not defaults:
        return []
    missing = []
    for key, value in values.items():
        where = f"{path}.{key}" if path else str(key)
        if key not in defaults:
            missing.append(where)
        else:
            missing += unknown_value_keys(value, defaults[key], where)
    return missing


def cel_errors(manifest: dict) -> list[str]:
    """Every CRD validation rule (`x-kubernetes-validations`, CEL) ``manifest`` breaks, as the API server evaluates
    them on create: rules over `oldSelf` (transition rules) do not apply to a new object and are skipped."""
    import celpy

    schema = crd_schema(manifest["apiVersion"], manifest["kind"])
    env = celpy.Environment()
    out: list[str] = []

    def walk(node: Any, value: Any, path: str) -> None:
        for rule in node.get("x-kubernetes-validations") or []:
            if "oldSelf" in rule["rule"]:
                continue
            program = env.program(env.compile(rule["rule"]))
            if not bool(program.evaluate({"self": celpy.json_to_cel(value)})):
                out.append(f"{path or '<root>'}: {rule.get('message') or rule['rule']}")
        if isinstance(value, dict):
            for key, sub in (node.get("properties") or {}).items():
                if key in value:
                    walk(sub, value[key], f"{path}.{key}" if path else key)
        elif isinstance(value, list) and isinstance(node.get("items"), dict):
            for i, item in enumerate(value):
                walk(node["items"], item, f"{path}[{i}]")

    walk(schema, manifest, "")
    return out


def transition_errors(old: dict, new: dict) -> list[str]:
    """Every CRD transition rule (an `x-kubernetes-validations` rule over `oldSelf`) the update of ``old`` to ``new``
    breaks, as the API server evaluates them (stacks/tools/plan/transitions.py, which `crucible diff` runs)."""
    from stacks.tools.plan.transitions import transition_errors as breaks

    return breaks(old, new, crd_schema(new["apiVersion"], new["kind"]))
