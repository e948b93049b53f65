"""Stack config → PlatformSpec: shipped configs load, every mistake is reported with its key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import REPO, spec_of, stack_config
from stacks.spec import ConfigError, load_spec
from stacks.spec.loader import load_stack_file

SHIPPED = sorted((REPO / "stacks").glob("Pulumi.*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_stack_config_loads(path: Path):
    spec, _, _ = load_stack_file(path)
    assert spec.stack == path.name[len("Pulumi.") : -len(".yaml")]


def problems(env: str = "dev", drop: tuple[str, ...] = (), **overrides) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_spec(stack_config(env, drop=drop, **overrides), "test")
    return [str(p) for p in caught.value.problems]


BAD_CONFIGS = [
    # (id, env, overrides, expected key path, words the message must contain)
    ("unknown-top-level-key", "dev", {"netwrok": {}}, "crucible:netwrok", "did you mean: network"),
    ("unknown-nested-key", "dev", {"network": {"natGateway": "single"}}, "crucible:network.natGateway", "did you mean: natGateways"),
    ("bad-environment", "dev", {"environment": "production"}, "crucible:environment", "allowed: 'dev', 'staging', 'prod'"),
    ("bad-region", "dev", {"region": "uswest2"}, "crucible:region", "AWS region name"),
    ("one-zone", "dev", {"availabilityZones": ["us-west-2a"]}, "crucible:availabilityZones", "2 or 3"),
    ("four-zones", "dev", {"availabilityZones": ["us-west-2a", "us-west-2b", "us-west-2c", "us-west-2d"]}, "crucible:availabilityZones", "2 or 3"),
    ("zone-of-other-region", "dev", {"availabilityZones": ["us-west-2a", "us-east-1b"]}, "crucible:availabilityZones[1]", "zone of region us-west-2"),
    ("duplicate-zone", "dev", {"availabilityZones": ["us-west-2a", "us-west-2a"]}, "crucible:availabilityZones", "listed twice"),
    ("zones-not-a-list", "dev", {"availabilityZones": "us-west-2a"}, "crucible:availabilityZones", "expected a list"),
    ("bad-cidr", "dev", {"network": {"vpcCidr": "10.0.0.0/33"}}, "crucible:network.vpcCidr", "not a valid IPv4 CIDR"),
    ("cidr-host-bits", "dev", {"network": {"vpcCidr": "10.0.0.1/16"}}, "crucible:network.vpcCidr", "host bits"),
    ("cidr-too-small", "dev", {"network": {"vpcCidr": "10.0.0.0/24"}}, "crucible:network.vpcCidr", "/16 to /20"),
    ("bad-nat-mode", "dev", {"network": {"natGateways": "perZone"}}, "crucible:network.natGateways", "allowed: 'single', 'perAz'"),
    ("unknown-endpoint", "dev", {"network": {"interfaceEndpoints": ["ecr-api"]}}, "crucible:network.interfaceEndpoints[0]", "did you mean: ecr.api"),
    ("flow-logs-not-bool", "dev", {"network": {"flowLogs": "yes"}}, "crucible:network.flowLogs", "expected true or false"),
    ("bad-retention", "dev", {"network": {"flowLogRetentionDays": 10}}, "crucible:network.flowLogRetentionDays", "CloudWatch"),
    ("unsupported-k8s-version", "dev", {"cluster": {"version": "1.25"}}, "crucible:cluster.version", "allowed: '1.31'"),
    ("k8s-version-as-number", "dev", {"cluster": {"version": 1.3}}, "crucible:cluster.version", "expected a string"),
    (
        "public-endpoint-without-cidrs",
        "dev",
        {"cluster": {"publicAccessCidrs": []}},
        "crucible:cluster.publicAccessCidrs",
        "required when endpointPublicAccess",
    ),
    ("bad-public-cidr", "dev", {"cluster": {"publicAccessCidrs": ["203.0.113.0/99"]}}, "crucible:cluster.publicAccessCidrs", "item [0]"),
    ("bad-log-type", "dev", {"cluster": {"logTypes": ["api", "audits"]}}, "crucible:cluster.logTypes", "item [1]"),
    ("bad-admin-arn", "dev", {"cluster": {"adminRoleArns": ["arn:aws:iam::1234:user/me"]}}, "crucible:cluster.adminRoleArns", "IAM role ARN"),
    ("prod-without-admins", "prod", {"cluster": {"adminRoleArns": []}}, "crucible:cluster.adminRoleArns", "required in prod"),
    (
        "prod-open-endpoint",
        "prod",
        {"cluster": {"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]}},
        "crucible:cluster.publicAccessCidrs",
        "must not be open",
    ),
    ("kms-window-out-of-range", "dev", {"cluster": {"kmsKeyDeletionWindowDays": 3}}, "crucible:cluster.kmsKeyDeletionWindowDays", "allowed: 7..30"),
    (
        "system-sizes-inverted",
        "dev",
        {"cluster": {"systemNodeGroup": {"minSize": 4, "maxSize": 2}}},
        "crucible:cluster.systemNodeGroup",
        "minSize <= desiredSize <= maxSize",
    ),
    (
        "system-type-unknown",
        "dev",
        {"cluster": {"systemNodeGroup": {"instanceTypes": ["m7i.xlarg"]}}},
        "crucible:cluster.systemNodeGroup.instanceTypes[0]",
        "close matches: m7i.xlarge",
    ),
    (
        "system-type-gpu",
        "dev",
        {"cluster": {"systemNodeGroup": {"instanceTypes": ["g6.xlarge"]}}},
        "crucible:cluster.systemNodeGroup.instanceTypes[0]",
        "allowed: CPU types",
    ),
    (
        "training-pool-away-from-lustre",
        "dev",
        {
            "pools": [
                {"name": "a", "kind": "gpu", "workload": "training", "instanceTypes": ["p5.48xlarge"], "efa": True, "maxNodes": 2, "zones": ["us-west-2a"]},
                {"name": "b", "kind": "gpu", "workload": "training", "instanceTypes": ["p4d.24xlarge"], "efa": True, "maxNodes": 2, "zones": ["us-west-2b"]},
            ],
            "storage": {"lustre": {"deploymentType": "SCRATCH_2", "storageCapacityGib": 1200}},
        },
        "crucible:pools[1].zones",
        "Lustre file system is in us-west-2a",
    ),
    ("system-size-negative", "dev", {"cluster": {"systemNodeGroup": {"minSize": -1}}}, "crucible:cluster.systemNodeGroup.minSize", "allowed: 1..20"),
    ("unknown-addon-pin", "dev", {"cluster": {"addonVersions": {"vpccni": "v1"}}}, "crucible:cluster.addonVersions.vpccni", "did you mean: vpc-cni"),
    ("bad-cluster-name", "dev", {"cluster": {"name": "my cluster!"}}, "crucible:cluster.name", "letters, digits"),
    ("unknown-layer", "dev", {"layers": ["network", "clustr"]}, "crucible:layers", "did you mean: cluster"),
    ("layers-out-of-order", "dev", {"layers": ["cluster", "network"]}, "crucible:layers", "consecutive and in order"),
    ("upper-layers-without-reference", "dev", {"layers": ["compute", "storage", "platform"]}, "crucible:stackReference", "required"),
    ("reference-when-building-everything", "dev", {"stackReference": "acme/crucible/core"}, "crucible:stackReference", "remove it"),
    (
        "section-of-unbuilt-layer",
        "prod",
        {"layers": ["compute", "storage", "platform"], "stackReference": "core"},
        "crucible:cluster",
        "does not build the cluster layer",
    ),
    (
        "existing-vpc-bad-id",
        "dev",
        {"network": {"existing": {"vpcId": "vpc_123", "privateSubnetIds": ["subnet-0a", "subnet-0b"], "vpcCidr": "10.0.0.0/16"}}},
        "crucible:network.existing.vpcId",
        "vpc-<hex>",
    ),
    (
        "existing-vpc-subnet-count",
        "dev",
        {"network": {"existing": {"vpcId": "vpc-0a1", "privateSubnetIds": ["subnet-0a"], "vpcCidr": "10.0.0.0/16"}}},
        "crucible:network.existing.privateSubnetIds",
        "one per availability zone",
    ),
    ("tags-not-strings", "dev", {"tags": {"team": 7}}, "crucible:tags.team", "expected a string"),
    ("protect-not-bool", "dev", {"protect": "true-ish"}, "crucible:protect", "expected true or false"),
]


@pytest.mark.parametrize("case", BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_is_rejected_with_its_key_path(case):
    _, env, overrides, path, words = case
    found = problems(env, **overrides)
    matching = [p for p in found if p.startswith(f"{path}:")]
    assert matching, f"no problem at {path}; got {found}"
    assert any(words in p for p in matching), f"{words!r} not in {matching}"


def test_missing_required_keys_are_each_named():
    found = problems("dev", drop=("region", "availabilityZones"))
    assert "crucible:region: required setting is missing; expected a string" in found
    assert any(p.startswith("crucible:availabilityZones: required setting is missing") for p in found)


def test_every_problem_is_reported_at_once():
    found = problems("dev", network={"vpcCidr": "nope", "natGateways": "x"}, cluster={"version": "0.1"}, typo=1)
    paths = {p.split(":", 2)[0] + ":" + p.split(":", 2)[1] for p in found}
    assert {"crucible:network.vpcCidr", "crucible:network.natGateways", "crucible:cluster.version", "crucible:typo"} <= paths


def test_keys_of_other_namespaces_are_left_alone():
    config = stack_config("dev")
    config["aws:region"] = "us-west-2"
    assert load_spec(config, "test").region == "us-west-2"


def test_prod_defaults_are_the_safe_ones():
    spec = spec_of("prod")
    assert spec.cluster.endpoint_public_access is False
    assert spec.cluster.bootstrap_creator_admin is False
    assert spec.network.nat_gateways == "perAz"
    assert spec.network.flow_logs is True
    assert set(spec.cluster.log_types) == {"api", "audit", "authenticator", "controllerManager", "scheduler"}
    assert spec.protect is True
    assert spec.cluster.kms_key_deletion_window_days == 30


def test_dev_defaults_are_the_cheap_ones():
    spec = spec_of("dev")
    assert spec.network.nat_gateways == "single"
    assert spec.network.interface_endpoints == ()
    assert spec.network.flow_logs is False
    assert spec.protect is False


def test_staging_follows_prod_defaults():
    spec = spec_of("prod", environment="staging")
    assert spec.network.nat_gateways == "perAz" and spec.protect is True


def test_engine_encoded_and_yaml_values_load_the_same():
    from stacks.spec.loader import decode

    assert decode('{"a": [1, 2]}') == {"a": [1, 2]}
    assert decode("true") is True and decode("3") == 3
    assert decode("us-east-1") == "us-east-1"


def test_cluster_name_defaults_to_the_stack():
    assert spec_of("dev", stack="alpha").cluster_name == "crucible-alpha"
    assert spec_of("dev", cluster={"name": "gpu-lab"}).cluster_name == "gpu-lab"
