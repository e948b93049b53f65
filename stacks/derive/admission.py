"""How Kueue admits, orders and places the teams' jobs, derived from the spec. PURE: no Pulumi calls.

Rules and field names from kubernetes-sigs/kueue v0.19.2 (the pinned chart, components/versions.py):

* **Gang admission** (apis/config/v1beta2/configuration_types.go `WaitForPodsReady`, pkg/util/waitforpodsready:
  in the v1beta2 Configuration the section's presence turns it on; there is no `enable` field as in v1beta1). An
  admitted workload whose pods are not all Ready within `timeout` is evicted (condition Evicted, reason
  PodsReadyTimeout), its quota released, and requeued after `backoffBaseSeconds * 2^(n-1)` (at most
  `backoffMaxSeconds`); after `backoffLimitCount` requeues it is deactivated (spec.active=false). A running
  workload whose PodsReady turns false for longer than `recoveryTimeout` is evicted the same way. The PodsReady
  condition is computed by every job integration (batch Job, JobSet and TrainJob, MPIJob, RayJob/RayCluster, the
  Kubeflow PyTorchJob when that integration is enabled), so the rule covers all of them.
* **The timeout** must cover what happens between admission and the last pod Ready on a pool that scales from
  zero: Karpenter launches the instance, it boots and joins, the device plugins advertise the accelerators and EFA,
  the image is pulled. :data:`NODE_STARTUP` states the budget of each step per pool kind (Crucible's figures, upper
  bounds, not an AWS SLA: EC2 launch-to-running about a minute; AL2023/Bottlerocket boot and kubelet join about a
  minute and a half; the NVIDIA driver with fabric manager on NVSwitch instances, the Neuron driver, the EFA device
  plugin; a 10-20 GB NGC PyTorch image or a 5-10 GB Neuron DLC pulled once per node). The slowest accelerator
  pool's total, with a 50% margin, in whole 5 minutes, is the timeout.
* **Priorities** (pkg/util/priority, pkg/controller/jobframework/reconciler.go `ExtractPriority`): a job's
  `kueue.x-k8s.io/priority-class` label names a WorkloadPriorityClass whose value is the workload's priority; a
  name that does not exist keeps the job from ever having a workload; no label: the pods' PriorityClass, else 0.
* **Preemption** (apis/kueue/v1beta2/clusterqueue_types.go `ClusterQueuePreemption`): see :func:`preemption`.
* **Topology-aware scheduling** (beta, on by default since 0.14; pkg/scheduler/flavorassigner/
  tas_flavorassigner.go): a ResourceFlavor with `topologyName` admits only pod sets that ask for a topology
  (`kueue.x-k8s.io/podset-required-topology` / `-preferred-topology` / `-unconstrained-topology` on the pod
  template) unless every flavor of the ClusterQueue is a TAS flavor; a pod set that asks for one is refused by a
  flavor without `topologyName`, or whose Topology lacks the requested level. TAS counts the capacity of existing
  Nodes only (Kueue integrates TAS with ClusterAutoscaler's ProvisioningRequest, not with Karpenter), hence opt-in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

from components.accelerators import ACCELERATED, accelerator
from components.kueue_objects import KUEUE_API, workload_priority_class

API_VERSION = KUEUE_API
PRIORITY_CLASS_LABEL = "kueue.x-k8s.io/priority-class"  # pkg/controller/constants WorkloadPriorityClassLabel
REQUIRED_TOPOLOGY = "kueue.x-k8s.io/podset-required-topology"
PREFERRED_TOPOLOGY = "kueue.x-k8s.io/podset-preferred-topology"
UNCONSTRAINED_TOPOLOGY = "kueue.x-k8s.io/podset-unconstrained-topology"
TOPOLOGY_ANNOTATIONS = (REQUIRED_TOPOLOGY, PREFERRED_TOPOLOGY, UNCONSTRAINED_TOPOLOGY)

# The EKS network-topology node labels (EKS user guide, "Place distributed AI/ML workloads with network topology
# labels"): layer 1 is the top of the AWS network hierarchy, layer 3 the bottom for most supported types (nodes that
# share it are closest); layer 4 exists only on some types, so it is not a level (a level every node lacks would
# leave those nodes out). The host is last, as the Topology CRD requires of kubernetes.io/hostname.
TOPOLOGY_NAME = "aws-network"
HOSTNAME_LABEL = "kubernetes.io/hostname"
NETWORK_LAYERS = tuple(f"topology.k8s.aws/network-node-layer-{i}" for i in (1, 2, 3))
TOPOLOGY_LEVELS = (*NETWORK_LAYERS, HOSTNAME_LABEL)
# What the training examples ask for: as close as the network allows (the bottom network layer), falling back a
# level up when the job does not fit there (preferred, not required: a job never waits for a domain that may not
# have room for it).
EXAMPLE_TOPOLOGY = (PREFERRED_TOPOLOGY, NETWORK_LAYERS[-1])


# ---- gang admission -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeStartup:
    """Seconds from admission to a pod Ready on a new node of one kind (each step's budget)."""

    launch: int  # EC2 CreateFleet to instance running
    join: int  # OS boot, kubelet registered, node Ready
    devices: int  # the device plugins advertise the accelerators (driver load, fabric manager)
    efa: int  # the EFA device plugin advertises the interfaces (EFA pools only)
    image: int  # the training image pulled on the new node

    def total(self, efa: bool) -> int:
        return self.launch + self.join + self.devices + (self.efa if efa else 0) + self.image


NODE_STARTUP: Mapping[str, NodeStartup] = {
    "cpu": NodeStartup(launch=60, join=90, devices=0, efa=30, image=120),
    "gpu": NodeStartup(launch=60, join=90, devices=120, efa=30, image=600),
    "neuron": NodeStartup(launch=60, join=90, devices=60, efa=30, image=300),
}
MARGIN = 1.5
ROUND_TO_MINUTES = 5


@dataclass(frozen=True)
class GangAdmission:
    timeout_minutes: int
    recovery_timeout_minutes: int
    backoff_base_seconds: int
    backoff_max_seconds: int
    backoff_limit_count: int
    slowest_pool: Optional[str]  # the pool the timeout is derived from (None: stated, or no accelerator pool)
    slowest_seconds: int
    derived: bool

    def config(self) -> dict:
        """Kueue's Configuration `waitForPodsReady` (config.kueue.x-k8s.io/v1beta2)."""
        return {
            "timeout": f"{self.timeout_minutes}m",
            "blockAdmission": False,  # never serialise the cluster's admissions behind one job's start-up
            "recoveryTimeout": f"{self.recovery_timeout_minutes}m",
            "requeuingStrategy": {
                "timestamp": "Eviction",
                "backoffBaseSeconds": self.backoff_base_seconds,
                "backoffMaxSeconds": self.backoff_max_seconds,
                "backoffLimitCount": self.backoff_limit_count,
            },
        }

    def to_json(self) -> dict:
        return {
            "timeoutMinutes": self.timeout_minutes,
            "recoveryTimeoutMinutes": self.recovery_timeout_minutes,
            "backoffBaseSeconds": self.backoff_base_seconds,
            "backoffMaxSeconds": self.backoff_max_seconds,
            "backoffLimitCount": self.backoff_limit_count,
            "derivedFrom": {"pool": self.slowest_pool, "nodeStartupSeconds": self.slowest_seconds} if self.derived else None,
        }


def pool_startup_seconds(pool) -> int:
    return NODE_STARTUP[pool.kind].total(bool(pool.efa))


def derived_timeout(pools: Sequence) -> tuple[int, Optional[str], int]:
    """(minutes, slowest pool, its start-up seconds): the slowest accelerator pool's node start-up with the margin,
    rounded up to whole 5 minutes (cpu pools when there is no accelerator pool; 10 minutes without pools)."""
    candidates = [p for p in pools if accelerator(p.kind).accelerated] or list(pools)
    if not candidates:
        return 10, None, 0
    slowest = max(candidates, key=pool_startup_seconds)  # first of equals: config order
    seconds = pool_startup_seconds(slowest)
    minutes = math.ceil(seconds * MARGIN / 60 / ROUND_TO_MINUTES) * ROUND_TO_MINUTES
    return minutes, slowest.name, seconds


def gang_admission(spec) -> GangAdmission:
    gang = spec.queues.gang_admission
    minutes, pool, seconds = derived_timeout(spec.pools)
    timeout = gang.timeout_minutes or minutes
    return GangAdmission(
        timeout_minutes=timeout,
        recovery_timeout_minutes=gang.recovery_timeout_minutes or timeout,
        backoff_base_seconds=gang.backoff_base_seconds,
        backoff_max_seconds=gang.backoff_max_seconds,
        backoff_limit_count=gang.backoff_limit_count,
        slowest_pool=pool,
        slowest_seconds=seconds,
        derived=gang.timeout_minutes is None,
    )


# ---- priorities -----------------------------------------------------------------------------------------------


def priority_classes(spec) -> list[dict]:
    """The WorkloadPriorityClass manifests, highest value first."""
    out = []
    for c in sorted(spec.queues.priority_classes, key=lambda c: -c.value):
        out.append(workload_priority_class(c.name, c.value, c.description))
    return out


def example_priority_class(spec) -> str:
    """The class the example jobs carry: the default class (a team's own default may differ: see the plan)."""
    return spec.queues.default_priority_class


def lowest_priority_class(spec) -> str:
    """The lowest class (canaries and other work that must never displace a team's jobs)."""
    return min(spec.queues.priority_classes, key=lambda c: c.value).name


# ---- preemption -----------------------------------------------------------------------------------------------


def preemption(borrowing_limit: Any, lending_limit: Any, fair_sharing: bool = True) -> dict:
    """A team's ClusterQueue `spec.preemption` from its borrowing settings (true / false / a percentage):

    * `withinClusterQueue: LowerPriority` always: inside a team a higher class preempts a lower one when the team's
      quota is used up (what the priority classes are for).
    * `reclaimWithinCohort`: a team that lends (lendingLimit not false) takes what it lent back from borrowers
      (`Any`: the quota is its own, whatever the borrower's priority); a team that lends nothing has nothing out to
      reclaim (`Never`; also for 0%).
    * `borrowWithinCohort`: a borrowing workload preempting other teams' lower-priority work to borrow. Kueue allows
      it with classical preemption only, not with fair sharing (which Crucible turns on: addons/kueue.py), where
      fair sharing's strategies decide; `Never` then. In classical mode a team that may borrow gets
      `LowerPriority`; one that may not borrow `Never`. The CRD refuses reclaimWithinCohort Never with
      borrowWithinCohort other than Never, so a team that lends nothing never borrows by preemption.
    """
    reclaim = "Never" if not lending_limit else "Any"  # false or 0%: lends nothing
    borrows = bool(borrowing_limit)  # false or 0%: borrows nothing
    borrow = "LowerPriority" if (borrows and not fair_sharing and reclaim != "Never") else "Never"
    return {"withinClusterQueue": "LowerPriority", "reclaimWithinCohort": reclaim, "borrowWithinCohort": {"policy": borrow}}


# ---- topology -------------------------------------------------------------------------------------------------


def topology() -> dict:
    return {
        "apiVersion": API_VERSION,
        "kind": "Topology",
        "metadata": {"name": TOPOLOGY_NAME},
        "spec": {"levels": [{"nodeLabel": label} for label in TOPOLOGY_LEVELS]},
    }


def topology_aware_pools(spec) -> tuple[str, ...]:
    """The pools whose ResourceFlavor references the Topology (`queues.topologyAwarePools`, validated)."""
    return tuple(spec.queues.topology_aware_pools)


def toleration_checked_kinds(spec) -> tuple[str, ...]:
    """The accelerator kinds (gpu, neuron) whose team jobs must state their pool's toleration: those none of whose
    pools is topology-aware. Their flavors state the taint as nodeTaints, which Kueue admits only pod sets that
    tolerate; a topology-aware flavor adds the toleration itself (stacks/derive/quotas.py resource_flavor), so a job
    of its kind stating none may still be admitted there."""
    tas = {p.kind for p in spec.pools if p.name in topology_aware_pools(spec)}
    return tuple(a.kind for a in ACCELERATED if a.taint and a.kind not in tas)


def topology_request(pool_name: str, spec) -> Optional[tuple[str, str]]:
    """(annotation, level) a multi-node training pod template carries on ``pool_name``; None off TAS pools (a pod
    set asking for a topology is refused by a flavor without one)."""
    return EXAMPLE_TOPOLOGY if pool_name in topology_aware_pools(spec) else None
