"""Node health and repair, burn-in before work, static capacity (issue 15 items 4, 5, 7).

- Karpenter's node repair is on in the rendered chart (the controller's FEATURE_GATES) and the plan states, per pool,
  which conditions repair its nodes and after how long: karpenter-provider-aws v1.14.1 RepairPolicies
  (pkg/cloudprovider/cloudprovider.go; docs concepts/disruption.md "Node Auto Repair": force-terminated without
  drain, disruption budgets not applied, never more than 20% of a NodePool).
- The EKS node monitoring agent (the conditions but Ready) is a pinned managed add-on.
- Burn-in: a pool with burn-in has the startup taint and registers with the boot label; its DaemonSet lands on
  exactly those pools, passes Pod Security of its namespace, and is left out of the DaemonSet overhead Karpenter
  subtracts when it sizes a node (so every workload still lands).
- Static capacity: `pools[].replicas` is a Karpenter static NodePool valid against the pinned CRD, CEL rules
  included; refused with settings those rules (or the reservation's size) forbid; costed as fixed.
"""

from __future__ import annotations

import functools
import json

import pytest

from helpers import plan, shared_dir, shipped_report, spec_of
from stacks.spec import ConfigError

NODEPOOL = "kubernetes:karpenter.sh/v1:NodePool"
NODECLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
RELEASE = "kubernetes:helm.sh/v3:Release"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"
BURN_IN_TAINT = {"key": "crucible.io/burn-in", "value": "pending", "effect": "NoSchedule"}
GPU = {"name": "gpu", "kind": "gpu", "workload": "training", "instanceTypes": ["g6.xlarge", "g6.12xlarge"], "maxNodes": 4}
CPU = {"name": "cpu", "kind": "cpu", "workload": "serving", "instanceTypes": ["m7i.xlarge"], "maxNodes": 2}


def resources_of(document: dict, token: str) -> list[dict]:
    return [r for r in document["resources"] if r["type"] == token]


def nodepools(document: dict) -> dict[str, dict]:
    return {r["inputs"]["metadata"]["name"]: r["inputs"]["spec"] for r in resources_of(document, NODEPOOL)}


def burn_in_pools(document: dict) -> set[str]:
    """The pools whose NodePool carries the burn-in startup taint."""
    return {name for name, spec in nodepools(document).items() if BURN_IN_TAINT in spec["template"]["spec"].get("startupTaints", [])}


def problems_at(path: str, env: str = "prod", **overrides) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        spec_of(env, **overrides)
    found = [p.message for p in caught.value.problems if p.path == path]
    assert found, f"no problem at {path}: {caught.value.render()}"
    return found


@functools.lru_cache(maxsize=None)
def dev_plan(*pools_json: str):
    return plan("dev", pools=[json.loads(p) for p in pools_json])


# ---- node repair and the node monitoring agent --------------------------------------------------------------------


def _controller_env(rendered) -> dict[str, str]:
    (deployment,) = [o for o in rendered if o.get("kind") == "Deployment"]
    (container,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "controller"]
    return {e["name"]: e.get("value") for e in container.get("env", [])}


@pytest.mark.parametrize("stack", ["train-p5", "trainium"])
def test_node_repair_lands_in_the_karpenter_controllers_feature_gates(stack):
    """Rendered with the real Helm from the vendored karpenter 1.14.1 chart (templates/deployment.yaml builds
    FEATURE_GATES from settings.featureGates)."""
    from rendered import release_of

    env = _controller_env(release_of(stack, "karpenter").objects)
    gates = dict(pair.split("=") for pair in env["FEATURE_GATES"].split(","))
    assert gates["NodeRepair"] == "true"
    assert gates["StaticCapacity"] == "false"  # no fixed fleet in these presets


def test_a_static_pool_turns_the_static_capacity_gate_on_in_the_rendered_chart():
    from rendered import require_helm
    from stacks.tools.plan import helm

    require_helm()
    static = {**GPU, "replicas": 2}
    release = dev_plan(json.dumps(static)).one(RELEASE, "karpenter")
    folder = helm.chart_dir(release.inputs["chart"], release.inputs["version"], helm.charts_root(shared_dir()))
    rendered = helm.render("karpenter", folder, "karpenter", "1.34", release.inputs["values"], include_crds=False)
    gates = dict(pair.split("=") for pair in _controller_env(rendered)["FEATURE_GATES"].split(","))
    assert (gates["NodeRepair"], gates["StaticCapacity"]) == ("true", "true")


