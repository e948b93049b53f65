"""Burn-in before work: a DaemonSet that diagnoses every new node of the pools with burn-in before any workload lands.

The pools with burn-in start their nodes with the Karpenter startup taint `crucible.io/burn-in=pending:NoSchedule`
(components/labels.py BURN_IN_STARTUP_TAINT; stacks/derive/placement.py startup_taints). Workloads need not tolerate
it (Karpenter expects a startup taint to be removed) and none does; the device plugins tolerate it (the diagnostics
request their devices), and so does this DaemonSet, one per pool (and per device count when a pool's types differ):

- init containers run the accelerator's own diagnostics, each bounded by `timeout`, writing output and exit status to
  a shared emptyDir: NVIDIA `dcgmi diag -r <level>` from the pinned DCGM image (all the node's GPUs requested), EFA
  `fi_info -p efa -t FI_EP_RDM` from the EFA installer in the pinned nccl-tests image (all its EFA interfaces),
  Neuron `neuron-ls --json-output` from the pinned Neuron image (all its Neuron devices);
- the `report` container (addons/burn_in_report.py, the pinned Python image, non-root) records the verdict on the
  node: passed → the startup taint removed, label `crucible.io/burn-in=passed`, condition `CrucibleBurnIn=True`, an
  Event; failed → label `failed`, taint `crucible.io/burn-in=failed:NoExecute`, `CrucibleBurnIn=False` naming the
  failing checks, a Warning Event with the output's tail, and the node deleted (Karpenter terminates and replaces it).

Least privilege: the service account may get, patch and delete nodes and patch their status (ClusterRole; RBAC
cannot name "the node I run on"), create Events in `default`, nothing else. A ValidatingAdmissionPolicy narrows it:
every node write by this service account must name the node its pod runs on (the bound token's
`authentication.kubernetes.io/node-name`, Kubernetes >= 1.32 GA), and an update may change nothing but the
`crucible.io/burn-in` label, the node's taints and its status. The namespace enforces Pod Security `baseline`: the
diagnostics run as root (DCGM and fi_info open the devices) but unprivileged, no host namespaces or paths.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components import versions
from components.admission import denying_policy
from components.manifests import as_api
from components.labels import (
    BURN_IN_FAILED_TAINT,
    BURN_IN_LABEL,
    BURN_IN_STARTUP_TAINT,
    BURN_IN_TOLERATION,
    EFA_RESOURCE,
    FSX_CSI_STARTUP_TAINT,
    INSTANCE_TYPE_LABEL,
    POOL_LABEL,
    RESTRICTED_CONTAINER_SECURITY,
    pod_security,
)

NAMESPACE = "crucible-burn-in"
SERVICE_ACCOUNT = "burn-in"
POLICY = "crucible-burn-in-own-node"
DCGM = versions.image("dcgm")
EFA_TOOLS = versions.image("nccl-tests")  # the EFA installer's fi_info at /opt/amazon/efa/bin
NEURON_TOOLS = versions.image("pytorch-training-neuronx")  # aws-neuronx-tools: neuron-ls
REPORTER = versions.image("python")
REPORT_SCRIPT = Path(__file__).with_name("burn_in_report.py")
NODE_NAME_EXTRA = "authentication.kubernetes.io/node-name"


@dataclass(frozen=True)
class BurnInPool:
    """One DaemonSet's worth: a pool (or the types of a pool with one device count) and what its nodes must show."""

    pool: str
    instance_types: tuple[str, ...]  # all the pool's types share these counts
    all_types: bool  # the pool's every type: no instance-type selector needed
    toleration: Mapping[str, str]  # the pool's accelerator taint
    checks: tuple[str, ...]  # dcgm | efa | neuron
    accelerator_resource: str  # nvidia.com/gpu | aws.amazon.com/neuron
    accelerators: int  # per node
    efa_interfaces: int  # per node (0: no EFA check)
    dcgm_level: Optional[int]
    timeout_minutes: int

    @property
    def name(self) -> str:
        return f"burn-in-{self.pool}" if self.all_types else f"burn-in-{self.pool}-{self.accelerators}"


@dataclass(frozen=True)
class BurnInArgs:
    pools: Sequence[BurnInPool]
    hold_seconds: int = 60  # how long a failed node stays (tainted, recorded) before it is deleted


