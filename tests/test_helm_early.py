"""`crucible plan` starts each Helm release's render while the program is still running (stacks/tools/plan/helm.py
Speculation, called by the harness's ``on_register`` hook for every resource as it is registered).

The early renders are a speculation: the plan's render stays ``render_releases(document)``, and both go through one
memo of futures keyed by the exact render inputs. So the report's renders are the early ones, each run once; an
early render whose inputs turn out different is never used; a speculation never fails the program, does nothing
without Helm or the charts, and leaves no Helm process behind when `crucible` exits."""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import NamedTuple

import pytest

from helpers import REPO
from rendered import require_helm
from stacks.tools.plan import helm

KUBE = "1.34"


class HelmRun(NamedTuple):
    release: str
    kube_version: str
    api_versions: tuple[str, ...]
    thread: str


@pytest.fixture
def helm_runs(monkeypatch) -> list[HelmRun]:
    """Every `helm template` the test runs (its release, cluster version, API versions, the thread that ran it),
    with empty render memos and no render store: nothing rendered earlier in the session answers for this test."""
    monkeypatch.setenv(helm.RENDER_STORE, "off")
    monkeypatch.setattr(helm, "_renders", collections.OrderedDict())
    monkeypatch.setattr(helm, "_documents", {})
    runs: list[HelmRun] = []
    real = helm.helm_template

    def counted(release, folder, namespace, kube_version, values, *, include_crds=True, api_versions=()):
        runs.append(HelmRun(release, kube_version, tuple(sorted(api_versions)), threading.current_thread().name))
        return real(release, folder, namespace, kube_version, values, include_crds=include_crds, api_versions=api_versions)

    monkeypatch.setattr(helm, "helm_template", counted)
    return runs


@pytest.fixture
def speculations(monkeypatch) -> list[helm.Speculation]:
    """The Speculation each plan_stack in the test makes (the hook it hands the harness)."""
    made: list[helm.Speculation] = []

    class Recorded(helm.Speculation):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(helm, "Speculation", Recorded)
    return made


# -- a shipped stack: the report uses the early renders --------------------------------------------------------------
def test_a_plan_renders_each_release_once_and_the_report_uses_the_renders_started_during_the_program(helm_runs, speculations):
    """dev: eight releases, karpenter after karpenter-crd (whose CRDs it is rendered with)."""
    require_helm()
    from stacks.tools.plan.locate import plan_stack
    from stacks.tools.plan.model import PlanModel
    from stacks.tools.plan.report import build_report
    from stacks.tools.plan.workloads import _charts_document

    planned = plan_stack("dev")
    (speculation,) = speculations
    early = speculation.wait(timeout=600)
    assert len(early) == len(planned.run.of_type(helm.RELEASE_TYPE)) == 8
    assert all(isinstance(r, helm.RenderedRelease) for r in early.values()), early
    started_early = list(helm_runs)
    assert started_early and {run.thread.split(" ")[0] for run in started_early} == {"helm-speculation"}

    document, _ = build_report(planned)
    assert helm_runs == started_early  # the report's renders found every one of them done: none ran again
    renders = [(run.release, run.kube_version, run.api_versions) for run in helm_runs]
    assert len(set(renders)) == len(renders)  # and each render ran once
    rendered = helm.rendered_releases(_charts_document(PlanModel.of(planned)))  # what the report's workloads read
    for release in rendered:
        assert release.objects == early[release.release.urn].objects, release.release.label
        assert release.api_versions == early[release.release.urn].api_versions, release.release.label
    (karpenter,) = [r for r in rendered if r.release.name == "karpenter"]
    assert "karpenter.sh/v1/NodePool" in karpenter.api_versions  # rendered after karpenter-crd, with its CRDs
    assert document["workloads"]


# -- a small chart that probes an API: a speculation that misses is not used -----------------------------------------
CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "names": {"kind": "Widget", "plural": "widgets"}, "scope": "Namespaced", "versions": [{"name": "v1", "served": True}]},
}


@pytest.fixture
def charts(tmp_path) -> Path:
    """A shared/ folder with two charts: `probe` renders a ConfigMap, and a Widget only where example.com/v1 is
    served (as charts probe .Capabilities.APIVersions); `broken` always fails."""
    require_helm()
    root = tmp_path / "upstream" / "charts"
    probe = root / "probe-0.1.0" / "templates"
    probe.mkdir(parents=True)
    (probe.parent / "Chart.yaml").write_text("apiVersion: v2\nname: probe\nversion: 0.1.0\n")
    (probe / "objects.yaml").write_text(
        textwrap.dedent(
            """\
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: probe
            data:
              kube: "{{ .Capabilities.KubeVersion.Version }}"
            {{- if .Capabilities.APIVersions.Has "example.com/v1/Widget" }}
            ---
            apiVersion: example.com/v1
            kind: Widget
            metadata:
              name: probe
            {{- end }}
            """
        )
    )
    broken = root / "broken-0.1.0" / "templates"
    broken.mkdir(parents=True)
    (broken.parent / "Chart.yaml").write_text("apiVersion: v2\nname: broken\nversion: 0.1.0\n")
    (broken / "fail.yaml").write_text('{{ fail "broken on purpose" }}\n')
    return tmp_path


