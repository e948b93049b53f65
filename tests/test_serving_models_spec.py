"""serving.models[]: a model that cannot fit its replica is refused naming the key; the replica shape is derived from
the catalog (stacks/derive/serving.py); exposure and weight rules are config errors, all in one pass."""

from __future__ import annotations

import pytest

from stacks.derive.serving import KV_HEADROOM, replica_shape
from stacks.spec import ConfigError
from stacks.spec.loader import load_spec
from helpers import spec_of, stack_config

AMI = "v20251108"
POOLS = [
    {"name": "l40s", "kind": "gpu", "workload": "serving", "instanceTypes": ["g6e.xlarge"], "maxNodes": 4, "amiVersion": AMI},
    {"name": "l4", "kind": "gpu", "workload": "serving", "instanceTypes": ["g6.xlarge"], "maxNodes": 4, "amiVersion": AMI},
    {"name": "l40s-4", "kind": "gpu", "workload": "serving", "instanceTypes": ["g6e.12xlarge"], "maxNodes": 4, "amiVersion": AMI},
    {"name": "p5", "kind": "gpu", "workload": "serving", "instanceTypes": ["p5.48xlarge"], "efa": True, "maxNodes": 4, "amiVersion": AMI},
    {"name": "p5-noefa", "kind": "gpu", "workload": "serving", "instanceTypes": ["p5.48xlarge"], "maxNodes": 4, "amiVersion": AMI},
    {
        "name": "inf2",
        "kind": "neuron",
        "workload": "serving",
        "instanceTypes": ["inf2.xlarge", "inf2.8xlarge", "inf2.48xlarge"],
        "maxNodes": 4,
        "amiVersion": AMI,
    },
    {"name": "train", "kind": "gpu", "workload": "training", "instanceTypes": ["p5.48xlarge"], "efa": True, "maxNodes": 2, "amiVersion": AMI},
]
TEAMS = [{"name": "llm", "memberGroups": ["llm-users"]}]
LLAMA70 = "meta-llama/Llama-3.1-70B-Instruct"


def model(**overrides) -> dict:
    return {"name": "chat", "model": LLAMA70, "pool": "p5", "weightsBucket": "datasets", **overrides}


def problems(*models: dict, env: str = "dev") -> list[str]:
    config = stack_config(env, pools=POOLS, teams=TEAMS, serving={"models": list(models)})
    with pytest.raises(ConfigError) as caught:
        load_spec(config, "test")
    return [str(p) for p in caught.value.problems]


def shape(**overrides):
    spec = spec_of("dev", pools=POOLS, teams=TEAMS, serving={"models": [model(**overrides)]})
    m = spec.serving.models[0]
    return replica_shape(m, next(p for p in spec.pools if p.name == m.pool))


# ---- the fit check, table-driven -------------------------------------------------------------------------------

