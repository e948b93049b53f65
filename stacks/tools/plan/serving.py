"""The plan's `serving` section: for each model of serving.models, its replica shape (derived from the catalog),
placement (the pool, and where the workloads check lands its pods), scaling signal (the registered ScaledObject's
triggers) and start path (image, pull mode, weight source, the stated cold-start estimate)."""

from __future__ import annotations

from typing import Optional

from stacks.derive.image_pull import pull_mode
from stacks.derive.serving import replica_shape, start_path
from stacks.tools.plan.model import PlanModel

SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"


def _scaling(model: PlanModel, team: str, name: str, min_replicas: int) -> str:
    for r in model.of_type(SCALED_OBJECT):
        meta = (r.get("inputs") or {}).get("metadata") or {}
        if meta.get("name") == name and meta.get("namespace") == team:
            spec = (r.get("inputs") or {}).get("spec") or {}
            signals = []
            for t in spec.get("triggers") or []:
                query = (t.get("metadata") or {}).get("query", "")
                metric = query.split("(", 1)[-1].split("{", 1)[0]
                signals.append(f"{metric} > {(t.get('metadata') or {}).get('threshold')}/replica")
            return f"KEDA {spec.get('minReplicaCount')}-{spec.get('maxReplicaCount')} replicas on " + " or ".join(signals)
    return f"fixed {max(min_replicas, 1)} replica(s) (no autoscaler: minReplicas = maxReplicas, or addons.observability is off)"


def _landed(model: PlanModel, team: str, name: str) -> str:
    block = model.workloads
    found = [w for w in block.get("workloads") or [] if w.get("source") == "platform" and w.get("object") == name and w.get("namespaces") == [team]]
    if not found:
        return "not checked"
    parts = []
    for w in found:
        lands = (w.get("checks") or {}).get("lands") or {}
        role = f"{w['role']}: " if w.get("role") else ""
        parts.append(f"{role}{lands.get('summary', '?')}" + ("" if lands.get("ok") else " (FAILS)"))
    return "; ".join(parts)


def serving_section(model: PlanModel):
    from stacks.tools.plan.report import Section

    spec = model.spec
    if spec is None or not spec.serving.models or not spec.builds("platform"):
        return None
    from stacks.layers.platform.serving import image_of, team_of

    pools = {p.name: p for p in spec.pools}
    data = []
    lines = []
    for m in spec.serving.models:
        pool = pools[m.pool]
        shape = replica_shape(m, pool)
        team = team_of(spec, m)
        image = image_of(spec, m)
        start = start_path(m, shape, image, pull_mode(pool))
        endpoint: Optional[str] = {
            "cluster": f"http://{m.name}.{team}.svc/v1",
            "internal": f"http://{m.name}.{team}.svc/v1 and an internal NLB (Service {m.name}-internal)",
            "public": f"https:// ALB (Ingress {m.name}, {m.auth})",
        }[m.exposure]
        entry = {
            "name": m.name,
            "team": team,
            "model": m.model,
            "workload": "LeaderWorkerSet" if shape.multi_node else "Deployment",
            "replicaShape": shape.describe(),
            "placement": _landed(model, team, m.name),
            "scaling": _scaling(model, team, m.name, m.min_replicas),
            "startPath": start.describe(),
            "coldStartSeconds": start.seconds,
            "imagePull": start.pull,
            "endpoint": endpoint,
        }
        data.append(entry)
        lines.append(f"{team}/{m.name}  {m.model}  ({entry['workload']})")
        for key, label in (("replicaShape", "replica"), ("placement", "placement"), ("scaling", "scaling"), ("startPath", "start"), ("endpoint", "endpoint")):
            lines.append(f"  {label:<10} {entry[key]}")
    return Section("serving", "Served models (serving.models: replica shape, placement, scaling signal, start path)", data, lines)