def test_the_node_monitoring_agent_is_a_pinned_managed_add_on_whose_dcgm_engine_runs_on_new_gpu_nodes():
    document, _ = shipped_report("train-p5")
    (addon,) = [r for r in resources_of(document, "aws:eks/addon:Addon") if r["inputs"]["addonName"] == "eks-node-monitoring-agent"]
    assert addon["inputs"]["addonVersion"] == "v1.7.0-eksbuild.1"
    assert not addon["inputs"].get("podIdentityAssociations")  # it calls no AWS API
    tolerations = json.loads(addon["inputs"]["configurationValues"])["dcgmAgent"]["tolerations"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in tolerations
    assert {"key": "crucible.io/burn-in", "operator": "Equal", "value": "pending", "effect": "NoSchedule"} in tolerations


@pytest.mark.parametrize(
    ("stack", "pool", "accelerated"),
    [("train-p5", "p5-train", True), ("train-p5", "cpu-prep", False), ("trainium", "trn2-train", True), ("trainium", "cpu", False)],
)
def test_the_plan_states_which_conditions_repair_which_pools_and_after_how_long(stack, pool, accelerated):
    document, lines = shipped_report(stack)
    health = document["nodeHealth"]
    assert health["karpenterFeatureGates"]["nodeRepair"] is True and health["nodeMonitoringAgent"] is True
    repair = {(r["condition"], r["status"]): r["after"] for r in health["pools"][pool]["repair"]}
    assert repair[("Ready", "False")] == repair[("Ready", "Unknown")] == "30m"
    for condition in ("StorageReady", "NetworkingReady", "KernelReady", "ContainerRuntimeReady"):
        assert repair[(condition, "False")] == "30m"
    assert (repair.get(("AcceleratedHardwareReady", "False")) == "10m") is accelerated
    assert any(line.strip().startswith("Node health, repair and burn-in per pool") for line in lines)


def test_training_budgets_still_never_drain_a_healthy_running_job():
    """Repair acts on unhealthy nodes only and bypasses budgets; the budgets of a training pool keep forbidding the
    voluntary disruptions that would drain a healthy node with a job on it."""
    document, _ = shipped_report("train-p5")
    spec = nodepools(document)["p5-train"]
    disruption = spec["disruption"]
    assert disruption["consolidationPolicy"] == "WhenEmpty"
    assert {"nodes": "0", "reasons": ["Underutilized", "Drifted"]} in disruption["budgets"]
    assert spec["template"]["spec"]["expireAfter"] == "Never"
    assert "disruption budgets not applied" in document["nodeHealth"]["repairBypassesBudgets"]


# ---- burn-in: the taint contract ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("stack", "expected"), [("train-p5", {"p5-train"}), ("trainium", {"trn1-train", "trn2-train"})])
def test_accelerator_pools_of_the_training_presets_are_burned_in_and_cpu_pools_are_not(stack, expected):
    document, _ = shipped_report(stack)
    assert burn_in_pools(document) == expected
    classes = {r["inputs"]["metadata"]["name"]: r["inputs"]["spec"] for r in resources_of(document, NODECLASS)}
    for name in nodepools(document):
        registers_pending = "--node-labels=crucible.io/burn-in=pending" in classes[name].get("userData", "")
        assert registers_pending is (name in expected), name


def test_the_dev_preset_burns_nothing_in():
    document, _ = shipped_report("dev")
    assert burn_in_pools(document) == set()
    assert not [r for r in resources_of(document, DAEMONSET) if r["inputs"]["metadata"].get("namespace") == "crucible-burn-in"]


def test_the_default_dcgm_level_is_medium_on_training_pools_and_quick_where_nodes_follow_demand():
    from stacks.derive.placement import burn_in

    pinned = {**GPU, "amiVersion": "v20251108"}
    spec = spec_of("prod", pools=[pinned, {**pinned, "name": "serve", "workload": "serving"}])
    assert [burn_in(p, spec).dcgm_level for p in spec.pools] == [2, 1]
    assert [burn_in(p, spec).timeout_minutes for p in spec.pools] == [20, 10]


def test_a_pool_without_burn_in_has_no_startup_taint_and_no_daemon_set():
    run = dev_plan(json.dumps(GPU), json.dumps(CPU))  # dev: off by default
    for nodepool in run.of_type(NODEPOOL):
        assert BURN_IN_TAINT not in nodepool.inputs["spec"]["template"]["spec"].get("startupTaints", [])
    assert not [d for d in run.of_type(DAEMONSET) if d.inputs["metadata"].get("namespace") == "crucible-burn-in"]


def test_burn_in_stated_on_in_dev_taints_the_pool_and_runs_the_dcgm_level_asked_for():
    run = dev_plan(json.dumps({**GPU, "burnIn": {"enabled": True, "level": 3}}), json.dumps(CPU))
    taints = {n.inputs["metadata"]["name"]: n.inputs["spec"]["template"]["spec"].get("startupTaints", []) for n in run.of_type(NODEPOOL)}
    assert BURN_IN_TAINT in taints["gpu"] and BURN_IN_TAINT not in taints["cpu"]
    sets = [d.inputs for d in run.of_type(DAEMONSET) if d.inputs["metadata"].get("namespace") == "crucible-burn-in"]
    # g6.xlarge has 1 GPU, g6.12xlarge 4: one DaemonSet per device count, each selecting its types
    by_name = {d["metadata"]["name"]: d["spec"]["template"]["spec"] for d in sets}
    assert set(by_name) == {"burn-in-gpu-1", "burn-in-gpu-4"}
    pod = by_name["burn-in-gpu-4"]
    (dcgm,) = pod["initContainers"]
    assert "dcgmi diag -r 3" in dcgm["command"][-1] and "timeout 60m" in dcgm["command"][-1]
    assert dcgm["resources"]["limits"]["nvidia.com/gpu"] == "4"
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchExpressions"]
    assert {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["g6.12xlarge"]} in terms
    assert {"key": "crucible.io/burn-in", "operator": "In", "values": ["pending"]} in terms


def test_the_trainium_burn_in_checks_neuron_devices_and_every_efa_interface():
    document, _ = shipped_report("trainium")
    (ds,) = [r["inputs"] for r in resources_of(document, DAEMONSET) if r["inputs"]["metadata"]["name"] == "burn-in-trn2-train"]
    pod = ds["spec"]["template"]["spec"]
    checks = {c["name"]: c for c in pod["initContainers"]}
    assert set(checks) == {"neuron", "efa"}
    assert checks["neuron"]["resources"]["limits"]["aws.amazon.com/neuron"] == "16"
    assert checks["efa"]["resources"]["limits"]["vpc.amazonaws.com/efa"] == "16"
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert json.loads(env["EXPECTED"]) == {"neuron": 16, "efa": 16}


# ---- burn-in: where its pods land, Pod Security, and that workloads still land ------------------------------------


def _entries(document: dict) -> list[dict]:
    return document["workloads"]["workloads"]


@pytest.mark.parametrize("stack", ["train-p5", "trainium", "prod"])
def test_burn_in_pods_land_on_exactly_the_pools_with_burn_in_and_pass_pod_security(stack):
    document, _ = shipped_report(stack)
    burned = [e for e in _entries(document) if e.get("kind") == "DaemonSet" and (e.get("namespaces") or [""])[0] == "crucible-burn-in"]
    landed: set[str] = set()
    for entry in burned:
        lands = entry["checks"]["lands"]
        assert lands["ok"], lands
        landed |= {p["pool"] for p in lands["pools"]}
        security = entry["checks"]["podSecurity"]
        assert security["ok"], security
    assert landed == burn_in_pools(document)


@pytest.mark.parametrize("stack", ["train-p5", "trainium", "prod"])
def test_every_workload_still_lands_with_the_startup_taint_and_burn_ins_device_requests(stack):
    """Workloads do not tolerate the startup taint (Karpenter expects it removed); and burn-in requests every device
    of the node, which Karpenter does not count as DaemonSet overhead since its pods require the boot label."""
    document, _ = shipped_report(stack)
    mandatory = [v for v in document["workloads"]["violations"] if v["level"] == "mandatory" and v["check"] in ("lands", "admitted")]
    assert mandatory == []


def test_karpenters_daemon_overhead_leaves_burn_in_out_but_its_own_placement_sees_the_boot_label():
    from stacks.tools.plan import lands

    document, _ = shipped_report("train-p5")
    ctx = lands.Context.build(document["resources"])
    (pool,) = [p for p in ctx.pools if p.name == "p5-train"]
    assert pool.boot_labels == {"crucible.io/burn-in": frozenset({"pending"})}
    load, daemons = ctx.daemon_load(pool, pool.types[0])
    assert "crucible-burn-in/burn-in-p5-train" not in daemons and load.get("nvidia.com/gpu", 0) == 0
    # while the burn-in DaemonSet itself is placed on the pool (the node registers with the label it requires)
    (entry,) = [e for e in document["workloads"]["workloads"] if e.get("object") == "burn-in-p5-train"]
    assert lands.lands(ctx, entry)["pools"] == [{"pool": "p5-train", "instanceTypes": ["p5.48xlarge"]}]


def test_boot_labels_are_read_from_al2023_and_bottlerocket_user_data():
    from components.node_pool import al2023_node_config, bottlerocket_node_labels, mime_user_data
    from stacks.tools.plan.lands import boot_labels

    labels = {"crucible.io/burn-in": "pending"}
    assert boot_labels(mime_user_data(None, al2023_node_config(labels))) == {"crucible.io/burn-in": frozenset({"pending"})}
    assert boot_labels(bottlerocket_node_labels(labels)) == {"crucible.io/burn-in": frozenset({"pending"})}
    assert boot_labels("#!/bin/bash\necho hi\n") == {}


def test_the_device_plugins_tolerate_the_burn_in_taint_so_the_diagnostics_get_their_devices():
    from addons.device_plugins import efa_values, neuron_values, nvidia_values
    from rendered import tolerates

    for tolerations in (nvidia_values()["tolerations"], efa_values()["tolerations"], neuron_values()["devicePlugin"]["tolerations"]):
        assert tolerates(tolerations, BURN_IN_TAINT)


def test_the_al2023_user_data_keeps_the_data_volume_script_beside_the_node_config():
    import email

    run = dev_plan(json.dumps({**GPU, "dataVolumeGib": 300, "burnIn": {"enabled": True}}))
    message = email.message_from_string(run.one(NODECLASS).inputs["spec"]["userData"])
    types = [part.get_content_type() for part in message.get_payload()]
    assert types == ["text/x-shellscript", "application/node.eks.aws"]
    assert "--node-labels=crucible.io/burn-in=pending" in message.get_payload()[1].get_payload()


# ---- burn-in: least privilege -----------------------------------------------------------------------------------------


def test_burn_in_may_write_only_nodes_and_only_through_its_own_node():
    document, _ = shipped_report("train-p5")
    (role,) = [
        r["inputs"]
        for r in resources_of(document, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole")
        if r["inputs"]["metadata"]["name"] == "crucible-burn-in"
    ]
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "patch", "delete"]},
        {"apiGroups": [""], "resources": ["nodes/status"], "verbs": ["patch"]},
    ]
    (binding,) = [
        r["inputs"]
        for r in resources_of(document, "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding")
        if r["inputs"]["metadata"]["name"] == "crucible-burn-in-own-node"
    ]
    assert binding["spec"]["validationActions"] == ["Deny"]


