"""One Karpenter pool: an EC2NodeClass (karpenter.k8s.aws/v1) and a NodePool (karpenter.sh/v1), plus for EFA
pools a cluster placement group and a security group that allows all traffic to and from itself.

The manifests are built by the pure functions `node_class_spec` / `node_pool_spec` from `NodePoolArgs`; the
args carry what the spec and the capacity derivation decided (types, limits, EFA interface count). Nothing
here reads config or the instance catalog.

EFA interfaces: explicit `networkInterfaces` on the EC2NodeClass (Karpenter >= 1.11), not the automatic
attachment for pods that request `vpc.amazonaws.com/efa`. Every node of an EFA pool gets every EFA interface
the instance has, whatever pod triggered it (a pod that forgot the EFA request would otherwise land on a node
without EFA and NCCL would fall back to TCP silently); the interfaces beyond the primary are EFA-only, so they
take no VPC IP addresses (31 addresses saved per p5 node); and the count is in the plan for review. The price:
an EFA pool's instance types must share one EFA maximum (the spec checks that).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.accelerators import accelerator
from components.labels import ACCELERATOR_LABEL, AMI_FAMILY_LABEL, EFA_LABEL, INSTANCE_TYPE_LABEL, NODEPOOL_LABEL, POOL_LABEL, WORKLOAD_LABEL

NODEPOOL_API = "karpenter.sh/v1"
NODECLASS_API = "karpenter.k8s.aws/v1"
OVERLAY_API = "karpenter.sh/v1alpha1"

# Disruption by workload profile.
DISRUPTION = {
    # Never drain a running job: only empty nodes go, drift and underutilisation never disrupt, nodes never expire.
    "training": {
        "disruption": {
            "consolidationPolicy": "WhenEmpty",
            "consolidateAfter": "10m",
            "budgets": [{"nodes": "0", "reasons": ["Underutilized", "Drifted"]}, {"nodes": "10%", "reasons": ["Empty"]}],
        },
        "expireAfter": "Never",
    },
    # A single-replica model's PodDisruptionBudget (minAvailable 1) never lets its pod be evicted: Karpenter respects
    # it while draining an expired or drifted node until terminationGracePeriod, then deletes the pod (Karpenter
    # NodePool docs, spec.template.spec.terminationGracePeriod). Without one the node would drain for ever.
    "serving": {
        "disruption": {"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "5m", "budgets": [{"nodes": "10%"}]},
        "expireAfter": "720h",
        "terminationGracePeriod": "1h",
    },
    "interactive": {
        "disruption": {"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "15m", "budgets": [{"nodes": "10%"}]},
        "expireAfter": "720h",
    },
}


@dataclass(frozen=True)
class NodePoolArgs:
    name: str
    kind: str  # gpu | neuron | cpu
    workload: str  # training | serving | interactive
    instance_types: Sequence[str]
    arch: Sequence[str]
    capacity_types: Sequence[str]
    zones: Sequence[str]
    subnet_ids: Sequence[pulumi.Input[str]]  # the private subnets of `zones`
    limits: Mapping[str, str]
    efa_interfaces: int  # 0: no EFA
    max_pods: int  # kubelet maxPods: what the VPC CNI (prefix delegation) gives the pool's smallest type
    ami_family: str  # AL2023 | Bottlerocket
    ami_alias: str  # al2023@v20251108
    root_volume_gib: int
    data_volume_gib: Optional[int]
    instance_store_raid0: bool
    imds_hop_limit: int
    node_role_name: pulumi.Input[str]
    volume_kms_key_arn: pulumi.Input[str]  # customer managed key of the node EBS volumes
    cluster_name: pulumi.Input[str]
    cluster_security_group_id: pulumi.Input[str]
    vpc_id: pulumi.Input[str]
    reservation_ids: Sequence[str] = ()
    reservation_tags: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    startup_taints: Sequence[Mapping[str, str]] = ()  # taints an agent removes once the node is ready (FSx CSI, burn-in)
    # Labels the kubelet registers the node with (user data), which the NodePool template does not carry: Karpenter
    # does not know them, so its DaemonSet overhead for new nodes leaves out DaemonSets that require them (burn-in,
    # whose pods leave the node before any workload lands). See boot_label_user_data().
    boot_labels: Mapping[str, str] = field(default_factory=dict)
    # Bottlerocket >= 1.44.0 only: containerd pulls through the SOCI snapshotter in parallel-pull-unpack mode
    # (settings.container-runtime.snapshotter, settings.container-runtime-plugins.soci-snapshotter.pull-mode).
    soci_parallel_pull: bool = False
    weight: Optional[int] = None
    # A fixed fleet: a static NodePool of this many nodes (`spec.replicas`, feature gate staticCapacity); its limits
    # must then be `nodes` only and it has no weight (the CRD's CEL rules).
    replicas: Optional[int] = None
    tags: Mapping[str, str] = field(default_factory=dict)  # the stack's tags, for what Karpenter launches (instances, volumes, ENIs)
    karpenter: Sequence[pulumi.Resource] = ()  # the Karpenter release: every CR of the pool depends on it
    # instance type -> the accelerator resource one node advertises, where it is more than the type's devices (GPU
    # time-slicing): the pool's NodeOverlays, so Karpenter's simulation packs as the nodes will (see node_overlays).
    advertised_accelerators: Mapping[str, int] = field(default_factory=dict)


def pool_labels(args: NodePoolArgs) -> dict[str, str]:
    labels = {**dict(args.labels), POOL_LABEL: args.name, WORKLOAD_LABEL: args.workload, AMI_FAMILY_LABEL: args.ami_family.lower()}
    label_value = accelerator(args.kind).label_value
    if label_value:
        labels[ACCELERATOR_LABEL] = label_value
    if args.efa_interfaces:
        labels[EFA_LABEL] = "true"
    return labels


def pool_taints(kind: str) -> list[dict]:
    taint = accelerator(kind).taint
    return [taint] if taint else []


def efa_network_interfaces(count: int) -> list[dict]:
    """EC2NodeClass `networkInterfaces` attaching ``count`` EFA devices, one per network card, as AWS
    recommends for multi-card instances: card 0 keeps the primary ENA interface (device 0) and takes an
    EFA-only interface on device 1; every further card gets an EFA-only interface on device 0."""
    if count <= 0:
        return []
    out = [
        {"networkCardIndex": 0, "deviceIndex": 0, "interfaceType": "interface"},
        {"networkCardIndex": 0, "deviceIndex": 1, "interfaceType": "efa-only"},
    ]
    out += [{"networkCardIndex": card, "deviceIndex": 0, "interfaceType": "efa-only"} for card in range(1, count)]
    return out


def node_pool_spec(args: NodePoolArgs) -> dict:
    profile = DISRUPTION[args.workload]
    requirements = [
        {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": list(args.instance_types)},
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": list(args.capacity_types)},
        {"key": "topology.kubernetes.io/zone", "operator": "In", "values": list(args.zones)},
        {"key": "kubernetes.io/arch", "operator": "In", "values": list(args.arch)},
        {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
    ]
    spec: dict = {
        "template": {
            "metadata": {"labels": pool_labels(args)},
            "spec": {
                "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": args.name},
                "requirements": requirements,
                "taints": pool_taints(args.kind),
                "expireAfter": profile["expireAfter"],
                **({"terminationGracePeriod": profile["terminationGracePeriod"]} if "terminationGracePeriod" in profile else {}),
            },
        },
        "limits": dict(args.limits),
        "disruption": profile["disruption"],
    }
    if not spec["template"]["spec"]["taints"]:
        del spec["template"]["spec"]["taints"]
    if args.startup_taints:
        spec["template"]["spec"]["startupTaints"] = [dict(t) for t in args.startup_taints]
    if args.weight is not None:
        spec["weight"] = args.weight
    if args.replicas is not None:
        spec["replicas"] = args.replicas
    return spec


def block_devices(args: NodePoolArgs) -> list[dict]:
    def ebs(size: int) -> dict:
        return {
            "volumeSize": f"{size}Gi",
            "volumeType": "gp3",
            "encrypted": True,
            "kmsKeyID": args.volume_kms_key_arn,
            "deleteOnTermination": True,
        }

    # `rootVolume` marks the volume kubelet and containerd live on: Karpenter sizes the node's ephemeral-storage from
    # it (karpenter-provider-aws instancetype.ephemeralStorage; instance-store RAID0, when on, takes precedence).
    if args.ami_family == "Bottlerocket":
        # Bottlerocket: /dev/xvda is the OS volume, /dev/xvdb the data volume (images, containers, kubelet).
        return [
            {"deviceName": "/dev/xvda", "ebs": ebs(args.root_volume_gib)},
            {"deviceName": DATA_DEVICE, "rootVolume": True, "ebs": ebs(args.data_volume_gib or args.root_volume_gib)},
        ]
    if args.data_volume_gib:
        # AL2023 leaves an extra volume alone: al2023_data_volume_script formats and mounts it.
        return [
            {"deviceName": "/dev/xvda", "ebs": ebs(args.root_volume_gib)},
            {"deviceName": DATA_DEVICE, "rootVolume": True, "ebs": ebs(args.data_volume_gib)},
        ]
    return [{"deviceName": "/dev/xvda", "rootVolume": True, "ebs": ebs(args.root_volume_gib)}]


DATA_DEVICE = "/dev/xvdb"
DATA_MOUNT = "/mnt/crucible-data"
# Where an AL2023 node keeps images and containers, kubelet state (emptyDir, pod volumes) and pod logs.
DATA_DIRECTORIES = ("/var/lib/containerd", "/var/lib/kubelet", "/var/log/pods")


MIME_BOUNDARY = "//"


def mime_user_data(script: Optional[str], node_config: Optional[str] = None) -> str:
    """``script`` (a text/x-shellscript part) and ``node_config`` (an application/node.eks.aws part) as a MIME
    multipart archive: the form Karpenter documents for AL2023 user data. Karpenter merges its own NodeConfig part into
    such an archive; plain (non-MIME) user data it classifies by trying to read it as a NodeConfig YAML map, which a
    script must never be left to (karpenter-provider-aws pkg/providers/amifamily/bootstrap/nodeadm.go)."""
    parts = []
    if script is not None:
        parts.append(f'Content-Type: text/x-shellscript; charset="us-ascii"\n\n{script}')
    if node_config is not None:
        parts.append(f"Content-Type: application/node.eks.aws\n\n{node_config}")
    body = "".join(f"--{MIME_BOUNDARY}\n{part}" for part in parts)
    return f'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="{MIME_BOUNDARY}"\n\n{body}--{MIME_BOUNDARY}--\n'


def node_labels_flag(labels: Mapping[str, str]) -> str:
    return "--node-labels=" + ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def al2023_node_config(labels: Mapping[str, str]) -> str:
    """A nodeadm NodeConfig adding kubelet `--node-labels`. nodeadm merges it with Karpenter's NodeConfig (kubelet
    flags appended) and the kubelet adds repeated --node-labels flags up (a map flag)."""
    return f"apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  kubelet:\n    flags:\n      - {node_labels_flag(labels)}\n"


def bottlerocket_node_labels(labels: Mapping[str, str]) -> str:
    """Bottlerocket settings TOML for the node labels; Karpenter merges its own settings into it."""
    lines = ["[settings.kubernetes.node-labels]"] + [f'"{k}" = "{v}"' for k, v in sorted(labels.items())]
    return "\n".join(lines) + "\n"


# Bottlerocket's SOCI parallel pull settings, as bottlerocket.dev spells them (API > settings > container-runtime and
# container-runtime-plugins): the soci snapshotter, in its parallel-pull-unpack mode (upstream defaults for the
# concurrency limits).
SOCI_PARALLEL_PULL_TOML = (
    '[settings.container-runtime]\nsnapshotter = "soci"\n\n[settings.container-runtime-plugins.soci-snapshotter]\npull-mode = "parallel-pull-unpack"\n'
)


# Karpenter (pkg/providers/amifamily/bootstrap/bottlerocketsettings.go) re-marshals settings.kubernetes from its
# typed struct, so only the keys it models survive the merge; device-ownership-from-security-context is one.
DEVICE_OWNERSHIP_TOML = "[settings.kubernetes]\ndevice-ownership-from-security-context = true\n"


def bottlerocket_settings(args: "NodePoolArgs") -> Optional[str]:
    """The Bottlerocket settings TOML of the pool (None: Karpenter's own only): the devices of a kind whose device
    nodes are root's are given to the pod's user (components/accelerators.py ``root_owned_devices``), then the boot
    labels and the image pull mode."""
    parts = []
    if accelerator(args.kind).root_owned_devices:
        parts.append(DEVICE_OWNERSHIP_TOML)
    if args.boot_labels:
        parts.append(bottlerocket_node_labels(args.boot_labels))
    if args.soci_parallel_pull:
        parts.append(SOCI_PARALLEL_PULL_TOML)
    return "\n".join(parts) if parts else None


def user_data(args: "NodePoolArgs") -> Optional[str]:
    """The EC2NodeClass user data: the AL2023 data volume script and the boot labels, Bottlerocket settings (None:
    Karpenter's own only)."""
    if args.ami_family == "Bottlerocket":
        return bottlerocket_settings(args)
    if args.soci_parallel_pull:
        raise ValueError(f"pool {args.name}: SOCI parallel pull is a Bottlerocket setting; the {args.ami_family} AMI has no SOCI snapshotter")
    script = al2023_data_volume_script() if args.data_volume_gib else None
    config = al2023_node_config(args.boot_labels) if args.boot_labels else None
    if script is None and config is None:
        return None
    return mime_user_data(script, config)


def al2023_data_volume_script() -> str:
    """A shell script (sent as MIME user data; Karpenter adds its NodeConfig to the archive) that formats the data
    volume on first boot and mounts it over the directories containers and kubelet use, before nodeadm starts them
    (nodeadm-run.service runs after cloud-final, where user scripts run). /dev/xvdb is the udev name AL2023 gives the
    NVMe device of that block device mapping. fstab entries keep the mounts across a reboot."""
    directories = " ".join(DATA_DIRECTORIES)
    return f"""#!/bin/bash
# Crucible: {DATA_DEVICE} holds containers, images, kubelet state and pod logs (the EC2NodeClass rootVolume).
set -euo pipefail
device={DATA_DEVICE}
mount_point={DATA_MOUNT}
for _ in $(seq 1 60); do [ -e "$device" ] && break; sleep 1; done
[ -e "$device" ] || {{ echo "crucible: $device is not attached" >&2; exit 1; }}
blkid "$device" >/dev/null 2>&1 || mkfs.xfs -L crucible-data "$device"
mkdir -p "$mount_point"
grep -q "^LABEL=crucible-data " /etc/fstab || echo "LABEL=crucible-data $mount_point xfs defaults,noatime 0 2" >> /etc/fstab
mountpoint -q "$mount_point" || mount "$mount_point"
systemctl is-active --quiet containerd && systemctl stop containerd
for dir in {directories}; do
  mkdir -p "$dir" "$mount_point$dir"
  # keep what the AMI put there (cached images), once
  [ -n "$(ls -A "$mount_point$dir")" ] || cp -a "$dir/." "$mount_point$dir/"
  grep -q " $dir none bind" /etc/fstab || echo "$mount_point$dir $dir none bind 0 0" >> /etc/fstab
  mountpoint -q "$dir" || mount "$dir"
done
"""


def node_class_spec(
    args: NodePoolArgs,
    efa_security_group_id: Optional[pulumi.Input[str]] = None,
    placement_group_name: Optional[pulumi.Input[str]] = None,
) -> dict:
    security_groups = [{"id": args.cluster_security_group_id}]
    if efa_security_group_id is not None:
        security_groups.append({"id": efa_security_group_id})
    spec: dict = {
        "role": args.node_role_name,
        "amiSelectorTerms": [{"alias": args.ami_alias}],
        "subnetSelectorTerms": [{"id": subnet} for subnet in args.subnet_ids],
        "securityGroupSelectorTerms": security_groups,
        "associatePublicIPAddress": False,
        "metadataOptions": {
            "httpEndpoint": "enabled",
            "httpProtocolIPv6": "disabled",
            "httpPutResponseHopLimit": args.imds_hop_limit,
            "httpTokens": "required",
        },
        "blockDeviceMappings": block_devices(args),
        # Without it Karpenter assumes one address per pod (secondary-IP mode) and caps nodes at the ENI-limited
        # count (51 on a p5 with an EFA-only interface on card 0) although the VPC CNI hands out /28 prefixes.
        "kubelet": {"maxPods": args.max_pods},
        "tags": {**dict(args.tags), POOL_LABEL: args.name},
    }
    if args.instance_store_raid0:
        spec["instanceStorePolicy"] = "RAID0"  # Karpenter assembles and mounts it (AL2023 NodeConfig, Bottlerocket)
    data = user_data(args)
    if data is not None:
        spec["userData"] = data
    if args.reservation_ids or args.reservation_tags:
        terms: list[dict] = [{"id": rid} for rid in args.reservation_ids]
        if args.reservation_tags:
            terms.append({"tags": dict(args.reservation_tags)})
        spec["capacityReservationSelectorTerms"] = terms
    if args.efa_interfaces:
        spec["networkInterfaces"] = efa_network_interfaces(args.efa_interfaces)
    if placement_group_name is not None:
        spec["placementGroupSelector"] = {"name": placement_group_name}
    return spec


def node_overlays(args: NodePoolArgs) -> list[dict]:
    """The NodeOverlays (karpenter.sh/v1alpha1, feature gate NodeOverlay) of a pool whose nodes advertise more of
    their accelerator than the instance type has: one per advertised count, selecting the pool and its types of that
    count. Karpenter's simulation otherwise gives each instance type its devices (one pod per GPU), launches a node
    per time-sliced pod, and only consolidation removes the surplus; the overlay's capacity replaces the type's
    (sigs.k8s.io/karpenter v1.14.1 cloudprovider/types.go ApplyCapacityOverlay: lo.Assign)."""
    resource = accelerator(args.kind).resource
    if not args.advertised_accelerators or resource is None:
        return []
    by_count: dict[int, list[str]] = {}
    for instance_type, count in sorted(args.advertised_accelerators.items()):
        by_count.setdefault(count, []).append(instance_type)
    return [
        {
            "name": f"{args.name}-{resource.rsplit('/', 1)[-1]}-{count}",
            "spec": {
                "requirements": [
                    {"key": NODEPOOL_LABEL, "operator": "In", "values": [args.name]},
                    {"key": INSTANCE_TYPE_LABEL, "operator": "In", "values": types},
                ],
                "capacity": {resource: str(count)},
            },
        }
        for count, types in sorted(by_count.items())
    ]


class NodePool(pulumi.ComponentResource):
    """A Karpenter pool. Its custom resources depend on the Karpenter release (``args.karpenter``): on destroy they
    go first, and Karpenter drains and terminates their nodes while it still runs."""

    def __init__(self, name: str, args: NodePoolArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:compute:NodePool", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = {POOL_LABEL: args.name}
        efa_sg_id = placement_name = None
        self.placement_group = self.efa_security_group = None
        if args.efa_interfaces:
            self.placement_group = aws.ec2.PlacementGroup(f"{name}-efa", strategy="cluster", tags=tags, opts=child)
            self.efa_security_group = aws.ec2.SecurityGroup(
                f"{name}-efa",
                description=f"EFA traffic between nodes of pool {args.name}: all traffic to and from itself",
                vpc_id=args.vpc_id,
                tags={**tags, "Name": f"{args.name}-efa"},
                opts=child,
            )
            sg = self.efa_security_group.id
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-efa-in",
                security_group_id=sg,
                referenced_security_group_id=sg,
                ip_protocol="-1",
                description="EFA: all traffic from the pool's EFA security group",
                opts=child,
            )
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-efa-out",
                security_group_id=sg,
                referenced_security_group_id=sg,
                ip_protocol="-1",
                description="EFA: all traffic to the pool's EFA security group",
                opts=child,
            )
            efa_sg_id, placement_name = sg, self.placement_group.name

        self.node_class = k8s.apiextensions.CustomResource(
            f"{name}-nodeclass",
            api_version=NODECLASS_API,
            kind="EC2NodeClass",
            metadata={"name": args.name, "labels": {POOL_LABEL: args.name}},
            spec=node_class_spec(args, efa_sg_id, placement_name),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.karpenter)),
        )
        # The NodePool references the node class: it is deleted first, and Karpenter drains its nodes.
        self.node_pool = k8s.apiextensions.CustomResource(
            f"{name}-nodepool",
            api_version=NODEPOOL_API,
            kind="NodePool",
            metadata={"name": args.name, "labels": {POOL_LABEL: args.name}},
            spec=node_pool_spec(args),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.node_class, *args.karpenter]),
        )
        self.overlays = [
            k8s.apiextensions.CustomResource(
                f"{name}-overlay-{overlay['name'].rsplit('-', 1)[-1]}",
                api_version=OVERLAY_API,
                kind="NodeOverlay",
                metadata={"name": overlay["name"], "labels": {POOL_LABEL: args.name}},
                spec=overlay["spec"],
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.karpenter)),
            )
            for overlay in node_overlays(args)
        ]
        self.register_outputs({"name": args.name, "limits": dict(args.limits), "efaInterfaces": args.efa_interfaces})
