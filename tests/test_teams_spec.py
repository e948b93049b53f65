"""crucible:teams: bad team configs are rejected before anything is registered, each naming its key path."""

from __future__ import annotations

import pytest

from helpers import spec_of
from stacks.spec import ConfigError

POOLS = [
    {"name": "train", "kind": "gpu", "workload": "training", "instanceTypes": ["p5.48xlarge"], "efa": True, "maxNodes": 2},
    {"name": "serve", "kind": "gpu", "workload": "serving", "instanceTypes": ["g6e.xlarge"], "maxNodes": 4},
]


def team(name: str, **extra) -> dict:
    return {"name": name, "memberGroups": [f"{name}-users"], **extra}


def problems(*teams: dict, **overrides) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        spec_of("dev", pools=POOLS, teams=list(teams), **overrides)
    return [str(p) for p in caught.value.problems]


def test_a_valid_teams_section_parses_with_default_prefix_and_borrowing():
    spec = spec_of("dev", pools=POOLS, teams=[team("nlp", shares={"train": 60}), team("vision")])
    assert [t.name for t in spec.teams] == ["nlp", "vision"]
    assert spec.teams[0].prefixes == ("nlp/",)
    assert spec.teams[1].borrowing.borrowing_limit is True


@pytest.mark.parametrize(
    "teams, path, words",
    [
        ([team("nlp", shares={"trian": 50})], "crucible:teams[0].shares.trian", "did you mean: train"),
        ([team("nlp"), team("nlp")], "crucible:teams[1].name", "unique"),
        ([team("nlp", shares={"train": 70}), team("cv", shares={"train": 40})], "crucible:teams[1].shares.train", "110%"),
        ([team("NLP_team")], "crucible:teams[0].name", "DNS label"),
        ([team("kube-system")], "crucible:teams[0].name", "reserved"),
        ([team("kuberay-system")], "crucible:teams[0].name", "reserved"),  # the KubeRay operator's namespace
        ([team("nlp", shares={"serve": 120})], "crucible:teams[0].shares.serve", "0..100"),
        ([team("nlp", borrowing={"borrowingLimit": 150})], "crucible:teams[0].borrowing.borrowingLimit", "percentage"),
        ([team("nlp", borrowing={"lendingLimit": "lots"})], "crucible:teams[0].borrowing.lendingLimit", "true (no limit)"),
        ([team("nlp", bucketPrefixes=["teams/nlp/"])], "crucible:teams[0].bucketPrefixes[0]", "under nlp/"),
        ([team("nlp", bucketPrefixes=["nlp"])], "crucible:teams[0].bucketPrefixes[0]", "ending in '/'"),
        ([{"name": "nlp"}], "crucible:teams[0].adminGroups", "at least one group"),
        ([team("nlp", adminGroups=["system:masters"])], "crucible:teams[0].adminGroups", "system:"),
        ([team("nlp", podSecurity="baseline", shares={"serve": 50, "train": 0})], "crucible:teams[0].podSecurity", "training pool"),
        ([team("nlp", shars={"train": 10})], "crucible:teams[0].shars", "did you mean: shares"),
        ([team("jupyterhub")], "crucible:teams[0].name", "used by the platform"),
    ],
)
def test_bad_team_configs_are_rejected_with_their_key_path(teams, path, words):
    found = problems(*teams)
    assert any(p.startswith(f"{path}:") and words in p for p in found), found


def test_teams_need_the_platform_layer():
    with pytest.raises(ConfigError) as caught:
        spec_of("dev", layers=["network", "cluster", "compute"], pools=POOLS, teams=[team("nlp")])
    assert any(p.path == "crucible:teams" and "platform layer" in p.message for p in caught.value.problems)
