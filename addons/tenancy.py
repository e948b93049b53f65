"""One team's corner of the cluster: namespace, quota, network policies, RBAC, Kueue LocalQueue, data identity.

* Namespace `<team>` (protected when the stack protects stateful resources) labelled `crucible.io/tenant`,
  `crucible.io/workload` (training | interactive), `crucible.io/checkpointing: enabled` (every team queue can be
  preempted when a lender reclaims its quota: jobs checkpoint) and Pod Security Admission: enforce `restricted`,
  or `baseline` for training teams, warn and audit always `restricted`. Why baseline: the EFA/NCCL training images
  (NGC PyTorch, nccl-tests, the Neuron DLCs) run as root, MPI launchers run `mpirun --allow-run-as-root`, and the
  MPIJob workers' sshd needs root and the runtime's default capabilities (SETUID, SETGID, SYS_CHROOT for privilege
  separation); `restricted` refuses all of that (runAsNonRoot, capabilities drop ALL, no privilege escalation).
  It is not IPC_LOCK: baseline refuses that capability too (it is not in baseline's allowed set), and EFA needs
  no capability, only a high locked-memory limit, which the node's container runtime sets (EKS AMI, Bottlerocket
  with EFA). Huge pages and a memory-backed /dev/shm are not Pod Security controls at all.
* ResourceQuota (cpu, memory, accelerators, EFA, huge pages at most what Kueue can admit for the team; volume
  count and storage) and a LimitRange giving containers default requests.
* NetworkPolicies: default deny both ways, then DNS to kube-dns, traffic inside the namespace (NCCL bootstrap,
  Ray, MPI), ingress from the monitoring and hub namespaces, HTTPS egress (S3 through the gateway endpoint, STS,
  ECR, the API server), the EKS Pod Identity agent, Lustre (TCP 988, 1018-1023) to the VPC CIDR, and ingress from
  the VPC CIDR on the app port of what the platform exposes through a load balancer with IP targets
  (`ExposedApp`: the example prompt app's ALB).
* RoleBindings of the admin / member groups to the built-in ClusterRoles `admin` / `edit` (never cluster-admin).
* ServiceAccount `workload` with a Pod Identity role (tag `crucible.io/team`) reaching only the team's prefixes in
  the stack's buckets, and the storage KMS key through S3 only.
* LocalQueue `default` pointing at the team's ClusterQueue.
* With JupyterHub (`NotebookAccess`): the team's notebooks run here, admitted by that LocalQueue (Kueue's pod
  integration). A Role `jupyterhub-spawner` bound to the hub's ServiceAccount with what KubeSpawner 7 does in a
  namespace it spawns into without `enable_user_namespaces` (one pod and one event reflector per namespace:
  get/list/watch pods and events; create/delete pods; get/create/delete the users' home claims) and nothing else:
  no secrets, no services, no namespaces, nothing cluster-wide. NetworkPolicy `allow-notebooks`: notebook pods
  (component=singleuser-server) admit the hub and the proxy on 8888 and reach the hub API on 8081; what else
  they reach is the namespace's (DNS, the same namespace: the team's Ray clusters and endpoints, HTTPS). No
  policy here allows the instance metadata address (169.254.169.254, HTTP 80): the default deny blocks it, so
  notebooks need no privileged iptables init container and the namespace keeps its Pod Security level.
* (once for all teams, `TenantGuard`) a ValidatingAdmissionPolicy refusing the teams' groups, and the
  ServiceAccounts of the team namespaces (a team admin can bind `edit` to one and act as it), any write to the
  NetworkPolicies of tenant namespaces: `admin`/`edit` include them, and one extra allow-all policy would undo the
  default deny.
* When the stack has a Lustre file system: the team's own static PersistentVolume `<team>-lustre` and claim
  `lustre` (ReadWriteMany; a PersistentVolume binds one claim and claims are namespaced), the claim the example
  jobs mount at /checkpoints; protected with the namespace. It requests a token 1Gi, so the quota's
  requests.storage stays the team's budget for its own volumes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from addons.storage_drivers import LUSTRE_CLAIM, LustreVolumeArgs, lustre_pv_spec, lustre_volume_name, static_claim
from components.admission import denying_policy
from components.awaits import quota_synced
from components.identity import PodIdentityRole
from components.labels import TENANT_LABEL, WORKLOAD_LABEL, queued_namespace
from components.partitions import partition_of
from components.manifests import as_api

TEAM_TAG = "crucible.io/team"
CHECKPOINT_LABEL = "crucible.io/checkpointing"
PSA = "pod-security.kubernetes.io"
SERVICE_ACCOUNT = "workload"
POD_IDENTITY_AGENT = "169.254.170.23/32"  # EKS Pod Identity agent (link-local, port 80)
CLOUD_METADATA = "169.254.169.254/32"  # the instance metadata service (IMDS): never reachable from team pods
LUSTRE_PORTS = ((988, None), (1018, 1023))
RAY_DASHBOARD_PORT, RAY_CLIENT_PORT, RAY_SERVE_PORT = 8265, 10001, 8000  # a Ray head's dashboard/job API, client, Serve proxy
RAY_PORTS = (RAY_DASHBOARD_PORT, RAY_CLIENT_PORT)  # what notebooks reach
# What the KubeRay operator reaches on Ray heads: the dashboard API (job and Serve application status) and, for
# RayServices, the Serve proxy's health endpoint.
KUBERAY_OPERATOR_PORTS = (RAY_DASHBOARD_PORT, RAY_SERVE_PORT)
TEAM_LUSTRE_REQUEST = "1Gi"
OBJECT_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts")


@dataclass(frozen=True)
class ExposedApp:
    """An app the platform hands teams behind a load balancer with IP targets (the example prompt app's ALB
    Ingress): the load balancer's nodes, in the VPC, connect to the pods' own IPs on ``port``. Tenants may not
    add NetworkPolicies, so the platform admits that traffic into the default-deny namespace."""

    name: str  # names the policy: allow-load-balancer-<name>
    pod_labels: Mapping[str, str]  # the app's pod template labels
    port: int  # the container port the load balancer targets (and health-checks)


@dataclass(frozen=True)
class NotebookAccess:
    """The JupyterHub whose notebooks run in team namespaces (addons.jupyterhub)."""

    hub_namespace: str
    hub_service_account: str = "hub"
    notebook_port: int = 8888
    hub_port: int = 8081


NOTEBOOK_POD_SELECTOR = {"matchLabels": {"component": "singleuser-server"}}  # KubeSpawner's pods under z2jh
SPAWNER_ROLE = "jupyterhub-spawner"
# KubeSpawner 7.0 in a namespace it spawns into (kubespawner/spawner.py: PodReflector, EventReflector, _start,
# stop, _make_create_pvc_request, delete_forever); the z2jh Role also grants secrets and services, which only
# internal_ssl and services_enabled use (both off).
SPAWNER_RULES = (
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "create", "delete"]},
    {"apiGroups": [""], "resources": ["persistentvolumeclaims"], "verbs": ["get", "create", "delete"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list", "watch"]},
)


def spawner_rules() -> list[k8s.rbac.v1.PolicyRuleArgs]:
    return [k8s.rbac.v1.PolicyRuleArgs(api_groups=r["apiGroups"], resources=r["resources"], verbs=r["verbs"]) for r in SPAWNER_RULES]


@dataclass(frozen=True)
class TeamArgs:
    name: str
    pod_security: str  # restricted | baseline
    training: bool
    admin_groups: Sequence[str]
    member_groups: Sequence[str]
    quota: Mapping[str, str]  # ResourceQuota spec.hard
    cluster_name: pulumi.Input[str]
    region: str
    bucket_arns: Mapping[str, pulumi.Input[str]]  # logical name -> ARN
    prefixes: Sequence[str]
    kms_key_arn: Optional[pulumi.Input[str]]
    vpc_cidr: pulumi.Input[str]
    lustre: Optional[LustreVolumeArgs]  # the file system the team mounts (None: the stack has none)
    platform_namespaces: Mapping[str, Sequence[int]] = field(default_factory=dict)  # namespace -> ports ([]: all)
    exposed_apps: Sequence[ExposedApp] = ()  # what load balancers reach in the namespace (from the VPC CIDR)
    local_queue: Optional[dict] = None
    kueue: Sequence[pulumi.Resource] = ()  # the Kueue release and the team's ClusterQueue
    # The AWS Load Balancer Controller release. The team's Ingresses and LoadBalancer Services (the example app's
    # ALB Ingress, `crucible examples`) are applied into the namespace outside Pulumi: deleting the namespace deletes
    # them, and their finalizers (ingress.k8s.aws/resources, service.k8s.aws/resources) are cleared only by the
    # running controller, which deletes the load balancers. The namespace depends on the controller so Pulumi
    # deletes it (and waits until it is gone) before uninstalling the controller.
    load_balancer_controller: Sequence[pulumi.Resource] = ()
    protect: bool = False
    account_id: Optional[pulumi.Input[str]] = None  # default: the caller's account
    notebooks: Optional[NotebookAccess] = None  # the hub that spawns the team's notebooks here (None: no hub)
    permissions_boundary: Optional[str] = None  # the permissions boundary of every IAM role created here (None: none)


def namespace_labels(args: TeamArgs) -> dict[str, str]:
    # No elbv2.k8s.aws/pod-readiness-gate-inject (components/labels.py READINESS_GATE_LABEL): Kueue manages the team
    # namespaces' pods, and its waitForPodsReady reads their Ready condition; with the load balancer controller's
    # target-health gate, a load balancer that cannot reach a replica for recoveryTimeout would have Kueue evict it.
    labels = {
        TENANT_LABEL: args.name,
        **queued_namespace(),
        WORKLOAD_LABEL: "training" if args.training else "interactive",
        CHECKPOINT_LABEL: "enabled",
        f"{PSA}/enforce": args.pod_security,
        f"{PSA}/warn": "restricted",
        f"{PSA}/audit": "restricted",
    }
    return labels


def data_policy(bucket_arns: Sequence[str], prefixes: Sequence[str], kms_key_arn: Optional[str], region: str) -> str:
    """The team role's policy: list and read/write objects under its prefixes only; KMS through S3 only."""
    statements: list[dict] = [
        {
            "Sid": "ListTeamPrefixes",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": list(bucket_arns),
            "Condition": {"StringLike": {"s3:prefix": [p for prefix in prefixes for p in (prefix, f"{prefix}*")]}},
        },
        {"Sid": "LocateBuckets", "Effect": "Allow", "Action": "s3:GetBucketLocation", "Resource": list(bucket_arns)},
        {
            "Sid": "TeamObjects",
            "Effect": "Allow",
            "Action": list(OBJECT_ACTIONS),
            "Resource": [f"{arn}/{prefix}*" for arn in bucket_arns for prefix in prefixes],
        },
    ]
    if kms_key_arn:
        statements.append(
            {
                "Sid": "StorageKeyThroughS3",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": kms_key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": partition_of(region).endpoint("s3", region)}},
            }
        )
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def _peer_ns(name: str) -> dict:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def network_policies(args: TeamArgs, vpc_cidr: Any) -> dict[str, dict]:
    """name -> NetworkPolicy spec."""
    everyone: dict = {}
    out: dict[str, dict] = {
        "default-deny": {"podSelector": everyone, "policyTypes": ["Ingress", "Egress"]},
        "allow-dns": {
            "podSelector": everyone,
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [{**_peer_ns("kube-system"), "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                }
            ],
        },
        "allow-same-namespace": {
            "podSelector": everyone,
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"podSelector": everyone}]}],
            "egress": [{"to": [{"podSelector": everyone}]}],
        },
        "allow-aws-egress": {
            "podSelector": everyone,
            "policyTypes": ["Egress"],
            "egress": [
                # S3 (gateway endpoint: public S3 ranges through the route table), STS, ECR, the API server. Not the
                # instance metadata address (IMDS serves HTTP on 80 only, but nothing of a team has any business there).
                {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": [CLOUD_METADATA]}}], "ports": [{"protocol": "TCP", "port": 443}]},
                {"to": [{"ipBlock": {"cidr": POD_IDENTITY_AGENT}}], "ports": [{"protocol": "TCP", "port": 80}]},
            ],
        },
    }
    if args.platform_namespaces:
        rules = []
        for ns, ports in sorted(args.platform_namespaces.items()):
            rule: dict = {"from": [_peer_ns(ns)]}
            if ports:
                rule["ports"] = [{"protocol": "TCP", "port": p} for p in ports]
            rules.append(rule)
        out["allow-platform-ingress"] = {"podSelector": everyone, "policyTypes": ["Ingress"], "ingress": rules}
    for app in args.exposed_apps:
        out[f"allow-load-balancer-{app.name}"] = {
            "podSelector": {"matchLabels": dict(app.pod_labels)},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"ipBlock": {"cidr": vpc_cidr}}], "ports": [{"protocol": "TCP", "port": app.port}]}],
        }
    if args.notebooks is not None:
        hub = _peer_ns(args.notebooks.hub_namespace)
        out["allow-notebooks"] = {
            "podSelector": NOTEBOOK_POD_SELECTOR,
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {
                    "from": [{**hub, "podSelector": {"matchExpressions": [{"key": "component", "operator": "In", "values": ["hub", "proxy"]}]}}],
                    "ports": [{"protocol": "TCP", "port": args.notebooks.notebook_port}],
                }
            ],
            "egress": [
                {"to": [{**hub, "podSelector": {"matchLabels": {"component": "hub"}}}], "ports": [{"protocol": "TCP", "port": args.notebooks.hub_port}]}
            ],
        }
    if args.lustre is not None:
        lustre_ports = [{"protocol": "TCP", "port": start, **({"endPort": end} if end else {})} for start, end in LUSTRE_PORTS]
        out["allow-lustre"] = {"podSelector": everyone, "policyTypes": ["Egress"], "egress": [{"to": [{"ipBlock": {"cidr": vpc_cidr}}], "ports": lustre_ports}]}
    return out


