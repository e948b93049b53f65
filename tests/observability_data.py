"""Test helpers for the observability checks: the known-metric lists (tests/data/metrics/, each naming its upstream
source), the PromQL parser walk, and promtool (found in .cache/tools or on PATH)."""

from __future__ import annotations

import functools
import re
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
METRICS_DIR = Path(__file__).parent / "data" / "metrics"
PROMTOOL_TESTS = Path(__file__).parent / "data" / "promtool"
# Where .ci/run (and a developer: `apt-get download prometheus && dpkg -x prometheus_*.deb .cache/tools/prom`)
# puts Debian's promtool 2.42 without installing it system-wide.
PROMTOOL_CACHE = REPO / ".cache" / "tools" / "prom" / "usr" / "bin" / "promtool"
# amtool likewise (Debian's prometheus-alertmanager package: `apt-get download prometheus-alertmanager` and
# `dpkg -x prometheus-alertmanager_*.deb .cache/tools/am`).
AMTOOL_CACHE = REPO / ".cache" / "tools" / "am" / "usr" / "bin" / "amtool"
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def _debian_tool(cached: Path, name: str, package: str, folder: str) -> str:
    """A tool of a Debian package unpacked under .cache/tools (what .ci/run does), else on PATH; skip without it."""
    if cached.is_file():
        return str(cached)
    found = shutil.which(name)
    if found:
        return found
    pytest.skip(
        f"{name} not found at {cached} or on PATH: `apt-get download {package}` and `dpkg -x {package}_*.deb .cache/tools/{folder}` (what .ci/run does)"
    )


def promtool() -> str:
    return _debian_tool(PROMTOOL_CACHE, "promtool", "prometheus", "prom")


def amtool() -> str:
    return _debian_tool(AMTOOL_CACHE, "amtool", "prometheus-alertmanager", "am")


@functools.lru_cache(maxsize=None)
def metric_list(name: str) -> dict[str, str]:
    """name → type (gauge, counter, histogram, label, unknown) of one list; the file must say its source."""
    text = (METRICS_DIR / f"{name}.txt").read_text()
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    assert "source:" in header, f"tests/data/metrics/{name}.txt does not name its upstream source"
    out = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            metric, kind = line.split()
            out[metric] = kind
    return out


def emitted(names: dict[str, str]) -> set[str]:
    """The series names a list of metrics puts on the wire (a histogram's _bucket/_sum/_count; a metric of unknown
    type may be one)."""
    out = set()
    for metric, kind in names.items():
        out.add(metric)
        if kind in ("histogram", "summary", "unknown") and not metric.endswith("_total"):
            out.update(metric + suffix for suffix in HISTOGRAM_SUFFIXES)
    return out


def dcgm_emitted() -> dict[str, str]:
    """The DCGM fields Crucible's counters file turns on (what dcgm-exporter emits here), field → type."""
    from addons.observability import DCGM_COUNTERS

    out = {}
    for line in DCGM_COUNTERS.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            field, kind = (part.strip() for part in line.split(",")[:2])
            out[field] = kind
    return out


def known_metrics() -> set[str]:
    """Every series name the installed exporters emit at the pinned versions."""
    lists = ("kueue", "karpenter", "kube-state-metrics", "node-exporter", "efa-counters", "neuron-monitor", "ray-serve", "prometheus")
    out = emitted({k: v for k, v in dcgm_emitted().items() if v != "label"})
    for name in lists:
        out |= emitted(metric_list(name))
    # the served models' servers (addons/serving.py): a rule on them applies to both backends, so only the names both
    # pinned vLLM servers emit (the CUDA image's 0.10.2 and the Neuron image's 0.9.1)
    both = metric_list("vllm").keys() & metric_list("vllm-neuron").keys()
    out |= emitted({name: kind for name, kind in metric_list("vllm").items() if name in both})
    return out


def substitute_grafana_variables(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert not re.search(r"\$__\w+", expr), f"an unknown Grafana interval variable in {expr!r}"
    return expr


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects, from the parse tree of a real PromQL parser (promql-parser)."""
    promql_parser = pytest.importorskip("promql_parser", reason="promql-parser (the test extra) is not installed")
    tree = promql_parser.parse(expr)  # raises ValueError on a syntax error
    names: set[str] = set()

    def visit(node):
        if type(node).__name__ == "VectorSelector":
            if node.name:
                names.add(node.name)
            for matcher in node.matchers.matchers:
                if matcher.name == "__name__":
                    names.add(matcher.value)

    promql_parser.walk(tree, visit)
    return names
