"""Example serving workloads, rendered from the spec (pure functions returning manifest dicts).

- ``llm_rayservice``: a RayService (ray.io/v1) serving an open model with Ray Serve LLM (vLLM), autoscaled by
  Ray Serve and the in-tree Ray autoscaler, on a GPU pool; ``neuron=True`` gives its Inferentia/Trainium twin.
  Kueue admits it (elastic workload of the team's LocalQueue) on the serving pool's flavor.
- ``prompt_app``: a small Gradio app (ConfigMap + Deployment + ClusterIP Service) for prompt-engineering demos,
  talking to the model's OpenAI-compatible endpoint, and ``app_ingress``: its ALB Ingress.

Exposure is private by default: the model stays behind a ClusterIP service and the app's Ingress asks for an
internal ALB. Public exposure is explicit (`crucible:serving.exposure: public`), HTTPS only with the configured
ACM certificate, restricted to `publicCidrs`, and labelled `crucible.io/exposure: public` for the policy pack.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

import yaml

from stacks.tools.examples.ray import DASHBOARD_PORT, RAY_API, hf_token_env
from stacks.derive.examples import APP_PORT, PROMPT_APP, app_labels
from stacks.tools.examples.shapes import NodeShape
from addons.kueue import ELASTIC_JOB_ANNOTATION
from components.labels import EXAMPLE_LABEL, NODEPOOL_LABEL, QUEUE_LABEL, WORKLOAD_LABEL

EXPOSURE_LABEL = "crucible.io/exposure"
SERVE_PORT = 8000
# What the prompt app installs at start, pinned (a range would change the app under a running Deployment).
APP_PIP = ("gradio==5.50.0", "openai==1.109.1")
INGRESS_CLASS = "alb"
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


def ray_pod_security() -> dict:
    """The Ray pods' securityContext for Pod Security `restricted` (serving teams' namespaces enforce it): non-root
    with RuntimeDefault seccomp. The Ray images run as `ray` (uid 1000, gid 100); the uid is stated because the
    kubelet cannot verify runAsNonRoot against a named image user."""
    return {"runAsNonRoot": True, "runAsUser": 1000, "runAsGroup": 100, "fsGroup": 100, "seccompProfile": {"type": "RuntimeDefault"}}


def container_security() -> dict:
    """The securityContext of every serving container (restricted: no privilege escalation, every capability
    dropped). KubeRay copies the Ray container's into its `wait-gcs-ready` init container; the autoscaler sidecar
    takes `autoscalerOptions.securityContext`."""
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


@dataclass(frozen=True)
class Exposure:
    """How the app is reached: `private` (internal ALB) or `public` (internet-facing, HTTPS, CIDR-restricted)."""

    mode: str = "private"
    certificate_arn: Optional[str] = None
    public_cidrs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in ("private", "public"):
            raise ValueError(f"exposure must be 'private' or 'public' (got {self.mode!r})")
        if self.mode == "public" and not self.certificate_arn:
            raise ValueError("public exposure needs a certificate ARN (crucible:serving.certificateArn)")


def serve_config(model: str, *, min_replicas: int, max_replicas: int, neuron: bool) -> str:
    """Ray Serve config (serveConfigV2): one OpenAI-compatible LLM app, autoscaled on ongoing requests."""
    llm: dict = {
        "model_loading_config": {"model_id": model, "model_source": model},
        "deployment_config": {
            "autoscaling_config": {
                "min_replicas": min_replicas,
                "max_replicas": max_replicas,
                "target_ongoing_requests": 16,
            }
        },
    }
    if neuron:
        # One Inferentia2/Trainium device = 2 NeuronCores; the model is sharded over both.
        llm["engine_kwargs"] = {"device": "neuron", "tensor_parallel_size": 2, "max_model_len": 4096, "max_num_seqs": 8}
        llm["resources_per_bundle"] = {"neuron_cores": 2}
    else:
        llm["engine_kwargs"] = {"tensor_parallel_size": 1, "max_model_len": 8192}
        # vLLM's engine metrics (ray_vllm:*, which the serving dashboard and alerts read) are exported through Ray only
        # with this flag (default false at Ray 2.49.0; V1 engine only, so not on the Neuron image's vLLM).
        llm["log_engine_metrics"] = True
    app = {"name": "llm", "route_prefix": "/", "import_path": "ray.serve.llm:build_openai_app", "args": {"llm_configs": [llm]}}
    return yaml.safe_dump({"applications": [app]}, sort_keys=False)


def llm_rayservice(
    shape: NodeShape,
    *,
    head_pool: str,
    name: str,
    model: str,
    image: str,
    min_replicas: int,
    max_replicas: int,
    queue: str = "default",
) -> dict:
    """A RayService serving ``model`` on ``shape``'s pool: one accelerator (GPU, or Neuron device) per replica; the
    head on the cpu pool ``head_pool`` (never the system nodes, tainted for platform pods, nor an accelerator node).

    A Kueue workload of the team's LocalQueue ``queue`` (Kueue's `ray.io/rayservice` integration), admitted on the
    serving pool's flavor, and an elastic one (`kueue.x-k8s.io/elastic-job: "true"`): Kueue refuses in-tree
    autoscaling otherwise, and with it each scale-up is a workload slice Kueue admits against the team's quota
    (scale-downs shrink the workload). KubeRay copies the labels and annotations to the RayCluster it creates."""
    neuron = shape.kind == "neuron"
    # The Neuron DLC images are built for root (HOME=/root): as uid 1000, caches (Hugging Face, Neuron compiler)
    # go to a writable HOME.
    env = [*hf_token_env(), *([{"name": "HOME", "value": "/tmp"}] if neuron else [])]
    worker_resources = shape.share(1)  # one accelerator per replica, with its share of the node's cpu and memory
    head_resources = {"cpu": "2", "memory": "8Gi"}
    return {
        "apiVersion": RAY_API,
        "kind": "RayService",
        "metadata": {
            "name": name,
            "labels": {QUEUE_LABEL: queue, EXAMPLE_LABEL: "true", WORKLOAD_LABEL: "serving"},
            "annotations": {ELASTIC_JOB_ANNOTATION: "true"},
        },
        "spec": {
            "serveConfigV2": serve_config(model, min_replicas=min_replicas, max_replicas=max_replicas, neuron=neuron),
            "rayClusterConfig": {
                "enableInTreeAutoscaling": True,
                # KubeRay adds the autoscaler as a sidecar of the head; its securityContext comes only from here.
                "autoscalerOptions": {"upscalingMode": "Default", "idleTimeoutSeconds": 300, "securityContext": container_security()},
                "headGroupSpec": {
                    # The head schedules, it does not serve: no accelerators, so it fits any node.
                    "rayStartParams": {"num-cpus": "0", "dashboard-host": "0.0.0.0"},
                    "template": {
                        "spec": {
                            "nodeSelector": {NODEPOOL_LABEL: head_pool},
                            "securityContext": ray_pod_security(),
                            "containers": [
                                {
                                    "name": "ray-head",
                                    "image": image,
                                    "env": env,
                                    "resources": {"requests": head_resources, "limits": head_resources},
                                    "securityContext": container_security(),
                                    "ports": [
                                        {"name": "gcs", "containerPort": 6379},
                                        {"name": "dashboard", "containerPort": DASHBOARD_PORT},
                                        {"name": "serve", "containerPort": SERVE_PORT},
                                    ],
                                }
                            ],
                        }
                    },
                },
                "workerGroupSpecs": [
                    {
                        "groupName": "neuron" if neuron else "gpu",
                        "replicas": min_replicas,
                        "minReplicas": min_replicas,
                        "maxReplicas": max_replicas,
                        "rayStartParams": {},
                        "template": {
                            "metadata": {"labels": shape.pod_labels()},
                            "spec": {
                                # The pool and the type the replica's share was cut from.
                                "nodeSelector": shape.node_selector(),
                                "tolerations": shape.tolerations(),
                                "securityContext": ray_pod_security(),
                                "containers": [
                                    {
                                        "name": "ray-worker",
                                        "image": image,
                                        "env": env,
                                        "resources": {"requests": worker_resources, "limits": worker_resources},
                                        "securityContext": container_security(),
                                        "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}],
                                    }
                                ],
                                "volumes": [{"name": "dshm", "emptyDir": {"medium": "Memory"}}],
                            },
                        },
                    }
                ],
            },
        },
    }


_APP = """\
import os
import gradio as gr
from openai import OpenAI

