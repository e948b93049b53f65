"""One user surface for the add-ons: `crucible:addons.<name>` with `enabled` and `version` (default: the pin of
components/versions.py) for every Helm add-on the platform registry installs, the add-on's own settings beside them;
an add-on turned off that the stack cannot do without is a ConfigError naming both keys; the old keys
(training.mpiOperator, training.trainer, serving.loadBalancerController) load for one release with a deprecation
warning that `crucible plan` prints and `pulumi up` logs (stacks/spec/deprecated.py)."""

from __future__ import annotations

import dataclasses
import functools
import typing
from pathlib import Path

import pytest
import yaml

from components import versions
from helpers import REPO, addons_program, plan, shipped_plan, spec_of
from stacks.spec import ConfigError
from stacks.spec.addons import AddonsSpec
from stacks.spec.deprecated import MOVED, deprecated_keys_markdown
from stacks.spec.loader import load_stack_file
from stacks.spec.schema import config_key, field_docs
from stacks.tools.harness import run_program

RELEASE = "kubernetes:helm.sh/v3:Release"
AMI = "v20251108"
TEAMS = [{"name": "llm", "memberGroups": ["llm-users"]}]
SERVE_POOLS = [
    {"name": "l40s", "kind": "gpu", "workload": "serving", "instanceTypes": ["g6e.xlarge", "g6e.2xlarge"], "maxNodes": 4, "amiVersion": AMI},
    {"name": "p5", "kind": "gpu", "workload": "serving", "instanceTypes": ["p5.48xlarge"], "efa": True, "maxNodes": 4, "amiVersion": AMI},
]
# 70B over two p5 nodes (a LeaderWorkerSet group), autoscaled by KEDA up to two replicas; weights from Lustre.
MULTI_NODE = {
    "name": "llama-70b",
    "model": "meta-llama/Llama-3.1-70B-Instruct",
    "pool": "p5",
    "tensorParallelSize": 8,
    "pipelineParallelSize": 2,
    "weights": "lustre",
    "maxReplicas": 2,
}
# 7B on one L40S at a fixed count: no LeaderWorkerSet, no ScaledObject.
ONE_NODE_FIXED = {"name": "mistral", "model": "mistralai/Mistral-7B-Instruct-v0.3", "pool": "l40s", "weights": "lustre", "exposure": "cluster"}


def problems_of(**overrides) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        spec_of("prod", **overrides)
    return {p.path: p.message for p in caught.value.problems}


def section(path: str):
    """The spec class of `addons.<name>` (None if the spec has no such section)."""
    _, name = path.split(".")
    hints = typing.get_type_hints(AddonsSpec)
    fields = {config_key(f): hints[f.name] for f in dataclasses.fields(AddonsSpec)}
    return fields.get(name)


def keys_of(cls) -> set[str]:
    return {key for key, _f, _tp in field_docs(cls)}


# ---- the surface ------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def platform_charts() -> set[str]:
    """The charts (versions.CHARTS names) the platform layer installs in the shipped stacks."""
    sources = {pin.chart: name for name, pin in versions.CHARTS.items()}
    found = set()
    for stack in ("prod", "inference", "dev"):
        for release in shipped_plan(stack).run.of_type(RELEASE):
            if "crucible:platform:" in release.urn:
                found.add(sources[release.inputs["chart"]])
    return found


def test_the_shipped_stacks_install_every_platform_helm_add_on():
    # The next test is only as good as this list: the shipped stacks between them install every platform chart.
    assert {"kueue", "lws", "keda", "kubeflow-trainer", "aws-load-balancer-controller", "kuberay-operator", "jupyterhub"} <= platform_charts()


def test_every_platform_helm_add_on_has_enabled_and_its_version_under_addons():
    for chart in sorted(platform_charts()):
        setting = versions.CHARTS[chart].setting
        assert setting.startswith("addons."), f"{chart}: its version setting is {setting!r}, not under addons.<name>"
        _, name, key = setting.split(".")
        cls = section(f"addons.{name}")
        assert cls is not None and {"enabled", key} <= keys_of(cls), f"{chart}: addons.{name} lacks enabled or {key}"


