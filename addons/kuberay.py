"""KubeRay operator (chart `kuberay-operator` from the KubeRay Helm repository, pinned): RayCluster, RayJob and
RayService.

What the values decide, and why:

- **CRDs by Helm, never client-side.** The chart ships the ray.io CRDs in its `crds/` directory; Helm creates them
  on install (`skip_crds` stays false). The RayJob CRD is ~1.4 MB and the RayCluster CRD ~0.9 MB: far above the
  262,144-byte `last-applied-configuration` annotation a client-side `kubectl apply` writes, so they must never be
  applied that way. Helm does not *upgrade* what is in `crds/`: before raising `addons.kuberay.version`, apply the
  new release's CRDs server-side (`kubectl apply --server-side -f <kuberay>/ray-operator/config/crd/bases`), then
  update the stack.
- **No batch scheduler.** Kueue admits RayJobs and RayClusters by toggling `spec.suspend` (its `ray.io/rayjob`
  and `ray.io/raycluster` integrations, addons/kueue.py); a KubeRay batch scheduler (Volcano, YuniKorn,
  scheduler-plugins, KAI) would gang-schedule the same pods a second time, so `batchScheduler` stays off (the
  chart's default; tests/test_ray.py checks the rendered operator has no batch-scheduler flag).
- **System nodes, bounded resources.** The operator runs on the system node group (`crucible.io/pool`), with
  requests so it is never starved and limits sized for a few hundred Ray pods (the chart notes ~500 MB for 500).
- **Metrics.** With the observability add-on on, the chart's ServiceMonitor is enabled (Prometheus selects every
  ServiceMonitor in the cluster), created after kube-prometheus-stack has installed the ServiceMonitor CRD.

Pod Security: the namespace *enforces* `restricted`. The operator is the only pod in it, and the chart's default
container securityContext already meets `restricted` (runAsNonRoot, allowPrivilegeEscalation false, all
capabilities dropped, seccomp RuntimeDefault, read-only root file system) with no host namespaces, host paths or
extra volumes; nothing it does needs more, so the strictest level costs nothing. Ray clusters themselves run in the
team namespaces, under those namespaces' levels.

The operator watches every namespace (the team namespaces are where RayJobs, RayClusters and RayServices live).
Its controller reaches each Ray head's dashboard (port 8265) to submit jobs and read job and Serve status.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components import versions
from components.helm_addon import HelmChart, helm_release, merge_values, on_system_nodes_at
from components.labels import pod_security

PIN = versions.chart("kuberay-operator")
RELEASE = "kuberay-operator"
NAMESPACE = "kuberay-system"
POD_SECURITY = "restricted"
OPERATOR_RESOURCES = {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}


@dataclass(frozen=True)
class KubeRayOperatorArgs:
    system_pool: str  # the operator runs on the system node group (crucible.io/pool=<this>)
    namespace: str = NAMESPACE
    service_monitor: bool = False  # kube-prometheus-stack is installed (its ServiceMonitor CRD exists)
    depends_on: Sequence[pulumi.Resource] = ()  # e.g. the kube-prometheus-stack release, for the ServiceMonitor
    # chart version = operator version (the chart pins its image to v<version>); default: the pin
    version: str = field(default=PIN.version, kw_only=True)


def kuberay_values(args: KubeRayOperatorArgs) -> dict:
    """Values of the kuberay-operator chart (keys as in its values.yaml at the pinned tag)."""
    return merge_values(
        on_system_nodes_at(args.system_pool, ()),
        {
            "resources": {kind: dict(amounts) for kind, amounts in OPERATOR_RESOURCES.items()},
            # The chart's defaults that Crucible relies on are left to it (tests/test_helm_values_consumed.py: a key that
            # changes nothing is not set): no batch scheduler (Kueue gates Ray workloads through spec.suspend), leader
            # election on, cluster-wide watch (the Ray objects live in the team namespaces), metrics served.
            "metrics": {"serviceMonitor": {"enabled": args.service_monitor}},
        },
    )


# Every Ray pod KubeRay creates carries ray.io/is-ray-node=yes and a container port `metrics` (8080) where Ray's
# metrics agent serves the cluster's, Ray Serve's and Ray Serve LLM's metrics (KubeRay ray-operator
# controllers/ray/common/pod.go: labelPod, DefaultHeadPodTemplate/DefaultWorkerPodTemplate). The chart's
# ServiceMonitor scrapes the operator only; the KubeRay Prometheus guide leaves the pods' monitor to the user.
RAY_NODE_LABEL = "ray.io/is-ray-node"
RAY_METRICS_PORT = "metrics"


def ray_pod_monitor(interval_seconds: int = 30) -> dict:
    """The PodMonitor of every Ray head and worker in any namespace, with the cluster and node type as labels."""
    keep = [("ray.io/cluster", "ray_io_cluster"), ("ray.io/node-type", "ray_io_node_type")]
    return {
        "namespaceSelector": {"any": True},
        "selector": {"matchLabels": {RAY_NODE_LABEL: "yes"}},
        "podMetricsEndpoints": [
            {
                "port": RAY_METRICS_PORT,
                "path": "/metrics",
                "interval": f"{interval_seconds}s",
                "relabelings": [
                    {"sourceLabels": [f"__meta_kubernetes_pod_label_{label.replace('.', '_').replace('/', '_').replace('-', '_')}"], "targetLabel": target}
                    for label, target in keep
                ],
            }
        ],
    }


class KubeRayOperator(pulumi.ComponentResource):
    """The operator's namespace (Pod Security `restricted`) and the pinned kuberay-operator release."""

    def __init__(self, name: str, args: KubeRayOperatorArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:platform:KubeRayOperator", name, None, opts)
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.namespace,
                labels={"crucible.io/purpose": "ray-operator", **pod_security(POD_SECURITY)},
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        chart = HelmChart.of(PIN, release=RELEASE, namespace=self.namespace.metadata.name, version=args.version)
        # skip_crds False: Helm creates the (megabyte-sized) ray.io CRDs; see the module docstring.
        self.release = helm_release(self, name, chart, kuberay_values(args), skip_crds=False, depends_on=args.depends_on)
        self.pod_monitor = None
        if args.service_monitor:  # Prometheus scrapes the Ray pods themselves (Ray Serve's rules and dashboard read them)
            self.pod_monitor = k8s.apiextensions.CustomResource(
                f"{name}-ray-nodes",
                api_version="monitoring.coreos.com/v1",
                kind="PodMonitor",
                metadata={"name": "ray-nodes", "namespace": self.namespace.metadata.name},
                spec=ray_pod_monitor(),
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
            )
        self.register_outputs({"version": args.version, "namespace": args.namespace})
