"""Every version Crucible pins, in one table: Helm charts, container images, EKS managed add-ons and the few other
pieces of software whose version is chosen here (Kubernetes, Lustre, Ray).

The spec's defaults (stacks/spec/*) and the components' defaults read this module; no other module under
`components/`, `addons/` or `stacks/spec/` holds a version literal (tests/test_versions.py greps for them). The
README's "Pinned versions" list is generated from it (`python -m stacks.spec.reference --write`), and every chart
pin is checked against the vendored chart in `../shared/upstream/charts/<name>-<version>/Chart.yaml`.

Raising a version: change it here, run `python -m stacks.spec.reference --write`, vendor the new chart under
`shared/upstream/charts` (tests/test_helm_render.py renders it) and read its upgrade notes (CRDs are not upgraded by
Helm: Karpenter has its own CRD chart; KubeRay's must be applied server-side first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class ChartPin:
    """A Helm chart at a pinned version."""

    name: str  # the chart's own name (Chart.yaml `name`; the vendored folder is <name>-<version>)
    chart: str  # what Helm installs: the chart's name in `repository`, or an oci:// reference
    repository: Optional[str]  # the chart repository (https); None for an OCI chart
    version: str
    project: str  # the upstream project that publishes it
    note: str = ""
    setting: str = ""  # the config key (under crucible:) that overrides the pin for one stack, if any

    @property
    def source(self) -> str:
        """Where Helm fetches it from, as one string: the OCI reference or the repository URL."""
        return self.chart if self.repository is None else self.repository


@dataclass(frozen=True)
class ImagePin:
    """A container image at a pinned tag."""

    name: str  # what it is, as this table and the README call it
    repository: str  # registry/path without the tag
    tag: str
    note: str = ""
    setting: str = ""  # the config key (under crucible:) whose default this image (a release image: its tag) is

    @property
    def ref(self) -> str:
        return f"{self.repository}:{self.tag}"


@dataclass(frozen=True)
class SoftwarePin:
    """A version of software that is neither a chart nor an image: the cluster's Kubernetes, the file system's Lustre."""

    name: str
    version: str
    note: str = ""
    setting: str = ""  # the config key (under crucible:) whose default this is


def _charts(*pins: ChartPin) -> dict[str, ChartPin]:
    return {pin.name: pin for pin in pins}


KARPENTER = "1.14.1"  # the controller chart and the CRD chart move together (KarpenterArgs.version sets both)
RAY = "2.52.0"  # KubeRay token authentication (the Ray examples use it) needs Ray 2.52.0 or later
MPI_OPERATOR = "0.8.2"  # the release Kueue 0.19.2 is tested with; its v2beta1 MPIJob CRD is unchanged since 0.8.0

CHARTS: dict[str, ChartPin] = _charts(
    # compute layer
    ChartPin("karpenter", "oci://public.ecr.aws/karpenter/karpenter", None, KARPENTER, "aws/karpenter-provider-aws"),
    ChartPin(
        "karpenter-crd",
        "oci://public.ecr.aws/karpenter/karpenter-crd",
        None,
        KARPENTER,
        "aws/karpenter-provider-aws",
        note="the CRDs, upgraded with the controller (the controller release skips its own crds/)",
    ),
    ChartPin("nvidia-device-plugin", "nvidia-device-plugin", "https://nvidia.github.io/k8s-device-plugin", "0.20.0", "NVIDIA/k8s-device-plugin"),
    ChartPin(
        "aws-efa-k8s-device-plugin",
        "aws-efa-k8s-device-plugin",
        "https://aws.github.io/eks-charts",
        "0.5.30",
        "aws/eks-charts",
        note="the chart's own version string is v0.5.30 (Helm's semver match accepts 0.5.30)",
    ),
    ChartPin(
        "neuron-helm-chart",
        "oci://public.ecr.aws/neuron/neuron-helm-chart",
        None,
        "1.10.0",
        "aws-neuron/neuron-helm-charts",
        note="not confirmed against the registry and not vendored: confirm with `helm show chart "
        "oci://public.ecr.aws/neuron/neuron-helm-chart --version 1.10.0` before the first real deployment",
    ),
    # platform layer
    ChartPin(
        "kueue",
        "oci://registry.k8s.io/kueue/charts/kueue",
        None,
        "0.19.2",
        "kubernetes-sigs/kueue",
        note="API kueue.x-k8s.io/v1beta2",
        setting="addons.kueue.version",
    ),
    ChartPin(
        "kuberay-operator",
        "kuberay-operator",
        "https://ray-project.github.io/kuberay-helm/",
        "1.7.0",
        "ray-project/kuberay",
        note="chart version = operator version; Helm does not upgrade its ray.io CRDs",
        setting="addons.kuberay.version",
    ),
    ChartPin(
        "kubeflow-trainer",
        "oci://ghcr.io/kubeflow/charts/kubeflow-trainer",
        None,
        "2.3.0",
        "kubeflow/trainer",
        note="bundles JobSet",
        setting="addons.trainer.version",
    ),
    ChartPin(
        "aws-load-balancer-controller",
        "aws-load-balancer-controller",
        "https://aws.github.io/eks-charts",
        "3.5.0",
        "aws/eks-charts",
        setting="addons.loadBalancerController.version",
    ),
    ChartPin(
        "jupyterhub", "jupyterhub", "https://hub.jupyter.org/helm-chart/", "4.4.0", "jupyterhub/zero-to-jupyterhub-k8s", setting="addons.jupyterhub.version"
    ),
    ChartPin(
        "kube-prometheus-stack",
        "kube-prometheus-stack",
        "https://prometheus-community.github.io/helm-charts",
        "88.5.3",
        "prometheus-community/helm-charts",
        setting="addons.observability.prometheusStackVersion",
    ),
    ChartPin(
        "dcgm-exporter",
        "dcgm-exporter",
        "https://nvidia.github.io/dcgm-exporter/helm-charts",
        "4.8.2",
        "NVIDIA/dcgm-exporter",
        setting="addons.observability.dcgmExporterVersion",
    ),
    ChartPin(
        "lws",
        "oci://registry.k8s.io/lws/charts/lws",
        None,
        "0.8.0",
        "kubernetes-sigs/lws",
        note="LeaderWorkerSet for vLLM replicas spanning nodes; vendored as Kubeflow Trainer 2.3.0's lws subchart (published as v0.8.0)",
        setting="addons.leaderWorkerSet.version",
    ),
    ChartPin(
        "keda",
        "keda",
        "https://kedacore.github.io/charts",
        "2.20.2",
        "kedacore/charts",
        note="not vendored: its ScaledObject CRD (kedacore/keda v2.20.2) is recorded under tests/data/crds; confirm with "
        "`helm show chart keda --repo https://kedacore.github.io/charts --version 2.20.2` before the first real deployment",
        setting="addons.keda.version",
    ),
    ChartPin("argo-workflows", "argo-workflows", "https://argoproj.github.io/argo-helm", "1.0.18", "argoproj/argo-helm", setting="addons.argo.version"),
)

IMAGES: dict[str, ImagePin] = {
    pin.name: pin
    for pin in (
        ImagePin(
            "mpi-operator",
            "mpioperator/mpi-operator",
            MPI_OPERATOR,
            "the MPI operator's controller (no chart upstream)",
            setting="addons.mpiOperator.version",
        ),
        ImagePin(
            "neuron-monitor",
            "public.ecr.aws/neuron/neuron-monitor",
            "1.0.0",
            "the Neuron SDK's monitor DaemonSet: neuron-monitor piped into its Prometheus exporter on port 8000",
            setting="addons.observability.neuronMonitorImage",
        ),
        ImagePin(
            "dcgm",
            "nvcr.io/nvidia/cloud-native/dcgm",
            "4.5.3-1-ubuntu24.04",
            "burn-in's `dcgmi diag` (DCGM 4.5.3, the DCGM of the dcgm-exporter 4.5.3-4.8.2-distroless image chart 4.8.2 defaults to); "
            "the tag upstream references for 4.5.3 (tests/test_versions.py cites the sources)",
        ),
        ImagePin(
            "nccl-tests",
            "public.ecr.aws/hpc-cloud/nccl-tests",
            "cuda12.8.1-efa1.43.2-ofiv1.16.3-ncclv2.27.7-1-testsv2.16.9",
            "CUDA 12.8.1, EFA installer 1.43.2, aws-ofi-nccl 1.16.3, NCCL 2.27.7, nccl-tests 2.16.9: the MPIJob example and `crucible verify`",
            setting="training.examples.mpiImage",
        ),
        ImagePin(
            "pytorch-training",
            "public.ecr.aws/deep-learning-containers/pytorch-training",
            "2.8.0-gpu-py312-cu129-ubuntu22.04-ec2",
            "the PyTorch examples and the torch-distributed-efa ClusterTrainingRuntime (an AWS Deep Learning Container)",
            setting="training.examples.pytorchImage",
        ),
        ImagePin("ray", "rayproject/ray", f"{RAY}-py311-cu128", "the GPU RayJob example", setting="training.examples.rayImage"),
        ImagePin(
            "pytorch-training-neuronx",
            "public.ecr.aws/neuron/pytorch-training-neuronx",
            "2.8.0-neuronx-py310-sdk2.26.0-ubuntu22.04",
            "the Trainium RayCluster example",
            setting="training.examples.rayNeuronImage",
        ),
        ImagePin(
            "ray-llm", "rayproject/ray-llm", "2.49.0-py311-cu128", "the GPU serving examples (Ray Serve LLM with vLLM)", setting="serving.examples.gpuImage"
        ),
        ImagePin(
            "pytorch-inference-vllm-neuronx",
            "public.ecr.aws/neuron/pytorch-inference-vllm-neuronx",
            "0.9.1-neuronx-py310-sdk2.25.0-ubuntu22.04",
            "the Neuron serving examples",
            setting="serving.examples.neuronImage",
        ),
        ImagePin("pause", "registry.k8s.io/pause", "3.10", "the idle container of the serving image pre-pull DaemonSets"),
        ImagePin(
            "busybox",
            "public.ecr.aws/docker/library/busybox",
            "1.37.0",
            "the EFA counters sidecar of node-exporter (a shell, awk and sort: node-exporter's own image is distroless)",
        ),
        ImagePin("lws", "registry.k8s.io/lws/lws", "v0.8.0", "the LeaderWorkerSet controller (the lws chart's app version)"),
        ImagePin(
            "vllm-openai",
            "vllm/vllm-openai",
            "v0.10.2",
            "vLLM's OpenAI-compatible server (CUDA; Ray inside for multi-node): serving.models on GPU pools",
        ),
        ImagePin(
            "vllm-neuron",
            "public.ecr.aws/neuron/pytorch-inference-vllm-neuronx",
            "0.9.1-neuronx-py310-sdk2.25.0-ubuntu22.04",
            "vLLM 0.9.1 with the Neuron backend (NxD Inference): serving.models on Neuron pools",
        ),
        ImagePin("python", "python", "3.12.12-slim-bookworm", "the prompt-engineering app of the serving examples", setting="serving.examples.appImage"),
    )
}

# EKS managed add-ons Crucible installs, and the version it pins for each. An unpinned add-on gets EKS's default
# version for the cluster's Kubernetes version; `cluster.addonVersions` pins the cluster's own add-ons. The node
# monitoring agent is pinned: its configuration (the dcgmAgent tolerations) follows that version's schema
# (aws/eks-node-monitoring-agent charts/configuration.schema.json) and its conditions are what Karpenter repairs.
MANAGED_ADDONS: dict[str, Optional[str]] = {
    "vpc-cni": None,
    "kube-proxy": None,
    "eks-pod-identity-agent": None,
    "coredns": None,
    "aws-ebs-csi-driver": None,
    "aws-fsx-csi-driver": None,
    "aws-mountpoint-s3-csi-driver": None,
    "amazon-cloudwatch-observability": None,  # logs (addons/logs.py), with observability.logs on
    "eks-node-monitoring-agent": "v1.7.0-eksbuild.1",  # node health conditions (addons/node_health.py), for Karpenter's node repair
}

# The add-ons the cluster component installs (`cluster.addonVersions` may pin these); the FSx and S3 CSI drivers are
# the storage layer's.
CLUSTER_ADDONS = ("vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent", "aws-ebs-csi-driver")

KUBERNETES_VERSIONS = ("1.31", "1.32", "1.33", "1.34", "1.35")  # what `cluster.version` accepts
SOFTWARE: dict[str, SoftwarePin] = {
    pin.name: pin
    for pin in (
        SoftwarePin("kubernetes", "1.34", f"accepted: {', '.join(KUBERNETES_VERSIONS)}", setting="cluster.version"),
        SoftwarePin("lustre", "2.15", "FSx for Lustre file system type version: data repository associations need 2.12+, EFA and metadata configurations 2.15"),
        SoftwarePin("ray", RAY, "Ray of the Ray examples; at least 2.52.0 (KubeRay token authentication)", setting="training.examples.rayVersion"),
    )
}

# Release examples cited in configuration errors (not defaults: pools choose their own AMI release).
AMI_RELEASE_EXAMPLES = {"AL2023": "v20251108", "Bottlerocket": "1.47.0"}

# The first Bottlerocket release with the aws-k8s-<version> variants (and their -nvidia ones) of each Kubernetes
# version: Karpenter resolves `bottlerocket@<release>` to the SSM parameters of the cluster's variant
# (/aws/service/bottlerocket/aws-k8s-<version>[-nvidia]/<arch>/<release>/image_id, karpenter-provider-aws v1.14.1
# pkg/providers/amifamily/bottlerocket.go) and finds none for an older release. Bottlerocket's tracking issues:
# 1.31 #4137 (v1.22.0), 1.32 #4318 (v1.30.0), 1.33 #4477 (v1.39.0), 1.34 #4620 (v1.47.0), 1.35 PR #4737 (v1.53.0).
BOTTLEROCKET_FIRST_RELEASE = {"1.31": "1.22.0", "1.32": "1.30.0", "1.33": "1.39.0", "1.34": "1.47.0", "1.35": "1.53.0"}


def chart(name: str) -> ChartPin:
    try:
        return CHARTS[name]
    except KeyError:
        raise KeyError(f"no chart {name!r} in components/versions.py; charts: {', '.join(CHARTS)}") from None


def image(name: str) -> ImagePin:
    try:
        return IMAGES[name]
    except KeyError:
        raise KeyError(f"no image {name!r} in components/versions.py; images: {', '.join(IMAGES)}") from None


# ---- the README list --------------------------------------------------------------------------------------------

BEGIN = "<!-- BEGIN PINNED VERSIONS (generated from components/versions.py by `python -m stacks.spec.reference --write`) -->"
END = "<!-- END PINNED VERSIONS -->"


def _key(setting: str) -> str:
    return f"`{setting}`" if setting else "—"


def render_markdown() -> str:
    """The README's list of pinned versions (between BEGIN and END)."""
    lines = [BEGIN, "", "| Helm chart | version | from | set with | notes |", "|---|---|---|---|---|"]
    lines += [f"| `{c.name}` | {c.version} | `{c.source}` | {_key(c.setting)} | {c.note} |" for c in CHARTS.values()]
    lines += ["", "| image | tag | set with | notes |", "|---|---|---|---|"]
    lines += [f"| `{i.repository}` | `{i.tag}` | {_key(i.setting)} | {i.note} |" for i in IMAGES.values()]
    lines += ["", "| EKS managed add-on | version |", "|---|---|"]
    for name, version in MANAGED_ADDONS.items():
        unpinned = "not pinned: EKS's default for the cluster version" + (" (pin it with `cluster.addonVersions`)" if name in CLUSTER_ADDONS else "")
        lines.append(f"| `{name}` | {version or unpinned} |")
    lines += ["", "| software | version | set with | notes |", "|---|---|---|---|"]
    lines += [f"| {s.name} | {s.version} | {_key(s.setting)} | {s.note} |" for s in SOFTWARE.values()]
    lines += ["", END]
    return "\n".join(lines)
