"""The LeaderWorkerSet operator (kubernetes-sigs/lws, chart `lws` from oci://registry.k8s.io/lws/charts, pinned):
the `leaderworkerset.x-k8s.io/v1` API a vLLM replica spanning nodes runs as (one leader + size-1 workers per group).

- **The chart.** The published chart at the pin is the one vendored as Kubeflow Trainer 2.3.0's `lws` subchart
  (../shared/upstream/SOURCES.md: git Chart.yaml says 0.1.0 / appVersion v0.8.0, set to v0.8.0 at packaging);
  the plan renders it from there (stacks/tools/plan/helm.py NESTED_CHARTS). Trainer's own copy is installed only
  with its data cache (off), so this is the one LeaderWorkerSet controller of the cluster.
- **Image.** The git values say `tag: main` with `pullPolicy: Always`; the release pins `registry.k8s.io/lws/lws`
  at the chart's app version and pulls it if absent, so a node restart never changes the controller.
- **CRDs** come from the chart's `crds/` (Helm installs, never upgrades them; raise the pin with the new CRD applied
  server-side first, like KubeRay's).
- **System nodes.** The controller and its webhook run on the system node group, with requests sized for it
  (the chart's default asks a whole CPU and 1 GiB).
- **Webhook certificates** are the controller's own (`enableCertManager: false`, the chart's default): no
  cert-manager in the cluster.

Pod Security: the namespace enforces `restricted`; the chart's pod and container security contexts meet it
(runAsNonRoot, no privilege escalation, all capabilities dropped, read-only root) with seccomp RuntimeDefault added.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components import versions
from components.helm_addon import HelmChart, helm_release, merge_values, on_system_nodes_at
from components.labels import pod_security

PIN = versions.chart("lws")
RELEASE = "lws"
NAMESPACE = "lws-system"
IMAGE = versions.image("lws")
API = "leaderworkerset.x-k8s.io/v1"


@dataclass(frozen=True)
class LeaderWorkerSetArgs:
    system_pool: str  # the controller runs on the system node group (crucible.io/pool=<this>)
    namespace: str = NAMESPACE
    version: str = field(default=PIN.version, kw_only=True)


def lws_values(args: LeaderWorkerSetArgs) -> dict:
    """Values of the lws chart (keys as in its values.yaml at v0.8.0)."""
    return merge_values(
        on_system_nodes_at(args.system_pool, ()),
        {
            # the chart's repository is registry.k8s.io/lws/lws (components/versions.py's); its tag and pull policy are not
            "image": {"manager": {"tag": IMAGE.tag, "pullPolicy": "IfNotPresent"}},
            # runAsNonRoot is the chart's; seccomp RuntimeDefault is added (Helm merges the maps)
            "podSecurityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            # The chart asks a whole CPU and 1 GiB of the system nodes for a controller that watches a few objects.
            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        },
    )


class LeaderWorkerSetOperator(pulumi.ComponentResource):
    """The operator's namespace (Pod Security `restricted`) and the pinned lws release with its CRD."""

    def __init__(self, name: str, args: LeaderWorkerSetArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("crucible:platform:LeaderWorkerSetOperator", name, None, opts)
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=args.namespace, labels={"crucible.io/purpose": "leader-worker-set", **pod_security("restricted")}),
            opts=pulumi.ResourceOptions(parent=self),
        )
        chart = HelmChart.of(PIN, release=RELEASE, namespace=self.namespace.metadata.name, version=args.version)
        self.release = helm_release(self, name, chart, lws_values(args), skip_crds=False)
        self.register_outputs({"version": args.version, "namespace": args.namespace})
