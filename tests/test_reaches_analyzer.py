"""network-config-analyzer (np-guard) handles every NetworkPolicy feature Crucible and the charts use: one small
cluster per feature, asserted through stacks/tools/plan/reaches.py's Network (the same code path the plan uses).

Semantics checked against https://kubernetes.io/docs/concepts/services-networking/network-policies/ (selectors
combined in one `from`/`to` element are ANDed; ipBlock `except`; `endPort` ranges; named ports resolve against the
destination pod's container ports; a policy selecting a pod with no rule for a direction denies that direction)."""

from __future__ import annotations

import pytest

pytest.importorskip("nca", reason="network-config-analyzer (test extra) is not installed")

from stacks.tools.plan.reaches import Endpoint, Network, normalise_policy  # noqa: E402

NS = {"a": {"team": "a"}, "b": {"team": "b"}, "kube-system": {}}
for _name, _labels in NS.items():
    _labels["kubernetes.io/metadata.name"] = _name


def _pods():
    return [
        Endpoint("a", "client", {"app": "client"}, []),
        Endpoint("a", "server", {"app": "server"}, [{"name": "http", "containerPort": 8080}]),
        Endpoint("b", "server", {"app": "server"}, [{"name": "http", "containerPort": 8080}]),
        Endpoint("b", "other", {"app": "other"}, []),
        Endpoint("kube-system", "dns", {"k8s-app": "kube-dns"}, []),
    ]


def _net(*policies):
    pods = _pods()
    return Network(NS, pods, [normalise_policy(p) for p in policies]), {p.key: p for p in pods}


def _policy(namespace, spec, name="p"):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


DENY_A = _policy("a", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}, "deny")


def test_default_deny_blocks_both_directions_and_other_namespaces_stay_open():
    net, p = _net(DENY_A)
    assert not net.allows(p["a/client"], p["a/server"], ["TCP/8080"])
    assert not net.allows(p["b/other"], p["a/server"], ["TCP/8080"])
    assert net.allows(p["b/other"], p["b/server"], ["TCP/8080"])


def test_namespace_and_pod_selector_in_one_peer_are_anded():
    allow = _policy(
        "a",
        {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [
                        {
                            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                        }
                    ],
                    "ports": [{"protocol": "UDP", "port": 53}],
                }
            ],
        },
    )
    net, p = _net(DENY_A, allow)
    assert net.allows(p["a/client"], p["kube-system/dns"], ["UDP/53"])
    assert not net.allows(p["a/client"], p["kube-system/dns"], ["TCP/53"])
    assert not net.allows(p["a/client"], p["b/other"], ["UDP/53"])  # a dns-labelled selector elsewhere does not match


def test_ip_block_with_except_and_end_port():
    allow = _policy(
        "a",
        {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}], "ports": [{"protocol": "TCP", "port": 1018, "endPort": 1023}]}
            ],
        },
    )
    net, p = _net(DENY_A, allow)
    assert net.allows(p["a/client"], "203.0.113.7/32", ["TCP/1018-1023"])
    assert not net.allows(p["a/client"], "203.0.113.7/32", ["TCP/1024"])
    assert net.reachable(p["a/client"], "169.254.169.254/32") is None


def test_named_ports_resolve_on_the_destination_pod():
    allow = _policy("a", {"podSelector": {"matchLabels": {"app": "server"}}, "policyTypes": ["Ingress"], "ingress": [{"ports": [{"port": "http"}]}]})
    net, p = _net(allow)
    assert net.allows(p["b/other"], p["a/server"], ["TCP/8080"])
    assert not net.allows(p["b/other"], p["a/server"], ["TCP/8081"])


def test_egress_to_the_api_server_is_egress_to_its_vpc_addresses():
    # Pods reach the API server at its ENIs in the VPC (after the `kubernetes` Service's DNAT).
    allow = _policy(
        "a",
        {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": "10.30.0.0/16"}}], "ports": [{"protocol": "TCP", "port": 443}]}],
        },
    )
    net, p = _net(DENY_A, allow)
    assert net.allows(p["a/client"], "10.30.0.0/16", ["TCP/443"])
    assert not net.allows(p["a/client"], "10.31.0.0/16", ["TCP/443"])


