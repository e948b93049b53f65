"""What every example a team submits through Kueue carries for its priority and its placement in the network.

* The priority class: the label `kueue.x-k8s.io/priority-class` on the object Kueue manages (the one with the
  queue label): the default class (`queues.defaultPriorityClass`; a team whose own default differs edits it, the
  plan's teams section lists each team's). Without it a job has priority 0, below every class, and is the first
  any class preempts.
* The topology request: on a pool in `queues.topologyAwarePools` (its ResourceFlavor references the Topology),
  every pod template placed there (nodeSelector karpenter.sh/nodepool) asks for a level (stacks/derive/admission.py
  EXAMPLE_TOPOLOGY): Kueue refuses a pod set without one on a TAS flavor ("supports only TopologyAwareScheduling"),
  and one with one on any other flavor ("does not support TopologyAwareScheduling"), so off those pools nothing
  is added.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

from components.labels import NODEPOOL_LABEL, QUEUE_LABEL
from stacks.derive.admission import EXAMPLE_TOPOLOGY, PRIORITY_CLASS_LABEL


def pod_templates(obj: Any) -> Iterator[dict]:
    """Every pod template (or pod template patch) in a manifest: a mapping whose `spec` has a nodeSelector or containers."""
    if isinstance(obj, dict):
        spec = obj.get("spec")
        if isinstance(spec, dict) and ("nodeSelector" in spec or "containers" in spec) and "template" not in spec:
            yield obj
        for value in obj.values():
            yield from pod_templates(value)
    elif isinstance(obj, list):
        for item in obj:
            yield from pod_templates(item)


def queued(manifests: Sequence[dict], priority_class: str, topology_pools: Sequence[str]) -> list[dict]:
    """The manifests with the priority label on each queued object and the topology request on the pod templates
    placed on a topology-aware pool (the input is not changed)."""
    import copy

    out = copy.deepcopy(list(manifests))
    for manifest in out:
        labels = (manifest.get("metadata") or {}).get("labels") or {}
        if QUEUE_LABEL not in labels:
            continue
        labels.setdefault(PRIORITY_CLASS_LABEL, priority_class)
        annotation, level = EXAMPLE_TOPOLOGY
        for template in pod_templates(manifest.get("spec")):
            pool = (template["spec"].get("nodeSelector") or {}).get(NODEPOOL_LABEL)
            if pool in topology_pools:
                template.setdefault("metadata", {}).setdefault("annotations", {})[annotation] = level
    return out
