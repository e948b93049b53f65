"""Every values key Crucible sets on a Helm release is consumed by its chart: rendering the release with and
without the key differs. A key the chart ignores is a setting silently lost (a typo, a key of another chart
version, a value at the wrong level).

How: for each distinct release of the shipped stacks (chart, values, name, namespace, Kubernetes version, API
versions), render it twice as installed (minus crds/, which values cannot change), note what differs between two
identical renders (generated secrets, certificates, checksums), then remove keys top-down: a subtree whose removal
changes nothing is reported whole; a subtree that matters is searched child by child (a dict with one child is the
same removal as its child). Three releases are searched at a time, each by its own thread."""

from __future__ import annotations

import base64
import copy
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator

import pytest
import yaml

from rendered import PLATFORM_STACKS, rendered_stack, require_helm
from stacks.tools.plan import helm

# Keys that change nothing at render time on purpose, with the reason. Keep this empty where possible: a key with no
# effect is removed rather than listed.
CONFIG = "set from config; equals the chart's default in the shipped stacks that leave the setting at its default"
SAFETY = "a safety invariant stated explicitly; equals the chart's default today (if the default moves, the key matters and this entry must go)"
NO_EFFECT: dict[tuple[str, str], str] = {
    ("karpenter", "replicas"): "KarpenterArgs.replicas, a component argument; its default 2 is the chart's",
    ("aws-load-balancer-controller", "replicaCount"): CONFIG + " (addons.loadBalancerController.replicas)",
    ("kubeflow-trainer", "jobset.install"): CONFIG + " (Trainer installs JobSet unless the stack has its own)",
    ("kuberay-operator", "metrics"): CONFIG + " (the ServiceMonitor follows the observability add-on; off is the default)",
    ("kueue", "enablePrometheus"): CONFIG + " (follows the observability add-on; off is the default)",
    ("kube-prometheus-stack", "grafana.enabled"): CONFIG + " (addons.observability.grafana)",
    ("jupyterhub", "cull"): CONFIG + " (addons.jupyterhub.cullTimeoutSeconds / cullEverySeconds)",
    ("jupyterhub", "cull.enabled"): SAFETY + ": idle servers are culled (GPU notebooks cost by the hour)",
    ("jupyterhub", "cull.every"): CONFIG + " (addons.jupyterhub.cullEverySeconds)",
    # hub.config as a whole now carries KubeSpawner's security contexts (restricted notebooks): only the authenticator
    # class is left at z2jh's default `dummy` (values.yaml hub.config.JupyterHub.authenticator_class) in dev
    ("jupyterhub", "hub.config.JupyterHub.authenticator_class"): CONFIG + " (addons.jupyterhub.authenticator: dummy in dev is z2jh's default)",
    ("jupyterhub", "proxy.service.type"): CONFIG + " (addons.jupyterhub.exposure)",
    ("jupyterhub", "singleuser.storage.capacity"): CONFIG + " (addons.jupyterhub.userVolumeGiB)",
    ("jupyterhub", "singleuser.networkPolicy.enabled"): SAFETY + ": notebooks' NetworkPolicy",
    ("jupyterhub", "singleuser.networkPolicy.egressAllowRules"): SAFETY + ": no egress to the metadata server or private addresses beyond the listed rules",
    ("karpenter", "affinity"): SAFETY + ": Karpenter never runs on a node it manages (its consolidation would drain it)",
    ("karpenter", "serviceAccount"): SAFETY + ": the Pod Identity association names this service account",
    ("aws-load-balancer-controller", "serviceAccount"): SAFETY + ": the Pod Identity association names this service account",
}


def _flatten(value: Any, path: tuple, out: dict) -> None:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            _flatten(v, path + (k,), out)
    elif isinstance(value, list) and value:
        for i, v in enumerate(value):
            _flatten(v, path + (i,), out)
    else:
        out[path] = value


def _opened(doc: dict) -> dict:
    """A Secret's data decoded, and YAML inside parsed: z2jh passes its whole hub config in one Secret item next to
    a generated token, so only leaf by leaf can the generated part be told from the configured part."""
    if doc.get("kind") != "Secret" or not isinstance(doc.get("data"), dict):
        return doc
    data = {}
    for key, encoded in doc["data"].items():
        try:
            text = base64.b64decode(encoded).decode()
            parsed = yaml.safe_load(text)
            data[key] = parsed if isinstance(parsed, (dict, list)) else text
        except (ValueError, UnicodeDecodeError, yaml.YAMLError):
            data[key] = encoded
    return {**doc, "data": data}


def flat_render(text: str) -> dict:
    """{(template, kind, name, occurrence, *json path): leaf} of a `helm template` output."""
    out: dict = {}
    seen: dict = {}
    for source, doc in helm.split_manifests(text):
        ident = (source, doc.get("kind"), (doc.get("metadata") or {}).get("name"))
        seen[ident] = seen.get(ident, -1) + 1
        _flatten(_opened(doc), (*ident, seen[ident]), out)
    return out


