"""The cost model (stacks/derive/cost.py): capacity types, fixed costs, $/month and per-team showback.

Every expected figure is computed here from the data files it comes from (the instance catalog, spot.yaml,
service_prices.yaml), never copied from the program's output, so a changed price changes both sides.
"""

from __future__ import annotations

import math

import pytest

from helpers import spec_of
from components.catalog import load_catalog

from stacks.derive.cost import HOURS_PER_MONTH, flavor_prices, spot_savings_percent, stack_cost
from stacks.derive.prices import service_prices, spot_table
from stacks.spec import ConfigError

CATALOG = load_catalog()  # instance types' facts: CATALOG.get(name)

PRICES = service_prices()


def od(instance_type: str) -> float:
    return CATALOG.get(instance_type).price_per_hour


def spot(instance_type: str) -> float:
    return od(instance_type) * (1 - spot_table().savings_percent[instance_type.split(".")[0]] / 100)


def pool(**over) -> dict:
    return {"name": "p", "kind": "gpu", "workload": "serving", "instanceTypes": ["g6.xlarge"], "maxNodes": 4, **over}


def only_pool(spec):
    (p,) = stack_cost(spec).pools
    return p


RESERVATION = {"ids": ["cr-0123456789abcdef0"]}

# capacity types -> (low, high) per node of g6.xlarge at the limit, beyond any reservation
CAPACITY_CASES = [
    pytest.param(["on-demand"], lambda: (od("g6.xlarge"), od("g6.xlarge")), id="on-demand: list price"),
    pytest.param(["spot"], lambda: (spot("g6.xlarge"), spot("g6.xlarge")), id="spot only: the stated saving"),
    pytest.param(["spot", "on-demand"], lambda: (spot("g6.xlarge"), od("g6.xlarge")), id="spot and on-demand: all spot .. all on-demand"),
]


@pytest.mark.parametrize("types, per_node", CAPACITY_CASES)
def test_a_pools_capacity_types_decide_its_price_at_the_limit(types, per_node):
    p = only_pool(spec_of("dev", pools=[pool(capacityTypes=types)]))
    low, high = per_node()
    assert p.capacity_types == tuple(t for t in ("spot", "on-demand") if t in types)
    assert p.at_max == pytest.approx((4 * low, 4 * high))
    assert p.reserved_per_hour == 0


def test_a_pool_of_several_types_spans_cheapest_spot_to_dearest_on_demand():
    p = only_pool(spec_of("dev", pools=[pool(instanceTypes=["g6.xlarge", "g6.2xlarge"], capacityTypes=["spot", "on-demand"])]))
    assert p.at_max == pytest.approx((4 * spot("g6.xlarge"), 4 * od("g6.2xlarge")))


def test_a_pool_bounded_by_accelerators_prices_the_nodes_each_type_needs():
    p = only_pool(spec_of("dev", pools=[pool(instanceTypes=["g6.xlarge", "g6.12xlarge"], maxNodes=None, maxAccelerators=8)]))
    per_node = {t: CATALOG.get(t).accelerator_count for t in ("g6.xlarge", "g6.12xlarge")}
    costs = [math.ceil(8 / per_node[t]) * od(t) for t in per_node]
    assert p.at_max == pytest.approx((min(costs), max(costs)))


def test_a_family_without_a_published_spot_saving_is_never_priced_below_on_demand():
    assert spot_table().savings_percent["p5e"] is None
    p = only_pool(spec_of("dev", pools=[pool(instanceTypes=["p5e.48xlarge"], maxNodes=2, capacityTypes=["spot", "on-demand"])]))
    assert p.at_max == pytest.approx((2 * od("p5e.48xlarge"), 2 * od("p5e.48xlarge")))
    assert p.spot.percent is None and p.spot.savings_high == 0


def test_a_stack_states_its_own_spot_saving_per_family():
    spec = spec_of("dev", pools=[pool(capacityTypes=["spot"])], cost={"spotSavingsPercent": {"g6": 30}})
    assert spot_savings_percent("g6", spec.cost.spot_savings_percent) == 30
    assert only_pool(spec).at_max == pytest.approx((4 * od("g6.xlarge") * 0.7,) * 2)