def test_ingress_from_an_address_range():
    allow = _policy(
        "a", {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": [{"ipBlock": {"cidr": "10.30.0.0/16"}}], "ports": [{"port": 8080}]}]}
    )
    net, p = _net(allow)
    assert net.allows("10.30.0.0/16", p["a/server"], ["TCP/8080"])
    assert not net.allows("10.40.0.0/16", p["a/server"], ["TCP/8080"])


def test_policy_types_in_any_order_and_ignored_sections_are_taken_as_kubernetes_does():
    # NCA refuses [Egress, Ingress] and an `ingress` section policyTypes leave out; the API server accepts both
    # and ignores the left-out section. normalise_policy bridges the two.
    odd = _policy("a", {"podSelector": {}, "policyTypes": ["Egress", "Ingress"], "ingress": [{"ports": [{"port": 8080}]}]})
    ignored = _policy("b", {"podSelector": {}, "policyTypes": ["Egress"], "ingress": [{}]}, "ignored")
    net, p = _net(odd, ignored)
    assert net.allows(p["b/server"], p["a/server"], ["TCP/8080"]) is False  # b's egress is denied
    assert net.allows(p["kube-system/dns"], p["a/server"], ["TCP/8080"])
    assert not net.allows(p["a/client"], p["kube-system/dns"], ["UDP/53"])  # a's egress is denied


def test_a_forbidden_flow_reports_what_is_allowed():
    net, p = _net()
    assert net.reachable(p["a/client"], p["b/other"]) == "all connections"
    assert net.reachable(p["a/client"], p["b/other"], ["TCP/443", "UDP/53"]) == "TCP 443; UDP 53"
    assert net.reachable(p["a/client"], p["b/other"], ["TCP/1-65535"], ["TCP/1-65535"]) is None


def test_an_empty_namespace_selector_means_every_namespace_as_z2jh_uses_it():
    allow = _policy(
        "a",
        {
            "podSelector": {"matchLabels": {"app": "server"}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "other"}}}], "ports": [{"port": 8080}]}],
        },
    )
    net, p = _net(allow)
    assert net.allows(p["b/other"], p["a/server"], ["TCP/8080"])
    assert not net.allows(p["a/client"], p["a/server"], ["TCP/8080"])


def test_match_expressions_select_pods_and_namespaces():
    allow = _policy(
        "a",
        {
            "podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["server"]}]},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["a"]}]}}]}],
        },
    )
    net, p = _net(allow)
    assert net.allows(p["b/other"], p["a/server"], ["TCP/8080"])
    assert not net.allows(p["a/client"], p["a/server"], ["TCP/8080"])
    assert net.allows(p["a/server"], p["a/client"], ["TCP/9999"])  # client is not selected: open


def test_a_rule_without_peers_or_ports_allows_everything_in_its_direction():
    allow = _policy("a", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{}]})
    net, p = _net(DENY_A, allow)
    assert net.allows(p["a/client"], p["b/other"], ["TCP/1-65535", "UDP/1-65535"])
    assert net.allows(p["a/client"], "8.8.8.8/32", ["UDP/53"])


def test_ip_blocks_reach_pods_by_address_as_the_vpc_cni_matches_them():
    # aws/amazon-network-policy-controller-k8s#41: the VPC CNI's agent matches ipBlocks against pod addresses.
    out = _policy(
        "a",
        {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "TCP", "port": 443}]}]},
        "out",
    )
    deny_b = _policy("b", {"podSelector": {"matchLabels": {"app": "server"}}, "policyTypes": ["Ingress"]}, "deny")
    net, p = _net(DENY_A, out, deny_b)
    assert net.reachable(p["a/client"], p["b/other"]) is None  # by selectors: nothing
    assert net.reachable_by_address(p["a/client"], p["b/other"], "10.0.0.0/8") == "TCP 443"
    assert net.reachable_by_address(p["a/client"], p["b/server"], "10.0.0.0/8") is None  # its ingress is denied


def test_address_sides_cut_from_the_range_are_those_of_intersecting_each_pod_with_the_cluster():
    """Network cuts the allowed connections to the address range and to each protocol once, then meets each pod
    with those parts: the same sets as each pod's own connections to the range met with all that is allowed."""
    from nca.CoreDS.ConnectivityProperties import ConnectivityProperties
    from nca.CoreDS.ProtocolSet import ProtocolSet

    from stacks.tools.plan.reaches import PROTOCOLS, _port_intervals

    udp_out = _policy(
        "a",
        {
            "podSelector": {"matchLabels": {"app": "client"}},
            "policyTypes": ["Egress"],
            "egress": [
                {"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 80, "endPort": 90}]}
            ],
        },
        "udp",
    )
    web_in = _policy(
        "b",
        {
            "podSelector": {},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"ipBlock": {"cidr": "10.1.0.0/16"}}], "ports": [{"protocol": "TCP", "port": 8080}]}],
        },
        "in",
    )
    net, p = _net(DENY_A, udp_out, web_in)

    def direct(direction, pod, excepted):
        every = [f"{proto}/1-65535" for proto in PROTOCOLS]
        props = net._props(pod, "10.0.0.0/8", every) if direction == "out" else net._props("10.0.0.0/8", pod, every)
        if excepted:
            props = props - net._props(pod, "10.0.0.0/8", list(excepted))
        found = props & net.allowed
        sides = []
        for proto in PROTOCOLS:
            part = found & ConnectivityProperties.make_conn_props_from_dict({"protocols": ProtocolSet.get_protocol_set_with_single_protocol(proto)})
            sides.append(str(_port_intervals(part)) if part else None)
        return sides

    compared = 0
    for pod in p.values():
        for direction, excepted in (("out", ()), ("out", ("TCP/85",)), ("in", ())):
            cut = [None if side is None else str(side) for side in net._address_sides(direction, pod, "10.0.0.0/8", excepted)]
            assert cut == direct(direction, pod, excepted), (pod.key, direction, excepted)
            compared += any(cut)
    assert compared >= 3  # the client's UDP/TCP egress (with and without the exception) and b's ingress were found