def diagnostic(check: str, pool: BurnInPool) -> dict:
    """The init container of one check: its output and exit status go to /results, and it always exits 0 so the
    reporter runs (a failing diagnostic is a verdict, not a crash loop)."""
    timeout = f"{pool.timeout_minutes}m"
    if check == "dcgm":
        command = f"nv-hostengine && timeout {timeout} dcgmi diag -r {pool.dcgm_level}"
        image, resources = DCGM.ref, {pool.accelerator_resource: str(pool.accelerators)}
    elif check == "efa":
        command = f"timeout {timeout} /opt/amazon/efa/bin/fi_info -p efa -t FI_EP_RDM"
        image, resources = EFA_TOOLS.ref, {EFA_RESOURCE: str(pool.efa_interfaces)}
    elif check == "neuron":
        command = f"timeout {timeout} neuron-ls --json-output"
        image, resources = NEURON_TOOLS.ref, {pool.accelerator_resource: str(pool.accelerators)}
    else:
        raise ValueError(f"unknown burn-in check {check!r}; known: dcgm, efa, neuron")
    script = f"{command} > /results/{check}.log 2>&1; echo $? > /results/{check}.rc; exit 0"
    return {
        "name": check,
        "image": image,
        "command": ["/bin/sh", "-c", script],
        "resources": {"requests": {"cpu": "1", "memory": "2Gi", **resources}, "limits": {"memory": "8Gi", **resources}},
        "securityContext": {"allowPrivilegeEscalation": False, "seccompProfile": {"type": "RuntimeDefault"}},
        "volumeMounts": [{"name": "results", "mountPath": "/results"}],
    }


def expected_counts(pool: BurnInPool) -> dict[str, int]:
    counts = {"dcgm": pool.accelerators, "neuron": pool.accelerators, "efa": pool.efa_interfaces}
    return {check: counts[check] for check in pool.checks}


def pod_spec(pool: BurnInPool, hold_seconds: int = 60) -> dict:
    """The burn-in pod of one pool: on its nodes labelled `crucible.io/burn-in=pending` (the label a new node registers
    with, stacks/derive/placement.py boot_labels; the verdict overwrites it), tolerating what a new node of the pool
    carries (the accelerator taint, the burn-in and FSx CSI startup taints)."""
    expressions = [{"key": BURN_IN_LABEL, "operator": "In", "values": ["pending"]}]
    if not pool.all_types:
        expressions.append({"key": INSTANCE_TYPE_LABEL, "operator": "In", "values": list(pool.instance_types)})
    env = {
        "POOL": pool.pool,
        "EXPECTED": json.dumps(expected_counts(pool), sort_keys=True),
        "PENDING_TAINT": json.dumps(BURN_IN_STARTUP_TAINT, sort_keys=True),
        "FAILED_TAINT": json.dumps(BURN_IN_FAILED_TAINT, sort_keys=True),
        "RESULTS": "/results",
        "HOLD_SECONDS": str(hold_seconds),
    }
    return {
        "serviceAccountName": SERVICE_ACCOUNT,
        "nodeSelector": {POOL_LABEL: pool.pool},
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": expressions}]}}},
        "tolerations": [dict(pool.toleration), dict(BURN_IN_TOLERATION), {"key": FSX_CSI_STARTUP_TAINT["key"], "operator": "Exists", "effect": "NoExecute"}],
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "terminationGracePeriodSeconds": 5,
        "initContainers": [diagnostic(check, pool) for check in pool.checks],
        "containers": [
            {
                "name": "report",
                "image": REPORTER.ref,
                "command": ["python3", "/opt/burn-in/report.py"],
                "env": [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]
                + [{"name": key, "value": value} for key, value in env.items()],
                "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
                "securityContext": {
                    **RESTRICTED_CONTAINER_SECURITY,
                    "runAsNonRoot": True,
                    "runAsUser": 65534,
                    "readOnlyRootFilesystem": True,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "volumeMounts": [
                    {"name": "results", "mountPath": "/results", "readOnly": True},
                    {"name": "script", "mountPath": "/opt/burn-in", "readOnly": True},
                ],
            }
        ],
        "volumes": [{"name": "results", "emptyDir": {}}, {"name": "script", "configMap": {"name": "burn-in-report"}}],
    }


def cluster_role_rules() -> list[dict]:
    """What the reporter does, nothing more: read its node, write its verdict (label, taints, condition), delete it
    when it failed. The admission policy limits each write to the pod's own node."""
    return [
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "patch", "delete"]},
        {"apiGroups": [""], "resources": ["nodes/status"], "verbs": ["patch"]},
    ]


