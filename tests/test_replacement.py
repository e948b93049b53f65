"""The replacement table (stacks/tools/plan/replacement.py): every resource type Crucible registers has a row, rows name real
inputs, and the kinds say which replacements lose data."""

from __future__ import annotations

import functools
import importlib
import inspect
import re
import warnings

import pytest

from stacks.tools.plan import replacement
from stacks.tools.plan.locate import shipped_stacks


@functools.lru_cache(maxsize=None)
def registered_types() -> frozenset[str]:
    """Every custom resource type the shipped stacks register (each stack planned once), and those only the opt-in
    settings add (service-linked roles, the transit gateway attachment and routes)."""
    from helpers import plan, shipped_plan

    opted_in = plan("prod", cluster={"createServiceLinkedRoles": True}, network={"transitGatewayId": "tgw-0123456789abcdef0"})
    runs = [shipped_plan(stack).run for stack in shipped_stacks()] + [opted_in]
    return frozenset(r.type for run in runs for r in run.resources if r.custom)


def test_every_resource_type_of_the_shipped_stacks_has_a_row():
    types = registered_types()
    assert "aws:ec2/vpc:Vpc" in types and "aws:fsx/lustreFileSystem:LustreFileSystem" in types  # the walk saw the stacks
    assert {"aws:iam/serviceLinkedRole:ServiceLinkedRole", "aws:ec2transitgateway/vpcAttachment:VpcAttachment"} <= types  # and the opt-ins
    assert replacement.missing_from_table(types) == []


def test_a_type_without_a_row_is_named():
    assert replacement.missing_from_table({"aws:ec2/vpc:Vpc", "aws:efs/fileSystem:FileSystem", "kubernetes:apps/v1:Deployment"}) == [
        "aws:efs/fileSystem:FileSystem"
    ]
    assert replacement.missing_from_table({"kubernetes:core/v1:PersistentVolume"}) == []  # stateful kinds have rows


def test_the_data_holders_are_stateful():
    assert {
        "aws:s3/bucket:Bucket",
        "aws:fsx/lustreFileSystem:LustreFileSystem",
        "aws:fsx/dataRepositoryAssociation:DataRepositoryAssociation",
        "aws:kms/key:Key",
        "aws:eks/cluster:Cluster",
        "aws:cloudwatch/logGroup:LogGroup",
        "kubernetes:core/v1:PersistentVolume",
        "kubernetes:core/v1:PersistentVolumeClaim",
        "kubernetes:core/v1:Namespace",
    } <= replacement.STATEFUL_TYPES


def test_vpc_plumbing_is_classified_as_network():
    plumbing = {t for t in registered_types() if t.startswith(("aws:ec2/", "aws:vpc/", "aws:ec2transitgateway/"))} - {
        "aws:ec2/launchTemplate:LaunchTemplate",  # instance configuration, not the network
        "aws:ec2/placementGroup:PlacementGroup",
    }
    assert plumbing and plumbing <= replacement.NETWORK_TYPES


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _aws_inputs(type_token: str) -> set[str]:
    module, cls = type_token.split(":")[1].split("/")[0], type_token.rsplit(":", 1)[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        resource = getattr(importlib.import_module(f"pulumi_aws.{module}"), cls)
    return set(inspect.signature(resource._internal_init).parameters)


@pytest.mark.parametrize("type_token", sorted(t for t in replacement.TABLE if t.startswith("aws:")))
def test_rows_name_inputs_the_installed_provider_has(type_token):
    # A misspelt path would never match a change: each path's first segment must be an input of the pulumi-aws class.
    row = replacement.TABLE[type_token]
    paths = row.inputs | row.once_set | row.decrease | {k for group in row.one_of for k in group}
    inputs = _aws_inputs(type_token)
    assert sorted(p for p in paths if _snake(p.split(".")[0]) not in inputs) == []


def test_a_replacement_cascades_only_through_inputs_that_force_it():
    resources = {
        "vpc": {"type": "aws:ec2/vpc:Vpc", "property_dependencies": {}},
        "subnet": {"type": "aws:ec2/subnet:Subnet", "property_dependencies": {"vpcId": ["vpc"]}},
        "fs": {"type": "aws:fsx/lustreFileSystem:LustreFileSystem", "property_dependencies": {"subnetIds": ["subnet"]}},
        "igw": {"type": "aws:ec2/internetGateway:InternetGateway", "property_dependencies": {"vpcId": ["vpc"]}},  # re-attaches in place
    }
    because = replacement.cascade({"vpc"}, resources).because
    assert because == {"subnet": ["vpcId ← vpc"], "fs": ["subnetIds ← subnet"]}


def test_kubernetes_objects_are_referred_to_by_name_and_carry_no_replacement_on():
    resources = {
        "pv": {"type": "kubernetes:core/v1:PersistentVolume", "property_dependencies": {}},
        "pvc": {"type": "kubernetes:core/v1:PersistentVolumeClaim", "property_dependencies": {"spec": ["pv"]}},  # spec.volumeName
    }
    assert replacement.cascade({"pv"}, resources).because == {}