def _admits(expression: str, request: dict, obj: dict | None = None, old: dict | None = None) -> bool:
    import celpy

    env = celpy.Environment()
    program = env.program(env.compile(expression))
    activation = {"request": celpy.json_to_cel(request), "object": celpy.json_to_cel(obj or {}), "oldObject": celpy.json_to_cel(old or {})}
    return bool(program.evaluate(activation))


def test_the_admission_policy_holds_burn_in_to_the_node_its_pod_runs_on():
    from addons.burn_in import own_node_policy

    policy = own_node_policy()
    own, labels = (v["expression"] for v in policy["validations"])
    user = {"username": "system:serviceaccount:crucible-burn-in:burn-in", "extra": {"authentication.kubernetes.io/node-name": ["ip-10-0-0-1"]}}
    assert _admits(policy["matchConditions"][0]["expression"], {"userInfo": user})
    assert _admits(own, {"name": "ip-10-0-0-1", "userInfo": user, "operation": "DELETE"})
    assert not _admits(own, {"name": "ip-10-0-0-2", "userInfo": user, "operation": "DELETE"})
    assert not _admits(own, {"name": "ip-10-0-0-1", "userInfo": {"username": user["username"], "extra": {}}, "operation": "DELETE"})
    old = {"metadata": {"labels": {"crucible.io/pool": "p5-train", "crucible.io/burn-in": "pending"}}}
    passed = {"metadata": {"labels": {"crucible.io/pool": "p5-train", "crucible.io/burn-in": "passed"}}}
    moved = {"metadata": {"labels": {"crucible.io/pool": "other", "crucible.io/burn-in": "passed"}}}
    update = {"operation": "UPDATE", "subResource": ""}
    assert _admits(labels, update, passed, old)
    assert not _admits(labels, update, moved, old)


