"""The plan's cost section (stacks/tools/plan/report.py `cost_section`) and `crucible diff`'s cost range.

The section is rendered from the spec alone, so most cases run it on a spec (no program run); one case reads the
shipped prod plan end to end.
"""

from __future__ import annotations

import types

import pytest

from helpers import REPO, shipped_report, spec_of
from stacks.derive.cost import stack_cost
from stacks.spec.loader import load_stack_file
from stacks.tools.plan.diff import diff_plans, render
from stacks.tools.plan.locate import shipped_stacks
from stacks.tools.plan.report import cost_section

POOLS = [
    {"name": "train", "kind": "gpu", "workload": "training", "instanceTypes": ["p5.48xlarge"], "maxNodes": 2},
    {
        "name": "serve",
        "kind": "gpu",
        "workload": "serving",
        "instanceTypes": ["g6e.xlarge", "g6e.2xlarge"],
        "capacityTypes": ["spot", "on-demand"],
        "maxNodes": 4,
    },
    {
        "name": "block",
        "kind": "gpu",
        "workload": "training",
        "instanceTypes": ["p5.48xlarge"],
        "capacityTypes": ["reserved"],
        "capacityReservation": {"ids": ["cr-0123456789abcdef0"]},
        "maxNodes": 2,
    },
]
TEAMS = [{"name": "llm", "adminGroups": ["llm-admins"]}, {"name": "vision", "adminGroups": ["vision-admins"]}]


def section_of(spec):
    return cost_section(types.SimpleNamespace(spec=spec))


@pytest.fixture(scope="module")
def section():
    return section_of(spec_of("dev", pools=POOLS, teams=TEAMS, cost={"reservedNodes": {"block": 2}}))


def test_the_json_shape(section):
    data = section.data
    assert section.key == "cost"
    assert {
        "currency",
        "hoursPerMonth",
        "priceBasis",
        "spotBasis",
        "atMinimum",
        "atMaximum",
        "perMonth",
        "baseline",
        "pools",
        "usagePriced",
        "showback",
    } <= set(data)
    assert set(data["atMaximum"]) == {"low", "high"} and set(data["perMonth"]) == {"atMinimum", "atMaximum"}
    pools = {p["pool"]: p for p in data["pools"]}
    assert pools["serve"]["capacityTypes"] == ["spot", "on-demand"]
    assert pools["block"]["reserved"]["nodes"] == 2 and "whether" in pools["block"]["reserved"]["note"]
    assert set(pools["train"]["spot"]) == {"savesPerHourAtMax", "savingsPercent", "safe", "why", "allowed"}
    assert {t["team"] for t in data["showback"]["teams"]} >= {"llm", "vision"} and data["showback"]["rule"]


def test_the_text_table_shows_each_pools_capacity_types_and_month(section):
    header = next(i for i, line in enumerate(section.lines) if line.startswith("  pool ") and "capacity types" in line)
    assert "$/h at max" in section.lines[header] and "$/month at max" in section.lines[header]
    rows = {line.split()[0]: line.split()[2] for line in section.lines[header + 1 : header + 4]}
    assert rows == {"train": "on-demand", "serve": "spot/on-demand", "block": "reserved"}


def test_the_text_says_what_is_fixed_monthly_usage_priced_and_spot_safe(section):
    text = "\n".join(section.lines)
    assert "/month" in text.splitlines()[0] and "fixed" in text.splitlines()[0]
    assert "reservation of pool block: 2 x p5.48xlarge" in text and "paid whether used or not" in text
    assert "usage-priced, not in the figures:" in text and "S3" in text
    spot = {line.split()[0]: line for line in section.lines if line.startswith("  ") and ("spot saves" in line or "no published spot" in line)}
    assert "checkpointing and requeue" in spot["train"] and "interruption" in spot["serve"]
    assert any(line.startswith("  block: reserved capacity only") for line in section.lines)
    assert "730 h/month" in text


def test_diff_shows_the_same_range_as_plan(section):
    head = {"cost": section.data}
    base = {"cost": section_of(spec_of("dev", pools=POOLS[:1])).data}
    diff = diff_plans(base, head)
    assert diff.cost["head"] == {"min": section.data["atMinimum"], "maxLow": section.data["atMaximum"]["low"], "max": section.data["atMaximum"]["high"]}
    low, high = section.data["atMaximum"]["low"], section.data["atMaximum"]["high"]
    assert f"→ ${low:,.2f}-${high:,.2f}/h" in render(diff)
    assert "per month (730 h)" in render(diff)


@pytest.mark.parametrize("stack", shipped_stacks())
def test_every_shipped_stack_prices_what_it_builds(stack):
    spec = load_stack_file(REPO / "stacks" / f"Pulumi.{stack}.yaml")[0]
    cost = stack_cost(spec)
    section = section_of(spec)
    assert "/month" in section.lines[0]
    if spec.builds("compute") and spec.pools:
        assert {p.pool for p in cost.pools} == {p.name for p in spec.pools}
        assert all(p.capacity_types for p in cost.pools)
    if spec.builds("storage") and spec.storage.lustre.enabled:
        assert any(i.item.startswith("FSx for Lustre") for i in cost.baseline)
    if spec.teams and cost.pools:
        low, high = cost.at_maximum
        assert sum(t.at_max[1] for t in cost.teams) == pytest.approx(high) and sum(t.at_max[0] for t in cost.teams) == pytest.approx(low)


def test_the_shipped_prod_plan_prints_the_cost_section_and_diff_reads_it():
    document, lines = shipped_report("prod")
    assert "Cost per hour and per month" in lines
    diff = diff_plans(document, document)
    assert diff.cost["head"]["maxLow"] == document["cost"]["atMaximum"]["low"] < diff.cost["head"]["max"] == document["cost"]["atMaximum"]["high"]
