"""Label, tag, taint and device-resource names Crucible puts on what it creates or asks for; policies, quotas and
workloads rely on them."""

POOL_LABEL = "crucible.io/pool"
WORKLOAD_LABEL = "crucible.io/workload"
ACCELERATOR_LABEL = "crucible.io/accelerator"
SYSTEM_POOL = "system"
# The system node group (Karpenter, Kueue, CoreDNS, the operators, the hub) is tainted so that only platform pods,
# which tolerate it, run there: a tenant pod (a notebook, a Ray head, a job) without a selector would otherwise
# take the nodes the cluster's controllers need. CriticalAddonsOnly is the key EKS's CoreDNS and the Karpenter
# chart already tolerate (Karpenter's getting-started guide taints its system node group the same way).
SYSTEM_TAINT = {"key": "CriticalAddonsOnly", "value": "true", "effect": "NoSchedule"}
SYSTEM_TOLERATION = {"key": "CriticalAddonsOnly", "operator": "Exists", "effect": "NoSchedule"}


def on_system_nodes(system_pool: str) -> dict:
    """nodeSelector and tolerations of a platform pod on the system node group (chart values and pod specs use
    the same two keys)."""
    return {"nodeSelector": {POOL_LABEL: system_pool}, "tolerations": [dict(SYSTEM_TOLERATION)]}


TENANT_LABEL = "crucible.io/tenant"  # on a team's namespace and the objects made for it
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"  # a job's LocalQueue
EXAMPLE_LABEL = "crucible.io/example"  # on the example workloads `crucible examples` writes
# On the namespaces whose jobs Kueue queues (the teams', crucible verify's, the health canary's): Kueue's
# managedJobsNamespaceSelector. Its own label, not the tenant one, which also grants the team NetworkPolicies and
# admission policies: Kueue's reconciler ignores every job outside the selector, labelled or not (0.19).
QUEUED_NAMESPACE_LABEL = "crucible.io/queued"


def queued_namespace() -> dict[str, str]:
    """The label that puts a namespace's jobs under Kueue."""
    return {QUEUED_NAMESPACE_LABEL: "true"}


# The label by which the AWS Load Balancer Controller's pod webhook (chart 3.5.0 templates/webhook.yaml,
# mpod.elbv2.k8s.aws) injects its target-health readiness gate into a namespace's pods. Crucible does not set it on
# the team namespaces: Kueue's waitForPodsReady would then evict a replica whose target stays unhealthy
# (addons/tenancy.py namespace_labels).
READINESS_GATE_LABEL = "elbv2.k8s.aws/pod-readiness-gate-inject"


KARPENTER_DISCOVERY_TAG = "karpenter.sh/discovery"
ELB_ROLE_TAG = "kubernetes.io/role/elb"
INTERNAL_ELB_ROLE_TAG = "kubernetes.io/role/internal-elb"


def cluster_tag(cluster_name: str) -> str:
    return f"kubernetes.io/cluster/{cluster_name}"


# Labels Karpenter and the kubelet put on every node: pods and Kueue flavors select a pool and a type with them.
NODEPOOL_LABEL = "karpenter.sh/nodepool"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"

# Device plugin resources: EFA interfaces here; the accelerators of each pool kind (and their taints, node label
# values and device plugins) are the accelerator table's, components/accelerators.py.
EFA_RESOURCE = "vpc.amazonaws.com/efa"
HUGEPAGES_RESOURCE = "hugepages-2Mi"
# No Crucible pod asks for huge pages, and none may in a team namespace (ResourceQuota 0; Kueue covers none):
# Karpenter models no huge pages for any instance type (aws/karpenter-provider-aws#3315,
# kubernetes-sigs/karpenter#751), so a pod requesting them never gets a node. EFA pods instead tell libfabric's
# EFA provider not to allocate its internal buffers from huge pages (EFA_NO_HUGE_PAGES_ENV).
EFA_NO_HUGE_PAGES_ENV = ("FI_EFA_USE_HUGE_PAGE", "0")