def leaves(values: Any, path: tuple = ()) -> Iterator[tuple]:
    if isinstance(values, dict) and values:
        for k, v in values.items():
            yield from leaves(v, path + (k,))
    else:
        yield path


def without(values: dict, path: tuple) -> dict:
    out = copy.deepcopy(values)
    node = out
    for k in path[:-1]:
        node = node[k]
    del node[path[-1]]
    return out


def dotted(path: tuple) -> str:
    return ".".join(str(p) for p in path)


class Release:
    def __init__(self, rendered: helm.RenderedRelease):
        self.r = rendered
        self.label = rendered.release.label

    def render(self, values: dict) -> str:
        """The output, or "" when the chart refuses to render without the key (it is consumed: it is required)."""
        rel = self.r.release
        try:
            return self._render(rel, values)
        except helm.RenderError:
            return "refused"

    def _render(self, rel: helm.HelmRelease, values: dict) -> str:
        return helm.helm_template(rel.name, self.r.chart_dir, rel.namespace, self.r.kube_version, values, include_crds=False, api_versions=self.r.api_versions)


def _shape(values: Any) -> Any:
    """What decides whether a key can matter: the keys, and every value but free strings (names, ARNs, endpoints
    differ per stack, and so do sizes and counts; a boolean or a list may equal the chart default in one stack and
    not in another). A number equal to the chart's default is the config-driven case NO_EFFECT lists."""
    if isinstance(values, dict):
        return {k: _shape(v) for k, v in values.items()}
    if isinstance(values, bool) or values is None:
        return values
    return "<string>" if isinstance(values, str) else "<number>" if isinstance(values, (int, float)) else values


def _distinct_releases() -> list[Release]:
    found: dict[str, Release] = {}
    for stack in PLATFORM_STACKS:
        for r in rendered_stack(stack):
            if r.skipped or not r.release.values:
                continue
            key = json.dumps([str(r.chart_dir), r.release.name, r.release.namespace, r.kube_version, _shape(r.release.values), r.api_versions], sort_keys=True)
            found.setdefault(key, Release(r))
    return list(found.values())


def unconsumed_keys(release: Release) -> list[tuple]:
    values = release.r.release.values
    first, second = release.render(values), release.render(values)
    base, again = flat_render(first), flat_render(second)
    unstable = {k for k in base.keys() | again.keys() if base.get(k) != again.get(k)}

    def same(text: str) -> bool:
        if text == "refused":
            return False
        other = flat_render(text)
        return {k: v for k, v in other.items() if k not in unstable} == {k: v for k, v in base.items() if k not in unstable}

    ignored: list[tuple] = []
    frontier = [(k,) for k in values]
    while frontier:
        renders = [release.render(without(values, p)) for p in frontier]
        nxt = []
        for path, text in zip(frontier, renders):
            node = values
            for k in path:
                node = node[k]
            if same(text):
                ignored.append(path)
            elif isinstance(node, dict) and len(node) > 1:
                nxt += [path + (k,) for k in node]
            elif isinstance(node, dict) and len(node) == 1:
                # one child: removing it is removing the parent, unless the child is a dict to search further
                ((k, child),) = node.items()
                if isinstance(child, dict) and len(child) > 1:
                    nxt += [path + (k, c) for c in child]
        frontier = nxt
    return ignored


@pytest.fixture(scope="module")
def findings() -> tuple[dict, float]:
    require_helm()
    # the releases with the most keys first, three at a time: no release waits for another's renders
    releases = sorted(_distinct_releases(), key=lambda r: -len(list(leaves(r.r.release.values))))
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=3) as pool:
        found = list(pool.map(unconsumed_keys, releases))
    result = {r.label + f" #{i}": [(r.r.release.chart_name, dotted(p)) for p in keys] for i, (r, keys) in enumerate(zip(releases, found))}
    return result, time.monotonic() - started


def test_every_values_key_crucible_sets_changes_the_render(findings):
    result, seconds = findings
    ignored = {(label, key) for label, keys in result.items() for key in keys}
    unexpected = sorted(f"{label}: {chart} values key {key!r} changes nothing" for label, (chart, key) in ignored if (chart, key) not in NO_EFFECT)
    print(f"values-consumed: {len(result)} distinct releases in {seconds:.1f}s")
    assert not unexpected, "\n".join(unexpected)


def test_keys_listed_as_without_effect_still_have_none(findings):
    """The allow-list stays true: a listed key that now changes the render is taken off the list."""
    result, _ = findings
    ignored = {key for keys in result.values() for key in keys}
    assert not [k for k in NO_EFFECT if k not in ignored], "listed without effect, but it has one now"
