"""Training operators: the MPI operator (MPIJob v2beta1) and Kubeflow Trainer v2 (TrainJob v1alpha1).

Kubeflow Trainer publishes a Helm chart (oci://ghcr.io/kubeflow/charts/kubeflow-trainer; it installs its CRDs
and JobSet), so it is a `helm.v3.Release`. kubeflow/mpi-operator publishes raw manifests only
(`deploy/v2beta1/mpi-operator.yaml`, applied with `kubectl apply --server-side`; no chart), so Crucible declares
the few objects the controller needs as plain `pulumi_kubernetes` resources written here: namespace, service
account, cluster role and binding, the MPIJob CRD and the controller Deployment, pinned to a release image.

Trainer comes with the ClusterTrainingRuntime Crucible ships, `torch-distributed-efa` (:func:`torch_efa_runtime`,
its image from `addons.trainer.runtimeImage`); the example TrainJobs `crucible examples` writes run on it and
take their EFA environment (:data:`EFA_ENV`) from here.

Both are admitted by Kueue (integrations kubeflow.org/mpijob and trainer.kubeflow.org/trainjob). The v1
training-operator is never installed: its MPIJob v1 CRD would clash with mpi-operator's v2beta1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components import versions
from components.helm_addon import HelmChart, helm_release, merge_values, on_system_nodes_at
from components.labels import EFA_NO_HUGE_PAGES_ENV, POOL_LABEL, SYSTEM_TOLERATION, pod_security
from components.manifests import as_api

MPI_OPERATOR_NAMESPACE = "mpi-operator"
MPI_OPERATOR = versions.image("mpi-operator")  # the release's image; its tag is the release
MPI_OPERATOR_IMAGE = MPI_OPERATOR.repository
TRAINER_NAMESPACE = "kubeflow-system"
TRAINER = versions.chart("kubeflow-trainer")
TRAINER_RELEASE = "kubeflow-trainer"
TRAINER_API = "trainer.kubeflow.org/v1alpha1"
TORCH_EFA_RUNTIME = "torch-distributed-efa"  # the ClusterTrainingRuntime Crucible ships (training.runtimes)

# What the jobs set: NCCL logs its transport at start ("NET/OFI Selected provider is efa"), so a run that fell
# back to TCP sockets is visible at once; libfabric's EFA provider must not take its buffers from huge pages, which
# no node reserves (its default is to use them).
EFA_ENV: tuple[tuple[str, str], ...] = (("NCCL_DEBUG", "INFO"), EFA_NO_HUGE_PAGES_ENV)


# Open MPI and the EFA stack of the nccl-tests image (aws-samples/awsome-distributed-training
# micro-benchmarks/nccl-tests: Open MPI and libfabric from the EFA installer under /opt/amazon, NCCL under
# /opt/nccl/build, the aws-ofi-nccl plugin under /opt/aws-ofi-nccl/install).
MPI_HOME = "/opt/amazon/openmpi"
MPIRUN = f"{MPI_HOME}/bin/mpirun"  # a full path: Open MPI then starts its daemons from the same prefix on every node
# Ranks on the workers are started through sshd, which hands them none of the image's ENV: the launcher states the
# search paths (Kubernetes does not expand $VAR, so they are whole values) and forwards them with `-x`, together
# with everything else NCCL and libfabric need on every rank (MPI_FORWARDED_ENV).
MPI_LAUNCHER_ENV: tuple[tuple[str, str], ...] = (
    ("PATH", f"{MPI_HOME}/bin:/opt/amazon/efa/bin:/opt/nccl-tests/build:/usr/local/cuda/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
    (
        "LD_LIBRARY_PATH",
        f"{MPI_HOME}/lib:/opt/nccl/build/lib:/opt/amazon/efa/lib:/opt/aws-ofi-nccl/install/lib:/opt/amazon/ofi-nccl/lib:/usr/local/cuda/lib64:/usr/local/nvidia/lib:/usr/local/nvidia/lib64",
    ),
    ("OPAL_PREFIX", MPI_HOME),  # where Open MPI finds its components (the image's value; relocated installs need it)
    ("NCCL_SOCKET_IFNAME", "^lo,docker"),  # NCCL's bootstrap over the pod's interface (EFA itself carries no IP)
)
MPI_FORWARDED_ENV = tuple(k for k, _ in MPI_LAUNCHER_ENV) + tuple(k for k, _ in EFA_ENV)
# Open MPI's own traffic (launch, wire-up) over TCP on the pod network, never UCX or the loopback/docker bridges
# (the MCA settings of the AWS nccl-tests MPIJob); NCCL's data goes over EFA through aws-ofi-nccl.
MPI_MCA: tuple[tuple[str, str], ...] = (("pml", "^ucx"), ("btl", "tcp,self"), ("btl_tcp_if_exclude", "lo,docker0"))


def nccl_allreduce_argv(nodes: int, slots: int) -> list[str]:
    """mpirun running nccl-tests' all_reduce_perf over every GPU (`slots` per node) of `nodes` nodes on EFA, 8 B to
    8 GiB doubling: the MPIJob example, `crucible verify nccl` and the fleet health canary run this one line."""
    return [
        MPIRUN,
        "--allow-run-as-root",
        "--tag-output",
        "-np",
        str(nodes * slots),
        "--bind-to",
        "none",
        "--map-by",
        f"ppr:{slots}:node",
        *[arg for key, value in MPI_MCA for arg in ("--mca", key, value)],
        *[arg for key in MPI_FORWARDED_ENV for arg in ("-x", key)],
        "/opt/nccl-tests/build/all_reduce_perf",
        "-b",
        "8",
        "-e",
        "8G",
        "-f",
        "2",
        "-g",
        "1",
    ]


def efa_env(extra: Optional[dict[str, str]] = None) -> list[dict]:
    pairs = dict(EFA_ENV)
    pairs.update(extra or {})
    return [{"name": k, "value": v} for k, v in pairs.items()]


def shm_volume() -> dict:
    # NCCL and PyTorch data loaders use /dev/shm; the container default (64 MiB) is far too small.
    return {"name": "dshm", "emptyDir": {"medium": "Memory"}}


# The restart budget of a TrainJob on Crucible's runtime (training.resume.maxRestarts) and the time a stopped pod
# has to write its last checkpoint (training.resume.gracePeriodSeconds): the defaults of the spec.
DEFAULT_MAX_RESTARTS = 3
DEFAULT_GRACE_SECONDS = 120


def torch_efa_runtime(image: str, *, max_restarts: int = DEFAULT_MAX_RESTARTS, grace_seconds: int = DEFAULT_GRACE_SECONDS) -> dict:
    """ClusterTrainingRuntime `torch-distributed-efa`: torchrun per node, /dev/shm in memory, EFA-ready env.

    Pool placement, accelerators and EFA devices are per job (TrainJob resourcesPerNode and runtimePatches),
    so one runtime serves every EFA pool.

    Restarts (the auto-resume contract, addons/checkpointing.py): the JobSet's ``failurePolicy`` recreates the
    whole gang when any node's Job fails, at most ``max_restarts`` times (JobSet ``failurePolicy.maxRestarts``);
    ``BlockingRecreate`` waits until every old pod is gone before creating the new ones, so two generations of
    ranks never meet in one NCCL rendezvous and the new pods get the GPUs the old ones held. Each node's Job has
    ``backoffLimit: 0``: one failed pod fails its Job at once (a lone pod restarted inside its Job would wait in
    a collective its peers already left), and the JobSet restarts everyone together. Elastic torchrun
    (``--nnodes=min:max``) does not apply: Trainer v1alpha1's torch policy has no elastic settings and injects a
    fixed ``PET_NNODES`` (trainer.kubeflow.org_clustertrainingruntimes.yaml, ``mlPolicy.torch``).
    """
    return {
        "apiVersion": TRAINER_API,
        "kind": "ClusterTrainingRuntime",
        "metadata": {"name": TORCH_EFA_RUNTIME, "labels": {"trainer.kubeflow.org/framework": "torch"}},
        "spec": {
            "mlPolicy": {"numNodes": 1, "torch": {}},
            "template": {
                "spec": {
                    "failurePolicy": {"maxRestarts": max_restarts, "restartStrategy": "BlockingRecreate"},
                    "replicatedJobs": [
                        {
                            "name": "node",
                            "template": {
                                "metadata": {"labels": {"trainer.kubeflow.org/trainjob-ancestor-step": "trainer"}},
                                "spec": {
                                    "backoffLimit": 0,
                                    "template": {
                                        "spec": {
                                            "terminationGracePeriodSeconds": grace_seconds,
                                            "containers": [
                                                {
                                                    "name": "node",
                                                    "image": image,
                                                    "env": efa_env(),
                                                    "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}],
                                                }
                                            ],
                                            "volumes": [shm_volume()],
                                        }
                                    },
                                },
                            },
                        }
                    ],
                }
            },
        },
    }


@dataclass(frozen=True)
class MpiOperatorArgs:
    system_pool: str  # controllers run on the system node group (crucible.io/pool=<this>)
    version: str = field(default=MPI_OPERATOR.tag, kw_only=True)  # the mpi-operator release (default: the pin)


def mpi_operator_rules() -> list[dict]:
    """What the v2beta1 controller does: launcher/worker pods, their services, secrets (SSH keys) and
    configmaps (hostfile), the launcher Job, MPIJob status, leader election, events, priority classes."""
    return [
        {"apiGroups": [""], "resources": ["configmaps", "secrets", "services"], "verbs": ["create", "get", "list", "watch", "update", "delete"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "get", "list", "watch", "delete", "update", "patch"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list", "watch", "update", "delete"]},
        {"apiGroups": ["kubeflow.org"], "resources": ["mpijobs", "mpijobs/finalizers", "mpijobs/status"], "verbs": ["get", "list", "watch", "update", "patch"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create", "get", "list", "watch", "update", "patch"]},
        {"apiGroups": ["scheduling.k8s.io"], "resources": ["priorityclasses"], "verbs": ["get", "list", "watch"]},
    ]


class MpiOperator(pulumi.ComponentResource):
    """kubeflow/mpi-operator, declared object by object (the project ships no Helm chart)."""

    def __init__(self, name: str, args: MpiOperatorArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:platform:MpiOperator", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = {"app.kubernetes.io/name": "mpi-operator", "app.kubernetes.io/version": args.version}
        ns = k8s.core.v1.Namespace(
            f"{name}-ns", metadata=k8s.meta.v1.ObjectMetaArgs(name=MPI_OPERATOR_NAMESPACE, labels={**labels, **pod_security("restricted")}), opts=child
        )
        in_ns = k8s.meta.v1.ObjectMetaArgs(name="mpi-operator", namespace=ns.metadata.name, labels=labels)
        sa = k8s.core.v1.ServiceAccount(f"{name}-sa", metadata=in_ns, opts=child)
        role = k8s.rbac.v1.ClusterRole(
            f"{name}-role",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="mpi-operator", labels=labels),
            rules=as_api(mpi_operator_rules()),
            opts=child,
        )
        binding = k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-binding",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="mpi-operator", labels=labels),
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=role.metadata.name),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=sa.metadata.name, namespace=ns.metadata.name)],
            opts=child,
        )
        # The CRD's name, group, kind and version are the upstream ones, so Kueue's kubeflow.org/mpijob
        # integration and every MPIJob v2beta1 manifest work unchanged. Its schema is deliberately open
        # (spec/status preserve unknown fields): the controller validates MPIJobs itself, and Crucible's tests
        # validate the MPIJobs it renders against the real upstream schema, strictly.
        self.crd = k8s.apiextensions.v1.CustomResourceDefinition(
            f"{name}-crd",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="mpijobs.kubeflow.org", labels=labels),
            spec=k8s.apiextensions.v1.CustomResourceDefinitionSpecArgs(
                group="kubeflow.org",
                scope="Namespaced",
                names=k8s.apiextensions.v1.CustomResourceDefinitionNamesArgs(
                    kind="MPIJob", list_kind="MPIJobList", plural="mpijobs", singular="mpijob", short_names=["mpij"]
                ),
                versions=[
                    k8s.apiextensions.v1.CustomResourceDefinitionVersionArgs(
                        name="v2beta1",
                        served=True,
                        storage=True,
                        subresources=k8s.apiextensions.v1.CustomResourceSubresourcesArgs(status={}),
                        schema=k8s.apiextensions.v1.CustomResourceValidationArgs(
                            open_apiv3_schema=k8s.apiextensions.v1.JSONSchemaPropsArgs(
                                type="object",
                                properties={
                                    "spec": k8s.apiextensions.v1.JSONSchemaPropsArgs(type="object", x_kubernetes_preserve_unknown_fields=True),
                                    "status": k8s.apiextensions.v1.JSONSchemaPropsArgs(type="object", x_kubernetes_preserve_unknown_fields=True),
                                },
                            )
                        ),
                    )
                ],
            ),
            opts=child,
        )
        selector = {"app.kubernetes.io/name": "mpi-operator"}
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-controller",
            metadata=in_ns,
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels={**labels, **selector}),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=sa.metadata.name,
                        node_selector={POOL_LABEL: args.system_pool},
                        tolerations=[
                            k8s.core.v1.TolerationArgs(key=SYSTEM_TOLERATION["key"], operator=SYSTEM_TOLERATION["operator"], effect=SYSTEM_TOLERATION["effect"])
                        ],
                        security_context=k8s.core.v1.PodSecurityContextArgs(
                            run_as_non_root=True, run_as_user=65532, seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault")
                        ),
                        containers=[
                            k8s.core.v1.ContainerArgs(
                                name="mpi-operator",
                                image=f"{MPI_OPERATOR_IMAGE}:{args.version}",
                                args=["-alsologtostderr", f"--lock-namespace={MPI_OPERATOR_NAMESPACE}"],
                                resources=k8s.core.v1.ResourceRequirementsArgs(requests={"cpu": "100m", "memory": "128Mi"}, limits={"memory": "512Mi"}),
                                security_context=k8s.core.v1.SecurityContextArgs(
                                    allow_privilege_escalation=False,
                                    read_only_root_filesystem=True,
                                    capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
                                ),
                            )
                        ],
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.crd, binding]),
        )
        self.register_outputs({"version": args.version, "namespace": MPI_OPERATOR_NAMESPACE})


@dataclass(frozen=True)
class KubeflowTrainerArgs:
    install_job_set: bool
    system_pool: str
    runtimes: tuple[str, ...]
    runtime_image: str
    version: str = field(default=TRAINER.version, kw_only=True)  # the chart version (default: the pin)
    max_restarts: int = field(default=DEFAULT_MAX_RESTARTS, kw_only=True)  # JobSet failurePolicy.maxRestarts
    grace_seconds: int = field(default=DEFAULT_GRACE_SECONDS, kw_only=True)  # pods' terminationGracePeriodSeconds


def trainer_values(args: KubeflowTrainerArgs) -> dict:
    """Values of the kubeflow-trainer chart: controller on the system nodes; no upstream default runtimes
    (their installer Job fetches kubectl at run time): Crucible ships its own ClusterTrainingRuntimes."""
    # runtimes.defaultEnabled stays at the chart's false: no upstream runtimes.
    own = {"jobset": {"install": args.install_job_set}}
    return merge_values(own, on_system_nodes_at(args.system_pool, ("jobset", "controller"), ("manager",)))


class KubeflowTrainer(pulumi.ComponentResource):
    """Kubeflow Trainer v2 from its chart, and the ClusterTrainingRuntimes Crucible ships."""

    def __init__(self, name: str, args: KubeflowTrainerArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:platform:KubeflowTrainer", name, None, opts)
        chart = HelmChart.of(TRAINER, release=TRAINER_RELEASE, namespace=TRAINER_NAMESPACE, version=args.version)
        self.release = helm_release(self, name, chart, trainer_values(args), create_namespace=True)
        self.runtimes = []
        for runtime in args.runtimes:
            manifest = torch_efa_runtime(
                args.runtime_image, max_restarts=args.max_restarts, grace_seconds=args.grace_seconds
            )  # only torch-distributed-efa is offered (TORCH_EFA_RUNTIME)
            self.runtimes.append(
                k8s.apiextensions.CustomResource(
                    f"{name}-{runtime}",
                    api_version=manifest["apiVersion"],
                    kind=manifest["kind"],
                    metadata=manifest["metadata"],
                    spec=manifest["spec"],
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[self.release]),
                )
            )
        self.register_outputs({"version": args.version, "namespace": TRAINER_NAMESPACE, "runtimes": list(args.runtimes)})