# ---- burn-in: the reporter's verdicts on realistic output ------------------------------------------------------------

DCGM_PASS = """Successfully ran diagnostic for group.
+---------------------------+------------------------------------------------+
| Diagnostic                | Result                                         |
+===========================+================================================+
|-----  Metadata  ----------+------------------------------------------------|
| DCGM Version              | 4.5.3                                          |
| Driver Version Detected   | 570.172.08                                     |
| GPU Device IDs Detected   | 2330,2330,2330,2330,2330,2330,2330,2330        |
|-----  Deployment  --------+------------------------------------------------|
| Software                  | Pass                                           |
| GPU Memory                | Pass - All                                     |
| Diagnostic                | Pass - All                                     |
| PCIe                      | Pass - All                                     |
+---------------------------+------------------------------------------------+
"""
DCGM_FAIL = DCGM_PASS.replace("| GPU Memory                | Pass - All ", "| GPU Memory                | Fail - GPU3")


def _fi_info(devices: int) -> str:
    return "".join(
        f"provider: efa\n    fabric: efa\n    domain: rdmap{16 + i}s27-rdm\n    version: 122.0\n    type: FI_EP_RDM\n    protocol: FI_PROTO_EFA\n"
        for i in range(devices)
    )


def _results(tmp_path, **checks):
    for check, (rc, log) in checks.items():
        (tmp_path / f"{check}.rc").write_text(f"{rc}\n")
        (tmp_path / f"{check}.log").write_text(log)
    return tmp_path


