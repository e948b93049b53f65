"""`serving.models[]`: models Crucible serves with vLLM's OpenAI-compatible server, from config.

Each entry names a model and the serving pool it runs on; Crucible derives the replica's shape from the instance
catalog (stacks/derive/serving.py), refuses a model whose weights cannot fit the replica's accelerators, and the
platform layer creates the workload (a Deployment for a replica on one node, a LeaderWorkerSet for one spanning
nodes), its Service, PodDisruptionBudget and KEDA ScaledObject (stacks/layers/platform/serving.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Optional

from stacks.spec.checks import acm_certificate_arn, hf_model_id, https_url, image_ref, k8s_name
from stacks.spec.schema import Context, in_range, setting, show

if TYPE_CHECKING:  # pragma: no cover
    from stacks.spec.platform import PlatformSpec

_FOLDER = re.compile(r"^[\w.\-]+(/[\w.\-]+)*/?$")
_SERVED_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")


def weights_folder(value: str) -> Optional[str]:
    if _FOLDER.match(value) and ".." not in value.split("/"):
        return None
    return f"got {show(value)}; allowed: a relative folder such as models/meta-llama/Llama-3.1-8B-Instruct (letters, digits, . _ - and /)"


def served_name(value: str) -> Optional[str]:
    if _SERVED_NAME.match(value):
        return None
    return f"got {show(value)}; allowed: a DNS label of 1-40 lowercase letters, digits and '-' (it names the Deployment, Service and ScaledObject)"


@dataclass(frozen=True)
class ServingModelSpec:
    """One model served by vLLM (see README "Serve")."""

    name: str = setting("Name of the endpoint: the workload, its Service (`<name>.<team>.svc`) and its ScaledObject.", check=served_name)
    model: str = setting("Hugging Face model id; the OpenAI API's `model` field (vLLM --served-model-name).", check=hf_model_id)
    pool: str = setting("Pool the replicas run on (a pool with workload: serving, kind gpu or neuron).")
    team: Optional[str] = setting("Team whose namespace (and Kueue LocalQueue `default`) the model runs in. Default: the first team.", default=None)
    parameters: Optional[float] = setting(
        "Parameter count (e.g. 70e9), for the fit check. Default: Crucible's table of known model ids "
        "(stacks/derive/serving.py KNOWN_PARAMETERS); a model outside the table must state it.",
        default=None,
        check=in_range(1e6, 1e13),
    )
    dtype: Literal["bfloat16", "float16", "fp8"] = setting(
        "Weight dtype (vLLM --dtype; fp8 is --quantization fp8 on bfloat16 activations). Sets the bytes per parameter of the fit check: 2, 2, 1.",
        default="bfloat16",
    )
    tensor_parallel_size: int = setting(
        "vLLM --tensor-parallel-size: GPUs (NeuronCores on Neuron pools) one replica shards each layer over; "
        "within a node. A replica spanning nodes uses a node's every accelerator.",
        default=1,
        check=in_range(1, 128),
    )
    pipeline_parallel_size: int = setting(
        "vLLM --pipeline-parallel-size: stages of one replica. More than one node's accelerators makes the replica a "
        "LeaderWorkerSet group of that many nodes (leader + workers, Ray over EFA).",
        default=1,
        check=in_range(1, 16),
    )
    accelerators_per_replica: Optional[int] = setting(
        "Accelerator devices (nvidia.com/gpu or aws.amazon.com/neuron) of one replica. Default: tensorParallelSize × "
        "pipelineParallelSize GPUs, or on Neuron that many NeuronCores' devices. Stated, it must equal that.",
        default=None,
        check=in_range(1, 1024),
    )
    max_model_len: int = setting(
        "vLLM --max-model-len: the longest context (prompt + output tokens) a request may use.", default=8192, check=in_range(128, 1048576)
    )
    max_num_seqs: Optional[int] = setting(
        "vLLM --max-num-seqs: the most sequences a replica serves at once; on Neuron also the batch its KV cache is "
        "compiled for (with maxModelLen tokens each). Default: vLLM's own on GPUs, 8 on Neuron.",
        default=None,
        check=in_range(1, 1024),
    )
    min_replicas: int = setting(
        "Fewest replicas, at least 1: the autoscaler's signals are the server's own metrics, which vanish with its last "
        "replica, so a model scaled to zero would never be scaled back up.",
        default=1,
        check=in_range(0, 100),
    )
    max_replicas: int = setting(
        "Most replicas KEDA scales to on the server's load (Karpenter brings the nodes); more than minReplicas needs "
        "addons.observability (Prometheus). Default 1: no scaling beyond minReplicas.",
        default=1,
        check=in_range(1, 100),
    )
    target_waiting: int = setting(
        "Scaling target: requests waiting per replica (vllm:num_requests_waiting) above which KEDA adds a replica.",
        default=5,
        check=in_range(1, 10000),
    )
    target_kv_cache: float = setting(
        "Scaling target on GPU pools: KV-cache use per replica (vllm:kv_cache_usage_perc, 0-1) above which KEDA adds a replica.",
        default=0.8,
        check=in_range(0.05, 1.0),
    )
    weights: Literal["s3", "lustre", "hub"] = setting(
        "Where the server reads the weights at start: s3 (weightsBucket/weightsPrefix through the Mountpoint for S3 CSI "
        "driver, read-only, cached on the node's local storage), lustre (the team's `lustre` claim, at weightsPrefix) or hub "
        "(downloaded from Hugging Face at every start; refused in prod).",
        default="s3",
    )
    weights_bucket: Optional[str] = setting(
        "Bucket of storage.buckets (logical name, with readOnlyVolume: true: the Mountpoint driver's role reads it) holding the weights (weights: s3).",
        default=None,
        check=k8s_name,
    )
    weights_prefix: Optional[str] = setting(
        "Folder of the weights in weightsBucket (weights: s3), or in the Lustre file system from its root (weights: lustre). Default: "
        "models/<model id>, on Lustre under the directory linked to the datasets bucket (datasets/models/<model id>).",
        default=None,
        check=weights_folder,
    )
    preload: bool = setting(
        "With weights: lustre, a Job that reads the weights once so Lustre imports them from its linked S3 repository "
        "before the first replica starts (admitted by Kueue on the team's CPU quota).",
        default=False,
    )
    exposure: Literal["cluster", "internal", "public"] = setting(
        "Who reaches the endpoint: cluster (the Service only), internal (plus an internal NLB through the load balancer "
        "controller: the VPC and connected networks) or public (an internet-facing ALB with HTTPS (certificateArn) and "
        "authentication (auth) in front).",
        default="internal",
    )
    certificate_arn: Optional[str] = setting("ACM certificate of the public HTTPS listener (exposure: public).", default=None, check=acm_certificate_arn)
    auth: Literal["none", "oidc", "api-key"] = setting(
        "Authentication in front of the server: oidc (the ALB authenticates with oidcIssuer, clientId in oidcClientId and "
        "the Secret `<name>-oidc`), api-key (vLLM --api-key from the Secret `<name>-api-key`, key `key`) or none "
        "(refused with exposure: public).",
        default="none",
    )
    oidc_issuer: Optional[str] = setting("OIDC issuer of the ALB authentication (auth: oidc).", default=None, check=https_url)
    oidc_client_id: Optional[str] = setting("OIDC client id of the ALB authentication (auth: oidc).", default=None)
    image: Optional[str] = setting(
        "Server image. Default: the pinned vLLM OpenAI server (GPU pools) or vLLM's Neuron backend image (Neuron pools).", default=None, check=image_ref
    )

    def check(self, ctx: Context, path: str) -> None:
        if self.min_replicas > self.max_replicas:
            ctx.problem(f"{path}.minReplicas", f"got {self.min_replicas}; must be at most maxReplicas ({self.max_replicas})")
        if self.weights == "s3" and not self.weights_bucket:
            ctx.problem(f"{path}.weightsBucket", "required when weights is 's3': the storage.buckets[].name holding the weights (or set weights: lustre)")
        if self.weights != "s3" and self.weights_bucket:
            ctx.problem(f"{path}.weightsBucket", f"got {show(self.weights_bucket)}; only read with weights: s3 (weights is {show(self.weights)})")

        if self.preload and self.weights != "lustre":
            ctx.problem(
                f"{path}.preload",
                f"got true with weights {show(self.weights)}; the pre-load Job fills the Lustre file system (weights: lustre). Mountpoint's "
                "cache is per node and filled by the first replica",
            )
        if self.exposure == "public":
            if not self.certificate_arn:
                ctx.problem(f"{path}.certificateArn", "required when exposure is 'public': the ALB listens on HTTPS only; name an ACM certificate ARN")
            if self.auth == "none":
                ctx.problem(f"{path}.auth", "got 'none'; a public endpoint needs authentication in front: oidc (at the ALB) or api-key")
        if self.auth == "oidc":
            if self.exposure != "public":
                ctx.problem(f"{path}.auth", f"got 'oidc' with exposure {show(self.exposure)}; OIDC is done by the public ALB: use api-key, or exposure: public")
            for key, value in (("oidcIssuer", self.oidc_issuer), ("oidcClientId", self.oidc_client_id)):
                if not value:
                    ctx.problem(f"{path}.{key}", "required when auth is 'oidc'")

    @property
    def weights_folder(self) -> str:
        """The weights' folder in the bucket (s3), or in the file system as stated (lustre: see lustre_weights_folder)."""
        return (self.weights_prefix or f"models/{self.model}").strip("/")


