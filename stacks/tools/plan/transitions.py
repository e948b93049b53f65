"""Updates of custom resources that their CRDs refuse: the transition rules (`x-kubernetes-validations` over `oldSelf`).

A CRD can make a field immutable, or allow it to change only one way, with a CEL rule that compares the object with
the one it replaces (Kueue's ResourceFlavor: `tolerations` are immutable once `topologyName` is set). The API server
evaluates these rules on every update, and only for a value the old object has at the same path; an update that
breaks one is refused, and `pulumi up` fails there, after everything before it changed. `crucible diff` judges each
updated custom resource of a plan against the rules of its CRD as the API server would, with cel-python.

The CRDs are read from ``<shared>/upstream`` (``$CRUCIBLE_SHARED``, or ``../shared`` beside the repository): its
`crds/` folder (files `<group>_<plural>.yaml`), the CRD folders of the vendored charts that ship theirs inside, and
kube-prometheus-stack's (crd-<plural>.yaml: the monitoring.coreos.com kinds).
A kind whose CRD is not there is not judged, and said so.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

import yaml

from components import versions
from stacks.tools.plan.kube_yaml import KubeLoader

REPO = Path(__file__).resolve().parents[3]
# The CRD folders under <shared>/upstream: the CRDs of the operators, and those only a vendored chart carries
# (LeaderWorkerSet in Kubeflow Trainer's lws subchart; Karpenter's NodeOverlay).
CRD_FOLDERS = ("crds", "charts/kubeflow-trainer-2.3.0/charts/lws/crds", "charts/karpenter-1.14.1/crds")
# Groups whose CRDs a vendored chart names otherwise (crd-<plural>.yaml): group -> the files, under <shared>/upstream.
CHART_CRD_FILES = {"monitoring.coreos.com": f"charts/kube-prometheus-stack-{versions.chart('kube-prometheus-stack').version}/charts/crds/crds/crd-*.yaml"}


class CrdsUnavailable(RuntimeError):
    """No upstream CRD folder, or no CEL evaluator (the reason says which)."""


def upstream_root(shared: Optional[Path] = None) -> Path:
    base = Path(shared) if shared else Path(os.environ.get("CRUCIBLE_SHARED", REPO.parent / "shared"))
    root = base / "upstream"
    if not (root / "crds").is_dir():
        raise CrdsUnavailable(f"upstream CRDs not found at {root}/crds (set CRUCIBLE_SHARED to the shared/ folder)")
    return root


@functools.lru_cache(maxsize=None)
def crds_of_group(group: str, root: str, extra: tuple[str, ...] = ()) -> dict[tuple[str, str, str], dict]:
    """(group, version, kind) -> openAPIV3Schema of the served versions of one API group's CRDs (files
    `<group>_*.yaml`, as upstream names them: only the group asked for is parsed, some are megabytes), from the
    CRD_FOLDERS of ``root`` and the ``extra`` folders (the tests' recorded CRDs of charts not vendored)."""
    found: dict[tuple[str, str, str], dict] = {}
    folders = [Path(root) / folder for folder in CRD_FOLDERS] + [Path(folder) for folder in extra]
    paths = sorted(p for folder in folders for p in folder.rglob(f"{group}_*.yaml"))
    if group in CHART_CRD_FILES:
        paths += sorted(Path(root).glob(CHART_CRD_FILES[group]))
    for path in paths:
        for doc in yaml.load_all(path.read_text(), Loader=KubeLoader):
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                continue
            kind = doc["spec"]["names"]["kind"]
            for version in doc["spec"]["versions"]:
                if version.get("served", True):
                    found[(doc["spec"]["group"], version["name"], kind)] = version["schema"]["openAPIV3Schema"]
    return found


def schema_of(api_version: str, kind: str, root: Path) -> Optional[dict]:
    """The CRD schema of ``kind`` at ``api_version``; None when no upstream CRD has it."""
    group, _, version = api_version.rpartition("/")
    if not group:
        return None
    return crds_of_group(group, str(root)).get((group, version, kind))


@functools.lru_cache(maxsize=4096)
def _program(rule: str):
    import celpy

    env = celpy.Environment()
    return env.program(env.compile(rule))


def transition_errors(old: Mapping[str, Any], new: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """Every transition rule of ``schema`` that updating ``old`` to ``new`` breaks (`path: message`), evaluated where
    the value exists in both objects, as the API server evaluates them: through properties, map values
    (additionalProperties) and the items of list-maps (x-kubernetes-list-type map, correlated by their keys)."""
    try:
        import celpy
    except ImportError as error:
        raise CrdsUnavailable(f"cel-python is not installed ({error}); pip install 'crucible[test]'") from error
    out: list[str] = []

    def walk(node: Mapping[str, Any], value: Any, before: Any, path: str) -> None:
        for rule in node.get("x-kubernetes-validations") or []:
            if "oldSelf" not in rule["rule"]:
                continue
            activation = {"self": celpy.json_to_cel(value), "oldSelf": celpy.json_to_cel(before)}
            if not bool(_program(rule["rule"]).evaluate(activation)):
                out.append(f"{path or '<root>'}: {rule.get('message') or rule['rule']}")
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            for key, sub in (node.get("properties") or {}).items():
                if key in value and key in before:
                    walk(sub, value[key], before[key], f"{path}.{key}" if path else key)
            extra = node.get("additionalProperties")
            if isinstance(extra, Mapping):  # a map of values: each key present in both
                for key in value.keys() & before.keys():
                    walk(extra, value[key], before[key], f"{path}.{key}" if path else key)
        elif isinstance(value, list) and isinstance(before, list) and node.get("x-kubernetes-list-type") == "map":
            # a list-map's items are correlated by their keys, as the API server does; other lists' items are not
            keys = tuple(node.get("x-kubernetes-list-map-keys") or ())
            item = node.get("items") or {}

            def key_of(entry: Any) -> Optional[tuple]:
                return tuple(entry.get(k) for k in keys) if isinstance(entry, Mapping) else None

            old_items = {key_of(e): e for e in before if key_of(e) is not None}
            for entry in value:
                match = old_items.get(key_of(entry))
                if match is not None:
                    walk(item, entry, match, f"{path}[{','.join(str(k) for k in key_of(entry) or ())}]")

    walk(schema, new, old, "")
    return out


def manifest(resource: Mapping[str, Any]) -> Optional[dict]:
    """The object a planned kubernetes custom resource sends the API server (its inputs, with apiVersion and kind
    from its type token); None for anything else."""
    type_token = str(resource.get("type", ""))
    if not type_token.startswith("kubernetes:") or type_token.count(":") != 2:
        return None
    group_version, kind = type_token.removeprefix("kubernetes:").rsplit(":", 1)
    if not is_custom_group(group_version.split("/", 1)[0]):
        return None
    obj = dict(resource.get("inputs") or {})
    obj.setdefault("apiVersion", group_version)
    obj.setdefault("kind", kind)
    return obj


def is_custom_group(group: str) -> bool:
    """Whether objects of API ``group`` are custom resources: not the core group, not a group the API server serves
    itself (`*.k8s.io`, but the `*.x-k8s.io` of SIG projects' CRDs), not the Helm provider's `helm.sh`."""
    if "." not in group or group == "helm.sh":
        return False
    return group.endswith(".x-k8s.io") or not group.endswith(".k8s.io")


@dataclass(frozen=True)
class Refusal:
    urn: str
    type: str
    name: str
    errors: tuple[str, ...]

    def to_json(self) -> dict:
        return {"urn": self.urn, "type": self.type, "name": self.name, "errors": list(self.errors)}


def refused_updates(pairs: list[tuple[Mapping[str, Any], Mapping[str, Any]]], shared: Optional[Path] = None) -> tuple[list[Refusal], list[str]]:
    """For (before, after) resources of updates, the custom resources whose CRD refuses the update, and the kinds not
    judged (no upstream CRD). CrdsUnavailable when there are no CRDs or no CEL evaluator."""
    root = upstream_root(shared)
    refused, unjudged = [], set()
    for before, after in pairs:
        old, new = manifest(before), manifest(after)
        if old is None or new is None:
            continue
        schema = schema_of(new["apiVersion"], new["kind"], root)
        if schema is None:
            unjudged.add(f"{new['apiVersion']} {new['kind']}")
            continue
        errors = transition_errors(old, new, schema)
        if errors:
            refused.append(Refusal(str(after.get("urn", "")), str(after.get("type", "")), str(after.get("name", "")), tuple(errors)))
    return refused, sorted(unjudged)