def test_a_node_whose_gpus_and_efa_pass_passes(tmp_path):
    from addons.burn_in_report import verdict

    passed, results, tails = verdict(_results(tmp_path, dcgm=(0, DCGM_PASS), efa=(0, _fi_info(32))), {"dcgm": 8, "efa": 32})
    assert passed and tails == {} and [r.detail for r in results] == ["dcgmi diag passed", "32 EFA device(s)"]


@pytest.mark.parametrize(
    ("checks", "expected", "why"),
    [
        ({"dcgm": (226, DCGM_FAIL)}, {"dcgm": 8}, "failed: GPU Memory"),
        ({"dcgm": (124, "")}, {"dcgm": 8}, "timed out"),
        ({"efa": (0, _fi_info(31))}, {"efa": 32}, "31 EFA device(s), 32 expected"),
        ({"neuron": (0, json.dumps([{"neuron_device": i} for i in range(15)]))}, {"neuron": 16}, "15 Neuron device(s), 16 expected"),
        ({}, {"neuron": 16}, "left no result"),
    ],
)
def test_a_node_that_falls_short_fails_with_the_reason(tmp_path, checks, expected, why):
    from addons.burn_in_report import verdict

    passed, results, _ = verdict(_results(tmp_path, **checks), expected)
    assert not passed and why in results[0].detail


