"""Every values key Crucible sets on a Helm release is consumed by its chart: rendering the release with and
without the key differs. A key the chart ignores is a setting silently lost (a typo, a key of another chart
version, a value at the wrong level).

How: for each distinct release of the shipped stacks (chart, values, name, namespace, Kubernetes version, API
versions), render it twice as installed (minus crds/, which values cannot change), note what differs between two
identical renders (generated secrets, certificates, checksums), then remove keys top-down: a subtree whose removal
changes nothing is reported whole; a subtree that matters is searched child by child (a dict with one child is the
same removal as its child). A render is compared with the base document by document (Render.same): a document
byte-identical to the base's of the same identity is equal unparsed; the others are parsed and compared leaf by
leaf, but for the unstable leaves, until the first difference -- the verdict of comparing every leaf of both renders
(tests/test_helm_values_same.py). A release per core is searched at a time, each by its own thread; a render of the
same inputs (two releases' values can meet once a key is removed) runs once."""

from __future__ import annotations

import base64
import collections
import copy
import json
import os
import resource
import time
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Iterable, Iterator, Optional

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


_YAML = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _openable(obj: dict) -> bool:
    return obj.get("kind") == "Secret" and isinstance(obj.get("data"), dict)


def _opened_item(encoded: Any) -> Any:
    """One Secret data item decoded, and YAML inside parsed (text that is not a mapping or a list stays text)."""
    try:
        text = base64.b64decode(encoded).decode()
        parsed = yaml.load(text, Loader=_YAML)  # noqa: S506 - a safe loader (libyaml's: z2jh's hub config is 19 KB)
        return parsed if isinstance(parsed, (dict, list)) else text
    except (ValueError, UnicodeDecodeError, yaml.YAMLError):
        return encoded


def _opened(doc: dict) -> dict:
    """A Secret's data decoded, and YAML inside parsed: z2jh passes its whole hub config in one Secret item next to
    a generated token, so only leaf by leaf can the generated part be told from the configured part."""
    if not _openable(doc):
        return doc
    return {**doc, "data": {key: _opened_item(encoded) for key, encoded in doc["data"].items()}}


def flat(obj: Optional[dict]) -> dict:
    """{json path: leaf} of one rendered object (a Secret opened); {} for an object that is not there."""
    out: dict = {}
    if obj is not None:
        _flatten(_opened(obj), (), out)
    return out


def _flat_item(key: Any, encoded: Any) -> dict:
    """The leaves of a Secret's data item ``key`` (those of :func:`flat` under ("data", key))."""
    out: dict = {}
    _flatten(_opened_item(encoded), ("data", key), out)
    return out


def _size(encoded: Any) -> int:
    return len(encoded) if isinstance(encoded, str) else 0


Identity = tuple  # (template, kind, name, occurrence): an object of a render, as the same object of another render


