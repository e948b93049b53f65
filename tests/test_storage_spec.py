"""crucible:storage validation: every bad FSx/bucket combination is refused with its key path and what is allowed."""

import pytest

from helpers import spec_of
from stacks.spec import ConfigError
from stacks.spec.storage import s3_bucket_name_problem


def problems(env="dev", **storage):
    with pytest.raises(ConfigError) as error:
        spec_of(env, storage=storage)
    return {p.path: p.message for p in error.value.problems}


def lustre(env="dev", **settings):
    return problems(env, lustre=settings)


@pytest.mark.parametrize(
    "env, settings, path, words",
    [
        ("dev", {"storageCapacityGib": 1000}, "storageCapacityGib", ["got 1000", "1200, 2400, or a multiple of 2400"]),
        ("dev", {"storageCapacityGib": 3600}, "storageCapacityGib", ["got 3600", "multiple of 2400"]),
        ("prod", {"storageCapacityGib": 6000}, "storageCapacityGib", ["got 6000", "PERSISTENT_2"]),
        ("prod", {"perUnitStorageThroughput": 200}, "perUnitStorageThroughput", ["got 200", "125, 250, 500, 1000"]),
        ("prod", {"deploymentType": "PERSISTENT_1", "perUnitStorageThroughput": 250}, "perUnitStorageThroughput", ["got 250", "50, 100, 200"]),
        ("dev", {"perUnitStorageThroughput": 125}, "perUnitStorageThroughput", ["SCRATCH_2 has no throughput setting", "fixed 200"]),
        ("dev", {"deploymentType": "SCRATCH_1"}, "deploymentType", ["'SCRATCH_1'", "'SCRATCH_2', 'PERSISTENT_1', 'PERSISTENT_2'"]),
        ("dev", {"efa": True}, "efa", ["SCRATCH_2", "PERSISTENT_2 only"]),
        ("prod", {"efa": True, "storageCapacityGib": 2400}, "storageCapacityGib", ["got 2400", "EFA-enabled", "multiple of 19200"]),
        ("prod", {"efa": True, "perUnitStorageThroughput": 1000, "storageCapacityGib": 7200}, "storageCapacityGib", ["multiple of 4800"]),
        ("dev", {"backupRetentionDays": 7}, "backupRetentionDays", ["got 7", "cannot be backed up", "0 or unset"]),
        ("prod", {"backupRetentionDays": 3}, "backupRetentionDays", ["got 3", "7..90"]),
        ("prod", {"deploymentType": "SCRATCH_2"}, "deploymentType", ["not replicated", "PERSISTENT_1, PERSISTENT_2"]),
        ("prod", {"metadataMode": "USER_PROVISIONED", "metadataIops": 2000}, "metadataIops", ["got 2000", "1500, 3000, 6000, 12000"]),
        ("prod", {"metadataMode": "USER_PROVISIONED"}, "metadataIops", ["required", "USER_PROVISIONED"]),
        ("dev", {"metadataIops": 3000}, "metadataIops", ["PERSISTENT_2 only"]),
    ],
)
def test_invalid_file_systems_are_refused_with_key_path_and_allowed_values(env, settings, path, words):
    found = lustre(env, **settings)
    key = f"crucible:storage.lustre.{path}"
    assert key in found, found
    for word in words:
        assert word in found[key]


def test_valid_combinations_pass():
    assert spec_of("prod", storage={"lustre": {"efa": True, "storageCapacityGib": 19200}}).storage.lustre.efa
    assert spec_of("prod", storage={"lustre": {"deploymentType": "PERSISTENT_1", "perUnitStorageThroughput": 100, "storageCapacityGib": 4800}})
    assert spec_of("prod", storage={"lustre": {"metadataMode": "USER_PROVISIONED", "metadataIops": 24000}})
    assert spec_of("dev", storage={"lustre": {"deploymentType": "PERSISTENT_2", "backupRetentionDays": 0}})


def test_defaults_per_environment():
    dev, prod = spec_of("dev").storage.lustre, spec_of("prod").storage.lustre
    assert (dev.deployment_type, dev.throughput_per_tib(), dev.backup_days("dev")) == ("SCRATCH_2", 200, 0)
    assert (prod.deployment_type, prod.throughput_per_tib(), prod.backup_days("prod")) == ("PERSISTENT_2", 250, 14)
    assert [b.name for b in spec_of("prod").storage.buckets] == ["datasets", "checkpoints", "artifacts"]
    assert [(r.path, r.bucket) for r in prod.repositories] == [("/datasets", "datasets"), ("/checkpoints", "checkpoints")]


