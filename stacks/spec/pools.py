"""The pools section: Karpenter node pools, each stated once (kind, instance types, capacity, zones, EFA, workload)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Optional

from components import versions
from components.accelerators import Kind
from components.labels import ACCELERATOR_LABEL, AMI_FAMILY_LABEL, BURN_IN_LABEL, EFA_LABEL, POOL_LABEL, WORKLOAD_LABEL
from stacks.spec.checks import label_value_problem, node_label_key_problem
from stacks.spec.schema import ByEnv, Context, all_of, in_range, non_empty, setting, show, unique

_POOL_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")
_AMI_VERSION = re.compile(r"^(latest|v\d{8}|v?\d+\.\d+\.\d+)$")

CAPACITY_TYPES = ("on-demand", "spot", "reserved")
AMI_EXAMPLE = versions.AMI_RELEASE_EXAMPLES  # components/versions.py


def pool_name(value: str) -> Optional[str]:
    if not _POOL_NAME.match(value):
        return f"got {show(value)}; allowed: 1-40 lowercase letters, digits and '-', starting and ending with a letter or digit"
    return None


def node_labels(labels) -> list[tuple[Optional[str], str]]:
    """Each label a Karpenter NodePool template may not carry, with why (see stacks/spec/checks.py)."""
    own = (POOL_LABEL, WORKLOAD_LABEL, ACCELERATOR_LABEL, EFA_LABEL, AMI_FAMILY_LABEL, BURN_IN_LABEL)  # set on nodes by Crucible
    out = []
    for key, value in labels.items():
        message = node_label_key_problem(key, own)
        if message:
            out.append((key, message))
        message = label_value_problem(value)
        if message:
            out.append((key, f"the value: {message}"))
    return out


def ami_version(value: str) -> Optional[str]:
    if not _AMI_VERSION.match(value):
        return (
            f"got {show(value)}; allowed: 'latest' or a pinned release such as {AMI_EXAMPLE['AL2023']} (AL2023) or {AMI_EXAMPLE['Bottlerocket']} (Bottlerocket)"
        )
    return None


@dataclass(frozen=True)
class GpuSharingSpec:
    """Several pods on one GPU (NVIDIA device plugin configuration, addons/device_plugins.py)."""

    mode: Literal["time-slicing", "mig"] = setting(
        "time-slicing: each GPU is advertised `replicas` times (no memory or fault isolation between the pods sharing it); "
        "mig: hardware partitions, on GPUs that support Multi-Instance GPU (A100, H100, H200).",
        default="time-slicing",
    )
    replicas: int = setting("time-slicing: pods per GPU; the node advertises GPUs x replicas nvidia.com/gpu.", default=2, check=in_range(2, 48))


@dataclass(frozen=True)
class CapacityReservationSpec:
    """On-demand capacity reservations or ML Capacity Blocks the pool may use (capacity type `reserved`)."""

    ids: tuple[str, ...] = setting("Capacity reservation ids (cr-…).", default=[], check=unique)
    tags: dict[str, str] = setting("Select reservations by tags instead of (or as well as) ids.", default={})

    def check(self, ctx: Context, path: str) -> None:
        if not self.ids and not self.tags:
            ctx.problem(path, "name the reservations: set `ids` or `tags`")
        for i, rid in enumerate(self.ids):
            if not re.match(r"^cr-[0-9a-f]{8,17}$", rid):
                ctx.problem(f"{path}.ids[{i}]", f"got {show(rid)}; allowed: a capacity reservation id such as cr-0123456789abcdef0")


# DCGM diagnostic levels (`dcgmi diag -r <level>`, NVIDIA DCGM user guide "DCGM Diagnostics"): what each runs and the
# least time the burn-in allows it. Level 1 is the quick deployment check (seconds); 2 adds the short plugin tests
# (about 2 minutes); 3 the long stress tests (memory, targeted stress and power, about 30 minutes on 8 GPUs);
# 4 the extended tests (1-2 hours).
BURN_IN_LEVEL_MINUTES = {1: 10, 2: 20, 3: 60, 4: 180}


@dataclass(frozen=True)
class BurnInSpec:
    """Burn-in of a new node of an accelerator pool before any workload may land on it (addons/burn_in.py)."""

    enabled: Optional[bool] = setting(
        "Burn in every new node of the pool: it starts with the startup taint crucible.io/burn-in=pending:NoSchedule that only "
        "the burn-in DaemonSet removes, after the accelerator's own diagnostics pass (GPU: DCGM `dcgmi diag`; EFA: "
        "`fi_info -p efa`; Neuron: `neuron-ls`); a node that fails is labelled, tainted, recorded and replaced. "
        "Default: on for gpu and neuron pools outside dev, off in dev; cpu pools have none.",
        default=None,
    )
    level: Optional[int] = setting(
        "DCGM diagnostic level (`dcgmi diag -r`) of a gpu pool: 1 quick, 2 medium (~2 min), 3 long (~30 min), 4 extended (1-2 h). Default: 2 on training pools, 1 on serving and interactive pools (nodes that come and go with demand).",
        default=None,
        check=in_range(1, 4),
    )
    timeout_minutes: Optional[int] = setting(
        "How long each diagnostic may run before the node counts as failed. Default (and least allowed): 10, 20, 60, 180 "
        "minutes for DCGM levels 1-4; Neuron and EFA checks: 10.",
        default=None,
        check=in_range(5, 600),
    )

    def check(self, ctx: Context, path: str) -> None:
        if self.level is not None and self.timeout_minutes is not None and self.timeout_minutes < BURN_IN_LEVEL_MINUTES[self.level]:
            ctx.problem(
                f"{path}.timeoutMinutes",
                f"got {self.timeout_minutes} for DCGM level {self.level}; allowed: at least {BURN_IN_LEVEL_MINUTES[self.level]} "
                "(the level's tests would be cut short and every node would fail)",
            )


@dataclass(frozen=True)
class PoolSpec:
    name: str = setting("Pool name; becomes the NodePool/EC2NodeClass name and the crucible.io/pool label.", check=pool_name)
    # The one accelerator vocabulary (components/accelerators.py): gpu | neuron | cpu.
    kind: Kind = setting("What the pool's nodes accelerate with: NVIDIA GPUs, AWS Neuron (Trainium/Inferentia) or nothing.")
    workload: Literal["training", "serving", "interactive"] = setting(
        "What runs there: training (never disrupted while busy), serving or interactive (consolidated when idle)."
    )
    instance_types: tuple[str, ...] = setting("Instance types (p5.48xlarge) or families (g6e) from the instance catalog.", check=all_of(non_empty, unique))
    capacity_types: tuple[Literal["on-demand", "spot", "reserved"], ...] = setting(
        "Karpenter capacity types to use: on-demand, spot, reserved (needs `capacityReservation`).",
        default=["on-demand"],
        check=all_of(non_empty, unique),
    )
    capacity_reservation: Optional[CapacityReservationSpec] = setting("Reservations for capacity type `reserved` (ODCRs and ML Capacity Blocks).", default=None)
    max_nodes: Optional[int] = setting(
        "Most nodes the pool may run; the NodePool's cpu/memory/accelerator limits are derived from it. Set this or maxAccelerators.",
        default=None,
        check=in_range(1, 1000),
    )
    max_accelerators: Optional[int] = setting("Most accelerators the pool may run (alternative to maxNodes).", default=None, check=in_range(1, 100000))
    zones: tuple[str, ...] = setting(
        "Availability zones of the pool (a subset of crucible:availabilityZones). Default: all of them; EFA pools: the first.",
        default=[],
        check=unique,
    )
    efa: bool = setting("Attach every EFA interface the instance has; single zone, cluster placement group, EFA security group.", default=False)
    ami_family: Literal["AL2023", "Bottlerocket"] = setting("Node OS; the accelerated variant is picked for GPU/Neuron types.", default="AL2023")
    ami_version: Optional[str] = setting(
        "AMI release to pin (e.g. v20251108); 'latest' drifts on every release and is refused in prod.",
        default=ByEnv(dev="latest", prod=None),
        check=ami_version,
    )
    root_volume_gib: int = setting(
        "Root volume (/dev/xvda) size, gp3, encrypted: the OS, and on AL2023 without dataVolumeGib also containers and kubelet.",
        default=100,
        check=in_range(20, 16000),
    )
    data_volume_gib: Optional[int] = setting(
        "A gp3 data volume (/dev/xvdb), encrypted, for container images, containers, kubelet state and pod logs: the "
        "volume Karpenter sizes ephemeral-storage from. Bottlerocket always has one (default: rootVolumeGib); on "
        "AL2023 the node formats and mounts it, and it excludes instanceStoreRaid0. Unset on AL2023: all on the root volume.",
        default=None,
        check=in_range(20, 16000),
    )
    instance_store_raid0: Optional[bool] = setting(
        "Assemble local NVMe instance store as RAID0 for ephemeral storage (Karpenter mounts it for containers and kubelet). "
        "Default: on when every type has instance store, except on AL2023 with dataVolumeGib.",
        default=None,
    )
    imds_hop_limit: int = setting("IMDSv2 hop limit; 1 keeps pods off the instance metadata service.", default=1, check=in_range(1, 2))
    labels: dict[str, str] = setting(
        "Extra node labels (valid Kubernetes labels; not in the domains kubelet and Karpenter reserve: kubernetes.io, "
        "k8s.io, karpenter.sh, karpenter.k8s.aws, except node.kubernetes.io/, node-restriction.kubernetes.io/, "
        "node-role.kubernetes.io/ and kops.k8s.io/; not the labels Crucible sets or derives).",
        default={},
        check=node_labels,
    )
    weight: Optional[int] = setting("Karpenter weight: higher pools are tried first when several fit.", default=None, check=in_range(1, 100))
    replicas: Optional[int] = setting(
        "A fixed fleet of exactly this many nodes (a Karpenter static NodePool, `spec.replicas`; feature gate staticCapacity): "
        "for ML Capacity Blocks and capacity reservations, kept running whatever the demand and costed as fixed. Needs "
        "maxNodes (at least replicas: the headroom replacements may use); excludes maxAccelerators and weight.",
        default=None,
        check=in_range(1, 1000),
    )
    burn_in: BurnInSpec = setting("Burn-in of new nodes before work (see `burnIn.*`).", default={})
    gpu_sharing: Optional[GpuSharingSpec] = setting(
        "Share each GPU of an interactive gpu pool between pods (see `gpuSharing.*`); Kueue quotas and the plan count the "
        "shared nvidia.com/gpu (GPUs x replicas per node). Unset: one pod per GPU.",
        default=None,
    )

    def check(self, ctx: Context, path: str) -> None:
        """Combinations that cannot work; each problem names its key. Instance facts come from the catalog."""
        if (self.max_nodes is None) == (self.max_accelerators is None):
            both = "both are set" if self.max_nodes is not None else "neither is set"
            ctx.problem(f"{path}.maxNodes", f"{both}; allowed: exactly one of maxNodes or maxAccelerators")
        if self.kind == "cpu" and self.max_accelerators is not None:
            ctx.problem(f"{path}.maxAccelerators", f"got {self.max_accelerators} on a cpu pool; allowed: maxNodes (a cpu pool has no accelerators)")
        if "reserved" in self.capacity_types and self.capacity_reservation is None:
            ctx.problem(
                f"{path}.capacityReservation",
                "required: capacity type 'reserved' needs a reservation selector (ids or tags of the ODCRs / ML Capacity Blocks)",
            )
        if self.capacity_reservation is not None and "reserved" not in self.capacity_types:
            ctx.problem(f"{path}.capacityTypes", f"got {show(list(self.capacity_types))}; add 'reserved' to use capacityReservation, or remove it")
        if self.efa and len(self.zones) > 1:
            ctx.problem(
                f"{path}.zones",
                f"got {show(list(self.zones))}; allowed: one zone for an EFA pool (EFA does not cross zones; the cluster placement group lives in one)",
            )
        if ctx.env in ("staging", "prod"):
            if self.ami_version is None:
                ctx.problem(f"{path}.amiVersion", f"required in {ctx.env}: pin the AMI release, e.g. {AMI_EXAMPLE[self.ami_family]}")
            elif self.ami_version == "latest":
                ctx.problem(
                    f"{path}.amiVersion",
                    f"got 'latest' in {ctx.env}; allowed: a pinned release such as {AMI_EXAMPLE[self.ami_family]} ('latest' drifts and replaces nodes on every AMI release)",
                )
        if self.ami_version not in (None, "latest"):
            al2023_style = self.ami_version.startswith("v") and self.ami_version[1:].isdigit()
            if self.ami_family == "AL2023" and not al2023_style:
                ctx.problem(f"{path}.amiVersion", f"got {show(self.ami_version)} for AL2023; allowed: an AL2023 release such as {AMI_EXAMPLE['AL2023']}")
            if self.ami_family == "Bottlerocket" and al2023_style:
                ctx.problem(
                    f"{path}.amiVersion",
                    f"got {show(self.ami_version)} for Bottlerocket; allowed: a Bottlerocket release such as {AMI_EXAMPLE['Bottlerocket']}",
                )
        if self.ami_family == "AL2023" and self.data_volume_gib and self.instance_store_raid0:
            ctx.problem(
                f"{path}.dataVolumeGib",
                f"got {self.data_volume_gib} with instanceStoreRaid0: true; allowed on AL2023: one of them (both would "
                "hold /var/lib/containerd and /var/lib/kubelet): drop dataVolumeGib or set instanceStoreRaid0: false",
            )
        self._check_static(ctx, path)
        self._check_burn_in(ctx, path)
        if self.gpu_sharing is not None:
            if self.kind != "gpu":
                ctx.problem(f"{path}.gpuSharing", f"set on a {self.kind} pool; allowed: gpu pools only (it configures the NVIDIA device plugin)")
            elif self.workload != "interactive":
                ctx.problem(
                    f"{path}.gpuSharing",
                    f"set on a {self.workload} pool; allowed: interactive pools (training and serving replicas need whole GPUs: shared ones give "
                    "them neither the memory nor the throughput they are sized for)",
                )
            elif self.ami_family != "AL2023":
                ctx.problem(
                    f"{path}.gpuSharing",
                    "set on a Bottlerocket pool; allowed: AL2023 pools (Bottlerocket's NVIDIA variant runs its own device plugin, which Crucible does not configure)",
                )
            elif self.gpu_sharing.mode == "mig":
                from stacks.spec.instances import mig_capable

                capable, others = mig_capable(self.instance_types)
                ctx.problem(
                    f"{path}.gpuSharing.mode",
                    "got 'mig'; not supported yet: the NVIDIA device plugin only advertises MIG devices that already exist, and "
                    "partitioning the GPUs needs NVIDIA's MIG manager (GPU operator), which Crucible does not install"
                    + (f"; of this pool's types only {', '.join(capable)} support MIG" if capable else "; none of this pool's types supports MIG")
                    + (f" ({', '.join(others)} do not)" if capable and others else "")
                    + "; allowed: time-slicing",
                )
        from stacks.spec.instances import check_pool_instances  # the catalog-backed rules

        check_pool_instances(self, ctx, path)

    def _check_static(self, ctx: Context, path: str) -> None:
        """A static NodePool admits only `limits.nodes` and no `weight` (the karpenter.sh/v1 NodePool CRD's CEL rules at
        1.14.1: "only 'limits.nodes' is supported on static NodePools", "'weight' is not supported on static NodePools")."""
        if self.replicas is None:
            return
        if self.max_accelerators is not None:
            ctx.problem(
                f"{path}.maxAccelerators",
                f"got {self.max_accelerators} with replicas {self.replicas}; allowed: maxNodes (a static NodePool takes only a node limit)",
            )
        elif self.max_nodes is None:
            ctx.problem(f"{path}.maxNodes", f"required with replicas {self.replicas}: the node limit (at least {self.replicas}) replacements may use")
        elif self.max_nodes < self.replicas:
            ctx.problem(f"{path}.replicas", f"got {self.replicas}; allowed: at most maxNodes ({self.max_nodes}), the NodePool's node limit")
        if self.weight is not None:
            ctx.problem(f"{path}.weight", f"got {self.weight} with replicas {self.replicas}; allowed: unset (a static NodePool has no weight)")

    def _check_burn_in(self, ctx: Context, path: str) -> None:
        b = self.burn_in
        if self.kind == "cpu" and (b.enabled or b.level is not None or b.timeout_minutes is not None):
            ctx.problem(f"{path}.burnIn", "set on a cpu pool; allowed: gpu and neuron pools (a cpu node has no accelerator to diagnose)")
        if self.kind == "neuron" and b.level is not None:
            ctx.problem(
                f"{path}.burnIn.level",
                f"got {b.level} on a neuron pool; allowed: unset (the DCGM level applies to gpu pools; Neuron nodes run neuron-ls and the EFA check)",
            )

    @property
    def static(self) -> bool:
        """A fixed fleet (Karpenter static NodePool) rather than an elastic pool."""
        return self.replicas is not None

    @property
    def ami_alias(self) -> str:
        """Karpenter's amiSelectorTerms alias, e.g. al2023@v20251108 or bottlerocket@v1.47.0."""
        family = "al2023" if self.ami_family == "AL2023" else "bottlerocket"
        version = self.ami_version or "latest"
        if family == "bottlerocket" and version != "latest" and not version.startswith("v"):
            version = f"v{version}"
        return f"{family}@{version}"