@pytest.mark.parametrize(
    "name, pin",
    [
        ("kueue", versions.chart("kueue").version),
        ("leaderWorkerSet", versions.chart("lws").version),
        ("keda", versions.chart("keda").version),
        ("trainer", versions.chart("kubeflow-trainer").version),
        ("loadBalancerController", versions.chart("aws-load-balancer-controller").version),
        ("mpiOperator", versions.image("mpi-operator").tag),
    ],
)
def test_each_addon_is_on_by_default_at_the_pinned_version(name, pin):
    (attribute,) = [f.name for f in dataclasses.fields(AddonsSpec) if config_key(f) == name]
    addon = getattr(spec_of("prod").addons, attribute)
    assert addon.enabled is True and addon.version == pin


def test_the_specific_settings_sit_beside_enabled_and_version():
    assert {"enabled", "version", "installJobSet", "runtimeImage"} == keys_of(section("addons.trainer"))
    assert {"enabled", "version", "replicas"} == keys_of(section("addons.loadBalancerController"))
    assert {"enabled", "version"} == keys_of(section("addons.mpiOperator"))


def test_the_mpi_operator_version_says_it_is_an_image_tag_not_a_chart_version():
    (doc,) = [f.metadata["doc"] for f in dataclasses.fields(section("addons.mpiOperator")) if f.name == "version"]
    assert "Not a chart version" in doc and "mpioperator/mpi-operator:<version>" in doc


# ---- the versions reach the releases ----------------------------------------------------------------------------

VERSIONS = {"kueue": {"version": "0.19.3"}, "leaderWorkerSet": {"version": "0.8.1"}, "keda": {"version": "2.20.3"}}


@functools.lru_cache(maxsize=None)
def versioned_runs():
    spec = spec_of("prod", pools=SERVE_POOLS, teams=TEAMS, serving={"models": [MULTI_NODE]}, addons=VERSIONS)
    workloads = run_program(addons_program(spec, output="workloads"), stack="test", config={})
    tenancy = run_program(addons_program(spec, output="tenancy"), stack="test", config={})
    return workloads, tenancy


@pytest.mark.parametrize("release, version", [("kueue", "0.19.3"), ("lws", "0.8.1"), ("keda", "2.20.3")])
def test_addons_version_sets_the_chart_version_of_the_release(release, version):
    runs = versioned_runs()
    (found,) = [r for run in runs for r in run.of_type(RELEASE) if r.inputs.get("name") == release]
    assert found.inputs["version"] == version


# ---- turning one off --------------------------------------------------------------------------------------------


def test_keda_off_installs_no_autoscaler_for_fixed_count_models():
    spec = spec_of("prod", pools=SERVE_POOLS, teams=TEAMS, serving={"models": [ONE_NODE_FIXED]}, addons={"keda": {"enabled": False}})
    assert spec.addons.observability.enabled  # Prometheus is on: with keda on, KEDA would be installed
    run = run_program(addons_program(spec, output="workloads"), stack="test", config={})
    assert not run.of_type("crucible:platform:Keda") and not [r for r in run.of_type(RELEASE) if r.inputs.get("name") == "keda"]
    assert run.of_type("crucible:platform:VllmModel")


def test_kueue_off_with_teams_is_refused_naming_both_keys():
    message = problems_of(teams=TEAMS, addons={"kueue": {"enabled": False}})["crucible:addons.kueue.enabled"]
    assert "crucible:teams" in message and "llm" in message


def test_kueue_off_without_teams_is_allowed_and_installs_nothing_either_way():
    from stacks.layers.platform import registry

    spec = spec_of("prod", addons={"kueue": {"enabled": False}})
    assert "kueue" not in [e.name for e in registry.enabled(spec)]


def test_leader_worker_set_off_with_a_model_spanning_nodes_is_refused_naming_both_keys():
    found = problems_of(pools=SERVE_POOLS, teams=TEAMS, serving={"models": [MULTI_NODE]}, addons={"leaderWorkerSet": {"enabled": False}})
    message = found["crucible:addons.leaderWorkerSet.enabled"]
    assert "serving.models[0]" in message and "2 nodes" in message


def test_leader_worker_set_off_with_single_node_models_is_allowed():
    spec_of("prod", pools=SERVE_POOLS, teams=TEAMS, serving={"models": [ONE_NODE_FIXED]}, addons={"leaderWorkerSet": {"enabled": False}})


