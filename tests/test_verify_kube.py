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