def lustre_weights_folder(spec: "PlatformSpec", m: ServingModelSpec) -> Optional[str]:
    """Where a weights: lustre model's files are, from the file system's root (what the team's `lustre` claim
    mounts): weightsPrefix as stated, else models/<model id> under the directory linked to the bucket whose
    prefix holds it (storage.lustre.repositories: a whole-bucket link, the `datasets` bucket's first, where the
    README uploads weights). None: no link holds them."""
    if m.weights_prefix:
        return m.weights_prefix.strip("/")
    links = [r for r in spec.storage.lustre.repositories if not r.prefix.strip("/")]
    links.sort(key=lambda r: r.bucket != "datasets")
    return f"{links[0].path.strip('/')}/models/{m.model}" if links else None


def _under_a_link(spec: "PlatformSpec", folder: str) -> bool:
    return any(folder == r.path.strip("/") or folder.startswith(r.path.strip("/") + "/") for r in spec.storage.lustre.repositories)


def check_models(spec: "PlatformSpec", ctx: Context, path: str) -> None:
    """Cross-section rules of serving.models: names, pools, teams, the prod rule on weights, and the fit (derive)."""
    from stacks.derive.serving import replica_problems

    models = spec.serving.models
    if not models:
        return
    teams = [t.name for t in spec.teams]
    pools = {p.name: p for p in spec.pools}
    seen: set[tuple[str, str]] = set()
    for i, m in enumerate(models):
        at = f"{path}serving.models[{i}]"
        team = m.team or (teams[0] if teams else None)
        if team is None:
            ctx.problem(f"{at}.team", "no team is defined: a model runs in a team namespace (add crucible:teams)")
        elif team not in teams:
            ctx.problem(f"{at}.team", f"got {show(team)}; allowed: one of crucible:teams[].name ({', '.join(teams)})")
        if (team or "", m.name) in seen:
            ctx.problem(f"{at}.name", f"got {show(m.name)}; names must be unique within a team namespace")
        seen.add((team or "", m.name))
        if m.weights == "hub" and spec.environment == "prod":
            ctx.problem(
                f"{at}.weights",
                "got 'hub'; prod never downloads weights from a hub at start (slow, rate-limited, not reproducible): use s3 (weightsUri) or lustre",
            )
        if m.min_replicas == 0:
            # KEDA's Prometheus scaler reads vLLM's metrics, which only running replicas export: at zero the query is
            # empty (ignoreNullValues: read as 0), never above the activation threshold, and a request to the Service
            # finds no endpoint to wait on. Nothing would scale the model back up.
            ctx.problem(
                f"{at}.minReplicas",
                "got 0; allowed: 1 or more. The autoscaler scales on the server's own metrics (requests waiting, KV cache), "
                "which vanish with its last replica: a model scaled to zero would never come back",
            )
        elif m.max_replicas > m.min_replicas and not spec.addons.observability.enabled:
            ctx.problem(
                f"{at}.maxReplicas",
                f"got {m.max_replicas} (minReplicas {m.min_replicas}); autoscaling is KEDA on the server's metrics, which needs "
                f"addons.observability.enabled: true (Prometheus); without it set maxReplicas: {m.min_replicas}",
            )
        if m.exposure == "public" and spec.serving.exposure != "public":
            ctx.problem(
                f"{at}.exposure",
                "got 'public', but serving.exposure is 'private': the controller's alb IngressClass then forces every ALB internal; "
                "set serving.exposure: public (with serving.certificateArn) to allow internet-facing endpoints",
            )
        if m.exposure != "cluster" and not spec.addons.load_balancer_controller.enabled:
            ctx.problem(
                f"{at}.exposure",
                f"got {show(m.exposure)}, but addons.loadBalancerController.enabled is false; a load balancer needs it: "
                "set addons.loadBalancerController.enabled: true (or exposure: cluster)",
            )
        if m.weights == "s3" and m.weights_bucket and spec.builds("storage"):
            buckets = {b.name: b for b in spec.storage.buckets}
            bucket = buckets.get(m.weights_bucket)
            if bucket is None:
                ctx.problem(f"{at}.weightsBucket", f"got {show(m.weights_bucket)}; allowed: one of storage.buckets[].name ({', '.join(buckets)})")
            elif not bucket.read_only_volume:
                ctx.problem(
                    f"{at}.weightsBucket",
                    f"got {show(m.weights_bucket)}; the bucket needs readOnlyVolume: true (the Mountpoint driver's role reads only those buckets)",
                )
        if m.weights == "lustre" and not (spec.builds("storage") and spec.storage.lustre.enabled) and spec.stack_reference is None:
            ctx.problem(f"{at}.weights", "got 'lustre'; this stack has no Lustre file system (storage.lustre.enabled)")
        elif m.weights == "lustre" and spec.builds("storage"):
            folder = lustre_weights_folder(spec, m)
            linked = ", ".join(r.path for r in spec.storage.lustre.repositories) or "none"
            if folder is None:
                ctx.problem(
                    f"{at}.weightsPrefix",
                    f"required: no storage.lustre.repositories link holds a whole bucket (links: {linked}); name the weights' folder in the file system",
                )
            elif m.preload and not _under_a_link(spec, folder):
                ctx.problem(
                    f"{at}.weightsPrefix",
                    f"got {show(m.weights_prefix)}; with preload the folder must be under a directory linked to S3 (storage.lustre.repositories: "
                    f"{linked}), e.g. datasets/models/{m.model}: the pre-load Job makes Lustre import linked files only",
                )
        pool = pools.get(m.pool)
        if pool is None:
            ctx.problem(f"{at}.pool", f"got {show(m.pool)}; allowed: one of crucible:pools[].name ({', '.join(pools) or 'none defined'})")
            continue
        if pool.workload != "serving" or pool.kind == "cpu":
            ctx.problem(f"{at}.pool", f"got {show(m.pool)} (kind {pool.kind}, workload {pool.workload}); allowed: a gpu or neuron pool with workload: serving")
            continue
        problems = replica_problems(m, pool)
        for key, message in problems:
            ctx.problem(f"{at}.{key}", message)
        if not problems and team in teams:
            quota_problems(spec, m, pool, team, ctx, at)