def test_keda_off_with_an_autoscaled_model_is_refused_naming_both_keys():
    found = problems_of(pools=SERVE_POOLS, teams=TEAMS, serving={"models": [{**ONE_NODE_FIXED, "maxReplicas": 3}]}, addons={"keda": {"enabled": False}})
    message = found["crucible:addons.keda.enabled"]
    assert "serving.models[0].minReplicas 1" in message and "maxReplicas 3" in message and "maxReplicas: 1" in message


def test_the_controller_off_with_a_public_serving_exposure_is_refused_naming_both_keys():
    cert = "arn:aws:acm:us-east-1:111122223333:certificate/12345678-1234-1234-1234-123456789012"
    found = problems_of(serving={"exposure": "public", "certificateArn": cert}, addons={"loadBalancerController": {"enabled": False}})
    assert "addons.loadBalancerController.enabled" in found["crucible:serving.exposure"]


def test_the_controller_off_with_a_model_behind_a_load_balancer_is_refused_naming_both_keys():
    model = {**ONE_NODE_FIXED, "exposure": "internal"}
    found = problems_of(pools=SERVE_POOLS, teams=TEAMS, serving={"models": [model]}, addons={"loadBalancerController": {"enabled": False}})
    assert "addons.loadBalancerController.enabled" in found["crucible:serving.models[0].exposure"]


def test_trainer_off_with_runtimes_is_refused_naming_both_keys():
    assert "addons.trainer.enabled" in problems_of(addons={"trainer": {"enabled": False}})["crucible:training.runtimes"]


def test_every_unmet_need_is_reported_in_one_pass():
    found = problems_of(
        pools=SERVE_POOLS,
        teams=TEAMS,
        serving={"models": [MULTI_NODE]},
        addons={"kueue": {"enabled": False}, "leaderWorkerSet": {"enabled": False}, "keda": {"enabled": False}, "trainer": {"enabled": False}},
    )
    assert {"crucible:addons.kueue.enabled", "crucible:addons.leaderWorkerSet.enabled", "crucible:addons.keda.enabled", "crucible:training.runtimes"} <= set(
        found
    )


# ---- the old keys, for one release ------------------------------------------------------------------------------

# One setting per old key, with a value other than the default.
OLD = {
    "training.mpiOperator": {"enabled": False, "version": "0.8.1"},
    "training.trainer": {"installJobSet": False, "version": "2.3.1"},
    "serving.loadBalancerController": {"replicas": 3, "version": "3.5.1"},
}


def nested(dotted: str, value) -> dict:
    section_name, name = dotted.split(".")
    return {section_name: {name: value}}


def test_the_table_of_moved_keys_is_the_one_tested_here():
    assert {m.old_key for m in MOVED} == set(OLD)


@pytest.mark.parametrize("moved", MOVED, ids=lambda m: m.old_key)
def test_an_old_key_gives_the_same_spec_as_the_new_one_and_a_warning_naming_both(moved):
    settings = OLD[moved.old_key]
    extra = {"runtimes": []} if moved.old_key == "training.mpiOperator" else {}
    old_cfg = nested(moved.old_key, settings)
    if extra:
        old_cfg["training"] = {**old_cfg.get("training", {}), **extra}
    new_cfg = {"addons": {moved.new[1]: settings}, **({"training": extra} if extra else {})}
    old, new = spec_of("prod", **old_cfg), spec_of("prod", **new_cfg)
    assert old == new
    assert not new.warnings
    assert {w.path for w in old.warnings} == {f"crucible:{moved.old_key}.{k}" for k in settings}
    for warning in old.warnings:
        key = warning.path.rsplit(".", 1)[1]
        assert f"crucible:{moved.new_key}.{key}" in warning.message and "deprecated" in warning.message and "next release" in warning.message


@pytest.mark.parametrize("moved", MOVED, ids=lambda m: m.old_key)
def test_old_and_new_keys_set_to_different_values_are_refused_naming_both(moved):
    found = problems_of(**{**nested(moved.old_key, {"version": "1.0.0"}), "addons": {moved.new[1]: {"version": "1.0.1"}}})
    message = found[f"crucible:{moved.old_key}.version"]
    assert f"crucible:{moved.new_key}.version" in message and "'1.0.1'" in message and "'1.0.0'" in message