def limit_range_spec() -> dict:
    return {"limits": [{"type": "Container", "defaultRequest": {"cpu": "250m", "memory": "512Mi"}, "default": {"memory": "2Gi"}}]}


class Team(pulumi.ComponentResource):
    def __init__(self, name: str, args: TeamArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:platform:Team", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        team = args.name
        labels = {TENANT_LABEL: team, "app.kubernetes.io/managed-by": "crucible"}
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=team, labels=namespace_labels(args)),
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect, depends_on=list(args.load_balancer_controller)),
        )
        ns = self.namespace.metadata.name

        def meta(object_name: str) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=ns, labels=labels)

        self.quota = k8s.core.v1.ResourceQuota(
            f"{name}-quota",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="team-quota", namespace=ns, labels=labels, annotations=quota_synced(args.quota)),
            spec={"hard": dict(args.quota)},
            opts=child,
        )
        self.limits = k8s.core.v1.LimitRange(f"{name}-limits", metadata=meta("team-defaults"), spec=as_api(limit_range_spec()), opts=child)
        self.network_policies = {
            policy: k8s.networking.v1.NetworkPolicy(f"{name}-{policy}", metadata=meta(policy), spec=as_api(spec), opts=child)
            for policy, spec in network_policies(args, args.vpc_cidr).items()
        }
        self.role_bindings = {}
        for binding, role, groups in (("admins", "admin", args.admin_groups), ("members", "edit", args.member_groups)):
            if not groups:
                continue
            self.role_bindings[binding] = k8s.rbac.v1.RoleBinding(
                f"{name}-{binding}",
                metadata=meta(f"team-{binding}"),
                role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=role),
                subjects=[k8s.rbac.v1.SubjectArgs(kind="Group", name=g, api_group="rbac.authorization.k8s.io") for g in groups],
                opts=child,
            )
        self.service_account = k8s.core.v1.ServiceAccount(f"{name}-sa", metadata=meta(SERVICE_ACCOUNT), opts=child)
        self.spawner_role = self.spawner_binding = None
        if args.notebooks is not None:
            self.spawner_role = k8s.rbac.v1.Role(f"{name}-{SPAWNER_ROLE}", metadata=meta(SPAWNER_ROLE), rules=spawner_rules(), opts=child)
            self.spawner_binding = k8s.rbac.v1.RoleBinding(
                f"{name}-{SPAWNER_ROLE}",
                metadata=meta(SPAWNER_ROLE),
                role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="Role", name=SPAWNER_ROLE),
                subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=args.notebooks.hub_service_account, namespace=args.notebooks.hub_namespace)],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.spawner_role]),
            )
        self.identity = None
        if args.bucket_arns:
            names = sorted(args.bucket_arns)
            policy = pulumi.Output.all(*[args.bucket_arns[n] for n in names], args.kms_key_arn).apply(
                lambda values: data_policy(values[:-1], args.prefixes, values[-1], args.region)
            )
            self.identity = PodIdentityRole(
                f"{name}-data",
                cluster_name=args.cluster_name,
                account_id=args.account_id or aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id,
                namespace=team,
                service_account=SERVICE_ACCOUNT,
                inline_policy=policy,
                tags={TEAM_TAG: team},
                permissions_boundary=args.permissions_boundary,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.service_account]),
            )
        self.lustre_claim = None
        if args.lustre is not None:
            self.lustre_claim = static_claim(
                f"{name}-lustre",
                lustre_volume_name(team),
                LUSTRE_CLAIM,
                ns,
                lustre_pv_spec(args.lustre, team, LUSTRE_CLAIM),
                "ReadWriteMany",
                # A static claim binds its volume whatever it asks (up to the volume's capacity). It asks a token
                # amount: the shared file system is not the team's volume budget (ResourceQuota requests.storage).
                TEAM_LUSTRE_REQUEST,
                # counted against the quota (requests.storage, persistentvolumeclaims): created after it (REL-ORD-008)
                pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect, depends_on=[self.quota]),
            )
        self.local_queue = None
        if args.local_queue is not None:
            m = args.local_queue
            self.local_queue = k8s.apiextensions.CustomResource(
                f"{name}-local-queue",
                api_version=m["apiVersion"],
                kind=m["kind"],
                metadata={**m["metadata"], "namespace": ns},
                spec=m["spec"],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.namespace, *args.kueue]),
            )
        self.register_outputs(
            {
                "namespace": ns,
                "serviceAccount": SERVICE_ACCOUNT,
                "roleArn": self.identity.arn if self.identity else None,
                "lustreClaim": LUSTRE_CLAIM if self.lustre_claim is not None else None,
            }
        )


