"""One table of pinned versions (components/versions.py): every chart, image and managed add-on version Crucible pins
is there and nowhere else; each chart pin is the version of the vendored upstream chart; the README lists the table."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from components import versions
from helpers import REPO, shared_dir, shipped_report
from stacks.spec.reference import rows
from stacks.tools.plan import helm
from stacks.tools.plan.locate import shipped_stacks

RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
# The chart that could not be vendored (shared/upstream/SOURCES.md: "could not be obtained"): its pin is unverified.
NOT_VENDORED = {"neuron-helm-chart", "keda"}

# What a pin looks like as a whole string literal: a version (1.2.3, v1.2, 1.2.3-rc.1) or an image reference with a
# tag that carries a digit, or a digest.
VERSION_LITERAL = re.compile(r"^v?\d+\.\d+(\.\d+)?([-+][\w.+-]+)?$")
IMAGE_LITERAL = re.compile(r"^[a-z0-9][a-z0-9._\-/]*(:[\w.\-]*\d[\w.\-]*|@sha256:[0-9a-f]{64})$")
# The front of an image composed in an f-string: `f"registry/name:{tag}"`.
IMAGE_PREFIX_LITERAL = re.compile(r"^[a-z0-9][a-z0-9.\-]*(/[a-z0-9._\-]+)+:$")
SCANNED = ("addons", "components", "stacks/spec")
TABLE = Path("components/versions.py")


def _vendored(pin: versions.ChartPin) -> Path:
    nested = helm.NESTED_CHARTS.get((pin.name, pin.version))  # vendored only as another chart's subchart
    return shared_dir() / "upstream" / "charts" / (nested or f"{pin.name}-{pin.version}")


def _sources_row(folder: str) -> list[str]:
    """The cells of the SOURCES.md row of a vendored chart folder (charts/<name>-<version>)."""
    for line in (shared_dir() / "upstream" / "SOURCES.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == f"charts/{folder}":
            return cells
    raise LookupError(f"no row for charts/{folder} in shared/upstream/SOURCES.md")


@pytest.mark.parametrize("name", sorted(set(versions.CHARTS) - NOT_VENDORED))
def test_each_chart_pin_is_the_version_of_the_vendored_chart(name):
    pin = versions.CHARTS[name]
    folder = _vendored(pin)
    assert folder.is_dir(), f"{name} {pin.version}: no vendored chart at {folder} (vendor it, or the pin is wrong)"
    chart = yaml.safe_load((folder / "Chart.yaml").read_text())
    assert chart["name"] == pin.name
    version = str(chart["version"])
    if (pin.name, pin.version) in helm.NESTED_CHARTS:
        # LWS: the subchart's git Chart.yaml says 0.1.0 (appVersion v0.8.0); its release packaging sets the version to
        # the app version (SOURCES.md's note on it), so the app version is the pin.
        assert str(chart["appVersion"]).removeprefix("v") == pin.version
    elif "set.by.chartpress" in version:
        # z2jh's git Chart.yaml carries chartpress's placeholder (chartpress writes the version when it publishes):
        # the folder is the git tag SOURCES.md names, which must be the pin.
        assert _sources_row(folder.name)[2] == pin.version
    else:
        # The EFA chart states v0.5.30; Helm's semver constraint matching takes 0.5.30 for it.
        assert version.removeprefix("v") == pin.version


def test_the_neuron_and_keda_charts_are_the_pins_without_a_vendored_chart_and_are_marked_unconfirmed():
    """The Neuron chart (oci://public.ecr.aws/neuron/neuron-helm-chart) could not be obtained (SOURCES.md), and the
    KEDA chart is not in ../shared (its ScaledObject CRD is recorded in tests/data/crds), so their pins are not checked
    against a Chart.yaml: the table says they are unconfirmed. Once vendored, the test above checks them."""
    missing = {name for name, pin in versions.CHARTS.items() if not _vendored(pin).is_dir()}
    assert missing == NOT_VENDORED
    neuron = versions.CHARTS["neuron-helm-chart"]
    assert "not confirmed" in neuron.note and "not vendored" in neuron.note
    assert f"(not vendored) neuron-helm-chart {neuron.version}" in (shared_dir() / "upstream" / "SOURCES.md").read_text()
    keda = versions.CHARTS["keda"]
    assert "not vendored" in keda.note and "confirm" in keda.note


@pytest.mark.parametrize("pin", versions.CHARTS.values(), ids=list(versions.CHARTS))
def test_a_chart_is_named_as_the_last_segment_of_what_helm_installs(pin):
    """The plan's Helm rendering finds a release's vendored chart by that segment and the version."""
    assert pin.chart.rsplit("/", 1)[-1] == pin.name
    assert (pin.repository is None) == pin.chart.startswith("oci://")


def test_the_karpenter_crd_chart_moves_with_the_controller():
    assert versions.CHARTS["karpenter-crd"].version == versions.CHARTS["karpenter"].version == versions.KARPENTER


@pytest.mark.parametrize("stack", shipped_stacks())
def test_every_release_a_shipped_stack_installs_is_a_pin_of_the_table(stack):
    by_source = {(pin.chart, pin.repository): pin for pin in versions.CHARTS.values()}
    document, _ = shipped_report(stack)
    for release in (r for r in document["resources"] if r["type"] == RELEASE_TYPE):
        inputs = release["inputs"]
        source = (inputs["chart"], (inputs.get("repositoryOpts") or {}).get("repo"))
        assert source in by_source, f"{stack}: {release['name']} installs {source}, which components/versions.py does not pin"
        assert inputs["version"] == by_source[source].version, f"{stack}: {release['name']}"


def _default_literals() -> list[tuple[str, str]]:
    """(key, default) of every spec setting whose default is a string that looks like a version or an image."""
    out = []
    for key, _, default, _ in rows():
        value = default.strip("'")
        if default.startswith("'") and (VERSION_LITERAL.match(value) or IMAGE_LITERAL.match(value)):
            out.append((key, value))
    return out


def test_every_version_and_image_default_of_the_spec_is_a_pin_of_the_table():
    pinned = (
        {pin.version for pin in versions.CHARTS.values()}
        | {pin.ref for pin in versions.IMAGES.values()}
        | {pin.tag for pin in versions.IMAGES.values()}
        | {pin.version for pin in versions.SOFTWARE.values()}
    )
    defaults = _default_literals()
    assert len(defaults) >= 15  # chart versions, images, Ray, Kubernetes: the scan sees them
    assert [(key, value) for key, value in defaults if value not in pinned] == []


def _pins_with_a_setting() -> list[tuple[str, str]]:
    """(config key, the pin it defaults to) for every pin the table says a setting overrides."""
    out = [(c.setting, c.version) for c in versions.CHARTS.values() if c.setting]
    out += [(i.setting, i.tag if i.setting.endswith(".version") else i.ref) for i in versions.IMAGES.values() if i.setting]
    out += [(s.setting, s.version) for s in versions.SOFTWARE.values() if s.setting]
    return out


@pytest.mark.parametrize("key,pin", _pins_with_a_setting(), ids=[key for key, _ in _pins_with_a_setting()])
def test_the_setting_a_pin_names_exists_and_defaults_to_the_pin(key, pin):
    """The README's "set with" column is true: that key is in the spec and its default is the table's pin."""
    defaults = {path: default for path, _, default, _ in rows()}
    assert f"crucible:{key}" in defaults, f"{key} is not a setting of the spec"
    assert defaults[f"crucible:{key}"] == repr(pin)


def stray_version_literals(root: Path) -> list[str]:
    """Every string literal under SCANNED (below ``root``) that is a version or an image reference, outside the table.
    Prose (docstrings, messages, comments) is not a pin and does not match: only a whole literal does."""
    found = []
    for folder in SCANNED:
        for path in sorted((root / folder).rglob("*.py")):
            relative = path.relative_to(root)
            if relative == TABLE:
                continue
            tree = ast.parse(path.read_text(), filename=str(relative))
            in_fstring = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
            for node in ast.walk(tree):
                if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                    continue
                text = node.value
                if VERSION_LITERAL.match(text) or IMAGE_LITERAL.match(text) or (id(node) in in_fstring and IMAGE_PREFIX_LITERAL.match(text)):
                    found.append(f"{relative}:{node.lineno}: {text!r}")
    return found


def test_no_version_literal_outside_the_table():
    assert stray_version_literals(REPO) == [], "move these pins into components/versions.py and read them from there"


def test_the_literal_scan_finds_a_pinned_chart_version_an_image_and_a_composed_image(tmp_path):
    module = tmp_path / "addons" / "example.py"
    module.parent.mkdir()
    module.write_text(
        'VERSION = "0.19.2"\nIMAGE = "public.ecr.aws/neuron/neuron-monitor:1.0.0"\nRAY = f"rayproject/ray:{VERSION}-py311"\n'
        'PROSE = "chart 3.5.0 defaults enableServiceMutatorWebhook"\nCIDR = "10.100.0.1/32"\nAPI = "kueue.x-k8s.io/v1beta2"\n'
    )
    found = stray_version_literals(tmp_path)
    assert [line.split(": ", 1)[1] for line in found] == ["'0.19.2'", "'public.ecr.aws/neuron/neuron-monitor:1.0.0'", "'rayproject/ray:'"]


def test_managed_add_ons_are_not_pinned_by_the_code_but_the_node_monitoring_agent():
    """EKS picks its default version for the cluster version unless `cluster.addonVersions` pins one. The node
    monitoring agent is the exception: its configuration follows that version's schema (addons/node_health.py)."""
    assert set(versions.CLUSTER_ADDONS) <= set(versions.MANAGED_ADDONS)
    pinned = {name: version for name, version in versions.MANAGED_ADDONS.items() if version is not None}
    assert pinned == {"eks-node-monitoring-agent": "v1.7.0-eksbuild.1"}
    document, _ = shipped_report("prod")
    addons = [r for r in document["resources"] if r["type"] == "aws:eks/addon:Addon"]
    assert {r["inputs"]["addonName"] for r in addons} <= set(versions.MANAGED_ADDONS)
    assert {r["inputs"]["addonName"]: r["inputs"].get("addonVersion") for r in addons if r["inputs"].get("addonVersion")} == pinned


def test_the_readme_lists_the_pinned_versions_of_the_table():
    readme = (REPO / "README.md").read_text()
    current = readme[readme.index(versions.BEGIN) : readme.index(versions.END) + len(versions.END)]
    assert current == versions.render_markdown(), "README pinned versions are stale: run `python -m stacks.spec.reference --write`"
    for pin in versions.CHARTS.values():
        assert f"| `{pin.name}` | {pin.version} |" in current


def test_burn_ins_dcgm_image_carries_the_dcgm_of_the_pinned_dcgm_exporter_chart():
    """The dcgm-exporter chart's default image tag is `<DCGM version>-<exporter version>-<variant>` (NVIDIA, "DCGM
    Exporter Release Notes", docs.nvidia.com/datacenter/dcgm/latest/release-notes/dcgm-exporter.html: "Release tags use
    <dcgm-version>-<dcgm-exporter-version>. Container image tags can append an image variant"). The vendored chart
    4.8.2 (shared/upstream/charts/dcgm-exporter-4.8.2/values.yaml) defaults to nvcr.io/nvidia/k8s/dcgm-exporter
    4.5.3-4.8.2-distroless, the release NVIDIA ships in GPU Operator 26.3.2 (its release notes: "NVIDIA DCGM Exporter
    v4.5.3-4.8.2"). Burn-in's `dcgmi diag` runs the same DCGM from nvcr.io/nvidia/cloud-native/dcgm, tagged
    `<DCGM version>-1-<os>`: for 4.5.3 the published tag referenced upstream is 4.5.3-1-ubuntu24.04 (pulled as such
    by public projects, e.g. an AKS GPU health agent's DefaultDcgmImage); no source shows a 4.5.3-1-ubuntu22.04,
    which was pinned before unconfirmed. The host's driver is what dcgmi talks to, so the image's Ubuntu does not
    matter to the nodes (AL2023, Bottlerocket)."""
    chart = versions.CHARTS["dcgm-exporter"]
    folder = shared_dir() / "upstream" / "charts" / f"dcgm-exporter-{chart.version}"
    values = yaml.safe_load((folder / "values.yaml").read_text())
    app_version = yaml.safe_load((folder / "Chart.yaml").read_text())["appVersion"]
    assert values["image"]["repository"] == "nvcr.io/nvidia/k8s/dcgm-exporter"
    assert values["image"]["tag"] == "4.5.3-4.8.2-distroless"
    dcgm, exporter, variant = values["image"]["tag"].split("-", 2)
    assert exporter == app_version == chart.version and variant == "distroless"
    pin = versions.IMAGES["dcgm"]
    assert pin.repository == "nvcr.io/nvidia/cloud-native/dcgm"
    assert pin.tag == f"{dcgm}-1-ubuntu24.04"
    assert f"DCGM {dcgm}" in pin.note and f"dcgm-exporter {values['image']['tag']}" in pin.note
