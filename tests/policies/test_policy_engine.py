"""The pack as the Pulumi engine runs it: a subprocess that serves the Analyzer gRPC service.

The CLI starts a Python policy pack with `python -u -m pulumi.policy <engine-address> .` in the pack's directory
(the `pulumi-analyzer-policy-python` shim); the SDK ignores the engine address. The server prints its port on
stdout and blocks until killed.
"""

import json
import os
import selectors
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from policies.pack import all_policies

PACK_DIR = Path(__file__).resolve().parents[2] / "policies"
START_TIMEOUT = 20


def _read_port(process: subprocess.Popen) -> int:
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    if not selector.select(timeout=START_TIMEOUT):
        raise AssertionError(f"the policy pack printed no port within {START_TIMEOUT}s")
    line = process.stdout.readline().decode().strip()
    if not line.isdigit():
        raise AssertionError(f"expected a port on stdout, got {line!r}; stderr: {process.stderr.read().decode()[-2000:]}")
    return int(line)


def _serve(argv):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the pack must find itself
    return subprocess.Popen(argv, cwd=PACK_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


@pytest.fixture(params=["engine", "script"])
def analyzer(request):
    argv = {
        "engine": [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:0", "."],
        "script": [sys.executable, str(PACK_DIR / "__main__.py")],
    }[request.param]
    process = _serve(argv)
    try:
        port = _read_port(process)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        process.kill()
        process.wait(timeout=10)


def test_the_served_pack_lists_every_policy(analyzer):
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=10)
    assert info.name == "crucible"
    assert [p.name for p in info.policies] == [p.name for p in all_policies()]
    assert len(info.policies) >= 45


def test_the_served_pack_judges_a_resource_with_the_prod_config(analyzer):
    prod = json.loads((PACK_DIR / "config" / "prod.json").read_text())
    configure = analyzer_pb2.ConfigureAnalyzerRequest()
    for name, entry in prod.items():
        if name == "all" or not isinstance(entry, dict):
            continue
        config = configure.policyConfig[name]
        config.enforcementLevel = analyzer_pb2.MANDATORY
        config.properties.update({k: v for k, v in entry.items() if k != "enforcementLevel"})
    analyzer.Configure(configure, timeout=10)
    props = struct_pb2.Struct()
    props.update({"version": "1.34", "vpcConfig": {"endpointPrivateAccess": True, "endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]}})
    urn = "urn:pulumi:prod::crucible::aws:eks/cluster:Cluster::eks"
    response = analyzer.Analyze(analyzer_pb2.AnalyzeRequest(type="aws:eks/cluster:Cluster", urn=urn, name="eks", properties=props), timeout=10)
    findings = {(d.policyName, d.enforcementLevel) for d in response.diagnostics}
    assert ("sec-eks-002-private-endpoint", analyzer_pb2.MANDATORY) in findings
    assert ("sec-eks-001-secrets-encryption", analyzer_pb2.MANDATORY) in findings