EFA_LABEL = "crucible.io/efa"  # "true" on nodes of pools with efa: true (the EFA device plugin runs there)
AMI_FAMILY_LABEL = "crucible.io/ami-family"  # al2023 | bottlerocket (the NVIDIA device plugin runs on al2023 only)

# The FSx for Lustre CSI driver removes this taint from a node once its node agent is ready there
# (aws-fsx-csi-driver docs/install.md, "Configure node startup taint"; NoExecute recommended). Karpenter pools
# whose pods mount Lustre carry it as a startup taint: see stacks/derive/placement.py startup_taints().
FSX_CSI_STARTUP_TAINT = {"key": "fsx.csi.aws.com/agent-not-ready", "effect": "NoExecute"}

# Pod Security Admission: every namespace Crucible creates states its level; warn/audit stay at restricted so a
# namespace enforcing less still reports what a restricted pod would not be allowed.
POD_SECURITY_LEVELS = ("privileged", "baseline", "restricted")


def pod_security(enforce: str) -> dict[str, str]:
    if enforce not in POD_SECURITY_LEVELS:
        raise ValueError(f"pod security level {enforce!r}; allowed: {', '.join(POD_SECURITY_LEVELS)}")
    return {
        "pod-security.kubernetes.io/enforce": enforce,
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
    }


# Pod Security `restricted` (the Pod Security Standards): what a pod that needs no privilege states, so it is admitted
# in every team namespace whatever level the team enforces. A numeric user: the kubelet cannot check runAsNonRoot
# against a named image user.
RESTRICTED_POD_SECURITY = {"runAsNonRoot": True, "runAsUser": 1000, "runAsGroup": 1000, "seccompProfile": {"type": "RuntimeDefault"}}
RESTRICTED_CONTAINER_SECURITY = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}

# Burn-in (addons/burn_in.py): accelerator pools with burn-in start with BURN_IN_STARTUP_TAINT (a Karpenter
# startupTaint: workloads need not tolerate it, Karpenter expects it to go); only the burn-in DaemonSet tolerates it,
# runs the accelerator's own diagnostics and then sets BURN_IN_LABEL to `passed` (and removes the taint) or `failed`
# (and replaces it with BURN_IN_FAILED_TAINT, records why, and deletes the node so Karpenter replaces it).
# The device plugins tolerate the startup taint too: the diagnostics request the devices they advertise.
BURN_IN_LABEL = "crucible.io/burn-in"
BURN_IN_STARTUP_TAINT = {"key": BURN_IN_LABEL, "value": "pending", "effect": "NoSchedule"}
BURN_IN_TOLERATION = {"key": BURN_IN_LABEL, "operator": "Equal", "value": "pending", "effect": "NoSchedule"}
BURN_IN_FAILED_TAINT = {"key": BURN_IN_LABEL, "value": "failed", "effect": "NoExecute"}
BURN_IN_CONDITION = "CrucibleBurnIn"  # the node condition burn-in writes (True: passed, False: failed), with reason and message

# ---- node health as `crucible verify health` reads it (stacks/tools/verify/checks/health.py) -----------------------
# The EKS node monitoring agent's NodeConditions, one per category (EKS user guide "Detect node health issues and
# enable automatic node repair"; aws/eks-node-monitoring-agent README): status "False" is a detected problem, and
# it is what Karpenter's node repair acts on.
NODE_HEALTH_CONDITIONS = ("AcceleratedHardwareReady", "ContainerRuntimeReady", "KernelReady", "NetworkingReady", "StorageReady")
# The fleet health canary (addons/health_canary.py): its verdict on the nodes it ran on, and when a run measured
# less than the configured share of the catalog figure, a NoSchedule taint that keeps new work off them until a
# person (or an automation of theirs) replaces the node. Neither triggers Karpenter's node repair, which reads node
# conditions only.
CANARY_LABEL = "crucible.io/canary"  # passed | failed
CANARY_PASSED, CANARY_FAILED = "passed", "failed"
CANARY_RESULT_ANNOTATION = "crucible.io/canary-result"  # JSON: when, measured, expected, ratio, why
CANARY_TAINT = {"key": "crucible.io/canary-failed", "value": "true", "effect": "NoSchedule"}