def test_repository_must_name_a_configured_bucket():
    found = lustre(repositories=[{"path": "/models", "bucket": "model"}])
    message = found["crucible:storage.lustre.repositories[0].bucket"]
    assert "got 'model'" in message and "datasets, checkpoints, artifacts" in message


def test_repository_paths_must_not_nest_and_are_at_most_eight():
    found = lustre(repositories=[{"path": "/data", "bucket": "datasets"}, {"path": "/data/sub", "bucket": "checkpoints"}])
    assert "overlaps repositories[0].path" in found["crucible:storage.lustre.repositories[1].path"]
    many = [{"path": f"/d{i}", "bucket": "datasets", "prefix": f"p{i}/"} for i in range(9)]
    assert "at most 8" in lustre(repositories=many)["crucible:storage.lustre.repositories"]
    assert "an absolute directory" in lustre(repositories=[{"path": "datasets", "bucket": "datasets"}])["crucible:storage.lustre.repositories[0].path"]


def test_repository_events_are_the_services_own():
    found = lustre(repositories=[{"path": "/d", "bucket": "datasets", "exportEvents": ["NEW", "REMOVED"]}])
    assert "'NEW', 'CHANGED', 'DELETED'" in found["crucible:storage.lustre.repositories[0].exportEvents[1]"]


def test_lustre_zone_must_be_one_of_the_stacks_zones():
    found = lustre(zone="us-west-2c")
    assert "us-west-2a, us-west-2b" in found["crucible:storage.lustre.zone"]


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_outside_dev_the_lustre_zone_must_be_stated(env):
    # FSx puts a file system in one subnet and `subnetIds` forces replacement: a zone derived from the order of
    # availabilityZones/pools would let a harmless-looking reorder replace the file system.
    with pytest.raises(ConfigError) as error:
        spec_of("prod", environment=env, drop=("storage.lustre.zone",))
    (problem,) = [p for p in error.value.problems if p.path == "crucible:storage.lustre.zone"]
    assert f"required in {env}" in problem.message
    assert "us-east-1a, us-east-1b, us-east-1c" in problem.message  # what is allowed
    assert "us-east-1a" in problem.message.split("derive")[-1]  # the zone that keeps today's file system


def test_the_zone_hint_names_the_zone_the_pools_derive():
    p5 = {
        "name": "p5",
        "kind": "gpu",
        "workload": "training",
        "instanceTypes": ["p5.48xlarge"],
        "efa": True,
        "maxNodes": 2,
        "zones": ["us-east-1c"],
        "amiVersion": "v20251108",
    }
    with pytest.raises(ConfigError) as error:
        spec_of("prod", pools=[p5], drop=("storage.lustre.zone",))
    (problem,) = [p for p in error.value.problems if p.path == "crucible:storage.lustre.zone"]
    assert "storage.lustre.zone: us-east-1c" in problem.message


def test_no_zone_is_needed_without_a_file_system_or_in_dev():
    assert spec_of("prod", storage={"lustre": {"enabled": False}}, drop=("storage.lustre.zone",)).storage.lustre.zone is None
    assert spec_of("prod", layers=["network", "cluster"], drop=("storage.lustre.zone",)).storage.lustre.zone is None
    assert spec_of("dev").storage.lustre.zone is None


def test_a_stated_zone_survives_reordering_the_zones_and_pools():
    from stacks.derive.placement import lustre_zone

    zones = ["us-east-1a", "us-east-1b", "us-east-1c"]
    stated = {"lustre": {"zone": "us-east-1b"}}
    assert {lustre_zone(spec_of("prod", availabilityZones=order, storage=stated)) for order in (zones, zones[::-1])} == {"us-east-1b"}


