"""Supply chain: pinned chart versions, no mutable image tags, immutable and scanned ECR repositories
(SEC-HELM-001)."""

from __future__ import annotations

import re
from typing import Any, Iterator

from policies.support import helm
from policies.support.rule import Ctx, Res, resource_policy
from policies.support.tokens import ECR_REPOSITORY, HELM_RELEASE, any_of, kubernetes_object
from policies.support.values import Unknown, dig, flag, known, text

# Tags that projects move on every build: as mutable as latest.
MOVING_TAGS = {"latest", "stable", "main", "master", "edge", "nightly", "dev", "develop", "head", "canary", "release"}
_EXACT_VERSION = re.compile(r"^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.+-]+)?$")


def _images(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(path, image) for every ``image`` key: a reference string or a {repository, tag, digest} mapping."""
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if key == "image" and isinstance(item, (str, dict, Unknown)):
                yield where, item
            else:
                yield from _images(item, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _images(item, f"{path}[{index}]")


def image_problem(image: Any) -> str | None:
    """Why an image reference is mutable: ``latest`` or no tag at all (a digest is the best pin)."""
    if isinstance(image, Unknown):
        return None  # computed (e.g. an ECR repository URL + a pinned tag); judged where it is built
    if isinstance(image, dict):
        tag = text(image.get("tag")) if not isinstance(image.get("tag"), Unknown) else None
        if tag is not None and tag.lower() in MOVING_TAGS:
            return f"the moving tag {tag!r}"
        return "tag 'latest'" if tag == "latest" else None  # no tag: the chart's appVersion, pinned by the chart version
    reference = image.strip()
    if "@sha256:" in reference:
        return None
    last = reference.rsplit("/", 1)[-1]
    if ":" not in last:
        return "no tag (means latest)"
    tag = last.rsplit(":", 1)[1]
    if tag == "latest":
        return "tag 'latest'"
    return f"the moving tag {tag!r}" if tag.lower() in MOVING_TAGS else None


def _supply_chain(res: Res, ctx: Ctx) -> None:
    if ECR_REPOSITORY(res.type):
        if text(res.get("imageTagMutability")) != "IMMUTABLE":
            ctx.violation(res, 'tags are mutable (the ECR default); set imageTagMutability = "IMMUTABLE".')
        if flag(dig(res.props, "imageScanningConfiguration", "scanOnPush")) is not True:
            ctx.violation(res, "images are not scanned on push; set imageScanningConfiguration.scanOnPush = true.")
        return
    if HELM_RELEASE(res.type):
        version = text(res.get("version"))
        if not version or not _EXACT_VERSION.match(version):
            ctx.violation(
                res,
                f"chart {helm.chart_name(res)!r} version is {repr(version) if version else 'not pinned'}; pin an exact "
                "version so an upstream release never changes the cluster unreviewed.",
            )
        images = _images(helm.values(res), "values")
    else:
        spec = res.get("spec")
        known(spec)
        images = _images(spec, "spec")
    for where, image in images:
        problem = image_problem(image)
        if problem:
            shown = image if isinstance(image, str) else dig(image, "repository", default="?")
            ctx.violation(res, f"{where} {shown!r} has {problem}; pin a version tag, ideally a digest (@sha256:…).")


SEC_HELM_001 = resource_policy(
    rule_id="SEC-HELM-001",
    slug="supply-chain-pinning",
    description="What runs in the cluster is pinned: Helm releases name an exact chart version, images are "
    "never :latest or untagged, and ECR repositories are immutable and scan on push.",
    applies_to=any_of(HELM_RELEASE, ECR_REPOSITORY, kubernetes_object),
    checks=[_supply_chain],
    anchor="CKV_K8S_14, CKV_K8S_43, CKV_AWS_51, CKV_AWS_163; EKS BPG security/image",
)

POLICIES = [SEC_HELM_001]
