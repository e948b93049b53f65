"""verify's API client: kubeconfig contexts, CA data, tokens and the exec credential plugin (aws eks get-token)."""

from __future__ import annotations

import base64
import json
import sys

import pytest

from stacks.tools.verify.kube import KubeClient, KubeConfigError, api_path, parse_kubeconfig

CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def config_text(user: dict, current: str = "eks") -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": current,
            "clusters": [
                {
                    "name": "c",
                    "cluster": {"server": "https://ABC.gr7.us-east-1.eks.amazonaws.com/", "certificate-authority-data": base64.b64encode(CA.encode()).decode()},
                }
            ],
            "users": [{"name": "u", "user": user}],
            "contexts": [{"name": "eks", "context": {"cluster": "c", "user": "u"}}, {"name": "other", "context": {"cluster": "c", "user": "u"}}],
        }
    )


def test_current_context_server_and_ca_data():
    config = parse_kubeconfig(config_text({"token": "t"}))
    assert config.server == "https://ABC.gr7.us-east-1.eks.amazonaws.com" and config.ca_data == CA and config.token == "t"
    assert parse_kubeconfig(config_text({"token": "t"}), context="other").context == "other"


def test_an_unknown_context_names_the_known_ones():
    with pytest.raises(KubeConfigError, match="no context 'nope' \\(has: eks, other\\)"):
        parse_kubeconfig(config_text({"token": "t"}), context="nope")


def test_invalid_yaml_is_a_config_error():
    with pytest.raises(KubeConfigError, match="not valid YAML"):
        parse_kubeconfig("clusters: [unclosed")


def test_exec_plugin_token_is_used_as_bearer(tmp_path):
    plugin = tmp_path / "get-token.py"
    plugin.write_text(
        "import json, os, sys\n"
        "print(json.dumps({'kind': 'ExecCredential', 'apiVersion': 'client.authentication.k8s.io/v1beta1',"
        " 'status': {'token': 'k8s-aws-v1.' + sys.argv[1] + '.' + os.environ['AWS_PROFILE']}}))\n"
    )
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": sys.executable,
            "args": [str(plugin), "crucible-prod"],
            "env": [{"name": "AWS_PROFILE", "value": "ops"}],
        }
    }
    client = KubeClient(parse_kubeconfig(config_text(user)))
    assert client._bearer() == "k8s-aws-v1.crucible-prod.ops"


def test_api_paths_for_core_and_group_resources():
    assert api_path("v1", "pods", "ns", "p", "log") == "/api/v1/namespaces/ns/pods/p/log"
    assert api_path("karpenter.sh/v1", "nodepools", name="gpu") == "/apis/karpenter.sh/v1/nodepools/gpu"
    assert api_path("batch/v1", "jobs", "team-a") == "/apis/batch/v1/namespaces/team-a/jobs"


# ---- production semantics: throttling, flaky API servers, pages, credential lifetime ------------------------

import datetime  # noqa: E402
import time  # noqa: E402

from fakekube import FakeCluster, Scenario, node  # noqa: E402
from stacks.tools.verify.kube import KubeError  # noqa: E402


@pytest.fixture
def served():
    started = []

    def start(**scenario):
        cluster = FakeCluster(Scenario(**scenario))
        started.append(cluster)
        url = cluster.start()
        client = KubeClient(parse_kubeconfig(json.dumps(_plain(url))), timeout=2, backoff=0.01)
        return cluster, client

    yield start
    for cluster in started:
        cluster.stop()


def _plain(url: str) -> dict:
    return {
        "current-context": "t",
        "clusters": [{"name": "t", "cluster": {"server": url}}],
        "users": [{"name": "t", "user": {"token": "x"}}],
        "contexts": [{"name": "t", "context": {"cluster": "t", "user": "t"}}],
    }


def _nodes(n: int) -> list:
    return [("api/v1", None, "nodes", node(f"ip-{i}", "cpu", "m7i.xlarge", {"cpu": "4"})) for i in range(n)]


def test_throttled_requests_are_retried_after_the_servers_retry_after(served):
    cluster, client = served(objects=_nodes(1), throttle=3, retry_after="0")
    assert [n["metadata"]["name"] for n in client.list("/api/v1/nodes")] == ["ip-0"]
    assert len([r for r in cluster.requests if r == "GET /api/v1/nodes"]) == 4