def pool_replicas(shape, pool) -> Optional[int]:
    """How many replicas of ``shape`` the pool's limits hold (None: the pool states no limit)."""
    from components.catalog import load_catalog

    catalog = load_catalog()
    per_node = max(catalog.get(t).accelerator_count for t in shape.instance_types)
    if shape.multi_node:
        return pool.max_nodes // shape.nodes if pool.max_nodes else (pool.max_accelerators // shape.devices if pool.max_accelerators else None)
    by_nodes = pool.max_nodes * (per_node // shape.devices_per_node) if pool.max_nodes else None
    by_devices = pool.max_accelerators // shape.devices if pool.max_accelerators else None
    found = [n for n in (by_nodes, by_devices) if n is not None]
    return min(found) if found else None


def quota_problems(spec: "PlatformSpec", m: ServingModelSpec, pool, team: str, ctx: Context, at: str) -> None:
    """Every replica counts against the team namespace's ResourceQuota (what Kueue can admit for the team: the
    tenancy layer's team_quota), which the API server enforces on pod creation even though Kueue does not queue
    the model's pods: maxReplicas replicas must fit it."""
    from stacks.derive.quotas import plan_queues, team_max
    from stacks.derive.serving import replica_shape

    shape = replica_shape(m, pool)
    fits_pool = pool_replicas(shape, pool)
    if fits_pool is not None and m.max_replicas > fits_pool:
        ctx.problem(
            f"{at}.maxReplicas",
            f"got {m.max_replicas}: pool {pool.name!r} holds at most {fits_pool} replica(s) of {shape.devices} {shape.resource} within its limits "
            f"(maxNodes/maxAccelerators); Karpenter would leave the rest Pending. Allowed: at most {fits_pool}, or raise the pool's limits",
        )
        return
    try:
        plan = plan_queues(spec.teams, spec.pools)
    except Exception:  # noqa: BLE001 - the teams or pools section is wrong: reported there
        return
    per_replica = {"cpu": shape.cpu * shape.nodes, "memory": shape.memory_gib * shape.nodes, shape.resource: shape.devices}
    if shape.efa_per_node:
        per_replica["vpc.amazonaws.com/efa"] = shape.efa_per_node * shape.nodes
    for resource, amount in per_replica.items():
        quota = team_max(plan, team, resource)
        if amount * m.max_replicas > quota:
            fits = quota // amount if amount else 0
            ctx.problem(
                f"{at}.maxReplicas",
                f"got {m.max_replicas}: {m.max_replicas} × {amount} {resource} per replica exceeds team {team!r}'s quota of {quota} "
                f"(its share of the pools, teams[].shares); allowed: at most {fits} replica(s), or a larger share",
            )
            return


__all__ = ["ServingModelSpec", "check_models"]
