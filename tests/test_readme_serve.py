"""The README's "Serve" section stays true (issue 16's done-when): its `serving.models` example is the shipped
inference preset's `crucible:serving`, key for key; every `curl` it shows names a Service the inference plan
registers in the team's namespace, on the port that Service serves, and the served model id; it covers a GPU model
on one node, a GPU model across nodes and a Neuron model; and the `crucible plan inference` excerpt it prints is what
the plan prints."""

from __future__ import annotations

import functools
import re

import yaml

from helpers import REPO, shipped_report

SERVICE = "kubernetes:core/v1:Service"


@functools.lru_cache(maxsize=None)
def _section() -> str:
    readme = (REPO / "README.md").read_text()
    start = readme.index("### vLLM models from config (`serving.models`)")
    return readme[start : readme.index("\n## ", start)]


def _blocks(language: str) -> list[str]:
    """The section's fenced blocks opened with ```<language> (``""``: a bare fence)."""
    out, current, opened = [], [], None
    for line in _section().splitlines():
        if line.startswith("```"):
            if opened is None:
                opened, current = line[3:].strip(), []
            else:
                if opened == language:
                    out.append("\n".join(current) + "\n")
                opened = None
        elif opened is not None:
            current.append(line)
    return out


def _shipped_serving() -> dict:
    return yaml.safe_load((REPO / "stacks" / "Pulumi.inference.yaml").read_text())["config"]["crucible:serving"]


def _readme_serving() -> dict:
    (block,) = [b for b in _blocks("yaml") if "crucible:serving:" in b]
    return yaml.safe_load(block)["crucible:serving"]


def test_the_readme_serving_example_is_the_shipped_inference_config():
    assert _readme_serving() == _shipped_serving()


def _curls() -> list[tuple[str, str, int, str]]:
    """(namespace, service, port, model) of each curl of the section's shell block: the NLB variables and the
    port-forwards name the Service they go through."""
    (shell,) = _blocks("bash")
    out = []
    through = None
    for line in shell.splitlines():
        nlb = re.search(r"kubectl get svc -n (\S+) (\S+) ", line)
        forward = re.search(r"kubectl port-forward -n (\S+) svc/(\S+) \d+:(\d+)", line)
        if nlb:
            through = (nlb.group(1), nlb.group(2), 80)  # curl http://$NLB/ : port 80
        elif forward:
            through = (forward.group(1), forward.group(2), int(forward.group(3)))
        model = re.search(r'"model": "([^"]+)"', line)
        if model:
            assert through, f"a curl with no Service before it: {line}"
            out.append((*through, model.group(1)))
    return out


def test_every_curl_goes_through_a_service_the_plan_registers_to_a_served_model():
    document, _ = shipped_report("inference")
    services = {
        (r["inputs"]["metadata"]["namespace"], r["inputs"]["metadata"]["name"]): {p["port"] for p in r["inputs"]["spec"]["ports"]}
        for r in document["resources"]
        if r["type"] == SERVICE
    }
    teams = {t["name"] for t in yaml.safe_load((REPO / "stacks" / "Pulumi.inference.yaml").read_text())["config"]["crucible:teams"]}
    models = {m["name"]: m["model"] for m in _shipped_serving()["models"]}
    curls = _curls()
    assert curls
    for namespace, service, port, model in curls:
        assert namespace in teams, namespace
        assert port in services.get((namespace, service), set()), (namespace, service, port)
        assert models[service.removesuffix("-internal")] == model, (service, model)


def test_the_curls_cover_gpu_one_node_gpu_multi_node_and_neuron():
    document, _ = shipped_report("inference")
    kinds = {e["name"]: (e["workload"], e["replicaShape"].split(" (")[0].split(" × ")[1]) for e in document["serving"]}
    shown = {(s.removesuffix("-internal")) for _, s, _, _ in _curls()}
    covered = {kinds[name] for name in shown}
    assert {("Deployment", "nvidia.com/gpu"), ("LeaderWorkerSet", "nvidia.com/gpu"), ("Deployment", "aws.amazon.com/neuron")} <= covered


def test_the_plan_excerpt_is_what_crucible_plan_inference_prints():
    _, lines = shipped_report("inference")
    (excerpt,) = [b for b in _blocks("") if "replica " in b]
    printed = set(lines)
    for line in excerpt.splitlines():
        assert line in printed, line