def test_a_retry_after_longer_than_the_deadline_gives_up_with_the_429(served):
    cluster, client = served(objects=_nodes(1), throttle=1, retry_after="30")
    started = time.monotonic()
    with pytest.raises(KubeError) as err:
        client.get("/api/v1/nodes/ip-0", deadline=time.monotonic() + 1)
    assert err.value.status == 429 and err.value.retry_after == 30 and time.monotonic() - started < 1


def test_a_flaky_api_server_is_retried_with_backoff_and_a_client_error_is_not(served):
    cluster, client = served(objects=_nodes(1), flaky=2)
    assert client.get("/api/v1/nodes/ip-0")["metadata"]["name"] == "ip-0"
    with pytest.raises(KubeError) as err:
        client.get("/api/v1/nodes/nope")
    assert err.value.status == 404 and cluster.requests.count("GET /api/v1/nodes/nope") == 1


def test_lists_are_read_in_pages_and_restart_when_the_continue_token_expired(served):
    cluster, client = served(objects=_nodes(5), page_size=2, expire_continue=True)
    assert sorted(n["metadata"]["name"] for n in client.list("/api/v1/nodes")) == [f"ip-{i}" for i in range(5)]
    assert cluster._expired  # the first continue answered 410; the list restarted from the first page


def test_a_server_repeating_its_continue_token_ends_the_list_with_an_error(served):
    cluster, client = served(objects=_nodes(5), page_size=2, repeat_continue=True)
    with pytest.raises(KubeError) as err:
        client.list("/api/v1/nodes")
    assert "twice" in err.value.message and cluster.requests.count("GET /api/v1/nodes") == 2  # the first page and one repeat


def test_a_list_of_many_pages_stays_within_the_callers_deadline(served):
    from stacks.tools.verify.kube import Unreachable

    cluster, client = served(objects=_nodes(20), page_size=1)
    with pytest.raises(Unreachable) as err:
        client.list("/api/v1/nodes", deadline=time.monotonic())  # spent: the first page is read, no further one
    assert "before the list's last page" in str(err.value) and cluster.requests.count("GET /api/v1/nodes") == 1
    assert len(client.list("/api/v1/nodes", deadline=time.monotonic() + 30)) == 20


def _plugin(tmp_path, expires_in: float | None) -> dict:
    stamp = (
        (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=expires_in)).strftime("%Y-%m-%dT%H:%M:%SZ")
        if expires_in is not None
        else None
    )
    count = tmp_path / "calls"
    plugin = tmp_path / "get-token.py"
    plugin.write_text(
        "import json, sys\n"
        f"open({str(count)!r}, 'a').write('x')\n"
        f"status = {{'token': 'k8s-aws-v1.t'}}\n"
        f"stamp = {stamp!r}\n"
        "if stamp: status['expirationTimestamp'] = stamp\n"
        "print(json.dumps({'kind': 'ExecCredential', 'apiVersion': 'client.authentication.k8s.io/v1beta1', 'status': status}))\n"
    )
    return {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": sys.executable, "args": [str(plugin)]}}


def test_an_exec_token_is_reused_until_shortly_before_the_credentials_expiration(tmp_path):
    client = KubeClient(parse_kubeconfig(config_text(_plugin(tmp_path, 900))))
    client._bearer(), client._bearer()
    assert (tmp_path / "calls").read_text() == "x"
    assert client._exec_token[1] == pytest.approx(time.time() + 900, abs=5)


def test_an_exec_token_about_to_expire_is_fetched_again(tmp_path):
    client = KubeClient(parse_kubeconfig(config_text(_plugin(tmp_path, 30))))  # less than the 60 s margin left
    client._bearer(), client._bearer()
    assert (tmp_path / "calls").read_text() == "xx"


def test_a_401_fetches_a_fresh_exec_credential_once(tmp_path, monkeypatch):
    client = KubeClient(parse_kubeconfig(config_text(_plugin(tmp_path, None))))  # no expirationTimestamp: reused until a 401
    answers = [KubeError(401, "Unauthorized"), {"ok": True}]

    def once(*args):
        client._bearer()
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(client, "_once", once)
    assert client.request("GET", "/api") == {"ok": True}
    assert (tmp_path / "calls").read_text() == "xx"  # the first token, then a fresh one after the 401