def test_a_stated_zone_must_agree_with_the_efa_training_pools():
    p5 = {
        "name": "p5",
        "kind": "gpu",
        "workload": "training",
        "instanceTypes": ["p5.48xlarge"],
        "efa": True,
        "maxNodes": 2,
        "zones": ["us-east-1a"],
        "amiVersion": "v20251108",
    }
    with pytest.raises(ConfigError) as error:
        spec_of("prod", pools=[p5], storage={"lustre": {"zone": "us-east-1b"}})
    found = {p.path: p.message for p in error.value.problems}
    assert "us-east-1b (storage.lustre.zone)" in found["crucible:pools[0].zones"] and 'got ["us-east-1a"]' in found["crucible:pools[0].zones"]


def test_shipped_stacks_outside_dev_state_the_zone_their_file_system_was_derived_in():
    # Stating the zone must not move a deployed file system: each states the zone the old derivation chose.
    from stacks.derive.placement import derived_lustre_zone
    from stacks.tools.plan.locate import config_path, shipped_stacks
    from stacks.spec.loader import load_stack_file

    stated = {}
    for stack in shipped_stacks():
        spec = load_stack_file(config_path(stack))[0]
        if spec.environment != "dev" and spec.builds("storage") and spec.storage.lustre.enabled:
            stated[stack] = (spec.storage.lustre.zone, derived_lustre_zone(spec))
    assert {"prod", "staging", "trainium"} <= set(stated)
    assert {stack: zones[0] for stack, zones in stated.items()} == {stack: zones[1] for stack, zones in stated.items()}


def test_bucket_names_are_unique_and_derived_names_follow_s3_rules():
    assert "unique" in problems(buckets=[{"name": "data"}, {"name": "data"}])["crucible:storage.buckets[1].name"]
    assert "lowercase" in problems(buckets=[{"name": "Data"}])["crucible:storage.buckets[0].name"]
    long = problems(bucketPrefix="a" * 50, buckets=[{"name": "checkpoints-archive"}], lustre={"enabled": False})
    assert "3-63 characters" in long["crucible:storage.bucketPrefix"]
    storage = spec_of("dev").storage
    assert storage.physical_bucket_name("datasets", "test", "us-west-2", "111122223333") == "crucible-test-datasets-111122223333-us-west-2-an"


def test_default_bucket_names_are_bounded_with_the_account_ids_twelve_digits():
    # crucible-<stack>-checkpoints-<12 digits>-us-west-2-an is 47 characters plus the stack name: 16 fit in 63.
    assert len(spec_of("dev", stack="s" * 16).storage.physical_bucket_name("checkpoints", "s" * 16, "us-west-2", "0" * 12)) == 63
    with pytest.raises(ConfigError) as error:
        spec_of("dev", stack="s" * 17)
    (problem,) = error.value.problems
    assert problem.path == "crucible:storage.buckets[1].name"  # checkpoints: the longest default name
    assert "64 characters" in problem.message and "<account id>" in problem.message and "storage.bucketPrefix" in problem.message


def test_where_s3_has_no_account_regional_namespace_the_name_still_carries_the_account():
    storage = spec_of("dev").storage
    assert storage.bucket_namespace("me-south-1") is None and storage.bucket_namespace("us-west-2") == "account-regional"
    assert storage.physical_bucket_name("datasets", "test", "me-central-1", "111122223333") == "crucible-test-datasets-111122223333-me-central-1"


def test_an_explicit_prefix_names_buckets_exactly_in_the_global_namespace():
    storage = spec_of("dev", storage={"bucketPrefix": "acme-ml"}).storage
    assert storage.physical_bucket_name("datasets", "test", "us-west-2", "111122223333") == "acme-ml-datasets"
    assert storage.bucket_namespace("us-west-2") is None


@pytest.mark.parametrize(
    "name, allowed",
    [
        ("crucible-dev-us-west-2-datasets", True),
        ("ab", False),
        ("a.b.c", False),
        ("xn--bucket", False),
        ("bucket-s3alias", False),
        ("192.168.5.4", False),
        ("-bucket", False),
        ("sthree-x", False),
    ],
)
def test_s3_naming_rules(name, allowed):
    assert (s3_bucket_name_problem(name) is None) is allowed


def test_storage_config_in_a_stack_that_does_not_build_storage_is_refused():
    with pytest.raises(ConfigError) as error:
        spec_of("prod", layers=["network", "cluster"], storage={"lustre": {"enabled": False}})
    assert any(p.path == "crucible:storage" and "storage layer" in p.message for p in error.value.problems)
