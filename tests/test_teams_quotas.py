"""stacks/derive/quotas.py: ClusterQueue quotas are the teams' shares of each pool's capacity and never exceed it."""

from __future__ import annotations

import pytest

from helpers import spec_of
from stacks.derive.capacity import pool_capacity
from components.labels import HUGEPAGES_RESOURCE
from stacks.derive.quotas import EFA_RESOURCE, plan_queues, pool_resources, split

POOLS = [
    {"name": "train", "kind": "gpu", "workload": "training", "instanceTypes": ["p5.48xlarge"], "efa": True, "maxNodes": 3},
    {"name": "serve", "kind": "gpu", "workload": "serving", "instanceTypes": ["g6e.xlarge"], "maxNodes": 5},
    {"name": "cpu", "kind": "cpu", "workload": "serving", "instanceTypes": ["m7i.2xlarge"], "maxNodes": 7},
]


def team(name: str, **extra) -> dict:
    return {"name": name, "memberGroups": [f"{name}-users"], **extra}


def queues(*teams: dict):
    spec = spec_of("dev", pools=POOLS, teams=list(teams))
    return spec, plan_queues(spec.teams, spec.pools)


def test_uneven_shares_add_up_to_the_pool_and_round_deterministically():
    spec, plan = queues(team("a", shares={"serve": 33.3}), team("b", shares={"serve": 33.3}), team("c", shares={"serve": 33.4}))
    gpus = {t: plan.quotas[t]["serve"].nominal["nvidia.com/gpu"] for t in ("a", "b", "c")}
    assert sum(gpus.values()) == pool_capacity(spec.pools[1]).accelerators == 5
    assert gpus == {"a": 2, "b": 1, "c": 2}  # 1.665, 1.665, 1.67: the two largest remainders, ties in config order
    assert plan_queues(spec.teams, spec.pools).quotas["a"]["serve"].nominal == plan.quotas["a"]["serve"].nominal


@pytest.mark.parametrize("total", [0, 1, 7, 13, 64, 1001])
def test_split_never_exceeds_the_total_and_is_exact_at_100_percent(total):
    from fractions import Fraction

    for percents in ({"a": Fraction(100, 3), "b": Fraction(100, 3), "c": Fraction(100, 3)}, {"a": Fraction(50), "b": Fraction(30), "c": Fraction(20)}):
        assert sum(split(total, percents).values()) == total
    partial = split(total, {"a": Fraction(45), "b": Fraction(45)})
    assert sum(partial.values()) <= total * 90 // 100 + 0 and all(v >= 0 for v in partial.values())


def test_no_shares_split_every_pool_evenly():
    spec, plan = queues(team("a"), team("b"), team("c"))
    for pool in spec.pools:
        cap = pool_resources(pool).amounts
        for resource, total in cap.items():
            values = [plan.quotas[t][pool.name].nominal[resource] for t in ("a", "b", "c")]
            assert sum(values) == total and max(values) - min(values) <= 1


def test_a_pool_named_by_some_teams_goes_to_those_teams_only():
    spec, plan = queues(team("a", shares={"train": 100}), team("b"))
    assert plan.quotas["b"]["train"].nominal["nvidia.com/gpu"] == 0
    assert plan.quotas["a"]["train"].nominal["nvidia.com/gpu"] == 24
    assert plan.quotas["b"]["serve"].nominal["nvidia.com/gpu"] + plan.quotas["a"]["serve"].nominal["nvidia.com/gpu"] == 5


def test_shares_under_100_percent_leave_the_rest_unassigned():
    spec, plan = queues(team("a", shares={"train": 30}), team("b", shares={"train": 20}))
    assert plan.totals("train")["nvidia.com/gpu"] == 12


def test_borrowing_never_lets_one_queue_exceed_the_pool():
    spec, plan = queues(
        team("a", shares={"train": 50}), team("b", shares={"train": 50}, borrowing={"borrowingLimit": 25}), team("c", borrowing={"borrowingLimit": False})
    )
    for pool in spec.pools:
        total = pool_resources(pool).amounts
        for t in ("a", "b", "c"):
            q = plan.quotas[t][pool.name]
            for resource, amount in total.items():
                assert q.nominal[resource] + q.borrowing[resource] <= amount
    assert plan.quotas["a"]["train"].borrowing["nvidia.com/gpu"] == 12  # everything the others hold
    assert plan.quotas["b"]["train"].borrowing["nvidia.com/gpu"] == 6  # 25% of 24
    assert plan.quotas["c"]["serve"].borrowing["nvidia.com/gpu"] == 0


def test_lending_limits_are_a_share_of_the_team_quota():
    spec, plan = queues(
        team("a", shares={"train": 50}, borrowing={"lendingLimit": 50}), team("b", shares={"train": 50}, borrowing={"lendingLimit": False}), team("c")
    )
    assert plan.quotas["a"]["train"].lending["nvidia.com/gpu"] == 6
    assert plan.quotas["b"]["train"].lending["nvidia.com/gpu"] == 0
    assert plan.quotas["c"]["train"].lending is None
    cq = next(q for q in plan.cluster_queues if q["metadata"]["name"] == "c")
    assert all("lendingLimit" not in r for f in cq["spec"]["resourceGroups"][0]["flavors"] for r in f["resources"])


def test_efa_pools_cover_efa_devices_but_no_queue_covers_huge_pages():
    spec, plan = queues(team("a"))
    train = pool_resources(spec.pools[0])
    cap = pool_capacity(spec.pools[0])
    assert train.amounts[EFA_RESOURCE] == cap.max_nodes * cap.efa_interfaces
    assert HUGEPAGES_RESOURCE not in train.amounts  # no node has any (Karpenter models none): Kueue refuses them
    assert EFA_RESOURCE not in pool_resources(spec.pools[1]).amounts
    assert EFA_RESOURCE in plan.covered and HUGEPAGES_RESOURCE not in plan.covered


def test_every_flavor_lists_every_covered_resource_in_order():
    """Kueue's CEL rule: flavors must have the same number of resources as coveredResources (same order)."""
    spec, plan = queues(team("a"), team("b"))
    for cq in plan.cluster_queues:
        for group in cq["spec"]["resourceGroups"]:
            for flavor in group["flavors"]:
                assert [r["name"] for r in flavor["resources"]] == group["coveredResources"]


def test_cpu_flavors_come_first_so_cpu_jobs_do_not_take_accelerator_nodes():
    spec, plan = queues(team("a"))
    assert [f["metadata"]["name"] for f in plan.flavors] == ["cpu", "train", "serve"]
