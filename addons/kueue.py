"""Kueue: the chart from oci://registry.k8s.io/kueue/charts/kueue, and the queues derived from pools and teams.

The chart installs the CRDs (with their v1beta1 -> v1beta2 conversion webhook) and the controller; the
ResourceFlavors, the Cohort and the ClusterQueues (stacks/derive/quotas.py) are custom resources that wait for
the release. The LocalQueues live in the team namespaces (addons/tenancy.py).

With observability on, Kueue's metrics are scraped: the chart's ServiceMonitor (after kube-prometheus-stack, which
installs its CRD) and a ClusterRoleBinding of the chart's metrics-reader role to Prometheus's service account (the
metrics endpoint on 8443 authorizes each scrape).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components import versions
from components.manifests import custom_resource
from components.helm_addon import HelmChart, helm_release, merge_values, on_system_nodes_at
from components.labels import queued_namespace

PIN = versions.chart("kueue")  # ../shared/upstream/crds/kueue (SOURCES.md: v0.19.2); API kueue.x-k8s.io/v1beta2
KUEUE_VERSION = PIN.version
KUEUE_NAMESPACE = "kueue-system"
RELEASE = "kueue"
METRICS_READER = f"{RELEASE}-metrics-reader"  # the chart's ClusterRole: `<fullname>-metrics-reader`, get /metrics
# Kueue feature gates Crucible relies on, stated even where 0.19 defaults them so (a chart default cannot silently
# change under the RayServices): ElasticJobsViaWorkloadSlices (alpha 0.13, beta and on since 0.18; pkg/features/
# kube_features.go) lets an elastic RayService/RayCluster keep in-tree autoscaling.
# TopologyAwareScheduling (alpha 0.9, beta and on since 0.14) places a job within one network domain on the flavors
# that reference the Topology (stacks/derive/admission.py).
FEATURE_GATES = {"ElasticJobsViaWorkloadSlices": True, "TopologyAwareScheduling": True}
ELASTIC_JOB_ANNOTATION = "kueue.x-k8s.io/elastic-job"  # value "true" (pkg/workloadslicing)

# Jobs Kueue admits: batch Jobs, Ray (KubeRay: RayJob, RayCluster and, for serving, RayService), the MPI operator,
# Kubeflow Trainer v2 and JobSet (Trainer's runtime). Names as Kueue's Configuration
# (config.kueue.x-k8s.io/v1beta2 Integrations.frameworks) spells them.
#
# RayService is enabled on purpose: with a LocalQueue `default` in the team namespaces, Kueue 0.19 labels an object
# owned by a *non-enabled* integration with it (jobframework.defaultLocalQueueApplies skips only objects whose owner
# Kueue manages), so a RayService's RayCluster would become a standalone Kueue RayCluster and be refused for its
# in-tree autoscaling. Enabled, Kueue manages the RayService as the top-level job (since 0.17; its RayCluster, a
# child of a managed owner, is not defaulted) and admits it on the serving pools' flavors; the RayServices are
# elastic jobs (annotation kueue.x-k8s.io/elastic-job: "true", feature gate below), so Ray Serve's autoscaling
# grows and shrinks the admitted workload through workload slices instead of being refused.
#
# `pod` (plain pods): JupyterHub's notebook pods in the team namespaces (KubeSpawner creates bare pods, labelled with
# the team's LocalQueue). Kueue 0.19's pod webhook (pkg/controller/jobs/pod/pod_webhook.go Default) gates a pod of a
# managed namespace unless an ancestor is a Kueue-managed job, and in a namespace with a LocalQueue `default` it
# labels an unlabelled pod with it: so every bare pod of a team namespace, and every pod of a Deployment or
# StatefulSet there (their integrations are off: the ReplicaSet/StatefulSet owner is no managed ancestor), is one
# Kueue workload admitted against the team's quota. Pods of Jobs, Ray, MPI, TrainJob and JobSet are not (their
# owner is managed). Namespaces outside managedJobsNamespaceSelector (the platform's but verify's and the canary's,
# which have no LocalQueue `default`, so their unlabelled pods are not gated either) are left alone.
# That is intended: a team namespace's pods are the team's work and count against its quota. A served model's pods
# (addons/serving.py) take the team's accelerators; they carry the queue label themselves rather than rely on the
# defaulting, and the admitted check (stacks/tools/plan/admitted.py) holds every such pod to being admitted.
#
# `leaderworkerset.x-k8s.io/leaderworkerset`: a multi-node served model is a LeaderWorkerSet. Without its integration
# the pods of a group (StatefulSet-owned, no managed ancestor) would be queued one by one by the rule above, so a
# group could hold part of its accelerators while its other pods wait. With it, the LWS webhook (pkg/controller/
# jobs/leaderworkerset/leaderworkerset_webhook.go Default) copies the queue label to both templates and marks the
# pods suspended-by-parent, and the reconciler admits each group (leader + workers) as one workload
# (GetWorkloadName: name + group index). While managed, a group's pod-template shape (resources, placement) and its
# size are immutable (ValidateUpdate); the image may change. Kueue registers the webhook at start and the
# controller once the LWS CRD exists (jobframework/setup.go), so stacks without the operator are unaffected.
INTEGRATIONS = (
    "batch/job",
    "pod",
    "leaderworkerset.x-k8s.io/leaderworkerset",
    "ray.io/rayjob",
    "ray.io/raycluster",
    "ray.io/rayservice",
    "kubeflow.org/mpijob",
    "trainer.kubeflow.org/trainjob",
    "jobset.x-k8s.io/jobset",
)


@dataclass(frozen=True)
class KueueArgs:
    system_pool: str  # the controller runs on the system node group (crucible.io/pool=<this>)
    flavors: Sequence[dict]
    cohort: dict
    cluster_queues: Sequence[dict]
    version: str = KUEUE_VERSION
    # Observability on: (service account, namespace) Prometheus scrapes with. The chart's ServiceMonitor is enabled
    # (https 8443 with the scraper's token) and that account is bound to the chart's metrics-reader ClusterRole
    # (the metrics endpoint authorizes `get /metrics`). None: no metrics objects.
    prometheus: Optional[tuple[str, str]] = None
    depends_on: Sequence[pulumi.Resource] = ()  # the kube-prometheus-stack release: its ServiceMonitor CRD
    # Gang admission: the Configuration's waitForPodsReady (stacks/derive/admission.py GangAdmission.config()); None:
    # left out (Kueue's v1beta2 defaulting then turns it on with a 30 minute timeout and no requeue limit).
    wait_for_pods_ready: Optional[dict] = None
    priority_classes: Sequence[dict] = ()  # WorkloadPriorityClass manifests
    topology: Optional[dict] = None  # the Topology the TAS flavors reference (None: no flavor does)


def manager_config(wait_for_pods_ready: Optional[dict] = None) -> dict:
    """Kueue's Configuration (the chart's managerConfig.controllerManagerConfigYaml): the chart's defaults for
    health, metrics, webhook and leader election, the integrations above, fair sharing (in v1beta2, the
    presence of `fairSharing` turns it on) and gang admission (`waitForPodsReady`, likewise on by presence)."""
    config = {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        "health": {"healthProbeBindAddress": ":8081"},
        "metrics": {"bindAddress": ":8443", "enableClusterQueueResources": True},
        "webhook": {"port": 9443},
        "leaderElection": {"leaderElect": True, "resourceName": "c1f6bfd2.kueue.x-k8s.io"},
        "controller": {
            "groupKindConcurrency": {
                "Job.batch": 5,
                "Workload.kueue.x-k8s.io": 5,
                "LocalQueue.kueue.x-k8s.io": 1,
                "ClusterQueue.kueue.x-k8s.io": 1,
                "ResourceFlavor.kueue.x-k8s.io": 1,
            }
        },
        "clientConnection": {"qps": 50, "burst": 100},
        # Jobs without a queue label in the team namespaces are left alone; a labelled job is always managed.
        "manageJobsWithoutQueueName": False,
        # Only the namespaces labelled for it (the teams', verify's, the canary's): the chart copies this selector into its batch Job (and JobSet, MPIJob, Ray…)
        # webhooks, which have failurePolicy Fail; by default they take every namespace but kube-system and
        # kueue-system, so another release's hook Job (kube-prometheus-stack's admission-webhook Jobs) created while
        # Kueue is not yet Ready is refused and that atomic release rolls back (templates/webhook/manifests.yaml).
        "managedJobsNamespaceSelector": {"matchLabels": queued_namespace()},
        "integrations": {"frameworks": list(INTEGRATIONS)},
        "fairSharing": {"preemptionStrategies": ["LessThanOrEqualToFinalShare", "LessThanInitialShare"]},
    }
    if wait_for_pods_ready is not None:
        config["waitForPodsReady"] = dict(wait_for_pods_ready)
    return config


def kueue_values(args: KueueArgs) -> dict:
    own = {
        "controllerManager": {
            "replicas": 2,
            "podDisruptionBudget": {"enabled": True},  # minAvailable: the chart's 1
            "featureGates": [{"name": name, "enabled": on} for name, on in sorted(FEATURE_GATES.items())],
        },
        "enablePrometheus": args.prometheus is not None,
        "managerConfig": {"controllerManagerConfigYaml": yaml.safe_dump(manager_config(args.wait_for_pods_ready), sort_keys=False)},
    }
    return merge_values(own, on_system_nodes_at(args.system_pool, ("controllerManager",)))


class Kueue(pulumi.ComponentResource):
    """The Kueue release, then the WorkloadPriorityClasses, the Topology, the ResourceFlavors, the Cohort and one
    ClusterQueue per team."""

    def __init__(self, name: str, args: KueueArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:platform:Kueue", name, None, opts)
        chart = HelmChart.of(PIN, release=RELEASE, namespace=KUEUE_NAMESPACE, version=args.version)
        self.release = helm_release(self, name, chart, kueue_values(args), create_namespace=True, depends_on=args.depends_on)
        if args.prometheus is not None:
            account, namespace = args.prometheus
            k8s.rbac.v1.ClusterRoleBinding(
                f"{name}-metrics-reader",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{RELEASE}-metrics-reader-prometheus"),
                role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=METRICS_READER),
                subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=account, namespace=namespace)],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.release]),
            )
        after = pulumi.ResourceOptions(parent=self, depends_on=[self.release])
        self.priority_classes = [custom_resource(f"{name}-priority-{m['metadata']['name']}", m, after) for m in args.priority_classes]
        self.topology = custom_resource(f"{name}-topology-{args.topology['metadata']['name']}", args.topology, after) if args.topology is not None else None
        flavor_opts = pulumi.ResourceOptions(parent=self, depends_on=[self.release, *([self.topology] if self.topology is not None else [])])
        self.flavors = [custom_resource(f"{name}-flavor-{m['metadata']['name']}", m, flavor_opts) for m in args.flavors]
        self.cohort = custom_resource(f"{name}-cohort-{args.cohort['metadata']['name']}", args.cohort, after)
        queue_opts = pulumi.ResourceOptions(parent=self, depends_on=[self.release, self.cohort, *self.flavors])
        self.cluster_queues = {m["metadata"]["name"]: custom_resource(f"{name}-cq-{m['metadata']['name']}", m, queue_opts) for m in args.cluster_queues}
        self.register_outputs({"version": args.version, "namespace": KUEUE_NAMESPACE, "clusterQueues": list(self.cluster_queues)})