def _resource(urn: str, type_: str, *, parent: str = "", inputs: dict | None = None, dependencies: tuple[str, ...] = ()) -> SimpleNamespace:
    """A resource as the harness captures it (the fields the hook reads)."""
    return SimpleNamespace(
        urn=urn, type=type_, name=urn.rsplit("::", 1)[-1], parent=parent, inputs=inputs or {}, dependencies=list(dependencies), property_dependencies={}
    )


def _release(chart: str = "probe", *, dependencies: tuple[str, ...] = ()) -> SimpleNamespace:
    inputs = {"name": chart, "chart": chart, "version": "0.1.0", "namespace": "probes", "values": {}}
    return _resource(f"urn:pulumi:t::p::kubernetes:helm.sh/v3:Release::{chart}", helm.RELEASE_TYPE, inputs=inputs, dependencies=dependencies)


COMPONENT = _resource("urn:pulumi:t::p::crucible:test:Widgets::widgets", "crucible:test:Widgets")
WIDGET_CRD = _resource("urn:pulumi:t::p::crucible:test:Widgets$" + helm.CRD_TYPE + "::widgets", helm.CRD_TYPE, parent=COMPONENT.urn, inputs=CRD)


def _document(resources) -> dict:
    return {"resources": [{k: v for k, v in vars(r).items()} for r in resources], "kubernetesVersion": KUBE}


def _speculate(charts: Path, registered, kubernetes_version: str = KUBE) -> dict:
    speculation = helm.Speculation(kubernetes_version=kubernetes_version, shared=charts)
    for resource in registered:
        assert speculation(resource) is None
    return speculation.wait(timeout=120)


def test_an_early_render_with_the_inputs_of_the_exact_one_is_the_exact_one(charts, helm_runs):
    release = _release(dependencies=(COMPONENT.urn,))
    early = _speculate(charts, [COMPONENT, WIDGET_CRD, release])
    (rendered,) = helm.render_releases(_document([COMPONENT, WIDGET_CRD, release]), charts)
    assert [o["kind"] for o in rendered.objects] == ["ConfigMap", "Widget"]
    assert rendered.objects == early[release.urn].objects
    assert len(helm_runs) == 1 and helm_runs[0].thread.startswith("helm-speculation")


def test_an_early_render_whose_api_versions_turn_out_different_is_not_used(charts, helm_runs):
    """The release depends on a component whose CRD registers after it: when the release registered, nothing served
    example.com/v1; when Helm installs it, the CRD is there. The exact render runs with it."""
    release = _release(dependencies=(COMPONENT.urn,))
    early = _speculate(charts, [COMPONENT, release, WIDGET_CRD])
    assert [o["kind"] for o in early[release.urn].objects] == ["ConfigMap"]
    (rendered,) = helm.render_releases(_document([COMPONENT, release, WIDGET_CRD]), charts)
    assert [o["kind"] for o in rendered.objects] == ["ConfigMap", "Widget"] and "example.com/v1/Widget" in rendered.api_versions
    assert [run.api_versions for run in helm_runs] == [(), ("example.com/v1", "example.com/v1/Widget")]
    assert helm_runs[0].thread.startswith("helm-speculation") and not helm_runs[1].thread.startswith("helm-speculation")


def test_an_early_render_for_another_cluster_version_is_not_used(charts, helm_runs):
    release = _release()
    early = _speculate(charts, [release], kubernetes_version="1.33")
    (rendered,) = helm.render_releases(_document([release]), charts)
    assert early[release.urn].objects[0]["data"]["kube"] == "v1.33.0"
    assert rendered.kube_version == KUBE and rendered.objects[0]["data"]["kube"] == "v1.34.0"
    assert [run.kube_version for run in helm_runs] == ["1.33", KUBE]


def test_a_failed_early_render_never_reaches_the_program_and_the_exact_render_raises_its_error(charts, helm_runs):
    release = _release("broken")
    early = _speculate(charts, [release])  # the hook returned normally
    assert isinstance(early[release.urn], helm.RenderError)
    with pytest.raises(helm.RenderError, match="broken on purpose"):
        helm.render_releases(_document([release]), charts)
    assert len(helm_runs) == 1  # the error was kept, not rendered again


