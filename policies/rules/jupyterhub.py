"""JupyterHub (the z2jh chart as a Helm release): real authentication, no internet-facing proxy or metadata
access from notebooks, and user home volumes that survive (SEC-JH-001, SEC-JH-002, DATA-JH-003).

The chart's defaults are insecure for anything shared: ``authenticator_class: dummy`` (any password works) and
``proxy.service.type: LoadBalancer`` (an internet-facing load balancer on AWS).
"""

from __future__ import annotations

from policies.support import helm, imds
from policies.support.karpenter import node_pools
from policies.support.rule import Ctx, Res, Stack, resource_policy, stack_policy
from policies.support.tokens import HELM_RELEASE, NAMESPACE, STORAGE_CLASS, SUBNET
from policies.support.values import as_dict, dig, flag, text

CHART = "jupyterhub"
INTERNAL_ANNOTATIONS = {
    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
    "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
}


def _jupyterhub(res: Res) -> bool:
    return helm.chart_name(res) == CHART


# SEC-JH-001 ----------------------------------------------------------------------------------------------------
def _authenticator(release: Res, ctx: Ctx) -> None:
    if not _jupyterhub(release):
        return
    authenticator = text(dig(helm.values(release), "hub", "config", "JupyterHub", "authenticator_class"))
    forbidden = {a.lower() for a in ctx.setting("forbiddenAuthenticators")}
    if authenticator is None:
        ctx.violation(
            release,
            "values.hub.config.JupyterHub.authenticator_class is unset, so the chart's default 'dummy' authenticator "
            "accepts any password; configure a real one (e.g. generic-oauth / github with an allow-list).",
        )
    elif authenticator.lower() in forbidden:
        ctx.violation(
            release,
            f"authenticator_class {authenticator!r} lets anyone in (shared or no password); configure an OAuth/OIDC authenticator.",
        )
    else:
        for problem in _admits_everyone(authenticator, dig(helm.values(release), "hub", "config", default={})):
            ctx.violation(release, f"authenticator {authenticator!r} admits everyone: {problem}.")


# Authenticators that hand out accounts without any credential check.
_ANONYMOUS = ("tmp", "tmpauthenticator", "tmpauthenticator.tmpauthenticator")
# Configuration sections an authenticator reads its settings from (its own class name and its bases).
_AUTH_SECTIONS = (
    "Authenticator",
    "OAuthenticator",
    "GenericOAuthenticator",
    "GitHubOAuthenticator",
    "GoogleOAuthenticator",
    "AzureAdOAuthenticator",
    "GitLabOAuthenticator",
)


def _admits_everyone(authenticator: str, config: object) -> list[str]:
    """The ways a real authenticator is configured to admit every user it can authenticate: an anonymous class,
    ``allow_all`` (every account of the identity provider, e.g. all of GitHub), NativeAuthenticator's open signup,
    or an OAuth authenticator with no allow rule at all on oauthenticator < 16 (which admitted everyone)."""
    problems = []
    config = config if isinstance(config, dict) else {}
    if authenticator.lower() in _ANONYMOUS:
        problems.append("TmpAuthenticator gives every visitor a fresh account")
    sections = {k: v for k, v in config.items() if isinstance(v, dict) and (k in _AUTH_SECTIONS or k.endswith("Authenticator"))}
    for name, section in sorted(sections.items()):
        if flag(section.get("allow_all")) is True:
            problems.append(f"hub.config.{name}.allow_all is true (every account of the identity provider; `crucible:addons.jupyterhub.oauth.allowAll`)")
        if flag(section.get("open_signup")) is True:
            problems.append(f"hub.config.{name}.open_signup is true (anyone can create an account)")
        if flag(section.get("allow_existing_users")) is True and not any(
            section.get(k) for k in ("allowed_users", "allowed_organizations", "allowed_groups", "allowed_teams", "admin_users")
        ):
            problems.append(f"hub.config.{name}.allow_existing_users is true with no allow list")
    return problems


SEC_JH_001 = resource_policy(
    rule_id="SEC-JH-001",
    slug="jupyterhub-authenticator",
    description="JupyterHub sets a real authenticator (hub.config.JupyterHub.authenticator_class), never the "
    "chart's default dummy or a shared password -- a notebook is a shell with the cluster's network access.",
    applies_to=HELM_RELEASE,
    checks=[_authenticator],
    settings={
        "forbiddenAuthenticators": {
            "type": "array",
            "items": {"type": "string"},
            "default": [
                "dummy",
                "dummyauthenticator.DummyAuthenticator",
                "jupyterhub.auth.DummyAuthenticator",
                "shared-password",
                "jupyterhub.authenticators.shared.SharedPasswordAuthenticator",
                "null",
            ],
            "description": "authenticator_class values that are refused (case-insensitive).",
        }
    },
    anchor="JupyterHub docs: DummyAuthenticator; z2jh values.yaml default authenticator_class: dummy",
)


