"""Pod Security Standards (baseline, restricted) as Pod Security Admission enforces them, on pod templates.

The controls are those of the Kubernetes page "Pod Security Standards" (kubernetes.io/docs/concepts/security/
pod-security-standards, policy version `latest`). Every container counts: containers, initContainers and
ephemeralContainers. ``violations(pod_spec, level)`` lists what a level refuses in one pod spec;
``pod_templates(manifest)`` finds the pod templates of a workload — including the containers its operator adds
before the pod reaches admission (KubeRay's autoscaler sidecar and `wait-gcs-ready` init container) — so a check
can judge every pod a manifest leads to against its namespace's `pod-security.kubernetes.io/enforce` level.
"""

from __future__ import annotations

import copy
from typing import Iterator, Mapping, Optional

LEVELS = ("privileged", "baseline", "restricted")
PSA_ENFORCE = "pod-security.kubernetes.io/enforce"

# Baseline "Capabilities": what may be added beyond the runtime's default set.
BASELINE_CAPABILITIES = frozenset(
    {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
)
# Baseline "Sysctls": the safe set.
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
APPARMOR_TYPES = frozenset({"RuntimeDefault", "Localhost"})
# Restricted "Volume Types".
RESTRICTED_VOLUMES = frozenset({"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"})
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


def containers(pod_spec: Mapping) -> Iterator[tuple[str, dict]]:
    """(path, container) for every container of the pod, init and ephemeral ones included."""
    for key in CONTAINER_LISTS:
        for c in pod_spec.get(key) or []:
            yield f"{key}[{c.get('name', '?')}]", c


def _baseline(pod_spec: Mapping, annotations: Mapping) -> list[str]:
    out: list[str] = []
    pod_sc = pod_spec.get("securityContext") or {}
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        if pod_spec.get(host):
            out.append(f"{host}: true (host namespaces)")
    if (pod_sc.get("windowsOptions") or {}).get("hostProcess"):
        out.append("securityContext.windowsOptions.hostProcess: true")
    for v in pod_spec.get("volumes") or []:
        if "hostPath" in v:
            out.append(f"volumes[{v.get('name')}]: hostPath")
    for s in pod_sc.get("sysctls") or []:
        if s.get("name") not in SAFE_SYSCTLS:
            out.append(f"securityContext.sysctls: {s.get('name')} is not a safe sysctl")
    if (pod_sc.get("seccompProfile") or {}).get("type") == "Unconfined":
        out.append("securityContext.seccompProfile.type: Unconfined")
    if (pod_sc.get("appArmorProfile") or {}).get("type") not in (None, *APPARMOR_TYPES):
        out.append(f"securityContext.appArmorProfile.type: {pod_sc['appArmorProfile']['type']}")
    selinux = pod_sc.get("seLinuxOptions") or {}
    if selinux.get("type", "") not in SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
        out.append("securityContext.seLinuxOptions: a custom SELinux type, user or role")
    for key, value in annotations.items():
        if key.startswith("container.apparmor.security.beta.kubernetes.io/") and value not in ("runtime/default",) and not value.startswith("localhost/"):
            out.append(f"metadata.annotations[{key}]: {value}")
    for path, c in containers(pod_spec):
        sc = c.get("securityContext") or {}
        if sc.get("privileged"):
            out.append(f"{path}: privileged")
        added = set((sc.get("capabilities") or {}).get("add") or [])
        if added - BASELINE_CAPABILITIES:
            out.append(f"{path}: adds capabilities {', '.join(sorted(added - BASELINE_CAPABILITIES))} (baseline allows only the default set)")
        if (sc.get("windowsOptions") or {}).get("hostProcess"):
            out.append(f"{path}: windowsOptions.hostProcess: true")
        for p in c.get("ports") or []:
            if p.get("hostPort"):
                out.append(f"{path}: hostPort {p['hostPort']}")
        if (sc.get("seccompProfile") or {}).get("type") == "Unconfined":
            out.append(f"{path}: seccompProfile.type Unconfined")
        if (sc.get("appArmorProfile") or {}).get("type") not in (None, *APPARMOR_TYPES):
            out.append(f"{path}: appArmorProfile.type {sc['appArmorProfile']['type']}")
        selinux = sc.get("seLinuxOptions") or {}
        if selinux.get("type", "") not in SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
            out.append(f"{path}: a custom SELinux type, user or role")
        if sc.get("procMount") not in (None, "Default"):
            out.append(f"{path}: procMount {sc['procMount']}")
    return out


def _restricted(pod_spec: Mapping) -> list[str]:
    out: list[str] = []
    pod_sc = pod_spec.get("securityContext") or {}
    for v in pod_spec.get("volumes") or []:
        kinds = set(v) - {"name"}
        if kinds - RESTRICTED_VOLUMES:
            out.append(
                f"volumes[{v.get('name')}]: type {', '.join(sorted(kinds - RESTRICTED_VOLUMES))} (restricted allows {', '.join(sorted(RESTRICTED_VOLUMES))})"
            )
    if pod_sc.get("runAsUser") == 0:
        out.append("securityContext.runAsUser: 0")
    pod_non_root = pod_sc.get("runAsNonRoot") is True
    pod_seccomp = (pod_sc.get("seccompProfile") or {}).get("type") in ("RuntimeDefault", "Localhost")
    for path, c in containers(pod_spec):
        sc = c.get("securityContext") or {}
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{path}: allowPrivilegeEscalation must be false")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            out.append(f"{path}: capabilities.drop must include ALL")
        if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            out.append(f"{path}: adds capabilities {', '.join(sorted(set(caps['add']) - {'NET_BIND_SERVICE'}))} (restricted allows only NET_BIND_SERVICE)")
        non_root = sc.get("runAsNonRoot")
        if non_root is False or (non_root is None and not pod_non_root):
            out.append(f"{path}: runAsNonRoot must be true (pod or container)")
        if sc.get("runAsUser") == 0:
            out.append(f"{path}: runAsUser 0")
        seccomp = (sc.get("seccompProfile") or {}).get("type")
        if seccomp is None and not pod_seccomp:
            out.append(f"{path}: seccompProfile must be RuntimeDefault or Localhost (pod or container)")
        elif seccomp is not None and seccomp not in ("RuntimeDefault", "Localhost", "Unconfined"):
            out.append(f"{path}: seccompProfile.type {seccomp}")
    return out


def violations(pod_spec: Mapping, level: str, annotations: Optional[Mapping] = None) -> list[str]:
    """What Pod Security Admission at ``level`` refuses in ``pod_spec`` (empty: admitted)."""
    if level not in LEVELS:
        raise ValueError(f"unknown Pod Security level {level!r}; one of {', '.join(LEVELS)}")
    if level == "privileged":
        return []
    out = _baseline(pod_spec, annotations or {})
    if level == "restricted":
        out += _restricted(pod_spec)
    return out


# ---- where the pods of a workload are -----------------------------------------------------------------------

_TEMPLATE_AT = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}
AUTOSCALER_CONTAINER = "autoscaler"  # KubeRay common/pod.go AutoscalerContainerName
WAIT_GCS_READY = "wait-gcs-ready"  # KubeRay's worker init container (ENABLE_INIT_CONTAINER_INJECTION, default true)