def test_old_and_new_keys_set_to_the_same_value_load_with_the_warning():
    spec = spec_of("prod", training={"mpiOperator": {"version": "0.8.1"}}, addons={"mpiOperator": {"version": "0.8.1"}})
    assert spec.addons.mpi_operator.version == "0.8.1"
    assert [w.path for w in spec.warnings] == ["crucible:training.mpiOperator.version"]


def test_a_bad_value_under_an_old_key_is_reported_at_the_key_the_user_wrote():
    found = problems_of(training={"mpiOperator": {"version": "latest", "replicas": 2}})
    assert "a pinned version" in found["crucible:training.mpiOperator.version"]
    assert "unknown setting" in found["crucible:training.mpiOperator.replicas"]


def test_an_old_key_that_is_not_a_mapping_is_refused_naming_the_new_key():
    message = problems_of(serving={"loadBalancerController": False})["crucible:serving.loadBalancerController"]
    assert "crucible:addons.loadBalancerController.*" in message


def test_an_old_key_in_a_stack_without_the_platform_layer_is_reported_as_written():
    with pytest.raises(ConfigError) as caught:
        spec_of("prod", layers=["network", "cluster"], training={"mpiOperator": {"enabled": False}})
    assert [p.path for p in caught.value.problems] == ["crucible:training"]


def test_the_addons_section_in_a_stack_without_the_platform_layer_is_an_error():
    with pytest.raises(ConfigError) as caught:
        spec_of("prod", layers=["network", "cluster"], addons={"mpiOperator": {"enabled": False}})
    assert [p.path for p in caught.value.problems] == ["crucible:addons"]


def test_pulumi_up_logs_each_deprecation_warning():
    run = plan("dev", training={"trainer": {"installJobSet": False}})
    assert run.engine_warnings == [
        "crucible:training.trainer.installJobSet: deprecated: use crucible:addons.trainer.installJobSet (the same setting; "
        "training.trainer goes in the next release)"
    ]
    (release,) = [r for r in run.of_type(RELEASE) if r.inputs.get("name") == "kubeflow-trainer"]
    assert release.inputs["values"]["jobset"]["install"] is False  # and the old key still does what it did


def test_a_stack_without_deprecated_keys_logs_no_warning():
    assert shipped_plan("dev").run.engine_warnings == []


OLD_KEY_WARNING = (
    "warning: Pulumi.old-keys.yaml: crucible:serving.loadBalancerController.replicas: deprecated: use crucible:addons.loadBalancerController.replicas"
)


def old_keys_stack(tmp_path: Path) -> Path:
    """The shipped dev stack with one setting under an old key."""
    document = yaml.safe_load((REPO / "stacks" / "Pulumi.dev.yaml").read_text())
    document["config"]["crucible:serving"] = {**(document["config"].get("crucible:serving") or {}), "loadBalancerController": {"replicas": 3}}
    path = tmp_path / "Pulumi.old-keys.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_crucible_plan_prints_the_deprecation_warnings(tmp_path: Path, capsys):
    from stacks.tools.cli import main

    main(["plan", str(old_keys_stack(tmp_path))])
    captured = capsys.readouterr()
    assert OLD_KEY_WARNING in captured.err and "deprecated" not in captured.out


def test_crucible_examples_prints_the_deprecation_warnings(tmp_path: Path, capsys):
    from stacks.tools.cli import main

    assert main(["examples", str(old_keys_stack(tmp_path)), "--out", str(tmp_path / "jobs")]) == 0
    assert OLD_KEY_WARNING in capsys.readouterr().err


# ---- the shipped configs and the README -------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted((REPO / "stacks").glob("Pulumi.*.yaml")), ids=lambda p: p.name)
def test_the_shipped_configs_use_no_deprecated_key(path):
    spec, _, _ = load_stack_file(path)
    assert spec.warnings == ()


def test_the_readme_lists_every_deprecated_key_and_its_new_key():
    readme = (REPO / "README.md").read_text()
    assert deprecated_keys_markdown() in readme
    elsewhere = readme.replace(deprecated_keys_markdown(), "")
    for moved in MOVED:
        for written in (f"`crucible:{moved.old_key}.", f"`{moved.old_key}."):
            assert written not in elsewhere, f"README still documents {moved.old_key}"