@pytest.mark.parametrize(
    "reserved_nodes, capacity_types, fixed_nodes, variable",
    [
        pytest.param(None, ["reserved"], 4, (0, 0), id="size not stated: the pool's limit, all fixed"),
        pytest.param(1, ["reserved", "on-demand"], 1, ("od", "od"), id="1 reserved, 3 on demand beyond it"),
        pytest.param(3, ["reserved", "spot", "on-demand"], 3, ("spot", "od"), id="3 reserved, 1 spot..on-demand beyond it"),
    ],
)
def test_a_reserved_pool_pays_its_reservation_as_a_fixed_cost(reserved_nodes, capacity_types, fixed_nodes, variable):
    cost = {"reservedNodes": {"p": reserved_nodes}} if reserved_nodes else {}
    spec = spec_of("dev", pools=[pool(capacityTypes=capacity_types, capacityReservation=RESERVATION)], cost=cost)
    c = stack_cost(spec)
    (p,) = c.pools
    assert (p.reserved_nodes, p.reserved_type, p.reserved_assumed) == (fixed_nodes, "g6.xlarge", reserved_nodes is None)
    assert p.reserved_per_hour == pytest.approx(fixed_nodes * od("g6.xlarge"))
    price = {"od": od("g6.xlarge"), "spot": spot("g6.xlarge"), 0: 0}
    left = 4 - fixed_nodes
    assert (p.per_hour_low, p.per_hour_high) == pytest.approx((left * price[variable[0]], left * price[variable[1]]))
    # paid at minimum scale too: pools empty, the reservation is not
    assert c.at_minimum == pytest.approx(sum(i.per_hour_high for i in c.baseline) + fixed_nodes * od("g6.xlarge"))


def fixed(spec) -> dict[str, float]:
    return {i.item.split(" (")[0]: i.per_hour_high for i in stack_cost(spec).baseline}


@pytest.mark.parametrize(
    "deployment, throughput, capacity",
    [
        ("SCRATCH_2", None, 1200),
        ("PERSISTENT_1", 50, 2400),
        ("PERSISTENT_1", 200, 2400),
        ("PERSISTENT_2", 125, 1200),
        ("PERSISTENT_2", 250, 4800),
        ("PERSISTENT_2", 500, 7200),
        ("PERSISTENT_2", 1000, 2400),
    ],
)
def test_lustre_is_priced_per_gb_month_by_deployment_type_and_throughput_tier(deployment, throughput, capacity):
    lustre = {"deploymentType": deployment, "storageCapacityGib": capacity}
    if throughput:
        lustre["perUnitStorageThroughput"] = throughput
    spec = spec_of("dev", storage={"lustre": lustre})
    tier = throughput or 200  # SCRATCH_2: its fixed baseline
    rate = PRICES.lustre_per_gb_month[deployment][tier]
    assert fixed(spec)["FSx for Lustre"] == pytest.approx(capacity * rate / HOURS_PER_MONTH)


def test_the_lustre_tiers_are_the_reference_regions_list_prices():
    """us-east-1 list prices per GB-month (aws.amazon.com/fsx/lustre/pricing): a typo in the table fails here."""
    assert PRICES.reference_region == "us-east-1"
    assert PRICES.lustre_per_gb_month == {
        "SCRATCH_2": {200: 0.140},
        "PERSISTENT_1": {50: 0.145, 100: 0.210, 200: 0.290},
        "PERSISTENT_2": {125: 0.145, 250: 0.210, 500: 0.340, 1000: 0.600},
    }


def test_no_lustre_no_lustre_cost():
    assert "FSx for Lustre" not in fixed(spec_of("dev", storage={"lustre": {"enabled": False}}))