class Render:
    """A `helm template` output as its objects by identity, each with the document text it came from, compared with
    another render document by document: a document byte-identical to this render's document of the same identity is
    the same object (parsing is a function of the text) and is neither parsed nor flattened; only the objects of the
    documents that differ are, and compared leaf by leaf (a Secret item by item: an item encoded alike is decoded
    alike). ``unstable``: identity → the leaves that differ between two identical renders (generated secrets,
    certificates, checksums), left out of every comparison."""

    def __init__(self, text: str):
        self.objects: dict[Identity, tuple[str, int, dict]] = {}  # identity → (document text, index in it, object)
        self.known: dict[str, list[dict]] = {}  # document text → its objects
        for ident, chunk, index, obj in self.identified(text):
            self.objects[ident] = (chunk, index, obj)
        self.unstable: dict[Identity, set] = {}
        self._leaves: dict[tuple, dict] = {}  # (identity, part) → leaves of this render's object

    def identified(self, text: str) -> Iterator[tuple[Identity, str, int, dict]]:
        """(identity, document text, index of the object in it, object) of every object of ``text``, in order; the
        identity as helm.split_manifests sees the object: its template, kind, name, and how many came before it."""
        seen: dict[tuple, int] = {}
        for source, chunk in helm.manifest_documents(text):
            objs = self.known.get(chunk)
            if objs is None:
                objs = self.known[chunk] = helm.document_objects(chunk)
            for index, obj in enumerate(objs):
                ident = (source, obj.get("kind"), (obj.get("metadata") or {}).get("name"))
                seen[ident] = seen.get(ident, -1) + 1
                yield (*ident, seen[ident]), chunk, index, obj

    def leaves(self, ident: Identity, part: Any = None) -> dict:
        """This render's leaves of the object ``ident``: all of them (``part`` None), those outside a Secret's data
        ("fields"), or those of one data item (("data", key))."""
        if (ident, part) not in self._leaves:
            obj = self.objects[ident][2] if ident in self.objects else None
            if part is None:
                self._leaves[ident, part] = flat(obj)
            elif part == "fields":
                self._leaves[ident, part] = flat({k: v for k, v in obj.items() if k != "data"})
            else:
                self._leaves[ident, part] = _flat_item(part[1], obj["data"][part[1]]) if part[1] in obj["data"] else {}
        return self._leaves[ident, part]

    def learn_unstable(self, again: str) -> None:
        """The leaves that differ between this render and ``again``, a render of the same inputs (a leaf missing on one
        side differs unless it is null on the other)."""
        other = {ident: (chunk, index, obj) for ident, chunk, index, obj in self.identified(again)}
        for ident in self.objects.keys() | other.keys():
            mine, theirs = self.objects.get(ident), other.get(ident)
            if mine is not None and theirs is not None and mine[:2] == theirs[:2]:
                continue
            a, b = self.leaves(ident), flat(theirs[2] if theirs else None)
            changed = {p for p in a.keys() | b.keys() if a.get(p) != b.get(p)}
            if changed:
                self.unstable[ident] = changed

    def _equal(self, ident: Identity, obj: Optional[dict]) -> bool:
        """Whether ``obj`` (None: not there) has this render's leaves of ``ident`` but the unstable ones."""
        unstable = self.unstable.get(ident, ())

        def alike(theirs: dict, mine: dict) -> bool:
            return {p: v for p, v in theirs.items() if p not in unstable} == {p: v for p, v in mine.items() if p not in unstable}

        mine = self.objects[ident][2] if ident in self.objects else None
        if not (mine is not None and obj is not None and _openable(mine) and _openable(obj) and mine["data"] and obj["data"]):
            return alike(flat(obj), self.leaves(ident))
        # two Secrets with data: the leaves outside data, then those of each item, the small items first; the data
        # items partition the leaves under data (each item's are under ("data", key))
        if not alike(flat({k: v for k, v in obj.items() if k != "data"}), self.leaves(ident, "fields")):
            return False
        theirs, ours = obj["data"], mine["data"]
        for key in sorted(theirs.keys() | ours.keys(), key=lambda k: _size(theirs.get(k)) + _size(ours.get(k))):
            if key in theirs and key in ours and type(theirs[key]) is str and theirs[key] == ours[key]:
                continue
            if not alike(_flat_item(key, theirs[key]) if key in theirs else {}, self.leaves(ident, ("data", key))):
                return False
        return True

    def same(self, text: str) -> bool:
        """Whether ``text`` renders what this render does, but for the unstable leaves; False at the first object
        that differs, the Secrets (decoding and parsing their data costs most) compared last. A refused render is
        never the same."""
        if text == "refused":
            return False
        seen, secrets = set(), []
        for ident, chunk, index, obj in self.identified(text):
            seen.add(ident)
            mine = self.objects.get(ident)
            if mine is not None and mine[0] == chunk and mine[1] == index:
                continue
            if _openable(obj):
                secrets.append((ident, obj))
            elif not self._equal(ident, obj):
                return False
        if not all(self._equal(ident, None) for ident in self.objects if ident not in seen):
            return False
        return all(self._equal(ident, obj) for ident, obj in secrets)


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


class Renders:
    """The renders more than one search can ask for, kept by their exact inputs (chart, release name, namespace,
    Kubernetes version, API versions, values) and run once (a second caller waits for the first): releases that
    differ in a key reach the same values once the key is removed. Only those: every render kept would hold ~115 MB
    of text to save the few that meet."""

    def __init__(self, shared: Iterable[str] = ()):
        self.shared = set(shared)  # the inputs of the renders more than one search can ask for
        self.kept: dict[str, Future] = {}
        self.lock = threading.Lock()

    def get(self, inputs: str, render: Callable[[], str]) -> str:
        if inputs not in self.shared:
            return render()
        with self.lock:
            future = self.kept.get(inputs)
            owner = future is None
            if owner:
                future = self.kept[inputs] = Future()
        if owner:
            try:
                future.set_result(render())
            except BaseException as error:
                future.set_exception(error)
        return future.result()