# SEC-JH-002 ----------------------------------------------------------------------------------------------------
METADATA_IP = "169.254.169.254"


def _opens_metadata(rule) -> bool:
    """An egress rule whose destinations include the metadata address (an ipBlock covering it, not excepted; or no
    `to` at all: every destination) on any port that could be HTTP 80 (no ports: all)."""
    import ipaddress

    if not isinstance(rule, dict):
        return False

    def admits_http(port) -> bool:
        if not isinstance(port, dict) or port.get("port") is None:
            return True  # every port of the protocol
        start = port["port"]
        if isinstance(start, str):
            return start in ("80", "http")  # a named port: assume it may be HTTP
        return start <= 80 <= (port.get("endPort") or start)  # numbers arrive as floats from the engine

    ports = rule.get("ports")
    if ports and not any(admits_http(p) for p in ports):
        return False
    targets = rule.get("to")
    if not targets:
        return True
    address = ipaddress.ip_address(METADATA_IP)
    for peer in targets:
        block = peer.get("ipBlock") if isinstance(peer, dict) else None
        if not isinstance(block, dict):
            continue
        try:
            if address in ipaddress.ip_network(str(block.get("cidr")), strict=False) and not any(
                address in ipaddress.ip_network(str(e), strict=False) for e in block.get("except") or []
            ):
                return True
        except ValueError:
            return True  # an unreadable block: assume the worst
    return False


def _exposure(release: Res, ctx: Ctx) -> None:
    if not _jupyterhub(release):
        return
    values = helm.values(release)
    service_type = text(dig(values, "proxy", "service", "type")) or "LoadBalancer"
    annotations = dig(values, "proxy", "service", "annotations", default={})
    internal = isinstance(annotations, dict) and any(str(annotations.get(k, "")).lower() == v for k, v in INTERNAL_ANNOTATIONS.items())
    if service_type in ("LoadBalancer", "NodePort") and not internal:
        ctx.violation(
            release,
            f"proxy.service.type is {service_type}"
            + (" (the chart default)" if not dig(values, "proxy", "service", "type") else "")
            + ", which exposes the hub outside the cluster; use ClusterIP behind the internal ALB ingress, or annotate "
            "the service service.beta.kubernetes.io/aws-load-balancer-scheme: internal.",
        )
    # The hub reached from outside by a path other than proxy.service: the chart's Ingress, the hub's own Service.
    ingress = dig(values, "ingress", default={})
    if isinstance(ingress, dict) and flag(ingress.get("enabled")) is True:
        annotations = as_dict(ingress.get("annotations"))
        scheme = str(annotations.get("alb.ingress.kubernetes.io/scheme", "internal" if "alb.ingress.kubernetes.io/scheme" not in annotations else "")).lower()
        ingress_class = str(ingress.get("ingressClassName") or annotations.get("kubernetes.io/ingress.class") or "")
        if scheme == "internet-facing" or (ingress_class and ingress_class != "alb" and not annotations.get("alb.ingress.kubernetes.io/scheme")):
            ctx.violation(
                release,
                f"ingress.enabled publishes the hub through {'an internet-facing ALB' if scheme == 'internet-facing' else 'ingress class ' + repr(ingress_class)}; "
                "keep the hub behind the internal ALB (`crucible:addons.jupyterhub.exposure`).",
            )
    hub_service = text(dig(values, "hub", "service", "type"))
    if hub_service in ("LoadBalancer", "NodePort"):
        ctx.violation(release, f"hub.service.type is {hub_service}, exposing the hub API (it mints user tokens) outside the cluster; leave it ClusterIP.")
    # IMDS: the effect (can a notebook pod reach 169.254.169.254:80), whichever mechanism blocks it.
    admits = imds.chart_policy_admits(values)
    if not imds.uses_iptables(values) and admits:
        ctx.violation(
            release,
            "notebooks can reach the instance metadata service and the node role's credentials: "
            f"singleuser.cloudMetadata.blockWithIptables is false and {'; '.join(admits)}. Block IMDS with the "
            "singleuser NetworkPolicy (egressAllowRules.cloudMetadataServer false, no egress rule admitting "
            "169.254.169.254) or leave blockWithIptables on (no crucible: key sets these; they are the notebooks "
            "add-on's values).",
        )
    if flag(dig(values, "singleuser", "networkPolicy", "enabled")) is False:
        ctx.violation(release, "singleuser.networkPolicy.enabled is false; notebooks would reach every pod. Leave it on.")