@pytest.mark.parametrize(
    "endpoints, zones", [(["ecr.api", "ecr.dkr"], ["us-west-2a", "us-west-2b"]), (["ecr.api", "ecr.dkr", "sts"], ["us-west-2a", "us-west-2b", "us-west-2c"])]
)
def test_interface_endpoints_cost_per_endpoint_per_az_hour(endpoints, zones):
    spec = spec_of("dev", availabilityZones=zones, network={"interfaceEndpoints": endpoints})
    assert fixed(spec)["interface endpoints"] == pytest.approx(len(endpoints) * len(zones) * PRICES.interface_endpoint_per_az_hour)


def test_no_interface_endpoints_no_endpoint_cost():
    assert "interface endpoints" not in fixed(spec_of("dev", network={"interfaceEndpoints": []}))


@pytest.mark.parametrize("nat, gateways", [("single", 1), ("perAz", 2)])
def test_nat_is_priced_per_gateway_hour(nat, gateways):
    assert fixed(spec_of("dev", network={"natGateways": nat}))["NAT gateways"] == pytest.approx(gateways * PRICES.nat_gateway_per_hour)


def test_the_control_plane_and_system_nodes_are_fixed_costs():
    spec = spec_of("dev")
    group = spec.cluster.system_node_group
    costs = fixed(spec)
    assert costs["EKS control plane"] == PRICES.eks_cluster_per_hour
    assert costs["system nodes"] == pytest.approx(group.desired_size * max(od(t) for t in group.instance_types))


def test_monthly_figures_are_730_hours_of_the_hourly_ones():
    doc = stack_cost(spec_of("dev", pools=[pool(capacityTypes=["spot", "on-demand"])])).to_json()
    assert HOURS_PER_MONTH == 730 and doc["hoursPerMonth"] == 730
    assert doc["perMonth"]["atMinimum"] == pytest.approx(doc["atMinimum"] * 730, abs=730 * 0.0006)
    for end in ("low", "high"):
        assert doc["perMonth"]["atMaximum"][end] == pytest.approx(doc["atMaximum"][end] * 730, abs=730 * 0.0006)
    for item in doc["baseline"] + doc["pools"]:
        assert item["perMonthHigh"] == pytest.approx(item["perHourHigh"] * 730, abs=730 * 0.0006)


def test_usage_priced_items_are_named_not_priced():
    doc = stack_cost(spec_of("dev")).to_json()
    named = " ".join(doc["usagePriced"])
    for item in ("S3", "data transfer", "LCU", "NAT gateway data processing"):
        assert item in named


@pytest.mark.parametrize(
    "workload, safe",
    [("serving", True), ("interactive", True), ("training", False)],
)
def test_spot_advice_per_pool_says_what_spot_saves_and_whether_it_is_safe(workload, safe):
    p = only_pool(spec_of("dev", pools=[pool(workload=workload)]))
    assert p.spot.safe is safe
    assert ("checkpoint" in p.spot.why) is (workload == "training")
    assert ("interruption" in p.spot.why) is (workload != "training")
    assert p.spot.savings_high == pytest.approx(4 * (od("g6.xlarge") - spot("g6.xlarge")))
    assert p.spot.allowed is False


# ---- showback ---------------------------------------------------------------------------------------------

TEAMS = [
    {"name": "llm", "adminGroups": ["llm-admins"], "shares": {"train": 50, "serve": 25}},
    {"name": "vision", "adminGroups": ["vision-admins"], "shares": {"train": 25, "serve": 25}},
]
POOLS = [
    pool(name="train", workload="training", instanceTypes=["g6.12xlarge"], maxNodes=2),
    pool(name="serve", instanceTypes=["g6.xlarge", "g6.2xlarge"], capacityTypes=["spot", "on-demand"], maxNodes=4),
    pool(name="cpu", kind="cpu", workload="interactive", instanceTypes=["m7i.xlarge"], maxNodes=3),
]


@pytest.fixture(scope="module")
def showback_spec():
    return spec_of("dev", pools=POOLS, teams=TEAMS)


def test_showback_rows_add_up_to_the_stacks_maximum(showback_spec):
    c = stack_cost(showback_spec)
    low, high = c.at_maximum
    assert sum(t.at_max[0] for t in c.teams) == pytest.approx(low)
    assert sum(t.at_max[1] for t in c.teams) == pytest.approx(high)
    assert sum(t.fixed_share for t in c.teams) == pytest.approx(c.at_minimum)


