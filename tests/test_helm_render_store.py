"""The render store (stacks/tools/plan/helm.py render_store): a Helm render is a pure function of the binary, the chart
folder's files and the arguments, so its parsed objects are kept on disk and read back for the same inputs, by any
process, instead of running Helm again. It changes how fast a render comes, never what it is."""

from __future__ import annotations

import collections
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from rendered import require_helm
from stacks.tools.plan import helm

TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}
data:
  greeting: {{ .Values.greeting | quote }}
"""


@dataclass
class Store:
    folder: Path
    runs: list[str]  # the release of every `helm template` run

    def files(self) -> list[Path]:
        return list(self.folder.glob("*.json"))


@pytest.fixture
def store(tmp_path, monkeypatch) -> Store:
    """An empty store, empty render memos, and every `helm template` counted."""
    require_helm()
    folder = tmp_path / "store"
    monkeypatch.setenv(helm.RENDER_STORE, str(folder))
    monkeypatch.setattr(helm, "_renders", collections.OrderedDict())
    helm.folder_fingerprint.cache_clear()
    runs: list[str] = []
    real = helm.helm_template

    def counted(release, *args, **kwargs):
        runs.append(release)
        return real(release, *args, **kwargs)

    monkeypatch.setattr(helm, "helm_template", counted)
    return Store(folder, runs)


@pytest.fixture
def chart(tmp_path) -> Path:
    folder = tmp_path / "greeter-0.1.0"
    (folder / "templates").mkdir(parents=True)
    (folder / "Chart.yaml").write_text("apiVersion: v2\nname: greeter\nversion: 0.1.0\n")
    (folder / "templates" / "configmap.yaml").write_text(TEMPLATE)
    return folder


def _render(chart: Path, values: dict | None = None, release: str = "greeter") -> tuple[dict, ...]:
    return helm.render(release, chart, "greeting", "1.34", values or {"greeting": "hello"}, include_crds=False)


def _forget_memo(monkeypatch) -> None:
    """As a new process starts: nothing in memory, only what the store holds."""
    monkeypatch.setattr(helm, "_renders", collections.OrderedDict())
    helm.folder_fingerprint.cache_clear()
    helm._crd_file_api_versions.cache_clear()


def test_the_same_inputs_are_read_back_from_the_store_without_running_helm(store, chart, monkeypatch):
    first = _render(chart)
    assert store.runs == ["greeter"] and len(list(store.files())) == 1
    _forget_memo(monkeypatch)
    again = _render(chart)
    assert store.runs == ["greeter"]  # not run again
    assert again == first and again[0]["data"] == {"greeting": "hello"}


def test_other_values_or_another_release_name_are_other_renders(store, chart, monkeypatch):
    _render(chart)
    _forget_memo(monkeypatch)
    assert _render(chart, {"greeting": "hi"})[0]["data"] == {"greeting": "hi"}
    assert _render(chart, release="other")[0]["metadata"]["name"] == "other"
    assert store.runs == ["greeter", "greeter", "other"]


def test_an_edited_chart_file_is_rendered_anew(store, chart, monkeypatch):
    _render(chart)
    (chart / "templates" / "configmap.yaml").write_text(TEMPLATE.replace("greeting:", "salutation:"))
    _forget_memo(monkeypatch)
    assert _render(chart)[0]["data"] == {"salutation": "hello"}
    assert len(store.runs) == 2


def test_a_stored_render_that_cannot_be_read_is_rendered_again_and_replaced(store, chart, monkeypatch):
    _render(chart)
    (stored,) = store.files()
    stored.write_text('{"not": "a render"')
    _forget_memo(monkeypatch)
    assert _render(chart)[0]["data"] == {"greeting": "hello"}
    assert len(store.runs) == 2 and json.loads(stored.read_text())[0][1]["kind"] == "ConfigMap"


def test_a_refused_render_is_not_stored(store, chart, monkeypatch):
    (chart / "templates" / "configmap.yaml").write_text('{{ fail "no" }}\n')
    for _ in range(2):
        _forget_memo(monkeypatch)
        with pytest.raises(helm.RenderError, match="no"):
            _render(chart)
    assert len(store.runs) == 2 and not list(store.files())


def test_off_stores_nothing(store, chart, monkeypatch):
    monkeypatch.setenv(helm.RENDER_STORE, "off")
    _render(chart)
    _forget_memo(monkeypatch)
    _render(chart)
    assert len(store.runs) == 2 and not store.folder.exists()


def test_the_store_keeps_the_most_recently_used_renders(store, chart, monkeypatch):
    monkeypatch.setattr(helm, "RENDERS_STORED", 2)
    for age, greeting in ((300, "a"), (200, "b")):
        _render(chart, {"greeting": greeting})
        (newest,) = [p for p in store.files() if json.loads(p.read_text())[0][1]["data"] == {"greeting": greeting}]
        os.utime(newest, (newest.stat().st_atime, newest.stat().st_mtime - age))
    _render(chart, {"greeting": "c"})  # the third: the oldest (a) goes
    assert sorted(json.loads(p.read_text())[0][1]["data"]["greeting"] for p in store.files()) == ["b", "c"]
    _forget_memo(monkeypatch)
    _render(chart, {"greeting": "c"})
    assert len(store.runs) == 3  # read back


def test_the_default_store_is_in_the_cache_folder(monkeypatch):
    monkeypatch.delenv(helm.RENDER_STORE, raising=False)
    assert helm.render_store() == helm.cache_dir() / "renders"


CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: greetings.example.com
spec:
  group: example.com
  names: {kind: Greeting, plural: greetings}
  scope: Namespaced
  versions:
    - {name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}
    - {name: v0, served: false, storage: false, schema: {openAPIV3Schema: {type: object}}}
"""


