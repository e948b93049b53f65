"""Layers built by another stack: read its exports back into the contracts upper layers expect.

A stack that starts above the network reads every layer below its first one from `stackReference`: network and
cluster (with the kubeconfig), compute, and storage. Before anything is read, :func:`problems_with` checks that the
referenced stack has an output for every one of those layers and lives in this stack's region and zones; `crucible
plan` reports the same problems as config errors (stacks/tools/plan/locate.py), `pulumi up` as a RunError naming the
missing outputs. A stack re-exports the layers it read, so a stack above it finds every layer below, however the
layers are split between stacks.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import pulumi

from components.contracts import BucketOutputs, ClusterOutputs, LustreOutputs, NetworkOutputs, StorageOutputs
from stacks.spec.platform import LAYERS

# The stack outputs each layer exports (stacks/layers.py `build`).
LAYER_OUTPUTS: dict[str, tuple[str, ...]] = {
    "network": ("network",),
    "cluster": ("cluster", "kubeconfig"),
    "compute": ("compute",),
    "storage": ("storage",),
    "platform": ("workloads", "addons"),
}


def layers_below(spec) -> tuple[str, ...]:
    """The layers this stack does not build and reads from its stack reference."""
    return LAYERS[: LAYERS.index(spec.layers[0])] if spec.layers else ()


def problems_with(outputs: Optional[Mapping[str, Any]], spec) -> list[str]:
    """What the referenced stack's outputs lack for this stack, or where they disagree with it (empty: usable)."""
    outputs = outputs or {}
    problems = []
    missing = {layer: [o for o in LAYER_OUTPUTS[layer] if o not in outputs] for layer in layers_below(spec)}
    missing = {layer: names for layer, names in missing.items() if names}
    if missing:
        detail = "; ".join(f"the {layer} layer (output {', '.join(repr(n) for n in names)})" for layer, names in missing.items())
        problems.append(
            f"stack {spec.stack_reference!r} does not export {detail}, which this stack needs (layers: "
            f"{', '.join(spec.layers)}); allowed: a stack that builds {', '.join(layers_below(spec))} or reads them from "
            f"its own stackReference (it exports what it has: {', '.join(sorted(outputs)) or 'nothing'})"
        )
    network = outputs.get("network")
    if isinstance(network, Mapping) and network.get("zones") is not None:
        zones = list(network.get("zones") or [])
        regions = sorted({z[:-1] for z in zones})
        if regions and regions != [spec.region]:
            problems.append(
                f"stack {spec.stack_reference!r} is in {', '.join(regions)}, but this stack is in {spec.region} "
                f"(crucible:region); allowed: a core stack in {spec.region}"
            )
        elif zones != list(spec.availability_zones):
            problems.append(
                f"stack {spec.stack_reference!r} has subnets in {zones}, but crucible:availabilityZones is "
                f"{list(spec.availability_zones)}; allowed: the same zones in the same order"
            )
    return problems


def read_below(ref: pulumi.StackReference, spec) -> dict:
    """The referenced stack's outputs as plain values, checked; raises RunError naming what is missing.

    Upper layers need the shape of what lies below (which buckets, whether a Lustre file system exists) while the
    program registers resources, so the outputs are awaited here, the way the SDK's own synchronous invokes wait.
    A StackReference is a read: its outputs are known in preview as in update (unless the referenced stack was never
    deployed, which is reported as missing outputs)."""
    from pulumi.runtime.sync_await import _sync_await

    outputs = _sync_await(ref.outputs.future()) or {}
    problems = problems_with(outputs, spec)
    if problems:
        raise pulumi.RunError("stack reference crucible:stackReference: " + "; ".join(problems))
    return dict(outputs)


def network_from(ref: pulumi.StackReference, zones: tuple[str, ...]) -> NetworkOutputs:
    network = ref.require_output("network")
    return NetworkOutputs(
        vpc_id=network.apply(lambda n: n["vpcId"]),
        vpc_cidr=network.apply(lambda n: n["vpcCidr"]),
        zones=zones,
        private_subnet_ids=tuple(network.apply(lambda n, i=i: n["privateSubnetIds"][i]) for i in range(len(zones))),
        public_subnet_ids=tuple(network.apply(lambda n, i=i: n["publicSubnetIds"][i] if n["publicSubnetIds"] else "") for i in range(len(zones))),
    )


def cluster_from(ref: pulumi.StackReference) -> ClusterOutputs:
    cluster = ref.require_output("cluster")

    def field(key: str) -> pulumi.Output:
        return cluster.apply(lambda c: c[key])

    return ClusterOutputs(
        name=field("name"),
        endpoint=field("endpoint"),
        certificate_authority=field("certificateAuthority"),
        version=field("version"),
        oidc_issuer=field("oidcIssuer"),
        cluster_security_group_id=field("clusterSecurityGroupId"),
        kms_key_arn=field("kmsKeyArn"),
        node_volume_kms_key_arn=field("nodeVolumeKmsKeyArn"),
        system_node_group_label="system",
        kubeconfig=pulumi.Output.secret(ref.require_output("kubeconfig")),
    )


def storage_from(storage: Mapping[str, Any]) -> StorageOutputs:
    """The storage layer from its export (StorageOutputs.export), read back whole: buckets, Lustre, shared claims."""
    lustre = storage.get("lustre")
    return StorageOutputs(
        namespace=storage["namespace"],
        kms_key_arn=storage["kmsKeyArn"],
        buckets={name: BucketOutputs(name=b["name"], arn=b["arn"]) for name, b in storage["buckets"].items()},
        lustre=LustreOutputs(
            file_system_id=lustre["fileSystemId"],
            dns_name=lustre["dnsName"],
            mount_name=lustre["mountName"],
            capacity_gib=lustre["capacityGib"],
            zone=lustre["zone"],
            security_group_id=lustre["securityGroupId"],
            pv_name=lustre["pvName"],
            pvc_name=lustre["pvcName"],
        )
        if lustre
        else None,
        read_only_claims=dict(storage["readOnlyClaims"]),
        read_only_volumes=dict(storage["readOnlyVolumes"]),
        storage_class_name=storage["storageClassName"],
        lustre_startup_taint=dict(storage["lustreStartupTaint"]),
    )
