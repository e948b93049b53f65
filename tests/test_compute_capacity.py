"""Capacity figures (stacks/derive/capacity.py) and the plan's capacity table and JSON section."""

import json

from helpers import plan_exit_code, shipped_report, spec_of
from components.catalog import load_catalog
from components.node_pool import efa_network_interfaces
from stacks.derive.capacity import pool_capacity

CATALOG = load_catalog()  # instance types' facts: CATALOG.get(name)

P5 = {"name": "train", "kind": "gpu", "workload": "training", "instanceTypes": ["p5.48xlarge"], "efa": True, "maxNodes": 4}


def pool(env="dev", **overrides):
    return spec_of(env, pools=[{**P5, **overrides}]).pools[0]


def test_capacity_at_max_nodes_multiplies_the_catalog_figures():
    facts = CATALOG.get("p5.48xlarge")
    cap = pool_capacity(pool())
    assert cap.instance_types == ("p5.48xlarge",)
    assert (cap.max_nodes, cap.vcpu, cap.accelerators) == (4, 4 * facts.vcpu, 4 * facts.accelerator_count)
    assert cap.accelerator_memory_gib == 4 * facts.accelerator_count * facts.accelerator_memory_gib
    assert (cap.efa_interfaces, cap.efa_max, cap.network_gbps) == (facts.efa_interfaces, facts.efa_interfaces, facts.network_gbps)
    assert cap.per_hour_low == cap.per_hour_high == 4 * facts.price_per_hour


def test_capacity_at_max_accelerators_rounds_nodes_up():
    # A mixed pool: the larger type's node count rounds up (a pool of one type must state a whole number of nodes;
    # tests/test_spec_refused_configs.py), the limit is the stated count.
    small, large = CATALOG.get("g6e.xlarge"), CATALOG.get("g6e.12xlarge")
    stated = large.accelerator_count + 1
    cap = pool_capacity(pool(maxNodes=None, maxAccelerators=stated, efa=False, instanceTypes=["g6e.xlarge", "g6e.12xlarge"]))
    assert {t.instance_type: t.nodes for t in cap.types} == {"g6e.xlarge": stated // small.accelerator_count, "g6e.12xlarge": 2}
    assert cap.accelerators == stated and cap.limits()["nvidia.com/gpu"] == str(stated)


def test_efa_off_means_no_interfaces_configured_but_the_maximum_is_shown():
    cap = pool_capacity(pool(efa=False))
    assert cap.efa_interfaces == 0 and cap.efa_max == CATALOG.get("p5.48xlarge").efa_interfaces
    assert cap.efa_share == 0


def test_price_range_spans_the_pools_types():
    cap = pool_capacity(
        spec_of("dev", pools=[{"name": "s", "kind": "gpu", "workload": "serving", "instanceTypes": ["g6.xlarge", "g6.12xlarge"], "maxNodes": 3}]).pools[0]
    )
    prices = sorted(3 * CATALOG.get(t).price_per_hour for t in ("g6.xlarge", "g6.12xlarge"))
    assert (cap.per_hour_low, cap.per_hour_high) == (prices[0], prices[1])


def test_efa_layout_is_one_efa_per_network_card():
    layout = efa_network_interfaces(4)
    assert [i for i in layout if i["interfaceType"] == "interface"] == [{"networkCardIndex": 0, "deviceIndex": 0, "interfaceType": "interface"}]
    assert sorted(i["networkCardIndex"] for i in layout if i["interfaceType"] == "efa-only") == [0, 1, 2, 3]
    assert efa_network_interfaces(0) == []


def test_train_p5_plan_shows_every_efa_interface_at_full_bandwidth():
    document, lines = shipped_report("train-p5")
    assert plan_exit_code(document) == 0
    out = "\n".join(lines)
    facts = CATALOG.get("p5.48xlarge")
    line = next(line for line in out.splitlines() if line.strip().startswith("p5-train"))
    assert f"{facts.efa_interfaces}/{facts.efa_interfaces} EFA, {facts.network_gbps:g} Gbps, 100%" in line
    assert "32/32 EFA, 3200 Gbps, 100%" in line  # the acceptance figure for p5.48xlarge


def test_capacity_json_section_reads_the_registered_node_class():
    document, _ = shipped_report("trainium")
    section = document["capacity"]
    assert set(section) == {"trn2-train", "trn1-train", "cpu"}  # cpu: the teams' CPU-only work
    for _name, entry in ((n, e) for n, e in section.items() if n != "cpu"):
        (instance_type,) = entry["instanceTypes"]
        assert entry["efaInterfacesPerNode"] == entry["efaInterfacesMaxPerNode"] == CATALOG.get(instance_type).efa_interfaces
        assert entry["efaShare"] == 1.0
        assert entry["limits"]["aws.amazon.com/neuron"] == str(entry["acceleratorsAtMax"])
    json.dumps(document, default=str)


def test_no_capacity_section_without_pools():
    document, lines = shipped_report("prod-core")
    assert "capacity" not in document