def test_without_the_charts_or_helm_a_speculation_does_nothing(charts, tmp_path, helm_runs, monkeypatch):
    assert isinstance(_speculate(tmp_path / "elsewhere", [_release()])[_release().urn], helm.ChartsUnavailable)

    def no_helm():
        raise helm.HelmUnavailable("no helm here")

    monkeypatch.setattr(helm, "helm_binary", no_helm)
    assert isinstance(_speculate(charts, [_release()])[_release().urn], helm.HelmUnavailable)
    assert helm_runs == []


def test_the_harness_calls_the_hook_with_each_resource_as_it_is_captured():
    import pulumi
    import pulumi_kubernetes as k8s

    from stacks.tools.harness import CapturedResource, run_program

    seen: list[CapturedResource] = []

    def program():
        parent = pulumi.ComponentResource("crucible:test:Group", "group")
        namespace = k8s.core.v1.Namespace("team", metadata={"name": "team"}, opts=pulumi.ResourceOptions(parent=parent))
        k8s.core.v1.ConfigMap("settings", metadata={"namespace": namespace.metadata.name}, data={"a": "1"}, opts=pulumi.ResourceOptions(parent=parent))

    run = run_program(program, stack="hook", config={}, on_register=seen.append)
    assert sorted(r.urn for r in seen) == sorted(r.urn for r in run.resources) and len(seen) == 3
    assert all(any(s is r for s in seen) for r in run.resources)  # the very records the run returns
    names = [r.name for r in seen]
    assert names.index("group") < names.index("team") < names.index("settings")  # a resource after what it waits for
    assert next(r for r in seen if r.name == "settings").inputs["data"] == {"a": "1"}


# -- exit: no Helm process outlives `crucible` -----------------------------------------------------------------------
EXITING = """
import atexit, os, sys, time
from pathlib import Path
from types import SimpleNamespace
from stacks.tools.plan import helm

speculation = helm.Speculation(kubernetes_version="1.34", shared=Path(sys.argv[1]))
inputs = {"name": "probe", "chart": "probe", "version": "0.1.0", "namespace": "probes", "values": {}}
speculation(SimpleNamespace(urn="urn:r", type=helm.RELEASE_TYPE, name="probe", parent="", inputs=inputs, dependencies=[], property_dependencies={}))
while not os.path.exists(sys.argv[2]):
    time.sleep(0.02)
atexit._run_exitfuncs()  # as stacks.tools.cli:run leaves
os._exit(0)
"""


def test_a_render_still_running_when_crucible_exits_is_stopped(charts, tmp_path):
    """A speculation nobody awaited (e.g. a command that plans without rendering): its Helm process is killed at exit,
    the daemon thread waiting on it goes with the process, and Helm's private home (the values files) is removed."""
    fake = tmp_path / "helm"
    started = tmp_path / "started"
    fake.write_text(
        f'#!/bin/sh\nif [ "$1" = version ]; then echo v{helm.HELM_VERSION}; exit 0; fi\necho $$ > {started}.tmp; mv {started}.tmp {started}\nexec sleep 120\n'
    )
    fake.chmod(0o755)
    env = {**os.environ, "CRUCIBLE_HELM": str(fake), "PYTHONPATH": str(REPO), "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", EXITING, str(charts), str(started)], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    pid = int(started.read_text())
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid), f"helm (pid {pid}) outlived the process"
    assert not list(tmp_path.glob("crucible-helm-*")), "Helm's private home was left behind"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"  # a zombie is dead, only not yet reaped by whoever adopted it


def test_renders_that_take_turns_go_heaviest_chart_first():
    """Longest first (kube-prometheus-stack, which three releases wait for, is not left last), then first come."""
    turns = helm.Turns(1)
    order: list[str] = []
    queued = threading.Barrier(5)

    def wait_turn(name: str, weight: float) -> None:
        queued.wait()
        time.sleep({"light": 0.0, "heavy": 0.05, "middle": 0.1, "middle-later": 0.15}[name])  # queue in this order
        with turns.turn(weight):
            order.append(name)

    with turns.turn(100):
        threads = [threading.Thread(target=wait_turn, args=a) for a in (("light", 1), ("heavy", 385), ("middle", 61), ("middle-later", 61))]
        for thread in threads:
            thread.start()
        queued.wait()
        time.sleep(0.4)
    for thread in threads:
        thread.join(10)
    assert order == ["heavy", "middle", "middle-later", "light"]


def test_a_charts_weight_is_its_template_files():
    from helpers import shared_dir

    charts = shared_dir() / "upstream" / "charts"
    weights = {name: helm.chart_weight(str(charts / name)) for name in ("kube-prometheus-stack-88.5.3", "kueue-0.19.2", "aws-efa-k8s-device-plugin-0.5.30")}
    assert weights["kube-prometheus-stack-88.5.3"] > weights["kueue-0.19.2"] > weights["aws-efa-k8s-device-plugin-0.5.30"] > 0
