"""Where the example workloads run, and what the platform admits for them. PURE: no Pulumi calls.

`crucible examples` (stacks/tools/examples) renders the workloads; the deploy path needs only the part decided
here: whether the stack hands teams the prompt app behind an ALB with IP targets, and the app's name, pod labels
and port, for the NetworkPolicy that admits the load balancer into a team namespace (addons/tenancy.py
ExposedApp). Both read this module, so the policy and the app it admits cannot drift apart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from components.accelerators import CPU
from components.labels import EXAMPLE_LABEL

if TYPE_CHECKING:  # pragma: no cover
    from stacks.spec import PlatformSpec
    from stacks.spec.pools import PoolSpec

PROMPT_APP = "prompt-lab"
APP_PORT = 7860  # the prompt app's container port (gradio), the one its load balancer targets


def app_labels(name: str = PROMPT_APP) -> dict[str, str]:
    """The prompt app's labels (its pods' too): the team namespace's load-balancer NetworkPolicy selects them."""
    return {"app.kubernetes.io/name": name, EXAMPLE_LABEL: "true"}


def kuberay_enabled(spec: PlatformSpec) -> bool:
    """Ray examples need the KubeRay operator (`addons.kuberay.enabled`)."""
    return spec.addons.kuberay.enabled


def serving_pool(spec: PlatformSpec, kind: str) -> PoolSpec | None:
    """The first serving pool of ``kind`` (gpu or neuron)."""
    return next((p for p in spec.pools if p.workload == "serving" and p.kind == kind), None)


def cpu_pool(spec: PlatformSpec) -> PoolSpec | None:
    """The pool CPU-only pods of the serving examples run on (a RayService's head, the prompt app): the first cpu
    pool for serving, else for interactive work, else any cpu pool; None when the stack has none. Never the system
    nodes (tainted for platform pods) nor an accelerator pool (Karpenter would launch a GPU node for a head)."""
    cpu = [p for p in spec.pools if p.kind == CPU.kind]
    for workload in ("serving", "interactive"):
        chosen = next((p for p in cpu if p.workload == workload), None)
        if chosen is not None:
            return chosen
    return cpu[0] if cpu else None


def prompt_app_kind(spec: PlatformSpec) -> str | None:
    """The serving pool kind the prompt app talks to (gpu first), or None when the stack cannot run it."""
    kind = "gpu" if serving_pool(spec, "gpu") is not None else "neuron" if serving_pool(spec, "neuron") is not None else None
    # The app talks to a RayService and runs on a cpu pool (never the system nodes, nor an accelerator node).
    return kind if kind is not None and cpu_pool(spec) is not None and kuberay_enabled(spec) else None


def prompt_app_behind_load_balancer(spec: PlatformSpec) -> bool:
    """Whether `crucible examples` hands teams the prompt app with its ALB Ingress (IP targets)."""
    return prompt_app_kind(spec) is not None and spec.addons.load_balancer_controller.enabled
