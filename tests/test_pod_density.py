"""Pods per node agree with the VPC CNI's prefix delegation: every EC2NodeClass sets kubelet.maxPods from the
instance catalog's network facts with the EKS max-pods formula (amazon-eks-ami max-pods-calculator.sh: interfaces of
the default network card x ((IPv4 per interface - 1) x 16) + 2, then at most 110 pods with 30 vCPUs or fewer and
250 above). Without it Karpenter assumes secondary-IP mode and caps a p5 with an EFA-only interface on card 0 at 51."""

from __future__ import annotations

import json
import re

import pytest

from helpers import shared_dir, shipped_report
from components.catalog import load_catalog
from stacks.derive.capacity import max_pods

CATALOG = load_catalog()  # instance types' facts: CATALOG.get(name)

NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"


def test_p5_with_efa_reaches_the_250_ceiling_instead_of_the_eni_limited_51():
    p5 = CATALOG.get("p5.48xlarge")
    assert max_pods(p5, efa=True, prefix_delegation=False) == 51  # what Karpenter computes without maxPods
    assert max_pods(p5, efa=True) == 250


def test_small_types_are_capped_at_110_and_large_ones_at_250():
    assert max_pods(CATALOG.get("m7i.large")) == 110  # 3 x (9 x 16) + 2 = 434 addresses, 2 vCPUs
    assert max_pods(CATALOG.get("m7i.8xlarge")) == 250  # 32 vCPUs
    assert max_pods(CATALOG.get("c7g.4xlarge")) == 110  # 16 vCPUs


def test_catalog_network_facts_give_karpenters_eni_limited_pod_counts():
    """The catalog's default-card interfaces and addresses per interface reproduce, type by type, the `pods` of
    Karpenter's instance-type reference (secondary-IP mode: interfaces x (addresses - 1) + 2)."""
    reference = (shared_dir() / "upstream/extras/karpenter/instance-types.md").read_text()
    documented = dict(re.findall(r"### `([a-z0-9]+\.[a-z0-9]+)`.*?\|pods\|(\d+)\|", reference, re.S))
    wrong = {
        t.name: (t.default_card_interfaces * (t.ipv4_per_interface - 1) + 2, int(documented[t.name]))
        for t in load_catalog()
        if t.default_card_interfaces * (t.ipv4_per_interface - 1) + 2 != int(documented[t.name])
    }
    assert wrong == {}


def _node_classes(stack: str) -> dict[str, dict]:
    document, _ = shipped_report(stack)
    return {r["inputs"]["metadata"]["name"]: r["inputs"]["spec"] for r in document["resources"] if r["type"] == NODE_CLASS}


@pytest.mark.parametrize("stack", ["prod", "train-p5", "trainium", "inference"])
def test_every_node_class_sets_max_pods_for_its_smallest_type(stack):
    document, _ = shipped_report(stack)
    classes = _node_classes(stack)
    assert classes
    for name, spec in classes.items():
        capacity = document["capacity"][name]
        efa = bool(spec.get("networkInterfaces"))
        expected = min(max_pods(CATALOG.get(t), efa=efa) for t in capacity["instanceTypes"])
        assert spec["kubelet"] == {"maxPods": expected}, name


def test_max_pods_follows_the_cni_configuration():
    document, _ = shipped_report("prod")
    cni = next(r for r in document["resources"] if r["type"] == "aws:eks/addon:Addon" and r["inputs"]["addonName"] == "vpc-cni")
    assert json.loads(cni["inputs"]["configurationValues"])["env"]["ENABLE_PREFIX_DELEGATION"] == "true"
    assert any(spec["kubelet"]["maxPods"] > 110 for spec in _node_classes("prod").values())


def test_capacity_table_shows_pods_per_node():
    document, lines = shipped_report("prod")
    text = "\n".join(lines)
    assert "pods/node" in text
    for name, entry in document["capacity"].items():
        assert entry["maxPodsPerNode"] == _node_classes("prod")[name]["kubelet"]["maxPods"]
        row = next(line for line in lines if line.startswith(f"  {name} ") or line.startswith(f"{name} "))
        assert f" {entry['maxPodsPerNode']} " in row, row