REFUSED = [
    # (what, model overrides, the key named, words of the message)
    ("70B bf16 on one 48 GB GPU", {"pool": "l40s"}, "tensorParallelSize", "131.5 GiB of weights"),
    ("70B bf16 on two 48 GB GPUs (TP 2)", {"pool": "l40s-4", "tensorParallelSize": 2}, "tensorParallelSize", "at least 4 accelerators"),
    ("405B bf16 on one p5 node", {"model": "meta-llama/Llama-3.1-405B-Instruct", "tensorParallelSize": 8}, "tensorParallelSize", "756.0 GiB of weights"),
    ("two nodes without EFA", {"pool": "p5-noefa", "tensorParallelSize": 8, "pipelineParallelSize": 2}, "pool", "efa: true"),
    ("TP across nodes", {"tensorParallelSize": 16}, "tensorParallelSize", "the GPUs of one node (8)"),
    ("an unknown model without parameters", {"model": "acme/secret-model", "pool": "l40s"}, "parameters", "not in Crucible's table"),
    ("acceleratorsPerReplica that TP×PP contradicts", {"tensorParallelSize": 8, "acceleratorsPerReplica": 4}, "acceleratorsPerReplica", "needs 8"),
    (
        "Neuron TP not a multiple of a device's cores",
        {"pool": "inf2", "model": "meta-llama/Llama-3.1-8B-Instruct", "tensorParallelSize": 3},
        "tensorParallelSize",
        "multiple of 2",
    ),
    # the Neuron backend compiles its KV cache for maxNumSeqs sequences of maxModelLen tokens beside the weights:
    # 8B (14.9 GiB) on one 32 GiB device leaves 13.9 GiB usable, 13 sequences of 8192 tokens at 128 KiB a token
    (
        "a Neuron batch whose KV cache does not fit the devices",
        {"pool": "inf2", "model": "meta-llama/Llama-3.1-8B-Instruct", "tensorParallelSize": 2, "maxNumSeqs": 16},
        "maxNumSeqs",
        "at most 13 sequences",
    ),
    # vLLM refuses to start when its KV cache cannot hold one sequence of maxModelLen tokens: 8B's full 128k context
    # (16 GiB at 128 KiB a token) beside its 14.9 GiB of weights on one 24 GiB L4
    (
        "a context the GPUs' KV cache cannot hold",
        {"pool": "l4", "model": "meta-llama/Llama-3.1-8B-Instruct", "maxModelLen": 131072},
        "maxModelLen",
        "one sequence of 131072 tokens",
    ),
    # Qwen2.5-7B has 4 KV heads: over TP 8 each rank holds a copy of one, twice the cache (112 KiB a token, not 56)
    (
        "KV heads replicated over more ranks than there are",
        {"pool": "inf2", "model": "Qwen/Qwen2.5-7B-Instruct", "tensorParallelSize": 8, "maxNumSeqs": 64, "maxModelLen": 32768},
        "maxNumSeqs",
        "112 KiB of KV cache a token",
    ),
    ("a training pool", {"pool": "train", "tensorParallelSize": 8}, "pool", "workload: serving"),
    ("a pool that does not exist", {"pool": "nope"}, "pool", "one of crucible:pools[].name"),
]


@pytest.mark.parametrize("what, overrides, key, words", REFUSED, ids=[r[0] for r in REFUSED])
def test_a_model_that_cannot_be_laid_out_is_refused_naming_the_key(what, overrides, key, words):
    found = [p for p in problems(model(**overrides)) if p.startswith(f"crucible:serving.models[0].{key}: ")]
    assert found and words in found[0], problems(model(**overrides))


PLANNED = [
    # (what, model overrides, nodes, devices per node, resource, instance types)
    ("70B bf16 on 2 p5 nodes TP 8 PP 2", {"tensorParallelSize": 8, "pipelineParallelSize": 2}, 2, 8, "nvidia.com/gpu", ("p5.48xlarge",)),
    ("70B bf16 on one p5 node TP 8", {"tensorParallelSize": 8}, 1, 8, "nvidia.com/gpu", ("p5.48xlarge",)),
    ("7B on one L40S", {"model": "mistralai/Mistral-7B-Instruct-v0.3", "pool": "l40s"}, 1, 1, "nvidia.com/gpu", ("g6e.xlarge",)),
    (
        "8B on Inferentia2, TP 2 NeuronCores = 1 device",
        {"model": "meta-llama/Llama-3.1-8B-Instruct", "pool": "inf2", "tensorParallelSize": 2},
        1,
        1,
        "aws.amazon.com/neuron",
        ("inf2.8xlarge", "inf2.48xlarge"),  # not inf2.xlarge: 16 GiB of host memory cannot load 15 GiB of weights
    ),
    (
        "70B fp8 on 4 L40S (stated parameters)",
        {"model": "acme/llama-70b-ft", "parameters": 70e9, "dtype": "fp8", "pool": "l40s-4", "tensorParallelSize": 4},
        1,
        4,
        "nvidia.com/gpu",
        ("g6e.12xlarge",),
    ),
]


@pytest.mark.parametrize("what, overrides, nodes, per_node, resource, types", PLANNED, ids=[p[0] for p in PLANNED])
def test_a_model_that_fits_gets_its_replica_shape_from_the_catalog(what, overrides, nodes, per_node, resource, types):
    s = shape(**overrides)
    assert (s.nodes, s.devices_per_node, s.resource, s.instance_types) == (nodes, per_node, resource, types)
    assert s.weights_gib * KV_HEADROOM <= s.usable_gib


def test_a_replica_spanning_nodes_takes_every_efa_interface_of_its_node():
    s = shape(tensorParallelSize=8, pipelineParallelSize=2)
    assert s.multi_node and s.efa_per_node == 32  # p5.48xlarge's 32 EFA interfaces (catalog)


# ---- exposure, weights, replicas ---------------------------------------------------------------------------------