def test_the_verdict_removes_the_pending_taint_or_replaces_it_with_the_failed_one():
    from addons.burn_in_report import Result, condition, node_patch
    from components.labels import BURN_IN_FAILED_TAINT, BURN_IN_STARTUP_TAINT

    gpu_taint = {"key": "nvidia.com/gpu", "effect": "NoSchedule"}
    node = {"metadata": {"labels": {}}, "spec": {"taints": [gpu_taint, dict(BURN_IN_STARTUP_TAINT)]}}
    ops = {op["op"] + op["path"]: op.get("value") for op in node_patch(node, True, BURN_IN_STARTUP_TAINT, BURN_IN_FAILED_TAINT)}
    assert ops["replace/spec/taints"] == [gpu_taint] and ops["add/metadata/labels/crucible.io~1burn-in"] == "passed"
    ops = {op["op"] + op["path"]: op.get("value") for op in node_patch(node, False, BURN_IN_STARTUP_TAINT, BURN_IN_FAILED_TAINT)}
    assert ops["replace/spec/taints"] == [gpu_taint, BURN_IN_FAILED_TAINT] and ops["add/metadata/labels/crucible.io~1burn-in"] == "failed"
    failed = condition(False, [Result("dcgm", False, "dcgmi diag exit 226; failed: GPU Memory")], "2026-12-01T00:00:00Z")
    assert (failed["type"], failed["status"], failed["reason"]) == ("CrucibleBurnIn", "False", "BurnInFailedDcgm")
    assert "GPU Memory" in failed["message"]


# ---- burn-in: config ----------------------------------------------------------------------------------------------------


def test_burn_in_on_a_cpu_pool_is_refused_naming_the_key():
    (message,) = problems_at("crucible:pools[1].burnIn", "dev", pools=[GPU, {**CPU, "burnIn": {"enabled": True}}])
    assert "cpu pool" in message


def test_a_dcgm_level_on_a_neuron_pool_is_refused_naming_the_key():
    neuron = {"name": "trn", "kind": "neuron", "workload": "training", "instanceTypes": ["trn1.32xlarge"], "maxNodes": 2, "burnIn": {"level": 2}}
    (message,) = problems_at("crucible:pools[0].burnIn.level", "dev", pools=[neuron])
    assert "got 2 on a neuron pool" in message


def test_a_timeout_shorter_than_the_dcgm_level_needs_is_refused_naming_the_key():
    (message,) = problems_at("crucible:pools[0].burnIn.timeoutMinutes", "dev", pools=[{**GPU, "burnIn": {"level": 3, "timeoutMinutes": 30}}])
    assert "got 30 for DCGM level 3" in message and "at least 60" in message


def test_a_dcgm_level_out_of_range_is_refused_naming_the_key():
    (message,) = problems_at("crucible:pools[0].burnIn.level", "dev", pools=[{**GPU, "burnIn": {"level": 5}}])
    assert "got 5" in message and "1..4" in message


# ---- static capacity ----------------------------------------------------------------------------------------------------

STATIC = {**GPU, "instanceTypes": ["g6.12xlarge"], "replicas": 3, "maxNodes": 4}