# ---- what tenants may not change ------------------------------------------------------------------------------

NETWORK_POLICY_GUARD = "crucible-tenant-network-policies"


def service_account_group(namespace: str) -> str:
    """The group Kubernetes gives every ServiceAccount of ``namespace`` (and whoever acts as one)."""
    return f"system:serviceaccounts:{namespace}"


def network_policy_guard(tenant_groups: Sequence[str], tenant_namespaces: Sequence[str] = ()) -> dict:
    """The ValidatingAdmissionPolicy spec refusing tenants any write to NetworkPolicies in tenant namespaces. The
    built-in `admin` and `edit` ClusterRoles the teams hold include NetworkPolicy writes, and policies add up: one
    extra allow-all policy would undo the namespace's default deny.

    Tenants are the teams' groups *and* the ServiceAccounts of the tenant namespaces: `admin`/`edit` let a team
    bind a role to one of its ServiceAccounts, mint its token or impersonate it, and a request made as
    `system:serviceaccount:<team>:<name>` carries the groups `system:serviceaccounts` and
    `system:serviceaccounts:<team>`, not the team's groups. The platform's identities (the deployer, cluster
    admins, controllers' ServiceAccounts in platform namespaces) carry neither and pass."""
    denied = sorted({*tenant_groups, *(service_account_group(ns) for ns in tenant_namespaces)})
    groups = json.dumps(denied)  # a JSON list of strings is a CEL list literal
    return {
        "failurePolicy": "Fail",
        "matchConstraints": {
            "namespaceSelector": {"matchExpressions": [{"key": TENANT_LABEL, "operator": "Exists"}]},
            "resourceRules": [
                {
                    "apiGroups": ["networking.k8s.io"],
                    "apiVersions": ["*"],
                    "operations": ["CREATE", "UPDATE", "DELETE"],
                    "resources": ["networkpolicies"],
                }
            ],
        },
        "validations": [
            {
                "expression": f"!has(request.userInfo.groups) || !request.userInfo.groups.exists(g, g in {groups})",
                "message": "NetworkPolicies in team namespaces are managed by Crucible (crucible:teams); ask the platform team.",
                "reason": "Forbidden",
            }
        ],
    }


class TenantGuard(pulumi.ComponentResource):
    """Admission rules that keep tenants inside what Crucible grants them (no RBAC role can express them)."""

    def __init__(self, name: str, tenant_groups: Sequence[str], tenant_namespaces: Sequence[str] = (), opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:platform:TenantGuard", name, None, opts)
        self.policy, self.binding = denying_policy(
            f"{name}-network-policies", NETWORK_POLICY_GUARD, network_policy_guard(tenant_groups, tenant_namespaces), self
        )
        self.register_outputs({"policies": [NETWORK_POLICY_GUARD]})