def test_public_exposure_needs_a_certificate_and_authentication_reported_together():
    found = problems(model(tensorParallelSize=8, exposure="public"))
    assert any(p.startswith("crucible:serving.models[0].certificateArn: required") for p in found), found
    assert any(p.startswith("crucible:serving.models[0].auth: got 'none'") for p in found), found


def test_oidc_needs_its_issuer_and_client_and_a_public_alb():
    found = problems(model(tensorParallelSize=8, auth="oidc"))
    for key in ("auth", "oidcIssuer", "oidcClientId"):
        assert any(p.startswith(f"crucible:serving.models[0].{key}: ") for p in found), (key, found)


def test_prod_never_downloads_weights_from_a_hub_at_start():
    found = problems(model(tensorParallelSize=8, weights="hub", weightsBucket=None), env="prod")
    assert any(p.startswith("crucible:serving.models[0].weights: got 'hub'") and "prod" in p for p in found), found


def test_s3_weights_name_a_bucket_of_the_stack_that_the_mountpoint_driver_reads():
    assert any(p.startswith("crucible:serving.models[0].weightsBucket: required") for p in problems(model(tensorParallelSize=8, weightsBucket=None)))
    assert any(p.startswith("crucible:serving.models[0].weightsBucket: got 'nope'") for p in problems(model(tensorParallelSize=8, weightsBucket="nope")))
    unread = problems(model(tensorParallelSize=8, weightsBucket="checkpoints"))  # no readOnlyVolume: the driver's role cannot read it
    assert any(p.startswith("crucible:serving.models[0].weightsBucket: got 'checkpoints'") and "readOnlyVolume" in p for p in unread), unread


def test_a_weights_folder_stays_inside_its_bucket():
    found = problems(model(tensorParallelSize=8, weightsPrefix="../other"))
    assert any(p.startswith("crucible:serving.models[0].weightsPrefix: ") for p in found), found


def test_every_bad_model_is_reported_in_one_pass():
    found = problems(model(pool="l40s"), model(name="second", pool="nope"), model(name="third", weights="lustre", weightsBucket=None, tensorParallelSize=8))
    assert any(p.startswith("crucible:serving.models[0].tensorParallelSize: ") for p in found), found
    assert any(p.startswith("crucible:serving.models[1].pool: ") for p in found), found


def test_each_model_field_is_checked_with_the_others():
    found = problems(model(name="Bad_Name", minReplicas=3, maxReplicas=2, dtype="int3"))
    for key in ("name", "dtype"):
        assert any(p.startswith(f"crucible:serving.models[0].{key}: ") for p in found), (key, found)


def test_a_model_needs_a_team_namespace():
    config = stack_config("dev", pools=POOLS, serving={"models": [model(tensorParallelSize=8)]})
    with pytest.raises(ConfigError) as caught:
        load_spec(config, "test")
    assert any(str(p).startswith("crucible:serving.models[0].team: no team") for p in caught.value.problems)


def test_autoscaling_needs_prometheus():
    off = {"addons": {"observability": {"enabled": False}}}
    config = stack_config("dev", pools=POOLS, teams=TEAMS, serving={"models": [model(tensorParallelSize=8, minReplicas=1, maxReplicas=3)]}, **off)
    with pytest.raises(ConfigError) as caught:
        load_spec(config, "test")
    assert any(str(p).startswith("crucible:serving.models[0].maxReplicas: ") and "observability" in str(p) for p in caught.value.problems), (
        caught.value.problems
    )


@pytest.mark.parametrize("observability", [True, False])
def test_scale_to_zero_is_refused_since_nothing_would_scale_it_back_up(observability):
    # KEDA's Prometheus triggers read vLLM's own metrics: at zero replicas the query is empty, never above the
    # activation threshold, and a request finds no endpoint to wait on
    config = stack_config(
        "dev",
        pools=POOLS,
        teams=TEAMS,
        serving={"models": [model(tensorParallelSize=8, minReplicas=0, maxReplicas=3)]},
        addons={"observability": {"enabled": observability}},
    )
    with pytest.raises(ConfigError) as caught:
        load_spec(config, "test")
    (problem,) = [str(p) for p in caught.value.problems if "minReplicas" in str(p)]
    assert problem.startswith("crucible:serving.models[0].minReplicas: got 0; allowed: 1 or more") and "never come back" in problem