SEC_JH_002 = resource_policy(
    rule_id="SEC-JH-002",
    slug="jupyterhub-exposure",
    description="JupyterHub is not exposed outside the VPC (the chart defaults to a public LoadBalancer) and "
    "notebooks cannot reach the instance metadata service or other pods.",
    applies_to=HELM_RELEASE,
    checks=[_exposure],
    anchor="z2jh values.yaml defaults; pulumi/examples no-public-services; EKS BPG iam (IMDS)",
)


# DATA-JH-003 ---------------------------------------------------------------------------------------------------
def _storage_class_problems(sc: Res) -> list[str]:
    problems = []
    if text(sc.get("reclaimPolicy")) != "Retain":
        problems.append(f"reclaimPolicy is {sc.get('reclaimPolicy') or 'Delete (the default)'}, not Retain")
    if str(dig(sc.props, "parameters", "encrypted", default="")).lower() != "true":
        problems.append('parameters.encrypted is not "true"')
    if text(sc.get("volumeBindingMode")) != "WaitForFirstConsumer":
        problems.append("volumeBindingMode is not WaitForFirstConsumer (volumes would be created in a zone before the pod is placed)")
    return problems


def _stack_zones(stack: Stack) -> set[str]:
    zones: set[str] = set()
    for pool in node_pools(stack):
        zones |= pool.zones() or set()
    for subnet in stack.of(SUBNET):
        zone = subnet.get("availabilityZone")
        if isinstance(zone, str):
            zones.add(zone)
    return zones


def _home_volumes(stack: Stack, ctx: Ctx) -> None:
    for release in helm.releases(stack, CHART):
        with ctx.each():
            values = helm.values(release)
            if text(dig(values, "singleuser", "storage", "type")) not in ("none", "static"):
                name = text(dig(values, "singleuser", "storage", "dynamic", "storageClass"))
                classes = [sc for sc in stack.of(STORAGE_CLASS) if name and sc.k8s_name == name]
                if not name:
                    ctx.violation(
                        release,
                        "singleuser.storage.dynamic.storageClass is unset, so home volumes use the cluster default "
                        "class (reclaimPolicy Delete); name Crucible's class (`crucible:storage.storageClassName`).",
                    )
                elif not classes:
                    ctx.violation(release, f"home volumes use StorageClass {name!r}, which this stack does not define.")
                for sc in classes:
                    problems = _storage_class_problems(sc)
                    if problems:
                        ctx.violation(sc, f"holds JupyterHub home volumes but {'; '.join(problems)}.")
        with ctx.each():
            namespace = text(release.get("namespace")) or "default"
            owned = [ns for ns in stack.of(NAMESPACE) if ns.k8s_name == namespace]
            if not owned:
                ctx.violation(
                    release,
                    f"namespace {namespace!r} is not a Namespace resource of this stack, so nothing protects it (and the "
                    "home volume claims in it); create it as a Namespace with `crucible:protect: true`.",
                )
            for ns in owned:
                if not ns.protect:
                    ctx.violation(ns, "holds users' home volume claims but is not protected; set `crucible:protect: true`.")
    zones = _stack_zones(stack)
    for pool in node_pools(stack):
        with ctx.each():
            pool_zones = pool.zones()
            if helm.releases(stack, CHART) and pool.workload == "interactive" and pool_zones is not None and zones - pool_zones:
                ctx.violation(
                    pool.res,
                    f"notebook pool {pool.name!r} spans only {', '.join(sorted(pool_zones))}; a home volume created in "
                    f"{', '.join(sorted(zones - pool_zones))} would strand its user. Span every zone "
                    "(leave `crucible:pools[].zones` empty).",
                )


DATA_JH_003 = stack_policy(
    rule_id="DATA-JH-003",
    slug="jupyterhub-home-volumes",
    description="JupyterHub home volumes survive: a Retain, encrypted, WaitForFirstConsumer StorageClass, a "
    "protected namespace, and a notebook pool in every zone a volume can live in.",
    check=_home_volumes,
    anchor="EKS BPG reliability/dataplane (EBS and AZs); StorageClass default reclaimPolicy Delete",
)

POLICIES = [SEC_JH_001, SEC_JH_002, DATA_JH_003]
