"""Fast image pulls (issue 16, item 3): a serving pool pulls with the fastest mechanism its AMI family supports, and
the plan states which one each model's start path gets, and why not a faster one.

Upstream facts the tests hold Crucible to:
- Bottlerocket's SOCI parallel pull is two settings, spelled as bottlerocket.dev documents them (API > settings >
  container-runtime-plugins): `settings.container-runtime.snapshotter = "soci"` and
  `settings.container-runtime-plugins.soci-snapshotter.pull-mode = "parallel-pull-unpack"`.
- They arrived with core kit 10.0.0 ("Add soci-snapshotter support ... parallel pull unpack", 2025-07-25), which
  Bottlerocket 1.44.0 is the first release to ship (its package list: core kit 10.0.1, soci-snapshotter 0.11.1);
  bottlerocket-os/bottlerocket#4578 tracks the feature. Bottlerocket 1.42.0 has neither setting.
- The EKS AL2023 AMIs ship no SOCI snapshotter (ai-on-eks, "Using SOCI snapshotter": "currently isn't the default
  in EKS AMIs"; it is installed from GitHub at boot there, which Crucible does not do on private nodes).
"""

from __future__ import annotations

import functools
import tomllib

import pytest

from helpers import plan, shipped_report, spec_of
from stacks.derive.image_pull import BOTTLEROCKET_SOCI_PARALLEL_PULL, pull_mode

NODECLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
SERVE = {"name": "serve", "kind": "gpu", "workload": "serving", "instanceTypes": ["g6e.xlarge"], "maxNodes": 2}


# The releases around SOCI's parallel pull (1.42-1.44) predate Bottlerocket's Kubernetes 1.34 variants (1.47.0), so
# the pools here are on a 1.33 cluster (its variants since 1.39.0), which the spec accepts them on.
CLUSTER = {"version": "1.33"}


def _pool(**fields):
    return spec_of("dev", pools=[{**SERVE, **fields}], cluster=CLUSTER).pools[0]


@functools.lru_cache(maxsize=None)
def _node_class(**fields) -> dict:
    r = plan("dev", pools=[{**SERVE, **fields}], cluster=CLUSTER).one(NODECLASS)
    return {k: r.inputs[k] for k in ("apiVersion", "kind", "metadata", "spec")}


def _settings(node_class: dict) -> dict:
    return tomllib.loads(node_class["spec"]["userData"])["settings"]


def test_the_first_bottlerocket_release_with_soci_parallel_pull_is_1_44_0():
    assert BOTTLEROCKET_SOCI_PARALLEL_PULL == (1, 44, 0)
    assert pull_mode(_pool(amiFamily="Bottlerocket", amiVersion="1.44.0")).parallel
    assert pull_mode(_pool(amiFamily="Bottlerocket", amiVersion="1.53.1")).parallel
    assert pull_mode(_pool(amiFamily="Bottlerocket", amiVersion="latest")).parallel
    assert not pull_mode(_pool(amiFamily="Bottlerocket", amiVersion="1.43.9")).parallel


def test_a_bottlerocket_serving_pool_pulls_through_the_soci_snapshotter_in_parallel_pull_unpack_mode():
    settings = _settings(_node_class(amiFamily="Bottlerocket", amiVersion="1.44.0"))
    assert settings["container-runtime"] == {"snapshotter": "soci"}
    assert settings["container-runtime-plugins"] == {"soci-snapshotter": {"pull-mode": "parallel-pull-unpack"}}


def test_the_soci_node_class_is_valid_against_the_upstream_crd():
    import upstream
    from helpers import shared_dir

    shared_dir()
    upstream.assert_valid(_node_class(amiFamily="Bottlerocket", amiVersion="1.44.0"))


def test_soci_settings_sit_beside_the_boot_labels_in_one_toml_document():
    from components.node_pool import NodePoolArgs, user_data

    args = NodePoolArgs(
        name="serve",
        kind="gpu",
        workload="serving",
        instance_types=["g6e.xlarge"],
        arch=["amd64"],
        capacity_types=["on-demand"],
        zones=["us-east-1a"],
        subnet_ids=["subnet-1"],
        limits={},
        efa_interfaces=0,
        max_pods=110,
        ami_family="Bottlerocket",
        ami_alias="bottlerocket@v1.44.0",
        root_volume_gib=20,
        data_volume_gib=None,
        instance_store_raid0=False,
        imds_hop_limit=1,
        node_role_name="role",
        volume_kms_key_arn="arn",
        cluster_name="c",
        cluster_security_group_id="sg",
        vpc_id="vpc",
        boot_labels={"crucible.io/burn-in": "pending"},
        soci_parallel_pull=True,
    )
    settings = tomllib.loads(user_data(args) or "")["settings"]
    assert settings["kubernetes"]["node-labels"] == {"crucible.io/burn-in": "pending"}
    assert settings["container-runtime"]["snapshotter"] == "soci"
    with pytest.raises(ValueError, match="Bottlerocket setting"):
        user_data(NodePoolArgs(**{**args.__dict__, "ami_family": "AL2023", "ami_alias": "al2023@v20251108"}))


@pytest.mark.parametrize(
    "fields",
    [
        {"amiFamily": "Bottlerocket", "amiVersion": "1.42.0"},  # a release before 1.44.0: planned, not refused, serial pull
        {"amiFamily": "Bottlerocket", "amiVersion": "1.44.0", "workload": "training"},  # not a serving pool
        {"amiFamily": "AL2023"},
    ],
)
def test_pools_without_soci_parallel_pull_are_planned_with_the_amis_default_pull(fields):
    spec = _node_class(**fields)["spec"]
    assert "soci" not in spec.get("userData", "")


def test_the_start_path_says_why_a_pool_pulls_serially():
    old = pull_mode(_pool(amiFamily="Bottlerocket", amiVersion="1.42.0"))
    assert not old.parallel and "1.42.0" in old.reason and "1.44.0" in old.reason
    al2023 = pull_mode(_pool(amiFamily="AL2023"))
    assert not al2023.parallel and "no SOCI snapshotter" in al2023.reason


def test_a_parallel_pull_shortens_the_stated_cold_start():
    from stacks.derive.serving import replica_shape, start_path

    spec = spec_of(
        "dev",
        pools=[{**SERVE, "amiFamily": "Bottlerocket", "amiVersion": "1.44.0"}, {**SERVE, "name": "al"}],
        teams=[{"name": "llm", "memberGroups": ["llm-users"]}],
        serving={"models": [{"name": "m", "model": "Qwen/Qwen2.5-7B-Instruct", "pool": "serve", "weights": "hub"}]},
        cluster=CLUSTER,
    )
    model = spec.serving.models[0]
    fast, slow = spec.pools
    shape = replica_shape(model, fast)
    parallel, serial = start_path(model, shape, "img", pull_mode(fast)), start_path(model, shape, "img", pull_mode(slow))
    assert parallel.pull == "parallel" and serial.pull == "serial"
    assert parallel.seconds < serial.seconds
    assert "SOCI parallel pull" in parallel.describe() and "no SOCI snapshotter" in serial.describe()


def test_the_inference_plan_states_each_models_pull_mechanism():
    document, _ = shipped_report("inference")
    for entry in document["serving"]:
        assert entry["imagePull"] in ("parallel", "serial")
        if entry["imagePull"] == "serial":
            assert "no SOCI snapshotter" in entry["startPath"] or "predates the SOCI" in entry["startPath"], entry