def own_node_policy() -> dict:
    """ValidatingAdmissionPolicy spec: a node write by the burn-in service account names the node its pod runs on
    (the node-name claim of its bound token), and an update changes only the burn-in label, the taints and status."""
    user = f"system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}"
    own = f"'{NODE_NAME_EXTRA}' in request.userInfo.extra && request.name == request.userInfo.extra['{NODE_NAME_EXTRA}'][0]"
    labels_kept = (
        "(has(object.metadata.labels) ? object.metadata.labels : {}).filter(k, k != '" + BURN_IN_LABEL + "').all(k, "
        "has(oldObject.metadata.labels) && k in oldObject.metadata.labels && oldObject.metadata.labels[k] == object.metadata.labels[k])"
    )
    return {
        "failurePolicy": "Fail",
        "matchConstraints": {
            "resourceRules": [
                {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE", "DELETE"], "resources": ["nodes", "nodes/status"]},
            ]
        },
        "matchConditions": [{"name": "burn-in-service-account", "expression": f"request.userInfo.username == '{user}'"}],
        "validations": [
            {"expression": own, "message": "the burn-in service account may only write the node its pod runs on", "reason": "Forbidden"},
            {
                "expression": f"request.operation != 'UPDATE' || request.subResource == 'status' || ({labels_kept})",
                "message": f"the burn-in service account may change no node label but {BURN_IN_LABEL}",
                "reason": "Forbidden",
            },
        ],
    }


class BurnIn(pulumi.ComponentResource):
    """The burn-in namespace, its identity and admission policy, the reporter script and one DaemonSet per pool."""

    def __init__(self, name: str, args: BurnInArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:platform:BurnIn", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        meta = k8s.meta.v1.ObjectMetaArgs
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=meta(name=NAMESPACE, labels={"crucible.io/purpose": "burn-in", **pod_security("baseline")}),
            opts=child,
        )
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[self.namespace])
        account = k8s.core.v1.ServiceAccount(f"{name}-sa", metadata=meta(name=SERVICE_ACCOUNT, namespace=NAMESPACE), opts=in_ns)
        rbac = k8s.rbac.v1

        def rules(found: list[dict]) -> list[k8s.rbac.v1.PolicyRuleArgs]:
            return [rbac.PolicyRuleArgs(api_groups=r["apiGroups"], resources=r["resources"], verbs=r["verbs"]) for r in found]

        role = rbac.ClusterRole(f"{name}-nodes", metadata=meta(name="crucible-burn-in"), rules=rules(cluster_role_rules()), opts=child)
        subject = [rbac.SubjectArgs(kind="ServiceAccount", name=SERVICE_ACCOUNT, namespace=NAMESPACE)]
        binding = rbac.ClusterRoleBinding(
            f"{name}-nodes",
            metadata=meta(name="crucible-burn-in"),
            role_ref=rbac.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="crucible-burn-in"),
            subjects=subject,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role, account]),
        )
        events = k8s.rbac.v1.Role(
            f"{name}-events",
            metadata=meta(name="crucible-burn-in-events", namespace="default"),
            rules=rules([{"apiGroups": [""], "resources": ["events"], "verbs": ["create"]}]),
            opts=child,
        )
        events_binding = k8s.rbac.v1.RoleBinding(
            f"{name}-events",
            metadata=meta(name="crucible-burn-in-events", namespace="default"),
            role_ref=rbac.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="Role", name="crucible-burn-in-events"),
            subjects=subject,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[events, account]),
        )
        _, policy_binding = denying_policy(f"{name}-own-node", POLICY, own_node_policy(), self, metadata=meta(name=POLICY))
        script = k8s.core.v1.ConfigMap(
            f"{name}-report", metadata=meta(name="burn-in-report", namespace=NAMESPACE), data={"report.py": REPORT_SCRIPT.read_text()}, opts=in_ns
        )
        ready = [binding, events_binding, policy_binding, script]
        self.daemon_sets = []
        for pool in args.pools:
            labels = {"app.kubernetes.io/name": "crucible-burn-in", POOL_LABEL: pool.pool}
            self.daemon_sets.append(
                k8s.apps.v1.DaemonSet(
                    f"{name}-{pool.name}",
                    metadata=meta(name=pool.name, namespace=NAMESPACE, labels=labels),
                    spec=as_api(
                        {
                            "selector": {"matchLabels": {"app.kubernetes.io/name": "crucible-burn-in", "crucible.io/burn-in-set": pool.name}},
                            "template": {
                                "metadata": {"labels": {**labels, "crucible.io/burn-in-set": pool.name}},
                                "spec": pod_spec(pool, args.hold_seconds),
                            },
                            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "100%"}},
                        }
                    ),
                    opts=pulumi.ResourceOptions(parent=self, depends_on=ready),
                )
            )
        self.register_outputs({"namespace": NAMESPACE, "pools": [p.pool for p in args.pools]})
