"""Label, tag and taint keys Crucible puts on what it creates; policies and workloads rely on them."""

POOL_LABEL = "crucible.io/pool"
WORKLOAD_LABEL = "crucible.io/workload"
ACCELERATOR_LABEL = "crucible.io/accelerator"
SYSTEM_POOL = "system"

KARPENTER_DISCOVERY_TAG = "karpenter.sh/discovery"
ELB_ROLE_TAG = "kubernetes.io/role/elb"
INTERNAL_ELB_ROLE_TAG = "kubernetes.io/role/internal-elb"


def cluster_tag(cluster_name: str) -> str:
    return f"kubernetes.io/cluster/{cluster_name}"
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