def _dig(obj: Mapping, *keys: str) -> Optional[dict]:
    for key in keys:
        if not isinstance(obj, Mapping) or key not in obj:
            return None
        obj = obj[key]
    return obj if isinstance(obj, dict) else None


def _ray_pods(name: str, cluster: Mapping) -> Iterator[tuple[str, dict]]:
    """The head and worker pod templates of a RayCluster spec, as KubeRay 1.7 builds the pods
    (ray-operator/controllers/ray/common/pod.go): with in-tree autoscaling the head gets the `autoscaler` sidecar,
    whose securityContext is `autoscalerOptions.securityContext` (else none); each worker gets the `wait-gcs-ready`
    init container, which copies the Ray container's securityContext."""
    head = copy.deepcopy((cluster.get("headGroupSpec") or {}).get("template") or {})
    if cluster.get("enableInTreeAutoscaling"):
        sidecar: dict = {"name": AUTOSCALER_CONTAINER}
        security = (cluster.get("autoscalerOptions") or {}).get("securityContext")
        if security is not None:
            sidecar["securityContext"] = copy.deepcopy(security)
        head.setdefault("spec", {}).setdefault("containers", []).append(sidecar)
    yield f"{name}/head", head
    for group in cluster.get("workerGroupSpecs") or []:
        worker = copy.deepcopy(group.get("template") or {})
        spec = worker.setdefault("spec", {})
        ray = (spec.get("containers") or [{}])[0]
        init = {"name": WAIT_GCS_READY, **({"securityContext": copy.deepcopy(ray["securityContext"])} if "securityContext" in ray else {})}
        spec["initContainers"] = [*(spec.get("initContainers") or []), init]
        yield f"{name}/{group.get('groupName', 'workers')}", worker