def test_a_public_model_needs_the_stack_to_allow_public_load_balancers():
    public = model(
        tensorParallelSize=8,
        exposure="public",
        certificateArn="arn:aws:acm:us-east-1:111122223333:certificate/12345678-1234-1234-1234-123456789012",
        auth="api-key",
    )
    found = problems(public)
    assert any(p.startswith("crucible:serving.models[0].exposure: got 'public', but serving.exposure is 'private'") for p in found), found


def test_the_replicas_must_fit_the_pool_limits():
    # p5: maxNodes 4; a replica of 2 nodes x 3 does not fit
    found = problems(model(tensorParallelSize=8, pipelineParallelSize=2, maxReplicas=3), env="prod")
    assert any(p.startswith("crucible:serving.models[0].maxReplicas: got 3: pool 'p5' holds at most 2 replica(s)") for p in found), found


def test_the_replicas_must_fit_the_team_quota_the_api_server_enforces():
    # the team holds 30 % of every pool and borrows nothing: its ResourceQuota allows about 27 GPUs, not 32
    teams = [
        {"name": "llm", "memberGroups": ["llm-users"], "shares": {p["name"]: 30 for p in POOLS}, "borrowing": {"borrowingLimit": False}},
        {"name": "rest", "memberGroups": ["rest"]},
    ]
    config = stack_config("prod", pools=POOLS, teams=teams, serving={"models": [model(tensorParallelSize=8, maxReplicas=4)]})  # the pool holds 4
    with pytest.raises(ConfigError) as caught:
        load_spec(config, "test")
    found = [str(p) for p in caught.value.problems]
    assert any(p.startswith("crucible:serving.models[0].maxReplicas: got 4: 4 × 8 nvidia.com/gpu per replica exceeds team 'llm'") for p in found), found


# ---- weights on Lustre are found where the repository links put them ------------------------------------------------


def test_lustre_weights_default_to_the_datasets_link_folder():
    # storage.lustre.repositories links the datasets bucket at /datasets; the README uploads weights to
    # s3://<datasets>/models/<model id>/, which Lustre shows at /datasets/models/<model id>
    from stacks.spec.serving import lustre_weights_folder

    spec = spec_of("dev", pools=POOLS, teams=TEAMS, serving={"models": [model(weights="lustre", weightsBucket=None, preload=True, tensorParallelSize=8)]})
    assert lustre_weights_folder(spec, spec.serving.models[0]) == f"datasets/models/{LLAMA70}"


def test_preloading_lustre_weights_outside_every_linked_directory_is_refused():
    found = problems(model(weights="lustre", weightsBucket=None, preload=True, weightsPrefix="models/llama"))
    assert any("serving.models[0].weightsPrefix" in p and "under a directory linked to S3" in p and "/datasets" in p for p in found), found


def test_lustre_weights_without_a_whole_bucket_link_need_their_folder():
    config = stack_config(
        "dev",
        pools=POOLS,
        teams=TEAMS,
        storage={"lustre": {"repositories": [{"path": "/ckpt", "bucket": "checkpoints", "prefix": "runs/"}]}},
        serving={"models": [model(weights="lustre", weightsBucket=None)]},
    )
    with pytest.raises(ConfigError) as caught:
        load_spec(config, "test")
    assert any("serving.models[0].weightsPrefix" in str(p) and "required" in str(p) for p in caught.value.problems), caught.value.problems


def test_a_neuron_model_whose_weights_do_not_fit_the_hosts_memory_is_refused_naming_the_pool():
    # the Neuron backend loads the checkpoint into host memory first: inf2.xlarge (16 GiB) cannot hold 8B's 15 GiB
    small = {"name": "inf2-small", "kind": "neuron", "workload": "serving", "instanceTypes": ["inf2.xlarge"], "maxNodes": 4, "amiVersion": AMI}
    config = stack_config(
        "dev",
        pools=[*POOLS, small],
        teams=TEAMS,
        serving={"models": [model(model="meta-llama/Llama-3.1-8B-Instruct", pool="inf2-small", tensorParallelSize=2)]},
    )
    with pytest.raises(ConfigError) as caught:
        load_spec(config, "test")
    (problem,) = [str(p) for p in caught.value.problems]
    assert problem.startswith("crucible:serving.models[0].pool: got 'inf2-small'") and "host's memory first" in problem and "inf2.8xlarge" in problem