def _cel_violations(crd_path: str, obj: dict) -> list[str]:
    """The messages of the CRD's x-kubernetes-validations at `spec` that ``obj`` breaks (transition rules evaluated
    with oldSelf = self: a create)."""
    import celpy
    import yaml

    from helpers import shared_dir

    crd = yaml.safe_load((shared_dir() / "upstream" / "crds" / "karpenter" / crd_path).read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    rules = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["x-kubernetes-validations"]
    env = celpy.Environment()
    broken = []
    for rule in rules:
        value = celpy.json_to_cel(obj["spec"])
        if not bool(env.program(env.compile(rule["rule"])).evaluate({"self": value, "oldSelf": value})):
            broken.append(rule["message"])
    return broken


def test_a_static_pool_is_a_static_nodepool_valid_against_the_pinned_crd_and_its_cel_rules():
    import upstream

    run = dev_plan(json.dumps(STATIC))
    nodepool = run.one(NODEPOOL)
    manifest = {"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": nodepool.inputs["metadata"], "spec": nodepool.inputs["spec"]}
    assert manifest["spec"]["replicas"] == 3 and manifest["spec"]["limits"] == {"nodes": "4"} and "weight" not in manifest["spec"]
    upstream.assert_valid(manifest)
    assert _cel_violations("karpenter.sh_nodepools.yaml", manifest) == []


def test_the_cel_rules_catch_what_the_spec_refuses():
    """The check the spec mirrors: the CRD's own rules refuse other limits and a weight on a static NodePool."""
    bad = {"spec": {"replicas": 3, "limits": {"cpu": "10", "nodes": "4"}, "weight": 10, "template": {}}}
    assert _cel_violations("karpenter.sh_nodepools.yaml", bad) == [
        "only 'limits.nodes' is supported on static NodePools",
        "'weight' is not supported on static NodePools",
    ]


@pytest.mark.parametrize(
    ("pool", "path", "words"),
    [
        ({**STATIC, "maxNodes": None, "maxAccelerators": 16}, "crucible:pools[0].maxAccelerators", "a static NodePool takes only a node limit"),
        ({**STATIC, "maxNodes": None}, "crucible:pools[0].maxNodes", "required with replicas 3"),
        ({**STATIC, "maxNodes": 2}, "crucible:pools[0].replicas", "at most maxNodes (2)"),
        ({**STATIC, "weight": 10}, "crucible:pools[0].weight", "a static NodePool has no weight"),
    ],
)
def test_static_pools_with_settings_the_crd_forbids_are_refused_naming_the_key(pool, path, words):
    pool = {k: v for k, v in pool.items() if v is not None}
    assert any(words in message for message in problems_at(path, "dev", pools=[pool]))


RESERVED = {**STATIC, "capacityTypes": ["reserved"], "capacityReservation": {"ids": ["cr-0123456789abcdef0"]}}


def test_a_fixed_fleet_larger_than_its_reservation_is_refused_naming_the_key():
    (message,) = problems_at("crucible:pools[0].replicas", "dev", pools=[RESERVED], cost={"reservedNodes": {"gpu": 2}})
    assert "got 3" in message and "reservation of 2" in message and "never launch" in message


def test_a_fixed_fleet_smaller_than_its_reservation_is_refused_naming_the_key():
    (message,) = problems_at("crucible:pools[0].replicas", "dev", pools=[{**RESERVED, "maxNodes": 8}], cost={"reservedNodes": {"gpu": 5}})
    assert "at least 5" in message and "idle" in message


def test_a_fixed_fleet_is_costed_as_fixed_and_shown_as_fixed():
    from stacks.derive.cost import pool_cost, stack_cost

    spec = spec_of("dev", pools=[STATIC, CPU])
    static, elastic = (pool_cost(p) for p in spec.pools)
    assert static.per_hour_low == static.per_hour_high == 0.0  # nothing elastic about it
    assert static.fixed[0] == static.fixed[1] > 0
    assert elastic.fixed == (0.0, 0.0) and elastic.per_hour_high > 0
    with_fleet, without = stack_cost(spec), stack_cost(spec_of("dev", pools=[CPU]))
    assert with_fleet.at_minimum == pytest.approx(without.at_minimum + static.fixed[1])
    assert {p["pool"]: p["capacity"] for p in with_fleet.to_json()["pools"]} == {"gpu": "fixed", "cpu": "elastic"}


def test_the_plan_shows_fixed_and_elastic_pools():
    from stacks.tools.plan.model import PlanModel
    from stacks.tools.plan.report import node_health_section

    run = dev_plan(json.dumps(STATIC), json.dumps(CPU))
    model = PlanModel([r.to_json() for r in run.resources])
    section = node_health_section(model)
    assert section is not None
    assert {name: p["capacity"] for name, p in section.data["pools"].items()} == {"gpu": "fixed", "cpu": "elastic"}
    assert section.data["pools"]["gpu"]["replicas"] == 3