def pod_templates(manifest: Mapping) -> list[tuple[str, dict]]:
    """(label, pod template {metadata, spec}) for every pod ``manifest`` leads to; [] for objects without pods."""
    kind = manifest.get("kind")
    name = f"{kind}/{(manifest.get('metadata') or {}).get('name', '?')}"
    spec = manifest.get("spec") or {}
    if kind == "Pod":
        return [(name, {"metadata": manifest.get("metadata") or {}, "spec": spec})]
    if kind in _TEMPLATE_AT:
        template = _dig(manifest, *_TEMPLATE_AT[kind])
        return [(name, template)] if template is not None else []
    if kind == "RayCluster":
        return list(_ray_pods(name, spec))
    if kind == "RayService":
        return list(_ray_pods(name, spec.get("rayClusterConfig") or {}))
    if kind == "RayJob":
        out = list(_ray_pods(name, spec.get("rayClusterSpec") or {}))
        if spec.get("submitterPodTemplate"):
            out.append((f"{name}/submitter", spec["submitterPodTemplate"]))
        return out
    if kind == "MPIJob":
        return [(f"{name}/{role}", r["template"]) for role, r in (spec.get("mpiReplicaSpecs") or {}).items() if r.get("template")]
    if kind == "JobSet":
        return [(f"{name}/{j.get('name')}", t) for j in spec.get("replicatedJobs") or [] if (t := _dig(j, "template", "spec", "template")) is not None]
    if kind in ("ClusterTrainingRuntime", "TrainingRuntime"):
        jobs = _dig(spec, "template", "spec") or {}
        return [(f"{name}/{j.get('name')}", t) for j in jobs.get("replicatedJobs") or [] if (t := _dig(j, "template", "spec", "template")) is not None]
    return []


def workload_violations(manifest: Mapping, level: str) -> list[str]:
    """Every refusal for the pods of ``manifest`` at ``level``, each prefixed with the pod template it is in."""
    return [
        f"{label}: {problem}"
        for label, template in pod_templates(manifest)
        for problem in violations(template.get("spec") or {}, level, (template.get("metadata") or {}).get("annotations"))
    ]


# ---- the Workloads check: every pod passes its namespace's enforce level ---------------------------------------


def namespace_levels(resources) -> dict[str, str]:
    """The `pod-security.kubernetes.io/enforce` level of every Namespace the plan registers (unlabelled: privileged,
    as the admission plugin's default)."""
    out = {}
    for r in resources:
        if r.get("type") == "kubernetes:core/v1:Namespace":
            meta = (r.get("inputs") or {}).get("metadata") or {}
            if meta.get("name"):
                out[meta["name"]] = (meta.get("labels") or {}).get(PSA_ENFORCE, "privileged")
    return out


def pod_security_check(ctx, workload: Mapping) -> dict:
    """CHECKS entry (stacks/tools/plan/lands.py): the workload's pod template against the enforce level of every namespace
    it runs in, as the PodSecurity admission plugin judges it; a namespace the plan does not register is not judged."""
    levels = ctx.__dict__.setdefault("_pod_security_levels", namespace_levels(ctx.resources))
    template = workload.get("template") or {}
    spec, annotations = template.get("spec") or {}, (template.get("metadata") or {}).get("annotations") or {}
    reasons, judged = [], []
    for namespace in workload.get("namespaces") or []:
        level = levels.get(namespace)
        if level is None:
            continue
        judged.append(f"{namespace}: {level}")
        reasons += [f"{namespace} enforces {level}: {v}" for v in violations(spec, level, annotations)]
    summary = "; ".join(sorted(set(judged))) if judged else "namespace not in the plan"
    return {"ok": not reasons, "summary": summary if not reasons else f"refused by Pod Security ({len(reasons)})", "reasons": reasons}
