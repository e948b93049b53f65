"""How a pool's nodes pull container images: the fastest mechanism its AMI family supports; PURE.

What the EKS AMI families offer today (checked against upstream, see tests/test_image_pull.py):

- **Bottlerocket ≥ 1.44.0** ships the SOCI snapshotter (core kit 10.0.0, soci-snapshotter 0.11.1) with its
  *parallel pull unpack* mode, switched on by two settings (bottlerocket.dev, API → settings →
  container-runtime-plugins; bottlerocket-os/bottlerocket#4578):

      [settings.container-runtime]
      snapshotter = "soci"
      [settings.container-runtime-plugins.soci-snapshotter]
      pull-mode = "parallel-pull-unpack"

  Layers are fetched in concurrent chunks and unpacked in parallel; no SOCI index is needed on the image (this is
  not lazy loading: the whole image is on the node before the container starts). Bottlerocket releases before 1.44.0
  (1.42.0, say) predate these settings: there the plan says so and the pool pulls serially.
- **AL2023** (EKS optimized, standard and accelerated): the AMI does not ship the SOCI snapshotter; enabling it means
  downloading and installing binaries at boot (ai-on-eks, "Using SOCI snapshotter": "currently isn't the default in
  EKS AMIs"). Crucible does not fetch unpinned binaries onto private nodes at boot, so AL2023 pools keep containerd's
  default pull, and the plan says so.

Crucible turns it on for `workload: serving` pools, where pull time is a replica's cold start (the serving image is
about 10 GB); other pools keep the AMI's default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

# The first Bottlerocket release with settings.container-runtime.snapshotter and
# settings.container-runtime-plugins.soci-snapshotter.* (core kit 10.0.0 in Bottlerocket 1.44.0).
BOTTLEROCKET_SOCI_PARALLEL_PULL = (1, 44, 0)
SOCI_MECHANISM = "SOCI parallel pull (Bottlerocket soci-snapshotter, pull-mode parallel-pull-unpack)"
DEFAULT_MECHANISM = "containerd's default pull"

_RELEASE = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")


@dataclass(frozen=True)
class PullMode:
    parallel: bool
    mechanism: str
    reason: str  # why this mechanism (why not a faster one)

    def describe(self) -> str:
        return f"{self.mechanism}: {self.reason}"


def bottlerocket_release(version: Optional[str]) -> Optional[tuple[int, int, int]]:
    """(major, minor, patch) of a Bottlerocket amiVersion; None for 'latest' / unset (the newest release)."""
    if version in (None, "latest"):
        return None
    match = _RELEASE.match(version)
    if not match:
        raise ValueError(f"not a Bottlerocket release: {version!r}")
    major, minor, patch = (int(g) for g in match.groups())
    return major, minor, patch


def _release_text(release: tuple[int, int, int]) -> str:
    return ".".join(map(str, release))


def pull_mode(pool) -> PullMode:
    """The image pull mechanism of ``pool`` (a PoolSpec: ami_family, ami_version, workload)."""
    if pool.ami_family == "Bottlerocket":
        release = bottlerocket_release(pool.ami_version)
        if release is not None and release < BOTTLEROCKET_SOCI_PARALLEL_PULL:
            return PullMode(
                False,
                DEFAULT_MECHANISM,
                f"Bottlerocket {_release_text(release)} predates the SOCI parallel pull settings (Bottlerocket "
                f"{_release_text(BOTTLEROCKET_SOCI_PARALLEL_PULL)}+); set amiVersion to {_release_text(BOTTLEROCKET_SOCI_PARALLEL_PULL)} or later for parallel pull",
            )
        if pool.workload != "serving":
            return PullMode(False, DEFAULT_MECHANISM, f"SOCI parallel pull is enabled on serving pools only (this pool is {pool.workload})")
        return PullMode(True, SOCI_MECHANISM, "layers fetched in concurrent chunks and unpacked in parallel")
    return PullMode(
        False,
        DEFAULT_MECHANISM,
        f"the EKS {pool.ami_family} AMI ships no SOCI snapshotter and Crucible installs no binaries at boot; a Bottlerocket "
        f"{_release_text(BOTTLEROCKET_SOCI_PARALLEL_PULL)}+ pool pulls in parallel",
    )