client = OpenAI(base_url=os.environ["OPENAI_BASE_URL"], api_key="not-needed")
MODEL = os.environ["MODEL"]


def answer(prompt, system, temperature):
    reply = client.chat.completions.create(
        model=MODEL,
        temperature=temperature,
        messages=[{"role": "system", "content": system}, {"role": "user", "content": prompt}],
    )
    return reply.choices[0].message.content


gr.Interface(
    fn=answer,
    inputs=[gr.Textbox(label="Prompt", lines=6), gr.Textbox(label="System prompt", value="You are a helpful assistant."),
            gr.Slider(0, 1.5, value=0.7, label="Temperature")],
    outputs=gr.Textbox(label="Answer", lines=12),
    title=f"Prompt lab - {MODEL}",
).launch(server_name="0.0.0.0", server_port=int(os.environ.get("PORT", "7860")))
"""


def prompt_app(*, name: str = PROMPT_APP, model: str, model_service: str, image: str, pool: str) -> list[dict]:
    """ConfigMap (the app), Deployment (non-root, installs gradio+openai at start) on the cpu pool ``pool``, and a
    ClusterIP Service."""
    labels = app_labels(name)
    env = [
        {"name": "OPENAI_BASE_URL", "value": f"http://{model_service}:{SERVE_PORT}/v1"},
        {"name": "MODEL", "value": model},
        {"name": "PORT", "value": str(APP_PORT)},
        {"name": "HOME", "value": "/tmp"},
        {"name": "PYTHONUSERBASE", "value": "/tmp/.local"},
    ]
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}, "data": {"app.py": _APP}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "nodeSelector": {NODEPOOL_LABEL: pool},
                        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "runAsGroup": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
                        "containers": [
                            {
                                "name": "app",
                                "image": image,
                                "command": ["sh", "-c", f"pip install --user --no-cache-dir {' '.join(APP_PIP)} && exec python /app/app.py"],
                                "env": env,
                                "ports": [{"name": "http", "containerPort": APP_PORT}],
                                "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 10},
                                "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
                                "securityContext": container_security(),
                                "volumeMounts": [{"name": "app", "mountPath": "/app", "readOnly": True}],
                            }
                        ],
                        "volumes": [{"name": "app", "configMap": {"name": name}}],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "type": "ClusterIP",
                "selector": {"app.kubernetes.io/name": name},
                "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
            },
        },
    ]


def ingress_annotations(exposure: Exposure) -> dict[str, str]:
    """ALB annotations: internal unless exposure is public; public means HTTPS only, from the allowed CIDRs."""
    annotations = {
        "alb.ingress.kubernetes.io/target-type": "ip",
        "alb.ingress.kubernetes.io/healthcheck-path": "/",
    }
    if exposure.mode == "public":
        annotations.update(
            {
                "alb.ingress.kubernetes.io/scheme": "internet-facing",
                "alb.ingress.kubernetes.io/certificate-arn": exposure.certificate_arn or "",
                "alb.ingress.kubernetes.io/listen-ports": json.dumps([{"HTTPS": 443}]),
                "alb.ingress.kubernetes.io/ssl-policy": TLS_POLICY,
                "alb.ingress.kubernetes.io/inbound-cidrs": ",".join(exposure.public_cidrs),
            }
        )
    else:
        annotations["alb.ingress.kubernetes.io/scheme"] = "internal"
        if exposure.certificate_arn:
            annotations["alb.ingress.kubernetes.io/certificate-arn"] = exposure.certificate_arn
            annotations["alb.ingress.kubernetes.io/listen-ports"] = json.dumps([{"HTTPS": 443}])
            annotations["alb.ingress.kubernetes.io/ssl-policy"] = TLS_POLICY
        else:
            annotations["alb.ingress.kubernetes.io/listen-ports"] = json.dumps([{"HTTP": 80}])
    return annotations


def app_ingress(exposure: Exposure, *, name: str = "prompt-lab") -> dict:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": name,
            "labels": {"app.kubernetes.io/name": name, EXAMPLE_LABEL: "true", EXPOSURE_LABEL: exposure.mode},
            "annotations": ingress_annotations(exposure),
        },
        "spec": {
            "ingressClassName": INGRESS_CLASS,
            "rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": name, "port": {"name": "http"}}}}]}}],
        },
    }