class Release:
    """One distinct release and its renders."""

    def __init__(self, rendered: helm.RenderedRelease, renders: Optional[Renders] = None):
        self.r = rendered
        self.label = rendered.release.label
        self.renders = Renders() if renders is None else renders

    def inputs(self, values: dict) -> str:
        """What a render of ``values`` is a function of, exactly."""
        rel = self.r.release
        return json.dumps([str(self.r.chart_dir), rel.name, rel.namespace, self.r.kube_version, list(self.r.api_versions), values], sort_keys=True)

    def removals(self) -> Iterator[dict]:
        """The values the search can render: the release's, and without each subtree."""
        values = self.r.release.values
        yield values
        stack = [(k,) for k in values]
        while stack:
            path = stack.pop()
            yield without(values, path)
            node = values
            for k in path:
                node = node[k]
            if isinstance(node, dict):
                stack += [path + (k,) for k in node]

    def render(self, values: dict, *, again: bool = False) -> str:
        """The output, or "refused" when the chart refuses to render without the key (it is consumed: it is required).
        ``again``: render anew, never a kept output (the second of two identical renders, to see what differs)."""
        if again:
            return self._refused_or(values)
        return self.renders.get(self.inputs(values), lambda: self._refused_or(values))

    def _refused_or(self, values: dict) -> str:
        try:
            return self._render(self.r.release, values)
        except helm.RenderError:
            return "refused"

    def _render(self, rel: helm.HelmRelease, values: dict) -> str:
        return helm.helm_template(rel.name, self.r.chart_dir, rel.namespace, self.r.kube_version, values, include_crds=False, api_versions=self.r.api_versions)


# releases searched side by side, each by its own thread: one per core, as Helm is CPU-bound (on 2 cores, 2 searches
# took 68-70 s and 3 took 82-89 s, the GIL and the processes contending)
SEARCHES_AT_ONCE = os.cpu_count() or 2


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
    found: dict[str, helm.RenderedRelease] = {}
    for stack in PLATFORM_STACKS:
        for r in rendered_stack(stack):
            if r.skipped or not r.release.values:
                continue
            key = json.dumps([str(r.chart_dir), r.release.name, r.release.namespace, r.kube_version, _shape(r.release.values), r.api_versions], sort_keys=True)
            found.setdefault(key, r)
    releases = [Release(r) for r in found.values()]
    asked = collections.Counter(inputs for release in releases for inputs in {release.inputs(values) for values in release.removals()})
    renders = Renders(inputs for inputs, searches in asked.items() if searches > 1)
    for release in releases:
        release.renders = renders
    return releases


def unconsumed_keys(release: Release) -> list[tuple]:
    values = release.r.release.values
    base = Render(release.render(values))
    base.learn_unstable(release.render(values, again=True))
    same = base.same

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


def _cpu() -> tuple[float, float]:
    """CPU seconds so far of this process (every thread) and of its finished child processes (the Helm renders):
    the search's cost apart from what else runs on the machine."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


@pytest.fixture(scope="module")
def findings() -> tuple[dict, str]:
    require_helm()
    # the releases with the most keys first, SEARCHES_AT_ONCE at a time: no release waits for another's renders
    releases = sorted(_distinct_releases(), key=lambda r: -len(list(leaves(r.r.release.values))))
    started, cpu = time.monotonic(), _cpu()
    with ThreadPoolExecutor(max_workers=SEARCHES_AT_ONCE) as pool:
        found = list(pool.map(unconsumed_keys, releases))
    result = {r.label + f" #{i}": [(r.r.release.chart_name, dotted(p)) for p in keys] for i, (r, keys) in enumerate(zip(releases, found))}
    python, helm_cpu = (after - before for after, before in zip(_cpu(), cpu))
    return result, f"{time.monotonic() - started:.1f}s (CPU: Python {python:.1f}s, Helm {helm_cpu:.1f}s)"


def test_every_values_key_crucible_sets_changes_the_render(findings):
    result, took = findings
    ignored = {(label, key) for label, keys in result.items() for key in keys}
    unexpected = sorted(f"{label}: {chart} values key {key!r} changes nothing" for label, (chart, key) in ignored if (chart, key) not in NO_EFFECT)
    print(f"values-consumed: {len(result)} distinct releases in {took}")
    assert not unexpected, "\n".join(unexpected)


def test_keys_listed_as_without_effect_still_have_none(findings):
    """The allow-list stays true: a listed key that now changes the render is taken off the list."""
    result, _ = findings
    ignored = {key for keys in result.values() for key in keys}
    assert not [k for k in NO_EFFECT if k not in ignored], "listed without effect, but it has one now"