def test_showback_charges_each_team_its_nominal_share_of_each_pool(showback_spec):
    c = stack_cost(showback_spec)
    by_pool = {p.pool: p.at_max[1] for p in c.pools}
    teams = {t.team: t for t in c.teams}
    # train (8 GPUs) and serve (4 GPUs) as named; the cpu pool (12 cores, named by no team) evenly; what no share
    # holds is unassigned (every share here is a whole number of units, so the nominal quotas are exactly the shares)
    assert teams["llm"].pools_high == pytest.approx(0.5 * by_pool["train"] + 0.25 * by_pool["serve"] + 0.5 * by_pool["cpu"])
    assert teams["vision"].pools_high == pytest.approx(0.25 * by_pool["train"] + 0.25 * by_pool["serve"] + 0.5 * by_pool["cpu"])
    assert teams["(unassigned)"].pools_high == pytest.approx(0.25 * by_pool["train"] + 0.5 * by_pool["serve"])


def test_fixed_costs_split_by_nominal_share_of_pool_spend(showback_spec):
    c = stack_cost(showback_spec)
    spend = sum(t.pools_high for t in c.teams)
    for t in c.teams:
        assert t.share_percent == pytest.approx(100 * t.pools_high / spend)
        assert t.fixed_share == pytest.approx(c.at_minimum * t.pools_high / spend)


def test_no_teams_no_showback():
    assert "showback" not in stack_cost(spec_of("dev", pools=POOLS)).to_json()


def test_runtime_prices_charge_a_full_quota_what_the_plan_says(showback_spec):
    """The recording rule's price per unit x a pool's units = the pool's cost at its limit (dearest)."""
    prices = {p.flavor: p for p in flavor_prices(showback_spec)}
    units = {
        "train": 2 * CATALOG.get("g6.12xlarge").accelerator_count,
        "serve": 4 * CATALOG.get("g6.2xlarge").accelerator_count,
        "cpu": 3 * CATALOG.get("m7i.xlarge").vcpu,
    }
    for p in stack_cost(showback_spec).pools:
        assert prices[p.pool].usd_per_unit_hour * units[p.pool] == pytest.approx(p.at_max[1])
    assert {p.flavor: p.resource for p in prices.values()} == {"train": "nvidia.com/gpu", "serve": "nvidia.com/gpu", "cpu": "cpu"}


# ---- config -----------------------------------------------------------------------------------------------


def problems(**over) -> dict[str, str]:
    with pytest.raises(ConfigError) as raised:
        spec_of("dev", **over)
    return {p.path: p.message for p in raised.value.problems}


def test_bad_cost_settings_are_refused_together_naming_key_value_and_what_is_allowed():
    found = problems(cost={"spotSavingsPercent": {"g6": 120, "g7x": 50}, "reservedNodes": {"zz": 0}})
    assert "120" in found["crucible:cost.spotSavingsPercent.g6"] and "0 to 95" in found["crucible:cost.spotSavingsPercent.g6"]
    assert "'g7x'" in found["crucible:cost.spotSavingsPercent.g7x"] and "instance family" in found["crucible:cost.spotSavingsPercent.g7x"]
    assert "got 0" in found["crucible:cost.reservedNodes.zz"] and "1 or more" in found["crucible:cost.reservedNodes.zz"]


def test_a_reservation_size_must_name_a_reserved_pool_within_its_limit():
    found = problems(
        pools=[pool(), pool(name="r", capacityTypes=["reserved"], capacityReservation=RESERVATION, maxNodes=2)],
        cost={"reservedNodes": {"p": 1, "r": 5}},
    )
    assert "got 'p'" in found["crucible:cost.reservedNodes.p"] and "capacity type 'reserved' (r)" in found["crucible:cost.reservedNodes.p"]
    assert "got 5" in found["crucible:cost.reservedNodes.r"] and "maxNodes (2)" in found["crucible:cost.reservedNodes.r"]
