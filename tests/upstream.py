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


@functools.lru_cache(maxsize=None)
def _crds() -> dict[tuple[str, str, str], dict]:
    """(group, version, kind) → openAPIV3Schema, for every CRD under shared/upstream/crds."""
    found: dict[tuple[str, str, str], dict] = {}
    for path in sorted(Path(shared_dir(), "upstream", "crds").rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = doc["spec"]["group"], doc["spec"]["names"]["kind"]
            for version in doc["spec"]["versions"]:
                found[(group, version["name"], kind)] = version["schema"]["openAPIV3Schema"]
    return found


@functools.lru_cache(maxsize=None)
def crd_schema(api_version: str, kind: str) -> dict:
    group, _, version = api_version.rpartition("/")
    key = (group, version, kind)
    if key not in _crds():
        raise LookupError(f"no upstream CRD for {api_version} {kind} in shared/upstream/crds")
    return strict(copy.deepcopy(_crds()[key]))


def errors(manifest: dict) -> list[str]:
    """Every schema violation of ``manifest`` (a custom resource), as `path: message` strings."""
    schema = crd_schema(manifest["apiVersion"], manifest["kind"])
    validator = jsonschema.Draft7Validator(schema)
    return sorted(
        f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in validator.iter_errors(manifest)
    )


def assert_valid(manifest: dict) -> None:
    problems = errors(manifest)
    name = manifest.get("metadata", {}).get("name")
    assert not problems, f"{manifest['kind']} {name!r} is not valid upstream:\n  " + "\n  ".join(problems)


def has_crd(api_version: str, kind: str) -> bool:
    group, _, version = api_version.rpartition("/")
    return (group, version, kind) in _crds()