def _parses_counted(monkeypatch) -> list[str]:
    parsed: list[str] = []
    real = helm._parsed_crd_api_versions

    def counted(folder):
        parsed.append(folder)
        return real(folder)

    monkeypatch.setattr(helm, "_parsed_crd_api_versions", counted)
    return parsed


def test_a_charts_crd_versions_are_read_back_from_the_store(store, chart, monkeypatch):
    (chart / "crds").mkdir()
    (chart / "crds" / "greetings.yaml").write_text(CRD)
    parsed = _parses_counted(monkeypatch)
    _forget_memo(monkeypatch)
    first = helm.expected_crd_api_versions(chart, {})
    _forget_memo(monkeypatch)
    again = helm.expected_crd_api_versions(chart, {})
    assert first == again == {"example.com/v1", "example.com/v1/Greeting"}  # served versions only
    assert parsed == [str(chart)]  # parsed once, by the first process


def test_a_changed_crd_file_is_parsed_again(store, chart, monkeypatch):
    (chart / "crds").mkdir()
    (chart / "crds" / "greetings.yaml").write_text(CRD)
    parsed = _parses_counted(monkeypatch)
    _forget_memo(monkeypatch)
    helm.expected_crd_api_versions(chart, {})
    (chart / "crds" / "greetings.yaml").write_text(CRD.replace("name: v0, served: false", "name: v2, served: true"))
    _forget_memo(monkeypatch)
    assert helm.expected_crd_api_versions(chart, {}) == {"example.com/v1", "example.com/v1/Greeting", "example.com/v2", "example.com/v2/Greeting"}
    assert len(parsed) == 2


def test_crd_versions_leave_the_renders_alone(store, chart, monkeypatch):
    """Stored beside the renders, not among them: the renders kept are counted without them."""
    (chart / "crds").mkdir()
    (chart / "crds" / "greetings.yaml").write_text(CRD)
    helm.render("greeter", chart, "greeting", "1.34", {"greeting": "hello"})
    assert len(store.files()) == 1 and len(list((store.folder / "crd-api-versions").glob("*.json"))) == 1
