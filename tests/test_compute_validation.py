"""Invalid pools are config errors naming the key path, before any resource is registered."""

import pytest


from helpers import spec_of
from stacks.spec import ConfigError

P5 = {"name": "train", "kind": "gpu", "workload": "training", "instanceTypes": ["p5.48xlarge"], "efa": True, "maxNodes": 2}
G6 = {"name": "serve", "kind": "gpu", "workload": "serving", "instanceTypes": ["g6.xlarge"], "maxNodes": 2}


def problems(env="dev", **pool):
    with pytest.raises(ConfigError) as caught:
        spec_of(env, pools=[pool])
    return {p.path: p.message for p in caught.value.problems}


def test_unknown_instance_type_lists_close_matches():
    found = problems(**{**G6, "instanceTypes": ["g6.xlarge", "p5.48xlarg"]})
    message = found["crucible:pools[0].instanceTypes[1]"]
    assert "'p5.48xlarg'" in message and "p5.48xlarge" in message


def test_unknown_family_is_an_error_too():
    assert "crucible:pools[0].instanceTypes[0]" in problems(**{**G6, "instanceTypes": ["g99"]})


def test_efa_on_a_type_without_efa():
    message = problems(**{**G6, "efa": True})["crucible:pools[0].instanceTypes[0]"]
    assert "no EFA" in message


def test_neuron_pool_with_nvidia_types_and_gpu_pool_with_neuron_types():
    assert "NVIDIA" in problems(**{**G6, "kind": "neuron"})["crucible:pools[0].instanceTypes[0]"]
    assert "Neuron" in problems(**{**G6, "instanceTypes": ["inf2.xlarge"]})["crucible:pools[0].instanceTypes[0]"]


def test_cpu_pool_with_accelerator_types():
    assert "crucible:pools[0].instanceTypes[0]" in problems(**{**G6, "kind": "cpu"})


def test_reserved_capacity_needs_a_reservation_selector():
    found = problems(**{**P5, "capacityTypes": ["reserved"]})
    assert "reservation" in found["crucible:pools[0].capacityReservation"]


def test_efa_pool_over_several_zones():
    found = problems(**{**P5, "zones": ["us-west-2a", "us-west-2b"]})
    assert "one zone" in found["crucible:pools[0].zones"]


@pytest.mark.parametrize("limits", [{"maxNodes": 2, "maxAccelerators": 16}, {"maxNodes": None}])
def test_max_nodes_xor_max_accelerators(limits):
    found = problems(**{**P5, **limits})
    assert "exactly one of maxNodes or maxAccelerators" in found["crucible:pools[0].maxNodes"]


@pytest.mark.parametrize("version", ["latest", None])
def test_prod_needs_a_pinned_ami(version):
    pool = {**G6} if version is None else {**G6, "amiVersion": version}
    assert "crucible:pools[0].amiVersion" in problems("prod", **pool)


def test_ami_version_must_match_the_family():
    assert "Bottlerocket" in problems(**{**G6, "amiFamily": "Bottlerocket", "amiVersion": "v20251108"})["crucible:pools[0].amiVersion"]


def test_efa_pool_types_must_share_an_efa_maximum():
    found = problems(**{**P5, "instanceTypes": ["p5.48xlarge", "p4d.24xlarge"]})
    assert "crucible:pools[0].instanceTypes" in found


def test_a_valid_pool_passes():
    spec = spec_of("prod", pools=[{**P5, "amiVersion": "v20251108"}])
    assert spec.pools[0].ami_alias == "al2023@v20251108"
